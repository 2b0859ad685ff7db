#!/usr/bin/env python3
"""A complete raythenad site on this machine, for the demo and the integration tests.

Builds, under one root directory, the layout conf/demo.yaml names through ${RTY_DEMO_DIR}:
  workdir/       Harvester access point = ray.workdir = harvester.endpoint (as Harvester's batch
                 templates set them), with the job spec written by the fake Harvester
  taskprogress/  ray.taskprogressbasedir (the task directory O = taskprogress/<taskID>)
  harvester/     panda_harvester.cfg and the queuedata JSON the cacher would write
  pilot/         default.cfg (HARVESTER_PILOT_CONFIG), pilot3/, and runpilot2-wrapper.sh = fake_pilot.py
  bin/           HITSMerge_tf.py = fake_merge_tf.py (the job's esmergeSpec.transPath)
  raythenad.yaml a full config for tests (same layout, short timers, overridable with --set)

and checks a finished run: every input event in exactly one merged output, outputs and report
consistent with state.json.

Command line (used by tests/fakes/run_demo.sh and the integration tests):
  rtysite.py make ROOT [--inputs N] [--events E] [--events-per-output H] [--nodes K] [--set sec.key=value ...]
  rtysite.py verify ROOT [--expect-failed-inputs N] [--allow-incomplete]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_PILOT = os.path.join(HERE, "fake_pilot.py")
FAKE_MERGE = os.path.join(HERE, "fake_merge_tf.py")
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
kill_instruction_time = 60
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


def make(root, inputs=4, events=50, events_per_output=25, nodes=2, overrides=(), port=8080, job=True):
    p = paths(root)
    for d in ("access", "tasks", "harvester", "pilot", "pilotdir", "bin"):
        os.makedirs(p[d], exist_ok=True)
    # The stand-ins sit where a site's CVMFS paths would be named in the config.
    for src, dst in ((FAKE_PILOT, p["fake_pilot"]), (FAKE_MERGE, p["fake_merge"])):
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


def verify(root, expect_failed_inputs=0, allow_incomplete=False):
    """Every event of every input that is not failed appears in exactly one merged output."""
    p = paths(root)
    job = job_of(p)
    inputs = job["inFiles"].split(",")
    n_events = int(job["nEventsPerInputFile"])
    with open(os.path.join(p["task"], "state.json")) as f:
        state = json.load(f)
    problems = []
    outputs_by_path = {}
    for lfn, outputs in state.get("merged", {}).items():
        for name, rec in outputs.items():
            if not rec.get("guid"):
                problems.append("merged output %s has no GUID" % name)
            outputs_by_path[rec["path"]] = name
    for outputs in state.get("merging", {}).values():
        for name in outputs:
            outputs_by_path[os.path.join(p["task"], "final", name)] = name
    seen = {}
    for path, name in outputs_by_path.items():
        if not os.path.exists(path):
            problems.append("merged output %s missing" % path)
            continue
        for ev in merged_events(path):
            seen.setdefault(ev, []).append(name)
    for ev, names in sorted(seen.items()):
        if len(names) > 1:
            problems.append("event %s-%d in %d outputs: %s" % (ev[0], ev[1], len(names), names))
    failed_inputs = set(state.get("failed", {}).keys())
    complete_inputs = 0
    for lfn in inputs:
        missing = [n for n in range(1, n_events + 1) if (lfn, n) not in seen]
        if not missing:
            complete_inputs += 1
        elif lfn in failed_inputs:
            continue
        elif not allow_incomplete:
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
            merged_names = sorted({n for outs in state["merged"].values() for n in outs} |
                                  {n for outs in state.get("merging", {}).values() for n in outs})
            if names != merged_names:
                problems.append("report outputs %s != merged outputs %s" % (names, merged_names))
    with open(os.path.join(p["access"], "task_workdir_path.txt")) as f:
        if f.read() != p["task"]:
            problems.append("task_workdir_path.txt does not name %s" % p["task"])
    return {"problems": problems, "events_merged": len(seen), "inputs_complete": complete_inputs,
            "inputs": len(inputs), "failed_inputs": sorted(failed_inputs)}


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
    print(json.dumps(result, indent=1))
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
