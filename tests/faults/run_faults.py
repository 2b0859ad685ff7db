#!/usr/bin/env python3
"""Fault injection against real raythenad processes (tracker issue 7, ctest label `faults`).

  run_faults.py SCENARIO   (RTY_BUILD_DIR, RTY_SOURCE_DIR from ctest; RTY_FAULT_SEED replays a seeded
                            scenario; E2E_KEEP=1 keeps the tree under <build>/faults)

Built on tests/integration/run_e2e.py (Site, Run, verify, process cleanup by PID): every scenario
ends with Site.verify(), i.e. every input event in exactly one merged output, and with no process of
the scenario left alive. Scenarios (runtime on 2 cores, alone):

  stub_kills            12 local stubs; SIGKILL a random live stub at 10 random points of the run
                        (seeded). The run finishes with exit 0: the lost nodes' ranges are re-dispatched,
                        their pilots go away. (~6 s)
  coordinator_kills     5 phases, 5 sites in parallel: SIGKILL raythenad at a seeded random point of its
                        phase (the phase's log line or count, then a random delay); a seed whose run
                        ended before the point is replaced by the next seed of the same phase (at most
                        4), and each phase must end up really killed (exit -9, after its line). Stubs
                        arm the configured ray.stubgrace. Restart with the same config until exit 0:
                        nothing recorded before the kill is simulated again, nothing is merged twice,
                        the report lists each output once. (~15 s)
  kill_in_final_renames a finished task gets a new job attempt with other output names; raythenad is
                        SIGKILLed (LD_PRELOAD shim rename_kill.c) once after and once before a rename into
                        final/; the third run, without the shim, completes the renames from the commit
                        log: each output once in final/, under its new name, in the report. (~2 s)
  task_dir_full         the task progress directory on a 4 MiB tmpfs filled up mid-run: raythenad names
                        the path and the errno text, state.json stays intact and parseable, raythenad
                        exits 3 (incomplete) with nothing lost; with space again a restart finishes.
                        Needs root (mount); skipped (exit 77) otherwise, a failure with CI set as
                        root. (~3 s)
  harvester_misbehaves  the job spec from tests/fakes/fake_harvester.py arrives late (once raythenad says
                        it waits), half-written (the rest once it says it retries), or as garbage; event
                        ranges (harvester.eventsource) arrive late and half-written: late/half wait and
                        succeed, garbage ends in exit 5 naming the file; all 4 cases must report. (~8 s)
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import run_e2e as e2e  # noqa: E402
from run_e2e import Failure, Site, Skip, alive, check, check_no_orphans, processes_under, wait_until  # noqa: E402

BUILD = e2e.BUILD
RENAME_KILL_SO = os.environ.get("RTY_RENAME_KILL_SO") or os.path.join(BUILD, "tests", "faults", "rty_rename_kill.so")
FAKE_HARVESTER = os.path.join(e2e.SRC, "tests", "fakes", "fake_harvester.py")
DEFAULT_SEED = 20240607
EXIT_HARVESTER = 5
KILLED = -signal.SIGKILL


CLEANUPS = []  # callables run at the end whatever happened (unmounts, helper processes)


def fault_seed():
    seed = int(os.environ.get("RTY_FAULT_SEED", DEFAULT_SEED))
    print("seed %d (replay with RTY_FAULT_SEED=%d)" % (seed, seed), flush=True)
    return seed


def say(*args):
    print(*args, flush=True)


def started_ranges(run):
    """Ranges pilots of this run started so far (recording_pilot.py lines), re-dispatches included."""
    try:
        with open(run.record_path) as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def recorded_or_empty(site):
    try:
        return site.recorded_ranges()
    except (OSError, ValueError):
        return set()


def wait_gone(site, within, what):
    """Every process under the site's root (stubs, pilots, merges of a killed raythenad) ends by itself."""
    left = processes_under(site.root)
    check_no_orphans(site, left, within, what)


# ---- 1. stubs killed at random points -------------------------------------------------------------

def s_stub_kills(root):
    rng = random.Random(fault_seed())
    nodes, kills = 12, 10
    site = Site(root, inputs=12, events=10, per_output=10, nodes=nodes, overrides=["resources.corepernode=2"])
    total = len(site.inputs) * site.events
    # Kill points in ranges started; all within the first 60 % so that the run is surely still going.
    points = sorted(rng.sample(range(4, int(total * 0.6)), kills))
    say("kill points (ranges started): %s" % points)
    run = site.start({"FAKE_PILOT_DELAY": "0.1", "ATHENA_PROC_NUMBER": "2"})
    run.wait_log(r"listening for stubs")
    killed = {}  # node -> (stub pid, pilot pid or None, was running)
    for k, point in enumerate(points, 1):
        wait_until(lambda: started_ranges(run) >= point or run.proc.poll() is not None, 30,
                   "%d ranges started" % point, step=0.02)
        check(run.proc.poll() is None, "raythenad ended (rc %s) before kill %d" % (run.proc.returncode, k))
        run.remember_pids()
        live = sorted(n for n, pid in run.stub_pids().items() if n not in killed and alive(pid))
        check(live, "no live stub left for kill %d" % k)
        node = rng.choice(live)
        pid = run.stub_pids()[node]
        pilot = run.pilot_pids().get(node)
        running = bool(re.search(r"node %s: pilot job state running" % re.escape(node), run.log()))
        os.kill(pid, signal.SIGKILL)
        killed[node] = (pid, pilot, running)
        say("kill %d at %d ranges started: SIGKILL stub %s (pid %d, pilot %s)" % (k, started_ranges(run), node,
                                                                                 pid, pilot))
    run.expect_rc(e2e.EXIT_SUCCESS, timeout=40)
    log = run.log()
    given_back = 0
    for node, (pid, pilot, running) in sorted(killed.items()):
        m = re.search(r"node %s lost \(([^)]*)\); (\d+) range\(s\) it held go back" % re.escape(node), log)
        if running:
            check(m, "the loss of %s (killed while its pilot ran) was not logged" % node)
        if m:
            given_back += int(m.group(2))
    say("ranges given back by the lost nodes: %d" % given_back)
    check(given_back > 0, "no killed stub held ranges: re-dispatch was not exercised")
    pilots = [p for (_, p, _) in killed.values() if p]
    check_no_orphans(site, pilots, 5, "pilots of the SIGKILLed stubs")
    site.verify()
    site.check_report_lists_outputs(len(site.inputs))
    wait_gone(site, 10, "processes after the run")


# ---- 2. the coordinator killed at random points ---------------------------------------------------

# Phases of a run a kill is aimed at; seed N takes phase N mod 5, so five consecutive seeds cover them
# all. Within its phase the point is random: which range or merge, then a delay of up to 0.3 s.
# "run over" may come after the exit: the restart then finishes an already complete run again.
KILL_PHASES = ["stubs starting", "ranges started", "merge starting", "merge done", "run over"]


def wait_kill_point(run, phase, rng):
    """Waits for the seeded point of `phase`; returns (description, the log line that marks it) or None
    when raythenad exited first."""
    if phase == "stubs starting":
        pattern = r"started stub local-%d" % rng.randint(0, 1)
    elif phase == "ranges started":
        n = rng.randint(1, 20)
        wait_until(lambda: started_ranges(run) >= n or run.proc.poll() is not None, 30, "%d ranges started" % n,
                   step=0.02)
        return None if run.proc.poll() is not None else ("%d ranges started" % n, None)
    elif phase == "merge starting":
        pattern = r"merge \S+ \(attempt 1"
    elif phase == "merge done":
        n = rng.randint(1, 3)
        wait_until(lambda: len(re.findall(r"merge \S+ done", run.log())) >= n or run.proc.poll() is not None, 30,
                   "%d merges done" % n, step=0.02)
        return None if run.proc.poll() is not None else ("%d merge(s) done" % n, r"merge \S+ done")
    else:
        pattern = r"events merged into"
    try:
        run.wait_log(pattern, timeout=30)
    except Failure:
        check(run.proc.poll() is not None, "/%s/ never logged" % pattern)
        return None
    return (phase, pattern)


STUBGRACE = 1          # ray.stubgrace of these runs
KILL_ATTEMPTS = 4      # seeds tried per phase (N, N+5, N+10, ...) until one kills raythenad in it


def coordinator_kill_once(root, seed, out):
    """One kill at the seeded point. Returns False (nothing checked) when raythenad ended before the
    kill point: the caller re-seeds. Otherwise checks the kill landed in its phase, the stubs' grace,
    the resume and exactly once."""
    rng = random.Random(seed)
    phase = KILL_PHASES[seed % len(KILL_PHASES)]
    tag = "seed %d" % seed
    site = Site(root, inputs=3, events=8, per_output=8, overrides=["ray.stubgrace=%d" % STUBGRACE])
    env = {"FAKE_PILOT_DELAY": "0.1"}
    run1 = site.start(env, "run1")
    point = wait_kill_point(run1, phase, rng)
    delay = rng.uniform(0, 0.3)
    if point is not None:
        time.sleep(delay)  # the seeded delay within the phase (the point itself is a log line or a count)
    run1.remember_pids()
    landed = point is not None and run1.proc.poll() is None
    if landed:
        log_at_kill = run1.log()
        os.kill(run1.pid, signal.SIGKILL)
    run1.wait(10)
    if not landed:
        say("%s: raythenad exited %s before the kill point in '%s' (+ %.2f s): re-seeding" % (
            tag, run1.proc.returncode, phase, delay))
        wait_gone(site, 10 + STUBGRACE, "%s: processes of a run that ended by itself" % tag)
        return False
    check(run1.rc == KILLED, "%s: raythenad exited %s, not by the SIGKILL" % (tag, run1.rc))
    desc, marker = point
    if marker:
        check(re.search(marker, log_at_kill), "%s: killed before /%s/ was logged" % (tag, marker))
    check("every event range is done" not in log_at_kill or phase in ("merge starting", "merge done", "run over"),
          "%s: killed in '%s' after the ranges were all done" % (tag, phase))
    # Stubs see the channel close, wait ray.stubgrace (the configured value, from their logs), kill
    # their pilots and exit. A stub launched but not yet connected has no pilot: it gives up after its
    # connect retries (50 x 200 ms, src/stub/stub.cpp), not after ray.stubgrace.
    unconnected = []
    for node, pid in run1.stub_pids().items():
        try:
            with open(site.stub_log(node), errors="replace") as f:
                stub_log = f.read()
        except OSError:
            stub_log = ""
        if "connected to coordinator" not in stub_log:
            unconnected.append(pid)
            continue
        lost = re.findall(r"lost the coordinator \([^)]*\); pilot is stopped in (\d+) s", stub_log)
        for grace in lost:
            check(int(grace) == STUBGRACE, "%s: %s stops its pilot after %s s, ray.stubgrace is %d" % (
                tag, node, grace, STUBGRACE))
    # The bounds only keep a broken stub from hanging the test; the grace itself is checked above.
    connected = [p for p in processes_under(site.root) if p not in unconnected]
    check_no_orphans(site, connected, STUBGRACE + 5, "%s: connected stubs and pilots of the killed raythenad" % tag)
    check_no_orphans(site, unconnected, 10 + 5, "%s: stubs that had not connected yet" % tag)
    wait_gone(site, 5, "%s: processes of the killed raythenad" % tag)
    run1.recorded_at_end = recorded_or_empty(site)
    # A SIGKILL inside a checkpoint write leaves its temporary (common/file_util.hpp); the kill lands
    # there only sometimes, so one is left on purpose: the restart must remove it, and nothing else.
    stale = None
    if os.path.isdir(site.p["task"]):
        stale = os.path.join(site.p["task"], "state.json.tmp.%016x" % random.Random(seed).getrandbits(64))
        with open(stale, "w") as f:
            f.write('{"half": ')
    runs = [run1]
    while True:
        run = site.start(env, "run%d" % (len(runs) + 1))
        runs.append(run)
        rc = run.wait(40)
        if rc == e2e.EXIT_SUCCESS:
            break
        check(rc == e2e.EXIT_INCOMPLETE and len(runs) < 4, "%s: restart %s exited %s; log tail:\n%s" % (
            tag, run.name, rc, "\n".join(run.log().splitlines()[-20:])))
    site.verify()
    site.check_report_lists_outputs(3)
    if stale:
        check(not os.path.exists(stale), "%s: the restart left %s" % (tag, stale))
        check(re.search(r"removed [1-9]\d* temporary file\(s\) an interrupted checkpoint write left",
                        runs[1].log()), "%s: the restart did not say it removed %s" % (tag, stale))
    for later in runs[1:]:
        e2e.check_not_redone(site, run1, later)
    out.append("%s (%s): SIGKILLed raythenad at '%s' + %.2f s; %d range(s) recorded at the kill; %d restart(s) "
               "to exit 0" % (tag, phase, desc, delay, len(run1.recorded_at_end), len(runs) - 1))
    return True


def s_coordinator_kills(root):
    base = fault_seed()
    results, errors = [], {}

    def one(i):
        phase = KILL_PHASES[(base + i) % len(KILL_PHASES)]
        try:
            for attempt in range(KILL_ATTEMPTS):
                seed = base + i + attempt * len(KILL_PHASES)  # same phase, another point in it
                sub = os.path.join(root, "seed-%d" % seed)
                os.makedirs(sub)
                if coordinator_kill_once(sub, seed, results):
                    return
            raise Failure("phase '%s': raythenad ended before the kill point with each of %d seeds" % (
                phase, KILL_ATTEMPTS))
        except Exception as e:  # reported by the main thread
            errors[phase] = e if isinstance(e, Failure) else Failure(traceback.format_exc())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(KILL_PHASES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    check(not any(t.is_alive() for t in threads), "a seed's thread is still running")
    for line in sorted(results):
        say(line)
    if errors:
        raise Failure("; ".join("%s: %s" % kv for kv in sorted(errors.items())))
    killed = sorted(re.search(r"\((.*?)\)", line).group(1) for line in results)
    check(killed == sorted(KILL_PHASES), "phases killed in: %s, expected each of %s once" % (killed, KILL_PHASES))


# ---- 3. a kill in the middle of the final renames -------------------------------------------------

def new_attempt(site, panda_id, first_output):
    """Harvester's next job for the same task: another PandaID and other output names (attemptNr + 1),
    pre-staged in the access point as a fresh job spec."""
    job = dict(site.job)
    names = [n for n in job["outFiles"].split(",") if n.startswith("HITS")]
    logs = [n for n in job["outFiles"].split(",") if not n.startswith("HITS")]
    renamed = ["HITS.%s._%06d.pool.root.1" % (job["taskID"], first_output + i) for i in range(len(names))]
    job["PandaID"] = int(panda_id)
    job["attemptNr"] = int(job.get("attemptNr", 1)) + 1
    job["outFiles"] = ",".join(renamed + logs)
    spec = os.path.join(site.p["access"], "HPCJobs.json")
    with open(spec + ".tmp", "w") as f:
        json.dump({str(panda_id): job}, f)
    os.replace(spec + ".tmp", spec)
    os.unlink(spec + ".read")
    return names, renamed


def final_names(site):
    return sorted(os.listdir(os.path.join(site.p["task"], "final")))


def commit_lines(site):
    path = os.path.join(site.p["task"], "commit_log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f.read().splitlines() if line.startswith("rename_output ")]


def shim_env(**settings):
    """The environment that loads tests/faults/rename_kill.c into raythenad, with its settings."""
    env = {"LD_PRELOAD": RENAME_KILL_SO}
    # An ASan build of raythenad (preset asan) refuses a preloaded library ahead of its runtime.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
    env.update(settings)
    return env


def s_kill_in_final_renames(root):
    check(os.path.exists(RENAME_KILL_SO), "the shim %s is not built" % RENAME_KILL_SO)
    site = Site(root, inputs=3, events=8, per_output=8)
    site.start({"FAKE_PILOT_DELAY": "0.02"}, "run1").expect_rc(e2e.EXIT_SUCCESS)
    site.verify()
    old, new = new_attempt(site, "6000000002", 4)
    os.unlink(os.path.join(site.p["access"], "jobReport.json"))
    check(final_names(site) == sorted(old), "final/ after the first job: %s" % final_names(site))

    def shim(n, when):
        return shim_env(RTY_RENAME_KILL_AT=str(n), RTY_RENAME_KILL_WHEN=when)

    # Killed right after the first rename: one file has its new name, the others not yet.
    run2 = site.start(shim(1, "after"), "run2")
    run2.expect_rc(KILLED)
    check("rename_kill: SIGKILL after rename #1" in run2.log(), "run2 did not die in a rename into final/")
    check(len(commit_lines(site)) == 1, "commit log after run2: %s" % commit_lines(site))
    check(final_names(site) == sorted([new[0]] + old[1:]), "final/ after run2: %s" % final_names(site))
    # Killed between the commit-log line and its rename: the log is ahead of final/.
    run3 = site.start(shim(1, "before"), "run3")
    run3.expect_rc(KILLED)
    check("rename_kill: SIGKILL before rename #1" in run3.log(), "run3 did not die in a rename into final/")
    check(len(commit_lines(site)) == 2, "commit log after run3: %s" % commit_lines(site))
    check(final_names(site) == sorted([new[0]] + old[1:]), "final/ after run3: %s" % final_names(site))
    check(site.report() is None, "a report was written by a run killed before its end")
    run4 = site.start({}, "run4")
    run4.expect_rc(e2e.EXIT_SUCCESS)
    check("already merged" in run4.log(), "run4 did more than finishing")
    check(not run4.stub_pids(), "run4 started stubs for a task that was merged")
    check(final_names(site) == sorted(new), "final/ holds %s, expected %s" % (final_names(site), sorted(new)))
    check(commit_lines(site) == [["rename_output", o, n] for o, n in zip(old, new)],
          "commit log: %s" % commit_lines(site))
    site.verify()
    site.check_report_lists_outputs(3)
    report_names = sorted(s["name"] for s in site.report()["files"]["output"][0]["subFiles"])
    check(report_names == sorted(new), "report lists %s, expected the new names %s" % (report_names, sorted(new)))


# ---- 4. the task directory's filesystem fills up --------------------------------------------------

def mount_tmpfs(path, size):
    if os.geteuid() != 0:
        raise Skip("not root: cannot mount a tmpfs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise Skip("cannot mount a tmpfs on %s: %s" % (path, r.stdout.strip()))

    def unmount():
        for _ in range(50):  # busy while a process of the scenario still has a file open there
            if subprocess.run(["umount", path], stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.1)
        subprocess.run(["umount", "-l", path])
    CLEANUPS.append(unmount)


def fill(directory):
    """Writes a filler file until the filesystem is full; returns its path."""
    path = os.path.join(directory, "filler")
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            check(e.errno == 28, "filling %s: %s" % (directory, e))
    # tmpfs gives out single pages after a failed big write: take them too
    with open(path, "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return path


def s_task_dir_full(root):
    site = Site(root, inputs=3, events=8, per_output=8, overrides=["ray.checkpointinterval=1"])
    tasks = site.p["tasks"]
    mount_tmpfs(tasks, "4m")
    # Once 4 ranges are done, every range started later takes 5 s: at most 4 + 8 (one per worker) are
    # finished fast, so the disk fills while at least half the ranges are still out, however loaded
    # the machine (a fixed per-event delay raced the first checkpoint under load).
    run1 = site.start({"FAKE_PILOT_SLOW_AFTER": "4:5"}, "run1")
    wait_until(lambda: len(recorded_or_empty(site)) >= 4 or run1.proc.poll() is not None, 30,
               "a checkpoint with progress", step=0.05)
    check(run1.proc.poll() is None, "run1 ended before the disk was filled")
    filler = fill(tasks)
    before = site.recorded_ranges()
    say("filled %s with %d bytes; state.json then held %d ranges" % (tasks, os.path.getsize(filler), len(before)))
    rc = run1.wait(40)
    log = run1.log()
    check(rc == e2e.EXIT_INCOMPLETE, "run1 exited %s, expected %d (incomplete); log tail:\n%s" % (
        rc, e2e.EXIT_INCOMPLETE, "\n".join(log.splitlines()[-25:])))
    state_tmp = os.path.join(site.p["task"], "state.json.tmp")
    m = re.search(r"^.*checkpoint \(\w+( \w+)?\) not written, the previous one is kept: cannot write '%s': "
                  r"No space left on device$" % (re.escape(state_tmp) + r"\.[0-9a-f]{16}"), log, re.M)
    check(m, "no error naming %s and 'No space left on device'" % state_tmp)
    say("logged: %s" % m.group(0).strip())
    check("draining (the checkpoint cannot be written)" in log, "no drain after the failed checkpoint")
    # Outputs the full disk refused cost no attempt (the stub withholds them instead of failing them).
    check(not re.search(r"range \S+ failed 3 times", log), "the full disk used up a range's attempts")
    with open(os.path.join(site.p["task"], "state.json")) as f:
        state = json.load(f)  # intact and parseable
    check(not state.get("failed"), "state.json records failed groups: %s" % list(state.get("failed", {})))
    after = site.recorded_ranges()
    check(before <= after, "ranges recorded before the disk filled are gone: %s" % sorted(before - after)[:5])
    wait_gone(site, 10, "processes after run1")
    run1.recorded_at_end = after
    os.unlink(filler)
    run2 = site.start({}, "run2")
    run2.expect_rc(e2e.EXIT_SUCCESS)
    site.verify()
    site.check_report_lists_outputs(3)
    e2e.check_not_redone(site, run1, run2)


# ---- 5. Harvester misbehaving ---------------------------------------------------------------------

def harvester_site(root, job_timeout, extra=()):
    """A site whose job spec the test writes (none pre-staged); Harvester answers within job_timeout."""
    site = Site.__new__(Site)
    site.root = root
    defaults = ["payload.pilotwrapper=" + e2e.RECORDING_PILOT, "ray.heartbeattimeout=6", "ray.stubgrace=2",
                "ray.checkpointinterval=1", "ray.statusinterval=1", "harvester.timeout=%d" % job_timeout]
    site.p = e2e.rtysite.make(root, 2, 4, 4, 2, defaults + list(extra), job=False)
    site.pids, site.runs = set(), []
    e2e.SITES.append(site)
    return site


def job_text(site, inputs=2, events=4):
    """The job spec fake_harvester.py writes (make-job into a scratch directory, then read back)."""
    scratch = os.path.join(site.root, "scratch-job")
    subprocess.run([sys.executable, FAKE_HARVESTER, "make-job", "--cfg", site.p["cfg"], "--endpoint", scratch,
                    "--inputs", str(inputs), "--events", str(events), "--panda-id", e2e.PANDA_ID,
                    "--task-id", e2e.rtysite.TASK_ID, "--trans-path", site.p["fake_merge"]], check=True,
                   stdout=subprocess.DEVNULL)
    for name in os.listdir(scratch):  # inputs, catalogue, pandaIDs: the feed, before the spec
        if name != "HPCJobs.json":
            shutil.copy(os.path.join(scratch, name), os.path.join(site.p["access"], name))
    with open(os.path.join(scratch, "HPCJobs.json")) as f:
        return f.read()


def finish_site(site):
    site.job = e2e.rtysite.job_of(site.p)
    site.inputs = site.job["inFiles"].split(",")
    site.events = int(site.job["nEventsPerInputFile"])


def harvester_late(root):
    # The job arrives only once raythenad has said it waits for it (synchronised on that line, not on
    # a sleep): it waits, says so, and runs.
    site = harvester_site(root, job_timeout=20)
    text = job_text(site)
    spec = os.path.join(site.p["access"], "HPCJobs.json")
    run = site.start({}, "late")
    run.wait_log(r"requested a job: wrote \S+worker_requestjob\.json")
    run.wait_log(r"waiting for job spec %s" % re.escape(spec))
    check(not os.path.exists(os.path.join(site.p["tasks"], e2e.rtysite.TASK_ID)), "a task started without a job")
    with open(spec, "w") as f:
        f.write(text)
    run.expect_rc(e2e.EXIT_SUCCESS)
    finish_site(site)
    site.verify()


def harvester_half(root):
    # Half of the spec, in place; the rest once raythenad has warned that it does not parse yet: then
    # the job runs.
    site = harvester_site(root, job_timeout=20)
    text = job_text(site)
    spec = os.path.join(site.p["access"], "HPCJobs.json")
    with open(spec, "w") as f:
        f.write(text[:len(text) // 2])
    run = site.start({}, "half")
    run.wait_log(r"job spec not readable yet \(half-written\?\), retrying: .*%s" % re.escape(spec))
    with open(spec, "a") as f:
        f.write(text[len(text) // 2:])
    run.expect_rc(e2e.EXIT_SUCCESS)
    finish_site(site)
    site.verify()


def harvester_garbage(root):
    # Garbage that never becomes JSON: with harvester.timeout 3, exit 5 naming the file; never a silent hang.
    site = harvester_site(root, job_timeout=3)
    spec = os.path.join(site.p["access"], "HPCJobs.json")
    with open(spec, "w") as f:
        f.write('{"6000000001": {"PandaID": 6000000001, "taskID": \x00\x17 garbage')
    run = site.start({}, "garbage")
    run.expect_rc(EXIT_HARVESTER, timeout=20)
    log = run.log()
    check(re.search(r"no usable job from Harvester after \d+ s: %s is present but never became complete valid JSON"
                    % re.escape(spec), log), "exit 5 without a line naming %s" % spec)
    check(re.search(r"job spec not readable yet.*%s" % re.escape(spec), log), "no warning while waiting")
    check(not os.path.exists(os.path.join(site.p["tasks"], e2e.rtysite.TASK_ID, "state.json")),
          "a task was started from garbage")


def harvester_ranges(root):
    # Event ranges from Harvester (harvester.eventsource: harvester), served by fake_harvester.py run with
    # a delay longer than a poll and half-written answers: the run waits for them and finishes.
    # 4 ranges per request (2 per node x 2 nodes x cachesizefactor 1): the 8 events take two answers.
    site = harvester_site(root, job_timeout=20, extra=["harvester.eventsource=harvester", "resources.corepernode=2",
                                                       "ray.cachesizefactor=1"])
    text = job_text(site)
    with open(os.path.join(site.p["access"], "HPCJobs.json"), "w") as f:
        f.write(text)
    record = site.path("harvester.jsonl")
    harvester = subprocess.Popen(
        [sys.executable, FAKE_HARVESTER, "run", "--cfg", site.p["cfg"], "--endpoint", site.p["access"],
         "--mode", "early", "--inputs", "2", "--events", "4", "--panda-id", e2e.PANDA_ID, "--task-id",
         e2e.rtysite.TASK_ID, "--trans-path", site.p["fake_merge"], "--delay", "0.6", "--half-write", "--pause",
         "0.6", "--poll-ms", "50", "--max-runtime", "40", "--record", record],
        cwd=site.root, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    site.pids.add(harvester.pid)
    CLEANUPS.append(lambda: (e2e.kill_pid(harvester.pid), harvester.wait()))
    run = site.start({"FAKE_PILOT_DELAY": "0.05"}, "ranges")
    run.expect_rc(e2e.EXIT_SUCCESS)
    log = run.log()
    check(re.search(r"Harvester supplied \d+ event range", log), "no ranges from Harvester")
    with open(record) as f:
        kinds = [json.loads(line)["kind"] for line in f]
    check(kinds.count("ranges_served") >= 2, "Harvester served %d answers" % kinds.count("ranges_served"))
    check(re.search(r"event ranges not usable yet, retrying: .*JobsEventRanges\.json", log),
          "no warning about a half-written ranges answer")
    finish_site(site)
    site.verify()


def s_harvester_misbehaves(root):
    cases = [harvester_late, harvester_half, harvester_garbage, harvester_ranges]
    errors, passed = {}, []

    def one(fn):
        name = fn.__name__
        try:
            sub = os.path.join(root, name)
            os.makedirs(sub)
            t0 = time.monotonic()
            fn(sub)
            say("%s passed in %.1f s" % (name, time.monotonic() - t0))
            passed.append(name)
        except Exception as e:
            errors[name] = e if isinstance(e, Failure) else Failure(traceback.format_exc())

    threads = [threading.Thread(target=one, args=(fn,)) for fn in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(55)
    if errors:
        raise Failure("; ".join("%s: %s" % kv for kv in sorted(errors.items())))
    # A case whose thread is still running (or died without a word) has not passed.
    check(sorted(passed) == sorted(fn.__name__ for fn in cases), "cases that did not report: %s" % sorted(
        set(fn.__name__ for fn in cases) - set(passed)))


# ---- driver ---------------------------------------------------------------------------------------

def s_final_checkpoint_fails(root):
    # The disk fills once both outputs are published, before the final checkpoint of a complete run
    # (the shim fails every rename onto state.json with ENOSPC from then on): no exit 0 (Harvester's
    # post-processing reads state.json), the report says exitCode 1 like the process, the previous
    # checkpoint stays, the per-range files it names stay, and a second run finishes the job.
    check(os.path.exists(RENAME_KILL_SO), "the shim %s is not built" % RENAME_KILL_SO)
    site = Site(root, inputs=2, events=4, per_output=4, overrides=["ray.checkpointinterval=3600"])
    run1 = site.start(shim_env(RTY_RENAME_FAIL_STATE="2", FAKE_PILOT_DELAY="0.02"), "run1")
    run1.expect_rc(1)
    with open(os.path.join(site.p["access"], "jobReport.json")) as f:
        check(json.load(f).get("exitCode") == 1, "the report's exitCode is not the process's 1")
    log = run1.log()
    check(re.search(r"the final checkpoint \S+state.json could not be written", log), "no critical line")
    check("No space left on device" in log, "the cause is not logged")
    check("per-range output(s) no checkpoint recorded" not in log, "per-range files were removed")
    # The previous checkpoint, if a merge result wrote one before the end (the two merges may finish
    # within one coalescing window), is intact.
    if os.path.exists(os.path.join(site.p["task"], "state.json")):
        site.state()
    run2 = site.start({"FAKE_PILOT_DELAY": "0.02"}, "run2")
    run2.expect_rc(e2e.EXIT_SUCCESS)
    site.verify()
    return site


SCENARIOS = {name[2:]: fn for name, fn in globals().items() if name.startswith("s_")}


def main():
    return e2e.run_scenario(SCENARIOS, "run_faults.py",
                            os.environ.get("RTY_FAULTS_DIR") or os.path.join(BUILD, "faults"), CLEANUPS)


if __name__ == "__main__":
    sys.exit(main())
