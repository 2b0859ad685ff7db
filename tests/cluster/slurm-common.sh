# Sourced by slurm-up.sh and slurm-netns-up.sh: munged, the shared part of slurm.conf, waiting for idle nodes.
# Ports: $RTY_SLURM_PORT (default 16817) for slurmctld, +1 for slurmd, +11.. for per-node slurmd ports.

# munge: the package's postinst generated /etc/munge/munge.key. Reuse a running munged (then it is
# not ours to stop); otherwise start one and record its PID.
rty_start_munge() {
  local base=$1
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  install -d -o munge -g munge -m 0755 /run/munge
  setpriv --reuid=munge --regid=munge --init-groups munged -F >"$base/log/munged.out" 2>&1 &
  echo $! >"$base/run/munged.pid"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "munged did not come up; its log:" >&2; cat "$base/log/munged.out" >&2
  return 1
}

# Everything but the node lines. $1 = base dir, $2 = cluster name, $3 = SlurmctldHost value.
rty_slurm_conf_common() {
  local base=$1 name=$2 ctld_host=$3 port=${RTY_SLURM_PORT:-16817}
  cat <<CONF
ClusterName=$name
SlurmctldHost=$ctld_host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MailProg=/bin/true
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool/%n
SlurmctldPidFile=$base/run/slurmctld.pidfile
SlurmdPidFile=$base/run/slurmd-%n.pidfile
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: simpler, and nothing left behind under /sys/fs/cgroup
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
# Finished jobs stay visible to scontrol for 5 min: the tests read their final state and exit code
MinJobAge=300
Waittime=0
CONF
}

rty_start_slurmctld() {
  local base=$1
  slurmctld -D -f "$SLURM_CONF" >"$base/log/slurmctld.out" 2>&1 &
  echo $! >"$base/run/slurmctld.pid"
  for _ in $(seq 100); do timeout 5 scontrol ping 2>/dev/null | grep -q UP && return 0; sleep 0.1; done
  echo "slurmctld did not answer within 10 s; its log:" >&2; tail -20 "$base/log/slurmctld.log" >&2
  return 1
}

# Bounded wait until N nodes are idle; the first registration takes a few tenths of a second.
rty_wait_idle() {
  local base=$1 n=$2
  for _ in $(seq 300); do
    [ "$(timeout 5 sinfo -h -N -t idle -o %N 2>/dev/null | sort -u | wc -l)" -eq "$n" ] && return 0
    sleep 0.1
  done
  echo "not all $n nodes became idle within 30 s:" >&2
  sinfo -N >&2 || true
  tail -5 "$base"/log/slurmd-*.log >&2 || true
  return 1
}
