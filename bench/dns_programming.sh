#!/usr/bin/env bash
# DNS programming latency: Service create -> first correct answer from
# `knet dns` watching `knet api`, with the API's own watch delivery to a
# client (the floor for any watch-driven DNS server) measured in the same run.
#
#   bench/dns_programming.sh            # 200 Services
#
# Env: KNET_BIN (use this binary instead of building), COUNT (200),
#      POLL_US (query interval of the poller, 200), GAP_MS (pause between
#      Services, 20), THREADS (knet dns UDP threads, 2).
# Everything runs on loopback; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-200}
POLL_US=${POLL_US:-200}
GAP_MS=${GAP_MS:-20}
THREADS=${THREADS:-2}

for tool in dig python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-deps)" >&2; exit 1; }
done

. bench/lib.sh
bench_start knet-dns-prog
private_knet
cargo build --release --locked -q -p knet-dns --example dns_programming
cp target/release/examples/dns_programming "$W/bin/"

echo "== knet api"
"$KNET" api --data-dir "$W/api" --listen 127.0.0.1:0 >"$W/api.out" 2>"$W/api.err" &
PIDS+=($!)
KUBECONFIG_FILE=
for _ in $(seq 1 300); do
  KUBECONFIG_FILE=$(sed -n 's/^kubeconfig written to //p' "$W/api.out" | head -1)
  [ -n "$KUBECONFIG_FILE" ] && break
  sleep 0.1
done
[ -n "$KUBECONFIG_FILE" ] || { cat "$W/api.err" >&2; echo "knet api did not start" >&2; exit 1; }

echo "== knet dns ($THREADS UDP threads) watching it"
PORT=$(free_port)
"$KNET" dns --kubeconfig "$KUBECONFIG_FILE" --listen "127.0.0.1:$PORT" --threads "$THREADS" \
  --no-forward --health off --ready off --metrics off --no-loop-detect 2>"$W/dns.err" &
PIDS+=($!)
wait_dns "$PORT"

echo "== $COUNT Services, poll every ${POLL_US}us, ${GAP_MS}ms apart"
"$W/bin/dns_programming" "$KUBECONFIG_FILE" "127.0.0.1:$PORT" "$COUNT" "$POLL_US" "$GAP_MS"
