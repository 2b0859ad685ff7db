#!/usr/bin/env python3
"""Integration: fake_harvester.py (late and early mode, with fault switches) against the C++ messenger
driven by messenger_driver. Each scenario runs in its own temp access point, bounded in time."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

DRIVER, FAKE = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what)


def scenario(name, fake_args, driver_args=(), inputs=2, events=4, expect_ranges=None, job_only=False,
             prepare=None, run_fake=True):
    print("== scenario", name)
    root = tempfile.mkdtemp(prefix="rty_hv_it_")
    ep = os.path.join(root, "ap")
    os.makedirs(ep)
    cfg = os.path.join(root, "panda_harvester.cfg")
    rec = os.path.join(root, "record.jsonl")
    subprocess.run([sys.executable, FAKE, "make-job", "--endpoint", os.path.join(root, "scratch"),
                    "--write-cfg", cfg], check=True)
    if prepare:
        prepare(ep)
    fake = None
    if run_fake:
        fake = subprocess.Popen([sys.executable, FAKE, "run", "--cfg", cfg, "--endpoint", ep, "--record", rec,
                                 "--inputs", str(inputs), "--events", str(events), "--max-runtime", "25"] + list(fake_args))
    try:
        cmd = [DRIVER, "--cfg", cfg, "--endpoint", ep, "--deadline", "15"] + list(driver_args)
        if job_only:
            cmd.append("--job-only")
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        print("  driver rc=%d in %.1f s" % (out.returncode, time.monotonic() - t0))
        check(out.returncode == 0, "%s: driver exit %d: %s %s" % (name, out.returncode, out.stdout[-500:], out.stderr[-2000:]))
        result = None
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
        time.sleep(0.5)  # let the fake claim the last dump
    finally:
        if fake:
            fake.terminate()
            fake.wait(timeout=5)
    records = []
    if os.path.exists(rec):
        with open(rec) as f:
            records = [json.loads(l) for l in f if l.strip()]
    files = sorted(os.listdir(ep))
    scenario.stderr = out.stderr
    return root, ep, result, records, files


def dumped_ids(records):
    ids = []
    for r in records:
        if r["kind"] == "dump_received":
            for entries in r["content"].values():
                ids += [e["eventRangeID"] for e in entries]
    return ids


def common_checks(name, ep, result, records, files, total):
    check(result is not None, name + ": no RESULT")
    if result is None:
        return
    check(len(result["ranges"]) == total, "%s: %d ranges, expected %d" % (name, len(result["ranges"]), total))
    check(result["duplicates"] == 0, name + ": duplicate ranges")
    check("HPCJobs.json.read" in files and "HPCJobs.json" not in files, name + ": spec not claimed as .read")
    check("worker_requestjob.json" not in files, name + ": job request left behind")
    check(not any(r["kind"] == "refill_request_seen" for r in records), name + ": refill trap (job requested twice)")
    check("JobsEventRanges.json" not in files, name + ": ranges answer left unconsumed")
    check("worker_requestevents.json" not in files, name + ": event request left behind")
    check("jobReport.json" in files and "jobReport.json.tmp" not in files, name + ": job report missing")
    with open(os.path.join(ep, "task_workdir_path.txt")) as f:
        check(f.read() == ep + "/task", name + ": task_workdir_path.txt content")
    got = set(dumped_ids(records))
    check(set(result["ranges"]) <= got, name + ": not every range reached Harvester in a dump")
    check(any(n.startswith("event_status.dump.json.read.") for n in files), name + ": no acknowledged dump")
    check("worker_updateevents.json.read" not in files, name + ": derived updates not acknowledged")


total = 8
root, ep, res, rec, files = scenario("late binding", ["--mode", "late"])
common_checks("late", ep, res, rec, files, total)
check(any(r["kind"] == "job_request_seen" for r in rec), "late: no job request seen")
archives = sorted(n for n in files if n.startswith("JobsEventRanges.json-"))
check(len(archives) == 4, "late: expected 4 archived answers (3+3+2+[]), got %s" % archives)  # n-ranges 3
# Restart in the same worker: only .read is present → resume without a job request (refill trap).
out = subprocess.run([DRIVER, "--cfg", os.path.join(root, "panda_harvester.cfg"), "--endpoint", ep, "--job-only",
                      "--deadline", "5"], capture_output=True, text=True, timeout=10)
check(out.returncode == 0 and "JOB 6000000001" in out.stdout, "restart: did not resume from .read: " + out.stderr[-500:])
check(not os.path.exists(os.path.join(ep, "worker_requestjob.json")), "restart: wrote a job request")
shutil.rmtree(root)

root, ep, res, rec, files = scenario("early binding", ["--mode", "early"])
common_checks("early", ep, res, rec, files, total)
check(not any(r["kind"] == "job_request_seen" for r in rec), "early: a job request was written")
shutil.rmtree(root)

root, ep, res, rec, files = scenario("slow answer", ["--mode", "late", "--delay", "0.7"])
common_checks("slow", ep, res, rec, files, total)
shutil.rmtree(root)

root, ep, res, rec, files = scenario("half-written files", ["--mode", "late", "--half-write", "--pause", "0.5"])
common_checks("half-write", ep, res, rec, files, total)
check("half-written?" in scenario.stderr, "half-write: the messenger never saw a half-written file")
shutil.rmtree(root)

root, ep, res, rec, files = scenario("malformed JSON", ["--mode", "late", "--malformed"],
                                     ["--corrupt-after", "1"])
common_checks("malformed", ep, res, rec, files, total)
check(any(n.startswith("HPCJobs.json.corrupt.") for n in files), "malformed: broken spec not quarantined")
check(any(n.startswith("JobsEventRanges.json.corrupt.") for n in files), "malformed: broken ranges not quarantined")
shutil.rmtree(root)

root, ep, res, rec, files = scenario("stale files", ["--mode", "late", "--stale"])
common_checks("stale", ep, res, rec, files, total)
check("from an earlier run" in scenario.stderr, "stale: leftover files not logged")
check("stale-1" in dumped_ids(rec), "stale: leftover dump .tmp not merged and published")
shutil.rmtree(root)

root, ep, res, rec, files = scenario("request deleted early", ["--mode", "late", "--delete-request-early"],
                                     ["--rerequest-after", "1"])
common_checks("delete-early", ep, res, rec, files, total)
check(any(r["kind"] == "request_deleted_without_answer" for r in rec), "delete-early: fault not exercised")
shutil.rmtree(root)

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("all harvester integration scenarios passed")
