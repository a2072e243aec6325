#!/usr/bin/env bash
# Stops the one-node Slurm that scripts/slurm-up.sh started (slurmd, then slurmctld, each by the
# pid in its pid file) and removes its directory. Idempotent: nothing running, nothing to do.
set -euo pipefail

DIR=${TESTBED_SLURM_DIR:-/tmp/testbed-slurm}
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

for d in slurmd slurmctld; do
  f="$DIR/$d.pid"
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    $SUDO kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm-down: $d (pid $pid) did not stop on SIGTERM; sending SIGKILL" >&2
      $SUDO kill -9 "$pid" 2>/dev/null || true
    fi
  fi
done
case "$DIR" in
/ | "") ;;
*) $SUDO rm -rf -- "$DIR" ;;
esac
echo "slurm-down: stopped" >&2
