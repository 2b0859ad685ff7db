# shellcheck shell=bash
# Shared by the end-to-end cluster tests (sourced after lib.sh): a raythenad site from
# tests/fakes/rtysite.py, the real binaries under a fake install prefix, a Slurm with one slurmd per
# network namespace (each node has its own 127.0.0.1, so every stub can use pilot's port 8080 as on
# a real cluster), sbatch of slurm/raythenad.sbatch itself, bounded polling, and cleanup by PID.
#
# Use:  rty_job_init NAME  (sets WORK, SITE, PREFIX; installs the EXIT trap)
#       rty_job_netns_slurm / rty_job_make_site ARGS... / rty_job_submit [sbatch options]
#       rty_job_wait JOB SECONDS / rty_job_state JOB / ...
# Cleanup (EXIT trap, also on failure): slurm-down.sh (cancels jobs, stops daemons and this cluster's
# slurmstepds by PID), netns-down.sh, sshd-down.sh for every sshd dir registered in RTY_SSHD_DIRS,
# then every process whose command line names $WORK (stubs, pilots, raythenad) by PID; logs are
# printed when the test failed (or always with RTY_TEST_VERBOSE=1).

RTY_SRC=${RTY_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RTY_SBATCH=$RTY_SRC/slurm/raythenad.sbatch
RTY_SSHD_DIRS=()
RTY_NETNS_USED=0

rty_job_require_slurm() {
  rty_require_root
  rty_require_exec /usr/sbin/slurmctld slurmctld
  rty_require_exec /usr/sbin/slurmd slurmd
  rty_require_exec /usr/sbin/munged munge
  command -v ip >/dev/null || rty_skip "ip is missing (Debian package iproute2)"
}

# The binaries as a site installs them: PREFIX/bin/{raythenad,raythena-stub}. Symlinks resolve to the
# build tree, so raythenad would look for the stub next to its real path: the sites' config names it.
rty_job_binaries() {
  local b=${RTY_BUILD_DIR:-}
  RTY_RAYTHENAD=$b/src/coordinator/raythenad
  RTY_STUB=$b/src/stub/raythena-stub
  [ -x "$RTY_RAYTHENAD" ] || rty_fail "raythenad not found at '$RTY_RAYTHENAD' (set RTY_BUILD_DIR, build raythenad)"
  [ -x "$RTY_STUB" ] || rty_fail "raythena-stub not found at '$RTY_STUB' (build raythena-stub)"
  mkdir -p "$PREFIX/bin"
  ln -sf "$RTY_RAYTHENAD" "$PREFIX/bin/raythenad"
  ln -sf "$RTY_STUB" "$PREFIX/bin/raythena-stub"
}

# PIDs of live processes whose command line contains $1 (our unique temp dir): never a broad name.
# No `tr | grep -q` pipe: grep -q exits at the first match, tr may then die of SIGPIPE, and with
# pipefail the match counts as a miss.
rty_pids_naming() {
  local p c
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    c=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    [[ $c == *"$1"* ]] && rty_alive "$p" && echo "$p"
  done
  return 0
}

rty_job_dump_logs() {
  local f
  for f in "$WORK"/job-*.out "$SITE"/workdir/raythenad.log "$SITE"/workdir/*/stub-logs/* "$WORK"/*.log; do
    [ -f "$f" ] && { echo "=== $f" >&2; tail -40 "$f" >&2; }
  done
  for f in "$SITE"/workdir/*/*/log.pilotwrapper "$SITE"/workdir/*/*/wrapper.err; do
    [ -f "$f" ] && { echo "=== $f" >&2; tail -10 "$f" >&2; }
  done
  [ -f "$WORK/slurm/log/slurmctld.log" ] && { echo "=== slurmctld.log" >&2; tail -25 "$WORK/slurm/log/slurmctld.log" >&2; }
  return 0
}

rty_job_cleanup() {
  local rc=$? d p
  set +e
  trap - EXIT
  if { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; } || [ -n "${RTY_TEST_VERBOSE:-}" ]; then rty_job_dump_logs; fi
  [ -d "$WORK/slurm/run" ] && "$here/slurm-down.sh" "$WORK/slurm"
  for d in "${RTY_SSHD_DIRS[@]}"; do "$here/sshd-down.sh" "$d"; done
  for p in $(rty_pids_naming "$WORK"); do rty_kill_pid "$p"; done
  [ "$RTY_NETNS_USED" -gt 0 ] && "$here/netns-down.sh" "$RTY_NETNS_USED"
  rm -rf "$WORK"
  exit "$rc"
}

rty_job_init() {
  RTY_DEADLINE=$((SECONDS + ${RTY_BUDGET:-150}))
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/rty-$1.XXXXXX")
  SITE=$WORK/site
  PREFIX=$WORK/prefix
  trap rty_job_cleanup EXIT
  rty_job_binaries
}

# rty_job_make_site ARGS...: rtysite.py make with the test's overrides; the stub from PREFIX.
rty_job_make_site() {
  python3 "$RTY_SRC/tests/fakes/rtysite.py" make "$SITE" --set "ray.stubexecutable=$PREFIX/bin/raythena-stub" \
    --set logging.driverlogfile="$SITE/workdir/raythenad.log" "$@" >/dev/null || rty_fail "rtysite.py make failed"
}

# 3 namespaces rty1..rty3 on a bridge, one slurmd in each (node1..node3, 10.200.0.1..3).
rty_job_netns_slurm() {
  rty_machine_lock rty_netns
  rty_machine_lock rty_slurm
  RTY_NETNS_USED=3
  "$here/netns-up.sh" 3 || rty_fail "netns-up.sh failed"
  export RTY_SLURM_PORT
  RTY_SLURM_PORT=$(rty_free_ports 2)
  local out
  out=$("$here/slurm-netns-up.sh" 3 "$WORK/slurm") || rty_fail "slurm-netns-up.sh failed"
  eval "$out"
}

# 3 emulated nodes on this host (slurm-up.sh: one slurmd -N nodeK each, all sharing 127.0.0.1): the
# stubs need payload.serverport 0 then (each its own free port and pilot config copy).
rty_job_shared_slurm() {
  rty_machine_lock rty_slurm
  export RTY_SLURM_PORT
  RTY_SLURM_PORT=$(rty_free_ports 20)
  local out
  out=$("$here/slurm-up.sh" 3 "$WORK/slurm") || rty_fail "slurm-up.sh failed"
  eval "$out"
}

# rty_job_submit [sbatch options] -- [script args]: submits slurm/raythenad.sbatch itself with the
# environment a Harvester template would give it; prints the job id.
rty_job_submit() {
  local opts=() job
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  # The fake pilot at 5x pilot3's pace (as in the e2e tests); sbatch exports the environment to the job.
  job=$(cd "$WORK" && FAKE_PILOT_REPORT_INTERVAL=${FAKE_PILOT_REPORT_INTERVAL:-1} \
        FAKE_PILOT_COMM_SLEEP=${FAKE_PILOT_COMM_SLEEP:-0.2} timeout 30 sbatch --parsable -N3 -t 10 -J rty-test -o "$WORK/job-%j.out" "${opts[@]}" \
        "$RTY_SBATCH" "$@") || rty_fail "sbatch failed"
  echo "${job%%;*}"
}

# rty_job_state JOB: JobState (empty once the job is gone from slurmctld).
rty_job_state() { timeout 10 scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
rty_job_exit() { timeout 10 scontrol show job -o "$1" 2>/dev/null | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2; }

# rty_left SECONDS: SECONDS, or less so that the test ends before its budget (RTY_BUDGET, default 150 s
# from rty_job_init; ctest's TIMEOUT is 180): ctest kills a test that runs over, and then no EXIT trap
# stops the daemons.
rty_left() {
  local left=$((RTY_DEADLINE - SECONDS))
  [ "$left" -lt 1 ] && left=1
  [ "$1" -lt "$left" ] && left=$1
  echo "$left"
}

# rty_job_wait JOB SECONDS: until the job has ended (polled every 0.2 s; sbatch --wait polls at growing
# intervals and returns seconds late). Prints the final state; state changes go to stderr.
rty_job_wait() {
  local job=$1 end=$((SECONDS + $(rty_left "$2"))) s='' last='' unknown=0
  while [ "$SECONDS" -lt "$end" ]; do
    s=$(rty_job_state "$job")
    [ "$s" != "$last" ] && { echo "--- job $job: ${s:-(no answer)}" >&2; last=$s; }
    case "$s" in
      PENDING | RUNNING | CONFIGURING | COMPLETING | SUSPENDED) unknown=0; sleep 0.2 ;;
      "") # slurmctld slow to answer, or the job already purged (MinJobAge)
        unknown=$((unknown + 1))
        if [ "$unknown" -ge 10 ] && [[ $(timeout 10 scontrol show job "$job" 2>&1) == *"Invalid job id"* ]]; then
          echo "GONE"; return 0
        fi
        sleep 0.2 ;;
      *) echo "$s"; return 0 ;;
    esac
  done
  echo "TIMEOUT($s)"
}

# rty_job_wait_log SECONDS PATTERN: until raythenad's log has a line matching PATTERN (grep -E).
rty_job_wait_log() { rty_wait_for "$(rty_left "$1")" grep -qE -- "$2" "$SITE/workdir/raythenad.log" 2>/dev/null; }

# rty_job_verify [rtysite verify options]: every event in exactly one merged output; prints problems.
rty_job_verify() {
  python3 "$RTY_SRC/tests/fakes/rtysite.py" verify "$SITE" "$@" >"$WORK/verify.json" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || cat "$WORK/verify.json" >&2
  return $rc
}
