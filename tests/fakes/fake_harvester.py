#!/usr/bin/env python3
"""Fake Harvester: the shared-file messenger side of an unmodified Harvester, for tests and demos.

It reads the same panda_harvester.cfg as raythenad ([payload_interaction] file names, Harvester's default
jobSpecFile=pandaJobData.out) and acts on one access point (harvester-messenger spec §3, §5):

  run         poll the access point every --poll-ms and behave like Harvester:
                early mode: write the job at start (spec, PoolFileCatalog, dummy inputs, pandaIDs, in that order);
                late mode:  the same when the job request appears, deleting the request last;
                event ranges: answer each event request with min(nRanges, remaining) ranges, IDs
                  <taskID>-<PandaID>-<fileNo>-<evt>-1, relative LFNs, written in place, then delete the request;
                  [] when exhausted;
                status dumps: claim event_status dump (.read; an unacknowledged .read is processed first and a
                  new dump ignored), derive updateEventsFile via .new + rename, claim it, and acknowledge both
                  by renaming to .read.<%Y-%m-%d_%H_%M_%S.%f UTC>; bad JSON is deleted (lost), as Harvester does.
              Everything received is appended to --record as JSON lines ({"kind": ..., "time": <epoch s>, ...}).
  make-job    only write a job (spec, PFC, dummy EVNT inputs, pandaIDs) into --endpoint, optionally a cfg.
  post-process  read task_workdir_path.txt, the task state file and report; print outputs and skippedInputs.

Fault switches (run): --delay S (before each answer), --half-write (write half, pause --pause S, finish),
--malformed (the first job answer and the first ranges answer are broken JSON), --stale (leave a ranges
answer and an event_status dump .tmp from an "earlier run" at start), --delete-request-early (the first
event request is deleted without an answer: Harvester's deletion race), --prefetch (first ranges answer
without a request), --cgi (job spec URL-encoded: jobSpecFileFormat=cgi).

Pacing of the event ranges (run):
  --delays LIST  comma-separated seconds to wait before each ranges answer, by answer index (0 = the first
                 answer, also a malformed or --prefetch one; the last value repeats), counted from when the
                 request is seen. Overrides --delay for ranges answers only (job answers still use --delay).
                 Unlike --delay the wait does not stop the poll loop: status dumps are claimed meanwhile, as
                 Harvester's other agents do while the event request waits.
  --batch N      serve at most N ranges per answer whatever nRanges the request asks for, so that the job
                 needs several answers (the request is answered and deleted; raythenad asks again).

Examples:
  fake_harvester.py make-job --endpoint /tmp/ap --inputs 4 --events 50 --events-per-output 25 --write-cfg /tmp/ap.cfg
  fake_harvester.py run --cfg /tmp/ap.cfg --endpoint /tmp/ap --mode late --inputs 2 --events 4 --record /tmp/rec.jsonl
  fake_harvester.py run --cfg /tmp/ap.cfg --endpoint /tmp/ap --mode early --inputs 3 --events 8 --batch 6 --delays 0,3,15
"""
import argparse
import configparser
import datetime
import json
import os
import signal
import sys
import time
import urllib.parse

DEFAULT_NAMES = {
    "jobRequestFile": "worker_requestjob.json",
    "jobSpecFile": "HPCJobs.json",
    "xmlPoolCatalogFile": "PoolFileCatalog_H.xml",
    "pandaIDsFile": "worker_pandaids.json",
    "eventRequestFile": "worker_requestevents.json",
    "eventRangesFile": "JobsEventRanges.json",
    "eventStatusDumpJsonFile": "event_status.dump.json",
    "updateEventsFile": "worker_updateevents.json",
    "jobReportFile": "jobReport.json",
}


def load_names(cfg_path):
    """File names from [payload_interaction]; without a cfg, the template values."""
    if not cfg_path:
        return dict(DEFAULT_NAMES)
    cp = configparser.ConfigParser()
    cp.optionxform = str  # Harvester keeps key case
    cp.read(cfg_path)
    sec = cp["payload_interaction"] if cp.has_section("payload_interaction") else {}
    names = {}
    lower = {k.lower(): v for k, v in sec.items()}
    for key in DEFAULT_NAMES:
        val = lower.get(key.lower())
        if val is None:
            val = "pandaJobData.out" if key == "jobSpecFile" else DEFAULT_NAMES[key]
        if val.startswith("$"):
            val = os.path.expandvars(val)
        names[key] = val
    return names


def write_cfg(path, names):
    with open(path, "w") as f:
        f.write("# written by fake_harvester.py\n[payload_interaction]\n")
        for k, v in names.items():
            f.write("%s = %s\n" % (k, v))
        f.write("\n[cacher]\ndata =\n    main||http://localhost/unused\n")


def make_job(a):
    """The job dict Harvester would write, for a.inputs files of a.events events."""
    e, h = a.events, a.events_per_output
    if e % h and h % e:
        raise SystemExit("events and events-per-output must divide one another")
    n_out = a.inputs * e // h if h < e else -(-a.inputs // (h // e))
    inputs = ["EVNT.%d._%06d.pool.root.1" % (a.task_id - 1, i + 1) for i in range(a.inputs)]
    guids = ["00000000-0262-5A01-0000-%012d" % (i + 1) for i in range(a.inputs)]
    outputs = ["HITS.%d._%06d.pool.root.1" % (a.task_id, i + 1) for i in range(n_out)]
    log = "log.%d._000001.job.log.tgz.1" % a.task_id
    job = {
        "PandaID": a.panda_id, "taskID": a.task_id, "jobsetID": a.jobset_id, "attemptNr": 1, "StatusCode": 0,
        "jobName": "fake.%d.%d" % (a.task_id, a.panda_id), "prodSourceLabel": "managed", "eventService": "true",
        "transformation": "Sim_tf.py", "swRelease": "Atlas-23.0.1", "cmtConfig": "x86_64-el9-gcc13-opt",
        "container_name": "", "coreCount": a.core_count, "destinationSE": "FAKE_QUEUE",
        "jobPars": "--inputEVNTFile=%s --outputHITSFile=HITS.%d._[%s].pool.root --maxEvents=%d --multiprocess=True"
                   % (",".join(inputs), a.task_id, ",".join("%06d" % (i + 1) for i in range(n_out)), e),
        "inFiles": ",".join(inputs), "GUID": ",".join(guids), "scopeIn": "mc23_13p6TeV",
        "nEventsPerInputFile": e,
        "esmergeSpec": {"transPath": a.trans_path,
                        "jobParameters": "--inputHitsFile=@inputFor_${OUTPUT0} --outputHitsFile=${OUTPUT0} --maxEvents=-1",
                        "nEventsPerOutputFile": h},
        "outFiles": ",".join(outputs + [log]), "logFile": log, "logGUID": "00000000-0000-0000-0000-00000000f00d",
    }
    return job, inputs, guids


def write_in_place(path, text, half_write=False, pause=1.0):
    """Harvester dumps its answers in place (not atomically); --half-write shows a reader half of it first."""
    with open(path, "w") as f:
        if half_write and len(text) > 2:
            f.write(text[: len(text) // 2])
            f.flush()
            time.sleep(pause)
            f.write(text[len(text) // 2:])
        else:
            f.write(text)


def feed_job(ep, names, a, broken=False):
    """Spec, PFC, dummy inputs, pandaIDs: the submitter's order (spec §3.1)."""
    job, inputs, guids = make_job(a)
    spec_path = os.path.join(ep, names["jobSpecFile"])
    if broken:
        text = '{"%d": {"PandaID": %d, "taskID": ' % (a.panda_id, a.panda_id)
    elif a.cgi:
        text = urllib.parse.urlencode({k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in job.items()})
    else:
        text = json.dumps({str(a.panda_id): job})
    write_in_place(spec_path, text, getattr(a, "half_write", False), getattr(a, "pause", 1.0))
    with open(os.path.join(ep, names["xmlPoolCatalogFile"]), "w") as f:
        f.write('<?xml version="1.0" ?>\n<!DOCTYPE POOLFILECATALOG  SYSTEM "InMemory">\n<POOLFILECATALOG>\n')
        for lfn, guid in zip(inputs, guids):
            f.write('  <File ID="%s">\n    <physical>\n      <pfn filetype="ROOT_All" name="%s"/>\n'
                    '    </physical>\n    <logical/>\n  </File>\n' % (guid, lfn))
        f.write("</POOLFILECATALOG>\n")
    for lfn in inputs:
        p = os.path.join(ep, lfn)
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(b"FAKE-EVNT " + lfn.encode() + b"\n")
    with open(os.path.join(ep, names["pandaIDsFile"]), "w") as f:
        json.dump([a.panda_id], f)
    return job


class Harvester:
    def __init__(self, a):
        self.a = a
        self.ep = a.endpoint
        self.names = load_names(a.cfg)
        self.p = {k: os.path.join(self.ep, v) for k, v in self.names.items()}
        job, self.inputs, self.guids = make_job(a)
        # Ranges not served yet, in file order.
        self.todo = [(i, evt) for i in range(len(self.inputs)) for evt in range(1, a.events + 1)]
        self.job_fed = False
        self.job_answers = 0
        self.ranges_answers = 0
        self.requests_deleted = 0
        self.pending = None  # (due time, nRanges) of a request answered later (--delays)
        self.record_file = open(a.record, "a") if a.record else None

    def record(self, kind, **kw):
        kw["kind"] = kind
        kw.setdefault("time", time.time())
        if self.record_file:
            self.record_file.write(json.dumps(kw) + "\n")
            self.record_file.flush()

    def ranges_delay(self):
        """--delays: the wait before the next ranges answer (by its index; the last value repeats)."""
        d = self.a.delays
        return d[min(self.ranges_answers, len(d) - 1)]

    def take_ranges(self, n):
        if self.a.batch is not None:
            n = min(n, self.a.batch)
        out = []
        for _ in range(min(n, len(self.todo))):
            i, evt = self.todo.pop(0)
            out.append({"eventRangeID": "%d-%d-%d-%d-1" % (self.a.task_id, self.a.panda_id, 90000001 + i, evt),
                        "LFN": self.inputs[i], "GUID": self.guids[i], "scope": "mc23_13p6TeV",
                        "startEvent": evt, "lastEvent": evt})
        return out

    def write_ranges(self, n):
        broken = self.a.malformed and self.ranges_answers == 0
        self.ranges_answers += 1
        if broken:
            text = '{"%d": [{"eventRangeID": ' % self.a.panda_id
        else:
            ranges = self.take_ranges(n)
            text = json.dumps({str(self.a.panda_id): ranges})
            self.record("ranges_served", count=len(ranges), ids=[r["eventRangeID"] for r in ranges])
        write_in_place(self.p["eventRangesFile"], text, self.a.half_write, self.a.pause)

    def start(self):
        os.makedirs(self.ep, exist_ok=True)
        if self.a.stale:
            # Left by an earlier run in this worker: an unconsumed answer and an unpublished dump.
            with open(self.p["eventRangesFile"], "w") as f:
                json.dump({str(self.a.panda_id): self.take_ranges(2)}, f)
            with open(self.p["eventStatusDumpJsonFile"] + ".tmp", "w") as f:
                json.dump({str(self.a.panda_id): [{"eventRangeID": "stale-1", "eventStatus": "finished"}]}, f)
            self.record("stale_written")
        if self.a.mode == "early":
            feed_job(self.ep, self.names, self.a)
            self.job_fed = True
            self.record("job_fed", mode="early")
        if self.a.prefetch:
            self.write_ranges(self.a.core_count)

    def poll(self):
        a, p = self.a, self.p
        # Late binding: a job request makes the submitter feed the job and delete the request last.
        # A request after the job was consumed (.read exists) is the refill trap: record it, feed nothing.
        if os.path.exists(p["jobRequestFile"]) and not os.path.exists(p["jobSpecFile"]):
            if os.path.exists(p["jobSpecFile"] + ".read"):
                self.record("refill_request_seen")
                os.unlink(p["jobRequestFile"])
            elif a.mode == "late" or self.job_answers > 0 or not self.job_fed:
                self.record("job_request_seen")
                time.sleep(a.delay)
                broken = a.malformed and self.job_answers == 0
                feed_job(self.ep, self.names, a, broken=broken)
                self.job_answers += 1
                self.job_fed = True
                self.record("job_fed", mode=a.mode, broken=broken)
                try:
                    os.unlink(p["jobRequestFile"])
                except FileNotFoundError:
                    pass
        # Event ranges.
        if self.pending is not None:
            due, n = self.pending
            if time.monotonic() >= due:
                self.pending = None
                self.answer_request(n)
        elif os.path.exists(p["eventRequestFile"]):
            try:
                with open(p["eventRequestFile"]) as f:
                    req = json.load(f)
            except (OSError, ValueError):
                req = None
            if req is not None:
                self.record("ranges_request", request=req)
                if a.delete_request_early and self.requests_deleted == 0:
                    self.requests_deleted += 1
                    os.unlink(p["eventRequestFile"])
                    self.record("request_deleted_without_answer")
                else:
                    n = 0
                    for v in req.values():
                        n += int(v.get("nRanges", 0))
                    if a.delays:
                        self.pending = (time.monotonic() + self.ranges_delay(), n)
                    else:
                        time.sleep(a.delay)
                        self.answer_request(n)
        self.check_dump()

    def answer_request(self, n):
        self.write_ranges(n)
        try:
            os.unlink(self.p["eventRequestFile"])
        except FileNotFoundError:
            pass

    def check_dump(self):
        dump = self.p["eventStatusDumpJsonFile"]
        read = dump + ".read"
        if not os.path.exists(read):
            if not os.path.exists(dump):
                return
            os.rename(dump, read)
        try:
            with open(read) as f:
                content = json.load(f)
            if not isinstance(content, dict) or not all(isinstance(v, list) for v in content.values()):
                raise ValueError("not an object of lists")
        except (OSError, ValueError) as e:
            self.record("dump_bad", error=str(e))
            os.unlink(read)
            return
        files, events = [], {}
        for pid, entries in content.items():
            for e in entries:
                if "path" in e:
                    files.append(e)
                if "path" not in e or e.get("type") in ("es_output", "zip_output"):
                    events.setdefault(pid, []).append({"eventRangeID": e.get("eventRangeID"),
                                                       "eventStatus": e.get("eventStatus")})
        upd = self.p["updateEventsFile"]
        if events:
            with open(upd + ".new", "w") as f:
                json.dump(events, f)
            os.rename(upd + ".new", upd)
            os.rename(upd, upd + ".read")
        self.record("dump_received", content=content)
        if files or events:
            stamp = datetime.datetime.utcnow().strftime("%Y-%m-%d_%H_%M_%S.%f")
            os.rename(read, read + "." + stamp)
            if os.path.exists(upd + ".read"):
                os.rename(upd + ".read", upd + ".read." + stamp)


def post_process(a):
    names = load_names(a.cfg)
    ep = a.endpoint
    with open(os.path.join(ep, "task_workdir_path.txt")) as f:
        task_dir = f.read()
    with open(os.path.join(task_dir, "state.json")) as f:
        state = json.load(f)
    outputs = []
    for inlfn, outs in state.get("merged", {}).items():
        for outlfn, info in outs.items():
            outputs.append({"lfn": outlfn, "path": info.get("path"), "guid": info.get("guid")})
    report = None
    rp = os.path.join(ep, names["jobReportFile"])
    if os.path.exists(rp):
        with open(rp) as f:
            report = json.load(f)
    spec = None
    for cand in (os.path.join(ep, names["jobSpecFile"]), os.path.join(ep, names["jobSpecFile"] + ".read")):
        if os.path.exists(cand):
            with open(cand) as f:
                spec = next(iter(json.load(f).values()))
    inputs = spec["inFiles"].split(",") if spec else []
    skipped = [i for i in inputs if i not in state.get("merged", {})]
    print(json.dumps({"task_dir": task_dir, "outputs": outputs, "skippedInputs": skipped,
                      "has_report": report is not None}))


def seconds_list(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated seconds, got %r" % text)
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("expected comma-separated seconds >= 0, got %r" % text)
    return values


def positive_int(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError("expected a whole number >= 1, got %r" % text)
    return v


def add_job_args(p):
    p.add_argument("--endpoint", required=True, help="Harvester access point (directory)")
    p.add_argument("--cfg", help="panda_harvester.cfg to take the file names from")
    p.add_argument("--inputs", type=int, default=2, help="number of input EVNT files")
    p.add_argument("--events", type=int, default=4, help="events per input file (nEventsPerInputFile)")
    p.add_argument("--events-per-output", type=int, default=None, help="nEventsPerOutputFile (default: --events)")
    p.add_argument("--panda-id", type=int, default=6000000001)
    p.add_argument("--task-id", type=int, default=40000001)
    p.add_argument("--jobset-id", type=int, default=6000000000)
    p.add_argument("--core-count", type=int, default=8)
    p.add_argument("--trans-path", default="HITSMerge_tf.py",
                   help="esmergeSpec.transPath (tests: the fake merge transform)")
    p.add_argument("--cgi", action="store_true", help="write the spec URL-encoded (jobSpecFileFormat=cgi)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mj = sub.add_parser("make-job", help="write a job spec, PFC, dummy inputs and pandaIDs, then exit")
    add_job_args(mj)
    mj.add_argument("--write-cfg", metavar="PATH", help="also write a panda_harvester.cfg with the names used")
    run = sub.add_parser("run", help="act as Harvester on the access point until killed or --max-runtime")
    add_job_args(run)
    run.add_argument("--mode", choices=["early", "late"], default="late")
    run.add_argument("--poll-ms", type=int, default=50)
    run.add_argument("--max-runtime", type=float, default=60.0, help="exit after this many seconds")
    run.add_argument("--record", metavar="FILE", help="append what was received as JSON lines")
    run.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    run.add_argument("--delays", type=seconds_list, default=None, metavar="LIST",
                     help="comma-separated seconds before each ranges answer, by answer index (the last value "
                          "repeats); overrides --delay for ranges answers; dumps are still claimed meanwhile")
    run.add_argument("--batch", type=positive_int, default=None, metavar="N",
                     help="serve at most N ranges per answer, whatever the request's nRanges")
    run.add_argument("--half-write", action="store_true", help="write half of each answer, pause, then the rest")
    run.add_argument("--pause", type=float, default=1.0, help="pause of --half-write, seconds")
    run.add_argument("--malformed", action="store_true", help="first job and first ranges answers are broken JSON")
    run.add_argument("--stale", action="store_true", help="leave a ranges answer and a dump .tmp at start")
    run.add_argument("--delete-request-early", action="store_true",
                     help="delete the first event request without answering")
    run.add_argument("--prefetch", action="store_true", help="first ranges answer without a request")
    pp = sub.add_parser("post-process", help="print outputs and skippedInputs as Harvester would stage out")
    pp.add_argument("--endpoint", required=True)
    pp.add_argument("--cfg")
    a = ap.parse_args(argv)
    if getattr(a, "events_per_output", None) is None and hasattr(a, "events"):
        a.events_per_output = a.events

    if a.cmd == "make-job":
        names = load_names(a.cfg)
        os.makedirs(a.endpoint, exist_ok=True)
        feed_job(a.endpoint, names, a)
        if a.write_cfg:
            write_cfg(a.write_cfg, names)
        return 0
    if a.cmd == "post-process":
        post_process(a)
        return 0

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    h = Harvester(a)
    h.start()
    deadline = time.monotonic() + a.max_runtime
    while not stop and time.monotonic() < deadline:
        h.poll()
        time.sleep(a.poll_ms / 1000.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
