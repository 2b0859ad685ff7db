#!/usr/bin/env python3
"""Security probes for outside names and sizes (tracker issue 13, items 5 and 8).

  run_names.py SCENARIO   (RTY_BUILD_DIR, RTY_SOURCE_DIR from ctest; E2E_KEEP=1 keeps the tree)

Each scenario builds a site with tests/fakes/rtysite.py (through run_e2e.Site), makes one Harvester
or task file hostile the way an attacker with write access to the access point or the task directory
would, runs the real raythenad and checks that it refuses with a line naming the field or file, with
the right exit code, and that nothing was written, renamed or allocated outside what it owns.

  outfiles_escape     job spec outFiles HITS/../../../../ESCAPED_OUTPUT: exit 5, the line names
                      outFiles and the value, nothing named ESCAPED_OUTPUT anywhere.
  commit_log_escape   a commit_log line `rename_output ../../x y` in the task dir: refused on resume
                      (exit 1, as a broken checkpoint), the decoy at final/../../x is not renamed.
  state_json_escape   a state.json recording a merged output named ../../x: refused on resume (exit 1,
                      "fix or move it away"), nothing renamed or removed.
  huge_job_limit      nEventsPerInputFile = 2,000,000,000 with ray.bookkeepingmemorymb = 64: exit 5,
                      the line names the job, the ranges, the bytes and the key.
  huge_job_default    the same job with the default limit (half of this host's memory): exit 5 at
                      once, no std::bad_alloc.
  oversized_job_spec  a job spec file of 65 MiB (sparse): exit 5 naming the file and its size; the
                      file stays in place, unclaimed.
  oversized_harvester_cfg  panda_harvester.cfg of 5 MiB: exit 5 naming the file and its size.
  oversized_event_ranges   harvester.eventsource = harvester and a 257 MiB event ranges answer: refused
                      unread naming the file and its size, left in place; the feed ends for this run.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seclib  # noqa: E402,F401  (puts tests/integration and tests/fakes on sys.path)
import run_e2e  # noqa: E402
from run_e2e import Site, check, run_scenario  # noqa: E402

EXIT_RUNTIME, EXIT_HARVESTER = 1, 5
KEY = "ray.bookkeepingmemorymb"


def spec_path(site):
    return os.path.join(site.p["access"], "HPCJobs.json")


def edit_job(site, change):
    """Rewrites the pre-staged job spec with change(job) applied (atomically, as Harvester would)."""
    with open(spec_path(site)) as f:
        spec = json.load(f)
    (job,) = spec.values()
    change(job)
    tmp = spec_path(site) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(spec, f)
    os.rename(tmp, spec_path(site))


def log_tail(run, n=15):
    return "\n".join(run.log().splitlines()[-n:])


def critical_line(run):
    lines = [l for l in run.log().splitlines() if "critical" in l.lower() or "CRITICAL" in l]
    return lines[-1] if lines else ""


def names_under(top):
    out = []
    for d, dirs, files in os.walk(top):
        out += [os.path.join(d, n) for n in dirs + files]
    return out


def s_outfiles_escape(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    hostile = "HITS/../../../../ESCAPED_OUTPUT"

    def change(job):
        outs = job["outFiles"].split(",")
        outs[0] = hostile
        job["outFiles"] = ",".join(outs)
    edit_job(site, change)
    run = site.start()
    run.expect_rc(EXIT_HARVESTER)
    line = critical_line(run)
    check("outFiles" in line and hostile in line, "the refusal does not name outFiles and the value:\n" + log_tail(run))
    escaped = [p for p in names_under(root) + os.listdir(os.path.dirname(root)) if "ESCAPED_OUTPUT" in p]
    check(not escaped, "something was written for the hostile name: %s" % escaped)
    check(os.path.exists(spec_path(site)), "the refused job spec was claimed or moved")


def task_with_decoy(site):
    """The task dir with final/, and a decoy where final/../../x points (the task progress base dir)."""
    final = os.path.join(site.p["task"], "final")
    os.makedirs(final, exist_ok=True)
    decoy = os.path.normpath(os.path.join(final, "..", "..", "x"))
    with open(decoy, "w") as f:
        f.write("decoy\n")
    return final, decoy


def check_decoy(final, decoy):
    check(os.path.exists(decoy) and open(decoy).read() == "decoy\n", "the decoy outside final/ was moved or changed")
    check(os.listdir(final) == [], "something appeared in final/: %s" % os.listdir(final))
    check(not os.path.exists(os.path.join(os.path.dirname(decoy), "y")), "the decoy was renamed to y")


def s_commit_log_escape(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    final, decoy = task_with_decoy(site)
    log_path = os.path.join(site.p["task"], "commit_log")
    with open(log_path, "w") as f:
        f.write("rename_output ../../x y\n")
    run = site.start()
    run.expect_rc(EXIT_RUNTIME)
    line = critical_line(run)
    check("commit_log" in line and "../../x" in line and "not a usable file name" in line,
          "the refusal does not name the commit log and the name:\n" + log_tail(run))
    check_decoy(final, decoy)
    check(open(log_path).read() == "rename_output ../../x y\n", "the commit log was changed")
    check(not os.path.exists(os.path.join(site.p["task"], "state.json")), "an empty checkpoint was written on the way out")


def s_state_json_escape(root):
    # Two shapes: a merged output named ../../x, and a finished range whose output path climbs out of
    # the task dir (it would become a merge input, then be removed after the merge).
    for i, shape in enumerate(("merged", "simulated")):
        site = Site(os.path.join(root, shape), inputs=3, events=8, per_output=8)
        final, decoy = task_with_decoy(site)
        state_path = os.path.join(site.p["task"], "state.json")
        climbing = os.path.join(site.p["task"], "..", "x")
        state = {"simulated": {}, "merging": {}, "failed": {}, "merged": {}}
        if shape == "merged":
            state["merged"] = {site.inputs[0]: {"../../x": {"path": os.path.join(final, "../../x"), "guid": "g"}}}
        else:
            rid = site.inputs[0] + "-1"
            state["simulated"] = {site.inputs[0]: {rid: {"eventRangeID": rid, "startEvent": 1, "lastEvent": 1,
                                                         "path": climbing}}}
        with open(state_path, "w") as f:
            json.dump(state, f)
        before = open(state_path).read()
        run = site.start()
        run.expect_rc(EXIT_RUNTIME)
        line = critical_line(run)
        value = "../../x" if shape == "merged" else climbing
        check("state.json" in line and value in line and "move it away" in line,
              "the refusal does not name state.json and the name:\n" + log_tail(run))
        check_decoy(final, decoy)
        check(open(state_path).read() == before, "the refused state.json was rewritten")


def huge(job):
    job["nEventsPerInputFile"] = 2000000000
    merge = job["esmergeSpec"]
    if isinstance(merge, str):
        merge = json.loads(merge)
        merge["nEventsPerOutputFile"] = 2000000000
        job["esmergeSpec"] = json.dumps(merge)
    else:
        merge["nEventsPerOutputFile"] = 2000000000


def check_huge_refused(run):
    run.expect_rc(EXIT_HARVESTER, timeout=30)
    log = run.log()
    check("bad_alloc" not in log, "std::bad_alloc in the log:\n" + log_tail(run))
    line = critical_line(run)
    for part in ("job " + run_e2e.PANDA_ID, "2000000000 event ranges", "bytes", KEY):
        check(part in line, "the refusal lacks %r:\n%s" % (part, log_tail(run)))
    return line


def s_huge_job_limit(root):
    site = Site(root, inputs=1, events=8, per_output=8, overrides=[KEY + "=64"])
    edit_job(site, huge)
    line = check_huge_refused(site.start())
    check("%s = 64" % KEY in line, "the refusal does not say the limit came from the key: " + line)


def mem_total():
    with open("/proc/meminfo") as f:
        for l in f:
            if l.startswith("MemTotal:"):
                return int(l.split()[1]) * 1024
    return 0


def s_huge_job_default(root):
    site = Site(root, inputs=1, events=8, per_output=8)
    edit_job(site, huge)
    # The default is half of the host's limit. 2e9 ranges need ~28 GB; on a host where half of the
    # memory is more, an address-space limit stands in for a smaller host (the default follows it).
    prefix = ()
    if mem_total() // 2 >= 28 * 10**9:
        prefix = ("prlimit", "--as=%d" % (16 * 2**30), "--")
    line = check_huge_refused(site.start(prefix=prefix))
    check("half of" in line, "the refusal does not say the limit is the default: " + line)


def s_oversized_job_spec(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    size = 65 * 2**20
    os.truncate(spec_path(site), size)  # sparse: costs no disk
    run = site.start()
    run.expect_rc(EXIT_HARVESTER)
    line = critical_line(run)
    check(spec_path(site) in line and str(size) + " bytes" in line and "limit" in line,
          "the refusal does not name the file and its size:\n" + log_tail(run))
    check(os.path.getsize(spec_path(site)) == size, "the oversized job spec was changed or moved")
    left = sorted(os.listdir(site.p["access"]))
    check(not any(n.startswith("HPCJobs.json.") for n in left), "the job spec was claimed or quarantined: %s" % left)


def s_oversized_harvester_cfg(root):
    site = Site(root, inputs=3, events=8, per_output=8)
    size = 5 * 2**20
    with open(site.p["cfg"], "a") as f:
        f.truncate(size)
    run = site.start()
    run.expect_rc(EXIT_HARVESTER)
    line = critical_line(run)
    check(site.p["cfg"] in line and str(size) + " bytes" in line and "limit" in line,
          "the refusal does not name the file and its size:\n" + log_tail(run))
    check(os.path.getsize(site.p["cfg"]) == size, "the oversized config was changed")
    check(os.path.exists(spec_path(site)), "the job spec was claimed although the config was refused")


def s_oversized_event_ranges(root):
    # harvester.eventsource = harvester with a 257 MiB (sparse) answer waiting: refused unread with its
    # size, left in place; the feed is over for this run (nothing supplied: exit 4, outputs not merged).
    site = Site(root, inputs=1, events=8, per_output=8, overrides=["harvester.eventsource=harvester"])
    answer = os.path.join(site.p["access"], "JobsEventRanges.json")
    size = 257 * 2**20
    with open(answer, "w") as f:
        f.truncate(size)
    run = site.start()
    line = run.wait_log(r"CRITICAL.*event ranges from Harvester: .*", timeout=30).group(0)
    check(answer in line and str(size) + " bytes" in line and "limit" in line,
          "the refusal does not name the file and its size:\n" + log_tail(run))
    rc = run.wait(60)
    check(rc in (3, 4), "raythenad exited %s after the refused answer:\n%s" % (rc, log_tail(run)))
    check(os.path.getsize(answer) == size, "the oversized answer was changed or moved")
    left = sorted(os.listdir(site.p["access"]))
    check(not any(n.startswith("JobsEventRanges.json") and n != "JobsEventRanges.json" for n in left),
          "the answer was claimed or quarantined: %s" % left)


SCENARIOS = {
    "names_outfiles_escape": s_outfiles_escape,
    "names_commit_log_escape": s_commit_log_escape,
    "names_state_json_escape": s_state_json_escape,
    "names_huge_job_limit": s_huge_job_limit,
    "names_huge_job_default": s_huge_job_default,
    "names_oversized_job_spec": s_oversized_job_spec,
    "names_oversized_harvester_cfg": s_oversized_harvester_cfg,
    "names_oversized_event_ranges": s_oversized_event_ranges,
}

if __name__ == "__main__":
    sys.exit(run_scenario(SCENARIOS, "run_names.py", os.path.join(run_e2e.BUILD, "security")))
