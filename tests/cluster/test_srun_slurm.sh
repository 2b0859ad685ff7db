#!/bin/bash
# Cluster test: the srun launcher inside a real 3-node Slurm allocation (slurm-up.sh: node1..node3 as
# three slurmd on this host). rty_launch_tool runs as the batch script of `sbatch -N3` on node1
# and starts the stand-in stub through `srun --overlap`; the stand-in records SLURMD_NODENAME, its argv
# and the secret it got from the environment, then exits. Expected: stubs on node2 and node3 only (the
# batch node is excluded), the secret in their environment and never on their command line.
# Every daemon is stopped by PID (slurm-down.sh) in the EXIT trap, also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

rty_require_root
rty_require_exec /usr/sbin/slurmctld slurmctld
rty_require_exec /usr/sbin/slurmd slurmd
rty_require_exec /usr/sbin/munged munge
TOOL=$(rty_tool)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rty-srun.XXXXXX")
SHARED=$WORK/shared
mkdir -p "$SHARED/records"

cleanup() {
  local rc=$?
  set +e
  "$here/slurm-down.sh" "$WORK/slurm"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in "$WORK"/batch.out "$WORK"/coordinator.log "$WORK"/tool.out "$WORK"/logs/*; do
      [ -f "$f" ] && { echo "=== $f" >&2; tail -20 "$f" >&2; }
    done
    tail -20 "$WORK/slurm/log/slurmctld.log" >&2
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# Ports of our own, so that this cluster cannot meet another one on the machine.
export RTY_SLURM_PORT
RTY_SLURM_PORT=$(rty_free_ports 20)
rty_machine_lock rty_slurm
eval "$("$here/slurm-up.sh" 3 "$WORK/slurm")"

cat >"$SHARED/stub.sh" <<'STUB'
#!/bin/sh
dir=$(dirname "$0")
node=${SLURMD_NODENAME:-unknown}
{
  echo "argv=$*"
  echo "secret_env=${RAYTHENA_STUB_SECRET:-}"
  echo "step=${SLURM_STEP_ID:-}"
} >"$dir/records/.$node" && mv "$dir/records/.$node" "$dir/records/$node"
echo "stand-in stub on $node"
STUB
chmod 755 "$SHARED/stub.sh"
SECRET="secret-$RANDOM$RANDOM"
printf '%s' "$SECRET" >"$SHARED/secret"; chmod 600 "$SHARED/secret"
python3 - "$SHARED" "$SECRET" "$WORK/logs" >"$WORK/request.json" <<'PY'
import json, sys
shared, secret, logs = sys.argv[1:]
print(json.dumps({"launcher": "auto", "stub_executable": shared + "/stub.sh", "coordinator": "127.0.0.1:1",
                  "secret": secret, "secret_file": shared + "/secret", "log_dir": logs, "nodes": 0}))
PY
cat >"$WORK/batch.sh" <<BATCH
#!/bin/bash
# On node1: "auto" must resolve to srun here. Waits until the srun step has ended (stand-ins exit).
exec "$TOOL" --wait 60 --children "\$(cat '$WORK/request.json')" >"$WORK/tool.out" 2>"$WORK/coordinator.log"
BATCH
chmod 755 "$WORK/batch.sh"

rty_note "sbatch -N3"
# Like `sbatch --wait`, but polled every 0.2 s: sbatch --wait checks at growing intervals and
# returned ~10 s after the job had ended.
job=$(timeout 30 sbatch -N3 --parsable --no-requeue -J rty-srun-test -o "$WORK/batch.out" "$WORK/batch.sh")
job=${job%%;*}
state=
for _ in $(seq 600); do   # 120 s
  state=$(timeout 10 scontrol show job -o "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' || true)
  case "$state" in
    JobState=PENDING | JobState=RUNNING | JobState=CONFIGURING | JobState=COMPLETING | "") sleep 0.2 ;;
    *) break ;;
  esac
done
exit_code=$(timeout 10 scontrol show job -o "$job" | grep -o ' ExitCode=[0-9:]*' || true)
rty_check "the batch job $job completed ($state$exit_code)" [ "$state$exit_code" = "JobState=COMPLETED ExitCode=0:0" ]

LAUNCHED=$(sed -n 1p "$WORK/tool.out"); STOPPED=$(sed -n 2p "$WORK/tool.out")
rty_check "auto resolved to srun inside the allocation" [ "$(rty_json "$LAUNCHED" 'd["launcher"]')" = srun ]
rty_check "launch reports no failure" [ "$(rty_json "$LAUNCHED" 'len(d["failures"])')" = 0 ]
rty_check "two stubs expected (batch node excluded)" [ "$(rty_json "$LAUNCHED" 'd["expected_nodes"]')" = 2 ]
rty_check "the srun step ended with exit code 0" [ "$(rty_json "$STOPPED" 'list(d["exits"].values())')" = '["exit code 0"]' ]
rty_check "stubs ran on node2 and node3 only" [ "$(ls "$SHARED/records" | tr '\n' ' ')" = "node2 node3 " ]
for node in node2 node3; do
  rec=$SHARED/records/$node
  rty_check "$node: the secret reached the stub through the environment" \
    [ "$(sed -n 's/^secret_env=//p' "$rec")" = "$SECRET" ]
  rty_check "$node: argv is stub_argv without a node id, secret as a file" \
    [ "$(sed -n 's/^argv=//p' "$rec")" = "--coordinator 127.0.0.1:1 --secret-file $SHARED/secret" ]
  # srun's --output=stub-%N.log: %N is the host name, the same for all emulated nodes here.
  rty_check "$node: the stub's output is in the stub logs" grep -qx "stand-in stub on $node" "$WORK"/logs/stub-*.log
done
rty_check "no secret on any command line" bash -c "! grep -h '^argv=' '$SHARED'/records/* | grep -qF -- '$SECRET'"

echo "PASS: srun launcher under sbatch -N3" >&2
