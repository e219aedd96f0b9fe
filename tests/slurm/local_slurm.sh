#!/usr/bin/env bash
# local_slurm.sh - a one-node SLURM cluster on localhost, for the project's SLURM tests.
#
#   bash tests/slurm/local_slurm.sh start    # install (if needed), configure, start, wait for node idle
#   bash tests/slurm/local_slurm.sh status   # exit 0 when the cluster answers and the node is usable
#   bash tests/slurm/local_slurm.sh stop     # stop exactly the daemons that `start` launched
#
# Debian 12 packages (munge, slurmctld, slurmd, slurm-client; Slurm 22.05), as root, without systemd:
# the daemons are started by hand and their PIDs kept in $STATE_DIR (default /tmp/tdlm-slurm).
# No accounting (no slurmdbd): `sacct` does not work here, so Snakemake must poll with
# `--slurm-status-command squeue` (profiles/slurm-local does); MinJobAge=300 keeps finished
# jobs visible to squeue. The node has no GPU, so no GRES is configured.
#
# Exit codes of `start`: 0 ok (or already running), 3 not root, 4 packages missing and
# apt-get unavailable or failing, 1 any other failure. `status`: 0 up, 1 not (fully) up.
set -euo pipefail

STATE_DIR=${STATE_DIR:-/tmp/tdlm-slurm}
PARTITION=debug
PACKAGES=(munge slurmctld slurmd slurm-client)
NODE=$(hostname -s)
CONF=/etc/slurm/slurm.conf
export DEBIAN_FRONTEND=noninteractive

log() { printf '[local_slurm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { local rc=$1; shift; log "ERROR: $*"; exit "$rc"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

wait_for() { # wait_for <seconds> <what> <command...>
    local limit=$1 what=$2; shift 2
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || return 1
        sleep 0.25
    done
    log "ready: $what"
}

# alive <name>: the PID recorded for <name> runs and is still that daemon (not a reused PID)
alive() {
    local pid
    pid=$(cat "$STATE_DIR/$1.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]]
}
node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null || true; }
node_usable() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
active_jobs() { squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null; }
no_active_jobs() { [[ -z $(active_jobs) ]]; }
cluster_up() { (alive munged || munge_ok) && alive slurmctld && alive slurmd && scontrol ping >/dev/null 2>&1 && node_usable; }

have_binaries() {
    command -v munged >/dev/null && command -v slurmctld >/dev/null \
        && command -v slurmd >/dev/null && command -v sbatch >/dev/null
}

install_packages() {
    if have_binaries; then
        log "packages already installed ($(slurmd -V))"
        echo "apt_seconds=0" >>"$STATE_DIR/timings"
        return
    fi
    command -v apt-get >/dev/null \
        || die 4 "apt-get not found: cannot install ${PACKAGES[*]} (Debian/Ubuntu only)"
    local t0; t0=$(now)
    log "installing ${PACKAGES[*]} with apt-get (log: $STATE_DIR/apt.log)"
    {
        apt-get -o DPkg::Lock::Timeout=120 update -qq &&
            apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${PACKAGES[@]}"
    } >"$STATE_DIR/apt.log" 2>&1 || {
        tail -n 20 "$STATE_DIR/apt.log" >&2
        die 4 "apt-get could not install ${PACKAGES[*]} (see $STATE_DIR/apt.log)"
    }
    have_binaries || die 4 "apt-get finished but munged/slurmctld/slurmd/sbatch are still missing"
    echo "apt_seconds=$(since "$t0")" >>"$STATE_DIR/timings"
    log "installed $(slurmd -V) in $(since "$t0")s"
}

write_conf() {
    # Hardware as slurmd sees it; RealMemory at 90 % so the node is never drained for low memory.
    local probe cpus sockets cores threads mem
    probe=$(slurmd -C | head -n 1)
    get() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$probe"; }
    cpus=$(get CPUs) sockets=$(get SocketsPerBoard) cores=$(get CoresPerSocket)
    threads=$(get ThreadsPerCore) mem=$(get RealMemory)
    [[ -n $cpus && -n $mem ]] || die 1 "cannot parse 'slurmd -C': $probe"
    mem=$((mem * 9 / 10))
    mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
    chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm
    cat >"$CONF" <<EOF
# One-node test cluster on localhost, written by tests/slurm/local_slurm.sh. No accounting, no GRES.
ClusterName=tdlmlocal
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# cgroup plugins need systemd/cgroupfs access that containers rarely give
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job that gives no --mem takes the whole node
DefMemPerCPU=500
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for 5 min (Snakemake polls with squeue)
MinJobAge=300
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${cpus} SocketsPerBoard=${sockets} CoresPerSocket=${cores} ThreadsPerCore=${threads} RealMemory=${mem} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF
    log "wrote $CONF (NodeName=$NODE CPUs=$cpus RealMemory=$mem)"
}

# launch <name> <daemon pid file> <command...>: start a daemon that forks, record its PID
launch() {
    local name=$1 pidfile=$2; shift 2
    rm -f "$pidfile"
    "$@" 9>&- || die 1 "$name failed to start (see /var/log/slurm or /var/log/munge)"
    wait_for 15 "$name pid file" test -s "$pidfile" || die 1 "$name wrote no $pidfile"
    cp "$pidfile" "$STATE_DIR/$name.pid"
    log "$name started, PID $(cat "$STATE_DIR/$name.pid")"
}

start_daemons() {
    if alive munged || munge_ok; then
        log "munged already running"
    else
        [[ -s /etc/munge/munge.key ]] || {
            mungekey --create --keyfile /etc/munge/munge.key
            chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
        }
        mkdir -p /run/munge /var/log/munge /var/lib/munge
        chown munge:munge /run/munge /var/log/munge /var/lib/munge
        chmod 0755 /run/munge
        launch munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
        wait_for 15 "munge round trip" munge_ok || die 1 "munged does not answer"
    fi
    if alive slurmctld; then
        log "slurmctld already running"
    else
        scontrol ping >/dev/null 2>&1 && die 1 "a slurmctld not started by this script answers; stop it first"
        launch slurmctld /run/slurmctld.pid /usr/sbin/slurmctld
        wait_for 30 "slurmctld answers" scontrol ping \
            || { tail -n 20 /var/log/slurm/slurmctld.log >&2; die 1 "slurmctld does not answer"; }
    fi
    if alive slurmd; then
        log "slurmd already running"
    else
        launch slurmd /run/slurmd.pid /usr/sbin/slurmd
    fi
    # a node left down/drained by an earlier run is put back into service
    if [[ $(node_state) =~ down|drain|fail ]]; then
        scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
    fi
    wait_for 60 "node $NODE usable" node_usable || {
        sinfo -R >&2 || true
        tail -n 20 /var/log/slurm/slurmd.log >&2
        die 1 "node $NODE not idle after 60 s (state: $(node_state))"
    }
}

cmd_start() {
    [[ $(id -u) == 0 ]] || die 3 "must run as root (installs packages, starts munged/slurmctld/slurmd)"
    mkdir -p "$STATE_DIR"
    exec 9>"$STATE_DIR/lock"
    flock -w 300 9 || die 1 "another local_slurm.sh holds $STATE_DIR/lock"
    if have_binaries && cluster_up; then
        log "already running (node $NODE $(node_state)); nothing to do"
        return 0
    fi
    : >"$STATE_DIR/timings"
    local t0; t0=$(now)
    install_packages
    local t1; t1=$(now)
    # rewrite the config only when no slurmctld of ours is up (it would not re-read it anyway)
    alive slurmctld || write_conf
    start_daemons
    echo "daemons_seconds=$(since "$t1")" >>"$STATE_DIR/timings"
    echo "total_seconds=$(since "$t0")" >>"$STATE_DIR/timings"
    log "cluster up in $(since "$t0")s: $(tr '\n' ' ' <"$STATE_DIR/timings")"
    sinfo
}

cmd_stop() {
    mkdir -p "$STATE_DIR"
    exec 9>"$STATE_DIR/lock"
    flock -w 300 9 || die 1 "another local_slurm.sh holds $STATE_DIR/lock"
    local name pid found=0
    # cancel leftover jobs so that no slurmstepd outlives the cluster
    if alive slurmctld && [[ -n $(active_jobs) ]]; then
        log "cancelling active jobs: $(active_jobs | tr '\n' ' ')"
        # shellcheck disable=SC2046  # one word per job id
        scancel $(active_jobs) 2>/dev/null || true
        wait_for 20 "jobs gone" no_active_jobs || true
    fi
    for name in slurmd slurmctld munged; do
        [[ -s $STATE_DIR/$name.pid ]] || continue
        found=1
        pid=$(cat "$STATE_DIR/$name.pid")
        if alive "$name"; then
            kill "$pid"
            wait_for 15 "$name (PID $pid) exited" bash -c "! kill -0 $pid" || {
                log "$name (PID $pid) ignores SIGTERM; sending SIGKILL"
                kill -9 "$pid" 2>/dev/null || true
            }
        else
            log "$name (PID $pid) was not running; nothing killed"
        fi
        rm -f "$STATE_DIR/$name.pid"
        # a stale /run/slurmctld.pid makes Debian's prerm fail on package removal
        for f in /run/$name.pid /run/munge/$name.pid; do
            [[ -s $f && $(cat "$f") == "$pid" ]] && rm -f "$f"
        done
    done
    if ((found)); then log "stopped"; else log "nothing to stop (no PIDs recorded in $STATE_DIR)"; fi
}

cmd_status() {
    local name rc=0
    for name in munged slurmctld slurmd; do
        if alive "$name"; then
            echo "$name: running, PID $(cat "$STATE_DIR/$name.pid")"
        else
            echo "$name: not running (by this script)"; rc=1
        fi
    done
    if command -v sinfo >/dev/null && scontrol ping >/dev/null 2>&1; then
        echo "node $NODE: $(node_state)"
        node_usable || rc=1
    else
        echo "slurmctld: not answering"; rc=1
    fi
    return $rc
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status   (STATE_DIR=${STATE_DIR})" >&2; exit 2 ;;
esac
