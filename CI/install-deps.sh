#!/usr/bin/env bash
# Installs the system packages the build and the test suite need. Idempotent; safe on a fresh
# machine (Debian). libclang-dev: bindgen for the libccp reference crate (a dev-dependency of
# ccp and datapaths). fonts-dejavu-core: a font for figure text (plotters renders it with the
# pure-Rust ab_glyph, so no font library is needed to build). redis-server: the rendezvous store
# tests of chunnels/redis start their own private instance on a free loopback port.
set -euo pipefail
need=()
for p in libclang-dev fonts-dejavu-core redis-server; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
