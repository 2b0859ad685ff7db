#!/bin/bash
# slurm/raythenad.sbatch without Slurm: stand-ins for squeue and raythenad (in a fake install prefix)
# record what the script did. Checks: the config from the argument or RAYTHENA_CONFIG (made absolute),
# configuration errors exit 2 before anything runs, Harvester's HARVESTER_ACCESS_POINT becomes
# endpoint and workdir, the time-monitor file (name from RAYTHENAD_TIMEMONITORFILE) holds the start
# time and squeue's limit, ray.workdir comes from `raythenad --validate` when no variable names it,
# and raythenad is exec'd (same PID as the script: Slurm's SIGTERM reaches it) with --launcher srun
# and the remaining arguments. Needs no root and no daemon.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
SRC=${RTY_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
SCRIPT=$SRC/slurm/raythenad.sbatch
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rty-sbatch.XXXXXX")
trap 'rc=$?; rm -rf "$WORK"; exit $rc' EXIT
mkdir -p "$WORK/prefix/bin" "$WORK/fakebin" "$WORK/conf"
cat >"$WORK/prefix/bin/raythenad" <<'FAKE'
#!/bin/bash
# stand-in: answers --validate like raythenad, otherwise records its invocation
if [ "${1:-}" = --validate ]; then
  echo "OK config: x — loaded"
  echo "OK workdir: ray.workdir=$FAKE_VALIDATE_WORKDIR — writable directory"
  exit 1   # a failed check elsewhere must not matter to the script
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
  : >"$WORK/out"; rm -f "$WORK/record"
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

# A relative config path is made absolute; ray.workdir from raythenad --validate; another monitor name.
VW=$WORK/validated
RUN_ENV=(SLURM_JOB_ID=4242 RAYTHENAD_PREFIX="$WORK/prefix" RAYTHENAD_TIMEMONITORFILE=walltime.txt
         FAKE_VALIDATE_WORKDIR="$VW")
cd "$WORK"
run conf/site.yaml
rty_check "relative config made absolute" [ "$(rec argv)" = "--config $WORK/conf/site.yaml --launcher srun" ]
rty_check "workdir from raythenad --validate, monitor named by RAYTHENAD_TIMEMONITORFILE" \
  [ "$(sed -n 2p "$VW/walltime.txt")" = 1-02:00:00 ]
rty_check "no HARVESTER_PILOT_CONFIG: a warning" has "HARVESTER_PILOT_CONFIG is unset"
RUN_ENV=(SLURM_JOB_ID=4242 RAYTHENAD_PREFIX="$WORK/prefix" RAYTHENA_CONFIG="$WORK/conf/site.yaml"
         RAYTHENA_RAY_WORKDIR="$WORK/wd")
run
rty_check "config from RAYTHENA_CONFIG, workdir from RAYTHENA_RAY_WORKDIR" \
  bash -c "[ '$(rec argv)' = '--config $WORK/conf/site.yaml --launcher srun' ] && [ -s '$WORK/wd/jobtimeout.txt' ]"
echo "PASS: sbatch script" >&2
