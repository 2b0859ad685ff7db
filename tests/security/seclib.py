"""Shared helpers of the security tests (tracker issue 13).

The threat model: another local user on the same node or gateway host (loopback and shared
filesystems reach every uid), a process that pretends to be the coordinator, a hostile job spec or
checkpoint. An attacker that needs a second uid runs as `nobody` through setpriv(1); that needs root,
so without it such a test exits 77 (skipped). The rule is that of every other skip (run_e2e.py,
tests/cluster/lib.sh, tests/ops/verify_unit.sh): in CI as root (env CI set, uid 0) nothing may skip;
need_root skips only when not root, so under CI as root these tests always run.
"""
import os
import pwd
import subprocess
import sys

SRC = os.environ.get("RTY_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC, "tests", "fakes"))

EXIT_SKIP = 77


def need_root(what):
    """Exit 77 unless this process can switch to another uid (root). As root it never skips, so CI,
    which runs as root, always runs the test."""
    if os.geteuid() != 0:
        print("SKIPPED: %s needs root (to run the attacker as another uid, setpriv)" % what)
        sys.exit(EXIT_SKIP)


def other_user():
    """(uid, gid) of the attacker: `nobody`."""
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def as_other_user(argv, **kwargs):
    """subprocess.run of argv as `nobody` (no supplementary groups), output captured as text."""
    uid, gid = other_user()
    cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--"] + list(argv)
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 30)
    return subprocess.run(cmd, **kwargs)


def python_as_other_user(code, *args, **kwargs):
    """Runs a Python snippet as `nobody`; args are passed as sys.argv[1:]."""
    return as_other_user([sys.executable, "-c", code] + [str(a) for a in args], **kwargs)
