#!/usr/bin/env bash
# Times deleting many pods with a label selector on the knet API server, each
# build against a fresh server on a fresh data dir:
#   1. DELETE on the collection URL (`kubectl delete --raw
#      '/api/v1/namespaces/bench-del/pods?labelSelector=bench%3Ddel'`) of
#      OBJECTS unbound pods, with KEEP non-matching pods beside them (checked
#      to survive);
#   2. with KUBECTL=1, also `kubectl delete pods -l bench=del --wait=false`
#      (kubectl sends one DELETE per object; this path is not batched).
# The peer: BEFORE=<path to an older knet binary> times that build in the
# same run (a copy of target/release/knet built before the change, kept
# under the file name `knet`: the binary picks its role from its name).
# Usage: [BEFORE=/tmp/knet-old] [KUBECTL=1] [SKIP_BUILD=1] bench/api_delete.sh [objects=20000] [keep=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS=${1:-20000}
KEEP=${2:-1000}

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --locked -p knet --bin knet >&2
  cargo build --release --locked -p knet-api --example api_bench >&2
fi
BENCH=target/release/examples/api_bench
WORK=$(mktemp -d /tmp/knet-api-delete.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # $1 = knet binary, $2 = phase name
  local dir="$WORK/$2"
  mkdir -p "$dir"
  "$1" api --data-dir "$dir/data" --listen 127.0.0.1:0 >"$dir/out" 2>"$dir/log" &
  PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
  KC="$dir/data/kubeconfig"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
k() { kubectl --kubeconfig "$KC" --cache-dir "$WORK/kcache" --request-timeout 0 "$@"; }
count() { k get pods -n bench-del -l "bench=$1" -o name | wc -l; }
fill() {
  "$BENCH" "$KC" pods bench-del "$OBJECTS" 32 del
  "$BENCH" "$KC" pods bench-del "$KEEP" 32 keep
}
elapsed() { # runs "$@", prints seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}

run() { # $1 = name, $2 = knet binary
  start "$2" "$1-collection"
  fill
  local s
  s=$(elapsed k delete --raw '/api/v1/namespaces/bench-del/pods?labelSelector=bench%3Ddel')
  echo "build=$1 path=deletecollection objects=$OBJECTS seconds=$s left_matching=$(count del) kept=$(count keep)/$KEEP"
  stop
  if [ -n "${KUBECTL:-}" ]; then
    start "$2" "$1-kubectl"
    fill
    s=$(elapsed k delete pods -n bench-del -l bench=del --wait=false)
    echo "build=$1 path=kubectl-delete-l objects=$OBJECTS seconds=$s left_matching=$(count del) kept=$(count keep)/$KEEP"
    stop
  fi
}

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), disk under $(df --output=source /tmp | tail -1)"
run after target/release/knet
if [ -n "${BEFORE:-}" ]; then
  run before "$BEFORE"
fi
