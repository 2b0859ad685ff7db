#!/bin/bash
# slurm-up.sh N BASEDIR: a private Slurm "cluster" of N emulated nodes node1..nodeN on this host
# (Debian's Slurm is built with MULTIPLE_SLURMD: one `slurmd -N nodeK` per node, each on its own port).
# Prints "export SLURM_CONF=BASEDIR/slurm.conf" on stdout (use with eval); everything else goes to
# stderr. PIDs in BASEDIR/run/*.pid, logs in BASEDIR/log. On failure it stops what it started.
# Ports: RTY_SLURM_PORT (default 16817) and +1, and +11..+10+N for the nodes.
# Undo: slurm-down.sh BASEDIR. Node names do not resolve in DNS; `hostname` is this host's on every node.
set -euo pipefail
N=${1:?usage: slurm-up.sh N BASEDIR}; BASE=${2:?usage: slurm-up.sh N BASEDIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/slurm-common.sh"
[ "$BASE" != / ] || { echo "slurm-up.sh: refusing BASEDIR=/" >&2; exit 2; }
mkdir -p "$BASE"; BASE=$(cd "$BASE" && pwd)
"$here/slurm-down.sh" "$BASE"       # an earlier cluster in the same place
rm -rf "$BASE"/{state,log,run,spool,slurm.conf}
mkdir -p "$BASE"/{state,log,run}
for i in $(seq 1 "$N"); do mkdir -p "$BASE/spool/node$i"; done
# Undo a half-done start whatever step fails (set -e exits from inside functions, too).
trap 'rc=$?; [ $rc -eq 0 ] || "$here/slurm-down.sh" "$BASE"; exit $rc' EXIT
port=${RTY_SLURM_PORT:-16817}
HOST=$(hostname -s)
rty_start_munge "$BASE"
{
  rty_slurm_conf_common "$BASE" rtyci "${HOST}(127.0.0.1)"
  echo "NodeName=node[1-$N] NodeHostname=$HOST NodeAddr=127.0.0.1 Port=[$((port + 11))-$((port + 10 + N))] CPUs=2 RealMemory=2000 State=UNKNOWN"
  echo "PartitionName=debug Nodes=node[1-$N] Default=YES MaxTime=INFINITE State=UP"
} >"$BASE/slurm.conf"
export SLURM_CONF="$BASE/slurm.conf"
rty_start_slurmctld "$BASE"
for i in $(seq 1 "$N"); do
  slurmd -D -N "node$i" -f "$SLURM_CONF" >"$BASE/log/slurmd-node$i.out" 2>&1 &
  echo $! >"$BASE/run/slurmd-node$i.pid"
done
rty_wait_idle "$BASE" "$N"
sinfo -N >&2
echo "export SLURM_CONF=$SLURM_CONF"
