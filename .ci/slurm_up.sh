#!/usr/bin/env bash
# Bring up a real single-node SLURM cluster for CI (Debian 12, root, no systemd, no cgroups).
#
#   .ci/slurm_up.sh      # installs packages if missing, writes configs, starts the daemons
#   .ci/slurm_down.sh    # stops exactly the daemons this script started
#
# Partitions: debug (default) and gpu, both on this one node; the node has two fake GPUs
# (character devices /dev/fakegpu0-1) so that `sbatch --gpus=1` is schedulable.
# The PIDs of munged, slurmctld and slurmd are written to $SLURM_CI_PIDFILE (one
# "name pid" per line); slurm_down.sh kills exactly those. Nothing is stopped by name.
# Running it again while the recorded daemons are alive only re-checks the cluster.
# See ../shared/guides/slurm-ci.md for the reasoning behind each setting.
set -euo pipefail

PIDFILE="${SLURM_CI_PIDFILE:-/run/slurm-ci.pids}"
H="$(hostname -s)"

log() { echo "[slurm_up] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (starts munged/slurmctld/slurmd)"

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2; shift 2
    local i
    for ((i = 0; i < secs * 4; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    die "timed out after ${secs}s waiting for: $what"
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

smoke_test() {
    wait_for 60 "node $H idle (sinfo -h -o %T)" \
        bash -c 'sinfo -h -o %T | grep -qx idle'
    timeout 30 srun -N1 -n1 true || die "smoke test 'timeout 30 srun true' failed"
    log "cluster up: $(sinfo -h -o '%P %T %G' | tr '\n' ' ')"
}

# --- already up? -------------------------------------------------------------------------
if [ -s "$PIDFILE" ]; then
    all_alive=1
    while read -r _name pid; do alive "$pid" || all_alive=0; done <"$PIDFILE"
    if [ "$all_alive" = 1 ]; then
        log "daemons from $PIDFILE already running; checking"
        smoke_test
        exit 0
    fi
    # A stale file (daemons gone, e.g. a machine image taken after an earlier run): stop any
    # recorded daemon that is still alive under its own name, then start afresh.
    log "$PIDFILE lists daemons that are not running (stale); cleaning up and starting afresh"
    while read -r name pid; do
        if alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            log "stopping leftover $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 40); do alive "$pid" || break; sleep 0.25; done
            alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
        fi
    done <"$PIDFILE"
    rm -f "$PIDFILE"
fi

# --- packages ----------------------------------------------------------------------------
need=()
for pkg in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for exe in munged slurmctld slurmd sinfo srun sbatch; do
    command -v "$exe" >/dev/null || [ -x "/usr/sbin/$exe" ] || die "$exe not found after install"
done

# --- munge -------------------------------------------------------------------------------
mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key

rm -f /run/munge/munged.pid
runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
wait_for 10 "munged pid file" test -s /run/munge/munged.pid
MUNGE_PID="$(cat /run/munge/munged.pid)"
echo "munged $MUNGE_PID" >"$PIDFILE"
wait_for 10 "munge -n | unmunge" bash -c 'munge -n | unmunge'

# --- slurm configuration -------------------------------------------------------------------
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
NCPU="$(nproc)"
MEM_TOTAL_MB="$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
MEM=$((MEM_TOTAL_MB - 1024))
[ "$MEM" -gt 512 ] || die "too little memory for a node: ${MEM_TOTAL_MB} MB"

# Fake GPUs: slurmd drops GRES entries whose device file does not exist.
for i in 0 1; do
    [ -e "/dev/fakegpu$i" ] || mknod -m 666 "/dev/fakegpu$i" c 1 3
done

cat >/etc/slurm/slurm.conf <<EOF
# Written by face-rhythm .ci/slurm_up.sh: single-node CI cluster.
ClusterName=ci
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
GresTypes=gpu
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=300
KillWait=5
SlurmdTimeout=30
NodeName=$H NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
EOF
cat >/etc/slurm/gres.conf <<EOF
NodeName=$H Name=gpu File=/dev/fakegpu[0-1]
EOF

# --- daemons -------------------------------------------------------------------------------
rm -f /run/slurm/slurmctld.pid /run/slurm/slurmd.pid
slurmctld -c   # -c: clean start, no saved state from an earlier run
wait_for 15 "slurmctld pid file" test -s /run/slurm/slurmctld.pid
echo "slurmctld $(cat /run/slurm/slurmctld.pid)" >>"$PIDFILE"
wait_for 15 "slurmctld answering (scontrol ping)" bash -c 'scontrol ping | grep -q UP'

slurmd
wait_for 15 "slurmd pid file" test -s /run/slurm/slurmd.pid
echo "slurmd $(cat /run/slurm/slurmd.pid)" >>"$PIDFILE"

while read -r name pid; do
    alive "$pid" || die "$name (pid $pid) died; see /var/log/slurm/$name.log"
done <"$PIDFILE"

smoke_test
log "PIDs recorded in $PIDFILE: $(tr '\n' ' ' <"$PIDFILE")"
