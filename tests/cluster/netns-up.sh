#!/bin/bash
# netns-up.sh [N]: N network namespaces ${P}1..${P}N (P = $RTY_NETNS_PREFIX, default "rty") on a bridge
# ${P}br0 that has ${NET}.254/24 in the root namespace (NET = $RTY_NETNS_NET, default 10.200.0);
# namespace i gets ${NET}.i/24 on its eth0 and a loopback. No default route, no forwarding, no NAT:
# these addresses reach nothing but each other and this host.
# On failure everything created so far is removed again. Undo with netns-down.sh N.
set -euo pipefail
N=${1:-3}
P=${RTY_NETNS_PREFIX:-rty}
NET=${RTY_NETNS_NET:-10.200.0}
here=$(cd "$(dirname "$0")" && pwd)
if ! [[ $N =~ ^[0-9]+$ ]] || [ "$N" -lt 1 ] || [ "$N" -gt 250 ]; then
  echo "netns-up.sh: N must be 1..250, got '$N'" >&2; exit 2
fi
"$here/netns-down.sh" "$N"          # leftovers of an earlier run
# Undo a half-done start whatever step fails (set -e exits from inside functions, too).
trap 'rc=$?; [ $rc -eq 0 ] || "$here/netns-down.sh" "$N"; exit $rc' EXIT
ip link add "${P}br0" type bridge
ip addr add "$NET.254/24" dev "${P}br0"
ip link set "${P}br0" up
for i in $(seq 1 "$N"); do
  ip netns add "$P$i"
  ip link add "${P}v$i" type veth peer name eth0 netns "$P$i"
  ip link set "${P}v$i" master "${P}br0" up
  ip -n "$P$i" addr add "$NET.$i/24" dev eth0
  ip -n "$P$i" link set eth0 up
  ip -n "$P$i" link set lo up
done
