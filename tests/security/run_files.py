#!/usr/bin/env python3
"""Security probes of files and shared directories (tracker issue 13, items 4 and 9).

  run_files.py SCENARIO      (RTY_BUILD_DIR, RTY_SOURCE_DIR from ctest; E2E_KEEP=1 keeps the tree)

The attacker is another local user (`nobody`, through seclib) who may write the run's directories
because they are group-writable for its group: the case raythenad must survive, since group write
stays allowed. With a directory writable by others (o+w) or owned by someone else raythenad refuses to
start. Also: a second raythenad on the same workdir or task refuses, naming the holder's pid, and a
merge neither outlives a SIGKILLed raythenad nor writes into final/ once orphaned.
"""
import glob
import os
import re
import signal
import stat
import subprocess
import sys

import seclib  # noqa: E402  (sets up sys.path for run_e2e and rtysite)
import run_e2e  # noqa: E402
from run_e2e import Site, check, wait_until, PANDA_ID  # noqa: E402

EXIT_CONFIG, EXIT_RUNTIME = 2, 1


def open_to_group_of_attacker(path):
    """A root-owned directory the attacker may write through its group (setgid, 2770 + traverse)."""
    os.makedirs(path, exist_ok=True)
    _, gid = seclib.other_user()
    os.chown(path, 0, gid)
    os.chmod(path, 0o2775)


def merge_logs(site):
    return sorted(glob.glob(os.path.join(site.p["task"], "merge-tmp", "*", "merge.log")))


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_for_merge_line(site, pattern, timeout=40):
    rx = re.compile(pattern)

    def found():
        for log in merge_logs(site):
            m = rx.search(read(log))
            if m:
                return log, m
        return None
    return wait_until(found, timeout, "/%s/ in a merge.log" % pattern)


# ---- item 4: planted temporaries ------------------------------------------------------------------

PLANTED = "attacker's file\n"


def s_files_planted_tmp(root):
    seclib.need_root("planting files as another user")
    os.chmod(root, 0o755)
    site = Site(root, inputs=1, events=4, per_output=4, nodes=1)
    node = site.node_dir("local-0")
    for d in (site.p["access"], site.p["task"], os.path.dirname(node), node):
        open_to_group_of_attacker(d)
    uid, gid = seclib.other_user()
    mine = site.path("attacker")
    os.makedirs(mine)
    os.chown(mine, uid, gid)
    secret = os.path.join(site.p["access"], ".raythenad-secret")
    # As nobody: a hard link of a 0666 file of its own under the secret's old temporary name and one
    # under payload.sh's; once state.json exists, a symlink to a third under its old temporary name.
    plant = r'''
import os, sys
mine, secret, payload, text = sys.argv[1:5]
for name in ("secret", "state", "payload"):
    p = os.path.join(mine, name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o666)
os.link(os.path.join(mine, "secret"), secret + ".tmp")
os.link(os.path.join(mine, "payload"), payload + ".tmp")
'''
    state = os.path.join(site.p["task"], "state.json")
    r = seclib.python_as_other_user(plant, mine, secret, os.path.join(node, "payload.sh"), PLANTED)
    check(r.returncode == 0, "the attacker could not plant its files: %s" % r.stderr)
    run = site.start({"FAKE_PILOT_DELAY": "0.3"})
    run.wait_log(r"node local-0: pilot job state running")
    wait_until(lambda: os.path.exists(state), 20, "a first state.json")
    r = seclib.as_other_user(["ln", "-s", os.path.join(mine, "state"), state + ".tmp"])
    check(r.returncode == 0, "the attacker could not plant state.json.tmp: %s" % r.stderr)
    st = os.lstat(secret)
    check(stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_nlink == 1 and
          stat.S_IMODE(st.st_mode) == 0o600,
          "the secret file: uid %d, links %d, mode %o" % (st.st_uid, st.st_nlink, stat.S_IMODE(st.st_mode)))
    run.expect_rc(run_e2e.EXIT_SUCCESS)
    check(os.path.islink(state + ".tmp"), "the planted state.json.tmp was replaced or removed")
    os.unlink(state + ".tmp")  # the attacker's, not a leftover of ours (verify() would count it)
    site.verify()
    # What the attacker holds is still its own text: nothing of ours was written through its files.
    show = seclib.as_other_user(["cat"] + [os.path.join(mine, n) for n in ("secret", "state", "payload")])
    check(show.returncode == 0 and show.stdout == PLANTED * 3,
          "the attacker's planted files now hold: %r" % show.stdout[:300])
    for path in (os.path.join(site.p["task"], "state.json"), os.path.join(node, "payload.sh")):
        st = os.lstat(path)
        check(stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_nlink == 1,
              "%s: not a regular file of ours with one link (uid %d, links %d)" % (path, st.st_uid, st.st_nlink))
    return site


# ---- item 4: directories open to others -----------------------------------------------------------

def expect_refusal(site, pattern, what):
    run = site.start({}, "refused-%d" % (len(site.runs) + 1))
    run.expect_rc(EXIT_CONFIG, timeout=30)
    line = re.search(pattern, run.log(), re.M)
    check(line, "%s: no line /%s/ in:\n%s" % (what, pattern, run.log()[-2000:]))
    print("refused (%s): %s" % (what, line.group(0)))
    return run


def s_files_unsafe_dirs(root):
    seclib.need_root("directories owned by another user")
    site = Site(root, inputs=1, events=4, per_output=4, nodes=1)
    access, task = site.p["access"], site.p["task"]
    secret = os.path.join(access, ".raythenad-secret")
    uid, _ = seclib.other_user()

    os.chmod(access, 0o777)
    expect_refusal(site, r"CRITICAL .*ray\.workdir %s is writable by other users \(owner root \(uid 0\), mode 0777\): "
                   r"refusing to run" % re.escape(access), "o+w workdir")
    check(not os.path.exists(secret) and not os.path.exists(os.path.join(access, "status.url")),
          "files written into the o+w workdir before refusing")
    env = dict(os.environ, HARVESTER_PILOT_CONFIG=site.p["pilot_cfg"])
    v = subprocess.run([run_e2e.RAYTHENAD, "--validate", "--config", site.p["yaml"]], capture_output=True, text=True,
                       timeout=30, env=env)
    check(v.returncode == 1 and re.search(r"^FAIL workdir: ray\.workdir=%s — is writable by other users \(owner root "
                                          r"\(uid 0\), mode 0777\)" % re.escape(access), v.stdout, re.M),
          "--validate (rc %d) did not fail the o+w workdir:\n%s" % (v.returncode, v.stdout))

    os.chmod(access, 0o755)
    os.chown(access, uid, -1)
    expect_refusal(site, r"ray\.workdir %s is owned by another user \(owner nobody \(uid %d\), mode 0755\)" % (
        re.escape(access), uid), "workdir of another user")
    os.chown(access, 0, -1)

    os.makedirs(task, exist_ok=True)
    os.chmod(task, 0o1777)
    expect_refusal(site, r"task directory %s is writable by other users \(owner root \(uid 0\), mode 1777\)" %
                   re.escape(task), "o+w task directory")
    check(not os.path.exists(os.path.join(task, "state.json")), "a checkpoint written into the o+w task directory")
    os.chmod(task, 0o775)

    # A checkpoint temporary that is not ours, where the loader would fall back to it (no state.json):
    # refused rather than loaded (an attacker's checkpoint could claim events as merged).
    planted = os.path.join(task, "state.json.tmp")
    os.symlink("/etc/passwd", planted)
    expect_refusal(site, r"%s is not a file of ours \(a symlink.*refusing to load it as the checkpoint" % re.escape(planted), "planted state.json.tmp")
    os.unlink(planted)

    node = site.node_dir("local-0")
    os.makedirs(node)
    os.chown(node, uid, -1)
    expect_refusal(site, r"node directory %s is owned by another user" % re.escape(node), "node dir of another user")
    os.chown(node, 0, -1)

    # Group write stays allowed: the same tree, g+w, runs to the end.
    for d in (access, task, node):
        os.chmod(d, 0o2775)
    run = site.start({}, "group-writable")
    run.expect_rc(run_e2e.EXIT_SUCCESS)
    site.verify()
    return site


# ---- item 9: two instances ------------------------------------------------------------------------

def s_files_second_instance(root):
    site = Site(root, inputs=2, events=8, per_output=8, nodes=1)
    run1 = site.start({"FAKE_PILOT_DELAY": "0.3"}, "run1")
    run1.wait_log(r"node local-0: pilot job state running")
    # The same configuration: refused at the workdir's lock.
    run2 = site.start({}, "run2")
    run2.expect_rc(EXIT_RUNTIME, timeout=30)
    lock = os.path.join(site.p["access"], "raythenad.lock")
    check(re.search(r"CRITICAL .*another raythenad \(pid %d\) holds %s: refusing to start a second one" % (
        run1.pid, re.escape(lock)), run2.log()), "run2 did not name run1's pid:\n%s" % run2.log()[-1500:])
    # Another workdir, the same task: refused at the task directory's lock, before touching its files.
    other = site.path("workdir2")
    os.makedirs(other)
    run3 = site.start({"RAYTHENA_RAY_WORKDIR": other}, "run3")
    run3.expect_rc(EXIT_RUNTIME, timeout=30)
    lock = os.path.join(site.p["task"], "raythenad.lock")
    check(re.search(r"another raythenad \(pid %d\) holds %s" % (run1.pid, re.escape(lock)), run3.log()),
          "run3 did not name run1's pid for the task lock:\n%s" % run3.log()[-1500:])
    check("started stub" not in run2.log() + run3.log(), "a refused instance started stubs")
    run1.expect_rc(run_e2e.EXIT_SUCCESS, timeout=60)
    site.verify()
    check(not os.path.exists(lock), "the task lock file is left after a clean exit")
    return site


# ---- item 9: orphaned merges ----------------------------------------------------------------------

def final_files(site):
    final = os.path.join(site.p["task"], "final")
    return sorted(os.listdir(final)) if os.path.isdir(final) else []


def s_merge_killed_with_raythenad(root):
    # SIGKILL raythenad during a slow merge: the merge dies with it (parent-death signal), final/ stays
    # empty, and the next run merges.
    site = Site(root, inputs=1, events=4, per_output=4, nodes=1)
    run1 = site.start({"FAKE_PILOT_DELAY": "0.05", "FAKE_MERGE_SLOW": "120"}, "run1")
    _, m = wait_for_merge_line(site, r"fake_merge_tf: pid (\d+) merging slowly")
    merge_pid = int(m.group(1))
    site.pids.add(merge_pid)
    run1.remember_pids()
    os.kill(run1.pid, signal.SIGKILL)
    run1.wait(5)
    run_e2e.check_no_orphans(site, [merge_pid], 5, "the merge after raythenad was SIGKILLed")
    check(final_files(site) == [], "final/ holds %s after the kill" % final_files(site))
    run_e2e.check_no_orphans(site, list(run1.stub_pids().values()) + list(run1.pilot_pids().values()), 15,
                             "stubs and pilots")
    run2 = site.start({}, "run2")
    run2.expect_rc(run_e2e.EXIT_SUCCESS)
    site.verify()
    return site


def s_merge_orphan_writes_no_final(root):
    # The merge's own worker escapes the parent-death signal (as a container's processes would): it
    # goes on after raythenad's SIGKILL and writes its output, but in its work directory, never final/.
    site = Site(root, inputs=1, events=4, per_output=4, nodes=1)
    run1 = site.start({"FAKE_PILOT_DELAY": "0.05", "FAKE_MERGE_SLOW": "4", "FAKE_MERGE_DETACH": "1"}, "run1")
    log, m = wait_for_merge_line(site, r"fake_merge_tf: pid (\d+) merging slowly")
    worker = int(m.group(1))
    site.pids.add(worker)
    os.kill(run1.pid, signal.SIGKILL)
    run1.wait(5)
    run_e2e.check_no_orphans(site, [worker], 30, "the orphaned merge worker finishing")
    text = read(log)
    check(re.search(r"fake_merge_tf: merged \d+ file\(s\) into", text), "the orphaned worker did not finish its merge:\n" + text)
    check(final_files(site) == [], "the orphaned merge wrote into final/: %s" % final_files(site))
    wrote = [p for p in glob.glob(os.path.join(os.path.dirname(log), "HITS.*")) if os.path.isfile(p)]
    check(wrote, "the orphan's output is not in its work directory %s" % os.path.dirname(log))
    run2 = site.start({}, "run2")
    run2.expect_rc(run_e2e.EXIT_SUCCESS)
    site.verify()
    return site


SCENARIOS = {name[2:]: fn for name, fn in globals().items() if name.startswith("s_")}

if __name__ == "__main__":
    sys.exit(run_e2e.run_scenario(SCENARIOS, "run_files.py", os.path.join(run_e2e.BUILD, "security")))
