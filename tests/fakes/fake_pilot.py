#!/usr/bin/env python3
"""Stand-in for pilot3 + AthenaMP in tests (pilot-http spec section 6). Python 3 standard library only.

Installed in place of runpilot2-wrapper.sh, it receives the production argv, finds the node server
through [Pilot] pandaserver in $HARVESTER_PILOT_CONFIG, and talks to it like pilot3 does:

  getJob once -> updateJob starting, running -> loop { getEventRanges(nRanges); write one output
  file per range; one version=1 esOutput update per batch (failures: one version=0 update each) }
  -> updateJob finished -> exit 0

Direct mode for server-only tests: fake_pilot.py --direct http://127.0.0.1:PORT

Environment knobs (all optional):
  ATHENA_PROC_NUMBER          nRanges per request (default: the job's coreCount)
  FAKE_PILOT_GZIP=1           send getJob/updateJob as gzip-compressed JSON without Content-Encoding
                              (pilot >= 3.7.3); default: form posts like curl (pilot 3.2)
  FAKE_PILOT_FAIL=<sel>       ranges to report as failed (errorCode 1220); <sel> is a comma list of
  FAKE_PILOT_FATAL=<sel>      eventRangeIDs or every:N (the Nth, 2Nth, ... range this pilot processes)
  FAKE_PILOT_FAIL_ONCE=<sel>  fail only the first attempt at a range anywhere: attempts are recorded in
                              FAKE_PILOT_STATE_DIR (required then, shared by all nodes)
  FAKE_PILOT_DELAY=<s>        seconds of "processing" per event
  FAKE_PILOT_DUPLICATE=1      send every esOutput update twice
  FAKE_PILOT_UNKNOWN_ID=1     add a finished range with an unknown ID (and a real file) to every update
  FAKE_PILOT_MALFORMED=<kind> before every real update, send a malformed one: json (bad JSON, the
                              default for 1), nopfn (finished entry without pfn), noranges (no field)
  FAKE_PILOT_EXIT_AFTER=<n>:<code>  exit with <code> right after the n-th batch was reported
  FAKE_PILOT_SLOW_AFTER=<n>:<s>     after the n-th batch was reported, take <s> seconds per event (a
                              payload that hangs while pilot and the stub stay alive)
  FAKE_PILOT_IGNORE_END=<n>   after the first [] keep asking n more times (-1: until killed)

Kill file: $PWD/pilot_kill_payload seen between batches -> flush, updateJob failed, exit 0.
SIGTERM -> flush what was processed, exit 143.
Exit codes: 0 done (also after the kill file or an HTTP error, reported as updateJob failed), 1 no job,
2 bad command line, 3 a malformed event range from the server, 143 SIGTERM, or FAKE_PILOT_EXIT_AFTER's.
"""

import argparse
import configparser
import gzip
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from datetime import datetime, timezone

RANGE_KEYS = {"PFN", "lastEvent", "eventRangeID", "startEvent", "GUID"}
CONNECT_RETRY_SECONDS = 30
HTTP_TIMEOUT = 120


class Terminated(Exception):
    """Raised from the SIGTERM handler so that blocking HTTP calls are interrupted too."""


class HttpError(Exception):
    pass


class ProtocolError(Exception):
    """The server sent something pilot would choke on (a malformed event range)."""


def log(message):
    line = f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} fake_pilot: {message}"
    print(line, flush=True)
    try:
        with open(os.path.join(os.getcwd(), "pilotlog.txt"), "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def parse_args(argv):
    # Every flag production passes (pilot-http spec 1.2); anything else is an error (exit 2).
    p = argparse.ArgumentParser(prog="fake_pilot.py", allow_abbrev=False)
    p.add_argument("--direct", metavar="URL", help="server URL; no wrapper argv needed")
    p.add_argument("--localpy", action="store_true")
    p.add_argument("--piloturl")
    p.add_argument("-q", dest="queue", default="FAKE_QUEUE")
    p.add_argument("-r")
    p.add_argument("-s")
    p.add_argument("--pilotversion")
    p.add_argument("--pythonversion")
    p.add_argument("-i")
    p.add_argument("-j", dest="label", default="managed")
    p.add_argument("--container", action="store_true")
    p.add_argument("--mute", action="store_true")
    p.add_argument("--pilot-user")
    p.add_argument("-t", action="store_true")
    p.add_argument("-u", action="store_true")
    p.add_argument("--es-executor-type", default="raythena")
    p.add_argument("-v")
    p.add_argument("-d", action="store_true")
    p.add_argument("--cleanup")
    p.add_argument("-w")
    p.add_argument("--use-https")
    p.add_argument("--allow-same-user")
    p.add_argument("--resource-type")
    p.add_argument("--hpc-resource")
    args = p.parse_args(argv)
    if args.es_executor_type != "raythena":
        p.error(f"--es-executor-type={args.es_executor_type}: only raythena is supported")
    return args


def server_url(args):
    if args.direct:
        return args.direct.rstrip("/")
    url = "http://127.0.0.1:8080"
    path = os.environ.get("HARVESTER_PILOT_CONFIG")
    if path:
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(path)
        url = cfg.get("Pilot", "pandaserver", fallback=url)
    return url.rstrip("/")


class Server:
    def __init__(self, url, use_gzip):
        self.url = url
        self.use_gzip = use_gzip

    def post(self, name, data, as_gzip_json=False):
        """One request on a new connection; returns the decoded JSON reply."""
        if as_gzip_json:
            body = gzip.compress(json.dumps(data).encode())
            content_type = "application/json"
        else:
            body = urllib.parse.urlencode({k: str(v) for k, v in data.items()}).encode()  # quote_plus
            content_type = "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            f"{self.url}/server/panda/{name}", data=body, method="POST",
            headers={"Content-Type": content_type, "Accept": "application/json"})
        deadline = time.monotonic() + CONNECT_RETRY_SECONDS
        while True:
            try:
                with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as reply:
                    text = reply.read()
                break
            except urllib.error.URLError as e:
                if isinstance(e.reason, ConnectionRefusedError) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise HttpError(f"{name}: {e}") from None
            except (OSError, socket.timeout) as e:
                raise HttpError(f"{name}: {e}") from None
        try:
            return json.loads(text)
        except ValueError:
            raise HttpError(f"{name}: reply is not JSON: {text[:200]!r}") from None

    def job_call(self, name, data):
        return self.post(name, data, as_gzip_json=self.use_gzip)


class Selector:
    """FAKE_PILOT_FAIL-style selection: comma list of range IDs, or every:N over processed ranges."""

    def __init__(self, spec):
        spec = (spec or "").strip()
        self.every = 0
        self.ids = set()
        if spec.startswith("every:"):
            self.every = int(spec[len("every:"):])
        elif spec:
            self.ids = {x.strip() for x in spec.split(",") if x.strip()}

    def __call__(self, range_id, ordinal):
        if self.every > 0:
            return ordinal % self.every == 0
        return range_id in self.ids


def first_attempt(state_dir, range_id):
    """True the first time any node asks about range_id (O_EXCL makes it atomic across nodes)."""
    marker = os.path.join(state_dir, range_id.replace("/", "_") + ".attempted")
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return True
    except FileExistsError:
        return False


class FakePilot:
    def __init__(self, args):
        self.args = args
        self.server = Server(server_url(args), os.environ.get("FAKE_PILOT_GZIP") == "1")
        self.fail = Selector(os.environ.get("FAKE_PILOT_FAIL"))
        self.fatal = Selector(os.environ.get("FAKE_PILOT_FATAL"))
        self.fail_once = Selector(os.environ.get("FAKE_PILOT_FAIL_ONCE"))
        self.state_dir = os.environ.get("FAKE_PILOT_STATE_DIR", "")
        if (self.fail_once.ids or self.fail_once.every) and not self.state_dir:
            sys.exit("fake_pilot.py: FAKE_PILOT_FAIL_ONCE needs FAKE_PILOT_STATE_DIR")
        self.delay = float(os.environ.get("FAKE_PILOT_DELAY", "0") or 0)
        self.duplicate = os.environ.get("FAKE_PILOT_DUPLICATE") == "1"
        self.unknown_id = os.environ.get("FAKE_PILOT_UNKNOWN_ID") == "1"
        malformed = os.environ.get("FAKE_PILOT_MALFORMED", "")
        self.malformed = "json" if malformed == "1" else malformed
        exit_after = os.environ.get("FAKE_PILOT_EXIT_AFTER", "")
        self.exit_after = tuple(int(x) for x in exit_after.split(":", 1)) if exit_after else None
        self.ignore_end = int(os.environ.get("FAKE_PILOT_IGNORE_END", "0") or 0)
        slow_after = os.environ.get("FAKE_PILOT_SLOW_AFTER", "")
        self.slow_after = (int(slow_after.split(":")[0]), float(slow_after.split(":")[1])) if slow_after else None
        self.job = {}
        self.workdir = ""
        self.pending = []       # finished entries processed but not yet reported
        self.processed = 0      # ranges handled so far (ordinal for every:N)
        self.finished_events = 0
        self.batches = 0

    # ---- updates ----

    def job_fields(self, state):
        return {
            "jobId": self.job["PandaID"], "state": state,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "siteName": self.args.queue, "node": socket.gethostname(),
            "attemptNr": self.job.get("attemptNr", 1), "coreCount": self.job.get("coreCount", 1),
        }

    def update_job(self, state):
        data = self.job_fields(state)
        if state in ("finished", "failed"):
            data["nEvents"] = self.finished_events
        try:
            reply = self.server.job_call("updateJob", data)
            log(f"updateJob state={state} -> {reply}")
        except HttpError as e:
            log(f"updateJob state={state} failed: {e}")

    def worker_status(self, status):
        worker, harvester = os.environ.get("HARVESTER_WORKER_ID"), os.environ.get("HARVESTER_ID")
        if not (worker and harvester):
            return
        try:
            self.server.job_call("updateWorkerPilotStatus", {
                "workerID": worker, "harvesterID": harvester, "status": status,
                "site": self.args.queue, "node_id": socket.gethostname()})
        except HttpError as e:
            log(f"updateWorkerPilotStatus failed: {e}")

    def send_ranges_update(self, version, ranges_list):
        reply = self.server.post("updateEventRanges", {"version": version, "eventRanges": json.dumps(ranges_list)})
        log(f"updateEventRanges version={version} n={len(ranges_list)} -> {reply}")
        return reply

    def send_malformed(self):
        if self.malformed == "noranges":
            data = {"version": 1}
        elif self.malformed == "nopfn":
            data = {"version": 1, "eventRanges": json.dumps([{"esOutput": {"numEvents": 1}, "eventRanges": [
                {"eventRangeID": "malformed-1", "eventStatus": "finished", "fsize": 1, "adler32": "00000001"}]}])}
        else:
            data = {"version": 1, "eventRanges": '[{"esOutput": {"numEvents": 1}, "eventRanges": ['}
        reply = self.server.post("updateEventRanges", data)
        log(f"malformed ({self.malformed}) updateEventRanges -> StatusCode={reply.get('StatusCode')}")

    def flush(self):
        """Reports the finished ranges processed since the last flush, as one version=1 update."""
        if not self.pending:
            return
        entries, self.pending = self.pending, []
        if self.unknown_id:
            entries.append(self.write_output({"eventRangeID": f"fake-unknown-{self.batches}", "GUID": "unknown",
                                              "startEvent": 1, "lastEvent": 1, "PFN": "unknown"}))
        if self.malformed:
            self.send_malformed()
        update = [{"esOutput": {"numEvents": len(entries)}, "eventRanges": entries}]
        for _ in range(2 if self.duplicate else 1):
            self.send_ranges_update(1, update)

    # ---- processing ----

    def write_output(self, r):
        out_dir = os.path.join(self.workdir, "out")
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, f"{r['eventRangeID']}.HITS.pool.root")
        content = (json.dumps({k: r[k] for k in ("eventRangeID", "GUID", "startEvent", "lastEvent", "PFN")},
                              sort_keys=True) + "\n").encode()
        with open(path, "wb") as f:
            f.write(content)
        return {"eventRangeID": r["eventRangeID"], "eventStatus": "finished", "pfn": os.path.abspath(path),
                "fsize": len(content), "adler32": f"{zlib.adler32(content) & 0xffffffff:08x}"}

    def failure_status(self, range_id):
        if self.fatal(range_id, self.processed):
            return "fatal"
        if self.fail(range_id, self.processed):
            return "failed"
        if self.fail_once(range_id, self.processed) and first_attempt(self.state_dir, range_id):
            return "failed"
        return None

    def process(self, r):
        if not isinstance(r, dict) or set(r) != RANGE_KEYS:
            raise ProtocolError(f"event range {r} does not have exactly the keys {sorted(RANGE_KEYS)}")
        if not (isinstance(r["startEvent"], int) and isinstance(r["lastEvent"], int)) or r["startEvent"] > r["lastEvent"]:
            raise ProtocolError(f"event range {r['eventRangeID']}: bad startEvent/lastEvent")
        self.processed += 1
        if self.delay:
            time.sleep(self.delay * (r["lastEvent"] - r["startEvent"] + 1))
        status = self.failure_status(r["eventRangeID"])
        if status:
            # pilot sends every failure at once, in its own request
            self.send_ranges_update(0, [{"errorCode": 1220, "eventRangeID": r["eventRangeID"], "eventStatus": status}])
            return
        self.pending.append(self.write_output(r))
        self.finished_events += r["lastEvent"] - r["startEvent"] + 1

    def get_ranges(self, n_ranges):
        reply = self.server.post("getEventRanges", {
            "pandaID": self.job["PandaID"], "jobsetID": self.job.get("jobsetID", ""),
            "taskID": self.job.get("taskID", ""), "nRanges": n_ranges})
        if not isinstance(reply, dict) or reply.get("StatusCode", 0) not in (0, "0"):
            raise HttpError(f"getEventRanges: reply {reply}")
        ranges = reply.get("eventRanges")
        if not isinstance(ranges, list):
            raise HttpError(f"getEventRanges: no eventRanges list in {reply}")
        return ranges

    def event_loop(self):
        n_ranges = os.environ.get("ATHENA_PROC_NUMBER") or self.job.get("coreCount") or 1
        kill_file = os.path.join(os.getcwd(), "pilot_kill_payload")
        extra_polls = None
        while True:
            if os.path.exists(kill_file):
                log("kill file found: stopping")
                return "killed"
            ranges = self.get_ranges(n_ranges)
            if not ranges:
                if extra_polls is None:
                    extra_polls = self.ignore_end
                if extra_polls == 0:
                    return "finished"
                extra_polls -= 1
                log("no more ranges, asking again (FAKE_PILOT_IGNORE_END)")
                time.sleep(1)
                continue
            for r in ranges:
                self.process(r)
            self.flush()
            self.batches += 1
            if self.slow_after and self.batches == self.slow_after[0]:
                log(f"{self.slow_after[1]} s per event from now on (FAKE_PILOT_SLOW_AFTER)")
                self.delay = self.slow_after[1]
            if self.exit_after and self.batches == self.exit_after[0]:
                log(f"exiting with {self.exit_after[1]} after {self.batches} batches (FAKE_PILOT_EXIT_AFTER)")
                sys.exit(self.exit_after[1])

    def run(self):
        self.worker_status("started")
        try:
            job = self.server.job_call("getJob", {
                "siteName": self.args.queue, "computingElement": self.args.queue,
                "prodSourceLabel": self.args.label, "diskSpace": 100000, "workingGroup": "",
                "cpu": 2000.0, "mem": 16000.0, "node": socket.gethostname(), "resourceType": "MCORE"})
        except HttpError as e:
            log(f"getJob failed: {e}")
            return 1
        if not isinstance(job, dict) or not job or job.get("StatusCode", 0) not in (0, "0") or "PandaID" not in job:
            log(f"getJob: no job ({job!r})")
            return 1
        job["PandaID"] = str(job["PandaID"])
        self.job = job
        self.workdir = os.path.join(os.getcwd(), f"PanDA_Pilot-{job['PandaID']}")
        os.makedirs(self.workdir, exist_ok=True)
        log(f"got job {job['PandaID']}")
        self.update_job("starting")
        self.update_job("running")

        try:
            outcome = self.event_loop()
        except HttpError as e:
            log(f"event loop stopped: {e}")
            outcome = "error"
        except ProtocolError as e:
            log(f"protocol violation: {e}")
            self.safe_flush()
            self.update_job("failed")
            return 3
        except Terminated:
            log("SIGTERM: flushing and exiting with 143")
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.safe_flush()
            return 143

        self.safe_flush()
        self.update_job("finished" if outcome == "finished" else "failed")
        self.worker_status("finished")
        return 0

    def safe_flush(self):
        try:
            self.flush()
        except HttpError as e:
            log(f"flush failed: {e}")


def on_sigterm(signum, frame):
    raise Terminated()


def main():
    args = parse_args(sys.argv[1:])
    signal.signal(signal.SIGTERM, on_sigterm)
    open(os.path.join(os.getcwd(), "pilotlog.txt"), "a").close()
    try:
        return FakePilot(args).run()
    except Terminated:  # before the event loop: nothing to flush
        return 143


if __name__ == "__main__":
    sys.exit(main())
