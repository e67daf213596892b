#!/usr/bin/env bash
# Benchmarks the controllers (`knet-controllers`) against a fresh `knet api`:
#   1. cold reconcile: S Services x P ready pods seeded, then the controllers
#      start from nothing; time until every Service's EndpointSlice lists all
#      its pods ready (informer sync included);
#   2. propagation latency p50/p99 from a pod's readiness change (status
#      write) to the updated EndpointSlice, one change at a time, with the
#      same S Services; beside it the floor measured in the same run: the
#      same status write seen by a plain pod watch (API write + watch
#      delivery, no controller).
# Usage: bench/controllers.sh [services=10000] [pods-per-service=5] [samples=200]
# (PROFILE=debug for a quick check; SKIP_BUILD=1 to use the binaries already built)
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES=${1:-10000}
PER=${2:-5}
SAMPLES=${3:-200}
PROFILE=${PROFILE:-release}
FLAG=$([ "$PROFILE" = release ] && echo --release || true)

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build $FLAG --locked -p knet --bin knet >&2
  cargo build $FLAG --locked -p knet-controllers --example controllers_bench >&2
fi
KNET=target/$PROFILE/knet
BENCH=target/$PROFILE/examples/controllers_bench
WORK=$(mktemp -d /tmp/knet-ctl-bench.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); profile $PROFILE"
"$KNET" api --data-dir "$WORK/data" --listen 127.0.0.1:0 >"$WORK/out" 2>"$WORK/log" &
PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
KC="$WORK/data/kubeconfig"

echo "## seed: $SERVICES Services x $PER pods"
"$BENCH" seed "$KC" "$SERVICES" "$PER"
echo "## cold reconcile"
"$BENCH" cold "$KC" "$SERVICES" "$PER"
echo "## readiness -> EndpointSlice latency ($SAMPLES changes)"
"$BENCH" latency "$KC" "$SERVICES" "$SAMPLES"
