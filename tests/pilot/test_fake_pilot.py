#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_pilot.py against a minimal stdlib node server that answers like
pilot-http spec section 2 (2 files x 4 events, PandaID 6000000001). Checks what the fake sends, the
files it writes, and every fault knob. Exits non-zero on the first failed check."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAKE = os.path.join(os.environ.get("RTY_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                    "tests", "fakes", "fake_pilot.py")
PRODUCTION_ARGV = ["--localpy", "--piloturl", "local", "-q", "Q X", "-r", "Q X", "-s", "Q X", "--pilotversion", "3",
                   "--pythonversion", "3", "-i", "PR", "-j", "managed", "--container", "--mute", "--pilot-user=atlas",
                   "-t", "-u", "--es-executor-type=raythena", "-v", "1", "-d", "--cleanup=False", "-w", "generic",
                   "--use-https", "False", "--allow-same-user=False", "--resource-type", "MCORE", "--hpc-resource",
                   "cori"]
JOB = {"PandaID": "6000000001", "taskID": 40000001, "jobsetID": 6000000000, "attemptNr": 1, "coreCount": 2,
       "StatusCode": 0}


def all_ranges():
    out = []
    for f, guid in (("EVNT.X._000001.pool.root.1", "GA"), ("EVNT.X._000002.pool.root.1", "GB")):
        for n in range(1, 5):
            out.append({"PFN": "/hv/" + f, "lastEvent": n, "eventRangeID": f"{f}-{n}", "startEvent": n, "GUID": guid})
    return out


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.ranges = all_ranges()
        self.requests = []  # (path, content_type, fields)
        self.block_from = None         # getEventRanges calls from this index on long-poll ...
        self.release = threading.Event()  # ... until this is set
        self.get_count = 0


def decode(body, content_type):
    if body[:2] == b"\x1f\x8b":
        return "gzip", {k: v for k, v in json.loads(gzip.decompress(body)).items()}
    return "form", {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            kind, fields = decode(body, self.headers.get("Content-Type"))
            path = self.path
            with state.lock:
                state.requests.append((path, kind, fields))
            reply = {"StatusCode": 0}
            if path.endswith("/getJob"):
                reply = JOB
            elif path.endswith("/getEventRanges"):
                if fields.get("pandaID") != JOB["PandaID"]:
                    reply = {"StatusCode": -1, "eventRanges": []}
                else:
                    with state.lock:
                        index = state.get_count
                        state.get_count += 1
                    if state.block_from is not None and index >= state.block_from:
                        state.release.wait(30)
                    with state.lock:
                        n = int(fields["nRanges"])
                        batch, state.ranges = state.ranges[:n], state.ranges[n:]
                    reply = {"StatusCode": 0, "eventRanges": batch}
            elif path.endswith("/updateEventRanges"):
                try:
                    json.loads(fields["eventRanges"])
                except (KeyError, ValueError):
                    reply = {"StatusCode": 500}
            data = json.dumps(reply).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client was killed during a long poll

    return Handler


class Run:
    def __init__(self, env=None, direct=True, argv=None):
        self.state = State()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.dir = tempfile.mkdtemp(prefix="rty-fake-pilot-")
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("FAKE_PILOT_") or k in ("ATHENA_PROC_NUMBER", "HARVESTER_WORKER_ID", "HARVESTER_ID"):
                del self.env[k]
        self.env.update(env or {})
        if direct:
            self.argv = ["--direct", self.url]
        else:
            cfg = os.path.join(self.dir, "pilot.cfg")
            with open(cfg, "w") as f:
                f.write(f"[Pilot]\npandaserver = {self.url}\nhttp_maxtime = 120\n")
            self.env["HARVESTER_PILOT_CONFIG"] = cfg
            self.argv = PRODUCTION_ARGV
        if argv is not None:
            self.argv = argv

    def start(self):
        self.proc = subprocess.Popen([sys.executable, FAKE] + self.argv, cwd=self.dir, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return self.proc

    def wait(self):
        out, _ = self.proc.communicate(timeout=60)
        self.output = out.decode()
        return self.proc.returncode

    def run(self):
        self.start()
        return self.wait()

    def close(self):
        self.state.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def paths(self):
        return [p.rsplit("/", 1)[-1] for p, _, _ in self.state.requests]

    def updates(self):
        out = []
        for p, _, f in self.state.requests:
            if p.endswith("/updateEventRanges") and "eventRanges" in f:
                try:
                    out.append((f["version"], json.loads(f["eventRanges"])))
                except ValueError:
                    pass
        return out

    def finished_entries(self):
        return [e for v, u in self.updates() if v == "1" for blk in u for e in blk["eventRanges"]]

    def failed_entries(self):
        return [e for v, u in self.updates() if v == "0" for e in u]


def check(cond, what, run=None):
    if not cond:
        print("FAIL:", what)
        if run is not None:
            print(run.output if hasattr(run, "output") else "")
            print(run.paths())
        sys.exit(1)


def test_production_argv_happy_path():
    r = Run(direct=False)
    try:
        check(r.run() == 0, "exit 0", r)
        p = r.paths()
        check(p[:3] == ["getJob", "updateJob", "updateJob"], f"start sequence {p[:3]}", r)
        states = [f["state"] for path, _, f in r.state.requests if path.endswith("updateJob")]
        check(states == ["starting", "running", "finished"], f"updateJob states {states}", r)
        kinds = {k for _, k, _ in r.state.requests}
        check(kinds == {"form"}, "form posts by default", r)
        get = [f for path, _, f in r.state.requests if path.endswith("getEventRanges")][0]
        check(get == {"pandaID": "6000000001", "jobsetID": "6000000000", "taskID": "40000001", "nRanges": "2"},
              f"getEventRanges fields {get}", r)
        done = r.finished_entries()
        check(len(done) == 8, "8 finished ranges", r)
        check(all(len(u[1][0]["eventRanges"]) == 2 for u in r.updates()), "one update per batch of 2", r)
        jdir = os.path.join(r.dir, "PanDA_Pilot-6000000001")
        for e in done:
            check(os.path.isabs(e["pfn"]) and e["pfn"].startswith(jdir + "/out/"), f"absolute pfn {e['pfn']}")
            data = open(e["pfn"], "rb").read()
            check(e["fsize"] == len(data), "fsize")
            check(e["adler32"] == f"{zlib.adler32(data) & 0xffffffff:08x}", "adler32")
            check(json.loads(data)["eventRangeID"] == e["eventRangeID"], "content names the range")
        check(os.path.exists(os.path.join(r.dir, "pilotlog.txt")), "pilotlog.txt")
    finally:
        r.close()


def test_gzip_mode_and_proc_number():
    r = Run(env={"FAKE_PILOT_GZIP": "1", "ATHENA_PROC_NUMBER": "3", "HARVESTER_WORKER_ID": "1000",
                 "HARVESTER_ID": "h"})
    try:
        check(r.run() == 0, "exit 0", r)
        for path, kind, f in r.state.requests:
            name = path.rsplit("/", 1)[-1]
            if name in ("getJob", "updateJob", "updateWorkerPilotStatus"):
                check(kind == "gzip", f"{name} is gzip-JSON", r)
            else:
                check(kind == "form", f"{name} is a form", r)
        check(r.paths()[0] == "updateWorkerPilotStatus" and r.paths()[-1] == "updateWorkerPilotStatus",
              "worker status around the job", r)
        n = [f["nRanges"] for p, _, f in r.state.requests if p.endswith("getEventRanges")]
        check(set(n) == {"3"}, f"nRanges from ATHENA_PROC_NUMBER {n}", r)
    finally:
        r.close()


def test_fail_fatal_and_every():
    r = Run(env={"FAKE_PILOT_FAIL": "EVNT.X._000001.pool.root.1-3", "FAKE_PILOT_FATAL": "every:4"})
    try:
        check(r.run() == 0, "exit 0", r)
        failed = {e["eventRangeID"]: e["eventStatus"] for e in r.failed_entries()}
        check(failed == {"EVNT.X._000001.pool.root.1-3": "failed", "EVNT.X._000001.pool.root.1-4": "fatal",
                         "EVNT.X._000002.pool.root.1-4": "fatal"}, f"failures {failed}", r)
        check(all(e["errorCode"] == 1220 for e in r.failed_entries()), "errorCode 1220")
        check(len(r.finished_entries()) == 5, "the others finished", r)
        out = os.path.join(r.dir, "PanDA_Pilot-6000000001", "out")
        check(not os.path.exists(os.path.join(out, "EVNT.X._000001.pool.root.1-3.HITS.pool.root")), "no file")
    finally:
        r.close()


def test_fail_once_across_nodes():
    state_dir = tempfile.mkdtemp(prefix="rty-fake-state-")
    try:
        for attempt, expect_failed in ((1, 1), (2, 0)):
            r = Run(env={"FAKE_PILOT_FAIL_ONCE": "EVNT.X._000002.pool.root.1-1", "FAKE_PILOT_STATE_DIR": state_dir})
            try:
                check(r.run() == 0, "exit 0", r)
                check(len(r.failed_entries()) == expect_failed, f"attempt {attempt}: {r.failed_entries()}", r)
            finally:
                r.close()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def test_duplicate_unknown_malformed():
    r = Run(env={"FAKE_PILOT_DUPLICATE": "1", "FAKE_PILOT_UNKNOWN_ID": "1", "FAKE_PILOT_MALFORMED": "1"})
    try:
        check(r.run() == 0, "exit 0", r)
        ids = [e["eventRangeID"] for e in r.finished_entries()]
        check(len(ids) == 2 * (8 + 4), f"every batch twice with one unknown id: {len(ids)}", r)
        check(sum(i.startswith("fake-unknown-") for i in ids) == 8, "unknown ids", r)
        check("StatusCode=500" in r.output, "malformed update got 500", r)
    finally:
        r.close()


def test_exit_after_and_ignore_end():
    r = Run(env={"FAKE_PILOT_EXIT_AFTER": "2:7"})
    try:
        check(r.run() == 7, "exit code 7", r)
        check(len(r.finished_entries()) == 4, "two batches reported", r)
        check("updateJob" not in r.paths()[3:], "no final updateJob", r)
    finally:
        r.close()
    r = Run(env={"FAKE_PILOT_IGNORE_END": "2"})
    try:
        check(r.run() == 0, "exit 0", r)
        check(r.paths().count("getEventRanges") == 4 + 1 + 2, f"asks twice more after [] {r.paths()}", r)
    finally:
        r.close()


def test_kill_file_and_sigterm():
    r = Run(env={"FAKE_PILOT_DELAY": "0.2"})
    try:
        r.start()
        deadline = time.time() + 20
        while not any(p.endswith("updateEventRanges") for p, _, _ in r.state.requests) and time.time() < deadline:
            time.sleep(0.05)
        open(os.path.join(r.dir, "pilot_kill_payload"), "w").write("KILL")
        check(r.wait() == 0, "kill file: exit 0", r)
        states = [f["state"] for p, _, f in r.state.requests if p.endswith("updateJob")]
        check(states[-1] == "failed", f"kill file: updateJob failed {states}", r)
        check(len(r.finished_entries()) < 8, "stopped early", r)
    finally:
        r.close()

    # SIGTERM while a getEventRanges long-poll is pending.
    r = Run()
    try:
        r.state.block_from = 1
        r.start()
        deadline = time.time() + 20
        while r.paths().count("getEventRanges") < 2 and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        r.proc.send_signal(signal.SIGTERM)
        check(r.wait() == 143, "SIGTERM in long poll: exit 143", r)
        check(len(r.finished_entries()) == 2, "first batch was reported", r)
    finally:
        r.close()

    # SIGTERM in the middle of a batch: the range already processed is flushed.
    r = Run(env={"FAKE_PILOT_DELAY": "3"})
    try:
        r.start()
        first = os.path.join(r.dir, "PanDA_Pilot-6000000001", "out", "EVNT.X._000001.pool.root.1-1.HITS.pool.root")
        deadline = time.time() + 20
        while not os.path.exists(first) and time.time() < deadline:
            time.sleep(0.02)
        r.proc.send_signal(signal.SIGTERM)
        check(r.wait() == 143, "SIGTERM mid-batch: exit 143", r)
        ids = [e["eventRangeID"] for e in r.finished_entries()]
        check(ids == ["EVNT.X._000001.pool.root.1-1"], f"flushed the processed range {ids}", r)
    finally:
        r.close()


def test_bad_argv_and_no_job():
    r = Run(argv=PRODUCTION_ARGV + ["--not-a-pilot-flag"])
    try:
        check(r.run() == 2, "unknown flag: exit 2", r)
        check("unrecognized arguments" in r.output, "message", r)
        check(r.state.requests == [], "nothing sent", r)
    finally:
        r.close()
    global JOB
    saved, JOB = JOB, {}
    r = Run()
    try:
        check(r.run() == 1, "no job: exit 1", r)
        check(r.paths() == ["getJob"], "nothing after getJob", r)
    finally:
        JOB = saved
        r.close()


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
            print("ok", name, flush=True)
