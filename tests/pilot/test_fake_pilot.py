#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_pilot.py against a minimal stdlib node server that answers like
docs/pilot-protocol.md (2 files x 4 events, PandaID 6000000001, coreCount 2). Checks what the fake
sends, the files it writes, every fault knob, and that the default (pipeline) mode behaves like pilot3:
one communicator thread (no update while a get is held), workers that overlap a getEventRanges with
unreported finished ranges, timed batched reports, failures at once, http_maxtime with one retry; and
that FAKE_PILOT_MODE=lockstep keeps the old strict order. The pipeline runs on a test time scale
(FAKE_PILOT_COMM_SLEEP=0.05, short report intervals, kill_instruction_time = 1). Exits non-zero on the
first failed check; every fake pilot started is killed at the end of its case."""

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SOURCE = os.environ.get("RTY_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FAKE = os.path.join(SOURCE, "tests", "fakes", "fake_pilot.py")
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
        self.calls = []     # {"name", "fields", "t0" (arrival), "t1" (reply sent), "reply"}, arrival order
        self.served = []    # eventRangeIDs handed out, in order
        self.block_from = None         # getEventRanges calls from this index on long-poll ...
        self.release = threading.Event()  # ... until this is set
        self.get_count = 0
        self.get_hook = None     # get_hook(index, fields): may block before a getEventRanges is answered
        self.update_hook = None  # update_hook(fields): may block before an updateEventRanges is answered

    def reported(self):
        """eventRangeIDs reported so far (finished or failed), from parsed updates."""
        out = set()
        with self.lock:
            calls = [c for c in self.calls if c["name"] == "updateEventRanges"]
        for c in calls:
            try:
                u = json.loads(c["fields"].get("eventRanges", ""))
            except ValueError:
                continue
            for blk in u:
                for e in blk.get("eventRanges", [blk]):
                    out.add(e.get("eventRangeID"))
        return out


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
            name = path.rsplit("/", 1)[-1]
            call = {"name": name, "fields": fields, "t0": time.monotonic(), "t1": None, "reply": None}
            with state.lock:
                state.requests.append((path, kind, fields))
                state.calls.append(call)
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
                    if state.get_hook:
                        state.get_hook(index, fields)
                    with state.lock:
                        n = int(fields["nRanges"])
                        batch, state.ranges = state.ranges[:n], state.ranges[n:]
                        state.served += [r["eventRangeID"] for r in batch]
                    reply = {"StatusCode": 0, "eventRanges": batch}
            elif path.endswith("/updateEventRanges"):
                if state.update_hook:
                    state.update_hook(fields)
                try:
                    json.loads(fields["eventRanges"])
                except (KeyError, ValueError):
                    reply = {"StatusCode": 500}
            data = json.dumps(reply).encode()
            call["reply"] = reply
            call["t1"] = time.monotonic()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client was killed (or gave up) during a long poll

    return Handler


# Test-friendly time scale for the pipeline (upstream: 1 s communicator sleep and poll).
FAST = {"FAKE_PILOT_COMM_SLEEP": "0.05"}


class Run:
    def __init__(self, env=None, direct=True, argv=None, http_maxtime=120, kill_instruction_time=1):
        self.state = State()
        self.proc = None
        self.output = ""
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.dir = tempfile.mkdtemp(prefix="rty-fake-pilot-")
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("FAKE_PILOT_") or k in ("ATHENA_PROC_NUMBER", "HARVESTER_WORKER_ID", "HARVESTER_ID",
                                                    "HARVESTER_PILOT_CONFIG"):
                del self.env[k]
        self.env.update(FAST)
        self.env.update(env or {})
        # The pilot config also serves direct mode: http_maxtime and kill_instruction_time come from it.
        cfg = os.path.join(self.dir, "pilot.cfg")
        with open(cfg, "w") as f:
            f.write(f"[Pilot]\npandaserver = {self.url}\nhttp_maxtime = {http_maxtime}\n"
                    f"kill_instruction_time = {kill_instruction_time}\n")
        self.env["HARVESTER_PILOT_CONFIG"] = cfg
        self.argv = ["--direct", self.url] if direct else PRODUCTION_ARGV
        if argv is not None:
            self.argv = argv

    def start(self):
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, FAKE] + self.argv, cwd=self.dir, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return self.proc

    def wait(self, timeout=60):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            self.output = out.decode()
            check(False, f"fake pilot still running after {timeout} s", self)
        self.output = out.decode()
        return self.proc.returncode

    def run(self, timeout=60):
        self.start()
        return self.wait(timeout)

    def wait_for(self, cond, what, timeout=20):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                check(False, f"timed out waiting for {what}", self)
            time.sleep(0.02)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self.state.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def paths(self):
        return [p.rsplit("/", 1)[-1] for p, _, _ in self.state.requests]

    def calls(self, name):
        with self.state.lock:
            return [c for c in self.state.calls if c["name"] == name]

    def job_states(self):
        return [f["state"] for p, _, f in self.state.requests if p.endswith("updateJob")]

    def updates(self):
        out = []
        for p, _, f in self.state.requests:
            if p.endswith("/updateEventRanges") and "eventRanges" in f:
                try:
                    out.append((f["version"], json.loads(f["eventRanges"])))
                except ValueError:
                    pass
        return out

    def finished_updates(self):
        return [u for v, u in self.updates() if v == "1"]

    def finished_entries(self):
        return [e for v, u in self.updates() if v == "1" for blk in u for e in blk["eventRanges"]]

    def failed_entries(self):
        return [e for v, u in self.updates() if v == "0" for e in u]

    def out_file(self, range_id):
        return os.path.join(self.dir, "PanDA_Pilot-6000000001", "out", f"{range_id}.HITS.pool.root")


def check(cond, what, run=None):
    if not cond:
        print("FAIL:", what)
        if run is not None:
            print(run.output if hasattr(run, "output") else "")
            print(run.paths())
        sys.exit(1)


def F(n):
    return f"EVNT.X._00000{1 if n <= 4 else 2}.pool.root.1-{(n - 1) % 4 + 1}"


def test_production_argv_happy_path():
    r = Run(direct=False)
    try:
        check(r.run() == 0, "exit 0", r)
        p = r.paths()
        check(p[:4] == ["update_worker_node", "getJob", "updateJob", "updateJob"], f"start sequence {p[:4]}", r)
        # update_worker_node as pilot 3.11.5.1 sent it: the same path, keys and kinds of value, gzip JSON
        path, kind, node = r.state.requests[0]
        with open(os.path.join(SOURCE, "tests", "fixtures", "upstream", "pilot3-3.11.5.1-wire.json")) as f:
            captured = next(e for e in json.load(f)["exchanges"] if e["path"] == path)["body_decoded"]
        check(path == "/api/v1/pilot/update_worker_node" and kind == "gzip", f"update_worker_node {path} {kind}", r)
        check({k: type(v) for k, v in node.items()} == {k: type(v) for k, v in captured.items()},
              f"update_worker_node body {node}", r)
        check(node["host_name"] == socket.gethostname() and node["n_logical_cpus"] == os.cpu_count(),
              f"this host in update_worker_node {node}", r)
        states = r.job_states()
        check(states == ["starting", "running", "finished"], f"updateJob states {states}", r)
        kinds = {k for p, k, _ in r.state.requests if not p.startswith("/api/v1/")}
        check(kinds == {"form"}, "form posts by default (API v1 calls are always gzip JSON)", r)
        gets = [f for path, _, f in r.state.requests if path.endswith("getEventRanges")]
        check(gets[0] == {"pandaID": "6000000001", "jobsetID": "6000000000", "taskID": "40000001", "nRanges": "2"},
              f"getEventRanges fields {gets[0]}", r)
        # 2 workers: 4 gets of 2 ranges, then each worker asks once more and gets [] (spec 2.5 step 7)
        check(len(gets) == 6, f"4 + 2 getEventRanges, got {len(gets)}", r)
        done = r.finished_entries()
        check(sorted(e["eventRangeID"] for e in done) == sorted(F(n) for n in range(1, 9)), "8 finished ranges", r)
        check(all(u[0]["esOutput"]["numEvents"] == len(u[0]["eventRanges"]) and len(u) == 1
                  for u in r.finished_updates()), "one esOutput block per update, numEvents = its ranges", r)
        check(p[-1] == "updateJob" and "updateEventRanges" not in p[p.index("updateJob", 4):],
              "every update before the final updateJob", r)
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
            if name in ("getJob", "updateJob", "updateWorkerPilotStatus", "update_worker_node"):
                check(kind == "gzip", f"{name} is gzip-JSON", r)
            else:
                check(kind == "form", f"{name} is a form", r)
        check(r.paths()[:2] == ["updateWorkerPilotStatus", "update_worker_node"]
              and r.paths()[-1] == "updateWorkerPilotStatus",
              "worker status around the job", r)
        n = [f["nRanges"] for p, _, f in r.state.requests if p.endswith("getEventRanges")]
        check(set(n) == {"3"}, f"nRanges from ATHENA_PROC_NUMBER {n}", r)
        check(len(r.finished_entries()) == 8, "8 finished", r)
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
        check(all(len(u) == 1 for v, u in r.updates() if v == "0"), "one version=0 request per failure", r)
        check(len(r.finished_entries()) == 5, "the others finished", r)
        check(not os.path.exists(r.out_file("EVNT.X._000001.pool.root.1-3")), "no file")
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
    r = Run(env={"FAKE_PILOT_DUPLICATE": "1", "FAKE_PILOT_UNKNOWN_ID": "1", "FAKE_PILOT_MALFORMED": "1",
                 "FAKE_PILOT_DELAY": "0.1", "FAKE_PILOT_REPORT_INTERVAL": "0.25"})
    try:
        check(r.run() == 0, "exit 0", r)
        ups = r.finished_updates()
        reports = len(ups) // 2
        check(len(ups) == 2 * reports and all(ups[2 * i] == ups[2 * i + 1] for i in range(reports)),
              "every report sent twice in a row", r)
        ids = [e["eventRangeID"] for e in r.finished_entries()]
        check(len(ids) == 2 * (8 + reports), f"every report twice with one unknown id: {len(ids)}", r)
        check(sum(i.startswith("fake-unknown-") for i in ids) == 2 * reports, "unknown ids", r)
        check(r.output.count("StatusCode=500") == reports, "one malformed update (500) per report", r)
        check(reports >= 2, f"several reports with DELAY and a short interval ({reports})", r)
    finally:
        r.close()


def test_exit_after_and_ignore_end():
    # exit right after the 2nd report returned, while the workers still hold ranges they got
    r = Run(env={"FAKE_PILOT_EXIT_AFTER": "2:7", "FAKE_PILOT_DELAY": "0.5", "FAKE_PILOT_REPORT_INTERVAL": "0.7"})
    try:
        check(r.run() == 7, "exit code 7", r)
        check(len(r.finished_updates()) == 2, "two reports", r)
        check("updateJob" not in r.paths()[4:], "no final updateJob", r)
        reported = {e["eventRangeID"] for e in r.finished_entries()}
        unreported = set(r.state.served) - reported
        check(reported and unreported, f"died holding leased ranges: served {r.state.served}, reported {reported}", r)
    finally:
        r.close()
    r = Run(env={"FAKE_PILOT_IGNORE_END": "2"})
    try:
        check(r.run() == 0, "exit 0", r)
        # 4 gets with ranges; each of the 2 workers gets [] and then asks twice more
        check(r.paths().count("getEventRanges") == 4 + 2 * (1 + 2), f"asks twice more after [] {r.paths()}", r)
    finally:
        r.close()


def test_kill_file_and_sigterm():
    r = Run(env={"FAKE_PILOT_DELAY": "1", "FAKE_PILOT_REPORT_INTERVAL": "0.3"}, kill_instruction_time=1)
    try:
        r.start()
        r.wait_for(lambda: r.calls("updateEventRanges"), "the first report")
        open(os.path.join(r.dir, "pilot_kill_payload"), "w").write("KILL")
        t_kill = time.monotonic()
        check(r.wait() == 0, "kill file: exit 0", r)
        check(time.monotonic() - t_kill < 3, "the kill file is seen within a monitor loop or two", r)
        states = r.job_states()
        check(states[-1] == "failed", f"kill file: updateJob failed {states}", r)
        reported = {e["eventRangeID"] for e in r.finished_entries()}
        check(0 < len(reported) < 8, "stopped early", r)
        lost = set(r.state.served) - reported
        check(lost and not any(os.path.exists(r.out_file(i)) for i in lost),
              f"ranges in processing are lost, without files: {lost}", r)
    finally:
        r.close()

    # SIGTERM while a getEventRanges long-poll is pending: the communicator is blocked, the
    # finished ranges are sent anyway.
    r = Run()
    try:
        r.state.block_from = 1
        r.start()
        r.wait_for(lambda: r.paths().count("getEventRanges") >= 2, "the held getEventRanges")
        time.sleep(0.2)
        r.proc.send_signal(signal.SIGTERM)
        check(r.wait() == 143, "SIGTERM in long poll: exit 143", r)
        check(sorted(e["eventRangeID"] for e in r.finished_entries()) == [F(1), F(2)], "first batch was reported", r)
    finally:
        r.close()

    # SIGTERM in the middle of a range (one worker): the range already processed is flushed.
    r = Run(env={"FAKE_PILOT_DELAY": "1", "ATHENA_PROC_NUMBER": "1"})
    try:
        r.start()
        r.wait_for(lambda: os.path.exists(r.out_file(F(1))), "the first output file")
        r.proc.send_signal(signal.SIGTERM)
        check(r.wait() == 143, "SIGTERM mid-range: exit 143", r)
        ids = [e["eventRangeID"] for e in r.finished_entries()]
        check(ids == [F(1)], f"flushed the processed range {ids}", r)
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
        check(r.paths() == ["update_worker_node", "getJob"], "nothing after getJob", r)
    finally:
        JOB = saved
        r.close()


def test_lognormal_event_times():
    # FAKE_PILOT_EVENT_TIMES: a range's time is drawn from its id and the seed (the same on any node, in
    # any run), with the distribution's mean as given; FAKE_PILOT_TIME_SCALE scales it.
    sys.path.insert(0, os.path.dirname(FAKE))
    import fake_pilot
    e = fake_pilot.parse_event_times("lognormal:300:0.5:7")
    check(e == (300.0, 0.5, "7"), f"parsed {e}")
    draws = [fake_pilot.event_seconds(e, f"R-{i}", 1) for i in range(4000)]
    check(abs(sum(draws) / len(draws) - 300) < 15, f"mean of the draws {sum(draws) / len(draws)}")
    check(draws[5] == fake_pilot.event_seconds(e, "R-5", 1), "the same range, the same time")
    check(fake_pilot.event_seconds((300.0, 0.5, "8"), "R-5", 1) != draws[5], "another seed, another time")
    check(fake_pilot.event_seconds(e, "R-5", 2) > draws[5], "two events take longer than the first alone")
    times = os.path.join(tempfile.mkdtemp(prefix="fp-times-"), "times")
    r = Run(env={"FAKE_PILOT_EVENT_TIMES": "lognormal:1:0.5:3", "FAKE_PILOT_TIME_SCALE": "0.01",
                 "FAKE_PILOT_TIMES": times})
    try:
        check(r.run() == 0, "exit 0", r)
        check(len(r.finished_entries()) == 8, "8 finished", r)
        check(len(open(times).read().splitlines()) == 8, "8 finish times recorded", r)
    finally:
        r.close()
        shutil.rmtree(os.path.dirname(times), ignore_errors=True)
    r = Run(env={"FAKE_PILOT_EVENT_TIMES": "lognormal:-1:0.5"})
    try:
        check(r.run() == 1, "a bad FAKE_PILOT_EVENT_TIMES: exit 1", r)
        check("FAKE_PILOT_EVENT_TIMES=lognormal:-1:0.5" in r.output, "the message names the knob and value", r)
    finally:
        r.close()


def test_pipeline_serialises_and_overlaps():
    # The 2nd getEventRanges is held until the server has seen no update for 2 s (at most 5 s). pilot's
    # communicator is one thread: no update can arrive meanwhile, although the report timer (0.3 s) has
    # long fired and both workers have finished, unreported ranges (spec 2.4 "Correction").
    r = Run(env={"FAKE_PILOT_DELAY": "0.1", "FAKE_PILOT_REPORT_INTERVAL": "0.3"})
    seen = {}

    def hold(index, fields):
        if index != 1:
            return
        t0 = time.monotonic()
        seen["unreported_at_ask"] = [i for i in r.state.served if i not in r.state.reported()
                                     and os.path.exists(r.out_file(i))]
        while time.monotonic() - t0 < 5 and not r.state.release.is_set():
            last = max([c["t0"] for c in r.calls("updateEventRanges")] + [t0])
            if time.monotonic() - last >= 2:
                break
            time.sleep(0.05)
        seen["unreported_at_release"] = [i for i in r.state.served if i not in r.state.reported()
                                         and os.path.exists(r.out_file(i))]

    r.state.get_hook = hold
    try:
        check(r.run() == 0, "exit 0", r)
        gets, ups = r.calls("getEventRanges"), r.calls("updateEventRanges")
        held = gets[1]
        check(held["t1"] - held["t0"] >= 1.9, f"the 2nd get was held ({held['t1'] - held['t0']:.2f} s)", r)
        for g in gets:
            for u in ups:
                check(not (g["t0"] < u["t0"] < g["t1"]), "an updateEventRanges arrived while a get was held", r)
        check(seen["unreported_at_ask"], "a get was issued while the pilot held finished, unreported ranges", r)
        check(sorted(seen["unreported_at_release"]) == [F(1), F(2)],
              f"both workers' ranges finished and unreported during the hold: {seen}", r)
        first = ups[0]
        check(first["t0"] >= held["t1"], "the report waited for the held get", r)
        # It carries what ESProcess had queued when the timer fired: the asking worker's range. The other
        # worker's output message waited behind that "Ready for events" while ESProcess was blocked.
        carried = {e["eventRangeID"] for e in json.loads(first["fields"]["eventRanges"])[0]["eventRanges"]}
        check(carried and carried <= {F(1), F(2)}, f"and then carried ranges finished before: {carried}", r)
        check(len(r.finished_entries()) == 8, "all 8 reported in the end", r)
    finally:
        r.close()


def test_report_batching_and_failures():
    r = Run(env={"FAKE_PILOT_DELAY": "0.1", "FAKE_PILOT_REPORT_INTERVAL": "0.5", "FAKE_PILOT_FAIL": f"{F(1)},{F(5)}"})
    try:
        check(r.run() == 0, "exit 0", r)
        ups = [(c["fields"]["version"], json.loads(c["fields"]["eventRanges"]), c["t0"])
               for c in r.calls("updateEventRanges")]
        failures = [u for v, u, _ in ups if v == "0"]
        check(sorted(f[0]["eventRangeID"] for f in failures) == [F(1), F(5)] and all(len(f) == 1 for f in failures),
              f"each failure in its own version=0 request: {failures}", r)
        check(ups[0][0] == "0" and ups[0][1][0]["eventRangeID"] == F(1),
              "the first failure went out at once, before the first timed report", r)
        finished = [u for v, u, _ in ups if v == "1"]
        sizes = [len(u[0]["eventRanges"]) for u in finished]
        check(sum(sizes) == 6 and max(sizes) >= 2 and len(finished) < 6,
              f"finished ranges batched by the report timer: {sizes}", r)
        t1 = [t for v, _, t in ups if v == "1"]
        check(all(b - a >= 0.4 for a, b in zip(t1, t1[1:-1])), f"timed reports are ~0.5 s apart: {t1}", r)
    finally:
        r.close()


def test_get_timeout_retried_then_no_more():
    # http_maxtime = 1: the first getEventRanges after the last range is held 10 s; pilot gives up after
    # 1 s, asks a second time (IPv4) and gives up again: that worker gets "No more events". The other
    # worker's get is answered [] at once; the pilot ends, finished.
    r = Run(http_maxtime=1)
    held = []

    def hold(index, fields):
        with r.state.lock:
            if r.state.ranges or len(held) >= 2:
                return
            held.append(time.monotonic())
        r.state.release.wait(10)

    r.state.get_hook = hold
    try:
        check(r.run() == 0, "exit 0", r)
        gets = r.calls("getEventRanges")
        check(len(held) == 2 and len(gets) == 4 + 2 + 1, f"4 gets, 2 attempts held, 1 more []: {len(gets)}", r)
        check(gets[4]["fields"] == gets[5]["fields"], "the second attempt repeats the first", r)
        check(0.8 <= held[1] - held[0] < 2, f"the second attempt after http_maxtime ({held[1] - held[0]:.2f} s)", r)
        check("attempt 2 of 2" in r.output, "logged the second attempt", r)
        check(r.job_states()[-1] == "finished", "a failed getEventRanges ends the worker, not the job", r)
        check(len(r.finished_entries()) == 8, "all 8 reported", r)
    finally:
        r.close()


def test_update_timeout_fails_pilot():
    # Every updateEventRanges is held longer than http_maxtime: after 2 attempts the executor fails.
    r = Run(http_maxtime=1)
    r.state.update_hook = lambda fields: r.state.release.wait(10)
    try:
        check(r.run() == 0, "exit 0", r)
        ups = r.calls("updateEventRanges")
        check(len(ups) == 2 and ups[0]["fields"] == ups[1]["fields"], f"one update, tried twice: {len(ups)}", r)
        check(r.job_states()[-1] == "failed", "a lost update fails the job", r)
        check("executor failed" in r.output, "logged", r)
    finally:
        r.close()


def test_lockstep_mode():
    r = Run(env={"FAKE_PILOT_MODE": "lockstep", "FAKE_PILOT_FAIL": F(2)})
    try:
        check(r.run() == 0, "exit 0", r)
        p = r.paths()
        body = ["getEventRanges", "updateEventRanges", "updateEventRanges"] + \
            ["getEventRanges", "updateEventRanges"] * 3 + ["getEventRanges"]
        check(p == ["update_worker_node", "getJob", "updateJob", "updateJob"] + body + ["updateJob"], f"strictly in turn: {p}", r)
        ups = r.updates()
        check(ups[0][0] == "0" and ups[0][1][0]["eventRangeID"] == F(2), "failure at once", r)
        check([len(u[0]["eventRanges"]) for v, u in ups if v == "1"] == [1, 2, 2, 2], "one update per batch", r)
        check(r.job_states()[-1] == "finished", "finished", r)
    finally:
        r.close()
    r = Run(env={"FAKE_PILOT_MODE": "lockstep", "FAKE_PILOT_EXIT_AFTER": "2:7"})
    try:
        check(r.run() == 7, "exit code 7", r)
        check(len(r.finished_entries()) == 4, "two batches reported", r)
        check("updateJob" not in r.paths()[4:], "no final updateJob", r)
    finally:
        r.close()


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            t0 = time.monotonic()
            fn()
            print(f"ok {name} ({time.monotonic() - t0:.1f} s)", flush=True)
