#!/bin/bash
# Cluster test node_down: slurm/raythenad.sbatch on the namespace Slurm (see test_srun_job.sh) with
# slow fake pilots; once both stubs run pilots, `scontrol update nodename=node3 state=down` takes node3
# out of the allocation. The script's --no-kill keeps the job alive; Slurm kills node3's part of
# the stub step; raythenad notices the lost node, hands its ranges to node2 and finishes there:
# exit 0, every event in exactly one merged output. Submitted with --no-requeue so that Slurm cannot
# paper over a failure by running the job again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/job_lib.sh"

rty_job_require_slurm
rty_job_init node-down
rty_job_make_site --inputs 3 --events 40 --events-per-output 20 --set payload.pilotkilltime=60
rty_job_netns_slurm
log=$SITE/workdir/raythenad.log

job=$(FAKE_PILOT_DELAY=0.1 HARVESTER_PILOT_CONFIG=$SITE/pilot/default.cfg RAYTHENAD_PREFIX=$PREFIX \
      rty_job_submit --no-requeue -- "$SITE/raythenad.yaml")
rty_job_wait_log 60 'node node2: pilot job state running' || rty_fail "node2's pilot did not start"
rty_job_wait_log 10 'node node3: pilot job state running' || rty_fail "node3's pilot did not start"
# The fake pilot asks for ranges one communicator loop after it started: down the node only once it holds
# some (its pilotlog.txt records each answer).
for _ in $(seq 100); do
  grep -qE "getEventRanges nRanges=[0-9]+ -> [1-9][0-9]* range" "$SITE/workdir/6000000001/node3/pilotlog.txt" 2>/dev/null && break
  sleep 0.2
done
rty_note "node3 down"
timeout 10 scontrol update nodename=node3 state=down reason=rty-test
state=$(rty_job_wait "$job" 120)
code=$(rty_job_exit "$job")
rty_check "job $job COMPLETED with exit 0 after node3 went down (got $state, $code)" [ "$state $code" = "COMPLETED 0:0" ]
# Either the channel drops first ("node node3 lost ...; N range(s) it held go back") or the stub reports
# its killed pilot first ("node node3: pilot ended abnormally ...; N unfinished range(s) go back").
rty_check "raythenad noticed node3 was lost and took its ranges back" \
  grep -qE "node node3[ :].*; [1-9][0-9]* (unfinished )?range\(s\).* go back" "$log"
rty_check "node2 kept working after node3 was lost" \
  bash -c "sed -n '/node node3 \(lost\|left\)/,\$p' '$log' | grep -q 'merge .* done'"
rty_check "every event in exactly one merged output, final report consistent" rty_job_verify
echo "PASS: node_down" >&2
