#!/usr/bin/env bash
# slurm-up.sh — bring up a private one-node SLURM cluster on localhost, no systemd.
#
# Usage:  slurm-up.sh [STATE_DIR]        (default: ${SLURM_LOCAL_DIR:-/tmp/slurm-local})
#
# Everything (munge key/socket, slurm.conf, state, spool, logs, pid files) lives in
# STATE_DIR; nothing under /etc is touched and an already running system munged or
# slurm is left alone (private munge socket, non-default ports).
# Idempotent: if the cluster in STATE_DIR is already up, it only re-prints the info.
#
# Needs the Debian packages `make deps` installs (slurmctld slurmd slurm-client munge):
#   apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge
# Must run as root (SlurmUser=root, SlurmdUser=root).
#
# Tunables (environment):
#   SLURM_LOCAL_PORT   slurmctld port, slurmd uses +1          (default 16817)
#   SLURM_LOCAL_CPUS   CPUs advertised for the node            (default: nproc)
#   SLURM_CRED_EXPIRE  cred_expire seconds; also the delay before
#                      a requeued job may start again          (default 10; Slurm's default is 120)
#
# After it succeeds:   export SLURM_CONF=STATE_DIR/slurm.conf   (or: . STATE_DIR/env.sh)
# Tear down:           slurm-down.sh STATE_DIR
set -euo pipefail

D=${1:-${SLURM_LOCAL_DIR:-/tmp/slurm-local}}
mkdir -p "$D"
D=$(cd "$D" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${SLURM_LOCAL_PORT:-16817}
CPUS=${SLURM_LOCAL_CPUS:-$(nproc)}
CRED_EXPIRE=${SLURM_CRED_EXPIRE:-10}
CONF=$D/slurm.conf
T0=$(date +%s.%N)

log() { awk -v t0="$T0" -v t1="$(date +%s.%N)" -v m="$*" 'BEGIN { printf "[slurm-up %6.2fs] %s\n", t1 - t0, m }'; }

if [ "$(id -u)" -ne 0 ]; then
    echo "slurm-up.sh: must run as root (SlurmUser=root)" >&2
    exit 2
fi
for c in munged munge unmunge slurmctld slurmd sinfo scontrol; do
    if ! command -v "$c" >/dev/null 2>&1; then
        echo "slurm-up.sh: '$c' not found. Install with:" >&2
        echo "  apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge" >&2
        exit 2
    fi
done

# pid file names a running (non-zombie) process
alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

print_info() {
    cat <<EOF
SLURM local cluster is up (state dir: $D)
  use it:     export SLURM_CONF=$CONF      # or: . $D/env.sh
  check:      sinfo; srun -n2 hostname
  MPI:        srun --mpi=pmix -n2 ./a.out   |  mpirun --allow-run-as-root ./a.out (inside sbatch/salloc)
  logs:       $D/log/
  tear down:  $HERE/slurm-down.sh $D
  pids:       munged=$(cat "$D/munge/munged.pid") slurmctld=$(cat "$D/slurmctld.pid") slurmd=$(cat "$D/slurmd.pid")
EOF
}

wait_idle() { # wait until the node is schedulable
    local st=""
    for _ in $(seq 1 "${1:-60}"); do
        st=$(SLURM_CONF=$CONF sinfo -h -n localhost -o %T 2>/dev/null || true)
        case "$st" in
            idle|mixed|allocated) log "node state: $st"; return 0 ;;
        esac
        sleep 0.5
    done
    echo "slurm-up.sh: node not idle after ${1:-60} tries (state='$st'); see $D/log/" >&2
    echo "  reason: $(SLURM_CONF=$CONF sinfo -h -n localhost -o %E 2>/dev/null)" >&2
    echo "  daemons left running for inspection; tear down: $HERE/slurm-down.sh $D" >&2
    return 1
}

# ---- idempotency: already up? ------------------------------------------------
if alive "$D/munge/munged.pid" && alive "$D/slurmctld.pid" && alive "$D/slurmd.pid" \
   && SLURM_CONF=$CONF scontrol ping >/dev/null 2>&1; then
    log "already running"
    wait_idle 20
    print_info
    exit 0
fi
# partially up / stale: stop what is left (by pid files) and start clean
if [ -e "$D/munge/munged.pid" ] || [ -e "$D/slurmctld.pid" ] || [ -e "$D/slurmd.pid" ]; then
    log "stale or partial cluster in $D, stopping it first"
    "$HERE/slurm-down.sh" "$D" || true
fi

mkdir -p "$D/munge" "$D/ctld" "$D/spool" "$D/log"
chmod 711 "$D/munge"   # munged: "execute permissions for all required" on the socket dir

# ---- munge -----------------------------------------------------------------------
if [ ! -s "$D/munge/munge.key" ]; then
    dd if=/dev/urandom bs=1 count=1024 of="$D/munge/munge.key" 2>/dev/null
    chmod 400 "$D/munge/munge.key"
fi
SOCK=$D/munge/munge.socket
# --force: a STATE_DIR under a 0700 parent (mktemp -d, /root/...) would otherwise fail with
# "Socket is inaccessible: execute permissions for all required on <dir>" (only a warning
# with --force; all clients here are root anyway)
munged --force --socket="$SOCK" --key-file="$D/munge/munge.key" \
       --pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" \
       --seed-file="$D/munge/munged.seed"          # forks into the background
munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null
log "munged up (pid $(cat "$D/munge/munged.pid"))"

# ---- slurm.conf ----------------------------------------------------------------------
# advertising more CPUs than the box has (e.g. -n 4 on a 2-core CI runner) makes slurmd
# register as INVAL "Low socket*core*thread count, Low CPUs" unless config_overrides is set
OVERRIDES=""
[ "$CPUS" -gt "$(nproc)" ] && OVERRIDES="SlurmdParameters=config_overrides"
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
cat >"$CONF" <<EOF
# generated by slurm-up.sh — private single-node test cluster
ClusterName=localtest
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$SOCK,cred_expire=$CRED_EXPIRE
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# no cgroups anywhere
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# short scheduler passes so requeued jobs restart in seconds, not ~30-60 s
SchedulerParameters=bf_interval=2,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=600
$OVERRIDES
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
printf 'export SLURM_CONF=%s\n' "$CONF" >"$D/env.sh"
export SLURM_CONF=$CONF

# ---- daemons (-c: ignore old state; they daemonize themselves) ----------------------
slurmctld -c -f "$CONF"
log "slurmctld started (pid $(cat "$D/slurmctld.pid" 2>/dev/null || echo '?'))"
slurmd -c -f "$CONF" -N localhost
for _ in $(seq 1 20); do alive "$D/slurmd.pid" && break; sleep 0.25; done
log "slurmd started (pid $(cat "$D/slurmd.pid" 2>/dev/null || echo '?'))"
wait_idle 60
log "bring-up done"
print_info
