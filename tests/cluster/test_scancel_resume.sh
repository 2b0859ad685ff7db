#!/bin/bash
# Cluster test scancel_resume: slurm/raythenad.sbatch on the namespace Slurm (see test_srun_job.sh),
# with slow fake pilots (FAKE_PILOT_DELAY exported through the environment: sbatch -> raythenad ->
# srun -> stub -> pilot). Mid-run, `scancel --signal=TERM --batch` sends SIGTERM to the batch step,
# which is raythenad itself (the script execs it): it must save its checkpoint, drain and exit 3.
# A second sbatch of the same script resumes from state.json and finishes: exit 0, every event in
# exactly one merged output, and no output that the first job merged is merged again.
# RAYTHENA_RAY_WORKDIR is not set here: the script finds ray.workdir through raythenad --validate.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/job_lib.sh"

rty_job_require_slurm
rty_job_init scancel
rty_job_make_site --inputs 4 --events 40 --events-per-output 20 --set payload.pilotkilltime=60
rty_job_netns_slurm
state_json=$SITE/taskprogress/40000001/state.json
log=$SITE/workdir/raythenad.log
# Ranges recorded in the checkpoint (simulated + merging + merged groups): > 0 once work was saved.
recorded() {
  python3 - "$state_json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print(0); sys.exit()
n = sum(len(r) for r in d.get("simulated", {}).values())
n += sum(len(r) for outs in d.get("merging", {}).values() for r in outs.values())
n += sum(len(outs) for outs in d.get("merged", {}).values())
print(n)
PY
}
# "checksum name" of every merged output in the task's final/ directory (1->N: an input's first
# outputs are merged before the input is complete, so state.json lists them under "merging").
merged_outputs() { (cd "$SITE/taskprogress/40000001/final" && md5sum -- * 2>/dev/null | sort -k2) || true; }

rty_note "first job: slow pilots, SIGTERM to the batch step mid-run"
job1=$(FAKE_PILOT_DELAY=0.2 HARVESTER_PILOT_CONFIG=$SITE/pilot/default.cfg RAYTHENAD_PREFIX=$PREFIX \
       rty_job_submit --no-requeue -- "$SITE/raythenad.yaml")
# Signal once one output is merged, so that "not merged twice" below has something to check.
rty_job_wait_log 60 'merge HITS[^ ]* done' || rty_fail "job $job1: no merge done within 60 s"
rty_check "job $job1 still running when signalled" [ "$(rty_job_state "$job1")" = RUNNING ]
timeout 10 scancel --signal=TERM --batch "$job1"
state=$(rty_job_wait "$job1" 90)
code=$(rty_job_exit "$job1")
rty_check "job $job1 ended with raythenad's exit 3 (got $state, $code)" [ "$state $code" = "FAILED 3:0" ]
rty_check "time-monitor file written where --validate put ray.workdir" [ -s "$SITE/workdir/jobtimeout.txt" ]
rty_check "raythenad read it" grep -q "walltime: ranges stop being handed out in" "$log"
rty_check "raythenad logged the signal" grep -q "received Terminated: draining, checkpoint saved" "$log"
# Pilots get the kill file (the drain's "pilots get the kill file"), as cluster_walltime checks; the
# second job's stubs remove it, so look now.
for n in node2 node3; do
  rty_check "$n: kill file written for pilot" [ -f "$SITE/workdir/6000000001/$n/pilot_kill_payload" ]
done
rty_check "raythenad said the checkpoint lets the next run resume" grep -q "lets the next run resume" "$log"
rty_check "state.json written" [ -s "$state_json" ]
first=$(recorded)
total=160
rty_check "the first job recorded part of the work ($first of $total ranges/outputs)" [ "$first" -gt 0 ]
rty_check "the first job did not finish everything" bash -c "! grep -q '160 of 160 events merged' '$log'"
rty_check "merged so far: every event at most once" rty_job_verify --allow-incomplete
merged_outputs >"$WORK/merged-after-1"
rty_check "the first job merged some outputs: $(wc -l <"$WORK/merged-after-1")" [ -s "$WORK/merged-after-1" ]
lines1=$(wc -l <"$log")

rty_note "second job: the same script resumes"
job2=$(HARVESTER_PILOT_CONFIG=$SITE/pilot/default.cfg RAYTHENAD_PREFIX=$PREFIX \
       rty_job_submit --no-requeue -- "$SITE/raythenad.yaml")
state=$(rty_job_wait "$job2" 120)
code=$(rty_job_exit "$job2")
rty_check "job $job2 COMPLETED with exit 0 (got $state, $code)" [ "$state $code" = "COMPLETED 0:0" ]
tail -n +"$((lines1 + 1))" "$log" >"$WORK/run2.log"
rty_check "the second job resumed from the checkpoint" grep -q "resumed from $state_json" "$WORK/run2.log"
rty_check "every event in exactly one merged output, final report consistent" rty_job_verify
merged_outputs >"$WORK/merged-after-2"
rty_check "outputs merged by the first job are unchanged (not merged again)" \
  bash -c "[ -z \"\$(comm -23 '$WORK/merged-after-1' '$WORK/merged-after-2')\" ]"
while read -r _ name; do
  rty_check "$name: no merge of it in the second job" bash -c "! grep -qF 'merge $name (attempt' '$WORK/run2.log'"
done <"$WORK/merged-after-1"
echo "PASS: scancel_resume" >&2
