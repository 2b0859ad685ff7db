#!/usr/bin/env python3
"""Integration: harvester.eventsource = harvester, end to end.

A real raythenad with 2 local stubs and fake pilots takes its job AND its event ranges from the fake
Harvester (tests/fakes/fake_harvester.py run, early binding), which also claims and acknowledges the
event-status dumps. Checks: exit 0; every event in exactly one merged output (rtysite.verify);
Harvester was asked for ranges and served them all; every range it served was reported back exactly
once as finished, by Harvester's own id and without a path (outputs are merged on site).
Usage: run_event_source.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

build, source = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(source, "tests", "fakes"))
import rtysite  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


with tempfile.TemporaryDirectory(prefix="rty-evsrc-") as root:
    p = rtysite.make(root, nodes=2, job=False, overrides=["harvester.eventsource=harvester"])
    record = os.path.join(root, "harvester.rec")
    harvester = subprocess.Popen(
        [sys.executable, os.path.join(source, "tests", "fakes", "fake_harvester.py"), "run",
         "--endpoint", p["access"], "--cfg", p["cfg"], "--inputs", "3", "--events", "10",
         "--events-per-output", "5", "--panda-id", rtysite.PANDA_ID, "--task-id", rtysite.TASK_ID,
         "--trans-path", p["fake_merge"], "--mode", "early", "--max-runtime", "60", "--record", record],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, "harvester.log"), "w"))
    env = dict(os.environ, HARVESTER_PILOT_CONFIG=p["pilot_cfg"])
    log = os.path.join(root, "raythenad.log")
    try:
        rc = subprocess.run([os.path.join(build, "src", "coordinator", "raythenad"), "--config", p["yaml"]],
                            env=env, stderr=open(log, "w"), timeout=60).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    finally:
        harvester.send_signal(signal.SIGTERM)
        try:
            harvester.wait(10)
        except subprocess.TimeoutExpired:
            harvester.kill()
    check(rc == 0, "raythenad exit status %s, expected 0" % rc)
    result = rtysite.verify(root)
    for problem in result["problems"]:
        check(False, problem)
    check(result["events_merged"] == 30, "merged %d events, expected 30" % result["events_merged"])
    served, reported, asked = [], {}, 0
    with open(record) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("kind") == "ranges_request":
                asked += 1
            elif rec.get("kind") == "ranges_served":
                served += rec["ids"]
            elif "content" in rec:
                for entry in rec["content"].get(rtysite.PANDA_ID, []):
                    reported.setdefault(entry["eventRangeID"], []).append(entry)
    # raythenad publishes its last dump just before it exits; the fake Harvester may be stopped before
    # it claims that one: read it from the access point then (it is complete: published atomically).
    dump = os.path.join(p["access"], "event_status.dump.json")
    if os.path.exists(dump):
        with open(dump) as f:
            for entry in json.load(f).get(rtysite.PANDA_ID, []):
                reported.setdefault(entry["eventRangeID"], []).append(entry)
    check(asked >= 1, "raythenad never asked Harvester for event ranges")
    check(len(served) == 30 and len(set(served)) == 30, "Harvester served %d ranges" % len(served))
    check(set(reported) == set(served), "ranges reported back %d != served %d" % (len(reported), len(served)))
    for rid, entries in reported.items():
        check(len(entries) == 1 and entries[0]["eventStatus"] == "finished",
              "range %s reported %s" % (rid, [e["eventStatus"] for e in entries]))
        check(all("path" not in e for e in entries), "range %s reported with a path" % rid)
    if failures:
        print(open(log).read()[-4000:], file=sys.stderr)
sys.exit(1 if failures else 0)
