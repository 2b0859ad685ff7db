#!/bin/bash
# slurm-down.sh BASEDIR: stop what slurm-up.sh / slurm-netns-up.sh started in BASEDIR, by PID only
# (BASEDIR/run/*.pid). Bounded waits; idempotent; always exits 0 (it runs from traps).
#   1. cancel this cluster's jobs while slurmctld is up: a slurmstepd whose controller is gone
#      retries forever to report its step's completion;
#   2. `scontrol shutdown` (slurmctld and every slurmd), then SIGKILL whatever is left, by PID;
#   3. munged, only if we started it (BASEDIR/run/munged.pid exists).
BASE=${1:?usage: slurm-down.sh BASEDIR}
BASE=$(cd "$BASE" 2>/dev/null && pwd) || exit 0
[ -d "$BASE/run" ] || exit 0
export SLURM_CONF="$BASE/slurm.conf"
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }  # zombies are dead
pid_of() { local p; p=$(cat "$1" 2>/dev/null) && [[ $p =~ ^[0-9]+$ ]] && echo "$p"; }
# slurmstepd processes of THIS cluster: they hold an fd open on a log file under $BASE
our_stepds() {
  local p
  for p in $(pgrep -x slurmstepd 2>/dev/null); do
    ls -l "/proc/$p/fd" 2>/dev/null | grep -q "$BASE/" && echo "$p"
  done
}
ctld=$(pid_of "$BASE/run/slurmctld.pid" || true)
if [ -n "$ctld" ] && alive "$ctld"; then
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
  [ -n "$jobs" ] && timeout 10 scancel $jobs 2>/dev/null
  for _ in $(seq 150); do
    [ -z "$(timeout 5 squeue -h 2>/dev/null)" ] && [ -z "$(our_stepds)" ] && break
    sleep 0.2
  done
  timeout 10 scontrol shutdown >/dev/null 2>&1 || true
fi
for f in "$BASE"/run/slurmd-*.pid "$BASE"/run/slurmctld.pid; do
  [ -f "$f" ] || continue
  p=$(pid_of "$f") || continue
  for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
  alive "$p" && kill -KILL "$p" 2>/dev/null
  rm -f "$f"
done
for p in $(our_stepds); do kill -KILL "$p" 2>/dev/null; done
if p=$(pid_of "$BASE/run/munged.pid"); then
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
  alive "$p" && kill -KILL "$p" 2>/dev/null
  rm -f "$BASE/run/munged.pid"
fi
exit 0
