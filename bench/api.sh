#!/usr/bin/env bash
# Benchmarks the knet API server (`knet api`), each phase against a fresh
# server on a fresh data dir:
#   1. durable creates/s with 1 client (one fsync per write: the no-group-
#      commit baseline measured in the same run) and with N concurrent
#      kube-rs clients (group commit);
#   2. watch delivery latency p50/p99 with 100 concurrent watchers;
#   3. resident memory of the server at 100k stored Services; then, on that
#      server, the OpenAPI v3 documents (first and cached fetch, gzip size,
#      RSS) and listing the Services whole vs in pages of 500 (limit/continue).
# Usage: bench/api.sh [clients=64] [seconds=10] [objects=100000]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-64}
SECONDS_RUN=${2:-10}
OBJECTS=${3:-100000}

cargo build --release --locked -p knet --bin knet >&2
cargo build --release --locked -p knet-api --example api_bench >&2
KNET=target/release/knet
BENCH=target/release/examples/api_bench
WORK=$(mktemp -d /tmp/knet-api-bench.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # $1 = phase name
  local dir="$WORK/$1"
  mkdir -p "$dir"
  "$KNET" api --data-dir "$dir/data" --listen 127.0.0.1:0 >"$dir/out" 2>"$dir/log" &
  PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
  KUBECONFIG_PATH="$dir/data/kubeconfig"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), disk under $(df --output=source /tmp | tail -1)"

start creates1
echo "## durable creates, 1 client (baseline: one fsync per write)"
"$BENCH" "$KUBECONFIG_PATH" creates 1 "$SECONDS_RUN"
stop

start createsN
echo "## durable creates, $CLIENTS clients (group commit)"
"$BENCH" "$KUBECONFIG_PATH" creates "$CLIENTS" "$SECONDS_RUN"
stop

start watch
echo "## watch delivery, 100 watchers, 300 events at 100/s"
"$BENCH" "$KUBECONFIG_PATH" watch 100 300 100
stop

start memory
echo "## memory at $OBJECTS Services"
BASE=$(rss_kib)
"$BENCH" "$KUBECONFIG_PATH" services "$OBJECTS" 32 | tee "$WORK/mem.out"
sleep 1
AFTER=$(rss_kib)
AVG=$(sed -n 's/.*avg_json_bytes=\([0-9]*\).*/\1/p' "$WORK/mem.out")
echo "rss_before_kib=$BASE rss_after_kib=$AFTER"
awk -v b="$BASE" -v a="$AFTER" -v n="$OBJECTS" -v j="$AVG" 'BEGIN {
  per = (a - b) * 1024 / n;
  printf "rss_per_object_bytes=%.0f avg_json_bytes=%d overhead_beyond_json_bytes=%.0f\n", per, j, per - j }'
echo "## OpenAPI v3 documents"
BEFORE_DOCS=$(rss_kib)
"$BENCH" "$KUBECONFIG_PATH" openapi
echo "rss_before_openapi_kib=$BEFORE_DOCS rss_after_openapi_kib=$(rss_kib)"
echo "## list $OBJECTS Services: whole vs pages of 500"
"$BENCH" "$KUBECONFIG_PATH" pages 500
stop
