#!/usr/bin/env bash
# knet-proxy benchmark (needs root). Inside throwaway network namespaces only:
#  1. for each Service count: full sync, full re-sync, one new Service, one
#     endpoint change (knet's layout through the real Proxier + nft), and, as
#     the peer, `nft -f` load time of kube-proxy's documented nftables layout
#     (per-Service chains with inline numgen vmaps, per-endpoint chains) for
#     the same Services (each Service has 2–5 endpoints);
#  2. TCP connect latency p50/p99 through a ClusterIP at 10 vs 10k (and 100k) Services.
# Env: COUNTS (default "1000 10000 30000 100000"), PEER_TIMEOUT seconds (300),
#      LAT_COUNTS ("10 10000 100000 10 10000": alternated to expose noise), CONNECTS (2000), PROFILE (release).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/proxy.sh needs root (network namespaces, nftables)" >&2; exit 1; }
COUNTS=${COUNTS:-"1000 10000 30000 100000"}
PEER_TIMEOUT=${PEER_TIMEOUT:-300}
LAT_COUNTS=${LAT_COUNTS-"10 10000 100000 10 10000"}
CONNECTS=${CONNECTS:-2000}

PROFILE=${PROFILE:-release}   # PROFILE=dev for a quick smoke run
# SKIP_BUILD=1 reuses the last build (the shared cargo lock can be held for minutes).
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --profile "$PROFILE" -q -p knet-proxy --example proxy_bench
BIN=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/examples/proxy_bench

ID=kntb$$
NODE=$ID-node PEER=$ID-peer CLI=$ID-cli BE=$ID-be
cleanup() {
  for ns in $BE $CLI $PEER $NODE; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

for ns in $NODE $PEER $CLI $BE; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
k=1
for ns in $CLI $BE; do
  ip -n "$NODE" link add "v$k" type veth peer name eth0 netns "$ns"
  ip -n "$NODE" addr add "10.244.$k.1/24" dev "v$k"; ip -n "$NODE" link set "v$k" up
  ip -n "$ns" addr add "10.244.$k.2/24" dev eth0; ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "10.244.$k.1"
  k=$((k + 1))
done

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $(nft --version)"
echo "# date: $(date -u +%FT%TZ)"
for n in $COUNTS; do
  "$BIN" sync "$NODE" "$PEER" "$n" "$PEER_TIMEOUT"
done
for n in $LAT_COUNTS; do
  "$BIN" latency "$NODE" "$CLI" "$BE" 10.244.2.2 "$n" "$CONNECTS"
done
