#!/bin/bash
# Remove what netns-up.sh N created: namespaces ${RTY_NETNS_PREFIX}1..N, their veths and the bridge.
# Idempotent: missing pieces are fine, the exit code is always 0 (it runs from traps).
N=${1:-3}
P=${RTY_NETNS_PREFIX:-rty}
for i in $(seq 1 "$N"); do
  ip netns del "$P$i" 2>/dev/null
  ip link del "${P}v$i" 2>/dev/null   # normally gone with the namespace (its peer lived there)
done
ip link del "${P}br0" 2>/dev/null
exit 0
