#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/<target>/ from the spec's upstream captures
(tests/fixtures/upstream, or $RTY_FIXTURES_DIR), the repository's conf/ and config test fixtures,
and hand-made edge cases. Generated files are named gen-*; crash regressions (crash-*) and anything
else added by hand are kept. Run: python3 tests/fuzz/make_corpus.py [fixtures dir]"""
import base64
import glob
import gzip
import hashlib
import hmac
import json
import os
import struct
import sys
import urllib.parse

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
fixtures = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "RTY_FIXTURES_DIR", os.path.join(root, "tests", "fixtures", "upstream"))
corpus = os.path.join(here, "corpus")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


class target:
    def __init__(self, name):
        self.dir = os.path.join(corpus, name)
        os.makedirs(self.dir, exist_ok=True)
        for old in glob.glob(os.path.join(self.dir, "gen-*")):
            os.unlink(old)
        self.n = 0

    def add(self, label, data):
        if isinstance(data, str):
            data = data.encode()
        digest = hashlib.sha1(data).hexdigest()[:10]
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)[:40]
        with open(os.path.join(self.dir, f"gen-{safe}-{digest}"), "wb") as f:
            f.write(data)
        self.n += 1


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def frame(obj):
    body = compact(obj).encode() if not isinstance(obj, bytes) else obj
    return struct.pack(">I", len(body)) + body


wire = []
for name in ("pilot3-3.11.5.1-wire.json", "pilot3-3.2.2.22-wire.json"):
    p = os.path.join(fixtures, name)
    if os.path.exists(p):
        wire.append((name, json.load(open(p))["exchanges"]))

early = os.path.join(fixtures, "harvester-early-binding-events")
late = os.path.join(fixtures, "harvester-late-binding-merged")
job_file = os.path.join(early, "HPCJobs.json.read")
job = json.load(open(job_file)) if os.path.exists(job_file) else {"1": {"PandaID": 1}}
job_dict = next(iter(job.values()))

# --- frame: byte 0 = chunking/limit selector, then length-prefixed JSON frames -----------------------
t = target("frame")
rng = {"eventRangeID": "EVNT.40000000._000001.pool.root.1-1", "PFN": "/ap/EVNT.40000000._000001.pool.root.1",
       "GUID": "00000000-0262-5A01-0000-000000000001", "startEvent": 1, "lastEvent": 1}
upd = {"id": "EVNT.40000000._000001.pool.root.1-1", "status": "finished", "path": "/o/HITS.1.pool.root",
       "chksum": "8a788590", "fsize": 2112, "type": "es_output", "error_code": 0}
messages = [
    {"type": "challenge", "version": 3, "nonce": "8f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"},
    {"type": "hello", "version": 3, "node_id": "nid001", "host": "nid001", "pid": 4242,
     "nonce": "ffeeddccbbaa99887766554433221100", "proof": "ab" * 32},
    {"type": "accepted", "proof": "cd" * 32},
    {"type": "welcome", "node_index": 0, "job": job_dict,
     "settings": {"actor_dir": "/w/nid001", "server_port": 0, "heartbeat_interval": 30, "grace": 60}},
    {"type": "heartbeat"},
    {"type": "ranges_request", "request_id": 7, "n_ranges": 2},
    {"type": "ranges_reply", "request_id": 7, "ranges": [rng], "no_more": False},
    {"type": "ranges_reply", "request_id": 8, "ranges": [], "no_more": True},
    {"type": "ranges_cancel", "request_id": 7},
    {"type": "ranges_return", "ranges": [rng["eventRangeID"]]},
    {"type": "ranges_update", "updates": [upd, dict(upd, status="failed", path="", chksum="", fsize=-1,
                                                     type="", error_code=1220)]},
    {"type": "job_update", "state": "running", "fields": {"jobId": "6000000001", "cpuConsumptionTime": 12}},
    {"type": "pilot_exit", "code": 0, "signal": 0, "reason": ""},
    {"type": "stop", "reason": "walltime", "drain": True},
    {"type": "error", "message": "bad proof"},
]
for m in messages:
    t.add(m["type"], b"\x00" + frame(m))
t.add("stream-all-chunk15", b"\x07" + b"".join(frame(m) for m in messages))
t.add("stream-all-chunk255", b"\x7f" + b"".join(frame(m) for m in messages))
t.add("limit64-big", b"\x80" + frame(messages[3]))
t.add("huge-length", b"\x00" + b"\xff\xff\xff\xff{}")
t.add("not-object", b"\x00" + frame(b"[1,2]"))
t.add("no-type", b"\x00" + frame({"version": 1}))
t.add("bad-json", b"\x00" + frame(b'{"type":'))
t.add("truncated", b"\x00" + frame(messages[1])[:-3])
t.add("hello-v1", b"\x00" + frame(dict(messages[1], version=1)))
# fuzz_frame checks proofs with this secret and nonce: one valid proof lets it mutate around it.
FUZZ_NONCE_C = "0123456789abcdef0123456789abcdef"
proof = hmac.new(b"fuzz-secret", ("raythenad-auth-v2\nstub\n%s\n%s\nnid001" % (FUZZ_NONCE_C, messages[1]["nonce"])).encode(),
                 hashlib.sha256).hexdigest()
t.add("hello-valid-proof", b"\x00" + frame(dict(messages[1], proof=proof)))

# --- handshake: byte 0 = mode (see fuzz_handshake.cpp), then a JSON object or message pieces --------
t = target("handshake")
FUZZ_NONCE_S = "ffeeddccbbaa99887766554433221100"
t.add("hello-valid", b"\x00" + compact(dict(messages[1], proof=proof)).encode())
t.add("hello-wrong", b"\x00" + compact(messages[1]).encode())
cproof = hmac.new(b"fuzz-secret", ("raythenad-auth-v2\ncoordinator\n%s\n%s\nnid001" % (FUZZ_NONCE_C, FUZZ_NONCE_S)).encode(),
                  hashlib.sha256).hexdigest()
t.add("accepted-valid", b"\x01" + compact({"type": "accepted", "proof": cproof}).encode())
t.add("accepted-wrong", b"\x01" + compact(messages[2]).encode())
t.add("refused", b"\x01" + compact({"type": "error", "message": "authentication failed"}).encode())
t.add("stream-intact", b"\x02\x00\x00" + b"\n".join(compact(m).encode() for m in messages[3:8]))
t.add("stream-flipped", b"\x03\x00\x2a" + b"\n".join(compact(m).encode() for m in messages[3:8]))

# --- pilot_request: flags byte, "<target>\n<content-type>\n<body>" ----------------------------------
t = target("pilot_request")
for name, exchanges in wire:
    for i, e in enumerate(exchanges):
        headers = {h.split(":", 1)[0].lower(): h.split(":", 1)[1].strip() for h in e.get("headers", [])}
        body = base64.b64decode(e.get("body_b64", "")) if e.get("body_b64") else b""
        ct = headers.get("content-type", "")
        head = (e["path"] + "\n" + ct + "\n").encode()
        t.add(f"{name[:12]}-{i}-{e['path'].rsplit('/', 1)[-1]}", b"\x00" + head + body)
        if body[:2] == b"\x1f\x8b":  # the same JSON, gzipped by the harness (mutations stay meaningful)
            plain = gzip.decompress(body)
            t.add(f"{name[:12]}-{i}-plain-gz", b"\x01" + head + plain)
            t.add(f"{name[:12]}-{i}-plain-gz-cut", bytes([0x03 | 4 << 2]) + head + plain)  # 4 bytes cut
        fields = urllib.parse.parse_qs(body.decode("latin-1")) if ct.startswith("application/x-www") else {}
        if "eventRanges" in fields:
            t.add(f"{name[:12]}-{i}-eventRanges-json", b"\x80" + fields["eventRanges"][0].encode())
t.add("get-query-only", b"\x00/server/panda/getEventRanges?pandaID=6000000001&nRanges=8&jobsetID=1&taskID=2\n\n")
t.add("absolute-form", b"\x00http://127.0.0.1:8080/server/panda/getJob?x=1#frag\napplication/json\n{}")
t.add("json-nranges", b"\x00/server/panda/getEventRanges\napplication/json\n"
      b'{"pandaID": 6000000001, "nRanges": 2.0, "x": [1, {"a": null}], "y": ""}')
t.add("zip-output", b"\x80" + compact([{"zipFile": {"lfn": "EventService_premerge_1.tar", "adler32": "0a0b0c0d",
                                                      "fsize": 99, "objstoreID": 1},
                                         "eventRanges": [{"eventRangeID": "E-1", "eventStatus": "finished"}]}]).encode())
t.add("bad-utf8-form", b"\x00/server/panda/updateJob\napplication/x-www-form-urlencoded\nstate=%ff%fe&x=%ED%A0%80")
t.add("bad-escape", b"\x00/\n\na=%4&b=%zz&c=%&d=+x+&=e&f")

# --- harvester_json: the JSON files Harvester writes --------------------------------------------------
t = target("harvester_json")
for d in (early, late):
    for p in sorted(glob.glob(os.path.join(d, "*"))):
        base = os.path.basename(p)
        if base.endswith(".xml") or base.endswith(".txt"):
            continue
        t.add(f"{os.path.basename(d)[:14]}-{base}", read(p, "rb"))
t.add("two-jobs", compact({"1": job_dict, "2": job_dict}))
t.add("ranges-relative-and-absolute", compact({"6000000001": [
    {"eventRangeID": "a-1", "LFN": "EVNT.1", "startEvent": 1, "lastEvent": 1},
    {"eventRangeID": "a-2", "PFN": "/abs/EVNT.1", "LFN": "", "startEvent": "2", "lastEvent": 2.0}]}))

# --- checkpoint: state.json ---------------------------------------------------------------------------
t = target("checkpoint")
p = os.path.join(root, "tests", "fixtures", "emulated", "raythena-late-binding-merged", "task-dir-state.json")  # emulated
if os.path.exists(p):
    t.add("task-dir-state", read(p, "rb"))
lfn1, lfn2 = "EVNT.40000000._000001.pool.root.1", "EVNT.40000000._000002.pool.root.1"
out1, out2 = "HITS.40000001._000001.pool.root.1", "HITS.40000001._000002.pool.root.1"


def rr(lfn, n, path=True, guid=None):
    r = {"eventRangeID": f"{lfn}-{n}", "startEvent": n, "lastEvent": n}
    if path:
        r["path"] = f"/task/{lfn}-{n}.HITS"
    if guid:
        r["guid"] = guid
    return r


t.add("simulated", compact({"simulated": {lfn1: {r["eventRangeID"]: r for r in (rr(lfn1, 1), rr(lfn1, 2))}},
                            "merging": {}, "merged": {}, "failed": {}}))
t.add("merging-guid", compact({"merging": {lfn1: {out1: {r["eventRangeID"]: r for r in
                                                        (rr(lfn1, n, guid="G-1") for n in range(1, 5))}}}}))
t.add("failed", compact({"failed": {lfn2: {r["eventRangeID"]: r for r in (rr(lfn2, 3, path=False),)}}}))
t.add("merged-list-form", compact({"merged": {lfn1: [out1], lfn2: [out2, "HITS.old.1"]}}))
t.add("upstream-example-blank-events", compact({"simulated": {lfn1: {"Range-00001": {
    "eventRangeID": "Range-00001", "startEvent": "", "lastEvent": "", "path": "/x"}}}}))
t.add("harvester-ids", compact({"simulated": {lfn1: {"40000001-6000000001-90000001-1-1": {
    "eventRangeID": "40000001-6000000001-90000001-1-1", "startEvent": 1, "lastEvent": 1, "path": "/p"}}}}))
t.add("mixed", compact({"simulated": {lfn2: {rr(lfn2, 1)["eventRangeID"]: rr(lfn2, 1)}},
                        "merging": {lfn1: {out1: {rr(lfn1, 1)["eventRangeID"]: rr(lfn1, 1, guid="G")}}},
                        "merged": {lfn1: {out1: {"path": "/task/final/" + out1, "guid": "G"}}},
                        "failed": {lfn1: {rr(lfn1, 1)["eventRangeID"]: rr(lfn1, 1, path=False)}}}))

# --- commit_log --------------------------------------------------------------------------------------
t = target("commit_log")
t.add("renames", "rename_output HITS.old.1 HITS.1\nrename_output HITS.old.2 HITS.2\n")
t.add("chain-cycle", "rename_output HITS.old.1 HITS.x\nrename_output HITS.x HITS.old.1\n")
t.add("torn-line", "rename_output HITS.old.1 HITS.1\nrename_output HITS.old.2")
t.add("other-ops", "merge_done HITS.1\nrename_output  a\n\nrename_output a b c\n")

# --- ini: panda_harvester.cfg ------------------------------------------------------------------------
t = target("ini")
cfg = """[payload_interaction]
jobSpecFile = HPCJobs.json
jobRequestFile = worker_requestjob.json
xmlPoolCatalogFile = PoolFileCatalog_H.xml
pandaIDsFile = worker_pandaids.json
eventRequestFile = worker_requestevents.json
eventRangesFile = JobsEventRanges.json
eventStatusDumpJsonFile = event_status.dump.json
updateEventsFile = worker_updateevents.json
jobReportFile = jobReport.json

[cacher]
data =
    CERN-EXAMPLE|queuedata|http://localhost/cache/CERN-EXAMPLE.all.json|/data/CERN-EXAMPLE_queuedata.json
    ddmendpoints_objectstores.json||https://atlas-cric.cern.ch/api/atlas/ddmendpoint/query/?json
"""
t.add("site", cfg)
t.add("defaults-interpolation", "[DEFAULT]\nbase = /opt/harvester\nmsg = 100%%\n[payload_interaction]\n"
      "jobSpecFile = %(base)s/HPCJobs.json\neventRangesFile: ${HOME}/JobsEventRanges.json\n; comment\n  # indented\n")
t.add("recursive-interpolation", "[a]\nx = %(y)s\ny = %(x)s\n")
t.add("duplicate", "[a]\nx = 1\nX = 2\n[a]\n")
t.add("continuation-first", "  indented first line\n[a]\n")

# --- config: Raythena YAML ---------------------------------------------------------------------------
t = target("config")
for p in sorted(glob.glob(os.path.join(root, "conf", "*.yaml")) +
                glob.glob(os.path.join(root, "tests", "config", "fixtures", "*.yaml"))):
    t.add(os.path.basename(p), read(p, "rb"))
t.add("anchors", "ray: &r\n  workdir: /w\npayload: *r\nharvester: {endpoint: [1, 2]}\n")
t.add("empty-sections", "ray:\npayload: ~\nharvester: {}\nresources:\nlogging:\n")
t.add("bad-yaml", "ray: [\n")

for name in sorted(os.listdir(corpus)):
    print(f"{name}: {len(os.listdir(os.path.join(corpus, name)))} files")
