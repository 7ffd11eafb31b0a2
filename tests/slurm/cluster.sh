#!/usr/bin/env bash
# A real single-node SLURM cluster for tests: munge + slurmctld + slurmd, as root,
# without systemd. Partitions `cpu` (default) and `gpu`; the node carries one fake
# GPU (GRES gpu, type a100, File=/dev/null) so `--gpus=a100:1` and `--gres=gpu:1`
# are honoured by the scheduler. No accounting daemon: finished jobs are recorded
# by jobcomp/filetxt in $STATE/jobcomp.log (partition, TRES incl. gres/gpu, state).
#
#   tests/slurm/cluster.sh install   # apt-get install slurm-wlm munge (if missing)
#   tests/slurm/cluster.sh up        # start the daemons, wait until the node is idle
#   tests/slurm/cluster.sh env       # print `export SLURM_CONF=...` for clients
#   tests/slurm/cluster.sh down      # stop every daemon by its PID file
#
# State lives in $RESDYN_SLURM_STATE (default /tmp/resdyn-slurm). Clients find the
# cluster through /etc/slurm/slurm.conf, a symlink to $STATE/slurm.conf made by `up`
# and removed by `down` (SLURM_CONF alone is not enough: the Snakemake jobstep plugin
# strips SLURM_* variables before its inner srun). `up` refuses to replace an
# /etc/slurm/slurm.conf that it did not make.
set -euo pipefail

STATE=${RESDYN_SLURM_STATE:-/tmp/resdyn-slurm}
CONF=$STATE/slurm.conf
SYSCONF=/etc/slurm/slurm.conf
export SLURM_CONF=$CONF

log() { echo "[cluster.sh] $*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        log "must run as root"
        exit 2
    fi
}

cmd_install() {
    need_root
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        log "slurm-wlm and munge already installed"
        return
    fi
    command -v apt-get >/dev/null || { log "apt-get not available"; exit 3; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    # Offer 80% of physical memory; leave the rest to the test driver.
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    # A clean start: no jobs or records from an earlier cluster.
    rm -rf "$STATE/ctld" "$STATE/spool" "$STATE/log" "$STATE/jobcomp.log"
    mkdir -p "$STATE"/{ctld,spool,log,munge}
    chmod 700 "$STATE" "$STATE/munge"
    cat >"$CONF" <<CONF
ClusterName=resdyn-test
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket
SlurmctldPort=${RESDYN_SLURM_CTLD_PORT:-6917}
SlurmdPort=${RESDYN_SLURM_SLURMD_PORT:-6918}
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
MpiDefault=none
ReturnToService=2
MinJobAge=3600
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
MessageTimeout=30
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} Gres=gpu:a100:1 State=UNKNOWN
PartitionName=cpu Nodes=${host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=${host} Default=NO MaxTime=INFINITE State=UP
CONF
    cat >"$STATE/gres.conf" <<CONF
NodeName=${host} Name=gpu Type=a100 File=/dev/null
CONF
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local t=$1 what=$2
    shift 2
    for _ in $(seq $((t * 4))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    log "timed out waiting for $what"
    return 1
}

cmd_up() {
    need_root
    for b in munged slurmctld slurmd sbatch; do
        command -v $b >/dev/null || { log "$b not found: run '$0 install' first"; exit 3; }
    done
    if [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
        log "already up ($STATE)"
        return
    fi
    if [ -e "$SYSCONF" ] || [ -L "$SYSCONF" ]; then
        if [ "$(readlink "$SYSCONF" 2>/dev/null)" != "$CONF" ]; then
            log "$SYSCONF exists and is not ours: refusing to replace a real cluster's configuration"
            exit 4
        fi
    fi
    write_conf
    mkdir -p "$(dirname "$SYSCONF")"
    ln -sfn "$CONF" "$SYSCONF"
    local t0=$SECONDS
    # munge: own key, socket, pid, log and seed, all under $STATE.
    if [ ! -s "$STATE/munge/munge.key" ]; then
        dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
    fi
    chmod 400 "$STATE/munge/munge.key"
    munged --force --key-file="$STATE/munge/munge.key" \
        --socket="$STATE/munge/munge.socket" \
        --pid-file="$STATE/munge/munged.pid" \
        --log-file="$STATE/log/munged.log" \
        --seed-file="$STATE/munge/munged.seed"
    wait_for 10 munged test -S "$STATE/munge/munge.socket"
    slurmctld -f "$CONF"
    if ! wait_for 30 slurmctld scontrol ping; then tail -n 30 "$STATE/log/slurmctld.log" >&2; exit 1; fi
    slurmd -f "$CONF"
    # The node must reach IDLE in both partitions (not DRAIN: gres.conf is right).
    if ! wait_for 60 "node idle" sh -c "sinfo -h -N -o '%t' | grep -qx idle"; then
        sinfo -N -l >&2 || true
        scontrol show node >&2 || true
        for f in "$STATE"/log/*.log; do echo "== $f" >&2; tail -n 30 "$f" >&2; done
        exit 1
    fi
    log "cluster up in $((SECONDS - t0)) s; export SLURM_CONF=$CONF"
    sinfo >&2
}

stop_pidfile() {  # stop_pidfile NAME FILE
    local name=$1 file=$2 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name ($pid) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name ($pid)"
    fi
    rm -f "$file"
}

cmd_down() {
    # Cancel what is left so that slurmd leaves no job steps behind.
    # Then wait until the controller lists none pending, running or completing: slurmd has
    # ended every job step before it is stopped (a step's processes outlive a slurmd that
    # stops first, orphaned).
    if [ -f "$CONF" ] && [ -f "$STATE/slurmctld.pid" ]; then
        timeout 10 scancel --full --quiet --state=PENDING,RUNNING -u "$(id -un)" 2>/dev/null || true
        for _ in $(seq 240); do
            [ -z "$(timeout 5 squeue -h -t PD,R,CG -o %i 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
    stop_pidfile slurmd "$STATE/slurmd.pid"
    stop_pidfile slurmctld "$STATE/slurmctld.pid"
    stop_pidfile munged "$STATE/munge/munged.pid"
    if [ "$(readlink "$SYSCONF" 2>/dev/null)" = "$CONF" ]; then
        rm -f "$SYSCONF"
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 install|up|down|env" >&2; exit 64 ;;
esac
