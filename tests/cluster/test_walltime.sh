#!/bin/bash
# Cluster test walltime: slurm/raythenad.sbatch with a real Slurm time limit (sbatch -t 1) on the
# namespace Slurm. The script writes the time-monitor file from squeue (limit 1:00); with
# payload.pilotkilltime 45 raythenad must stop handing out ranges ~15 s after the start, have the
# stubs write pilot's kill file, and exit 3 well before Slurm's limit (the job ends FAILED 3:0, not
# TIMEOUT). Slow fake pilots make sure the job cannot finish by then. What was merged is merged once.
# --signal=B:TERM@5 replaces the script's @120, which would signal at once with a 1-minute limit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/job_lib.sh"

rty_job_require_slurm
rty_job_init walltime
# Raythena's dispatch rule (ray.walltimeaware false): this test is about the kill file at the kill
# time, which walltime-aware dispatch may make unnecessary by draining earlier.
rty_job_make_site --inputs 4 --events 40 --events-per-output 20 --set payload.pilotkilltime=45 \
  --set ray.walltimeaware=false
rty_job_netns_slurm
log=$SITE/workdir/raythenad.log

job=$(FAKE_PILOT_DELAY=2 HARVESTER_ACCESS_POINT=$SITE/workdir HARVESTER_PILOT_CONFIG=$SITE/pilot/default.cfg \
      RAYTHENAD_PREFIX=$PREFIX rty_job_submit --no-requeue -t 1 --signal=B:TERM@5 -- "$SITE/raythenad.yaml")
state=$(rty_job_wait "$job" 90)
code=$(rty_job_exit "$job")
rty_check "job $job ended by raythenad's walltime stop, exit 3 (got $state, $code)" [ "$state $code" = "FAILED 3:0" ]
rty_check "time-monitor file has squeue's limit" [ "$(sed -n 2p "$SITE/workdir/jobtimeout.txt")" = 1:00 ]
rty_check "raythenad armed the walltime stop" grep -qE "walltime: ranges stop being handed out in ([0-9]|1[0-5]) s" "$log"
rty_check "raythenad drained for the walltime" grep -q "draining (walltime" "$log"
rty_check "...not for a signal" bash -c "! grep -q 'received Terminated' '$log'"
for n in node2 node3; do
  rty_check "$n: kill file written for pilot" [ -f "$SITE/workdir/6000000001/$n/pilot_kill_payload" ]
done
rty_check "the run was cut short" bash -c "! grep -q '160 of 160 events merged' '$log'"
rty_check "what was merged is merged once" rty_job_verify --allow-incomplete
echo "PASS: walltime" >&2
