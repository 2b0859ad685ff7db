#!/usr/bin/env python3
"""A complete raythenad site on this machine, for the demo and the integration tests.

Builds, under one root directory, the layout conf/demo.yaml names through ${RTY_DEMO_DIR}:
  workdir/       Harvester access point = ray.workdir = harvester.endpoint (as Harvester's batch
                 templates set them), with the job spec written by the fake Harvester
  taskprogress/  ray.taskprogressbasedir (the task directory O = taskprogress/<taskID>)
  harvester/     panda_harvester.cfg and the queuedata JSON the cacher would write
  pilot/         default.cfg (HARVESTER_PILOT_CONFIG), pilot3/, and runpilot2-wrapper.sh = fake_pilot.py
  bin/           HITSMerge_tf.py = the built fake_merge_tf (the job's esmergeSpec.transPath; from
                 tests/fakes/fake_merge_tf.cpp, found in $RTY_BUILD_DIR/tests/fakes, default <source>/build)
  raythenad.yaml a full config for tests (same layout, short timers, overridable with --set)

and checks a finished run (verify, shared by the e2e, fault and cluster tests): every file in the task's
final/ is read, and the merged events are exactly the job's events (less those of failed groups), each in
one output; outputs, state.json and the report agree.

Command line (used by tests/fakes/run_demo.sh and the integration tests):
  rtysite.py make ROOT [--inputs N] [--events E] [--events-per-output H] [--nodes K] [--set sec.key=value ...]
  rtysite.py verify ROOT [--expect-failed-inputs N] [--allow-incomplete]
"""
import argparse
import json
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_PILOT = os.path.join(HERE, "fake_pilot.py")
SRC = os.path.dirname(os.path.dirname(HERE))
FAKE_HARVESTER = os.path.join(HERE, "fake_harvester.py")

PANDA_ID = "6000000001"
TASK_ID = "40000001"
QUEUE = "DEMO_QUEUE"


def paths(root):
    """The layout conf/demo.yaml names through ${RTY_DEMO_DIR}."""
    root = os.path.abspath(root)
    return {
        "root": root,
        "access": os.path.join(root, "workdir"),       # ray.workdir = harvester.endpoint
        "tasks": os.path.join(root, "taskprogress"),   # ray.taskprogressbasedir
        "task": os.path.join(root, "taskprogress", TASK_ID),
        "harvester": os.path.join(root, "harvester"),
        "cfg": os.path.join(root, "harvester", "panda_harvester.cfg"),
        "queuedata": os.path.join(root, "harvester", QUEUE + "_queuedata.json"),
        "pilot": os.path.join(root, "pilot"),
        "pilot_cfg": os.path.join(root, "pilot", "default.cfg"),
        "pilotdir": os.path.join(root, "pilot", "pilot3"),
        "fake_pilot": os.path.join(root, "pilot", "runpilot2-wrapper.sh"),  # payload.pilotwrapper
        "bin": os.path.join(root, "bin"),
        "fake_merge": os.path.join(root, "bin", "HITSMerge_tf.py"),       # esmergeSpec.transPath
        "yaml": os.path.join(root, "raythenad.yaml"),
        "timemonitor": os.path.join(root, "workdir", "jobtimeout.txt"),
    }


HARVESTER_CFG = """\
# panda_harvester.cfg as a site would have it (only what the payload side reads)
[payload_interaction]
jobSpecFile = HPCJobs.json
jobRequestFile = worker_requestjob.json
xmlPoolCatalogFile = PoolFileCatalog_H.xml
pandaIDsFile = worker_pandaids.json
eventRequestFile = worker_requestevents.json
eventRangesFile = JobsEventRanges.json
eventStatusDumpJsonFile = event_status.dump.json
updateEventsFile = worker_updateevents.json
jobReportFile = jobReport.json
workerAttributesFile = worker_attributes.json

[cacher]
data =
    {queue}|queuedata|http://localhost/cache/schedconfig/{queue}.all.json|{queuedata}
"""

PILOT_CFG = """\
# pilot3 default.cfg excerpt, as HARVESTER_PILOT_CONFIG names it on a Raythena site
[Pilot]
pandaserver = http://127.0.0.1:{port}
http_connect_timeout = 100
http_maxtime = 120
# pilot's default is 60 (seconds before the first look at pilot_kill_payload); 1 so that tests
# do not wait a minute for the fake pilot to honour a kill file
kill_instruction_time = 1
checksum_type = adler32

[Information]
cache_dir =
"""


def yaml_config(p, nodes, overrides):
    """A full Raythena-compatible config for tests: conf/demo.yaml's layout with test-friendly timers."""
    cfg = {
        "payload": {
            "pandaqueue": QUEUE,
            "logfilename": "log.pilotwrapper",
            "extrasetup": None,
            "hpcresource": "demo",
            "extrapostpayload": None,
            "containerengine": "none",
            "containerextraargs": None,
            "containerextrasetup": None,
            "pilotkillfile": "pilot_kill_payload",
            "pilotversion": "latest",
            "pilotkilltime": 900,
            "timemonitorfile": "jobtimeout.txt",
            "pilotwrapper": p["fake_pilot"],
            "pilotdir": p["pilotdir"],
        },
        "harvester": {"endpoint": p["access"], "harvesterconf": p["cfg"]},
        "ray": {
            "workdir": p["access"],
            "taskprogressbasedir": p["tasks"],
            "headip": None,
            "redisport": None,
            "redispassword": None,
            "timeoutinterval": 600,
            "mergemaxprocesses": 2,
            "cachesizefactor": 3,
            "launcher": "local",
            "localnodes": nodes,
            "checkpointinterval": 1,
            "statusinterval": 2,
            "heartbeattimeout": 10,
            "stubgrace": 3,
        },
        "resources": {"corepernode": 4},
        "logging": {"level": "info", "driverlogfile": None, "workerlogfile": None, "copyraylogs": False},
    }
    for item in overrides:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        cfg.setdefault(section, {})[name] = parsed
    lines = []
    for section, keys in cfg.items():
        lines.append(section + ":")
        for k, v in keys.items():
            lines.append("  %s: %s" % (k, "" if v is None else json.dumps(v)))
    return "\n".join(lines) + "\n"


def fake_merge_binary():
    """The built fake merge transform (tests/fakes/fake_merge_tf.cpp) of RTY_BUILD_DIR (ctest sets it;
    default <source>/build). A C++ program: a Python one cost ~0.2 s of CPU per merge in start-up."""
    build = os.environ.get("RTY_BUILD_DIR") or os.path.join(SRC, "build")
    return os.path.join(os.path.abspath(build), "tests", "fakes", "fake_merge_tf")


def make(root, inputs=4, events=50, events_per_output=25, nodes=2, overrides=(), port=8080, job=True):
    p = paths(root)
    for d in ("access", "tasks", "harvester", "pilot", "pilotdir", "bin"):
        os.makedirs(p[d], exist_ok=True)
    # The stand-ins sit where a site's CVMFS paths would be named in the config.
    fake_merge = fake_merge_binary()
    if not os.path.exists(fake_merge):
        print("rtysite: %s is not built (cmake --build BUILD --target fake_merge_tf; RTY_BUILD_DIR names "
              "BUILD): every merge of this site will fail" % fake_merge, file=sys.stderr)
    for src, dst in ((FAKE_PILOT, p["fake_pilot"]), (fake_merge, p["fake_merge"])):
        if os.path.lexists(dst):
            os.unlink(dst)
        os.symlink(src, dst)
    with open(os.path.join(p["pilotdir"], "pilot.py"), "w") as f:
        f.write("# stand-in: the wrapper (fake_pilot.py) plays pilot3 and AthenaMP\n")
    with open(p["cfg"], "w") as f:
        f.write(HARVESTER_CFG.format(queue=QUEUE, queuedata=p["queuedata"]))
    with open(p["queuedata"], "w") as f:
        json.dump({"container_type": "none", "container_options": ""}, f)
    with open(p["pilot_cfg"], "w") as f:
        f.write(PILOT_CFG.format(port=port))
    with open(p["yaml"], "w") as f:
        f.write(yaml_config(p, nodes, overrides))
    if job:
        subprocess.run([sys.executable, FAKE_HARVESTER, "make-job", "--cfg", p["cfg"],
                        "--endpoint", p["access"], "--inputs", str(inputs), "--events", str(events),
                        "--events-per-output", str(events_per_output), "--panda-id", PANDA_ID,
                        "--task-id", TASK_ID, "--trans-path", p["fake_merge"]], check=True,
                       stdout=subprocess.DEVNULL)
    return p


def job_of(p):
    for name in ("HPCJobs.json", "HPCJobs.json.read"):
        path = os.path.join(p["access"], name)
        if os.path.exists(path):
            with open(path) as f:
                return next(iter(json.load(f).values()))
    raise SystemExit("no job spec in %s" % p["access"])


def merged_events(path):
    """(input LFN, event number) pairs held by one merged output (fake pilot lines)."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            # The input file and event from the range itself (ids may be Harvester's, not <LFN>-<n>).
            assert rec["startEvent"] == rec["lastEvent"], rec
            out.append((os.path.basename(rec["PFN"]), int(rec["startEvent"])))
    return out


def all_events(job):
    """Every (input LFN, event number) of the job."""
    return {(lfn, n) for lfn in job["inFiles"].split(",") for n in range(1, int(job["nEventsPerInputFile"]) + 1)}


def failed_group_events(state):
    """(LFN, event number) of the ranges state.json lists under `failed` (ids <LFN>-<n>)."""
    out = set()
    for lfn, ids in state.get("failed", {}).items():
        for rid in ids:
            head, _, n = rid.rpartition("-")
            if n.isdigit() and head:
                out.add((head, int(n)))
    return out


def verify(root, expect_failed_inputs=0, allow_incomplete=False, failed_events=None):
    """The exactly-once check, strict: every file in O/final/ is read (not only those state.json names),
    so a stray or duplicate output fails. The merged events must be exactly every event of the job
    except those of failed groups (`failed_events`, default: the ranges state.json lists as failed),
    each in one output; with allow_incomplete (a drained run), a subset of them, each at most once.
    Every file in final/ is an output state.json names, and the final report lists exactly final/."""
    p = paths(root)
    job = job_of(p)
    inputs = job["inFiles"].split(",")
    n_events = int(job["nEventsPerInputFile"])
    with open(os.path.join(p["task"], "state.json")) as f:
        state = json.load(f)
    problems = []
    named = {}  # output name -> its path as state.json records it
    for lfn, outputs in state.get("merged", {}).items():
        for name, rec in outputs.items():
            if not rec.get("guid"):
                problems.append("merged output %s has no GUID" % name)
            named[name] = rec["path"]
    for outputs in state.get("merging", {}).values():
        for name in outputs:
            named[name] = os.path.join(p["task"], "final", name)
    final_dir = os.path.join(p["task"], "final")
    final = sorted(os.listdir(final_dir)) if os.path.isdir(final_dir) else []
    seen = {}
    for name in final:
        path = os.path.join(final_dir, name)
        if name not in named:
            problems.append("stray file in final/: %s (no output of state.json)" % name)
        try:
            events = merged_events(path)
        except (OSError, ValueError, KeyError, AssertionError) as e:
            problems.append("final/%s is not a merged output: %r" % (name, e))
            continue
        for ev in events:
            seen.setdefault(ev, []).append(name)
    for name, path in sorted(named.items()):
        if not os.path.exists(path):
            problems.append("merged output %s missing" % path)
    for ev, names in sorted(seen.items()):
        if len(names) > 1:
            problems.append("event %s-%d in %d outputs: %s" % (ev[0], ev[1], len(names), names))
    every = all_events(job)
    failed = failed_group_events(state) if failed_events is None else set(failed_events)
    expected = every - failed
    unexpected = sorted(set(seen) - expected)
    if unexpected:
        problems.append("merged events that should not be there (unknown or of a failed group): %s" % unexpected[:5])
    failed_inputs = set(state.get("failed", {}).keys())
    complete_inputs = 0
    for lfn in inputs:
        missing = [n for n in range(1, n_events + 1) if (lfn, n) not in seen and (lfn, n) in expected]
        if not any((lfn, n) not in seen for n in range(1, n_events + 1)):
            complete_inputs += 1
        if missing and not allow_incomplete:
            problems.append("input %s: %d events not merged (e.g. %s)" % (lfn, len(missing), missing[:5]))
    if len(failed_inputs) != expect_failed_inputs:
        problems.append("expected %d failed inputs, state.json has %d: %s" % (
            expect_failed_inputs, len(failed_inputs), sorted(failed_inputs)))
    report_path = os.path.join(p["access"], "jobReport.json")
    if not allow_incomplete:
        if not os.path.exists(report_path):
            problems.append("no final report at %s" % report_path)
        else:
            with open(report_path) as f:
                report = json.load(f)
            subfiles = report["files"]["output"][0]["subFiles"]
            names = sorted(s["name"] for s in subfiles)
            # An input with a failed group keeps its merged outputs under `merging`.
            if names != sorted(named) or names != final:
                problems.append("report outputs %s, state.json outputs %s, final/ holds %s" % (
                    names, sorted(named), final))
    with open(os.path.join(p["access"], "task_workdir_path.txt")) as f:
        if f.read() != p["task"]:
            problems.append("task_workdir_path.txt does not name %s" % p["task"])
    return {"problems": problems, "events_merged": len(seen), "inputs_complete": complete_inputs,
            "inputs": len(inputs), "failed_inputs": sorted(failed_inputs), "outputs": final, "seen": seen}


# ---- processes (for the tests that start runs: they clean up by PID) -----------------------------

def poll_until(pred, timeout, step=0.05):
    """pred()'s first true value within `timeout` seconds, else its last (false) value."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def processes_under(root):
    """Live PIDs whose cwd or command line lies in root: everything a test started, at any depth."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        pid = int(name)
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            cwd = ""
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            cmdline = ""
        if (cwd == root or cwd.startswith(root + "/") or root + "/" in cmdline) and alive(pid):
            found.append(pid)
    return found


def kill_pid(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("root")
    m.add_argument("--inputs", type=int, default=4)
    m.add_argument("--events", type=int, default=50)
    m.add_argument("--events-per-output", type=int, default=25)
    m.add_argument("--nodes", type=int, default=2)
    m.add_argument("--set", action="append", default=[], help="section.key=value (JSON or text)")
    m.add_argument("--port", type=int, default=8080, help="port in the pilot config's pandaserver")
    m.add_argument("--no-job", action="store_true", help="only the tree, no job spec")
    v = sub.add_parser("verify")
    v.add_argument("root")
    v.add_argument("--expect-failed-inputs", type=int, default=0)
    v.add_argument("--allow-incomplete", action="store_true")
    a = ap.parse_args()
    if a.cmd == "make":
        p = make(a.root, a.inputs, a.events, a.events_per_output, a.nodes, a.set, a.port, not a.no_job)
        print(p["yaml"])
        return 0
    result = verify(a.root, a.expect_failed_inputs, a.allow_incomplete)
    result.pop("seen")
    print(json.dumps(result, indent=1))
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
