#!/usr/bin/env python3
"""Security probes of the stub's pilot port (tracker issue 13, items 1, 2 and 7).

  run_port.py SCENARIO      (registered in port.cmake; RTY_BUILD_DIR, RTY_SOURCE_DIR from ctest)

Each scenario runs a real raythenad with real stubs and the fake pilot (run_e2e's Site/Run), attacks
the way a local user would, and checks that the attack is refused while the run completes with every
event merged exactly once (Site.verify).
"""
import json
import os
import sys
import urllib.parse

import seclib  # noqa: F401  (puts tests/integration and tests/fakes on sys.path)
import run_e2e
from run_e2e import EXIT_SUCCESS, PANDA_ID, Site, check, wait_until

# Runs as the attacker: POSTs each (name, path, body) to the stub and prints what came back.
ATTACK = r'''
import http.client, json, socket, sys
port, out = int(sys.argv[1]), {}
for name, path, body in json.loads(sys.argv[2]):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", path, body=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
        out[name] = "ANSWERED: " + c.getresponse().read().decode(errors="replace")[:300]
    except socket.timeout as e:
        out[name] = "TIMEOUT: %s" % e
    except (http.client.HTTPException, OSError) as e:
        out[name] = "REFUSED: %r" % e
print(json.dumps(out))
'''


def pilot_port(site, node="local-0"):
    import re
    with open(os.path.join(site.node_dir(node), "pilot_default.cfg")) as f:
        return int(re.search(r"pandaserver = http://127\.0\.0\.1:(\d+)", f.read()).group(1))


def stub_log(site, node="local-0"):
    with open(site.stub_log(node), errors="replace") as f:
        return f.read()


def forged_finish(range_id, pfn, fsize=6):
    ranges = [{"esOutput": {"numEvents": 1}, "eventRanges": [
        {"eventRangeID": range_id, "eventStatus": "finished", "pfn": pfn, "fsize": fsize, "adler32": "0a0b0c0d"}]}]
    return urllib.parse.urlencode({"version": "1", "eventRanges": json.dumps(ranges)})


def busy_site(root, inputs=1, delay="1.0"):
    """One node whose pilot takes 8 ranges at once and works on them for a while (run_e2e.one_busy_node
    with a slower pilot, so that the ranges are still out with it when the attack comes)."""
    site = Site(root, inputs=inputs, events=8, per_output=8, nodes=1, overrides=["resources.corepernode=8"])
    run = site.start({"FAKE_PILOT_DELAY": delay, "ATHENA_PROC_NUMBER": "8"})
    run.wait_log(r"node local-0: pilot job state running")
    run.wait_log(r"ranges ready %d, leased 8" % (8 * (inputs - 1)))
    return site, run, pilot_port(site)


def s_pilot_port_other_uid(root):
    # Another uid on the node reaches 127.0.0.1: it must not read the job, take ranges or report them.
    seclib.need_root("pilot_port_other_uid")
    site, run, port = busy_site(root)
    lfn = site.inputs[0]
    task_file = os.path.join(site.p["task"], "x.HITS.pool.root")
    attacks = [
        ["getJob", "/server/panda/getJob", "siteName=X&node=evil"],
        ["getEventRanges", "/server/panda/getEventRanges",
         "pandaID=%s&jobsetID=1&taskID=1&nRanges=8" % PANDA_ID],
        ["updateEventRanges", "/server/panda/updateEventRanges",
         forged_finish(lfn + "-5", os.path.join(site.node_dir("local-0"), os.path.basename(task_file)))],
        ["updateJob", "/server/panda/updateJob", "jobId=%s&state=failed" % PANDA_ID],
    ]
    r = seclib.python_as_other_user(ATTACK, port, json.dumps(attacks), cwd="/")
    check(r.returncode == 0, "the attacker script failed: %s" % r.stderr)
    got = json.loads(r.stdout)
    for name, _, _ in attacks:
        check(got.get(name, "").startswith("REFUSED"), "%s from uid nobody was not refused: %s" % (name, got.get(name)))
    log = stub_log(site)
    check("refused a pilot-port connection" in log and "owned by uid %d" % seclib.other_user()[0] in log,
          "the stub did not log the refusals with the attacker's uid")
    run.expect_rc(EXIT_SUCCESS, timeout=90)
    site.verify()  # exactly once: the attacker took nothing and reported nothing
    check("pilot job state failed" not in run.log(), "the forged job state reached the coordinator")
    return site


def s_pilot_port_forged_finish(root):
    # The forged finish of the review's probe, sent by a process of the run's own uid (the uid check
    # does not stop it): it names a file that is not in the pilot directory but whose name exists in
    # the task directory. Before the fix the stub took the task-dir file for the pilot's output
    # (event 5 merged nine times). (a) a range this stub never delivered: refused by the ranges broker;
    # (b) a range out with pilot: the missing file is not replaced; the range fails and is redone.
    site, run, port = busy_site(root, inputs=2, delay="1.5")
    node = site.node_dir("local-0")
    decoy = os.path.join(site.p["task"], "decoy.HITS.pool.root")
    with open(decoy, "w") as f:
        f.write("decoy\n")
    pfn = os.path.join(node, os.path.basename(decoy))  # does not exist there
    check(not os.path.exists(pfn), "the forged pfn exists in the pilot directory")
    undelivered = site.inputs[1] + "-1"
    delivered = site.inputs[0] + "-5"
    r1 = run_e2e.http(port, "/server/panda/updateEventRanges", forged_finish(undelivered, pfn).encode())
    r2 = run_e2e.http(port, "/server/panda/updateEventRanges", forged_finish(delivered, pfn).encode())
    check(r1.get("StatusCode") == 500, "forged finish of an undelivered range answered %s" % r1)
    wait_until(lambda: "updateEventRanges for range %s, which this node's pilot was never given" % undelivered
               in stub_log(site), 10, "the stub refusing the undelivered range")
    wait_until(lambda: "range %s reported finished but output file '%s' does not exist" % (delivered, pfn)
               in stub_log(site), 10, "the stub refusing the missing output")
    check(r2.get("StatusCode") == 0, "the finish turned failure was not forwarded: %s" % r2)
    check(os.path.exists(decoy) and open(decoy).read() == "decoy\n", "the task-dir decoy was taken or changed")
    os.remove(decoy)  # verify() wants no stray file in the task directory
    run.expect_rc(EXIT_SUCCESS, timeout=120)
    site.verify()  # each event once: neither forged finish was counted
    check("decoy" not in json.dumps(site.state()), "state.json names the decoy")
    return site


def s_pilot_port_huge_update_job(root):
    # A 9 MiB updateJob whose JSON escaping doubles it (18 MiB, past the 16 MiB frame limit): before the
    # fix the coordinator dropped the node as broken. Now the fields are capped, pilot gets an error
    # reply, the node stays and the run completes.
    site, run, port = busy_site(root)
    # Raw newlines (the form decoder keeps unencoded bytes, as parse_qs does): 9 MiB of body, each byte
    # two in JSON.
    body = ("jobId=%s&state=running&pilotErrorDiag=" % PANDA_ID).encode() + b"\n" * (9 * 1024 * 1024)
    r = run_e2e.http(port, "/server/panda/updateJob", body, timeout=30)
    check(r.get("StatusCode") not in (0, "0", None), "a 9 MiB updateJob answered %s" % r)
    check(run_e2e.http(port, "/server/panda/noSuchThing") == {"StatusCode": 500}, "stub down after the request")
    wait_until(lambda: "field(s) cut to" in stub_log(site), 10, "the stub noting the cut")
    run.expect_rc(EXIT_SUCCESS, timeout=90)
    log = run.log()
    check(" lost (" not in log, "the coordinator lost the node:\n%s" % "\n".join(
        l for l in log.splitlines() if " lost (" in l))
    check("exceeds the limit" not in log, "an oversized frame reached the coordinator")
    site.verify()
    return site


def s_stub_secret_not_in_environ(root):
    # unsetenv leaves the bytes in the block /proc/<pid>/environ shows: the stub overwrites them.
    site = Site(root, inputs=1, events=8, per_output=8, nodes=2)
    run = site.start({"FAKE_PILOT_DELAY": "0.5"})
    run.wait_log(r"node local-1: pilot job state running")
    run.wait_log(r"node local-0: pilot job state running")
    with open(os.path.join(site.p["access"], ".raythenad-secret")) as f:
        secret = f.read().strip()
    check(len(secret) >= 16, "the secret file holds %d bytes?" % len(secret))
    stubs = run.stub_pids()
    check(len(stubs) == 2, "stubs: %s" % stubs)
    checked = 0
    for pid in list(stubs.values()) + list(run.pilot_pids().values()):
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read()
        except OSError:
            continue
        checked += 1
        check(secret.encode() not in env, "the secret is in /proc/%d/environ" % pid)
    check(checked >= 2, "no stub environ could be read")
    run.expect_rc(EXIT_SUCCESS, timeout=90)
    site.verify()
    return site


SCENARIOS = {name[2:]: fn for name, fn in globals().items() if name.startswith("s_")}

if __name__ == "__main__":
    sys.exit(run_e2e.run_scenario(SCENARIOS, "run_port.py", os.path.join(run_e2e.BUILD, "security")))
