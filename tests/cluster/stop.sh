#!/usr/bin/env bash
# Stop the test cluster that start.sh started (slurmd, slurmctld, munged, by their pid files in
# $FGVR_SLURM_DIR) and remove that folder and the Slurm config start.sh wrote. Idempotent.
# --keep-config: leave /etc/slurm/slurm.conf and gres.conf (start.sh uses this to restart).
set -uo pipefail
DIR=${FGVR_SLURM_DIR:-/tmp/fgvr-slurm}
CONF=/etc/slurm/slurm.conf

stop() {  # pid file, name
  [[ -s $1 ]] || return 0
  local pid; pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "[cluster] stopped $2 ($pid)" >&2
  fi
  rm -f "$1"
}
stop "$DIR/slurmd.pid" slurmd
stop "$DIR/slurmctld.pid" slurmctld
stop "$DIR/munge/munged.pid" munged
if [[ ${1:-} != --keep-config ]]; then
  if [[ -e $CONF ]] && grep -qx "ClusterName=fgvr-test" "$CONF"; then
    rm -f "$CONF" /etc/slurm/gres.conf
  fi
  rm -rf "$DIR"
fi
exit 0
