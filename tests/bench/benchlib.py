"""Shared helpers of the raythenad benchmarks (run by hand; only --smoke runs are in ctest).

Process sampling from /proc, a site built with tests/fakes/rtysite.py, starting and stopping raythenad in
its own session, and `BENCH <name> <value> <unit>` output.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RTYSITE = os.path.join(SRC, "tests", "fakes", "rtysite.py")
TICK = os.sysconf("SC_CLK_TCK")


def argument_parser(doc, workdir_help, smoke_help=None):
    """The options every benchmark has (--build, --workdir, --keep, --smoke); add its own to it."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("RTY_BUILD_DIR", os.path.join(SRC, "build")))
    ap.add_argument("--workdir", help=workdir_help)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--smoke", action="store_true", help=smoke_help)
    return ap


def parse_args(ap):
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    # rtysite.py installs this build's fake merge transform (BUILD/tests/fakes/fake_merge_tf) in the sites.
    os.environ["RTY_BUILD_DIR"] = args.build
    return args


def fresh_dir(path):
    """`path`, emptied (created if missing)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def bench(name, value, unit):
    if isinstance(value, float):
        value = "%.6g" % value
    print("BENCH %s %s %s" % (name, value, unit), flush=True)


def tool(build, name):
    build = os.path.abspath(build)
    for sub in ("tests/bench", "src/coordinator", "src/stub", "."):
        path = os.path.join(build, sub, name)
        if os.path.exists(path):
            return path
    raise SystemExit("%s not built in %s (cmake --build %s --target rty_bench_tools)" % (name, build, build))


def proc_stat(pid):
    """(ppid, comm, cpu seconds utime+stime) or None when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / TICK


def proc_status(pid, key):
    """A kB field of /proc/<pid>/status (VmHWM, VmRSS) in kB, or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def all_procs():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = proc_stat(int(d))
            if s:
                out[int(d)] = s
    return out


def descendants(root):
    """{pid: (ppid, comm, cpu)} of every process below root."""
    procs = all_procs()
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out[c] = procs[c]
            todo.append(c)
    return out


def make_site(root, inputs, events, per_output, nodes, sets, port=8080):
    args = [sys.executable, RTYSITE, "make", root, "--inputs", str(inputs), "--events", str(events),
            "--events-per-output", str(per_output), "--nodes", str(nodes), "--port", str(port)]
    for s in sets:
        args += ["--set", s]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(root, "raythenad.yaml")


def start_raythenad(build, root, env_extra, log_path, prefix=()):
    env = dict(os.environ)
    env["HARVESTER_PILOT_CONFIG"] = os.path.join(root, "pilot", "default.cfg")
    env["RTY_DEMO_DIR"] = root
    env.update(env_extra)
    log = open(log_path, "w")
    t0 = time.time()
    p = subprocess.Popen(list(prefix) + [tool(build, "raythenad"), "--config", os.path.join(root, "raythenad.yaml")],
                         stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return p, t0


def stop_raythenad(p, grace=20):
    """SIGTERM (drain), then SIGKILL whatever is left of its session: stubs, payloads, merges."""
    everyone = descendants(p.pid)
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for pid in everyone:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \|")


def log_epoch(line):
    m = LOG_TIME.match(line)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def wait_for_log(path, pattern, timeout, proc=None):
    """First log line matching pattern, or None on timeout / exit of proc."""
    rx = re.compile(pattern)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                for line in f:
                    if rx.search(line):
                        return line
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None
