#!/usr/bin/env python3
"""bench_scale: one coordinator, 10,000 virtual nodes on real authenticated channels.

  python3 tests/bench/bench_scale.py --build BUILD [--nodes 10000] [--cores 64] [--speedup 2]
                                     [--seconds 60] [--events-per-input N] [--smoke]

raythenad runs with the local launcher and one real stub whose pilot only sleeps (there is no launcher
option for "external stubs only"); rty_scale_driver then opens --nodes channels with the run's secret
(ray.workdir/.raythenad-secret) and runs a virtual 64-core pilot on each: --cores ranges per request,
one range per core per minute divided by --speedup, one ranges_update per batch. The driver prints the
BENCH lines (connect time, ranges/s, reply latency, heartbeats, lost channels, coordinator CPU per range
and RSS over the measured window). RLIMIT_NOFILE is raised to the hard limit for both, as a site would.
"""
import os
import re
import resource
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def main():
    ap = bl.argument_parser(__doc__, "default: BUILD/bench-scale (removed first)")
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--cores", type=int, default=64)
    ap.add_argument("--speedup", type=float, default=2)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--heartbeat-timeout", type=int, default=60)
    ap.add_argument("--checkpoint-interval", type=int, default=600)
    ap.add_argument("--events-per-input", type=int, default=0,
                    help="events per input and per output (default: more than the run needs, so no merge runs)")
    args = bl.parse_args(ap)
    if args.smoke:
        args.nodes, args.cores, args.speedup, args.seconds = 50, 8, 60, 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.nodes + 100:
        print("bench_scale: RLIMIT_NOFILE hard limit %d < %d channels" % (hard, args.nodes))
    work = bl.fresh_dir(args.workdir or os.path.join(args.build, "bench-scale"))
    root = os.path.join(work, "site")
    os.makedirs(root)
    sleeper = os.path.join(root, "sleeping-pilot.sh")
    with open(sleeper, "w") as f:
        f.write("#!/bin/sh\nexec sleep 100000\n")
    os.chmod(sleeper, 0o755)
    # One output per input, and every input bigger than the whole run needs (ranges are leased input by
    # input): no merge group completes, so no merge and no merge-result checkpoint runs in the window and
    # the memory growth is what finished ranges held for their merge cost.
    target = args.nodes * args.cores * args.speedup / 60
    needed = int(max(10000, target * (args.seconds + 60 / args.speedup + 10) * 1.3)) + 1
    events, inputs = needed, 4
    if args.events_per_input:  # merge groups complete during the run: merges and their checkpoints run
        events = args.events_per_input
        inputs = (needed + events - 1) // events
    bl.make_site(root, inputs, events, events, 1, [
        "payload.pilotwrapper=" + sleeper, "ray.localnodes=1", "resources.corepernode=%d" % args.cores,
        "ray.heartbeattimeout=%d" % args.heartbeat_timeout, "ray.checkpointinterval=%d" % args.checkpoint_interval,
        "ray.statusinterval=30", "ray.stubgrace=1", "logging.level=info"])
    log = os.path.join(work, "raythenad.log")
    p, _ = bl.start_raythenad(args.build, root, {}, log)
    rc = 1
    try:
        line = bl.wait_for_log(log, r"listening for stubs on", 120, p)
        if not line:
            print("bench_scale: raythenad did not start listening (log %s)" % log)
            return 1
        address = re.search(r"listening for stubs on (\S+)", line).group(1)
        secret = os.path.join(root, "workdir", ".raythenad-secret")
        cmd = [bl.tool(args.build, "rty_scale_driver"), "--coordinator", address, "--secret-file", secret,
               "--nodes", str(args.nodes), "--cores", str(args.cores), "--speedup", str(args.speedup),
               "--seconds", str(args.seconds), "--coordinator-pid", str(p.pid),
               "--task-dir", os.path.join(root, "taskprogress", "40000001")]
        rc = subprocess.run(cmd).returncode
        with open(log) as f:
            lost = sum(1 for line in f if " lost (" in line and "heartbeat" in line)
        bl.bench("scale_heartbeat_timeouts", lost, "nodes")
    finally:
        bl.stop_raythenad(p, grace=30)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
