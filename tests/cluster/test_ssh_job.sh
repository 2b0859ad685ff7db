#!/bin/bash
# Cluster test ssh_job: raythenad with the ssh launcher (libssh2) end to end against two real sshds:
# one on 127.0.0.1:<free port> in this namespace, one inside network namespace rty2 on 10.200.0.2:22.
# raythenad listens on the bridge address 10.200.0.254 (--ray-head-ip), which both stubs reach; each
# stub serves pilot on its own namespace's 127.0.0.1. One known_hosts file holds both host keys and
# one ed25519 key logs in to both. Three runs of the same job:
#   1. slow pilots, SIGTERM to raythenad once both run: exit 3, and no stub or pilot is left after it;
#   2. slow pilots, SIGKILL to raythenad: the stubs lose their channel and, after ray.stubgrace,
#      kill their pilots and exit (no orphans) ...
#   3. ... and a last run resumes and completes: exit 0, every event in exactly one merged output.
# The slow pilot comes from payload.extrasetup (an ssh session does not carry our environment).
# HARVESTER_PILOT_CONFIG is deliberately NOT set there: an ssh-started stub has no such variable and
# must hand pilot the coordinator's pilot_config path itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/job_lib.sh"

rty_require_root
rty_require_exec /usr/sbin/sshd openssh-server
command -v ip >/dev/null || rty_skip "ip is missing (Debian package iproute2)"
rty_job_init ssh-job
rty_machine_lock rty_netns
RTY_NETNS_USED=2
"$here/netns-up.sh" 2 || rty_fail "netns-up.sh failed"
S1=$WORK/sshd-lo S2=$WORK/sshd-ns
RTY_SSHD_DIRS=("$S1" "$S2")
P1=$(rty_free_ports 1)
"$here/sshd-up.sh" "$S1" 127.0.0.1 "$P1" || rty_fail "sshd on 127.0.0.1:$P1 did not start"
mkdir -p "$S2" && cp -p "$S1"/id_ed25519* "$S1"/id_ecdsa* "$S2"/   # one user key for both hosts
"$here/sshd-up.sh" "$S2" 10.200.0.2 22 rty2 || rty_fail "sshd in rty2 did not start"
cat "$S1/known_hosts" "$S2/known_hosts" >"$WORK/known_hosts"
HOSTS="root@127.0.0.1:$P1,10.200.0.2"
PORT=$(rty_free_ports 1)   # pilot's port: free here, and rty2 has its own loopback

make_site() {  # make_site [--no-job] EXTRASETUP
  local nojob=()
  [ "$1" = --no-job ] && { nojob=(--no-job); shift; }
  rty_job_make_site "${nojob[@]}" --inputs 3 --events 40 --events-per-output 20 --port "$PORT" \
    --set payload.serverport="$PORT" --set ray.launcher=ssh --set ray.sshkey="$S1/id_ed25519" \
    --set ray.sshknownhosts="$WORK/known_hosts" \
    --set payload.extrasetup="export FAKE_PILOT_REPORT_INTERVAL=1 FAKE_PILOT_COMM_SLEEP=0.2; $1"
}  # the fake pilot at 5x pilot3's pace, as in the e2e tests (ssh stubs do not inherit our environment)
log=$SITE/workdir/raythenad.log
coord_pid=
start_coordinator() {
  HARVESTER_PILOT_CONFIG=$SITE/pilot/default.cfg \
    "$PREFIX/bin/raythenad" --config "$SITE/raythenad.yaml" --ssh-hosts "$HOSTS" --ray-head-ip 10.200.0.254 \
    >>"$WORK/raythenad.stderr" 2>&1 &
  coord_pid=$!
}
# wait_exit SECONDS: sets rc to raythenad's exit code (or "timeout"). Not in a $(subshell): only
# this shell can wait for its child.
coord_gone() { ! rty_alive "$coord_pid"; }
wait_exit() {
  rc=timeout
  rty_wait_for "$(rty_left "$1")" coord_gone || return 0
  rc=0; { wait "$coord_pid"; } 2>/dev/null || rc=$?
}
stubs() { rty_pids_naming "$SITE/workdir/.raythenad-secret"; }   # our stubs, by their argv
pilots() { rty_pids_naming "$SITE/pilot/runpilot2-wrapper.sh"; }
none_left() { [ -z "$(stubs)$(pilots)" ]; }
both_running() {
  local n
  n=$(grep -cE 'node (127\.0\.0\.1|10\.200\.0\.2): pilot job state running' "$log" 2>/dev/null) || true
  [ "${n:-0}" -ge 2 ]
}

make_site "export FAKE_PILOT_DELAY=0.1;"
rty_note "run 1: SIGTERM while both pilots run"
lines=0
start_coordinator
rty_wait_for "$(rty_left 60)" both_running || rty_fail "the pilots of both ssh hosts did not start"
stub_of() { [ -n "$(rty_pids_naming "--node-id $1 --secret-file $SITE/workdir/.raythenad-secret")" ]; }
for n in 127.0.0.1 10.200.0.2; do
  stub_of "$n" || for p in $(stubs); do echo "stub process $p: $(tr '\0' ' ' </proc/$p/cmdline)" >&2; done
  rty_check "a stub for $n runs" stub_of "$n"
done
rty_check "stub 10.200.0.2 came in over the bridge" grep -q "node 10.200.0.2 joined from 10.200.0.2:" "$log"
rty_check "stub 127.0.0.1 reached the bridge address" grep -q "node 127.0.0.1 joined from 10.200.0.254:" "$log"
kill -TERM "$coord_pid"
wait_exit 60
rty_check "raythenad exited 3 after SIGTERM (got $rc)" [ "$rc" = 3 ]
rty_check "no stub or pilot left once raythenad has exited" rty_wait_for 5 none_left
for n in 127.0.0.1 10.200.0.2; do
  rty_check "the launcher saw remote stub $n exit" grep -qE "remote stub $n \(pid [0-9]+\) exited" "$log"
done

rty_note "run 2: SIGKILL"
lines=$(wc -l <"$log")
start_coordinator
rty_wait_for "$(rty_left 60)" bash -c "tail -n +$((lines + 1)) '$log' | grep -cE 'pilot job state running' | grep -qx 2" \
  || rty_fail "run 2: the pilots did not start"
kill -KILL "$coord_pid"
wait_exit 5
# ray.stubgrace is 3 s in rtysite's config; then the stub kills its pilot's group and exits.
rty_check "every stub and pilot exits on its own within the grace" rty_wait_for 15 none_left

rty_note "run 3: resume and finish"
make_site --no-job ""
lines=$(wc -l <"$log")
start_coordinator
wait_exit 120
rty_check "raythenad exited 0 (got $rc)" [ "$rc" = 0 ]
rty_check "run 3 resumed from the checkpoint" bash -c "tail -n +$((lines + 1)) '$log' | grep -q 'resumed from'"
rty_check "every event in exactly one merged output, final report consistent" rty_job_verify
for n in 127.0.0.1 10.200.0.2; do
  rty_check "node dir of $n" [ -d "$SITE/workdir/6000000001/$n" ]
done
rty_check "no stub or pilot left" rty_wait_for 5 none_left
echo "PASS: ssh_job" >&2
