#!/bin/bash
# slurm-netns-up.sh N BASEDIR: Slurm with one slurmd per network namespace (run netns-up.sh N first).
# The root namespace runs munged + slurmctld on the bridge address ${NET}.254; nodeK runs in
# namespace ${P}K with address ${NET}.K, its own host name (unshare --uts) and its own /etc/hosts
# (bind-mounted in a private mount namespace: the real /etc/hosts is untouched).
# P/NET as in netns-up.sh (RTY_NETNS_PREFIX, RTY_NETNS_NET). Prints "export SLURM_CONF=..." like
# slurm-up.sh; PIDs in BASEDIR/run. Undo: slurm-down.sh BASEDIR, then netns-down.sh N.
set -euo pipefail
N=${1:?usage: slurm-netns-up.sh N BASEDIR}; BASE=${2:?usage: slurm-netns-up.sh N BASEDIR}
P=${RTY_NETNS_PREFIX:-rty}; NET=${RTY_NETNS_NET:-10.200.0}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/slurm-common.sh"
[ "$BASE" != / ] || { echo "slurm-netns-up.sh: refusing BASEDIR=/" >&2; exit 2; }
for i in $(seq 1 "$N"); do
  [ -e "/run/netns/$P$i" ] || { echo "slurm-netns-up.sh: namespace $P$i missing; run netns-up.sh $N first" >&2; exit 1; }
done
mkdir -p "$BASE"; BASE=$(cd "$BASE" && pwd)
"$here/slurm-down.sh" "$BASE"
rm -rf "$BASE"/{state,log,run,spool,slurm.conf,hosts}
mkdir -p "$BASE"/{state,log,run}
for i in $(seq 1 "$N"); do mkdir -p "$BASE/spool/node$i"; done
# Undo a half-done start whatever step fails (set -e exits from inside functions, too).
trap 'rc=$?; [ $rc -eq 0 ] || "$here/slurm-down.sh" "$BASE"; exit $rc' EXIT
HOST=$(hostname -s)
rty_start_munge "$BASE"
{
  rty_slurm_conf_common "$BASE" rtyns "${HOST}($NET.254)"
  echo "NodeName=node[1-$N] NodeHostname=node[1-$N] NodeAddr=$NET.[1-$N] CPUs=2 RealMemory=2000 State=UNKNOWN"
  echo "PartitionName=debug Nodes=node[1-$N] Default=YES MaxTime=INFINITE State=UP"
} >"$BASE/slurm.conf"
{ cat /etc/hosts; echo "$NET.254 ${HOST}-head"; for i in $(seq 1 "$N"); do echo "$NET.$i node$i"; done; } >"$BASE/hosts"
export SLURM_CONF="$BASE/slurm.conf"
rty_start_slurmctld "$BASE"
for i in $(seq 1 "$N"); do
  # nsenter, unshare and sh all exec, so $! is slurmd's own PID. Not `ip netns exec`: it remounts
  # /sys, hiding /sys/fs/cgroup, and slurmd 22.05 then fails to initialise.
  nsenter --net="/run/netns/$P$i" unshare --uts --mount \
    sh -c "mount --bind '$BASE/hosts' /etc/hosts && hostname node$i && exec slurmd -D -f '$SLURM_CONF'" \
    >"$BASE/log/slurmd-node$i.out" 2>&1 &
  echo $! >"$BASE/run/slurmd-node$i.pid"
done
rty_wait_idle "$BASE" "$N"
sinfo -N >&2
echo "export SLURM_CONF=$SLURM_CONF"
