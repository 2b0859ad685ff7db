#!/bin/bash
# Cluster test srun_job: slurm/raythenad.sbatch itself, submitted with `sbatch -N3` to a real Slurm
# whose three nodes live in network namespaces (slurm-netns-up.sh). raythenad runs on node1 (the batch
# node) with the srun launcher, stubs and fake pilots on node2 and node3 (pilot's port 8080 on each
# node's own 127.0.0.1, as on a real cluster). Expected: job COMPLETED with exit 0, every event in
# exactly one merged output, the final report written, no stub on the batch node, merges left at the
# tail run on the idle nodes through their stubs and their results come back, and the
# time-monitor file written from squeue's time limit under payload.timemonitorfile's name, which the
# script reads from `raythenad --validate --json` (test_sbatch_script.sh: the --validate step itself).
#   test_srun_job.sh [netns]   nodes in network namespaces, payload.serverport 8080 on every node
#   test_srun_job.sh shared    slurm-up.sh: all nodes on this host's 127.0.0.1, payload.serverport 0
#                              (each stub a free port and a pilot config copy naming it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/job_lib.sh"

mode=${1:-netns}
rty_job_require_slurm
rty_job_init "srun-job-$mode"
case "$mode" in
  netns) port_set=(--set payload.serverport=8080) ;;
  shared) port_set=(--set payload.serverport=0) ;;
  *) rty_fail "unknown mode '$mode' (netns or shared)" ;;
esac
# A monitor name other than the default: the script must take it from the config.
# One merge at a time a place, each 1 s: merges are left when the pilots end, and the idle nodes run
# them through their stubs (ray.remotemerges, on by default), in node2's and node3's own namespaces.
rty_job_make_site --inputs 4 --events 40 --events-per-output 10 --set ray.launcher=auto \
  --set payload.pilotkilltime=60 --set payload.timemonitorfile=walltime.txt --set ray.mergemaxprocesses=1 \
  "${port_set[@]}"
if [ "$mode" = netns ]; then rty_job_netns_slurm; else rty_job_shared_slurm; fi

rty_note "sbatch -N3 slurm/raythenad.sbatch"
job=$(FAKE_MERGE_SLOW=1 HARVESTER_ACCESS_POINT=$SITE/workdir HARVESTER_PILOT_CONFIG=$SITE/pilot/default.cfg \
      RAYTHENAD_PREFIX=$PREFIX rty_job_submit --no-requeue -- "$SITE/raythenad.yaml")
state=$(rty_job_wait "$job" 120)
code=$(rty_job_exit "$job")
rty_check "job $job COMPLETED with exit 0 (got $state, $code)" [ "$state $code" = "COMPLETED 0:0" ]
rty_check "every event in exactly one merged output, final report consistent" rty_job_verify
rty_check "final report for Harvester written" [ -s "$SITE/workdir/jobReport.json" ]
log=$SITE/workdir/raythenad.log
rty_check "raythenad used the srun launcher" grep -q "started srun step on 2 node(s)" "$log"
rty_check "raythenad read the walltime from the time-monitor file" grep -q "walltime: ranges stop being handed out in" "$log"
monitor=$SITE/workdir/walltime.txt
rty_check "time-monitor line 1 is a time of day" grep -qxE '[0-9]{2}:[0-9]{2}:[0-9]{2}' <(sed -n 1p "$monitor")
rty_check "time-monitor line 2 is squeue's limit for -t 10" [ "$(sed -n 2p "$monitor")" = 10:00 ]
rty_check "no default-named time-monitor file" [ ! -e "$SITE/workdir/jobtimeout.txt" ]
pandaid_dir=$(dirname "$(ls -d "$SITE"/workdir/*/stub-logs)")
rty_check "node dirs of node2 and node3 only: $(ls "$pandaid_dir" | tr '\n' ' ')" \
  [ "$(cd "$pandaid_dir" && ls -d node* | tr '\n' ' ')" = "node2 node3 " ]
for n in node2 node3; do
  slog=$(grep -l "Stub\[$n\]" "$pandaid_dir"/stub-logs/stub-*.log || true)
  rty_check "$n: a stub log under stub-logs" [ -n "$slog" ]
  rty_check "$n: its pilot ended with exit code 0" grep -q "pilot ended: exit code 0" "$slog"
  if [ "$mode" = netns ]; then
    rty_check "$n: pilot served on the configured port 8080" grep -q "serving pilot on http://127.0.0.1:8080\$" "$slog"
  else
    rty_check "$n: pilot got a config copy naming its stub's port" \
      grep -qx "pandaserver = $(grep -o 'http://127.0.0.1:[0-9]*' $slog | head -1)" "$pandaid_dir/$n/pilot_default.cfg"
  fi
done
remote=$(grep -oE "merge [^ ]+ \(attempt [0-9]+, [0-9]+ range outputs\) starting on node node[23]" "$log" || true)
rty_check "merges ran on the idle nodes: $(echo "$remote" | grep -c . || true) of 16" [ -n "$remote" ]
while read -r _ out _ _ _ _ _ _ _ _ node; do
  [ -n "$out" ] || continue
  rty_check "merge $out: its result came back from $node" grep -q "merge $out ended on node $node (exit code 0)" "$log"
done <<<"$remote"
rty_check "the batch output names the job's node count" grep -q "on 3 node(s), batch node node1" "$WORK/job-$job.out"
echo "PASS: srun_job ($mode)" >&2
