#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for the cluster test (tests/test_cluster.py) and
# for trying `snakemake --profile profiles/slurm` by hand. Needs root; installs slurm-wlm and munge
# with apt if they are missing (its only network use). Idempotent: a running cluster is reused.
#
# Writes only to $FGVR_SLURM_DIR (default /tmp/fgvr-slurm: state, spool, logs, pid files, munge
# socket) and the system's Slurm config (/etc/slurm/slurm.conf and gres.conf, from the files
# beside this script; Slurm's commands and the executor plugin's job step read it there). The
# munge key /etc/munge/munge.key is created only if the munge package did not make one. An
# existing slurm.conf of a real cluster is never overwritten: the script stops instead.
# Partitions: `cpu` (default) and `gpu`, the names profiles/slurm uses. Stop it with stop.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${FGVR_SLURM_DIR:-/tmp/fgvr-slurm}
HOST=$(hostname -s)
CONF=/etc/slurm/slurm.conf
MARK="ClusterName=fgvr-test"
log() { echo "[cluster] $*" >&2; }

[[ $(id -u) -eq 0 ]] || { log "needs root (it installs packages and starts slurmctld, slurmd and munged)"; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
   || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || { log "slurm-wlm and munge are missing and there is no apt-get"; exit 2; }
  log "installing slurm-wlm and munge (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

if [[ -e $CONF ]] && ! grep -qx "$MARK" "$CONF"; then
  log "$CONF exists and is not the test cluster's: refusing to overwrite it"; exit 3
fi

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
node_state() { sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1; }

if alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" && alive "$DIR/munge/munged.pid"; then
  if [[ $(node_state) == idle* || $(node_state) == mix* || $(node_state) == alloc* ]]; then
    log "reusing the running cluster in $DIR (node $HOST: $(node_state))"; exit 0
  fi
fi
# Something is half up (or a stale pid file): start clean.
bash "$HERE/stop.sh" --keep-config >/dev/null 2>&1 || true

start=$(date +%s)
mkdir -p "$DIR"/{state,spool,log,munge,dev}
chmod 711 "$DIR/munge"
for i in 0 1; do [[ -c $DIR/dev/nvidia$i ]] || { rm -f "$DIR/dev/nvidia$i"; mknod "$DIR/dev/nvidia$i" c 195 $i; }; done
sed -e "s|@HOST@|$HOST|g" -e "s|@DIR@|$DIR|g" "$HERE/slurm.conf" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
sed -e "s|@DIR@|$DIR|g" "$HERE/gres.conf" > /etc/slurm/gres.conf
[[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key

munged --force --socket="$DIR/munge/munge.socket" --pid-file="$DIR/munge/munged.pid" \
  --seed-file="$DIR/munge/munged.seed" --log-file="$DIR/log/munged.log"
slurmctld -c    # -c: no jobs or state from an earlier start
slurmd

for _ in $(seq 120); do
  state=$(node_state || true)
  case $state in
    idle*) log "up in $(( $(date +%s) - start )) s: node $HOST idle, partitions $(sinfo -h -o %P | tr '\n' ' ')"; exit 0 ;;
    drain*|down*|drng*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
log "the node did not become idle within 60 s (state: ${state:-none}); logs in $DIR/log:"
tail -n 20 "$DIR"/log/*.log >&2 || true
exit 1
