#!/usr/bin/env bash
# CNI ADD/DEL latency: knet (`knet cni`, type bridge) vs Debian's reference
# chain (/usr/lib/cni/bridge + host-local), same config, same run.
#
# Each plugin gets its own throwaway node + pod namespaces (prefix kntb-);
# the timing loop runs inside the node namespace (one `ip netns exec` for
# the whole loop) so only the plugin's own work is measured.
#
# Then runs bench/podnet.sh (pod-to-pod TCP throughput and RTT across nodes,
# host-gw vs vxlan) unless DATAPLANE=0.
#
# Usage: sudo bench/cni.sh            (N=200 cycles per plugin)
#        N=500 KNET=target/release/knet sudo -E bench/cni.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
KNET=${KNET:-target/release/knet}
REF=${REF:-/usr/lib/cni/bridge}
if [[ ! -x $KNET ]]; then
  echo "building $KNET (cargo build --release -p knet)" >&2
  cargo build --release -p knet >&2
fi
[[ -x $REF ]] || { echo "missing $REF (apt-get install containernetworking-plugins)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "needs root" >&2; exit 1; }

tag=kntb$$
work=$(mktemp -d)
cleanup() {
  for ns in $tag-nk $tag-pk $tag-nr $tag-pr; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for ns in $tag-nk $tag-pk $tag-nr $tag-pr; do ip netns add "$ns"; done

conf() { # $1 = data dir
  cat <<JSON
{"cniVersion":"1.0.0","name":"kntbench","type":"bridge","bridge":"cbr0","isDefaultGateway":true,
 "hairpinMode":true,"mtu":1450,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.252.0.0/16"}]],"routes":[{"dst":"10.244.0.0/16"}],"dataDir":"$1"}}
JSON
}
conf "$work/k" >"$work/k.json"
conf "$work/r" >"$work/r.json"

# Runs N ADD+DEL cycles inside the node namespace; prints "add_ns del_ns" lines.
loop() { # $1 node ns, $2 pod ns, $3 plugin argv, $4 config
  ip netns exec "$1" bash -c '
    set -e
    pod=/run/netns/$2; argv=$3; conf=$4; n=$5
    export CNI_IFNAME=eth0 CNI_NETNS=$pod CNI_PATH=/usr/lib/cni
    for ((i = 0; i < n; i++)); do
      export CNI_CONTAINERID=bench-$i
      t0=$EPOCHREALTIME
      CNI_COMMAND=ADD $argv <"$conf" >/dev/null
      t1=$EPOCHREALTIME
      CNI_COMMAND=DEL $argv <"$conf" >/dev/null
      t2=$EPOCHREALTIME
      echo "$(( (${t1/./} - ${t0/./}) )) $(( (${t2/./} - ${t1/./}) ))"
    done' _ "$1" "$2" "$3" "$4" "$N"
}

stats() { # stdin: microseconds; prints p50 p99 mean
  sort -n | awk '{v[NR]=$1; s+=$1} END {
    p50=v[int((NR-1)*0.50)+1]; p99=v[int((NR-1)*0.99)+1];
    printf "p50 %6.2f ms  p99 %6.2f ms  mean %6.2f ms  (n=%d)\n", p50/1000, p99/1000, s/NR/1000, NR }'
}

echo "warm-up (5 cycles each)" >&2
N=5 loop $tag-nk $tag-pk "$(realpath "$KNET") cni" "$work/k.json" >/dev/null
N=5 loop $tag-nr $tag-pr "$REF" "$work/r.json" >/dev/null

# Interleave the two plugins in rounds so machine load hits both alike.
: >"$work/k.txt"; : >"$work/r.txt"
rounds=4; per=$(( N / rounds ))
for ((r = 0; r < rounds; r++)); do
  N=$per loop $tag-nk $tag-pk "$(realpath "$KNET") cni" "$work/k.json" >>"$work/k.txt"
  N=$per loop $tag-nr $tag-pr "$REF" "$work/r.json" >>"$work/r.txt"
done

echo "machine: $(nproc) cores, $(uname -r), $(date -u +%FT%TZ)"
echo "knet: $KNET ($(stat -c %s "$(realpath "$KNET")") bytes); reference: $REF ($(dpkg-query -W -f '${Version}' containernetworking-plugins 2>/dev/null || echo '?'))"
printf "%-28s %s\n" "knet ADD" "$(cut -d' ' -f1 "$work/k.txt" | stats)"
printf "%-28s %s\n" "reference bridge+host-local ADD" "$(cut -d' ' -f1 "$work/r.txt" | stats)"
printf "%-28s %s\n" "knet DEL" "$(cut -d' ' -f2 "$work/k.txt" | stats)"
printf "%-28s %s\n" "reference bridge+host-local DEL" "$(cut -d' ' -f2 "$work/r.txt" | stats)"

# Dataplane figures (host-gw vs vxlan) in the same run; DATAPLANE=0 skips.
if [[ ${DATAPLANE:-1} == 1 ]]; then
  KNET=$KNET bench/podnet.sh
fi
