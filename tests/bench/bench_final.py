#!/usr/bin/env python3
"""bench_final: last merge done -> final job report written (design budget: <= 1 s, merges excluded).

  python3 tests/bench/bench_final.py --build BUILD [--inputs 400] [--events 2] [--per-output 40]
                                     [--nodes 2] [--repeat 3] [--smoke]

A complete run of a site from tests/fakes/rtysite.py (fake pilot, fake merge transform): --inputs input
files of --events events each, merged N->1 into outputs of --per-output events, so the end of the run
has many inputs in state.json's merged map and one merge report per output to read. Times come from
raythenad's own log: the last "merge ... done" line (the moment every range is processed and merged)
to the run's summary line, which is logged after the final job report and the final checkpoint are
written; and, separately, from that line to the process's exit (stubs told to stop and reaped).
And the tail as a user sees it: from the moment the last range was finished by a pilot's worker (the
fake pilot's FAKE_PILOT_TIMES record) to the final report, with the fake pilot at pilot3's own pace
(finished ranges reported on its 5 s timer, its communicator's 1 s loop): what waits for pilot's
report timer, the last merges and the end of the run together.
No baseline run: there is no simpler program doing the same renames, reports and checkpoint.
Known limit: with 2000 inputs raythenad crashes when the first stub joins (std::regex in
src/pilot/job_patch.cpp recurses once per character of the job's --inputEVNTFile list: stack overflow).
"""
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def one_run(args, work, rep):
    root = os.path.join(work, "r%d" % rep)
    os.makedirs(root)
    bl.make_site(root, args.inputs, args.events, args.per_output, args.nodes, [
        "ray.localnodes=%d" % args.nodes, "ray.statusinterval=60", "ray.stubgrace=1", "logging.level=info"])
    log = os.path.join(root, "raythenad.log")
    times = os.path.join(root, "range-times")
    p, _ = bl.start_raythenad(args.build, root, {"FAKE_PILOT_TIMES": times, "FAKE_PILOT_REPORT_INTERVAL": "5",
                                                 "FAKE_PILOT_COMM_SLEEP": "1"}, log)
    try:
        rc = p.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print("bench_final: run %d did not finish in %d s (log %s)" % (rep, args.timeout, log))
        bl.stop_raythenad(p)
        return None
    exited = time.time()
    last_merge = summary = None
    with open(log) as f:
        for line in f:
            if "| merge " in line and " done (guid " in line:
                last_merge = bl.log_epoch(line)
            elif " events merged into " in line and "; report " in line:
                summary = bl.log_epoch(line)
    if rc != 0 or last_merge is None or summary is None:
        print("bench_final: run %d: exit code %d, merge line %s, summary line %s (log %s)"
              % (rep, rc, last_merge is not None, summary is not None, log))
        return None
    with open(times) as f:
        last_range = max(float(line.split()[1]) for line in f if line.strip())
    return summary - last_merge, exited - summary, summary - last_range


def main():
    ap = bl.argument_parser(__doc__, "default: BUILD/bench-final (removed first)")
    ap.add_argument("--inputs", type=int, default=400)
    ap.add_argument("--events", type=int, default=2)
    ap.add_argument("--per-output", type=int, default=40)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=600)
    args = bl.parse_args(ap)
    if args.smoke:
        args.inputs, args.events, args.per_output, args.nodes, args.repeat = 8, 2, 4, 1, 1
    work = bl.fresh_dir(args.workdir or os.path.join(args.build, "bench-final"))
    runs = [one_run(args, work, rep) for rep in range(args.repeat)]
    good = [r for r in runs if r]
    if good:
        bl.bench("final_report_after_last_merge", statistics.median(r[0] for r in good), "s")
        bl.bench("final_exit_after_report", statistics.median(r[1] for r in good), "s")
        bl.bench("final_report_after_last_range", statistics.median(r[2] for r in good), "s")
        bl.bench("final_outputs", args.inputs * args.events // args.per_output, "outputs")
        bl.bench("final_inputs", args.inputs, "inputs")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if len(good) == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
