#!/usr/bin/env bash
# Starts a private one-node Slurm (munged, slurmctld, slurmd) on loopback, for tests and trying
# `repscope reproduce --slurm` on one machine. Needs root and Debian's slurm-wlm and munge.
#
#   dir=$(tests/slurm/start.sh)        # or: tests/slurm/start.sh DIR
#   export SLURM_CONF=$dir/slurm.conf  # then sbatch, squeue, sacct, scancel talk to it
#   tests/slurm/stop.sh "$dir"         # stops everything by pid and removes nothing else
#
# Everything lives in DIR (a new temporary folder by default): the munge key and socket, slurm.conf,
# the controller's state, the spool, the logs and the pid files. munged runs as user munge with its
# own socket in DIR/munge (its default /run/munge is the system's and may be in use), so several
# instances can run side by side; the Slurm ports are picked free on 127.0.0.1.
# Prints DIR on stdout; progress and errors go to stderr. Exit 1 with the reason when it cannot start.
set -euo pipefail
die() { echo "slurm/start: $*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || die "needs root (munged runs as user munge, slurmd as root)"
for b in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
  command -v "$b" >/dev/null 2>&1 || [[ -x "/usr/sbin/$b" ]] || die "$b not found: install Debian's slurm-wlm and munge"
done
getent passwd munge >/dev/null || die "no user munge: install Debian's munge"
export PATH="$PATH:/usr/sbin:/sbin"

dir="${1:-}"
if [[ -z "$dir" ]]; then dir="$(mktemp -d /tmp/repscope-slurm.XXXXXX)"; fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
chmod 755 "$dir"

# munge: a fresh key readable only by munge, socket, pid, seed and log in DIR/munge (0700, owned by munge).
m="$dir/munge"
mkdir -p "$m"
chmod 700 "$m"
if [[ ! -f "$m/munge.key" ]]; then
  head -c 1024 /dev/urandom >"$m/munge.key"
fi
chmod 400 "$m/munge.key"
chown -R munge:munge "$m"
# munged refuses a socket folder writable by others; the one above it must be traversable by munge.
chmod 711 "$m"
runuser -u munge -- munged --socket="$m/munge.socket" --key-file="$m/munge.key" --pid-file="$m/munged.pid" \
  --seed-file="$m/munged.seed" --log-file="$m/munged.log" --num-threads=2 \
  || die "munged did not start (see $m/munged.log)"
for _ in $(seq 50); do [[ -S "$m/munge.socket" && -s "$m/munged.pid" ]] && break; sleep 0.1; done
[[ -S "$m/munge.socket" ]] || die "munged did not create its socket (see $m/munged.log)"

free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then echo "$p"; return; fi
  done
  die "no free port found"
}
ctld_port="$(free_port)"
slurmd_port="$(free_port)"
while [[ "$slurmd_port" == "$ctld_port" ]]; do slurmd_port="$(free_port)"; done
mem_mb="$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)"

mkdir -p "$dir/state" "$dir/spool"
cat >"$dir/slurm.conf" <<CONF
# A one-node Slurm on loopback, made by tests/slurm/start.sh ($(date -u +%FT%TZ)).
ClusterName=repscope
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$m/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=5
SchedulerParameters=sched_interval=2
NodeName=repscope NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=repscope Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"

slurmctld -i -f "$SLURM_CONF" || die "slurmctld did not start (see $dir/slurmctld.log)"
slurmd -N repscope -f "$SLURM_CONF" || die "slurmd did not start (see $dir/slurmd.log)"
for _ in $(seq 150); do
  state="$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)"
  [[ "$state" == idle ]] && break
  sleep 0.2
done
[[ "${state:-}" == idle ]] || die "the node did not come up (state '${state:-none}'; see $dir/slurmctld.log and $dir/slurmd.log)"
echo "slurm/start: up in $dir (SLURM_CONF=$SLURM_CONF; stop with tests/slurm/stop.sh $dir)" >&2
echo "$dir"
