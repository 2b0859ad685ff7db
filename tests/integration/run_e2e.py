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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise Failure("timed out after %.0f s waiting for %s" % (timeout, what))


# ---- processes ------------------------------------------------------------------------------------

def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def processes_under(root):
    """Live PIDs whose cwd or command line lies in root: everything a scenario started, at any depth."""
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


# ---- a site and its runs --------------------------------------------------------------------------

SITES = []  # every site built, so that a failing scenario still gets cleaned up


class Site:
    def __init__(self, root, inputs=3, events=8, per_output=8, nodes=2, overrides=()):
        self.root = root
        defaults = ["payload.pilotwrapper=" + RECORDING_PILOT, "ray.heartbeattimeout=6", "ray.stubgrace=2",
                    "ray.checkpointinterval=1", "ray.statusinterval=1", "payload.pilotkilltime=6"]
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
        """rtysite.verify plus an exact content check: the merged outputs hold every event except
        `failed_events` exactly once, and nothing else."""
        result = rtysite.verify(self.root, expect_failed_inputs=expect_failed_inputs)
        problems = result["problems"]
        if expect_failed_inputs:
            # rtysite compares the report with state.json's `merged` only; an input with a failed group
            # keeps its merged outputs under `merging`, so compare with every output file instead.
            problems = [p for p in problems if not p.startswith("report outputs")]
            report = self.report()
            check(report is not None, "no final jobReport.json")
            names = sorted(s["name"] for s in report["files"]["output"][0]["subFiles"])
            final = sorted(os.listdir(os.path.join(self.p["task"], "final")))
            st = self.state()
            recorded = sorted({n for outs in st["merged"].values() for n in outs} |
                              {n for outs in st["merging"].values() for n in outs})
            check(names == final == recorded, "report lists %s; final/ holds %s; state.json has %s" % (
                names, final, recorded))
        check(not problems, "rtysite.verify: %s" % problems)
        seen = self.merged_content()
        dups = {ev: names for ev, names in seen.items() if len(names) > 1}
        check(not dups, "events merged more than once: %s" % sorted(dups.items())[:5])
        expected = {(lfn, n) for lfn in self.inputs for n in range(1, self.events + 1)} - set(failed_events)
        check(set(seen) == expected, "merged events differ from the expected set: missing %s, unexpected %s" % (
            sorted(expected - set(seen))[:5], sorted(set(seen) - expected)[:5]))
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
        check(re.search(r"node %s: pilot job state finished" % node, log), "no decoded updateJob from " + node)
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
    report = site.report()
    check(report is not None and lfn in report.get("failedInputs", []), "report failedInputs: %s" % (
        report and report.get("failedInputs")))
    site.verify(expect_failed_inputs=1, failed_events={(lfn, n) for n in range(1, 11)})
    return site


def s_merge_retry(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    once = site.path("merge-once")
    os.makedirs(once)
    run = site.start({"FAKE_MERGE_FAIL_ONCE_DIR": once})
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    site.check_report_lists_outputs(3)
    check(len(os.listdir(once)) == 3, "merges that failed once: %s" % os.listdir(once))
    check(len(re.findall(r"merge \S+ \(attempt 2,", run.log())) == 3, "no second attempt logged for each merge")
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
    # Twice what two pilots at 0.25 s per event can do before the kill time (3 s), so that ranges are
    # still ready when the drain starts even when start-up is quick (24 events used to finish in time).
    site = Site(root, inputs=6, events=8, per_output=8, overrides=["payload.pilotkilltime=%d" % killtime])
    walltime = write_time_monitor(site, 3, killtime)
    env = {"FAKE_PILOT_DELAY": "0.25"}
    run1 = site.start(env)
    run1.expect_rc(EXIT_INCOMPLETE, timeout=30)
    check(time.time() < walltime, "raythenad ended after the walltime")
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


def s_stub_killed(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.2"})
    run.wait_log(r"node local-0: pilot job state running")
    run.wait_log(r"node local-1: pilot job state running")
    time.sleep(0.5)  # both pilots hold leases now (4 ranges x 0.2 s per batch)
    stub = run.stub_pids()["local-0"]
    pilot = wait_until(lambda: run.pilot_pids().get("local-0"), 5, "pilot pid of local-0")
    group = [p for p in processes_under(site.root) if os.getpgid(p) == pilot] if alive(pilot) else []
    os.kill(stub, signal.SIGKILL)
    t_kill = time.monotonic()
    m = run.wait_log(r"node local-0 lost \(([^)]*)\); (\d+) range\(s\) it held go back")
    # EOF at once, not the heartbeat timeout: nothing else (pilot) may hold the stub's end of the channel
    check("heartbeat" not in m.group(1), "the stub's death was noticed only by heartbeat: %s" % m.group(1))
    check(int(m.group(2)) > 0, "the killed stub held no ranges: the test did not exercise re-dispatch")
    check_no_orphans(site, group + [pilot], 2 + 1, "pilot of the SIGKILLed stub local-0")
    print("pilot group of the killed stub gone %.1f s after the kill" % (time.monotonic() - t_kill))
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    rec = run.recorded()
    check(any(n == "local-1" for n in nodes_of(run, set(rec))), "nothing ran on local-1")
    return site


def s_stub_stopped(root):
    # SIGSTOP a stub past the heartbeat timeout, then SIGCONT it: the coordinator declared it lost and
    # re-dispatched its ranges; whatever the woken stub and its pilot still send cannot produce a
    # duplicate (verify: every event in exactly one merged output), and the stub ends by itself.
    site = Site(root, inputs=3, events=8, per_output=8,
                overrides=["ray.heartbeattimeout=3", "ray.stubgrace=2"])
    run = site.start({"FAKE_PILOT_DELAY": "0.2"})
    run.wait_log(r"node local-0: pilot job state running")
    run.wait_log(r"node local-1: pilot job state running")
    time.sleep(0.5)
    stub = run.stub_pids()["local-0"]
    os.kill(stub, signal.SIGSTOP)
    try:
        m = run.wait_log(r"node local-0 lost \(no heartbeat for 3 s\); (\d+) range\(s\) it held go back", 15)
    finally:
        os.kill(stub, signal.SIGCONT)
    print("stopped stub held %s range(s) when it was declared lost" % m.group(1))
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    wait_until(lambda: not alive(stub), 10, "the woken stub to end")
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
    time.sleep(1.5)
    run1.remember_pids()
    children = list(run1.stub_pids().values()) + list(run1.pilot_pids().values())
    children += [p for p in processes_under(site.root) if p != run1.pid]
    check(len(run1.stub_pids()) == 2 and len(run1.pilot_pids()) == 2, "stubs/pilots not all found")
    os.kill(run1.pid, signal.SIGKILL)
    run1.wait(5)
    grace = 2
    check_no_orphans(site, children, grace + 5 + 3, "stubs and pilots after raythenad was SIGKILLed")
    left = processes_under(site.root)
    check(not left, "processes left in the run's tree: %s" % left)
    run1.recorded_at_end = site.recorded_ranges()
    check(run1.recorded_at_end, "no checkpoint progress before the kill")
    run2 = site.start({}, "run2")
    run2.expect_rc(EXIT_SUCCESS)
    site.verify()
    check_not_redone(site, run1, run2)
    return site


def s_sigterm_drain(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    run1 = site.start({"FAKE_PILOT_DELAY": "0.2"})
    run1.wait_log(r"node local-0: pilot job state running")
    run1.wait_log(r"node local-1: pilot job state running")
    time.sleep(1.0)
    os.kill(run1.pid, signal.SIGTERM)
    run1.expect_rc(EXIT_INCOMPLETE, timeout=20)
    check(re.search(r"draining \(signal", run1.log()), "no drain logged")
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


def read_frame(sock, timeout):
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
    return json.loads(data)


def closed_by_peer(sock, timeout):
    """True when the peer closes the connection within timeout (frames it sends first are skipped)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


def s_unauthenticated(root):
    # The coordinator gives a silent peer 10 s to authenticate: the run must last longer than that.
    site = Site(root, inputs=4, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.75"})
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
                s.sendall(frame({"type": "hello", "version": 1, "node_id": "intruder", "host": "x", "pid": 1,
                                 "proof": "0" * 64}))
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
                proof = hmac.new(secret.encode(), ("raythenad-auth-v1\n%s\nreplayer" % nonce).encode(),
                                 hashlib.sha256).hexdigest()
                s.sendall(frame({"type": "hello", "version": 1, "node_id": "replayer", "host": "x", "pid": 1,
                                 "proof": proof}))
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
    check(run.proc.poll() is None, "the run ended before the probes were done; make it longer")
    log = run.log()
    for kind, (closed, local) in sorted(results.items()):
        if isinstance(closed, Exception):
            raise Failure("%s: %s" % (kind, closed))
        check(closed, "%s: the coordinator did not close the connection" % kind)
        # the line follows the close on the coordinator's side: allow it a moment
        run.wait_log(re.escape("refused connection from %s:%d:" % local), timeout=3)
    check(len(results) == 5, "probes missing: %s" % sorted(results))
    run.expect_rc(EXIT_SUCCESS)
    for intruder in ("intruder", "replayer"):
        check(intruder not in re.sub(r"refused connection.*", "", log), "%s was let in" % intruder)
    site.verify()
    return site


def s_pilot_crash(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.05", "E2E_NODE_ENV_local_0": "FAKE_PILOT_EXIT_AFTER=1:7"})
    run.expect_rc(EXIT_SUCCESS)
    log = run.log()
    check(re.search(r"node local-0: pilot ended abnormally \(exit code 7\)", log), "pilot crash not reported")
    site.verify()
    rec = run.recorded()
    n0 = sum(1 for n in nodes_of(run, set(rec)) if n == "local-0")
    check(n0 == 4, "local-0 simulated %d ranges, expected one batch of 4" % n0)
    return site


def s_all_pilots_crash(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    run1 = site.start({"FAKE_PILOT_EXIT_AFTER": "1:7"})
    run1.expect_rc(EXIT_INCOMPLETE)
    check(re.search(r"draining \(no stub is running any more\)", run1.log()), "no 'no stub left' drain")
    site.check_partial_report()
    run1.recorded_at_end = site.recorded_ranges()
    run2 = site.start({}, "run2")
    run2.expect_rc(EXIT_SUCCESS)
    site.verify()
    check_not_redone(site, run1, run2)
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
    """One node whose pilot takes all 8 ranges at once and works 3 s on them: meanwhile nothing is
    ready and everything is leased, so extra getEventRanges are held. Returns (site, run, pilot port)."""
    site = Site(root, inputs=1, events=8, per_output=8, nodes=1, overrides=["resources.corepernode=8"])
    run = site.start({"FAKE_PILOT_DELAY": "0.4", "ATHENA_PROC_NUMBER": "8"})
    run.wait_log(r"node local-0: pilot job state running")
    with open(os.path.join(site.node_dir("local-0"), "pilot_default.cfg")) as f:
        port = int(re.search(r"pandaserver = http://127\.0\.0\.1:(\d+)", f.read()).group(1))
    return site, run, port


def s_http_api(root):
    site, run, port = one_busy_node(root)
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
    s.settimeout(5)
    try:
        answer = s.recv(65536)
    except (socket.timeout, ConnectionResetError):
        answer = b""
    s.close()
    check(b"\"StatusCode\":500" in answer.replace(b" ", b"") or answer == b"", "oversized body answer: %r" % answer)
    check(http(port, "/server/panda/noSuchThing") == {"StatusCode": 500}, "stub down after the oversized body")
    # two concurrent getEventRanges while everything is leased: both held, both answered [] at the end
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
    time.sleep(0.5)
    check(not replies, "getEventRanges answered while ranges were still leased: %s" % replies)
    for t in threads:
        t.join(30)
    for i in range(2):
        check(replies.get(i) == {"StatusCode": 0, "eventRanges": []} or
              (isinstance(replies.get(i), dict) and replies[i].get("eventRanges") == []),
              "concurrent getEventRanges %d: %r" % (i, replies.get(i)))
    run.expect_rc(EXIT_SUCCESS)
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
    run.expect_rc(EXIT_SUCCESS)
    site.verify()
    return site


def s_pilot_hangs_up(root):
    # A getEventRanges that is held (everything leased) and whose client then hangs up is withdrawn:
    # the stub logs it, tells the coordinator, and the run still ends cleanly with every event once.
    site, run, port = one_busy_node(root)
    body = ("pandaID=%s&jobsetID=1&taskID=1&nRanges=2" % PANDA_ID).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /server/panda/getEventRanges HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\n\r\n%s" % (len(body), body))
    time.sleep(0.5)
    s.close()
    deadline = time.time() + 10
    stub_log = site.stub_log("local-0")
    while time.time() < deadline:
        with open(stub_log) as f:
            if "pilot hung up while waiting for event ranges" in f.read():
                break
        time.sleep(0.1)
    else:
        raise Failure("the stub did not notice the client hanging up: %s" % stub_log)
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
    run = site.start({"FAKE_PILOT_DELAY": "0.4", "ATHENA_PROC_NUMBER": "8"})
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
        wait_until(lambda: idle.cut() >= 100 - 32, 10, "68 idle status clients cut")
        # The oldest went, to make room: the newest 32 are still open (until their 5 s deadline).
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
    run = site.start({"FAKE_PILOT_DELAY": "0.5", "ATHENA_PROC_NUMBER": "2"}, prefix=["prlimit", "--nofile=512:512"])
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
        check(run.proc.poll() is None, "the run ended before the floods were checked: make it longer")
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
    finished = sum(len(v) for v in site.state().get("simulated", {}).values())
    check(finished >= 1, "the checkpoint holds no finished range")
    for node in ("local-0", "local-1"):
        path = os.path.join(site.node_dir(node), "stub.log")
        check(os.path.exists(path), "no %s" % path)
        with open(path) as f:
            check("pilot started" in f.read(), "%s lacks the stub's lines" % path)
    run2 = site.start({"FAKE_PILOT_DELAY": "0.05"})
    run2.expect_rc(EXIT_SUCCESS)
    site.verify()
    return site


SCENARIOS = {name[2:]: fn for name, fn in globals().items() if name.startswith("s_")}


class Skip(Exception):
    """The scenario cannot run on this machine (e.g. not root): ctest counts it skipped."""


EXIT_SKIP = 77  # ctest SKIP_RETURN_CODE


def run_scenario(scenarios, prog, base, cleanups=()):
    """Runs the scenario named on the command line in a fresh directory under `base`, then kills every
    process found under it, runs `cleanups` (callables, last added first) and removes the directory
    (kept with E2E_KEEP=1). Exit status: 0 passed, 1 failed, 77 skipped, 2 usage."""
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
