#!/usr/bin/env python3
"""Integration: harvester.eventsource = harvester, end to end.

A real raythenad with 2 local stubs and fake pilots takes its job AND its event ranges from the fake
Harvester (tests/fakes/fake_harvester.py run, early binding), which also claims and acknowledges the
event-status dumps. Every scenario checks: exit 0; every event in exactly one merged output
(rtysite.verify); Harvester was asked for ranges and served them all; every range it served was reported
back exactly once as finished, by Harvester's own id and without a path (outputs are merged on site).

Scenarios:
  basic   (default) 3 inputs x 10 events, Harvester answers at once.
  gaps    Harvester feeds the ranges in batches of 6, first 3 s apart and then twice 15 s apart: longer than
          pilot's curl limit (http_maxtime = 12 in the pilot config, so the stubs hold a getEventRanges
          at most 6 s). The issue's 30 s / 150 s gaps against pilot's 120 s, scaled by 1/10. Also: a hold
          ended by its deadline or a pilot restart is in the stub logs, and nothing stalls (no inactivity
          watchdog, no drain).
  hangup  Harvester takes 4 s for its first answer; meanwhile a client sends one stub a getEventRanges
          and hangs up after 0.5 s: the stub withdraws that request, and the run completes regardless.

Usage: run_event_source.py BUILD_DIR SOURCE_DIR [basic|gaps|hangup]   (RTY_KEEP=1 keeps the tree)
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

build, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
scenario = sys.argv[3] if len(sys.argv) > 3 else "basic"
sys.path.insert(0, os.path.join(source, "tests", "fakes"))
import rtysite  # noqa: E402

RAYTHENAD = os.path.join(build, "src", "coordinator", "raythenad")
FAKE_HARVESTER = os.path.join(source, "tests", "fakes", "fake_harvester.py")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return cond


wait_until = rtysite.poll_until


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ---- start and teardown ---------------------------------------------------------------------------

class Site:
    """A site (rtysite.make, no job: Harvester brings it), the fake Harvester and raythenad, all started
    in the background; stop() kills every process of the run by PID."""

    def __init__(self, root, inputs, events, per_output, harvester_args=(), http_maxtime=None, timeout=60):
        self.root, self.inputs, self.events, self.timeout = root, inputs, events, timeout
        self.p = rtysite.make(root, nodes=2, job=False, overrides=["harvester.eventsource=harvester"])
        if http_maxtime is not None:
            cfg = read(self.p["pilot_cfg"])
            cfg, n = re.subn(r"(?m)^http_maxtime\s*=.*$", "http_maxtime = %d" % http_maxtime, cfg)
            assert n == 1, "no http_maxtime line in " + self.p["pilot_cfg"]
            with open(self.p["pilot_cfg"], "w") as f:
                f.write(cfg)
        self.record = os.path.join(root, "harvester.rec")
        self.log = os.path.join(root, "raythenad.log")
        self.harvester = subprocess.Popen(
            [sys.executable, FAKE_HARVESTER, "run", "--endpoint", self.p["access"], "--cfg", self.p["cfg"],
             "--inputs", str(inputs), "--events", str(events), "--events-per-output", str(per_output),
             "--panda-id", rtysite.PANDA_ID, "--task-id", rtysite.TASK_ID, "--trans-path", self.p["fake_merge"],
             "--mode", "early", "--max-runtime", str(timeout), "--record", self.record] + list(harvester_args),
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, "harvester.log"), "w"))
        env = dict(os.environ, HARVESTER_PILOT_CONFIG=self.p["pilot_cfg"])
        self.t0 = time.monotonic()
        self.raythenad = subprocess.Popen([RAYTHENAD, "--config", self.p["yaml"]], env=env, cwd=root,
                                          stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.rc = None
        self.pids = set()

    def node_dir(self, node):
        return os.path.join(self.p["access"], rtysite.PANDA_ID, node)

    def stub_logs(self):
        """node -> text of its stub log (<access>/<PandaID>/stub-logs/<node>.log)."""
        pattern = os.path.join(self.p["access"], rtysite.PANDA_ID, "stub-logs", "*.log")
        return {os.path.basename(path)[:-4]: read(path) for path in sorted(glob.glob(pattern))}

    def raythenad_log(self):
        return read(self.log)

    def remember_pids(self):
        """Stubs (raythenad's log) and every pilot attempt (the stub logs), while they are known."""
        self.pids.update(int(pid) for pid in re.findall(r"started stub \S+ \(pid (\d+)\)", self.raythenad_log()))
        for text in self.stub_logs().values():
            self.pids.update(int(pid) for pid in re.findall(r"pilot started \(pid (\d+)", text))

    def wait(self):
        """raythenad's exit status, or "timeout" after the scenario's bound."""
        try:
            self.rc = self.raythenad.wait(max(1, self.timeout - (time.monotonic() - self.t0)))
        except subprocess.TimeoutExpired:
            self.rc = "timeout"
        self.elapsed = time.monotonic() - self.t0
        return self.rc

    def stop(self):
        self.remember_pids()
        if self.harvester.poll() is None:
            self.harvester.send_signal(signal.SIGTERM)
            try:
                self.harvester.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for proc in (self.raythenad, self.harvester):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        # Whatever is left of the run: the PIDs seen, and any process working in or named after the tree.
        pids = self.pids | set(rtysite.processes_under(self.root))
        for pid in sorted(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    # ---- what Harvester saw -----------------------------------------------------------------------

    def harvester_records(self):
        out = []
        for line in read(self.record).splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def check_complete(self):
        """exit 0, every event merged once, every served range reported back once as finished."""
        check(self.rc == 0, "raythenad exit status %s, expected 0" % self.rc)
        total = self.inputs * self.events
        result = rtysite.verify(self.root)
        for problem in result["problems"]:
            check(False, problem)
        check(result["events_merged"] == total, "merged %d events, expected %d" % (result["events_merged"], total))
        served, reported, asked = [], {}, 0
        for rec in self.harvester_records():
            if rec.get("kind") == "ranges_request":
                asked += 1
            elif rec.get("kind") == "ranges_served":
                served += rec["ids"]
            elif "content" in rec:
                for entry in rec["content"].get(rtysite.PANDA_ID, []):
                    reported.setdefault(entry["eventRangeID"], []).append(entry)
        # raythenad publishes its last dump just before it exits; the fake Harvester may be stopped before
        # it claims that one: read it from the access point then (it is complete: published atomically).
        dump = os.path.join(self.p["access"], "event_status.dump.json")
        if os.path.exists(dump):
            with open(dump) as f:
                for entry in json.load(f).get(rtysite.PANDA_ID, []):
                    reported.setdefault(entry["eventRangeID"], []).append(entry)
        check(asked >= 1, "raythenad never asked Harvester for event ranges")
        check(len(served) == total and len(set(served)) == total, "Harvester served %d ranges" % len(served))
        check(set(reported) == set(served), "ranges reported back %d != served %d" % (len(reported), len(served)))
        for rid, entries in sorted(reported.items()):
            check(len(entries) == 1 and entries[0]["eventStatus"] == "finished",
                  "range %s reported %s" % (rid, [e["eventStatus"] for e in entries]))
            check(all("path" not in e for e in entries), "range %s reported with a path" % rid)


# ---- scenarios ------------------------------------------------------------------------------------

def s_basic(root):
    site = Site(root, 3, 10, 5)
    site.wait()
    return site


def s_gaps(root):
    # 24 ranges, 6 per answer: answers 0-3 carry ranges, 0 and 3 s after their request, then twice 15 s
    # (longer than the 12 s curl limit while ranges are still to come: pilots end and are restarted, the
    # second time after their restart made progress). A final [] would also wait 15 s.
    site = Site(root, 3, 8, 8, ["--batch", "6", "--delays", "0,3,15"], http_maxtime=12, timeout=150)
    site.wait()
    served = [r for r in site.harvester_records() if r.get("kind") == "ranges_served"]
    gaps = [b["time"] - a["time"] for a, b in zip(served, served[1:]) if b["count"] > 0]
    print("gaps between answers with ranges: %s s" % ", ".join("%.1f" % g for g in gaps))
    check(any(g > 12 for g in gaps), "no gap longer than pilot's curl limit (12 s) while ranges remained: %s" % gaps)
    logs = site.stub_logs()
    text = "\n".join(logs.values())
    deadlines = len(re.findall(r"no event range came within", text))
    restarts = len(re.findall(r"starting pilot attempt", text))
    print("stub logs: %d hold(s) ended by their deadline, %d pilot restart(s)" % (deadlines, restarts))
    check(deadlines or restarts, "no hold ended by its deadline and no pilot restart in the stub logs %s" %
          sorted(logs))
    stalls = [line for line in site.raythenad_log().splitlines() if re.search(r"inactivity|drain", line, re.I)]
    check(not stalls, "raythenad stalled or drained:\n  " + "\n  ".join(stalls))
    return site


def get_event_ranges_then_hang_up(port, hold=0.5):
    body = ("pandaID=%s&jobsetID=1&taskID=1&nRanges=2" % rtysite.PANDA_ID).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /server/panda/getEventRanges HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(hold)
    s.close()


def s_hangup(root):
    site = Site(root, 3, 8, 8, ["--delays", "4,0"], timeout=90)
    cfg = os.path.join(site.node_dir("local-0"), "pilot_default.cfg")
    port = wait_until(lambda: re.search(r"pandaserver = http://127\.0\.0\.1:(\d+)", read(cfg)), 15)
    if check(port, "no pilot port in %s" % cfg):
        get_event_ranges_then_hang_up(int(port.group(1)))
        hung_up_at = time.time()
        seen = wait_until(lambda: "pilot hung up while waiting for event ranges" in site.stub_logs().get("local-0", ""),
                          10)
        check(seen, "local-0's stub log has no 'pilot hung up while waiting for event ranges' within 10 s")
        first = [r["time"] for r in site.harvester_records() if r.get("kind") == "ranges_served"]
        check(not first or first[0] > hung_up_at,
              "Harvester answered before the client hung up: the request was not held (test timing)")
    site.wait()
    return site


SCENARIOS = {"basic": s_basic, "gaps": s_gaps, "hangup": s_hangup}

if scenario not in SCENARIOS:
    sys.exit("unknown scenario %r; known: %s" % (scenario, ", ".join(SCENARIOS)))
root = tempfile.mkdtemp(prefix="rty-evsrc-%s-" % scenario)
site = None
try:
    site = SCENARIOS[scenario](root)
    site.stop()
    site.check_complete()
    print("%s: raythenad exit %s after %.1f s" % (scenario, site.rc, site.elapsed))
except Exception as e:  # a scenario that breaks is a failure, and its processes are still killed
    check(False, "%s: %s: %s" % (scenario, type(e).__name__, e))
finally:
    if site is not None:
        site.stop()
        if failures:
            print(site.raythenad_log()[-4000:], file=sys.stderr)
    if os.environ.get("RTY_KEEP"):
        print("kept " + root, file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
sys.exit(1 if failures else 0)
