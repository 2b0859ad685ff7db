#!/usr/bin/env python3
"""bench_startup: raythenad start -> every local stub connected, for 1, 16 and 256 stubs (median of 5).

  python3 tests/bench/bench_startup.py --build BUILD [--nodes 1,16,256] [--repeat 5] [--smoke]

The pilot wrapper is a script that only sleeps, so nothing but start-up is measured. Times come from
raythenad's own log: the timestamp of the last "joined" line minus the moment raythenad was exec'ed
(and, separately, minus its "listening for stubs" line, i.e. without config and job loading).
Nothing is added to src/ for this.
"""
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def one_run(args, work, n, rep):
    root = os.path.join(work, "n%d-r%d" % (n, rep))
    os.makedirs(root)
    sleeper = os.path.join(root, "sleeping-pilot.sh")
    with open(sleeper, "w") as f:
        f.write("#!/bin/sh\n# pilot stand-in for bench_startup: accepts the wrapper argv, does nothing\nexec sleep 120\n")
    os.chmod(sleeper, 0o755)
    bl.make_site(root, 1, 10, 10, n, ["payload.pilotwrapper=" + sleeper, "ray.localnodes=%d" % n,
                                      "ray.heartbeattimeout=60", "ray.stubgrace=1", "ray.statusinterval=60"])
    log = os.path.join(root, "raythenad.log")
    p, t0 = bl.start_raythenad(args.build, root, {}, log)
    try:
        deadline = time.time() + 120
        joined, listening = [], None
        while time.time() < deadline and p.poll() is None:
            joined = []
            with open(log) as f:
                for line in f:
                    if " joined from " in line:
                        joined.append(bl.log_epoch(line))
                    elif listening is None and "listening for stubs on" in line:
                        listening = bl.log_epoch(line)
            if len(joined) >= n:
                break
            time.sleep(0.05)
    finally:
        bl.stop_raythenad(p, grace=10)
    if len(joined) < n:
        print("bench_startup: %d stubs: only %d joined (log %s)" % (n, len(joined), log))
        return None
    last = max(joined)
    return last - t0, (last - listening) if listening else None


def main():
    ap = bl.argument_parser(__doc__, "default: BUILD/bench-startup (removed first)")
    ap.add_argument("--nodes", default="1,16,256")
    ap.add_argument("--repeat", type=int, default=5)
    args = bl.parse_args(ap)
    if args.smoke:
        args.nodes, args.repeat = "1,4", 1
    work = bl.fresh_dir(args.workdir or os.path.join(args.build, "bench-startup"))
    ok = True
    for n in (int(x) for x in args.nodes.split(",")):
        runs = [one_run(args, work, n, rep) for rep in range(args.repeat)]
        good = [r for r in runs if r]
        if len(good) < len(runs):
            ok = False
        if not good:
            continue
        bl.bench("startup_%d_stubs" % n, statistics.median(r[0] for r in good), "s")
        listen = [r[1] for r in good if r[1] is not None]
        if listen:
            bl.bench("startup_%d_stubs_from_listen" % n, statistics.median(listen), "s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
