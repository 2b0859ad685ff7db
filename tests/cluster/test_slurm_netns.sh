#!/bin/bash
# Cluster test of the scripts themselves: Slurm with one slurmd per network namespace
# (netns-up.sh 3 + slurm-netns-up.sh): a 3-node step runs with each task in its own namespace,
# host name and address. Everything is stopped by PID in the EXIT trap, also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

rty_require_root
rty_require_exec /usr/sbin/slurmctld slurmctld
rty_require_exec /usr/sbin/slurmd slurmd
rty_require_exec /usr/sbin/munged munge
rty_machine_lock rty_netns   # before the trap: its cleanup removes the namespaces
rty_machine_lock rty_slurm
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rty-slurmns.XXXXXX")
cleanup() {
  local rc=$?
  set +e
  "$here/slurm-down.sh" "$WORK/slurm"
  "$here/netns-down.sh" 3
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    tail -20 "$WORK"/slurm/log/slurmctld.log "$WORK"/slurm/log/slurmd-node*.out >&2
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

"$here/netns-up.sh" 3
export RTY_SLURM_PORT
RTY_SLURM_PORT=$(rty_free_ports 2)
eval "$("$here/slurm-netns-up.sh" 3 "$WORK/slurm")"
out=$(timeout 60 srun -N3 --ntasks-per-node=1 sh -c 'echo "$(hostname) $SLURMD_NODENAME $(ip -o -4 addr show dev eth0 | grep -o "10\.200\.0\.[0-9]*")"' | sort)
expected=$'node1 node1 10.200.0.1\nnode2 node2 10.200.0.2\nnode3 node3 10.200.0.3'
rty_check "each task ran in its node's namespace: $(tr '\n' ';' <<<"$out")" [ "$out" = "$expected" ]
echo "PASS: slurm in network namespaces" >&2
