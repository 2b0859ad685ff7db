#!/usr/bin/env python3
"""Stand-in for pilot3 + AthenaMP in tests (docs/pilot-protocol.md). Python 3 stdlib only.

Installed in place of runpilot2-wrapper.sh, it receives the production argv, finds the node server
through [Pilot] pandaserver in $HARVESTER_PILOT_CONFIG, and talks to it like pilot3 (3.11.5.1) does:

  getJob once -> updateJob starting, running -> the event-service pipeline below -> updateJob
  finished|failed (with nEvents) -> exit 0

Direct mode for server-only tests: fake_pilot.py --direct http://127.0.0.1:PORT ($HARVESTER_PILOT_CONFIG,
if set, still supplies http_maxtime and kill_instruction_time).

The pipeline (FAKE_PILOT_MODE=pipeline, the default) has the threads of real pilot3, each modelled on the
upstream code named here (facts taken from it; the time scale is a knob):

  W workers        AthenaMP's worker processes (not pilot3 code): each sends "Ready for events", gets one
                   range or "No more events" (then it exits), "processes" it (FAKE_PILOT_DELAY s per
                   event), writes its output file, sends its output message, and asks again. The payload
                   ends when every worker has exited. W = $ATHENA_PROC_NUMBER, else the job's coreCount,
                   else 1. Simplified: threads instead of processes; the file is a JSON line.
  ESProcess        pilot/eventservice/esprocess/esprocess.py ESProcess.run/handle_messages: ONE thread
                   taking one message at a time. "Ready for events" pops a range from its cache; when the
                   cache is empty it calls getEventRanges(nRanges=W) and BLOCKS until the communicator
                   answered (baseexecutor.get_event_ranges, raythena queue_factor 1). [] or a failure ->
                   "No more events" to that worker. Output messages go to RaythenaExecutor's
                   handle_out_message: finished -> queued for the executor; failed/fatal -> one version=0
                   update per range, sent SYNCHRONOUSLY from this thread (it blocks meanwhile).
                   Simplified: blocks on a queue instead of polling it every 10 ms; after a getEventRanges
                   failure every asking worker gets "No more events" (upstream: only the first one, via
                   ESProcess.stop(); a later failure leaves that worker waiting until ESProcess's 1800 s
                   stop delay).
  executor         pilot/eventservice/workexecutor/plugins/raythenaexecutor.py RaythenaExecutor.run /
                   stageout_es: every FAKE_PILOT_REPORT_INTERVAL s (upstream: time.sleep(5); es_stageout_gap
                   never applies because __last_stageout_time is never set) all queued finished ranges go
                   out as ONE version=1 esOutput update; a final forced one once ESProcess has ended.
                   Simplified: the final flush follows the end at once (upstream: at the next 5 s tick);
                   entries keep completion order (upstream pops the newest first); a lost update (the
                   HTTP call failed twice) fails the pilot (see below; upstream ignores the reply).
  communicator     pilot/eventservice/communicationmanager/communicationmanager.py CommunicationManager.run
                   with plugins/pandacommunicator.py: ONE thread serving its queues in dict order,
                   request_get_events (only moves a request to processing_get_events, whose limit is 1)
                   -> update_events -> processing_get_events, at most one request per queue per
                   iteration, each HTTP call blocking; then FAKE_PILOT_COMM_SLEEP s (upstream 1 s). Callers
                   poll their request every FAKE_PILOT_COMM_SLEEP s too (upstream 1 s). getJob/updateJob
                   queues are not modelled: those calls come from pilot's job threads (here the main one).
  HTTP             pilot/util/https.py request(): each getEventRanges/updateEventRanges call times out after
                   [Pilot] http_maxtime (default 120 s); a failed call (timeout, connection error) is made a
                   second time (pilot's IPv6 then IPv4 attempt); then it counts as failed (None). A reply that
                   is not JSON is a failure without a second attempt. getEventRanges: a failure, a non-zero
                   StatusCode or no eventRanges list -> "No more events" for that worker (pilot still ends
                   "finished"). updateEventRanges: a failure -> the executor fails: logged, the payload is
                   stopped, no further event updates, updateJob failed, exit 0. Refused connections are
                   retried for the first 30 s of the process (a stub still starting up).
                   Simplified: urllib instead of curl; no separate connect timeout.
  kill monitor     pilot/control/job.py job_monitor -> pilot/util/monitoring.py should_abort_payload: the kill
                   file $PWD/pilot_kill_payload is looked for once [Pilot] kill_instruction_time (default 60 s;
                   ct_kill is set at start and never updated) has passed, then at every job-monitor loop
                   (~0.5 s). When seen, the payload is killed: no more ranges are handed out, ranges being
                   processed (or whose output message ESProcess has not yet taken) are lost, queued finished
                   ranges are flushed by the executor, updateJob failed, exit 0 (KILLPAYLOAD is no error).
  SIGTERM          finished ranges not yet reported (queued, or whose message is still waiting for ESProcess)
                   are sent at once by the main thread (not through the communicator, which may be blocked),
                   then exit 143.
  worker node      pilot >= 3.10's update_worker_node at start (pilot.py send_workernode_map): this host's name,
                   CPUs, memory and disk as gzip JSON to /api/v1/pilot/update_worker_node, between
                   updateWorkerPilotStatus and getJob; the answer is only logged.
  not modelled     updateJob running heartbeats (every 1800 s), update_worker_node_gpu and getResourceTypes
                   calls, yampl.

FAKE_PILOT_MODE=lockstep keeps the old strictly-in-turn loop: getEventRanges(nRanges) -> process the batch
in this one thread -> one version=1 update for the batch (failures: one version=0 update each, at once)
-> again; the kill file is checked between batches; any HTTP error ends the loop (updateJob failed). It
hides the deadlock of spec 2.4 ("Correction"); use it only where a test needs the strict order.

Environment knobs (all optional):
  FAKE_PILOT_MODE=<m>         pipeline (default) or lockstep, see above
  FAKE_PILOT_REPORT_INTERVAL=<s>  pipeline: seconds between finished-range reports (default 5)
  FAKE_PILOT_COMM_SLEEP=<s>   pipeline: communicator loop sleep and caller poll period (default 1)
  ATHENA_PROC_NUMBER          number of workers W and nRanges per request (default: the job's coreCount)
  FAKE_PILOT_GZIP=1           send getJob/updateJob as gzip-compressed JSON without Content-Encoding
                              (pilot >= 3.7.3); default: form posts like curl (pilot 3.2)
  FAKE_PILOT_FAIL=<sel>       ranges to report as failed (errorCode 1220); <sel> is a comma list of
  FAKE_PILOT_FATAL=<sel>      eventRangeIDs or every:N (the Nth, 2Nth, ... range this pilot hands to a
                              worker, in hand-out order)
  FAKE_PILOT_FAIL_ONCE=<sel>  fail only the first attempt at a range anywhere: attempts are recorded in
                              FAKE_PILOT_STATE_DIR (required then, shared by all nodes)
  FAKE_PILOT_DELAY=<s>        seconds of "processing" per event (per worker: W ranges run in parallel)
  FAKE_PILOT_SLOW_IDS=<ids>:<s>  these eventRangeIDs (comma list) take <s> seconds per event instead
  FAKE_PILOT_EVENT_TIMES=lognormal:<mean>:<sigma>[:<seed>]  instead of FAKE_PILOT_DELAY, each event takes a
                              time drawn from a log-normal distribution with that mean (seconds, e.g. 300 for
                              ATLAS full simulation) and sigma (of the underlying normal), times
                              FAKE_PILOT_TIME_SCALE. The draw is seeded by <seed> (default 1) and the
                              eventRangeID, so a range takes the same time on any node, in any run
                              (benchmarks compare policies on one workload; event_seconds() computes it)
  FAKE_PILOT_TIME_SCALE=<x>   multiplies FAKE_PILOT_EVENT_TIMES' draws (default 1; 0.01: 300 s -> 3 s)
  FAKE_PILOT_TIMES=<path>     append "<eventRangeID> <epoch seconds>" when a worker finished a range (one
                              O_APPEND write per line; benchmarks measure the tail from it)
  FAKE_PILOT_DUPLICATE=1      send every esOutput update twice
  FAKE_PILOT_UNKNOWN_ID=1     add a finished range with an unknown ID (and a real file) to every update
  FAKE_PILOT_MALFORMED=<kind> before every real update, send a malformed one: json (bad JSON, the
                              default for 1), nopfn (finished entry without pfn), noranges (no field)
  FAKE_PILOT_EXIT_AFTER=<n>:<code>  exit with <code> (os._exit) right after the n-th finished-ranges report
                              returned; in the pipeline, other workers still hold leased, unreported ranges
  FAKE_PILOT_CRASH_AFTER=<n>:<code>[:<r>]  exit with <code> (os._exit) the moment a range is finished
                              (its output written, not yet reported) once this pilot has finished at least
                              n ranges and made at least r finished-ranges reports (default 0): a pilot or
                              AthenaMP that dies mid-payload (OOM kill, segfault). The pilot then surely
                              holds leased, unreported ranges: that one, and whatever the other workers are
                              processing; with r > 0 it has made progress first. Logs "crashing with
                              <code> holding <id> finished, unreported".
  FAKE_PILOT_GATE=<path>      while <path> exists, a worker does not finish its range (after its delay it
                              waits, at most 300 s): a stalled payload the test releases by removing the
                              file, so that a test acts while the pilot surely holds leased ranges
  FAKE_PILOT_SLOW_AFTER=<n>:<s>     once n ranges are finished (outputs written, whatever the report
                              timer did), take <s> seconds per event in ranges started from then on (a
                              payload that hangs while pilot and the stub stay alive)
  FAKE_PILOT_IGNORE_END=<n>   a worker that got "No more events" asks again n more times, 1 s apart
                              (-1: until killed); lockstep: after the first [] keep asking n more times
Config ($HARVESTER_PILOT_CONFIG, [Pilot]): pandaserver, http_maxtime (120), kill_instruction_time (60).

Exit codes: 0 done (also after the kill file or a lost update, reported as updateJob failed), 1 no job
(or a bad knob), 2 bad command line, 3 a malformed event range from the server, 143 SIGTERM, or
FAKE_PILOT_EXIT_AFTER's or FAKE_PILOT_CRASH_AFTER's.
"""

import argparse
import collections
import configparser
import gzip
import http.client
import itertools
import json
import math
import os
import platform
import queue
import random
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from datetime import datetime, timezone

RANGE_KEYS = {"PFN", "lastEvent", "eventRangeID", "startEvent", "GUID"}
CONNECT_RETRY_SECONDS = 30      # refused connections are retried this long after the start
DEFAULT_HTTP_MAXTIME = 120      # pilot/util/default.cfg [Pilot] http_maxtime
DEFAULT_KILL_INSTRUCTION_TIME = 60  # pilot/util/default.cfg [Pilot] kill_instruction_time
MONITOR_LOOP_SECONDS = 0.5      # pilot/control/job.py job_monitor: time.sleep(0.5) per loop
IGNORE_END_PAUSE = 1.0
GATE_MAX_SECONDS = 300          # FAKE_PILOT_GATE: the longest a worker waits for the test
NO_MORE = "No more events"
KILLED = "killed"               # payload killed: a worker's reply box gets this
START = time.monotonic()

_log_lock = threading.Lock()


class Terminated(Exception):
    """Raised from the SIGTERM handler (outside the pipeline) so that blocking HTTP calls are interrupted too."""


class HttpError(Exception):
    def __init__(self, message, transport=True):
        super().__init__(message)
        self.transport = transport  # curl would have failed (timeout, connection): pilot tries again


class UpdateFailed(HttpError):
    """An updateEventRanges call failed (both attempts): pilot's executor fails."""


class CommunicationFailure(Exception):
    """pilot's CommunicationFailure for getEventRanges: None, a non-zero StatusCode, or a bad reply."""


class ProtocolError(Exception):
    """The server sent something pilot would choke on (a malformed event range)."""


def log(message):
    name = threading.current_thread().name
    prefix = "fake_pilot:" if name == "MainThread" else f"fake_pilot[{name}]:"
    line = f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {prefix} {message}"
    with _log_lock:
        print(line, flush=True)
        try:
            with open(os.path.join(os.getcwd(), "pilotlog.txt"), "a") as f:
                f.write(line + "\n")
        except OSError:
            pass


def parse_args(argv):
    # Every flag production passes (docs/pilot-protocol.md); anything else is an error (exit 2).
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


def pilot_config():
    cfg = configparser.ConfigParser(interpolation=None)
    path = os.environ.get("HARVESTER_PILOT_CONFIG")
    if path:
        cfg.read(path)
    return cfg


def config_seconds(cfg, key, default):
    try:
        value = float(cfg.get("Pilot", key, fallback=str(default)))
        return value if value > 0 else default
    except ValueError:
        return default


def server_url(args, cfg):
    if args.direct:
        return args.direct.rstrip("/")
    return cfg.get("Pilot", "pandaserver", fallback="http://127.0.0.1:8080").rstrip("/")


def env_float(name, default):
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        sys.exit(f"fake_pilot.py: {name}={os.environ.get(name)!r} is not a number")


def cpu_model():
    """/proc/cpuinfo's first "model name", as pilot's get_cpu_model reads it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def total_memory_mb():
    """MemTotal in MB, an int as pilot's get_workernode_map sends it."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Server:
    def __init__(self, url, use_gzip, timeout):
        self.url = url
        self.use_gzip = use_gzip
        self.timeout = timeout

    def post(self, name, data, as_gzip_json=False, path=None, headers=None):
        """One request on a new connection (one curl run); returns the decoded JSON reply or raises HttpError.
        `path` replaces /server/panda/<name> (pilot's API v1 calls); `headers` are added."""
        if as_gzip_json:
            body = gzip.compress(json.dumps(data).encode())
            content_type = "application/json"
        else:
            body = urllib.parse.urlencode({k: str(v) for k, v in data.items()}).encode()  # quote_plus
            content_type = "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.url + (path or f"/server/panda/{name}"), data=body, method="POST",
            headers={"Content-Type": content_type, "Accept": "application/json", **(headers or {})})
        while True:
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                    text = reply.read()
                break
            except urllib.error.HTTPError as e:  # curl without -f: the body is the output
                text = e.read()
                break
            except urllib.error.URLError as e:
                if (isinstance(e.reason, ConnectionRefusedError)
                        and time.monotonic() < START + CONNECT_RETRY_SECONDS):
                    time.sleep(0.2)
                    continue
                raise HttpError(f"{name}: {e}") from None
            except (OSError, socket.timeout, http.client.HTTPException) as e:
                raise HttpError(f"{name}: {e or type(e).__name__}") from None
        try:
            return json.loads(text)
        except ValueError:
            raise HttpError(f"{name}: reply is not JSON: {text[:200]!r}", transport=False) from None

    def job_call(self, name, data):
        return self.post(name, data, as_gzip_json=self.use_gzip)


class Selector:
    """FAKE_PILOT_FAIL-style selection: comma list of range IDs, or every:N over handed-out ranges."""

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


class CommRequest:
    def __init__(self, name, data):
        self.name = name
        self.data = data
        self.reply = None        # the decoded reply, or None: failed (both attempts) or aborted
        self.aborted = False
        self.done = threading.Event()


class Communicator:
    """CommunicationManager.run (communicationmanager.py) with the PandaCommunicator plugin: one thread."""

    # dict order of CommunicationManager.get_processor(), event queues only
    ORDER = ("request_get_events", "update_events", "processing_get_events")
    LIMITS = {"processing_get_events": 1}

    def __init__(self, pilot, sleep):
        self.pilot = pilot
        self.sleep = sleep
        self.lock = threading.Lock()
        self.queues = {name: collections.deque() for name in self.ORDER}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, name="communicator", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_event.set()

    def call(self, queue_name, name, data):
        """Queues a request and waits for it like CommunicationManager.get_event_ranges/update_events:
        polling req.response every `sleep` seconds. None if the communicator is stopping."""
        req = CommRequest(name, data)
        with self.lock:
            if self.stop_event.is_set():
                return None
            self.queues[queue_name].append(req)
        while not req.done.is_set():
            time.sleep(self.sleep)
        return None if req.aborted else req

    def next_request(self, name):
        """Takes the next request of a queue if it may be processed (can_process_request)."""
        with self.lock:
            q = self.queues[name]
            if not q:
                return None
            if name == "request_get_events" and len(self.queues["processing_get_events"]) >= 1:
                return None
            req = q.popleft()
            if name == "request_get_events":  # pandacommunicator.request_get_events: no HTTP, move on
                self.queues["processing_get_events"].append(req)
            return req

    def run(self):
        while True:
            has_req = False
            for name in self.ORDER:
                if self.stop_event.is_set():
                    with self.lock:
                        reqs = list(self.queues[name])
                        self.queues[name].clear()
                    for req in reqs:
                        log(f"is going to stop, aborting request {req.name}")
                        req.aborted = True
                        req.done.set()
                    continue
                req = self.next_request(name)
                if req is None:
                    continue
                has_req = True
                if name == "request_get_events":
                    continue
                try:
                    req.reply = self.pilot.pilot_request(req.name, req.data)  # blocks: one call at a time
                except Exception as e:  # pandacommunicator: any exception -> a failed response
                    log(f"{req.name} failed: {e!r}")
                    req.reply = None
                req.done.set()
            if not has_req and self.stop_event.is_set():
                break
            self.stop_event.wait(self.sleep)
        log("communication manager finished")


def parse_event_times(text):
    """FAKE_PILOT_EVENT_TIMES: lognormal:<mean>:<sigma>[:<seed>] -> (mean, sigma, seed); "" -> None."""
    if not text:
        return None
    parts = text.split(":")
    try:
        if parts[0] != "lognormal" or len(parts) not in (3, 4):
            raise ValueError
        mean, sigma = float(parts[1]), float(parts[2])
        seed = parts[3] if len(parts) == 4 else "1"
        if not (mean > 0 and sigma >= 0 and math.isfinite(mean) and math.isfinite(sigma)):
            raise ValueError
    except ValueError:
        sys.exit(f"fake_pilot.py: FAKE_PILOT_EVENT_TIMES={text}: expected lognormal:<mean > 0>:<sigma >= 0>[:<seed>]")
    return mean, sigma, seed


def event_seconds(event_times, range_id, events):
    """Seconds of "processing" for a range of `events` events: the sum of one log-normal draw per event,
    seeded by the seed and the range id (unscaled)."""
    mean, sigma, seed = event_times
    rng = random.Random(f"{seed}:{range_id}")
    mu = math.log(mean) - sigma * sigma / 2  # so that the distribution's mean is `mean`
    return sum(rng.lognormvariate(mu, sigma) for _ in range(max(1, events)))


class FakePilot:
    def __init__(self, args):
        self.args = args
        cfg = pilot_config()
        self.http_maxtime = config_seconds(cfg, "http_maxtime", DEFAULT_HTTP_MAXTIME)
        self.kill_instruction_time = config_seconds(cfg, "kill_instruction_time", DEFAULT_KILL_INSTRUCTION_TIME)
        self.server = Server(server_url(args, cfg), os.environ.get("FAKE_PILOT_GZIP") == "1", self.http_maxtime)
        self.mode = os.environ.get("FAKE_PILOT_MODE", "") or "pipeline"
        if self.mode not in ("pipeline", "lockstep"):
            sys.exit(f"fake_pilot.py: FAKE_PILOT_MODE={self.mode}: expected pipeline or lockstep")
        self.report_interval = max(0.01, env_float("FAKE_PILOT_REPORT_INTERVAL", 5.0))
        self.comm_sleep = max(0.01, env_float("FAKE_PILOT_COMM_SLEEP", 1.0))
        self.fail = Selector(os.environ.get("FAKE_PILOT_FAIL"))
        self.fatal = Selector(os.environ.get("FAKE_PILOT_FATAL"))
        self.fail_once = Selector(os.environ.get("FAKE_PILOT_FAIL_ONCE"))
        self.state_dir = os.environ.get("FAKE_PILOT_STATE_DIR", "")
        if (self.fail_once.ids or self.fail_once.every) and not self.state_dir:
            sys.exit("fake_pilot.py: FAKE_PILOT_FAIL_ONCE needs FAKE_PILOT_STATE_DIR")
        self.delay = env_float("FAKE_PILOT_DELAY", 0.0)
        slow_ids = os.environ.get("FAKE_PILOT_SLOW_IDS", "")
        self.slow_ids, self.slow_ids_delay = set(), 0.0
        if slow_ids:
            ids, _, seconds = slow_ids.rpartition(":")
            self.slow_ids = {x.strip() for x in ids.split(",") if x.strip()}
            self.slow_ids_delay = float(seconds)
        self.event_times = parse_event_times(os.environ.get("FAKE_PILOT_EVENT_TIMES", ""))
        self.time_scale = env_float("FAKE_PILOT_TIME_SCALE", 1.0)
        if self.time_scale < 0:
            sys.exit("fake_pilot.py: FAKE_PILOT_TIME_SCALE must not be negative")
        self.duplicate = os.environ.get("FAKE_PILOT_DUPLICATE") == "1"
        self.unknown_id = os.environ.get("FAKE_PILOT_UNKNOWN_ID") == "1"
        malformed = os.environ.get("FAKE_PILOT_MALFORMED", "")
        self.malformed = "json" if malformed == "1" else malformed
        self.gate = os.environ.get("FAKE_PILOT_GATE", "")
        crash_after = os.environ.get("FAKE_PILOT_CRASH_AFTER", "")
        self.crash_after = None
        if crash_after:
            parts = [int(x) for x in crash_after.split(":")]
            self.crash_after = (parts[0], parts[1], parts[2] if len(parts) > 2 else 0)
        exit_after = os.environ.get("FAKE_PILOT_EXIT_AFTER", "")
        self.exit_after = tuple(int(x) for x in exit_after.split(":", 1)) if exit_after else None
        self.ignore_end = int(os.environ.get("FAKE_PILOT_IGNORE_END", "0") or 0)
        slow_after = os.environ.get("FAKE_PILOT_SLOW_AFTER", "")
        self.slow_after = (int(slow_after.split(":")[0]), float(slow_after.split(":")[1])) if slow_after else None
        self.job = {}
        self.workdir = ""
        self.n_workers = 1
        self.n_ranges = 1
        self.processed = 0      # ranges handed out so far (ordinal for every:N)
        self.finished_events = 0
        self.ranges_done = 0    # ranges whose output is written (FAKE_PILOT_SLOW_AFTER counts these)
        self.batches = 0        # finished-ranges reports made (lockstep: batches)
        # shared state; self.lock guards finished/queued/outcome/finished_events
        self.lock = threading.Lock()
        self.tls = threading.local()
        self.tokens = itertools.count(1)
        self.finished = {}      # token -> (entry, events): file written, message not yet taken by ESProcess
        self.queued = []        # (entry, events): taken by ESProcess, waiting for the executor's report
        self.outcome = None     # None (finished), "killed", "error" or "protocol"
        self.terminating = False
        self.sigterm = False
        self.in_pipeline = False
        self.killed = threading.Event()         # the payload was killed (kill file, lost update, bad range)
        self.payload_done = threading.Event()   # the ESProcess thread has ended
        self.executor_done = threading.Event()
        self.inbox = queue.Queue()              # ESProcess's message queue: (kind, worker, payload)
        self.boxes = []                         # per worker: what ESProcess sends it
        self.comm = None

    # ---- job updates (pilot's job threads; here the main thread, straight to the server) ----

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

    def worker_node(self):
        """pilot >= 3.10 at start (pilot.py send_workernode_map, util/workernode.py get_workernode_map): the
        node's hardware as gzip JSON to /api/v1/pilot/update_worker_node, the keys and kinds of pilot
        3.11.5.1's call (tests/fixtures/upstream/pilot3-3.11.5.1-wire.json); pilot only logs the answer."""
        data = {
            "site": self.args.queue, "panda_queue": self.args.queue, "host_name": socket.gethostname(),
            "cpu_model": cpu_model(), "n_logical_cpus": os.cpu_count() or 1, "n_sockets": 1,
            "cores_per_socket": os.cpu_count() or 1, "threads_per_core": 1, "cpu_architecture": platform.machine(),
            "cpu_architecture_level": "", "total_memory": total_memory_mb(),
            "total_local_disk": shutil.disk_usage(os.getcwd()).total // 1000 ** 3, "clock_speed": 2445.406,
        }
        try:
            reply = self.server.post("update_worker_node", data, as_gzip_json=True,
                                     path="/api/v1/pilot/update_worker_node", headers={"Content-Encoding": "gzip"})
            log(f"update_worker_node -> {reply}")
        except HttpError as e:
            log(f"update_worker_node failed: {e}")

    # ---- event-range calls ----

    def pilot_request(self, name, data):
        """pilot/util/https.py request(): a failed curl is run a second time (IPv6, then IPv4), then None."""
        for attempt, ipv in enumerate(("IPv6", "IPv4"), 1):
            try:
                return self.server.post(name, data)
            except HttpError as e:
                if not e.transport:
                    log(f"{name}: {e}")
                    return None
                log(f"{name}: request failed for IPv={ipv} (attempt {attempt} of 2): {e}")
        return None

    def post_update(self, data, direct):
        """One updateEventRanges: direct (lockstep, SIGTERM flush) or through the communicator."""
        if direct:
            return self.server.post("updateEventRanges", data)
        req = self.comm.call("update_events", "updateEventRanges", data)
        if req is None:
            raise UpdateFailed("updateEventRanges: the communicator is stopping", transport=False)
        if req.reply is None:
            raise UpdateFailed("updateEventRanges failed (both attempts)")
        return req.reply

    def send_ranges_update(self, version, ranges_list, direct=False):
        reply = self.post_update({"version": version, "eventRanges": json.dumps(ranges_list)}, direct)
        n = sum(len(b["eventRanges"]) for b in ranges_list) if version == 1 else len(ranges_list)
        log(f"updateEventRanges version={version} n={n} -> {reply}")
        return reply

    def send_malformed(self, direct=False):
        if self.malformed == "noranges":
            data = {"version": 1}
        elif self.malformed == "nopfn":
            data = {"version": 1, "eventRanges": json.dumps([{"esOutput": {"numEvents": 1}, "eventRanges": [
                {"eventRangeID": "malformed-1", "eventStatus": "finished", "fsize": 1, "adler32": "00000001"}]}])}
        else:
            data = {"version": 1, "eventRanges": '[{"esOutput": {"numEvents": 1}, "eventRanges": ['}
        reply = self.post_update(data, direct)
        status = reply.get("StatusCode") if isinstance(reply, dict) else reply
        log(f"malformed ({self.malformed}) updateEventRanges -> StatusCode={status}")

    def send_failure(self, message, direct=False):
        # raythenaexecutor.update_failed_event_ranges: one version=0 request per failed range
        self.send_ranges_update(0, [{"errorCode": 1220, "eventRangeID": message["id"],
                                     "eventStatus": message["status"]}], direct)

    def report(self, items, direct=False):
        """raythenaexecutor.update_finished_event_ranges: one version=1 esOutput update for `items`."""
        entries = [entry for entry, _ in items]
        if self.unknown_id:
            entries.append(self.write_output({"eventRangeID": f"fake-unknown-{self.batches}", "GUID": "unknown",
                                              "startEvent": 1, "lastEvent": 1, "PFN": "unknown"}))
        if self.malformed:
            self.send_malformed(direct)
        update = [{"esOutput": {"numEvents": len(entries)}, "eventRanges": entries}]
        for _ in range(2 if self.duplicate else 1):
            self.send_ranges_update(1, update, direct)
        with self.lock:
            self.finished_events += sum(n for _, n in items)

    def get_event_ranges(self, n_ranges):
        """baseexecutor.get_event_ranges (raythena: queue_factor 1) -> pandacommunicator.get_events."""
        req = self.comm.call("request_get_events", "getEventRanges", self.get_fields(n_ranges))
        if req is None:
            raise CommunicationFailure("the communicator is stopping")
        reply = req.reply
        if reply is None:
            raise CommunicationFailure("Get events from panda returns None as return value")
        if not isinstance(reply, dict) or "StatusCode" not in reply:
            raise CommunicationFailure(f"bad reply {reply!r}")
        if reply["StatusCode"] not in (0, "0"):
            raise CommunicationFailure(f"Get events from panda returns non-zero value: {reply['StatusCode']}")
        ranges = reply.get("eventRanges")
        if not isinstance(ranges, list):
            raise CommunicationFailure(f"no eventRanges list in {reply}")
        log(f"getEventRanges nRanges={n_ranges} -> {len(ranges)} range(s)")
        return ranges

    def get_fields(self, n_ranges):
        return {"pandaID": self.job["PandaID"], "jobsetID": self.job.get("jobsetID", ""),
                "taskID": self.job.get("taskID", ""), "nRanges": n_ranges}

    # ---- AthenaMP: one range ----

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

    def record_time(self, range_id):
        path = os.environ.get("FAKE_PILOT_TIMES")
        if not path:
            return
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, ("%s %.6f\n" % (range_id, time.time())).encode())
        finally:
            os.close(fd)

    def failure_status(self, range_id, ordinal):
        if self.fatal(range_id, ordinal):
            return "fatal"
        if self.fail(range_id, ordinal):
            return "failed"
        if self.fail_once(range_id, ordinal) and first_attempt(self.state_dir, range_id):
            return "failed"
        return None

    def process(self, r):
        """Simulates one range (called once per range a worker starts: tests/integration/recording_pilot.py
        wraps it). Returns the worker's output message, or None if the payload was killed meanwhile."""
        if not isinstance(r, dict) or set(r) != RANGE_KEYS:
            raise ProtocolError(f"event range {r} does not have exactly the keys {sorted(RANGE_KEYS)}")
        if not (isinstance(r["startEvent"], int) and isinstance(r["lastEvent"], int)) or r["startEvent"] > r["lastEvent"]:
            raise ProtocolError(f"event range {r['eventRangeID']}: bad startEvent/lastEvent")
        range_id = r["eventRangeID"]
        events = r["lastEvent"] - r["startEvent"] + 1
        if range_id in self.slow_ids:
            seconds = self.slow_ids_delay * events
        elif self.event_times and not (self.slow_after and self.ranges_done >= self.slow_after[0]):
            seconds = event_seconds(self.event_times, range_id, events) * self.time_scale
        else:
            seconds = self.delay * events
        if seconds and self.killed.wait(seconds):
            return None
        if self.gate:
            deadline = time.monotonic() + GATE_MAX_SECONDS
            while os.path.exists(self.gate) and time.monotonic() < deadline:
                if self.killed.wait(0.05):
                    return None
        status = self.failure_status(range_id, self.tls.ordinal)
        if status:
            return {"id": range_id, "status": status}
        with self.lock:  # the file and its registration together: a SIGTERM flush sees both or neither
            if self.killed.is_set() or self.terminating:
                return None
            entry = self.write_output(r)
            self.record_time(range_id)
            token = next(self.tokens)
            self.finished[token] = (entry, events)
            self.ranges_done += 1
            if (self.crash_after and self.ranges_done >= self.crash_after[0]
                    and self.batches >= self.crash_after[2]):
                log(f"crashing with {self.crash_after[1]} holding {range_id} finished, unreported "
                    f"(FAKE_PILOT_CRASH_AFTER)")
                hard_exit(self.crash_after[1])
            if self.slow_after and self.ranges_done == self.slow_after[0]:
                log(f"{self.slow_after[1]} s per event from now on (FAKE_PILOT_SLOW_AFTER)")
                self.delay = self.slow_after[1]
        return {"id": range_id, "status": "finished", "token": token}

    # ---- pipeline threads ----

    def worker_run(self, wid):
        extra = None
        try:
            while not self.killed.is_set():
                self.inbox.put(("ready", wid, None))
                item = self.boxes[wid].get()
                if item == KILLED:
                    return
                if item == NO_MORE:
                    if extra is None:
                        extra = self.ignore_end
                    if extra == 0:
                        return
                    extra -= 1
                    log(f"worker {wid}: no more events, asking again (FAKE_PILOT_IGNORE_END)")
                    if self.killed.wait(IGNORE_END_PAUSE):
                        return
                    continue
                r, self.tls.ordinal = item
                try:
                    message = self.process(r)
                except ProtocolError as e:
                    log(f"protocol violation: {e}")
                    self.abort_payload("protocol")
                    return
                if message is None:
                    log(f"worker {wid}: killed while processing {r.get('eventRangeID')}: lost")
                    return
                self.inbox.put(("out", wid, message))
        except Exception as e:  # a crashed AthenaMP worker fails the payload
            log(f"worker {wid} crashed: {e!r}")
            self.abort_payload("error")
        finally:
            self.inbox.put(("exit", wid, None))

    def esprocess_run(self):
        cache = collections.deque()
        alive = self.n_workers
        try:
            while alive > 0 and not self.killed.is_set():
                kind, wid, payload = self.inbox.get()
                if self.killed.is_set():
                    break
                if kind == "exit":
                    alive -= 1
                elif kind == "ready":
                    if not cache:
                        try:
                            cache.extend(self.get_event_ranges(self.n_ranges))
                        except CommunicationFailure as e:
                            log(f"failed to get event ranges: {e}")
                        if self.killed.is_set():
                            break
                    if cache:
                        self.processed += 1
                        self.boxes[wid].put((cache.popleft(), self.processed))
                    else:
                        self.boxes[wid].put(NO_MORE)
                elif kind == "out":
                    self.handle_out_message(payload)
        except Exception as e:
            log(f"ESProcess crashed: {e!r}")
            self.abort_payload("error")
        finally:
            if cache:
                log(f"{len(cache)} fetched range(s) were never handed to a worker")
            log(f"ESProcess finished ({'payload killed' if self.killed.is_set() else 'all workers ended'})")
            self.payload_done.set()

    def handle_out_message(self, message):
        """raythenaexecutor.handle_out_message: failures at once (blocking this thread), finished -> queued."""
        if message["status"] in ("failed", "fatal"):
            try:
                self.send_failure(message)
            except UpdateFailed as e:
                self.fail_executor(e)
            return
        with self.lock:
            item = self.finished.pop(message["token"], None)
            if item is not None:
                self.queued.append(item)

    def executor_run(self):
        try:
            while not self.payload_done.wait(self.report_interval):
                if self.outcome == "error":
                    break
                self.stageout()
            if self.outcome != "error":
                self.stageout()  # stageout_es(force=True)
        except Exception as e:  # UpdateFailed, or a crash
            self.fail_executor(e)
        finally:
            self.comm.stop()
            log("executor finished")
            self.executor_done.set()

    def stageout(self):
        with self.lock:
            items, self.queued = self.queued, []
        if not items:
            return
        self.report(items)
        self.batches += 1
        self.after_report()

    def after_report(self):
        if self.exit_after and self.batches == self.exit_after[0]:
            log(f"exiting with {self.exit_after[1]} after {self.batches} reports (FAKE_PILOT_EXIT_AFTER)")
            if self.mode == "lockstep":
                sys.exit(self.exit_after[1])
            hard_exit(self.exit_after[1])

    def monitor_run(self):
        """job_monitor -> should_abort_payload: first look after kill_instruction_time, then every loop."""
        kill_file = os.path.join(os.getcwd(), "pilot_kill_payload")
        if self.payload_done.wait(self.kill_instruction_time):
            return
        while not os.path.exists(kill_file):
            if self.payload_done.wait(MONITOR_LOOP_SECONDS):
                return
        log("kill file found: killing the payload")
        self.abort_payload("killed")

    def abort_payload(self, reason):
        with self.lock:
            if self.outcome is None:
                self.outcome = reason
        self.killed.set()
        self.inbox.put(("wake", None, None))
        for box in self.boxes:
            box.put(KILLED)

    def fail_executor(self, error):
        log(f"executor failed: {error}")
        self.abort_payload("error")

    def pipeline(self):
        self.comm = Communicator(self, self.comm_sleep)
        self.boxes = [queue.Queue() for _ in range(self.n_workers)]
        threads = [threading.Thread(target=self.esprocess_run, name="esprocess", daemon=True),
                   threading.Thread(target=self.executor_run, name="executor", daemon=True),
                   threading.Thread(target=self.monitor_run, name="monitor", daemon=True)]
        threads += [threading.Thread(target=self.worker_run, args=(w,), name=f"worker-{w}", daemon=True)
                    for w in range(self.n_workers)]
        log(f"pipeline: {self.n_workers} worker(s), nRanges={self.n_ranges}, report every "
            f"{self.report_interval} s, http_maxtime {self.http_maxtime} s")
        self.in_pipeline = True
        self.comm.start()
        for t in threads:
            t.start()
        while not self.executor_done.wait(0.2):
            if self.sigterm:
                return "terminated"
        self.in_pipeline = False
        return self.outcome or "finished"

    def sigterm_flush(self):
        with self.lock:
            self.terminating = True
            items = self.queued + list(self.finished.values())
            self.queued, self.finished = [], {}
        self.killed.set()
        if items:
            try:
                self.report(items, direct=True)
            except HttpError as e:
                log(f"flush failed: {e}")

    # ---- lockstep mode (the old loop) ----

    def lockstep_get(self, n_ranges):
        reply = self.server.post("getEventRanges", self.get_fields(n_ranges))
        if not isinstance(reply, dict) or reply.get("StatusCode", 0) not in (0, "0"):
            raise HttpError(f"getEventRanges: reply {reply}")
        ranges = reply.get("eventRanges")
        if not isinstance(ranges, list):
            raise HttpError(f"getEventRanges: no eventRanges list in {reply}")
        return ranges

    def lockstep_flush(self):
        with self.lock:
            items = list(self.finished.values())
            self.finished = {}
        if items:
            self.report(items, direct=True)

    def lockstep(self):
        kill_file = os.path.join(os.getcwd(), "pilot_kill_payload")
        extra_polls = None
        while True:
            if os.path.exists(kill_file):
                log("kill file found: stopping")
                return "killed"
            ranges = self.lockstep_get(self.n_ranges)
            if not ranges:
                if extra_polls is None:
                    extra_polls = self.ignore_end
                if extra_polls == 0:
                    return "finished"
                extra_polls -= 1
                log("no more ranges, asking again (FAKE_PILOT_IGNORE_END)")
                time.sleep(IGNORE_END_PAUSE)
                continue
            for r in ranges:
                self.processed += 1
                self.tls.ordinal = self.processed
                message = self.process(r)
                if message["status"] != "finished":
                    self.send_failure(message, direct=True)  # pilot sends every failure at once
            self.lockstep_flush()
            self.batches += 1
            self.after_report()

    def safe_flush(self):
        try:
            self.lockstep_flush()
        except HttpError as e:
            log(f"flush failed: {e}")

    def run_lockstep(self):
        try:
            outcome = self.lockstep()
        except HttpError as e:
            log(f"event loop stopped: {e}")
            outcome = "error"
        except ProtocolError as e:
            log(f"protocol violation: {e}")
            self.safe_flush()
            return "protocol"
        except Terminated:
            log("SIGTERM: flushing and exiting with 143")
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.safe_flush()
            return "terminated"
        self.safe_flush()
        return outcome

    # ---- main ----

    def run(self):
        self.worker_status("started")
        self.worker_node()
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
            self.n_workers = max(1, int(os.environ.get("ATHENA_PROC_NUMBER") or job.get("coreCount") or 1))
        except ValueError:
            self.n_workers = 1
        self.n_ranges = self.n_workers  # ESProcess.get_event_ranges: num_ranges = corecount

        outcome = self.pipeline() if self.mode == "pipeline" else self.run_lockstep()
        if outcome == "terminated":
            if self.mode == "pipeline":
                log("SIGTERM: flushing and exiting with 143")
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                self.sigterm_flush()
            return 143
        if outcome == "protocol":
            self.update_job("failed")
            return 3
        self.update_job("finished" if outcome == "finished" else "failed")
        self.worker_status("finished")
        return 0


_pilot = None


def on_sigterm(signum, frame):
    if _pilot is not None and _pilot.in_pipeline:
        _pilot.sigterm = True  # the main thread's wait loop sees it; other threads keep their locks
    else:
        raise Terminated()


def hard_exit(code):
    """Ends the process now, whatever the other threads are blocked in."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def main():
    global _pilot
    args = parse_args(sys.argv[1:])
    signal.signal(signal.SIGTERM, on_sigterm)
    open(os.path.join(os.getcwd(), "pilotlog.txt"), "a").close()
    try:
        _pilot = FakePilot(args)
        code = _pilot.run()
    except Terminated:  # before the event loop, or in the final updates: nothing to flush
        code = 143
    hard_exit(code)


if __name__ == "__main__":
    sys.exit(main())
