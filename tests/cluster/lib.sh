# Shared helpers for the cluster test scripts (sourced). Tests exit 77 to be reported as skipped,
# except in CI as root (env CI set, uid 0): there everything they need is installed (bootstrap.sh
# test), so a missing piece is a failure that names it, never a silent skip.

rty_fail() { echo "FAIL: $*" >&2; exit 1; }
rty_skip() {
  if [ -n "${CI:-}" ] && [ "$EUID" -eq 0 ]; then
    echo "FAIL: would skip, but CI runs as root and must run every test: $*" >&2
    exit 1
  fi
  echo "SKIP: $*" >&2
  exit 77
}
rty_note() { echo "--- $*" >&2; }

rty_require_root() { [ "$(id -u)" -eq 0 ] || rty_skip "needs root (daemons, network namespaces)"; }
# rty_require_exec PATH PACKAGE
rty_require_exec() { [ -x "$1" ] || rty_skip "$1 is missing (Debian package $2)"; }

# The test driver built with the project (tests/launch/launch_tool.cpp).
rty_tool() {
  local t=${RTY_BUILD_DIR:-}/tests/launch/rty_launch_tool
  [ -x "$t" ] || rty_fail "rty_launch_tool not found at '$t' (set RTY_BUILD_DIR, build target rty_launch_tool)"
  echo "$t"
}

# A process that still runs (zombies, which PID 1 may reap late, count as gone).
rty_alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }

# rty_wait_for SECONDS CMD...: bounded poll until CMD succeeds. By the clock, not by a count of
# tries: on a loaded machine each try takes longer than its 0.1 s sleep.
rty_wait_for() {
  local end=$((SECONDS + $1 + 1)); shift
  while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.1; done
  "$@"
}

# rty_kill_pid PID: SIGTERM, a bounded wait, then SIGKILL.
rty_kill_pid() {
  local p=$1
  [[ $p =~ ^[0-9]+$ ]] || return 0
  rty_alive "$p" || return 0
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 30); do rty_alive "$p" || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
}

# rty_free_ports N: the first of N consecutive TCP ports free on 127.0.0.1 (from a random start, so
# that runs side by side do not pick the same block).
rty_free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 40000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
else:
    sys.exit("no free port block")
PY
}

# rty_json LINE PYTHON-EXPRESSION: evaluates the expression with d = the parsed JSON line.
rty_json() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); r=eval(sys.argv[2]); print(json.dumps(r) if not isinstance(r,str) else r)' "$1" "$2"; }

# rty_check DESCRIPTION CMD...: fails the test with DESCRIPTION unless CMD succeeds.
rty_check() { local what=$1; shift; "$@" || rty_fail "$what"; echo "ok: $what" >&2; }

# rty_machine_lock NAME: holds /tmp/.rty-NAME.lock (flock) until this script and what it started have
# exited. ctest's RESOURCE_LOCK orders the tests of one ctest run only; this also keeps two runs on one
# machine apart (two build dirs, a developer's run beside CI's): both would create the namespaces
# rty1..3 and the bridge, and one Slurm test stops the munged another one is using.
# Order: rty_netns before rty_slurm. Skips (77) when another run holds it for RTY_LOCK_WAIT s (45):
# the wait counts against ctest's TIMEOUT.
rty_machine_lock() {
  local f=/tmp/.rty-$1.lock fd
  exec {fd}>>"$f"
  if ! flock -n "$fd"; then
    echo "--- waiting for $f (another test run on this machine uses it)" >&2
    flock -w "${RTY_LOCK_WAIT:-45}" "$fd" || rty_skip "another test run on this machine held $f for too long"
  fi
}
