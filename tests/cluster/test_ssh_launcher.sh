#!/bin/bash
# Cluster test: the ssh launcher (libssh2) against a real private sshd.
#   test_ssh_launcher.sh loopback   sshd on 127.0.0.1:<free port>, host given as root@127.0.0.1:PORT
#   test_ssh_launcher.sh netns      sshd inside network namespace rty2 on 10.200.0.2:22, host given
#                                   as plain "10.200.0.2" (default user and port)
# The "shared filesystem" is a temp dir holding a stand-in stub that records its argv, host name, PID,
# environment secret and SSH_CONNECTION, writes a line to stderr, then waits for SIGTERM (or exits at
# once with the code in shared/exit-code). rty_launch_tool drives the launcher; its log is the
# coordinator-side log. Every daemon and stub is stopped by PID in the EXIT trap, also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
mode=${1:-loopback}

rty_require_root
rty_require_exec /usr/sbin/sshd openssh-server
TOOL=$(rty_tool)
# before the trap: its cleanup removes the namespaces in netns mode
if [ "$mode" = netns ]; then rty_machine_lock rty_netns; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rty-ssh-$mode.XXXXXX")
SHARED=$WORK/shared
mkdir -p "$SHARED/records"

cleanup() {
  local rc=$?
  set +e
  if [ -n "${tool_pid:-}" ]; then rty_kill_pid "$tool_pid"; fi
  for f in "$SHARED"/records/*; do   # stand-in stubs the launcher did not stop
    [ -f "$f" ] && rty_kill_pid "$(sed -n 's/^pid=//p' "$f")"
  done
  "$here/sshd-down.sh" "$WORK/sshd"
  [ "$mode" = netns ] && "$here/netns-down.sh" 2
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    echo "=== sshd log" >&2; tail -30 "$WORK/sshd/sshd.log" >&2
    echo "=== coordinator log" >&2; tail -30 "$WORK/coordinator.log" >&2
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

case "$mode" in
  loopback)
    ADDR=127.0.0.1; PORT=$(rty_free_ports 1); HOSTSPEC="root@127.0.0.1:$PORT"; KNOWN_NAME="[127.0.0.1]:$PORT"
    "$here/sshd-up.sh" "$WORK/sshd" "$ADDR" "$PORT" ;;
  netns)
    ADDR=10.200.0.2; PORT=22; HOSTSPEC=10.200.0.2; KNOWN_NAME=10.200.0.2
    "$here/netns-up.sh" 2
    "$here/sshd-up.sh" "$WORK/sshd" "$ADDR" "$PORT" rty2 ;;
  *) rty_fail "unknown mode '$mode' (loopback or netns)" ;;
esac
NODE=${ADDR}   # the launcher's node id is the host name

cat >"$SHARED/stub.sh" <<'STUB'
#!/bin/sh
# Stand-in for raythena-stub: records what it got, then waits to be stopped.
dir=$(dirname "$0")
{
  echo "argv=$*"
  echo "hostname=$(hostname)"
  echo "pid=$$"
  echo "secret_env=${RAYTHENA_STUB_SECRET:-}"
  echo "ssh_connection=${SSH_CONNECTION:-}"
} >"$dir/records/.$$" && mv "$dir/records/.$$" "$dir/records/$$"
echo "stand-in stub $$ on stderr" >&2
if [ -f "$dir/exit-code" ]; then exit "$(cat "$dir/exit-code")"; fi
trap 'kill $child 2>/dev/null; echo "stand-in stub $$ got TERM" >&2; exit 0' TERM
sleep 120 & child=$!
wait
STUB
chmod 755 "$SHARED/stub.sh"
SECRET="secret-$RANDOM$RANDOM"
printf '%s' "$SECRET" >"$SHARED/secret"; chmod 600 "$SHARED/secret"

# request KEY KNOWN_HOSTS ACCEPT_NEW -> JSON launch request
request() {
  python3 - "$SHARED" "$SECRET" "$HOSTSPEC" "$1" "$2" "$3" "$WORK/logs" <<'PY'
import json, sys
shared, secret, host, key, known, accept, logs = sys.argv[1:]
print(json.dumps({"launcher": "ssh", "stub_executable": shared + "/stub.sh", "coordinator": "127.0.0.1:1",
                  "secret": secret, "secret_file": shared + "/secret", "log_dir": logs, "ssh_hosts": [host],
                  "ssh_key": key, "ssh_known_hosts": known, "ssh_accept_new": accept == "true"}))
PY
}
# run_once KEY KNOWN_HOSTS ACCEPT_NEW: launch, stop at once; sets LAUNCHED, STOPPED (JSON lines), RC.
run_once() {
  local out
  RC=0
  out=$(timeout 60 "$TOOL" --wait 0 "$(request "$@")" 2>>"$WORK/coordinator.log") || RC=$?
  LAUNCHED=$(sed -n 1p <<<"$out"); STOPPED=$(sed -n 2p <<<"$out")
  [ -n "$STOPPED" ] || rty_fail "rty_launch_tool gave no result (rc $RC): $out"
}
failure() { rty_json "$LAUNCHED" '(d["failures"] or [""])[0]'; }
contains() { [[ $1 == *"$2"* ]]; }
log_has() { grep -qF -- "$1" "$WORK/coordinator.log"; }

# --- 1. launch, the stub's argv and output, stop_all kills it --------------------------------------
rty_note "launch with the ed25519 key against $HOSTSPEC"
coproc TOOLP { exec timeout 120 "$TOOL" --wait 100 --stdin "$(request "$WORK/sshd/id_ed25519" "$WORK/sshd/known_hosts" false)" 2>>"$WORK/coordinator.log"; }
tool_pid=$TOOLP_PID
read -r -t 30 -u "${TOOLP[0]}" LAUNCHED || rty_fail "no launch result within 30 s"
rty_check "launch reports no failure: $(failure)" [ "$(rty_json "$LAUNCHED" 'len(d["failures"])')" = 0 ]
rty_check "one remote stub alive" [ "$(rty_json "$LAUNCHED" 'd["remote_alive"]')" = 1 ]
rty_check "node id is the host name" [ "$(rty_json "$LAUNCHED" 'd["processes"][0]["node_ids"][0]')" = "$NODE" ]
rty_wait_for 10 bash -c "ls '$SHARED/records' | grep -q ." || rty_fail "the stand-in stub wrote no record"
rec=$(ls "$SHARED/records"); rec_file=$SHARED/records/$rec
field() { sed -n "s/^$1=//p" "$rec_file"; }
stub_pid=$(field pid)
rty_check "argv is stub_argv with the host as node id, the secret only as a file" \
  [ "$(field argv)" = "--coordinator 127.0.0.1:1 --node-id $NODE --secret-file $SHARED/secret" ]
rty_check "no secret on the command line" bash -c "! grep -qF -- '$SECRET' '$rec_file'"
rty_check "no secret in the environment over ssh" [ -z "$(field secret_env)" ]
rty_check "the stub ran through our sshd at $ADDR:$PORT" contains "$(field ssh_connection)" "$ADDR $PORT"
rty_check "the stub ran on this machine (shared filesystem)" [ "$(field hostname)" = "$(hostname)" ]
rty_check "the stub runs" rty_alive "$stub_pid"
rty_check "its stderr reached the coordinator log" \
  rty_wait_for 10 log_has "| ssh $ADDR | stand-in stub $stub_pid on stderr"
rty_check "the launcher learnt the remote PID" log_has "remote pid $stub_pid"
exec {TOOLP[1]}>&-   # stdin EOF: the tool calls stop_all()
read -r -t 30 -u "${TOOLP[0]}" STOPPED || rty_fail "no stop result within 30 s"
wait "$tool_pid" || rty_fail "rty_launch_tool failed"
tool_pid=
rty_check "remote_alive was 1 before stop_all" [ "$(rty_json "$STOPPED" 'd["remote_alive_before_stop"]')" = 1 ]
rty_check "remote_alive is 0 after stop_all" [ "$(rty_json "$STOPPED" 'd["remote_alive"]')" = 0 ]
rty_check "stop_all killed the remote stub" rty_wait_for 5 bash -c "! [ -d /proc/$stub_pid ] || grep -q '^State:.*Z' /proc/$stub_pid/status"
rty_check "the stub's last words were forwarded" log_has "stand-in stub $stub_pid got TERM"
rty_check "its exit was logged" log_has "remote stub $NODE (pid $stub_pid) exited with status 0"
rty_check "the per-node log file has its output" grep -qF "stand-in stub $stub_pid on stderr" "$WORK/logs/ssh-$NODE.log"

# From here on the stand-in exits by itself.
echo 3 >"$SHARED/exit-code"
rm -f "$SHARED"/records/*

# --- 2. a stub that exits on its own is noticed ----------------------------------------------------
rty_note "a remote stub that exits with status 3"
out=$(timeout 60 "$TOOL" --wait 30 --children "$(request "$WORK/sshd/id_ed25519" "$WORK/sshd/known_hosts" false)" 2>>"$WORK/coordinator.log")
STOPPED=$(sed -n 2p <<<"$out")
rty_check "the exit was noticed before stop_all (remote_alive 0)" [ "$(rty_json "$STOPPED" 'd["remote_alive_before_stop"]')" = 0 ]
rty_check "the exit status was logged" log_has "exited with status 3"

# --- 3. the ecdsa key works too --------------------------------------------------------------------
rty_note "ecdsa user key"
run_once "$WORK/sshd/id_ecdsa" "$WORK/sshd/known_hosts" false
rty_check "ecdsa key accepted: $(failure)" [ "$RC" = 0 ]

# --- 4. unknown host key refused -------------------------------------------------------------------
rty_note "unknown host key"
rm -f "$SHARED"/records/*
: >"$WORK/known_hosts.empty"
run_once "$WORK/sshd/id_ed25519" "$WORK/known_hosts.empty" false
msg=$(failure)
rty_check "unknown host refused, naming the host: $msg" contains "$msg" "ssh $HOSTSPEC: host key unknown"
rty_check "...and naming the known_hosts file" contains "$msg" "$WORK/known_hosts.empty"
rty_check "...and the offered key's fingerprint as ssh-keygen shows it" \
  contains "$msg" "$(ssh-keygen -l -f "$WORK/sshd/hostkey_ed25519.pub" | cut -d' ' -f2)"
rty_check "nothing ran on the refused host" [ -z "$(ls "$SHARED/records")" ]

# --- 5. accept-new adds the key, which is then trusted ---------------------------------------------
rty_note "accept-new"
run_once "$WORK/sshd/id_ed25519" "$WORK/known_hosts.new" true
rty_check "accept-new launches: $(failure)" [ "$RC" = 0 ]
want="$KNOWN_NAME $(cut -d' ' -f1,2 "$WORK/sshd/hostkey_ed25519.pub")"
rty_check "accept-new wrote '$want'" grep -qxF -- "$want" <(cut -d' ' -f1-3 "$WORK/known_hosts.new")
rty_check "accept-new was logged" log_has "added to $WORK/known_hosts.new"
run_once "$WORK/sshd/id_ed25519" "$WORK/known_hosts.new" false
rty_check "the added key is trusted afterwards: $(failure)" [ "$RC" = 0 ]

# --- 6. a changed host key is refused --------------------------------------------------------------
rty_note "host key mismatch"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/other_host" -C other
echo "$KNOWN_NAME $(cut -d' ' -f1,2 "$WORK/other_host.pub")" >"$WORK/known_hosts.bad"
run_once "$WORK/sshd/id_ed25519" "$WORK/known_hosts.bad" true
msg=$(failure)
rty_check "mismatching host key refused even with accept-new: $msg" contains "$msg" "ssh $HOSTSPEC: host key mismatch"

# --- 7. a key the server does not know is refused --------------------------------------------------
rty_note "wrong user key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/wrong_key" -C wrong
run_once "$WORK/wrong_key" "$WORK/sshd/known_hosts" false
msg=$(failure)
rty_check "wrong key refused, naming the host: $msg" contains "$msg" "ssh $HOSTSPEC: authentication refused"
rty_check "the refusal was logged" log_has "cannot start the stub"

# --- 8. a stub that is not there on the host: exec failed -----------------------------------------
rty_note "missing stub executable"
mv "$SHARED/stub.sh" "$SHARED/stub.sh.away"
run_once "$WORK/sshd/id_ed25519" "$WORK/sshd/known_hosts" false
mv "$SHARED/stub.sh.away" "$SHARED/stub.sh"
msg=$(failure)
rty_check "missing stub reported as exec failure naming host and path: $msg" \
  contains "$msg" "ssh $HOSTSPEC: exec failed: stub $SHARED/stub.sh is missing or not executable on $(hostname)"

echo "PASS: ssh launcher ($mode)" >&2
