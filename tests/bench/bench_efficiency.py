#!/usr/bin/env python3
"""bench_efficiency: allocation efficiency of raythenad against a Raythena-policy emulation, same workload.

  python3 tests/bench/bench_efficiency.py --build BUILD [--nodes 4] [--cores 4] [--inputs 8] [--events 24]
        [--mean 300] [--sigma 0.5] [--scale 0.01] [--cut 0.6] [--pilot-pace scaled|e2e]
        [--preset production|tail1000] [--repeat N] [--smoke]

raythenad runs with N local stubs and the fake pilot (tests/fakes/fake_pilot.py) whose per-event times
are drawn from a seeded log-normal distribution (FAKE_PILOT_EVENT_TIMES, mean and sigma in simulated
seconds, times --scale): a range takes the same time under both policies, so they are compared on one
workload. Merges follow a duration model (FAKE_MERGE_DURATION). Two policies, in the same run:

  raythenad  the defaults: walltime-aware dispatch (ray.walltimeaware), range retries, pilot restarts,
             merges also on idle nodes (ray.remotemerges), the last ranges shared out (ray.tailshare)
  raythena   Raythena's behaviour through configuration values only: ray.walltimeaware false (ranges are
             handed out until the kill file at walltime - pilotkilltime; whatever is in flight then is
             lost), ray.maxrangeattempts 1 (no range retries), payload.pilotrestarts 0, merges only
             local (ray.remotemerges false) with ray.mergemaxprocesses, at most resources.corepernode
             ranges a request (as always), also in the job's tail (ray.tailshare false)
  localmerges (only with --policies) raythenad's defaults but ray.remotemerges false: the difference
             raythenad - localmerges is what merges on idle nodes buy

and two scenarios each:

  complete   no walltime limit: the job runs to its end
  cut        a walltime whose kill time falls at --cut of the complete run's compute time; a second
             run (no limit) resumes the job to its end

Figures (BENCH <name> <value> <unit>, per policy and scenario, and the difference raythenad - raythena;
with --repeat N each is the median of N runs, and the efficiencies' _min and _max are printed too):

  efficiency      core-seconds of the events in merged outputs / (cores x wall time of the runs)
  first_run_efficiency  (cut) the cut run alone: the core-seconds it spent on events that end up merged /
                  (cores x its wall time); the job's tail is in the second run
  bound           (complete) what an ideal dispatcher reaches on this workload: no overhead, ranges in
                  the job's order to the first free core (durations are not known ahead); the gap to
                  `efficiency` is raythenad's and pilot's, the gap from 1 is the workload's (its
                  longest events at the end). (cut) the same for the cut run alone under the policy's
                  rule (cut_bound): the exact p90 + margin held back, or everything in flight lost;
                  compare with first_run_efficiency
  lost_core_s     core-seconds spent on ranges that were in flight at the cut and never recorded
  tail_s          first idle core (the cores-th last range finish) -> raythenad's exit (final report)
  tail_merges     outputs whose merge finished in the tail (after the first idle core)
  startup_s       raythenad start -> every pilot had its first range (first run)

Event start times come from a wrapper around the fake pilot that this script writes into its work
directory (one line per range a worker starts); finish times from FAKE_PILOT_TIMES.
"""
import heapq
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
import benchlib as bl  # noqa: E402
import fake_pilot  # noqa: E402  (event_seconds: the same draw as the pilots make)
import rtysite  # noqa: E402

WRAPPER = '''#!/usr/bin/env python3
# bench_efficiency: the fake pilot, recording "<eventRangeID> <node> <epoch>" when a worker starts a range.
import os, sys, time
sys.path.insert(0, {fakes!r})
import fake_pilot
NODE = os.path.basename(os.getcwd())
_process = fake_pilot.FakePilot.process
def process(self, r):
    if isinstance(r, dict) and "eventRangeID" in r:
        fd = os.open(os.environ["BENCH_STARTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, ("%s %s %.6f\\n" % (r["eventRangeID"], NODE, time.time())).encode())
        finally:
            os.close(fd)
    return _process(self, r)
fake_pilot.FakePilot.process = process
sys.exit(fake_pilot.main())
'''

POLICIES = {
    "raythenad": [],
    "raythena": ["ray.walltimeaware=false", "ray.maxrangeattempts=1", "payload.pilotrestarts=0",
                 "ray.remotemerges=false", "ray.tailshare=false"],
    # raythenad's defaults with merges on the coordinator's node only: what merges on idle nodes buy
    "localmerges": ["ray.remotemerges=false"],
}


def write_time_monitor(path, seconds_to_kill, killtime):
    """The time-monitor file (start HH:MM:SS a minute ago, then the limit) for a kill time that far away."""
    start = time.time() - 60
    limit = int(60 + seconds_to_kill + killtime)
    lt = time.localtime(start)
    with open(path, "w") as f:
        f.write("%02d:%02d:%02d\n%02d:%02d:%02d\n" % (lt.tm_hour, lt.tm_min, lt.tm_sec, limit // 3600,
                                                      limit // 60 % 60, limit % 60))


def read_lines(path):
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except OSError:
        return []


class Workload:
    def __init__(self, args):
        self.args = args
        self.event_times = (args.mean, args.sigma, "15")
        self.cores = args.nodes * args.cores

    def seconds(self, range_id):
        return fake_pilot.event_seconds(self.event_times, range_id, 1) * self.args.scale

    def compute_s(self, lfns):
        return sum(self.seconds("%s-%d" % (lfn, n)) for lfn in lfns for n in range(1, self.args.events + 1))


def run_once(args, wl, root, name, timeout, cut_in=None):
    """One raythenad process on the site in `root` to its end. -> dict of what happened."""
    p = rtysite.paths(root)
    tm = p["timemonitor"]
    if cut_in is not None:
        write_time_monitor(tm, cut_in, args.killtime)
    elif os.path.exists(tm):
        os.unlink(tm)
    starts, times = os.path.join(root, name + ".starts"), os.path.join(root, name + ".times")
    env = {
        "BENCH_STARTS": starts,
        # pilot's workers (AthenaMP processes): one a core, as a pilot started with the node's cores
        "ATHENA_PROC_NUMBER": str(args.cores),
        "FAKE_PILOT_TIMES": times,
        "FAKE_PILOT_EVENT_TIMES": "lognormal:%g:%g:%s" % wl.event_times,
        "FAKE_PILOT_TIME_SCALE": "%g" % args.scale,
        # pilot3's pipeline timers (RaythenaExecutor's 5 s report sleep, the communicator's 1 s loop and
        # its callers' 1 s poll) on the same clock as the events: at --scale 0.01 a 300 s event takes 3 s
        # and the communicator loop 10 ms, so the wait for a refill weighs what it weighs on a site
        # (--pilot-pace e2e keeps the e2e tests' fixed 1 s / 0.2 s, which at this scale is 100 s / 20 s)
        "FAKE_PILOT_REPORT_INTERVAL": "%g" % args.pilot_timers[0],
        "FAKE_PILOT_COMM_SLEEP": "%g" % args.pilot_timers[1],
        "FAKE_MERGE_DURATION": "%g:%g" % (args.merge_base, args.merge_per_input),
        "FAKE_MERGE_TIME_SCALE": "%g" % args.scale,
    }
    log = os.path.join(root, name + ".log")
    proc, t0 = bl.start_raythenad(args.build, root, env, log)
    try:
        rc = proc.wait(timeout)
    except Exception:
        bl.stop_raythenad(proc, grace=5)
        raise SystemExit("bench_efficiency: %s/%s still running after %d s (log %s)" % (root, name, timeout, log))
    t_end = time.time()
    bl.stop_raythenad(proc, grace=1)  # whatever is left of its session
    out = {"rc": rc, "t0": t0, "t_end": t_end, "wall": t_end - t0, "log": log}
    out["starts"] = {}
    first_per_node = {}
    for rid, node, t in read_lines(starts):
        out["starts"].setdefault(rid, float(t))
        first_per_node[node] = min(first_per_node.get(node, float(t)), float(t))
    out["startup"] = (max(first_per_node.values()) - t0) if len(first_per_node) == args.nodes else None
    finishes = sorted(float(t) for _, t in read_lines(times))
    out["first_idle"] = finishes[-wl.cores] if len(finishes) >= wl.cores else (finishes[0] if finishes else None)
    try:
        with open(os.path.join(p["task"], "state.json")) as f:
            st = json.load(f)
    except (OSError, ValueError):
        st = {}
    recorded = set()
    for section in ("simulated", "failed"):
        for ids in st.get(section, {}).values():
            recorded.update(ids)
    for outputs in st.get("merging", {}).values():
        for ids in outputs.values():
            recorded.update(ids)
    for lfn in st.get("merged", {}):
        recorded.update("%s-%d" % (lfn, n) for n in range(1, args.events + 1))
    out["recorded"] = recorded
    # In flight at the cut and never recorded: the time spent on them until the run ended (at most the range).
    lost = 0.0
    for rid, t in out["starts"].items():
        if rid not in recorded:
            lost += max(0.0, min(wl.seconds(rid), t_end - t))
    out["lost_core_s"] = lost
    with open(log, errors="replace") as f:
        out["held_back"] = "holding ranges back" in f.read()
    return out


def merges_in_tail(root, first_idle):
    """Outputs whose merge finished after the first core went idle: what the tail had to merge (the
    final file's mtime is when the merge wrote it; it is renamed into final/ unchanged)."""
    final = os.path.join(rtysite.paths(root)["task"], "final")
    if first_idle is None or not os.path.isdir(final):
        return 0
    return sum(1 for name in os.listdir(final) if os.stat(os.path.join(final, name)).st_mtime > first_idle)


def merged_ids(root):
    """The range ids ("<LFN>-<event>") of every event in final/."""
    final = os.path.join(rtysite.paths(root)["task"], "final")
    ids = set()
    if os.path.isdir(final):
        for name in os.listdir(final):
            ids.update("%s-%d" % (lfn, n) for lfn, n in rtysite.merged_events(os.path.join(final, name)))
    return ids


def in_order_bound(wl, range_ids):
    """The efficiency of an ideal dispatcher on this workload: no overhead at all, ranges in the job's
    order to whichever core is free first (durations are not known ahead, so no longest-first), merges
    free. What is left between this and the measured figure is raythenad's (and pilot's) doing."""
    cores = [0.0] * wl.cores
    for rid in range_ids:
        heapq.heapreplace(cores, cores[0] + wl.seconds(rid))
    work = sum(wl.seconds(rid) for rid in range_ids)
    return work / (wl.cores * max(cores)) if work else 0.0


def cut_bound(wl, range_ids, kill, margin, aware, quantile=0.9):
    """The first run's efficiency of an ideal dispatcher under a policy, on this workload: no overhead,
    ranges in the job's order to whichever core is free first, the kill at `kill` wall seconds.
    aware: a core takes the next range only while free time + the p90 of the job's range durations (known
    exactly, no sampling) + `margin` is not past the kill, and the run ends when the last core has finished
    (raythenad drains once no pilot runs), or at the kill if a range is still in flight. Not aware (the
    Raythena policy): ranges go out until the kill, whatever is in flight then is lost, the run ends at the
    kill. What is left between this and first_run_efficiency is start-up, pilot's pipeline and raythenad."""
    durations = sorted(wl.seconds(rid) for rid in range_ids)
    estimate = durations[min(len(durations) - 1, max(0, int(-(-quantile * len(durations) // 1)) - 1))]
    cores = [0.0] * wl.cores  # when each core is free (a heap); a core that can take no more goes to `stopped`
    heapq.heapify(cores)
    stopped = []
    useful, in_flight = 0.0, False
    for rid in range_ids:
        while cores and ((aware and cores[0] + estimate + margin > kill) or cores[0] >= kill):
            stopped.append(heapq.heappop(cores))
        if not cores:
            break
        t = cores[0]
        d = wl.seconds(rid)
        if t + d > kill:
            in_flight = True
            heapq.heapreplace(cores, kill)
        else:
            useful += d
            heapq.heapreplace(cores, t + d)
    end = kill if (in_flight or not aware) else max(stopped + cores)
    return useful / (wl.cores * end) if end > 0 else 0.0


def job_range_ids(root, events):
    return ["%s-%d" % (lfn, n) for lfn in rtysite.job_of(rtysite.paths(root))["inFiles"].split(",")
            for n in range(1, events + 1)]


def scenario(args, wl, work, policy, kind):
    root = bl.fresh_dir(os.path.join(work, "%s-%s" % (policy, kind)))
    wrapper = os.path.join(root, "timing_pilot.py")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(fakes=os.path.join(bl.SRC, "tests", "fakes")))
    os.chmod(wrapper, 0o755)
    sets = ["payload.pilotwrapper=" + wrapper, "resources.corepernode=%d" % args.cores,
            "ray.localnodes=%d" % args.nodes, "ray.checkpointinterval=1", "ray.statusinterval=5",
            "ray.heartbeattimeout=20", "ray.stubgrace=2", "ray.mergeretrydelay=0",
            "payload.pilotkilltime=%d" % args.killtime, "ray.mergemaxprocesses=%d" % args.mergemax,
            "ray.walltimemargin=%d" % args.margin] + POLICIES[policy]
    bl.make_site(root, args.inputs, args.events, args.events, args.nodes, sets)
    compute_s = wl.compute_s(rtysite.job_of(rtysite.paths(root))["inFiles"].split(","))
    per_run_timeout = int(30 + 4 * compute_s / wl.cores)
    runs = []
    cut_in = None
    if kind == "complete":
        runs.append(run_once(args, wl, root, "run1", per_run_timeout))
    else:
        # + 1 s: raythenad's start-up, and the time-monitor file's whole seconds (it may cut up to 1 s early)
        cut_in = max(2.0, args.cut * compute_s / wl.cores) + 1.0
        runs.append(run_once(args, wl, root, "run1", per_run_timeout, cut_in=cut_in))
        runs.append(run_once(args, wl, root, "run2", per_run_timeout))
    ok = runs[-1]["rc"] == 0
    if not ok:
        print("bench_efficiency: %s %s: last run exited %s (log %s)" % (policy, kind, runs[-1]["rc"], runs[-1]["log"]))
    verdict = rtysite.verify(root)
    if verdict["problems"]:
        ok = False
        print("bench_efficiency: %s %s: %s" % (policy, kind, verdict["problems"][:3]))
    merged_set = merged_ids(root)
    merged = sum(wl.seconds(rid) for rid in merged_set)
    # the cut run alone: what it did that ends up merged, over its own allocation (no job tail in it)
    first = sum(wl.seconds(rid) for rid in runs[0]["recorded"] & merged_set) / (wl.cores * runs[0]["wall"])
    tail_merges = merges_in_tail(root, runs[-1]["first_idle"])
    wall = sum(r["wall"] for r in runs)
    res = {
        "efficiency": merged / (wl.cores * wall) if wall > 0 else 0.0,
        "first_run_efficiency": first if kind == "cut" else None,
        "bound": (in_order_bound(wl, job_range_ids(root, args.events)) if kind == "complete" else
                  cut_bound(wl, job_range_ids(root, args.events), cut_in - 1.0, args.margin, policy != "raythena")),
        "wall_s": wall,
        "lost_core_s": runs[0]["lost_core_s"] if kind == "cut" else 0.0,
        "tail_s": (runs[-1]["t_end"] - runs[-1]["first_idle"]) if runs[-1]["first_idle"] else 0.0,
        "startup_s": runs[0]["startup"],
        "tail_merges": tail_merges,
        "held_back": runs[0]["held_back"],
        "ok": ok,
        "compute_s": compute_s,
    }
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return res


def median_result(rs):
    """One scenario's figures over its repeated runs: the median of each (the lower middle one of an even
    count, so it is a run's figure); ok only if every run was, held back if any run was."""
    out = dict(rs[0])
    for key, value in rs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = sorted(r[key] for r in rs if r[key] is not None)
            out[key] = values[(len(values) - 1) // 2] if values else None
    out["ok"] = all(r["ok"] for r in rs)
    out["held_back"] = any(r["held_back"] for r in rs)
    return out


# Presets are defaults: an option given on the command line overrides its preset's value.
PRESETS = {
    # 96 events a core (8 h of 300 s events) at 0.005 s a simulated second, the cut after 72 of them (a
    # 6-hour batch job): the tail and the cut weigh what they weigh in batch jobs of hours (the default
    # workload's 12 events a core make one event 8 % of the run)
    "production": dict(inputs=8, events=192, scale=0.005, margin=1, killtime=3, cut=0.75),
    # The budget "tail with 1,000 outputs to merge on 16 nodes <= 2 x (one merge + one event)": 16 nodes of
    # one core, 1,000 one-event outputs (mean 100 s), merges of 200 s (scale 0.01: 1 s and 2 s), 16 merges
    # at once a place. Outputs come at 16 per event time and the coordinator's node merges 8 per event
    # time, so about half of them are still to merge when the pilots end: the tail's work is merges.
    "tail1000": dict(nodes=16, cores=1, inputs=1000, events=1, mean=100.0, merge_base=200.0, merge_per_input=0.0,
                     mergemax=16, scenarios="complete"),
}


def main():
    ap = bl.argument_parser(__doc__, "default: BUILD/bench-efficiency (removed first)",
                            "a seconds-long run that checks the benchmark works (figures not judged)")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--cores", type=int, default=4, help="resources.corepernode (pilot workers per node)")
    ap.add_argument("--inputs", type=int, default=8)
    ap.add_argument("--events", type=int, default=24, help="events per input (one range each, one output per input)")
    ap.add_argument("--mean", type=float, default=300.0, help="mean seconds per event (simulated)")
    ap.add_argument("--sigma", type=float, default=0.5, help="sigma of the log-normal's normal")
    ap.add_argument("--scale", type=float, default=0.01, help="wall seconds per simulated second")
    ap.add_argument("--merge-base", type=float, default=60.0, help="merge set-up seconds (simulated)")
    ap.add_argument("--merge-per-input", type=float, default=0.5, help="merge seconds per input file (simulated)")
    ap.add_argument("--mergemax", type=int, default=2, help="ray.mergemaxprocesses")
    ap.add_argument("--killtime", type=int, default=6, help="payload.pilotkilltime (wall seconds)")
    ap.add_argument("--margin", type=int, default=2, help="ray.walltimemargin (wall seconds)")
    ap.add_argument("--cut", type=float, default=0.6, help="kill time as a fraction of the compute time")
    ap.add_argument("--scenarios", default="complete,cut", help="which scenarios to run (comma list)")
    ap.add_argument("--policies", default="raythenad,raythena",
                    help="comma list of raythenad, raythena, localmerges (raythenad with ray.remotemerges false)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each scenario and policy this many times, the policies taking turns, and print the "
                         "median of each figure (with the efficiencies' min and max)")
    ap.add_argument("--pilot-pace", choices=("scaled", "e2e"), default="scaled",
                    help="pilot3's report timer (5 s) and communicator loop (1 s) times --scale (default), or "
                         "the e2e tests' fixed 1 s and 0.2 s")
    ap.add_argument("--preset", choices=sorted(PRESETS),
                    help="production: 96 events a core at scale 0.005, the cut after 72; tail1000: the tail "
                         "budget's case, 1,000 outputs on 16 nodes (see PRESETS); options given override the preset's")
    preset = ap.parse_known_args()[0].preset
    if preset:
        ap.set_defaults(**PRESETS[preset])
    args = bl.parse_args(ap)
    if args.smoke:
        args.nodes, args.cores, args.inputs, args.events, args.scale = 2, 2, 2, 12, 0.004
    if preset == "tail1000":  # per merge: the merge itself and the one event of its group
        bl.bench("efficiency_tail_budget_s", 2 * (args.merge_base + args.mean) * args.scale, "s")
    # the fake pilot's floor is 10 ms a timer
    args.pilot_timers = ((max(0.01, 5.0 * args.scale), max(0.01, 1.0 * args.scale)) if args.pilot_pace == "scaled"
                         else (1.0, 0.2))
    work = bl.fresh_dir(args.workdir or os.path.join(args.build, "bench-efficiency"))
    wl = Workload(args)
    ok = True
    results = {}
    kinds = [k for k in args.scenarios.split(",") if k]
    if not kinds or set(kinds) - {"complete", "cut"}:
        raise SystemExit("bench_efficiency: --scenarios %s: expected a comma list of complete, cut" % args.scenarios)
    policies = [p for p in args.policies.split(",") if p]
    if not policies or set(policies) - set(POLICIES) or "raythenad" not in policies:
        raise SystemExit("bench_efficiency: --policies %s: expected a comma list of %s, with raythenad"
                         % (args.policies, ", ".join(POLICIES)))
    if args.repeat < 1:
        raise SystemExit("bench_efficiency: --repeat %d: expected at least 1" % args.repeat)
    for kind in kinds:
        # The policies take turns, so that the machine's load drifts over all of them alike.
        runs = {policy: [] for policy in policies}
        for _ in range(args.repeat):
            for policy in policies:
                runs[policy].append(scenario(args, wl, work, policy, kind))
        for policy in policies:
            r = median_result(runs[policy])
            if not results:
                bl.bench("efficiency_workload_core_s", r["compute_s"], "core-s")
            results[(policy, kind)] = r
            ok = ok and r["ok"]
            for key, unit in (("efficiency", "ratio"), ("first_run_efficiency", "ratio"), ("bound", "ratio"),
                              ("wall_s", "s"), ("lost_core_s", "core-s"),
                              ("tail_s", "s"), ("tail_merges", "outputs"), ("startup_s", "s")):
                if r[key] is not None:
                    bl.bench("efficiency_%s_%s_%s" % (kind, policy, key), float(r[key]), unit)
            if args.repeat > 1:  # the spread of the runs behind the medians
                for key in ("efficiency", "first_run_efficiency"):
                    values = [x[key] for x in runs[policy] if x[key] is not None]
                    if values:
                        bl.bench("efficiency_%s_%s_%s_min" % (kind, policy, key), min(values), "ratio")
                        bl.bench("efficiency_%s_%s_%s_max" % (kind, policy, key), max(values), "ratio")
        a = results[("raythenad", kind)]
        for other, label in (("raythena", "difference"), ("localmerges", "remote_merges_gain")):
            if other not in policies:
                continue
            b = results[(other, kind)]
            for key, unit in (("efficiency", "ratio"), ("first_run_efficiency", "ratio"), ("lost_core_s", "core-s"),
                              ("tail_s", "s")):
                if a[key] is None:
                    continue
                bl.bench("efficiency_%s_%s_%s" % (kind, label, key), float(a[key] - b[key]), unit)
    if "cut" in kinds and not results[("raythenad", "cut")]["held_back"]:
        print("bench_efficiency: note: the cut run of raythenad never held ranges back")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
