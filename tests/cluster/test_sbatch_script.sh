#!/bin/bash
# slurm/raythenad.sbatch without Slurm: stand-ins for squeue and raythenad (in a fake install prefix)
# record what the script did. Checks: the config from the argument or RAYTHENA_CONFIG (made absolute),
# configuration errors exit 2 before anything runs, Harvester's HARVESTER_ACCESS_POINT becomes
# endpoint and workdir, the time-monitor file (ray.workdir and payload.timemonitorfile from `raythenad
# --validate --json`) holds the start time and squeue's limit, `raythenad --validate` runs with the
# run's arguments, its lines reach the job output and a FAIL stops the job (exit 2) before raythenad
# starts, and raythenad is exec'd (same PID as the script: Slurm's SIGTERM reaches it) with --launcher
# srun and the remaining arguments. Needs no root and no daemon (test_srun_job.sh runs the script,
# and the real --validate, on a real Slurm).
#
#   test_sbatch_script.sh          the stand-in part, then (as root, with Slurm installed) the real one:
#   test_sbatch_script.sh slurm    the script on a real 3-node Slurm (slurm-up.sh) with the real
#                                  raythenad: a FAIL of --validate (pilot's config missing; a
#                                  two-address ray.headip, as Cori's `hostname -i` gives) ends the job
#                                  with exit 2 before any stub starts, its lines in the job output; a
#                                  good site runs to exit 0, with the time-monitor file under
#                                  payload.timemonitorfile's name and --validate's lines in the output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ "${1:-}" = slurm ]; then
  . "$here/job_lib.sh"
  rty_job_require_slurm
  rty_job_init sbatch-script
  # payload.serverport 0: the emulated nodes share this host's 127.0.0.1 (each stub its own port).
  rty_job_make_site --inputs 2 --events 8 --events-per-output 8 --set ray.launcher=auto \
    --set payload.serverport=0 --set payload.timemonitorfile=walltime.txt --set payload.pilotkilltime=60
  rty_job_shared_slurm
  # submit NAME ENV...: submits the script with the template's environment plus ENV; sets JOB, OUT.
  submit() {
    local name=$1; shift
    rty_note "sbatch -N3 slurm/raythenad.sbatch ($name)"
    JOB=$(export HARVESTER_ACCESS_POINT="$SITE/workdir" HARVESTER_PILOT_CONFIG="$SITE/pilot/default.cfg" \
                 RAYTHENAD_PREFIX="$PREFIX"
          [ $# -eq 0 ] || export "$@"
          rty_job_submit --no-requeue -- "$SITE/raythenad.yaml")
    STATE=$(rty_job_wait "$JOB" 90)
    CODE=$(rty_job_exit "$JOB")
    OUT=$WORK/job-$JOB.out
  }
  submit "pilot config missing" HARVESTER_PILOT_CONFIG="$SITE/pilot/missing.cfg"
  rty_check "pilot config missing: job $JOB FAILED with exit 2 (got $STATE $CODE)" [ "$STATE $CODE" = "FAILED 2:0" ]
  rty_check "pilot config missing: --validate's FAIL line in the job output" \
    grep -q "FAIL pilotconfig: $SITE/pilot/missing.cfg" "$OUT"
  rty_check "pilot config missing: the script says it stops" grep -q "not starting the run" "$OUT"
  rty_check "pilot config missing: raythenad did not run, no stub started" [ ! -e "$SITE/workdir/raythenad.log" ]
  submit "two head addresses" RAYTHENA_RAY_HEAD_IP="127.0.0.1 127.0.0.2"
  rty_check "two head addresses: job $JOB FAILED with exit 2 (got $STATE $CODE)" [ "$STATE $CODE" = "FAILED 2:0" ]
  rty_check "two head addresses: the FAIL line says so" \
    grep -q "FAIL headip: ray.headip=127.0.0.1 127.0.0.2 — is several space-separated values" "$OUT"
  rty_check "two head addresses: raythenad did not run" [ ! -e "$SITE/workdir/raythenad.log" ]
  submit "good site"
  rty_check "good site: job $JOB COMPLETED with exit 0 (got $STATE $CODE)" [ "$STATE $CODE" = "COMPLETED 0:0" ]
  rty_check "good site: every event merged once" rty_job_verify
  rty_check "good site: --validate ran in the allocation" \
    grep -q "OK launcher: ray.launcher=srun — .*srun inside allocation $JOB" "$OUT"
  rty_check "good site: --validate saw the time-monitor file" grep -q "OK timemonitor: $SITE/workdir/walltime.txt" "$OUT"
  rty_check "good site: no time-monitor file under another name" [ ! -e "$SITE/workdir/jobtimeout.txt" ]
  rty_check "good site: raythenad read the walltime" \
    grep -q "walltime: ranges stop being handed out in" "$SITE/workdir/raythenad.log"
  echo "PASS: sbatch script on Slurm" >&2
  exit 0
fi
SRC=${RTY_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
SCRIPT=$SRC/slurm/raythenad.sbatch
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rty-sbatch.XXXXXX")
trap 'rc=$?; rm -rf "$WORK"; exit $rc' EXIT
mkdir -p "$WORK/prefix/bin" "$WORK/fakebin" "$WORK/conf"
cat >"$WORK/prefix/bin/raythenad" <<'FAKE'
#!/bin/bash
# stand-in: answers --validate [--json] like raythenad (workdir: RAYTHENA_RAY_WORKDIR, else
# FAKE_VALIDATE_WORKDIR; timemonitorfile: FAKE_MONITOR or jobtimeout.txt; FAKE_VALIDATE_FAIL makes the
# text check fail), otherwise records its invocation
if [ "${1:-}" = --validate ]; then
  echo "$*" >>"$FAKE_RECORD.validate"
  wd=${RAYTHENA_RAY_WORKDIR:-${FAKE_VALIDATE_WORKDIR:-}}
  if [ "${2:-}" = --json ]; then
    [ -n "${FAKE_LOAD_ERROR:-}" ] && { echo "raythenad: cannot load configuration x: $FAKE_LOAD_ERROR" >&2; exit 2; }
    printf '{"checks":[{"name":"workdir","status":"OK","detail":"ray.workdir=%s"}],' "$wd"
    printf '"config":{"payload":{"timemonitorfile":"%s"},"ray":{"workdir":"%s"}}}\n' "${FAKE_MONITOR:-jobtimeout.txt}" "$wd"
    exit 0
  fi
  echo "OK config: x — loaded"
  echo "OK workdir: ray.workdir=$wd — writable directory"
  [ -e "$wd/${FAKE_MONITOR:-jobtimeout.txt}" ] && echo "OK timemonitor: monitor file there"
  [ -n "${FAKE_VALIDATE_FAIL:-}" ] && { echo "FAIL headip: $FAKE_VALIDATE_FAIL"; exit 1; }
  exit 0
fi
{
  echo "pid=$$"
  echo "argv=$*"
  echo "endpoint=${RAYTHENA_HARVESTER_ENDPOINT:-}"
  echo "workdir=${RAYTHENA_RAY_WORKDIR:-}"
  echo "config_env=${RAYTHENA_CONFIG:-}"
  echo "pilot_config=${HARVESTER_PILOT_CONFIG:-}"
} >"$FAKE_RECORD"
exit 3
FAKE
cat >"$WORK/fakebin/squeue" <<'FAKE'
#!/bin/bash
[ "$*" = "-h -j 4242 -o %l" ] && echo "1-02:00:00"
FAKE
chmod 755 "$WORK/prefix/bin/raythenad" "$WORK/fakebin/squeue"
echo "payload: {}" >"$WORK/conf/site.yaml"

# run ARGS...: runs the script in a clean environment plus RUN_ENV; sets RC, OUT, PID.
run() {
  : >"$WORK/out"; rm -f "$WORK/record" "$WORK/record.validate"
  env -i PATH="$WORK/fakebin:/usr/bin:/bin" HOME="$WORK" FAKE_RECORD="$WORK/record" "${RUN_ENV[@]}" \
    bash "$SCRIPT" "$@" >"$WORK/out" 2>&1 &
  PID=$!
  RC=0; wait "$PID" || RC=$?
  OUT=$(cat "$WORK/out")
}
rec() { sed -n "s/^$1=//p" "$WORK/record"; }
has() { [[ $OUT == *"$1"* ]]; }

RUN_ENV=(SLURM_JOB_ID=4242 RAYTHENAD_PREFIX="$WORK/prefix")
run
rty_check "no config: exit 2 and says how to give one ($OUT)" bash -c "[ $RC = 2 ] && [[ '$OUT' == *'RAYTHENA_CONFIG'* ]]"
run "$WORK/conf/missing.yaml"
rty_check "unreadable config: exit 2" [ "$RC" = 2 ]
RUN_ENV=(RAYTHENAD_PREFIX="$WORK/prefix")
run "$WORK/conf/site.yaml"
rty_check "outside a Slurm job: exit 2" bash -c "[ $RC = 2 ] && [[ '$OUT' == *'not inside a Slurm job'* ]]"
RUN_ENV=(SLURM_JOB_ID=4242)
run "$WORK/conf/site.yaml"
PATH=/usr/bin:/bin command -v raythenad >/dev/null ||   # an installed raythenad would be found
rty_check "raythenad not in PATH: exit 2, names RAYTHENAD_PREFIX" bash -c "[ $RC = 2 ] && [[ '$OUT' == *RAYTHENAD_PREFIX* ]]"

AP=$WORK/access
RUN_ENV=(SLURM_JOB_ID=4242 SLURM_JOB_NUM_NODES=3 SLURMD_NODENAME=nid001 RAYTHENAD_PREFIX="$WORK/prefix"
         HARVESTER_ACCESS_POINT="$AP" HARVESTER_PILOT_CONFIG="$WORK/conf/default.cfg")
run "$WORK/conf/site.yaml" --debug
rty_check "raythenad's exit code is the job's (3)" [ "$RC" = 3 ]
rty_check "raythenad was exec'd: same PID as the batch script" [ "$(rec pid)" = "$PID" ]
rty_check "argv: --config, --launcher srun, then the extra arguments" \
  [ "$(rec argv)" = "--config $WORK/conf/site.yaml --launcher srun --debug" ]
rty_check "RAYTHENA_CONFIG exported" [ "$(rec config_env)" = "$WORK/conf/site.yaml" ]
rty_check "HARVESTER_ACCESS_POINT -> RAYTHENA_HARVESTER_ENDPOINT" [ "$(rec endpoint)" = "$AP" ]
rty_check "HARVESTER_ACCESS_POINT -> RAYTHENA_RAY_WORKDIR" [ "$(rec workdir)" = "$AP" ]
rty_check "HARVESTER_PILOT_CONFIG passed through" [ "$(rec pilot_config)" = "$WORK/conf/default.cfg" ]
rty_check "time-monitor line 1: start time of day" grep -qxE '[0-9]{2}:[0-9]{2}:[0-9]{2}' <(sed -n 1p "$AP/jobtimeout.txt")
rty_check "time-monitor line 2: squeue's limit" [ "$(sed -n 2p "$AP/jobtimeout.txt")" = 1-02:00:00 ]
rty_check "time-monitor file has two lines" [ "$(wc -l <"$AP/jobtimeout.txt")" = 2 ]
rty_check "--validate ran with raythenad's own arguments, text after --json" \
  [ "$(sed -n 2p "$WORK/record.validate")" = "--validate --config $WORK/conf/site.yaml --launcher srun --debug" ]
rty_check "--validate's lines are in the job output" has "OK workdir: ray.workdir=$AP"
rty_check "--validate ran after the time-monitor file was written" has "OK timemonitor: monitor file there"

# A FAIL stops the job before raythenad (and so any stub) starts: exit 2, the FAIL line in the output.
RUN_ENV=(SLURM_JOB_ID=4242 RAYTHENAD_PREFIX="$WORK/prefix" HARVESTER_ACCESS_POINT="$AP"
         FAKE_VALIDATE_FAIL="ray.headip=10.0.0.1 10.0.0.2 — is several space-separated values")
run "$WORK/conf/site.yaml"
rty_check "validation FAIL: exit 2" [ "$RC" = 2 ]
rty_check "validation FAIL: raythenad was not started" [ ! -e "$WORK/record" ]
rty_check "validation FAIL: the FAIL line is in the job output" has "FAIL headip: ray.headip=10.0.0.1 10.0.0.2"
rty_check "validation FAIL: the script says it stops" has "not starting the run"
# A config that does not load: exit 2 with raythenad's message, nothing else run.
RUN_ENV=(SLURM_JOB_ID=4242 RAYTHENAD_PREFIX="$WORK/prefix" HARVESTER_ACCESS_POINT="$AP" FAKE_LOAD_ERROR="bad key")
run "$WORK/conf/site.yaml"
rty_check "unloadable config: exit 2" [ "$RC" = 2 ]
rty_check "unloadable config: raythenad's message shown" has "cannot load configuration x: bad key"
rty_check "unloadable config: raythenad was not started" [ ! -e "$WORK/record" ]

# A relative config path is made absolute; ray.workdir from raythenad --validate; another monitor name.
VW=$WORK/validated
RUN_ENV=(SLURM_JOB_ID=4242 RAYTHENAD_PREFIX="$WORK/prefix" FAKE_MONITOR=walltime.txt FAKE_VALIDATE_WORKDIR="$VW")
cd "$WORK"
run conf/site.yaml
rty_check "relative config made absolute" [ "$(rec argv)" = "--config $WORK/conf/site.yaml --launcher srun" ]
rty_check "workdir and monitor name (payload.timemonitorfile) from raythenad --validate --json" \
  [ "$(sed -n 2p "$VW/walltime.txt")" = 1-02:00:00 ]
rty_check "no HARVESTER_PILOT_CONFIG: a warning" has "HARVESTER_PILOT_CONFIG is unset"
rty_check "no default-named monitor beside it" [ ! -e "$VW/jobtimeout.txt" ]
RUN_ENV=(SLURM_JOB_ID=4242 RAYTHENAD_PREFIX="$WORK/prefix" FAKE_MONITOR="$WORK/abs-monitor.txt"
         FAKE_VALIDATE_WORKDIR="$VW" RAYTHENAD_TIMEMONITORFILE=old.txt)
run conf/site.yaml
rty_check "an absolute payload.timemonitorfile is used as it is" [ "$(sed -n 2p "$WORK/abs-monitor.txt")" = 1-02:00:00 ]
rty_check "RAYTHENAD_TIMEMONITORFILE: a warning that it is not read" has "RAYTHENAD_TIMEMONITORFILE is not read any more"
RUN_ENV=(SLURM_JOB_ID=4242 RAYTHENAD_PREFIX="$WORK/prefix" RAYTHENA_CONFIG="$WORK/conf/site.yaml"
         RAYTHENA_RAY_WORKDIR="$WORK/wd")
run
rty_check "config from RAYTHENA_CONFIG, workdir from RAYTHENA_RAY_WORKDIR" \
  bash -c "[ '$(rec argv)' = '--config $WORK/conf/site.yaml --launcher srun' ] && [ -s '$WORK/wd/jobtimeout.txt' ]"
echo "PASS: sbatch script (stand-ins)" >&2
cd /; rm -rf "$WORK"; trap - EXIT
# The real part where it can run (root, Slurm installed); elsewhere the stand-in part is the test.
if [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/slurmctld ]; then
  exec bash "$here/$(basename "$0")" slurm
fi
