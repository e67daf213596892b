#!/usr/bin/env bash
# Benchmarks the garbage collector (`knet-controllers`) against a fresh
# `knet api`: O ConfigMap owners with D ConfigMap dependents each, then
#   1. gc_sync: controllers start from nothing; time until the collector has
#      discovered every kind, listed them (metadata watches + the
#      controllers' informers) and collected a canary whose owner never
#      existed;
#   2. gc_collect: every owner deleted (Background, 64 in flight); time until
#      the last dependent is gone, seen through a watch.
# Usage: bench/gc.sh [owners=2000] [dependents-per-owner=5]
# (PROFILE=debug for a quick check; SKIP_BUILD=1 to use the binaries already built)
set -euo pipefail
cd "$(dirname "$0")/.."
OWNERS=${1:-2000}
PER=${2:-5}
PROFILE=${PROFILE:-release}
FLAG=$([ "$PROFILE" = release ] && echo --release || true)

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build $FLAG --locked -p knet --bin knet >&2
  cargo build $FLAG --locked -p knet-controllers --example gc_bench >&2
fi
KNET=target/$PROFILE/knet
BENCH=target/$PROFILE/examples/gc_bench
. bench/lib.sh
bench_start knet-gc-bench

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); profile $PROFILE"
"$KNET" api --data-dir "$W/data" --listen 127.0.0.1:0 >"$W/out" 2>"$W/log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$W/out" 2>/dev/null && break; sleep 0.1; done
KC="$W/data/kubeconfig"

echo "## $OWNERS owners x $PER dependents"
/usr/bin/time -f "gc_bench max_rss_kib=%M" "$BENCH" "$KC" "$OWNERS" "$PER"
