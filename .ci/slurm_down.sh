#!/usr/bin/env bash
# Stop the SLURM daemons started by .ci/slurm_up.sh: exactly the PIDs recorded in
# $SLURM_CI_PIDFILE (never by process name). Safe to run when nothing is up.
set -uo pipefail

PIDFILE="${SLURM_CI_PIDFILE:-/run/slurm-ci.pids}"
log() { echo "[slurm_down] $*" >&2; }

if [ ! -s "$PIDFILE" ]; then
    log "no $PIDFILE: nothing to stop"
    exit 0
fi

# Cancel what is still queued or running so slurmd does not leave job steps behind.
if command -v scancel >/dev/null; then
    timeout 10 scancel --user="$(id -un)" 2>/dev/null || true
fi

# Stop in reverse start order: slurmd, slurmctld, munged.
mapfile -t entries < <(tac "$PIDFILE")
for entry in "${entries[@]}"; do
    read -r name pid <<<"$entry"
    if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    else
        log "$name (pid ${pid:-?}) is not running"
    fi
done
rm -f "$PIDFILE"
log "stopped"
