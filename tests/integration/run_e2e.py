#!/usr/bin/env python3
"""End-to-end scenarios of raythenad with real processes on this machine (tracker issues 4 and 5).

  run_e2e.py SCENARIO        (RTY_BUILD_DIR, RTY_SOURCE_DIR from ctest; E2E_KEEP=1 keeps the tree)

Each scenario builds a site with tests/fakes/rtysite.py in a fresh directory, runs the real raythenad
(local launcher, real raythena-stub processes, the fake pilot through recording_pilot.py, the fake
merge transform) and checks exit code, log lines, state.json, the final report and the merged outputs'
contents (every input event in exactly one merged output). Every process started here, directly or
below raythenad, is found by PID (logs and /proc: its cwd or command line lies in the scenario's
directory) and killed at the end, whatever happened.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

SRC = os.environ.get("RTY_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RTY_BUILD_DIR") or os.path.join(SRC, "build")
sys.path.insert(0, os.path.join(SRC, "tests", "fakes"))
import rtysite  # noqa: E402

RAYTHENAD = os.path.join(BUILD, "src", "coordinator", "raythenad")
RECORDING_PILOT = os.path.join(SRC, "tests", "integration", "recording_pilot.py")
EXIT_SUCCESS, EXIT_INCOMPLETE, EXIT_EVENTS_FAILED = 0, 3, 4
PANDA_ID = rtysite.PANDA_ID


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def wait_until(pred, timeout, what, step=0.05):
    v = rtysite.poll_until(pred, timeout, step)
    if not v:
        raise Failure("timed out after %.0f s waiting for %s" % (timeout, what))
    return v


# ---- processes ------------------------------------------------------------------------------------

# The process helpers live in rtysite, shared with the Harvester integration driver.
alive, processes_under, kill_pid = rtysite.alive, rtysite.processes_under, rtysite.kill_pid


# ---- a site and its runs --------------------------------------------------------------------------

SITES = []  # every site built, so that a failing scenario still gets cleaned up


class Site:
    def __init__(self, root, inputs=3, events=8, per_output=8, nodes=2, overrides=()):
        self.root = root
        defaults = ["payload.pilotwrapper=" + RECORDING_PILOT, "ray.heartbeattimeout=6", "ray.stubgrace=2",
                    "ray.checkpointinterval=1", "ray.statusinterval=1", "payload.pilotkilltime=6",
                    "ray.mergeretrydelay=0"]
        self.p = rtysite.make(root, inputs, events, per_output, nodes, defaults + list(overrides))
        self.job = rtysite.job_of(self.p)
        self.inputs = self.job["inFiles"].split(",")
        self.events = int(self.job["nEventsPerInputFile"])
        self.pids = set()   # every PID seen (raythenad, stubs, pilots), killed at the end
        self.runs = []
        SITES.append(self)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def node_dir(self, node):
        return os.path.join(self.p["access"], PANDA_ID, node)

    def stub_log(self, node):
        return os.path.join(self.p["access"], PANDA_ID, "stub-logs", node + ".log")

    def state(self):
        with open(os.path.join(self.p["task"], "state.json")) as f:
            return json.load(f)

    def report(self):
        path = os.path.join(self.p["access"], "jobReport.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def start(self, env=None, name=None, prefix=()):
        run = Run(self, env or {}, name or "run%d" % (len(self.runs) + 1), prefix)
        self.runs.append(run)
        return run

    def cleanup(self):
        for run in self.runs:
            run.close()
        for pid in sorted(self.pids | set(processes_under(self.root))):
            kill_pid(pid)
        for run in self.runs:
            run.reap()

    def checkpointed_ranges(self):
        """recorded_ranges(), or an empty set while there is no readable state.json yet."""
        try:
            return self.recorded_ranges()
        except (OSError, ValueError):
            return set()

    def recorded_ranges(self):
        """Range ids state.json holds as done (simulated, merging, merged, failed groups)."""
        st = self.state()
        ids = set()
        for section in ("simulated", "failed"):
            for ranges in st.get(section, {}).values():
                ids.update(ranges)
        for outputs in st.get("merging", {}).values():
            for ranges in outputs.values():
                ids.update(ranges)
        for lfn in st.get("merged", {}):
            ids.update("%s-%d" % (lfn, n) for n in range(1, self.events + 1))
        return ids

    # -- checks --

    def merged_content(self):
        """event (lfn, n) -> [output files holding it], over every file in O/final/."""
        final = os.path.join(self.p["task"], "final")
        seen = {}
        for name in sorted(os.listdir(final)):
            for ev in rtysite.merged_events(os.path.join(final, name)):
                seen.setdefault(ev, []).append(name)
        return seen

    def verify(self, expect_failed_inputs=0, failed_events=()):
        """rtysite.verify, the strict check shared with the cluster tests: every file in final/ read,
        the merged events exactly every event except `failed_events`, each once, nothing else."""
        result = rtysite.verify(self.root, expect_failed_inputs=expect_failed_inputs, failed_events=set(failed_events))
        check(not result["problems"], "rtysite.verify: %s" % result["problems"])
        if not expect_failed_inputs and not failed_events:
            # Once every group is merged and the checkpoint says so, no per-range output is left behind.
            left = sorted(n for n in os.listdir(self.p["task"])
                          if os.path.isfile(os.path.join(self.p["task"], n)) and n not in ("state.json", "commit_log"))
            check(not left, "per-range outputs left in the task directory: %s" % left[:5])
        return result

    def check_report_lists_outputs(self, n_outputs):
        report = self.report()
        check(report is not None, "no final jobReport.json")
        names = sorted(s["name"] for s in report["files"]["output"][0]["subFiles"])
        merged = sorted({n for outs in self.state()["merged"].values() for n in outs})
        check(len(names) == n_outputs and names == merged,
              "report lists %s, expected the %d merged outputs %s" % (names, n_outputs, merged))
        final = sorted(os.listdir(os.path.join(self.p["task"], "final")))
        check(final == names, "final/ holds %s, report lists %s" % (final, names))


    def check_partial_report(self):
        """A drained run reports what it merged so far, with exitCode 3 and the unmerged inputs."""
        report = self.report()
        check(report is not None, "a drained run wrote no jobReport.json")
        if report is None:
            return
        check(report.get("exitCode") == 3, "drained run's report exitCode %s, expected 3" % report.get("exitCode"))
        names = sorted(s["name"] for s in report["files"]["output"][0]["subFiles"])
        final = sorted(os.listdir(os.path.join(self.p["task"], "final")))
        check(final == names, "final/ holds %s, the drained run's report lists %s" % (final, names))
        check(report.get("failedInputs"), "drained run's report names no unmerged inputs")


class Run:
    """One raythenad process on a site."""

    def __init__(self, site, env, name, prefix=()):
        import subprocess
        self.site = site
        self.name = name
        self.log_path = site.path(name + ".log")
        e = dict(os.environ)
        e["HARVESTER_PILOT_CONFIG"] = site.p["pilot_cfg"]
        e["E2E_RECORD"] = site.path(name + ".ranges")
        # The fake pilot's pipeline at 5x pilot3's pace (report timer 5 s, communicator loop 1 s): the
        # same threads and order, in test time. Scenarios about the real pace set them back.
        e["FAKE_PILOT_REPORT_INTERVAL"] = "1"
        e["FAKE_PILOT_COMM_SLEEP"] = "0.2"
        e.update(env)
        self.record_path = e["E2E_RECORD"]
        self.log_file = open(self.log_path, "w")
        # prefix: a command that execs raythenad in its own place (prlimit), so the PID stays raythenad's
        self.proc = subprocess.Popen(list(prefix) + [RAYTHENAD, "--config", site.p["yaml"]], cwd=site.root, env=e,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        site.pids.add(self.proc.pid)
        self.rc = None

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait(self, timeout=40):
        import subprocess
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s: raythenad still running after %d s" % (self.name, timeout))
        self.remember_pids()
        return self.rc

    def close(self):
        self.log_file.close()

    def reap(self):
        try:
            self.proc.wait(5)
        except Exception:
            pass

    def wait_log(self, pattern, timeout=20):
        rx = re.compile(pattern)

        def found():
            m = rx.search(self.log())
            if m is None and self.proc.poll() is not None:
                raise Failure("%s: raythenad exited (%s) before logging /%s/" % (self.name, self.proc.returncode,
                                                                                pattern))
            return m
        m = wait_until(found, timeout, "/%s/ in %s" % (pattern, self.log_path))
        self.remember_pids()
        return m

    def stub_pids(self):
        return {node: int(pid) for node, pid in re.findall(r"started stub (\S+) \(pid (\d+)\)", self.log())}

    def pilot_pids(self):
        """node -> pid of its payload.sh (the pilot's process group) from the stub logs of this run."""
        out = {}
        for node in self.stub_pids():
            try:
                with open(self.site.stub_log(node), errors="replace") as f:
                    pids = re.findall(r"pilot started \(pid (\d+)", f.read())
            except OSError:
                continue
            if pids:
                out[node] = int(pids[-1])
        return out

    def remember_pids(self):
        self.site.pids.update(self.stub_pids().values())
        self.site.pids.update(self.pilot_pids().values())

    def listen_address(self):
        m = self.wait_log(r"listening for stubs on (\S+):(\d+)")
        return m.group(1), int(m.group(2))

    def expect_rc(self, expected, timeout=40):
        rc = self.wait(timeout)
        check(rc == expected, "%s: raythenad exited %s, expected %s; log tail:\n%s" % (
            self.name, rc, expected, "\n".join(self.log().splitlines()[-25:])))

    def recorded(self):
        """eventRangeID -> how many times a pilot of this run started simulating it."""
        counts = {}
        if os.path.exists(self.record_path):
            with open(self.record_path) as f:
                for line in f:
                    rid = line.split()[0]
                    counts[rid] = counts.get(rid, 0) + 1
        return counts


def status_of(site):
    """The run's /status (status.url in the access point), or None while there is none."""
    try:
        with open(os.path.join(site.p["access"], "status.url")) as f:
            url = f.read().strip()
        with urllib.request.urlopen(url + "/status", timeout=5) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def worker_node_of(site, node):
    """What /status shows of pilot's update_worker_node for `node` (None: not reported, or no such node)."""
    for n in (status_of(site) or {}).get("nodes", []):
        if n.get("node_id") == node:
            return n.get("worker_node")
    return None


def ranges_held(site, node):
    st = status_of(site)
    for n in (st or {}).get("nodes", []):
        if n.get("node_id") == node:
            return n.get("ranges_held", 0)
    return 0


def wait_holding(run, nodes, timeout=20):
    """Until /status shows every node in `nodes` holding leased ranges (state, not a sleep)."""
    def held():
        if run.proc.poll() is not None:
            raise Failure("%s: raythenad exited (%s) before %s held ranges" % (run.name, run.proc.returncode, nodes))
        return all(ranges_held(run.site, n) > 0 for n in nodes)
    wait_until(held, timeout, "%s to hold leased ranges (/status)" % ", ".join(nodes), step=0.05)


def group_ids(lfn, first, last):
    return {"%s-%d" % (lfn, n) for n in range(first, last + 1)}


def check_no_orphans(site, pids, within, what):
    """Every pid in `pids` is gone within `within` seconds."""
    def gone():
        return not [p for p in pids if alive(p)]
    try:
        wait_until(gone, within, what, step=0.1)
    except Failure:
        raise Failure("%s: still alive after %.0f s: %s" % (what, within, [p for p in pids if alive(p)]))


def check_not_redone(site, first, second):
    """No range recorded in state.json after `first` was simulated again by `second`."""
    redone = sorted(set(second.recorded()) & first.recorded_at_end)
    check(not redone, "ranges recorded by %s were simulated again by %s: %s" % (first.name, second.name, redone[:10]))


def finished_ranges_in_log(run):
    return sum(1 for _ in re.finditer(r"pilot ended", run.log()))


# ---- scenarios ------------------------------------------------------------------------------------

def s_one_to_n(root):
    site = Site(root, inputs=3, events=20, per_output=10)
    run = site.start()
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    site.check_report_lists_outputs(6)
    # A normal end is no drain: stubs leaving while the last merges run must not look like a problem.
    check("draining" not in run.log(), "a complete run logged a drain")
    return site


def s_n_to_one(root):
    # pilot >= 3.7.3 sends getJob/updateJob as gzip-compressed JSON without Content-Encoding.
    site = Site(root, inputs=4, events=10, per_output=20)
    run = site.start({"FAKE_PILOT_GZIP": "1"})
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    site.check_report_lists_outputs(2)
    log = run.log()
    for node in ("local-0", "local-1"):
        # updateJob reaches the coordinator only when the stub decoded the gzip-JSON body
        check(re.search(r"node %s: pilot job state (starting|running|finished)" % node, log),
              "no decoded updateJob from " + node)
        with open(site.stub_log(node)) as f:
            check("undecodable" not in f.read(), "stub %s could not decode a gzip-JSON body" % node)
    return site


def s_retry_succeeds(root):
    site = Site(root, inputs=3, events=12, per_output=12)
    state_dir = site.path("pilot-state")
    os.makedirs(state_dir)
    run = site.start({"FAKE_PILOT_FAIL_ONCE": "every:3", "FAKE_PILOT_STATE_DIR": state_dir})
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    failed_once = {n[:-len(".attempted")] for n in os.listdir(state_dir)}
    check(len(failed_once) >= 3, "only %d range(s) failed once" % len(failed_once))
    rec = run.recorded()
    for rid in failed_once:
        check(rec.get(rid, 0) >= 2, "range %s failed once but was not simulated again (%s)" % (rid, rec.get(rid)))
    check(re.search(r"range\(s\) failed \(\d+ will be retried\)", run.log()), "no retry logged")
    check(not site.state()["failed"], "state.json has failed groups: %s" % site.state()["failed"])
    return site


def s_always_fails(root):
    site = Site(root, inputs=3, events=20, per_output=10)
    lfn = site.inputs[1]
    bad = "%s-5" % lfn
    run = site.start({"FAKE_PILOT_FAIL": bad})
    run.expect_rc(EXIT_EVENTS_FAILED)
    group = group_ids(lfn, 1, 10)
    st = site.state()
    check(set(st["failed"]) == {lfn}, "state.json failed: %s" % list(st["failed"]))
    check(set(st["failed"][lfn]) == group, "failed group of %s: %s" % (lfn, sorted(st["failed"][lfn])))
    check(run.recorded().get(bad, 0) == 3, "the bad range was attempted %s times, expected 3" % run.recorded().get(bad))
    attempts = nodes_of(run, {bad})
    check(attempts[0] != attempts[1], "the failed range's retry ran on the same node first: %s" % attempts)
    report = site.report()
    check(report is not None and lfn in report.get("failedInputs", []), "report failedInputs: %s" % (
        report and report.get("failedInputs")))
    site.verify(expect_failed_inputs=1, failed_events={(lfn, n) for n in range(1, 11)})
    return site


def s_retry_failed(root):
    # Two groups fail in run 1: a range of input 2 fails every attempt, the merge of input 3's output
    # fails for good. Both causes are fixed; run 2 resumes with RAYTHENA_RETRY_FAILED (--retry-failed,
    # ray.retryfailedgroups): those groups' ranges, and only those, are simulated again, and
    # everything merges. Without it (merge_fail_always) a resumed run leaves failed groups failed.
    site = Site(root, inputs=4, events=8, per_output=8)
    lfn, merge_lfn = site.inputs[1], site.inputs[2]
    bad_output = "HITS.%s._000003.pool.root.1" % rtysite.TASK_ID
    run1 = site.start({"FAKE_PILOT_FAIL": "%s-5" % lfn, "FAKE_MERGE_FAIL_ALWAYS": bad_output})
    run1.expect_rc(EXIT_EVENTS_FAILED)
    check(set(site.state()["failed"]) == {lfn, merge_lfn}, "run1 failed: %s" % list(site.state()["failed"]))
    run2 = site.start({"RAYTHENA_RETRY_FAILED": "1"}, name="run2")
    run2.expect_rc(EXIT_SUCCESS)
    log2 = run2.log()
    for name in (lfn, merge_lfn):
        check("ray.retryfailedgroups: re-queued 8 range(s) of input %s" % name in log2,
              "run2 does not log that it re-queued %s" % name)
    check("re-queued 16 range(s) of 2 input file(s)" in log2, "run2 does not log the total it re-queued")
    redone = set(run2.recorded())
    want = group_ids(lfn, 1, 8) | group_ids(merge_lfn, 1, 8)
    check(redone == want, "run2 simulated %s, expected the failed groups only" % sorted(redone))
    check(not site.state().get("failed"), "state.json still lists failed groups: %s" % site.state().get("failed"))
    site.verify()
    site.check_report_lists_outputs(4)
    return site


def s_merge_retry(root):
    # Each merge fails once and is retried after ray.mergeretrydelay (1 s here; 10 s by default).
    site = Site(root, inputs=3, events=8, per_output=8, overrides=["ray.mergeretrydelay=1"])
    once = site.path("merge-once")
    os.makedirs(once)
    run = site.start({"FAKE_MERGE_FAIL_ONCE_DIR": once})
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    site.check_report_lists_outputs(3)
    check(len(os.listdir(once)) == 3, "merges that failed once: %s" % os.listdir(once))
    check(len(re.findall(r"merge \S+ \(attempt 2,", run.log())) == 3, "no second attempt logged for each merge")
    check(len(re.findall(r"merge \S+ is retried in 1 s \(ray.mergeretrydelay\)", run.log())) == 3,
          "the retries were not scheduled after ray.mergeretrydelay")
    return site


def s_merge_fail_always(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    outputs = site.job["outFiles"].split(",") if "outFiles" in site.job else None
    bad_output = "HITS.%s._000002.pool.root.1" % rtysite.TASK_ID
    run = site.start({"FAKE_MERGE_FAIL_ALWAYS": bad_output})
    run.expect_rc(EXIT_EVENTS_FAILED)
    lfn = site.inputs[1]
    st = site.state()
    check(set(st["failed"]) == {lfn}, "state.json failed %s, expected %s (outputs %s)" % (list(st["failed"]), lfn,
                                                                                          outputs))
    report = site.report()
    check(lfn in report.get("failedInputs", []), "report failedInputs: %s" % report.get("failedInputs"))
    log = run.log()
    check(re.search(r"merge %s failed for good" % re.escape(bad_output), log), "no final merge failure logged")
    check("failing on purpose for %s" % bad_output in log, "the merge's log tail is not in the coordinator log")
    check(len(re.findall(r"merge %s \(attempt \d+," % re.escape(bad_output), log)) == 3, "not 3 merge attempts")
    site.verify(expect_failed_inputs=1, failed_events={(lfn, n) for n in range(1, 9)})
    # A resumed run has nothing left to do, and says so truthfully: not "every event ... merged".
    run2 = site.start({}, name="run2")
    run2.expect_rc(EXIT_EVENTS_FAILED)
    log2 = run2.log()
    check("every event of this job is already merged" not in log2, "run2 claims every event is merged")
    check("nothing left to do for this job (resumed run): 16 of 24 events merged, 8 in failed groups" in log2,
          "run2 does not say what is merged and what failed:\n" + "\n".join(log2.splitlines()[-10:]))
    return site


def s_merge_site_fault(root):
    # The operator's report (issue 18): ALRB's setup script is not there, every merge fails with bash's
    # "No such file or directory". That is the site's fault, not the data's: no group may fail. The first
    # such failure holds the merges and drains the run (exit 3) with one critical line, after one
    # attempt (not three within milliseconds). Once the site is fixed the next run merges everything.
    # Nothing is faked here: payload.containerengine makes the real merge command source the real
    # (absent) /cvmfs/.../atlasLocalSetup.sh.
    site = Site(root, inputs=2, events=4, per_output=4, overrides=["payload.containerengine=singularity"])

    def queue_container(kind):  # the queue's container_type (queuedata) decides over the YAML's
        with open(site.p["queuedata"], "w") as f:
            json.dump({"container_type": kind, "container_options": ""}, f)
    queue_container("singularity")
    run = site.start({"FAKE_PILOT_DELAY": "0.05"})
    run.expect_rc(EXIT_INCOMPLETE, timeout=60)
    log = run.log()
    faults = re.findall(r"CRITICAL \| Driver \| merge (\S+) cannot run on this site \(([^)]*)\)", log)
    check(len(faults) == 1, "expected one site-fault line, got %s" % faults)
    check("atlasLocalSetup.sh" in faults[0][1] and "No such file or directory" in faults[0][1],
          "the line does not show the missing setup script: %s" % faults[0][1])
    # Merges already running when the first failed may fail the same way: each is given back, none retried.
    check(not re.search(r"merge \S+ \(attempt [2-9]", log), "a merge was retried for the site's fault")
    check("failed for good" not in log, "a group failed for the site's fault")
    st = site.state()
    check(not st.get("failed"), "state.json records failed groups: %s" % st.get("failed"))
    queue_container("none")  # the site is fixed
    run2 = site.start({"FAKE_PILOT_DELAY": "0.05", "RAYTHENA_PAYLOAD_CONTAINERENGINE": "none"}, name="run2")
    run2.expect_rc(EXIT_SUCCESS, timeout=60)
    site.verify()
    return site


def write_time_monitor(site, seconds_to_kill, killtime):
    """workdir/jobtimeout.txt so that the kill time (start + limit - pilotkilltime) is `seconds_to_kill`
    from now: line 1 the start as local time of day (a minute ago), line 2 the limit HH:MM:SS."""
    start = time.time() - 60
    limit = 60 + seconds_to_kill + killtime
    lt = time.localtime(start)
    with open(site.p["timemonitor"], "w") as f:
        f.write("%02d:%02d:%02d\n%02d:%02d:%02d\n" % (lt.tm_hour, lt.tm_min, lt.tm_sec, limit // 3600,
                                                      limit // 60 % 60, limit % 60))
    return start + limit  # the walltime itself (epoch)


def s_walltime_resume(root):
    killtime = 6
    # More than two pilots (4 workers each, 0.4 s per event: at most 20 events/s) can do before the
    # kill time (3 s) plus the events in flight then (8): even with no start-up time at all, at most
    # 68 of the 96 events are done by the first run (48 events at 0.25 s once all finished in time
    # under ASan).
    # The kill-file path at the kill time, so Raythena's dispatch rule: with ray.walltimeaware the ranges
    # would be held back once their p90 + margin no longer fits, and the run might drain before the
    # kill time with no kill file (that path is walltime_holdback's).
    site = Site(root, inputs=12, events=8, per_output=8,
                overrides=["payload.pilotkilltime=%d" % killtime, "ray.walltimeaware=false"])
    write_time_monitor(site, 3, killtime)
    env = {"FAKE_PILOT_DELAY": "0.4"}
    run1 = site.start(env)
    run1.expect_rc(EXIT_INCOMPLETE, timeout=30)
    # The stop is armed for walltime - pilotkilltime (3 s after the file was written, less what start-up
    # took), not for the walltime itself (9 s): a fact of the log, not of how fast this machine is.
    armed = re.search(r"walltime: ranges stop being handed out in (-?\d+) s", run1.log())
    check(armed and int(armed.group(1)) <= 3, "walltime stop armed %s, expected in at most 3 s" % (
        armed and armed.group(0)))
    check(re.search(r"draining \(walltime", run1.log()), "no walltime drain logged")
    for node in ("local-0", "local-1"):
        check(os.path.exists(os.path.join(site.node_dir(node), "pilot_kill_payload")), "no kill file for " + node)
    site.check_partial_report()
    run1.recorded_at_end = site.recorded_ranges()
    check(run1.recorded_at_end, "nothing recorded by the first run")
    total = len(site.inputs) * site.events
    check(len(run1.recorded_at_end) < total, "the first run finished everything; the walltime did not cut it")
    os.unlink(site.p["timemonitor"])
    run2 = site.start({}, "run2")
    run2.expect_rc(EXIT_SUCCESS)
    site.verify()
    check_not_redone(site, run1, run2)
    return site


def s_walltime_holdback(root):
    # Walltime-aware dispatch (ray.walltimeaware, the default): once a range's p90 lease -> finish time
    # plus ray.walltimemargin no longer fits before the kill time, pilots get [] ("no more events"), the
    # run drains without waiting for the kill time, and the ranges kept back are done by the resumed
    # run, each exactly once. Every range the first run handed out is finished, none lost in flight.
    killtime = 6
    site = Site(root, inputs=6, events=16, per_output=16,
                overrides=["payload.pilotkilltime=%d" % killtime, "ray.walltimemargin=3"])
    write_time_monitor(site, 8, killtime)
    env = {"FAKE_PILOT_DELAY": "1"}
    run1 = site.start(env)
    run1.expect_rc(EXIT_INCOMPLETE, timeout=40)
    check(re.search(r"walltime: holding ranges back from now on", run1.log()), "no hold-back logged")
    check(re.search(r"draining \(walltime: \d+ ready range\(s\) cannot finish before the kill time", run1.log()),
          "the run did not drain for the ranges held back")
    site.check_partial_report()
    recorded = run1.recorded_at_end = site.recorded_ranges()
    started = set(run1.recorded())
    total = len(site.inputs) * site.events
    check(recorded and len(recorded) < total, "first run recorded %d of %d ranges: no cut" % (len(recorded), total))
    check(started <= recorded, "ranges handed out by the first run but lost: %s" % sorted(started - recorded)[:5])
    check_each_range_once(run1)
    os.unlink(site.p["timemonitor"])
    run2 = site.start({"FAKE_PILOT_DELAY": "0.05"}, "run2")
    run2.expect_rc(EXIT_SUCCESS, timeout=60)
    site.verify()
    check_not_redone(site, run1, run2)
    check_each_range_once(run2)
    check(started | set(run2.recorded()) == {"%s-%d" % (lfn, n) for lfn in site.inputs
                                             for n in range(1, site.events + 1)},
          "the two runs together did not start every range")
    return site


def s_stub_killed(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.2"})
    run.wait_log(r"node local-0: pilot job state running")
    run.wait_log(r"node local-1: pilot job state running")
    wait_holding(run, ["local-0", "local-1"])
    stub = run.stub_pids()["local-0"]
    pilot = wait_until(lambda: run.pilot_pids().get("local-0"), 5, "pilot pid of local-0")
    group = [p for p in processes_under(site.root) if os.getpgid(p) == pilot] if alive(pilot) else []
    os.kill(stub, signal.SIGKILL)
    t_kill = time.monotonic()
    m = run.wait_log(r"node local-0 lost \(([^)]*)\); (\d+) range\(s\) it held go back")
    # EOF at once, not the heartbeat timeout: nothing else (pilot) may hold the stub's end of the channel
    check("heartbeat" not in m.group(1), "the stub's death was noticed only by heartbeat: %s" % m.group(1))
    check(int(m.group(2)) > 0, "the killed stub held no ranges: the test did not exercise re-dispatch")
    # The stub's guard SIGTERMs the pilot's group at once and SIGKILLs it after ray.stubgrace (2 s): the
    # pilot's log shows the TERM; the bound only keeps a broken guard from hanging the test.
    check_no_orphans(site, group + [pilot], 2 + 10, "pilot of the SIGKILLed stub local-0")
    check("SIGTERM: flushing and exiting with 143" in pilot_logs(site, "local-0"),
          "the pilot of the SIGKILLed stub never got the guard's SIGTERM")
    print("pilot group of the killed stub gone %.1f s after the kill" % (time.monotonic() - t_kill))
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    rec = run.recorded()
    check(any(n == "local-1" for n in nodes_of(run, set(rec))), "nothing ran on local-1")
    return site


REMOTE_MERGE_START = r"merge (\S+) \(attempt (\d+), \d+ range outputs\) starting on node (\S+)"


def s_remote_merges(root):
    # Issue 15: once the pilots end, the merges left go to the idle nodes through their stubs (one each,
    # ray.mergemaxprocesses=1) besides the coordinator's node; final/ holds every event exactly once.
    site = Site(root, inputs=6, events=4, per_output=4, overrides=["ray.mergemaxprocesses=1"])
    run = site.start({"FAKE_MERGE_SLOW": "0.5"})
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    site.check_report_lists_outputs(6)
    remote = re.findall(REMOTE_MERGE_START, run.log())
    check(remote, "no merge ran on an idle node")
    for output, attempt, node in remote:
        check(re.search(r"merge %s ended on node %s \(exit code 0\)" % (re.escape(output), re.escape(node)),
                        run.log()), "no result from %s for merge %s" % (node, output))
        with open(site.stub_log(node), errors="replace") as f:
            check("merge %s (attempt %s) started" % (output, attempt) in f.read(),
                  "stub %s did not log running merge %s" % (node, output))
    print("%d of 6 merges ran on idle nodes: %s" % (len(remote), sorted({n for _, _, n in remote})))
    return site


def s_remote_merge_stub_killed(root):
    # A stub SIGKILLed mid-merge: its transform dies with it (parent-death signal), the merge runs again
    # elsewhere in a fresh attempt directory, and final/ has no partial file: every event exactly once.
    site = Site(root, inputs=4, events=4, per_output=4, overrides=["ray.mergemaxprocesses=1"])
    run = site.start({"FAKE_MERGE_DURATION": "4:0"})
    m = run.wait_log(REMOTE_MERGE_START, timeout=40)
    output, attempt, node = m.group(1), m.group(2), m.group(3)
    stub = run.stub_pids()[node]

    def merge_pid():
        with open(site.stub_log(node), errors="replace") as f:
            found = re.search(r"merge %s \(attempt %s\) started, pid (\d+)" % (re.escape(output), attempt), f.read())
        return found and int(found.group(1))
    transform = wait_until(merge_pid, 10, "the stub's line for merge %s" % output)
    site.pids.add(transform)
    os.kill(stub, signal.SIGKILL)
    run.wait_log(r"merge %s was running on node %s, which is lost: it runs again elsewhere" % (
        re.escape(output), re.escape(node)))
    check_no_orphans(site, [transform], 10, "merge transform of the SIGKILLed stub %s" % node)
    run.expect_rc(EXIT_SUCCESS, timeout=60)
    site.verify()
    site.check_report_lists_outputs(4)
    retried = re.search(r"merge %s \(attempt (\d+), \d+ range outputs\) starting" % re.escape(output),
                        run.log()[m.end():])
    check(retried and int(retried.group(1)) > int(attempt), "merge %s was not started again" % output)
    check(re.search(r"merge %s done" % re.escape(output), run.log()), "merge %s never succeeded" % output)
    return site


def s_stub_stopped(root):
    # SIGSTOP a stub that holds leased ranges past the heartbeat timeout, then SIGCONT it: the
    # coordinator declared it lost and re-dispatched its ranges (> 0 of them); whatever the woken stub and
    # its pilot still send cannot produce a duplicate (no range finished twice or by a node that lost it;
    # every event in exactly one merged output), and the stub ends by itself.
    site = Site(root, inputs=3, events=8, per_output=8,
                overrides=["ray.heartbeattimeout=3", "ray.stubgrace=2"])
    run = site.start({"FAKE_PILOT_DELAY": "0.2"})
    run.wait_log(r"node local-0: pilot job state running")
    run.wait_log(r"node local-1: pilot job state running")
    wait_holding(run, ["local-0"])
    stub = run.stub_pids()["local-0"]
    os.kill(stub, signal.SIGSTOP)
    try:
        m = run.wait_log(r"node local-0 lost \(no heartbeat for 3 s\); (\d+) range\(s\) it held go back", 15)
    finally:
        os.kill(stub, signal.SIGCONT)
    held = int(m.group(1))
    print("stopped stub held %d range(s) when it was declared lost" % held)
    check(held > 0, "the stopped stub held no ranges: re-dispatch after a silent node was not exercised")
    lost_at = m.end()
    # The woken stub finds its channel cut, stops its pilot after ray.stubgrace and ends by itself.
    wait_until(lambda: "lost the coordinator" in open(site.stub_log("local-0"), errors="replace").read(), 10,
               "the woken stub to notice its channel is gone")
    run.expect_rc(EXIT_SUCCESS)
    wait_until(lambda: not alive(stub), 10, "the woken stub to end")
    after = run.log()[lost_at:]
    late = re.findall(r"node local-0(?: |:).*", after)
    late = [line for line in late if "ended" not in line]  # the launcher's line about the stub's exit
    check(not late, "the coordinator heard from local-0 after declaring it lost: %s" % late[:5])
    check(not re.search(r"finished again by node|which does not hold it", run.log()),
          "a range was reported twice or by a node that no longer held it")
    with open(site.stub_log("local-0"), errors="replace") as f:
        stub_log = f.read()
    check("stopping pilot's process group" in stub_log or "pilot ended" in stub_log.split("lost the coordinator")[-1],
          "the woken stub did not end its pilot")
    site.verify()
    return site


def nodes_of(run, ids):
    out = []
    with open(run.record_path) as f:
        for line in f:
            rid, node = line.split()
            if rid in ids:
                out.append(node)
    return out


def s_coordinator_killed(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    run1 = site.start({"FAKE_PILOT_DELAY": "0.2"})
    run1.wait_log(r"node local-0: pilot job state running")
    run1.wait_log(r"node local-1: pilot job state running")
    wait_until(site.checkpointed_ranges, 20, "a checkpoint holding finished ranges")
    run1.remember_pids()
    children = list(run1.stub_pids().values()) + list(run1.pilot_pids().values())
    children += [p for p in processes_under(site.root) if p != run1.pid]
    check(len(run1.stub_pids()) == 2 and len(run1.pilot_pids()) == 2, "stubs/pilots not all found")
    os.kill(run1.pid, signal.SIGKILL)
    run1.wait(5)
    grace = 2  # ray.stubgrace of Site
    # Each stub arms the configured ray.stubgrace (its log), then stops its pilot's group; the wait
    # below only bounds the test.
    for node in ("local-0", "local-1"):
        wait_until(lambda: re.search(r"lost the coordinator \([^)]*\); pilot is stopped in (\d+) s",
                                     open(site.stub_log(node), errors="replace").read()), 10,
                   "%s to notice the coordinator is gone" % node)
        with open(site.stub_log(node), errors="replace") as f:
            armed = re.findall(r"lost the coordinator \([^)]*\); pilot is stopped in (\d+) s", f.read())
        check(armed == [str(grace)], "%s armed %s s, ray.stubgrace is %d" % (node, armed, grace))
    check_no_orphans(site, children, grace + 5 + 3, "stubs and pilots after raythenad was SIGKILLed")
    for node in ("local-0", "local-1"):
        with open(site.stub_log(node), errors="replace") as f:
            tail = f.read().split("lost the coordinator")[-1]
        check("stopping pilot's process group" in tail or "pilot ended" in tail,
              "%s exited without stopping its pilot" % node)
    left = processes_under(site.root)
    check(not left, "processes left in the run's tree: %s" % left)
    run1.recorded_at_end = site.recorded_ranges()
    check(run1.recorded_at_end, "no checkpoint progress before the kill")
    run2 = site.start({}, "run2")
    run2.expect_rc(EXIT_SUCCESS)
    site.verify()
    check_not_redone(site, run1, run2)
    return site


def s_sigusr1_checkpoint(root):
    """SIGUSR1 writes the checkpoint now (README, "Signals") and the run goes on to the end: the periodic
    checkpoint is an hour away, so what state.json holds after the signal is the signal's doing."""
    site = Site(root, inputs=3, events=8, per_output=8, overrides=["ray.checkpointinterval=3600"])
    run = site.start({"FAKE_PILOT_DELAY": "0.3"})
    run.wait_log(r"node local-0: pilot job state running")

    def finished():
        if run.proc.poll() is not None:
            raise Failure("raythenad exited (%s) before a range was finished" % run.proc.returncode)
        return ((status_of(site) or {}).get("ranges") or {}).get("finished", 0) > 0
    wait_until(finished, 20, "a finished range in /status")
    os.kill(run.pid, signal.SIGUSR1)
    run.wait_log(r"checkpoint written to \S+state\.json \(SIGUSR1\)", timeout=10)
    check(site.checkpointed_ranges(), "state.json holds no finished range after SIGUSR1")
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    return site


def s_sigterm_drain(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    run1 = site.start({"FAKE_PILOT_DELAY": "0.2"})
    run1.wait_log(r"node local-0: pilot job state running")
    run1.wait_log(r"node local-1: pilot job state running")
    # Mid-run by state, not by a sleep: a checkpoint holds finished ranges and both pilots hold leases.
    wait_until(lambda: site.checkpointed_ranges() or run1.proc.poll() is not None, 20,
               "a checkpoint holding finished ranges")
    wait_holding(run1, ["local-0", "local-1"])
    os.kill(run1.pid, signal.SIGTERM)
    run1.expect_rc(EXIT_INCOMPLETE, timeout=20)
    check(re.search(r"draining \(signal", run1.log()), "no drain logged")
    # Pilots get the kill file (as for the walltime): checked before run2, whose stubs remove it.
    for node in ("local-0", "local-1"):
        check(os.path.exists(os.path.join(site.node_dir(node), "pilot_kill_payload")), "no kill file for " + node)
    site.check_partial_report()
    run1.recorded_at_end = site.recorded_ranges()
    check(run1.recorded_at_end, "nothing recorded before SIGTERM")
    check(len(run1.recorded_at_end) < len(site.inputs) * site.events, "the run was complete before SIGTERM")
    left = processes_under(site.root)
    check(not left, "processes left after the drained run: %s" % left)
    run2 = site.start({}, "run2")
    run2.expect_rc(EXIT_SUCCESS)
    site.verify()
    check_not_redone(site, run1, run2)
    return site


def frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data


def read_frame(sock, timeout, sealed=False):
    """The next control-channel frame as JSON (None at EOF); sealed: drop its 32-byte MAC."""
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < 4:
        chunk = sock.recv(4 - len(buf))
        if not chunk:
            return None
        buf += chunk
    n = struct.unpack(">I", buf)[0]
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return json.loads(data[:-32] if sealed else data)


def closed_by_peer(sock, timeout):
    """True when the peer closes the connection within timeout (frames it sends first are skipped)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def gate(site):
    """A FAKE_PILOT_GATE file: pilots cannot finish a range until release(site) removes it, so the run
    surely goes on while a test probes it (no run length tuned to outlast the probes)."""
    site.gate = site.path("pilot-gate")
    open(site.gate, "w").close()
    return site.gate


def release(site):
    if os.path.exists(site.gate):
        os.unlink(site.gate)


def s_unauthenticated(root):
    # The coordinator gives a silent peer min(10 s, heartbeattimeout) to authenticate: the pilots are
    # gated meanwhile, so the run surely lasts until the probes are done.
    site = Site(root, inputs=4, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "ATHENA_PROC_NUMBER": "2", "FAKE_PILOT_GATE": gate(site)})
    host, port = run.listen_address()
    results = {}

    def probe(kind):
        s = socket.create_connection((host, port), timeout=5)
        try:
            challenge = read_frame(s, 5)
            check(challenge and challenge.get("type") == "challenge", "%s: no challenge (%s)" % (kind, challenge))
            if kind == "garbage":
                s.sendall(struct.pack(">I", 12) + b"not json!{[}")
            elif kind == "wrong_proof":
                s.sendall(frame({"type": "hello", "version": 2, "node_id": "intruder", "host": "x", "pid": 1,
                                 "nonce": "ab" * 16, "proof": "0" * 64}))
            elif kind == "huge":
                s.sendall(struct.pack(">I", 0xFFFFFFF0) + b"{")
            elif kind == "replayed":
                # A hello with a valid proof, for another connection's challenge (as if sniffed there).
                import hashlib
                import hmac
                with open(os.path.join(site.p["access"], ".raythenad-secret")) as f:
                    secret = f.read().strip()
                other = socket.create_connection((host, port), timeout=5)
                nonce = read_frame(other, 5)["nonce"]
                other.close()
                proof = hmac.new(secret.encode(), ("raythenad-auth-v2\nstub\n%s\n%s\nreplayer" % (nonce, "ab" * 16)).encode(),
                                 hashlib.sha256).hexdigest()
                s.sendall(frame({"type": "hello", "version": 2, "node_id": "replayer", "host": "x", "pid": 1,
                                 "nonce": "ab" * 16, "proof": proof}))
            results[kind] = (closed_by_peer(s, 14), s.getsockname())
        except Exception as e:  # reported by the main thread
            results[kind] = (e, None)
        finally:
            s.close()

    threads = [threading.Thread(target=probe, args=(k,))
               for k in ("silent", "garbage", "wrong_proof", "huge", "replayed")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    check(run.proc.poll() is None, "the run ended before the probes were done (the pilots are gated)")
    log = run.log()
    for kind, (closed, local) in sorted(results.items()):
        if isinstance(closed, Exception):
            raise Failure("%s: %s" % (kind, closed))
        check(closed, "%s: the coordinator did not close the connection" % kind)
        # the line follows the close on the coordinator's side: allow it a moment
        run.wait_log(re.escape("refused connection from %s:%d:" % local), timeout=3)
    check(len(results) == 5, "probes missing: %s" % sorted(results))
    release(site)
    run.expect_rc(EXIT_SUCCESS)
    for intruder in ("intruder", "replayer"):
        check(intruder not in re.sub(r"refused connection.*", "", log), "%s was let in" % intruder)
    site.verify()
    return site


def crash_releases(run, node):
    """Ranges the coordinator took back from `node` when its pilot crashed (from its log lines)."""
    return [int(n) for n in re.findall(r"node %s: pilot ended abnormally \(exit code 7\); (\d+) unfinished" % node,
                                       run.log())]


def pilot_logs(site, node):
    """The text of every pilotlog.txt of `node` (its first pilot and each restarted attempt-<k>)."""
    out = []
    for d, _, files in os.walk(site.node_dir(node)):
        if "pilotlog.txt" in files:
            with open(os.path.join(d, "pilotlog.txt"), errors="replace") as f:
                out.append(f.read())
    return "\n".join(out)


def crashed_holding(site, node):
    """Range ids a crashed pilot of `node` had finished but never reported (FAKE_PILOT_CRASH_AFTER)."""
    return re.findall(r"crashing with \d+ holding (\S+) finished, unreported", pilot_logs(site, node))


def check_crashes_gave_back(site, run, nodes):
    """Every crash of a pilot of `nodes` gave ranges back (> 0 each), and each range a crashed pilot
    held finished but unreported was simulated again by another pilot (merged once: site.verify)."""
    held, crashes = [], 0
    for node in nodes:
        released = crash_releases(run, node)
        ids = crashed_holding(site, node)
        check(len(released) == len(ids) > 0, "%s: %d crash line(s) in the coordinator log, %d pilot crash(es) "
              "holding a range" % (node, len(released), len(ids)))
        check(all(n > 0 for n in released), "%s: a pilot crashed holding ranges but none went back: %s" % (
            node, released))
        held += ids
        crashes += len(ids)
    return held, crashes


def s_pilot_crash(root):
    # local-0's pilot dies (exit 7) the moment its 2nd range is finished: that range's output is
    # written but never reported, and its other workers hold leased ranges. The coordinator gives them
    # back, each is simulated again elsewhere and merged once. Each new pilot on local-0
    # (payload.pilotrestarts) dies the same way; local-1 does the work.
    site = Site(root, inputs=3, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "E2E_NODE_ENV_local_0": "FAKE_PILOT_CRASH_AFTER=2:7"})
    run.expect_rc(EXIT_SUCCESS)
    held, crashes = check_crashes_gave_back(site, run, ["local-0"])
    rec = run.recorded()
    for rid in held:
        check(rec.get(rid, 0) >= 2, "%s, held by a crashed pilot, was not simulated again (%s)" % (rid, rec.get(rid)))
    print("%d crash(es) of local-0's pilot, each giving ranges back; held unreported: %s" % (crashes, held))
    site.verify()
    return site


def s_all_pilots_crash(root):
    # Every pilot dies holding leased, unreported ranges (at its 2nd finished range) and no node may start
    # another (payload.pilotrestarts 0): nothing can take the work, so the run drains (exit 3); the next
    # run, with working pilots, finishes, and the ranges the crashed pilots held are merged once.
    site = Site(root, inputs=3, events=8, per_output=8, overrides=["payload.pilotrestarts=0"])
    run1 = site.start({"FAKE_PILOT_DELAY": "0.05", "FAKE_PILOT_CRASH_AFTER": "2:7"})
    run1.expect_rc(EXIT_INCOMPLETE)
    held, crashes = check_crashes_gave_back(site, run1, ["local-0", "local-1"])
    check(crashes == 2, "%d pilot crashes, expected one per node (no restarts)" % crashes)
    check(re.search(r"draining \(\d+ range\(s\) ready but no node can run a pilot for them", run1.log()),
          "no 'no node can run a pilot' drain")
    site.check_partial_report()
    run1.recorded_at_end = site.recorded_ranges()
    check(not set(held) & run1.recorded_at_end, "ranges a crashed pilot never reported are recorded: %s" % (
        sorted(set(held) & run1.recorded_at_end)))
    run2 = site.start({}, "run2")
    run2.expect_rc(EXIT_SUCCESS)
    rec2 = run2.recorded()
    check(all(rec2.get(rid) == 1 for rid in held), "held ranges in run2: %s" % {r: rec2.get(r) for r in held})
    site.verify()
    check_not_redone(site, run1, run2)
    return site


def s_all_pilots_crash_restarted(root):
    # Every pilot dies at the first range it finishes after its first report, holding that range and
    # its workers' leased ranges unreported, with payload.pilotrestarts at its default: each node gets a
    # new pilot for the ranges its last one held; every pilot made progress first (a report), so the run
    # completes in one go. Two workers per pilot at 0.15 s per range: a node's share takes ~0.9 s, far
    # more than the first report (0.2 s), so every pilot does crash while work is left.
    site = Site(root, inputs=3, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.15", "ATHENA_PROC_NUMBER": "2", "FAKE_PILOT_REPORT_INTERVAL": "0.2",
                      "FAKE_PILOT_CRASH_AFTER": "1:7:1"})
    run.expect_rc(EXIT_SUCCESS, timeout=90)
    check(re.search(r"node local-\d: starting pilot attempt 2", run.log()), "no pilot was restarted")
    held, crashes = check_crashes_gave_back(site, run, ["local-0", "local-1"])
    rec = run.recorded()
    for rid in held:
        check(rec.get(rid, 0) >= 2, "%s, held by a crashed pilot, was not simulated again (%s)" % (rid, rec.get(rid)))
    site.verify()
    return site


def http(port, path, body=b"", host="127.0.0.1", timeout=10, content_type="application/x-www-form-urlencoded"):
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path), data=body, method="POST",
                                 headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def other_local_address():
    """An address of this host other than 127.0.0.1 (127.0.0.2 always reaches the loopback interface)."""
    return "127.0.0.2"


def one_busy_node(root):
    """One node whose pilot takes all 8 ranges at once and cannot finish them until the test removes
    the gate file (FAKE_PILOT_GATE): meanwhile nothing is ready and everything is leased, so extra
    getEventRanges are answered [] at once. Returns (site, run, pilot port); site.gate is the file."""
    site = Site(root, inputs=1, events=8, per_output=8, nodes=1, overrides=["resources.corepernode=8"])
    run = site.start({"FAKE_PILOT_DELAY": "0.1", "ATHENA_PROC_NUMBER": "8", "FAKE_PILOT_GATE": gate(site)})
    run.wait_log(r"node local-0: pilot job state running")
    run.wait_log(r"ranges ready 0, leased 8")  # pilot's first getEventRanges took all 8
    with open(os.path.join(site.node_dir("local-0"), "pilot_default.cfg")) as f:
        port = int(re.search(r"pandaserver = http://127\.0\.0\.1:(\d+)", f.read()).group(1))
    return site, run, port


def check_all_leased(site, what):
    st = status_of(site)
    ranges = (st or {}).get("ranges", {})
    check(ranges.get("leased") == 8 and ranges.get("ready") == 0 and ranges.get("finished") == 0,
          "%s: /status ranges %s, expected all 8 leased" % (what, ranges))


def s_http_api(root):
    site, run, port = one_busy_node(root)
    # two concurrent getEventRanges while everything is leased: nothing is held for leases to come back
    # (a held request would block that pilot's own reports): both are answered [] at once, not "no more"
    check_all_leased(site, "before the concurrent getEventRanges")
    replies = {}

    def ask(i):
        try:
            replies[i] = http(port, "/server/panda/getEventRanges",
                              ("pandaID=%s&jobsetID=1&taskID=1&nRanges=2" % PANDA_ID).encode(), timeout=30)
        except Exception as e:
            replies[i] = e
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for i in range(2):
        check(replies.get(i) == {"StatusCode": 0, "eventRanges": []} or
              (isinstance(replies.get(i), dict) and replies[i].get("eventRanges") == []),
              "concurrent getEventRanges %d: %r" % (i, replies.get(i)))
    check_all_leased(site, "after the concurrent getEventRanges")  # the pilot is gated: still all leased
    with open(site.stub_log("local-0")) as f:
        check("no more event ranges" not in f.read().lower(), "an empty answer was taken as final")
    # bound to 127.0.0.1 only
    try:
        socket.create_connection((other_local_address(), port), timeout=2).close()
        raise Failure("the pilot port %d answers on %s" % (port, other_local_address()))
    except (ConnectionRefusedError, socket.timeout):
        pass
    check(http(port, "/server/panda/noSuchThing") == {"StatusCode": 500}, "unknown path")
    r = http(port, "/server/panda/getEventRanges", b"pandaID=1234&jobsetID=1&taskID=1&nRanges=2")
    check(r.get("StatusCode") == -1, "wrong PandaID: %s" % r)
    r = http(port, "/server/panda/updateEventRanges", b"version=1&eventRanges=%5B%7B%22esOutput")
    check(r.get("StatusCode") == 500, "malformed updateEventRanges: %s" % r)
    # oversized body: refused with an error reply or a closed connection, and the stub stays up
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /server/panda/updateEventRanges HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\n\r\nversion=1")
    s.settimeout(10)
    try:
        answer = s.recv(65536)
    except ConnectionResetError:
        answer = b""
    except socket.timeout:
        raise Failure("no answer and no close within 10 s to an oversized body")
    s.close()
    check(b"\"StatusCode\":500" in answer.replace(b" ", b"") or answer == b"", "oversized body answer: %r" % answer)
    check(http(port, "/server/panda/noSuchThing") == {"StatusCode": 500}, "stub down after the oversized body")
    check_all_leased(site, "after the hostile requests")
    os.unlink(site.gate)
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    return site


def capture_exchange(path):
    """The request pilot 3.11 sent to `path`, from tests/fixtures/upstream/pilot3-3.11.5.1-wire.json."""
    import base64
    with open(os.path.join(SRC, "tests", "fixtures", "upstream", "pilot3-3.11.5.1-wire.json")) as f:
        for ex in json.load(f)["exchanges"]:
            if ex["path"] == path:
                headers = dict(h.split(": ", 1) for h in ex["headers"])
                return base64.b64decode(ex["body_b64"]), headers
    raise Failure("no %s in the capture" % path)


def post_capture(port, path):
    body, headers = capture_exchange(path)
    keep = {k: v for k, v in headers.items() if k in ("Content-Type", "Content-Encoding", "Accept")}
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method="POST", headers=keep)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def pilot_port(site, node="local-0"):
    with open(os.path.join(site.node_dir(node), "pilot_default.cfg")) as f:
        return int(re.search(r"pandaserver = http://127\.0\.0\.1:(\d+)", f.read()).group(1))


def s_pilot_newer_calls(root):
    """pilot >= 3.10's update_worker_node and getResourceTypes, sent byte for byte as 3.11 sent them:
    success, the node's report in the stub's log and in /status and `raythenad status` (first the fake
    pilot's own, sent at start as pilot 3.11 does, then the capture's), and the site's resource types in
    the form pilot reads;
    500 for getResourceTypes on a site without payload.resourcetypesfile."""
    types = os.path.join(root, "resource_types.json")
    os.makedirs(root, exist_ok=True)
    with open(types, "w") as f:
        json.dump([{"resource_name": "MCORE", "mincore": 2, "maxcore": None, "minrampercore": 0,
                    "maxrampercore": 1500}], f)
    site = Site(os.path.join(root, "with"), inputs=1, events=8, per_output=8, nodes=1,
                overrides=["payload.resourcetypesfile=" + types])
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "FAKE_PILOT_GATE": gate(site)})
    run.wait_log(r"node local-0: pilot job state running")
    # The fake pilot reported this host at start, as pilot 3.11 does: /status shows it for the node.
    own = worker_node_of(site, "local-0")
    check(own is not None and own.get("host_name") == socket.gethostname()
          and own.get("logical_cpus") == os.cpu_count() and isinstance(own.get("memory_mb"), int)
          and own["memory_mb"] > 0 and isinstance(own.get("local_disk_gb"), int)
          and isinstance(own.get("cpu_model"), str), "/status worker_node of the fake's report: %r" % own)
    port = pilot_port(site)
    r = post_capture(port, "/api/v1/pilot/update_worker_node")
    check(r == {"success": True, "message": "", "data": None}, "update_worker_node answer %r" % r)
    wait_until(lambda: "pilot reports node vm: 2 logical CPUs, 24105 MB memory" in open(site.stub_log("local-0")).read(),
               10, "the node's report in the stub log")
    # The capture's report replaces it, every field as pilot 3.11 sent it.
    captured = {"host_name": "vm", "logical_cpus": 2, "memory_mb": 24105, "local_disk_gb": 238,
                "cpu_model": "AMD EPYC 512 KB"}
    wait_until(lambda: worker_node_of(site, "local-0") == captured, 10, "the captured report in /status")
    import subprocess
    shown = subprocess.run([RAYTHENAD, "status", "--workdir", site.p["access"]], capture_output=True, text=True,
                           timeout=20)
    row = [l for l in shown.stdout.splitlines() if l.startswith("local-0 ")]
    check(shown.returncode == 0 and len(row) == 1 and re.search(r"\s2\s+24105 MB\s", row[0]),
          "raythenad status shows the node's CPUs and memory: %r" % shown.stdout)
    r = post_capture(port, "/server/panda/getResourceTypes")
    check(r.get("StatusCode") == 0, "getResourceTypes answer %r" % r)
    rt = r["ResourceTypes"]["ResourceTypes"]  # where pilot's get_memory_limits looks
    check(rt == [{"resource_name": "MCORE", "mincore": 2, "maxcore": None, "minrampercore": 0, "maxrampercore": 1500}],
          "resource types %r" % rt)
    release(site)
    run.expect_rc(EXIT_SUCCESS, timeout=60)
    site.verify()
    bare = Site(os.path.join(root, "without"), inputs=1, events=8, per_output=8, nodes=1)
    run2 = bare.start({"FAKE_PILOT_DELAY": "0.05", "FAKE_PILOT_GATE": gate(bare)})
    run2.wait_log(r"node local-0: pilot job state running")
    r = post_capture(pilot_port(bare), "/server/panda/getResourceTypes")
    check(r == {"StatusCode": 500}, "getResourceTypes without a site file: %r" % r)
    release(bare)
    run2.expect_rc(EXIT_SUCCESS, timeout=60)
    return site


def metric_families(text):
    """family name -> set of label names seen on its samples, from a Prometheus text exposition."""
    families = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\w+) ", line)
        if m:
            families.setdefault(m.group(1), set())
            continue
        m = re.match(r"(\w+)(?:\{([^}]*)\})? ", line)
        if m and not line.startswith("#"):
            name = m.group(1)
            for suffix in ("_bucket", "_sum", "_count"):
                if name not in families and name.endswith(suffix):
                    name = name[: -len(suffix)]
            families.setdefault(name, set()).update(re.findall(r'(\w+)="', m.group(2) or ""))
    return families


def s_metrics_dashboard(root):
    """A live run's /metrics passes `promtool check metrics` (skipped, visibly, without promtool), and
    every metric and legend label conf/grafana/raythenad.json queries is in it."""
    import shutil as _shutil
    import subprocess
    site = Site(root, inputs=2, events=40, per_output=40, nodes=2)
    write_time_monitor(site, 3600, 6)  # a walltime, so that raythenad_walltime_left_seconds is served
    run = site.start({"FAKE_PILOT_DELAY": "0.15"})
    url_file = os.path.join(site.p["access"], "status.url")
    wait_until(lambda: os.path.exists(url_file), 20, "status.url")
    with open(url_file) as f:
        url = f.read().strip()
    with open(os.path.join(SRC, "conf", "grafana", "raythenad.json")) as f:
        dashboard = json.load(f)
    wanted = {}  # metric -> label names its legends use
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            labels = set(re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat", "")))
            for metric in re.findall(r"\b(raythenad_\w+)", target["expr"]):
                wanted.setdefault(metric, set()).update(labels if len(re.findall(r"raythenad_\w+", target["expr"])) == 1 else set())
    check(len(wanted) >= 15, "the dashboard queries only %d metrics" % len(wanted))
    state = {}

    def all_served():
        try:
            state["text"] = get_text(url + "/metrics")
        except OSError:
            return False
        state["families"] = metric_families(state["text"])
        return all(m in state["families"] for m in wanted)
    # ETA and per-node series appear once ranges finish and nodes are connected: wait for that state.
    if not rtysite.poll_until(all_served, 40, 0.2):
        missing = sorted(m for m in wanted if m not in state.get("families", {}))
        raise Failure("metrics the dashboard queries are not served by a live run: %s" % missing)
    for metric, labels in wanted.items():
        check(labels <= state["families"][metric] | {"job", "instance"},
              "%s: the dashboard's legend uses labels %s, /metrics has %s" % (metric, sorted(labels),
                                                                             sorted(state["families"][metric])))
    promtool = _shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=state["text"].encode(), capture_output=True, timeout=30)
        check(p.returncode == 0, "promtool check metrics: %s %s" % (p.stdout.decode(), p.stderr.decode()))
        print("promtool check metrics: OK")
    else:  # bootstrap.sh test installs it: in CI as root a missing promtool is a failure, not a skip
        check(not ci_as_root(), "promtool is not installed (Debian package prometheus), and CI must run every check")
        print("SKIPPED: promtool check metrics (promtool not installed; apt install prometheus)")
    run.expect_rc(EXIT_SUCCESS, timeout=90)
    site.verify()
    return site


def s_hostile_paths(root):
    # updateEventRanges naming files outside the node's pilot directory (an absolute path elsewhere,
    # ../, a symlink pointing out) are refused and logged; the files stay where they are. A decoy file
    # stands in for /etc/passwd so that a regression cannot damage the machine.
    import urllib.parse
    site, run, port = one_busy_node(root)
    node = site.node_dir("local-0")
    decoy = os.path.join(root, "decoy-passwd")
    with open(decoy, "w") as f:
        f.write("root:x:0:0\n")
    os.symlink(decoy, os.path.join(node, "sneaky.root"))
    for i, pfn in enumerate([decoy, os.path.join(node, "..", "..", "..", "decoy-passwd"),
                             os.path.join(node, "sneaky.root")]):
        ranges = [{"esOutput": {"numEvents": 1}, "eventRanges": [
            {"eventRangeID": site.inputs[0] + "-%d" % (i + 1), "eventStatus": "finished", "pfn": pfn,
             "fsize": 11, "adler32": "12345678"}]}]
        body = urllib.parse.urlencode({"version": "1", "eventRanges": json.dumps(ranges)}).encode()
        http(port, "/server/panda/updateEventRanges", body)
    check(open(decoy).read() == "root:x:0:0\n", "the decoy was moved or changed")
    check(os.path.islink(os.path.join(node, "sneaky.root")), "the symlink was moved")
    with open(site.stub_log("local-0")) as f:
        log = f.read()
    check(log.count("outside this node's pilot directory") >= 2, "paths outside were not refused in the log")
    check("not a regular file" in log, "the symlink was not refused in the log")
    check(not any("decoy" in n for n in os.listdir(site.p["task"])), "a refused file reached the task dir")
    os.unlink(site.gate)
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    return site


def free_port(host):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get_text(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def s_status_endpoint(root):
    # ray.statusaddress: /status and /metrics on the configured address only, status.url names it, and
    # `raythenad status` finds the run through it; the file is gone at exit. "off": no endpoint at all.
    import subprocess
    host, port = other_local_address(), free_port(other_local_address())
    site = Site(os.path.join(root, "on"), inputs=1, events=8, per_output=8, nodes=1,
                overrides=["resources.corepernode=8", "ray.statusaddress=%s:%d" % (host, port)])
    run = site.start({"FAKE_PILOT_DELAY": "0.1", "ATHENA_PROC_NUMBER": "8", "FAKE_PILOT_GATE": gate(site)})
    url = "http://%s:%d" % (host, port)
    run.wait_log(r"status at " + re.escape(url) + r"/status")
    url_file = os.path.join(site.p["access"], "status.url")
    with open(url_file) as f:
        check(f.read() == url + "\n", "status.url does not hold %s" % url)
    run.wait_log(r"node local-0: pilot job state running")
    # 100 idle clients on the endpoint (which may listen beyond loopback): the oldest are cut, and the
    # endpoint keeps answering.
    idle = Flood(host, port, 100)
    try:
        wait_until(lambda: idle.opened == 100 or not idle.thread.is_alive(), 20, "100 status clients")
        check(idle.opened == 100, "only %d idle status clients connected" % idle.opened)
        # The oldest go, to make room: the newest 32 stay open (until their 5 s deadline). The server
        # closes them in order, but on 2 CPUs loopback may deliver one FIN after a later one, so a count
        # of 68 can be seen a moment before the 68 oldest all are: up to 1 s more for that, far less than
        # the deadline that would close a wrongly kept one anyway.
        wait_until(lambda: idle.cut() >= 100 - 32, 10, "68 idle status clients cut")
        rtysite.poll_until(lambda: all(idle.closed()[:100 - 32]), 1, 0.05)  # not met: the check below says how
        closed = idle.closed()
        check(all(closed[:68]) and not any(closed[68:]), "status clients cut: %s" % "".join(
            "x" if c else "." for c in closed))
        status = json.loads(get_text(url + "/status"))
    finally:
        idle.close()
    check([n.get("node_id") for n in status.get("nodes", [])] == ["local-0"], "/status nodes: %s" % status)
    metrics = get_text(url + "/metrics")
    check(re.search(r"^raythenad_\w+", metrics, re.M) is not None, "/metrics has no raythenad_ series")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        raise Failure("the status endpoint answers on 127.0.0.1:%d too" % port)
    except (ConnectionRefusedError, socket.timeout):
        pass
    shown = subprocess.run([RAYTHENAD, "status", "--workdir", site.p["access"]], capture_output=True, text=True,
                           timeout=20)
    check(shown.returncode == 0 and "local-0" in shown.stdout, "raythenad status: rc %d, out %r, err %r" % (
        shown.returncode, shown.stdout, shown.stderr))
    release(site)
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    check(not os.path.exists(url_file), "status.url left behind after exit")

    off = Site(os.path.join(root, "off"), inputs=1, events=4, per_output=4, nodes=1,
               overrides=["ray.statusaddress=off"])
    run = off.start()
    run.wait_log(r"no status endpoint \(ray.statusaddress off\)")
    check(not os.path.exists(os.path.join(off.p["access"], "status.url")), "status.url written with off")
    run.expect_rc(EXIT_SUCCESS)
    off.verify()
    return site


class Flood:
    """Opens `count` TCP connections to host:port from a thread and keeps them open, sending nothing
    (idle), or a request head a byte at a time every second (slowloris). Counts how many the server cut."""

    def __init__(self, host, port, count, slow_request=None):
        self.host, self.port, self.count, self.slow = host, port, count, slow_request
        self.socks, self.opened, self.stop = [], 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        for _ in range(self.count):
            if self.stop.is_set():
                return
            try:
                s = socket.create_connection((self.host, self.port), timeout=5)
                s.setblocking(False)
                self.socks.append(s)
                self.opened += 1
            except OSError:
                time.sleep(0.01)
        sent = 0
        while not self.stop.wait(1.0) and self.slow and sent < len(self.slow):
            for s in self.socks:
                try:
                    s.send(self.slow[sent:sent + 1])
                except OSError:
                    pass
            sent += 1

    def closed(self):
        """For each connection, in the order opened: has the server closed it (EOF or reset)?"""
        out = []
        for s in self.socks:
            try:
                while s.recv(65536):
                    pass
                out.append(True)  # EOF
            except BlockingIOError:
                out.append(False)  # open, nothing more to read
            except OSError:
                out.append(True)
        return out

    def cut(self):
        """How many of the connections the server has closed."""
        return sum(self.closed())

    def close(self):
        self.stop.set()
        self.thread.join(10)
        for s in self.socks:
            s.close()


def s_connection_flood(root):
    # 1,500 idle connections on the control port of a raythenad whose open-files limit is 512 (so at most
    # 256 may wait to authenticate), and 300 slowloris clients on the stub's pilot port: the oldest are
    # cut, the log says so without a line per connection, and the real stub and pilot finish the job.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    check(hard >= 2500, "this test needs an open-files hard limit of 2500, have %d" % hard)
    site = Site(root, inputs=1, events=16, per_output=16, nodes=1, overrides=["resources.corepernode=2"])
    run = site.start({"FAKE_PILOT_DELAY": "0.1", "ATHENA_PROC_NUMBER": "2", "FAKE_PILOT_GATE": gate(site)},
                     prefix=["prlimit", "--nofile=512:512"])
    host, port = run.listen_address()
    control = Flood(host, port, 1500)
    run.wait_log(r"node local-0: pilot job state running")
    with open(os.path.join(site.node_dir("local-0"), "pilot_default.cfg")) as f:
        pilot_port = int(re.search(r"pandaserver = http://127\.0\.0\.1:(\d+)", f.read()).group(1))
    slow = Flood("127.0.0.1", pilot_port, 300, b"POST /server/panda/getEventRanges HTTP/1.1\r\nHost: x\r\n")
    try:
        wait_until(lambda: control.opened == 1500 or not control.thread.is_alive(), 60, "the control-port flood")
        wait_until(lambda: slow.opened == 300 or not slow.thread.is_alive(), 60, "the pilot-port flood")
        check(control.opened == 1500 and slow.opened == 300, "opened %d/1500 control and %d/300 pilot-port "
              "connections" % (control.opened, slow.opened))
        # while the run goes on: all but the newest 256 (control) and 64 (pilot port) are cut
        wait_until(lambda: control.cut() >= 1500 - 256, 20, "1244 idle control connections cut")
        wait_until(lambda: slow.cut() >= 300 - 64, 20, "236 slowloris connections cut")
        check(run.proc.poll() is None, "the run ended before the floods were checked (the pilot is gated)")
        release(site)  # the real stub and pilot now finish the job under the flood
        run.expect_rc(EXIT_SUCCESS, timeout=60)
    finally:
        control.close()
        slow.close()
    site.verify()
    log = run.log()
    cuts = len(re.findall(r"cut unauthenticated connection from", log))
    check(0 < cuts <= 20, "%d 'cut unauthenticated connection' lines (expected 1-20, throttled)" % cuts)
    check(cuts < 20 or re.search(r"similar line\(s\) left out|more connection\(s\) cut or refused", log),
          "no summary of the lines left out")
    with open(site.stub_log("local-0"), errors="replace") as f:
        stub_log = f.read()
    check("cut a pilot-port connection that had not sent its request" in stub_log, "stub log: no cut")
    check(len(re.findall(r"cut a pilot-port connection", stub_log)) <= 20, "stub log not throttled")
    return site


def s_file_modes(root):
    # Started with umask 0 (the worst a batch system could hand down): the run's secret is 0600 while it
    # exists, and nothing raythenad, the stub, pilot or the merge create is writable by other users.
    import stat
    site = Site(root, inputs=2, events=4, per_output=4, nodes=1)
    before = set()
    for top in (site.p["access"], site.p["task"]):
        for d, dirs, files in os.walk(top):
            before.update(os.path.join(d, n) for n in dirs + files)
    run = site.start({"FAKE_PILOT_DELAY": "0.3"}, prefix=["sh", "-c", 'umask 0 && exec "$0" "$@"'])
    run.wait_log(r"node local-0: pilot job state running")
    secret = os.path.join(site.p["access"], ".raythenad-secret")
    mode = stat.S_IMODE(os.stat(secret).st_mode)
    check(mode == 0o600, "the secret file has mode %o" % mode)
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    created, open_to_others = 0, []
    for top in (site.p["access"], site.p["task"]):
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                path = os.path.join(d, n)
                if path in before or os.path.islink(path):
                    continue
                created += 1
                if os.lstat(path).st_mode & stat.S_IWOTH:
                    open_to_others.append("%s (%o)" % (path, stat.S_IMODE(os.lstat(path).st_mode)))
    check(created > 20, "only %d files and directories created?" % created)
    check(not open_to_others, "writable by other users: %s" % ", ".join(open_to_others[:10]))
    report = os.path.join(site.p["access"], "jobReport.json")
    check(stat.S_IMODE(os.stat(report).st_mode) & 0o444 == 0o444, "the report is not readable by Harvester")
    return site


def s_pilots_stuck(root):
    # ray.timeoutinterval: pilots that stop finishing ranges behind live, heartbeating stubs drain the run
    # (exit 3, checkpoint kept) instead of holding the allocation to its end; a second run finishes.
    # Also logging.workerlogfile: each stub logs into its node directory once connected.
    site = Site(root, inputs=2, events=4, per_output=4, nodes=2,
                overrides=["ray.timeoutinterval=2", "logging.workerlogfile=stub.log", "payload.pilotkilltime=2",
                           "resources.corepernode=1"])
    # Every pilot finishes one range, then takes 300 s over each further one.
    run = site.start({"FAKE_PILOT_DELAY": "0.1", "FAKE_PILOT_SLOW_AFTER": "1:300", "ATHENA_PROC_NUMBER": "1"})
    run.expect_rc(EXIT_INCOMPLETE, timeout=40)
    log = run.log()
    check("no event range finished or failed for 2 s (ray.timeoutinterval)" in log, "no inactivity line")
    check(site.recorded_ranges(), "the checkpoint holds no finished range")
    for node in ("local-0", "local-1"):
        path = os.path.join(site.node_dir(node), "stub.log")
        check(os.path.exists(path), "no %s" % path)
        with open(path) as f:
            check("pilot started" in f.read(), "%s lacks the stub's lines" % path)
    run2 = site.start({"FAKE_PILOT_DELAY": "0.05"})
    run2.expect_rc(EXIT_SUCCESS)
    site.verify()
    return site


def s_small_job_no_deadlock(root):
    # The small job: 3 inputs x 6 events on 2 nodes x 4 cores, with the fake pilot's faithful
    # pipeline (a worker's getEventRanges goes out while the others still hold finished, unreported
    # ranges; one communicator thread). When a held request waited for leases, every range was leased
    # and none was ever reported (pilot's curl gave up after 2 x 120 s). Now it simply completes.
    site = Site(root, inputs=3, events=6, per_output=6, overrides=["resources.corepernode=4"])
    run = site.start({"FAKE_PILOT_DELAY": "0.1", "ATHENA_PROC_NUMBER": "4",
                      "FAKE_PILOT_REPORT_INTERVAL": "5", "FAKE_PILOT_COMM_SLEEP": "1"})  # pilot3's own pace
    run.expect_rc(EXIT_SUCCESS, timeout=60)
    site.verify()
    for node in ("local-0", "local-1"):
        with open(site.stub_log(node)) as f:
            check("pilot hung up" not in f.read(), "%s: a pilot's request timed out" % node)
    return site


def s_last_range_fails_late(root):
    # The last range takes longest and fails on its first attempt, after the other workers (and the
    # other node's pilot) got []: it is retried and merged, exit 0.
    site = Site(root, inputs=1, events=8, per_output=8, overrides=["resources.corepernode=4"])
    last = "%s-8" % site.inputs[0]
    state_dir = site.path("attempts")
    os.makedirs(state_dir)
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "ATHENA_PROC_NUMBER": "4", "FAKE_PILOT_FAIL_ONCE": last,
                      "FAKE_PILOT_STATE_DIR": state_dir, "FAKE_PILOT_SLOW_IDS": last + ":2"})
    run.expect_rc(EXIT_SUCCESS, timeout=60)
    check(re.search(r"1 range\(s\) failed \(1 will be retried\)", run.log()), "the last range did not fail")
    check(run.recorded().get(last) == 2, "the last range was simulated %s times, expected 2" % run.recorded().get(last))
    site.verify()
    return site


def s_node_lost_at_tail(root):
    # local-0 finishes its share and its pilot ends (every worker got []); then local-1, which holds the
    # last ranges, is killed. Nobody would ask for its ranges: local-0 gets a new pilot for them.
    site = Site(root, inputs=1, events=8, per_output=8, overrides=["resources.corepernode=4"])
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "ATHENA_PROC_NUMBER": "4",
                      "E2E_NODE_ENV_local_1": "FAKE_PILOT_DELAY=30"})
    run.wait_log(r"node local-0: pilot ended", timeout=40)
    check("local-1 lost" not in run.log(), "local-1 was lost before the test killed it")
    os.kill(run.stub_pids()["local-1"], signal.SIGKILL)
    m = run.wait_log(r"node local-1 lost \([^)]*\); (\d+) range\(s\) it held go back")
    check(int(m.group(1)) > 0, "local-1 held no range at the tail: nothing was tested")
    run.wait_log(r"node local-0: starting pilot attempt 2")
    run.expect_rc(EXIT_SUCCESS, timeout=60)
    site.verify()
    return site


def pilot_log_lines(site, node, pattern):
    """Matches of `pattern` in the node's pilot logs, in order."""
    return re.findall(pattern, pilot_logs(site, node))


def check_each_range_once(run):
    rec = run.recorded()
    twice = sorted(r for r, n in rec.items() if n > 1)
    check(not twice, "ranges handed out more than once: %s" % twice[:5])


def s_pilot_duplicate_updates(root):
    # FAKE_PILOT_DUPLICATE: every esOutput update is sent twice, as pilot3 does when it did not hear the
    # answer. The stub remembers what its pilot reported: the repeat is skipped with one line (not
    # forwarded, no second file move) and answered StatusCode 0, like the first. The coordinator never
    # sees a repeat: no "finished again" line, no range merged twice, none simulated again.
    site = Site(root, inputs=3, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "FAKE_PILOT_DUPLICATE": "1"})
    run.expect_rc(EXIT_SUCCESS)
    repeats, skipped = 0, 0
    for node in ("local-0", "local-1"):
        sent = pilot_log_lines(site, node, r"updateEventRanges version=1 n=(\d+) -> (\{[^}]*\})")
        check(len(sent) % 2 == 0 and sent, "%s: updates not sent in pairs: %s" % (node, sent))
        for (n1, r1), (n2, r2) in zip(sent[0::2], sent[1::2]):
            check(n1 == n2 and "'StatusCode': 0" in r1, "%s: an update and its repeat: %s %s / %s %s" % (
                node, n1, r1, n2, r2))
            if "'StatusCode': 0" in r2:
                repeats += 1
            else:  # only once the run is over: the stub has no coordinator to forward it to
                check(r2 == "{'StatusCode': 500}", "%s: repeat answered %s" % (node, r2))
        with open(site.stub_log(node), errors="replace") as f:
            skipped += len(re.findall(r"updateEventRanges repeats \d+ report\(s\) already forwarded", f.read()))
    check(repeats > 0 and skipped == repeats, "%d repeats answered 0, %d skipped by the stubs" % (repeats, skipped))
    log = run.log()
    check("finished again" not in log and "which does not hold it" not in log,
          "a repeat reached the coordinator")
    check_each_range_once(run)
    site.verify()
    return site


def s_pilot_unknown_range_ids(root):
    # FAKE_PILOT_UNKNOWN_ID: every update also names a finished range the job never had, with a real
    # output file. The stub forwards results only for ranges it delivered to its pilot (issue 13): it
    # refuses the unknown one with one line per update and answers that update StatusCode 500; the
    # real entries still go through. The coordinator never hears of it, nothing of it is merged or left
    # in the task directory (Site.verify), and every real range is merged exactly once.
    site = Site(root, inputs=3, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "FAKE_PILOT_UNKNOWN_ID": "1"})
    run.expect_rc(EXIT_SUCCESS)
    refused_updates, refused_lines = 0, 0
    for node in ("local-0", "local-1"):
        refused_updates += len(pilot_log_lines(site, node, r"updateEventRanges version=1 n=\d+ -> \{'StatusCode': 500\}"))
        with open(site.stub_log(node), errors="replace") as f:
            refused_lines += len(re.findall(r"updateEventRanges for range fake-unknown-\d+, which this node's pilot "
                                            r"was never given: refused", f.read()))
    check(refused_lines == refused_updates > 0, "%d unknown ids refused by the stubs, %d updates answered 500" % (
        refused_lines, refused_updates))
    check("fake-unknown" not in run.log(), "an unknown range id reached the coordinator")
    check_each_range_once(run)
    site.verify()
    return site


MALFORMED_STUB_LINE = {
    "json": r"updateEventRanges: updateEventRanges: eventRanges is not valid JSON",
    "nopfn": r"updateEventRanges: updateEventRanges: eventRanges\[0\]\.eventRanges\[0\] \(malformed-1\): finished "
             r"entry without pfn",
    "noranges": r"updateEventRanges: updateEventRanges: no eventRanges field",
}


def s_pilot_malformed_updates(root):
    # FAKE_PILOT_MALFORMED, one kind per node: before every real update the pilot sends a malformed one
    # (bad JSON, a finished entry without pfn, no eventRanges field). The stub answers each with
    # StatusCode 500 and one line naming the fault, forwards nothing of it; the real updates go through.
    kinds = {"local-0": "json", "local-1": "nopfn", "local-2": "noranges"}
    site = Site(root, inputs=3, events=8, per_output=8, nodes=3)
    env = {"FAKE_PILOT_DELAY": "0.05"}
    for node, kind in kinds.items():
        env["E2E_NODE_ENV_" + node.replace("-", "_")] = "FAKE_PILOT_MALFORMED=" + kind
    run = site.start(env)
    run.expect_rc(EXIT_SUCCESS)
    for node, kind in kinds.items():
        replies = pilot_log_lines(site, node, r"malformed \(%s\) updateEventRanges -> StatusCode=(\S+)" % kind)
        real = pilot_log_lines(site, node, r"updateEventRanges version=1 n=\d+ -> (\{[^}]*\})")
        with open(site.stub_log(node), errors="replace") as f:
            stub_lines = re.findall(MALFORMED_STUB_LINE[kind], f.read())
        check(replies and all(r == "500" for r in replies), "%s: malformed updates answered %s" % (node, replies))
        check(len(replies) == len(real) == len(stub_lines), "%s: %d malformed updates, %d real ones, %d stub "
              "lines naming the fault" % (node, len(replies), len(real), len(stub_lines)))
        check(all(r == "{'StatusCode': 0}" for r in real), "%s: real updates answered %s" % (node, real))
    check("malformed-1" not in run.log(), "a malformed entry reached the coordinator")
    check_each_range_once(run)
    site.verify()
    return site


def s_pilot_fatal_range(root):
    # FAKE_PILOT_FATAL: one range always ends "fatal" (a version=0 update, errorCode 1220). It is handled
    # as failed (spec pilot-http.md): retried on another node first, up to ray.maxrangeattempts (3), then
    # its output group fails; the other group of the same input and the other inputs merge; exit 4.
    site = Site(root, inputs=3, events=16, per_output=8)
    lfn = site.inputs[1]
    bad = "%s-5" % lfn
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "FAKE_PILOT_FATAL": bad})
    run.expect_rc(EXIT_EVENTS_FAILED)
    check(run.recorded().get(bad) == 3, "the fatal range was attempted %s times, expected 3" % run.recorded().get(bad))
    attempts = nodes_of(run, {bad})
    check(attempts[0] != attempts[1], "the fatal range's second attempt ran on the same node: %s" % attempts)
    check(re.search(r"range %s fatal 3 times \(last on node \d+, error 1220\): output \S+ failed" % re.escape(bad),
                    run.log()), "no line naming the fatal range's failed output")
    st = site.state()
    group = group_ids(lfn, 1, 8)
    check(set(st["failed"]) == {lfn} and set(st["failed"][lfn]) == group, "state.json failed: %s" % {
        k: sorted(v)[:3] for k, v in st["failed"].items()})
    report = site.report()
    check(report is not None and lfn in report.get("failedInputs", []), "report failedInputs: %s" % (
        report and report.get("failedInputs")))
    site.verify(expect_failed_inputs=1, failed_events={(lfn, n) for n in range(1, 9)})
    return site


def s_pilot_ignores_end(root):
    # FAKE_PILOT_IGNORE_END: workers that got "No more events" ask again, 2 more times each on local-0,
    # forever on local-1. Every repeated ask gets [] (nothing handed out after the end); local-1's pilot
    # is stopped by its stub once the run is over; exit 0, exactly once. local-0's pilot ends by itself
    # unless one of its asks comes after the coordinator let the node go: the stub then holds it until
    # its deadline (src/stub/stub.cpp, "getEventRanges while the coordinator is unreachable") and stops
    # the pilot after the run like local-1's. Two workers: pilot's asks go one at a time through its
    # communicator, so few of them are left for after the run.
    site = Site(root, inputs=2, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "ATHENA_PROC_NUMBER": "2",
                      "E2E_NODE_ENV_local_0": "FAKE_PILOT_IGNORE_END=2",
                      "E2E_NODE_ENV_local_1": "FAKE_PILOT_IGNORE_END=-1"})
    run.expect_rc(EXIT_SUCCESS, timeout=60)
    workers = int(pilot_log_lines(site, "local-0", r"pipeline: (\d+) worker\(s\)")[0])
    again0 = pilot_log_lines(site, "local-0", r"no more events, asking again")
    with open(site.stub_log("local-0"), errors="replace") as f:
        log0 = f.read()
    ended0 = "pilot ended: exit code 0" in log0
    if ended0:
        check(len(again0) == 2 * workers, "local-0's workers asked again %d times, expected %d" % (
            len(again0), 2 * workers))
    else:
        check(0 < len(again0) <= 2 * workers and "getEventRanges while the coordinator is unreachable" in log0
              and re.search(r"stopping pilot's process group \(still running \d+ s after the run ended\)", log0),
              "local-0's pilot neither ended by itself nor was stopped after an ask held past the run "
              "(%d asks again)" % len(again0))
    again1 = pilot_log_lines(site, "local-1", r"no more events, asking again")
    check(again1, "local-1's workers never asked again")
    for node in ("local-0", "local-1"):
        got = [int(n) for n in pilot_log_lines(site, node, r"getEventRanges nRanges=\d+ -> (\d+) range")]
        # once "no more" ([]), every repeated ask is [] too: nothing is handed out after the end
        check(0 in got and not any(got[got.index(0):]) and len(got) - got.index(0) >= 2,
              "%s: getEventRanges answers %s" % (node, got))
    with open(site.stub_log("local-1"), errors="replace") as f:
        log1 = f.read()
    check(re.search(r"stopping pilot's process group \(still running \d+ s after the run ended\)", log1)
          and "pilot ended: killed by signal" in log1, "local-1's endless pilot was not stopped by its stub after the run")
    check_each_range_once(run)
    site.verify()
    return site


def heartbeat_of(path):
    """The worker heartbeat's JSON, or None while there is none (it is replaced atomically)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def s_worker_heartbeat(root):
    """The queue config asks for a worker heartbeat (messenger.worker_heartbeat, minutes) under its own
    file name: raythenad rewrites it while the run lives, and no more once it has exited."""
    site = Site(root, inputs=2, events=8, per_output=8, overrides=["harvester.heartbeatinterval=1"])
    qconf = site.path("harvester", "panda_queueconfig.json")
    with open(qconf, "w") as f:
        json.dump({rtysite.QUEUE: {"messenger": {"module": "pandaharvester.harvestermessenger.shared_file_messenger",
                                                 "name": "SharedFileMessenger", "heartbeatFile": "hb.json",
                                                 "worker_heartbeat": 1}}}, f)
    with open(site.p["cfg"], "a") as f:
        f.write("\n[qconf]\nconfigFile = %s\n" % qconf)
    hb = os.path.join(site.p["access"], "hb.json")
    check(not os.path.exists(os.path.join(site.p["access"], "worker_heartbeat.json")), "a heartbeat before the run")
    gate(site)
    run = site.start({"FAKE_PILOT_DELAY": "0.05"})
    run.wait_log(r"worker heartbeat: \S+hb\.json every 1 s")
    first = wait_until(lambda: (heartbeat_of(hb) or {}).get("state") == "running" and heartbeat_of(hb), 30,
                       "a heartbeat of the running run")
    check(first["PandaID"] == PANDA_ID, "heartbeat names PandaID %s" % first.get("PandaID"))
    check(first["ranges_total"] == 16, "heartbeat ranges_total %s, expected 16" % first.get("ranges_total"))
    # Refreshed while the run lives (the gate holds it): a later write with a later time.
    wait_until(lambda: (heartbeat_of(hb) or {}).get("unixtime", 0) > first["unixtime"], 30, "a refreshed heartbeat")
    release(site)
    run.expect_rc(EXIT_SUCCESS, timeout=60)
    site.verify()
    last = heartbeat_of(hb)
    check(last is not None, "the heartbeat file is gone after the run")
    stamp = os.stat(hb).st_mtime_ns
    # Not refreshed after exit: three intervals later it is the same file.
    time.sleep(3)
    check(os.stat(hb).st_mtime_ns == stamp and heartbeat_of(hb) == last, "the heartbeat changed after raythenad exited")
    check(not [n for n in os.listdir(site.p["access"]) if n.startswith("hb.json.")], "a heartbeat temporary was left")
    check("Harvester queue %s in %s" % (rtysite.QUEUE, qconf) in run.log(), "the queue config's overrides were not logged")
    return site


SCENARIOS = {name[2:]: fn for name, fn in globals().items() if name.startswith("s_")}


class Skip(Exception):
    """The scenario cannot run on this machine (e.g. not root): ctest counts it skipped."""


EXIT_SKIP = 77  # ctest SKIP_RETURN_CODE


def ci_as_root():
    """CI (env CI set) as root: nothing may skip there (see bootstrap.sh test)."""
    return bool(os.environ.get("CI")) and os.geteuid() == 0


def run_scenario(scenarios, prog, base, cleanups=()):
    """Runs the scenario named on the command line in a fresh directory under `base`, then kills every
    process found under it, runs `cleanups` (callables, last added first) and removes the directory
    (kept with E2E_KEEP=1). Exit status: 0 passed, 1 failed, 77 skipped (never with CI set as root:
    then a Skip is a failure naming what is missing), 2 usage."""
    if len(sys.argv) != 2 or sys.argv[1] not in scenarios:
        print("usage: %s {%s}" % (prog, ",".join(sorted(scenarios))), file=sys.stderr)
        return 2
    name = sys.argv[1]
    os.makedirs(base, exist_ok=True)
    root = tempfile.mkdtemp(prefix=name + "-", dir=base)
    t0 = time.monotonic()
    ok, skipped = False, None
    try:
        scenarios[name](root)
        ok = True
    except Skip as e:
        skipped = str(e)
    except Failure as e:
        print("FAILED: %s" % e)
    except Exception:
        traceback.print_exc()
    finally:
        for site in SITES:
            site.cleanup()
        for pid in processes_under(root):
            kill_pid(pid)
        for fn in reversed(cleanups):
            try:
                fn()
            except Exception:
                traceback.print_exc()
    left = processes_under(root)
    if left:
        print("FAILED: processes still alive after cleanup: %s" % left)
        ok, skipped = False, None
    if skipped and ci_as_root():
        # CI runs as root with everything installed (bootstrap.sh test): a skip there hides a test.
        print("FAILED: would skip (%s), but CI runs as root and must run every test" % skipped)
        ok, skipped = False, None
    if skipped:
        print("SKIPPED: %s" % skipped)
        shutil.rmtree(root, ignore_errors=True)
        return EXIT_SKIP
    print("%s %s in %.1f s (%s)" % (name, "passed" if ok else "FAILED", time.monotonic() - t0, root))
    if not ok:
        for site in SITES:
            for run in site.runs:
                print("---- %s %s (rc %s) log tail:" % (os.path.relpath(site.root, root), run.name,
                                                       run.proc.returncode))
                print("\n".join(run.log().splitlines()[-30:]))
    if not os.environ.get("E2E_KEEP"):
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


def main():
    return run_scenario(SCENARIOS, "run_e2e.py", os.path.join(BUILD, "e2e"))


if __name__ == "__main__":
    sys.exit(main())
