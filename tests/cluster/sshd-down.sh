#!/bin/bash
# sshd-down.sh DIR: stop the sshd that sshd-up.sh DIR started (PID in DIR/sshd.pid), and the
# per-connection sshd processes it forked (they outlive the listener otherwise). By PID only,
# bounded waits, SIGKILL as the last resort. Idempotent; always exits 0 (it runs from traps).
DIR=${1:?usage: sshd-down.sh DIR}
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }  # zombies are dead
DIR=$(cd "$DIR" 2>/dev/null && pwd) || exit 0   # sshd-up.sh wrote the absolute path into the config
[ -f "$DIR/sshd.pid" ] || exit 0
pid=$(cat "$DIR/sshd.pid")
[[ $pid =~ ^[0-9]+$ ]] || exit 0
# Only if that PID is still our sshd (PIDs get reused): its command line names our config.
if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/sshd_config"; then
  children=$(pgrep -P "$pid" 2>/dev/null || true)
  kill -TERM "$pid" $children 2>/dev/null
  for p in $pid $children; do
    for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
    alive "$p" && kill -KILL "$p" 2>/dev/null
  done
fi
rm -f "$DIR/sshd.pid"
exit 0
