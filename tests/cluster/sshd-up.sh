#!/bin/bash
# sshd-up.sh DIR ADDR PORT [NETNS]: a private sshd for tests, listening on ADDR:PORT (inside network
# namespace NETNS when given, see netns-up.sh). Everything lives in DIR:
#   hostkey_ed25519          host key (libssh2 1.10 cannot do an RSA-only host)
#   id_ed25519, id_ecdsa     user keys for the current user (both in authorized_keys; RSA user keys
#                            do not work with libssh2 1.10: it signs with SHA-1 ssh-rsa only)
#   known_hosts              the host key as a client sees it: "[ADDR]:PORT ssh-ed25519 ..." ("ADDR ..." for 22)
#   sshd.pid, sshd.log       the daemon's PID and its log (-e: to stderr)
# Returns once the port accepts connections; on failure the daemon is stopped again. Undo: sshd-down.sh DIR.
set -euo pipefail
DIR=${1:?usage: sshd-up.sh DIR ADDR PORT [NETNS]}; ADDR=${2:-127.0.0.1}; PORT=${3:-2222}; NS=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
[ -x /usr/sbin/sshd ] || { echo "sshd-up.sh: /usr/sbin/sshd is missing (package openssh-server)" >&2; exit 1; }
mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
"$here/sshd-down.sh" "$DIR"         # an earlier run's daemon, if any
cd "$DIR"
[ -f hostkey_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -f hostkey_ed25519 -C rty-test-host
[ -f id_ed25519 ]      || ssh-keygen -q -t ed25519 -N '' -f id_ed25519 -C rty-test-user
[ -f id_ecdsa ]        || ssh-keygen -q -t ecdsa -b 256 -N '' -f id_ecdsa -C rty-test-user-ecdsa
cat id_ed25519.pub id_ecdsa.pub >authorized_keys
chmod 600 authorized_keys id_ed25519 id_ecdsa hostkey_ed25519
name=$ADDR; [ "$PORT" = 22 ] || name="[$ADDR]:$PORT"
echo "$name $(cut -d' ' -f1,2 hostkey_ed25519.pub)" >known_hosts
cat >sshd_config <<CONF
Port $PORT
ListenAddress $ADDR
HostKey $DIR/hostkey_ed25519
PidFile $DIR/sshd.pidfile
AuthorizedKeysFile $DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# DIR is usually under the world-writable /tmp, which StrictModes would refuse
StrictModes no
PrintMotd no
LogLevel VERBOSE
CONF
install -d -m 0755 /run/sshd        # privilege-separation directory, must exist
/usr/sbin/sshd -t -f "$DIR/sshd_config"
# sshd must be started by its absolute path (it re-executes itself). nsenter execs, so $! is sshd.
if [ -n "$NS" ]; then
  nsenter --net="/run/netns/$NS" /usr/sbin/sshd -D -e -f "$DIR/sshd_config" >"$DIR/sshd.log" 2>&1 &
else
  /usr/sbin/sshd -D -e -f "$DIR/sshd_config" >"$DIR/sshd.log" 2>&1 &
fi
echo $! >"$DIR/sshd.pid"
probe() {
  if [ -n "$NS" ]; then nsenter --net="/run/netns/$NS" bash -c "exec 3<>/dev/tcp/$ADDR/$PORT"
  else bash -c "exec 3<>/dev/tcp/$ADDR/$PORT"; fi
}
for _ in $(seq 100); do probe 2>/dev/null && exit 0; sleep 0.1; done
echo "sshd-up.sh: sshd did not accept connections on $ADDR:$PORT within 10 s; its log:" >&2
cat "$DIR/sshd.log" >&2
"$here/sshd-down.sh" "$DIR"
exit 1
