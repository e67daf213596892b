#!/usr/bin/env bash
# Pod-to-pod TCP throughput (iperf3) and round-trip time (ping) across two
# nodes, host-gw vs vxlan, in throwaway namespaces (prefix kntd-).
# Pods are made by `knet cni ADD`; routes by `knet podnet --once`.
#
# Usage: sudo bench/podnet.sh    (SECS=5 per iperf3 run, PINGS=200)
set -euo pipefail
cd "$(dirname "$0")/.."
KNET=$(realpath "${KNET:-target/release/knet}")
SECS=${SECS:-5}
PINGS=${PINGS:-200}
[[ $(id -u) == 0 ]] || { echo "needs root" >&2; exit 1; }
[[ -x $KNET ]] || { echo "build knet first: cargo build --release -p knet" >&2; exit 1; }

t=kntd$$
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for ns in $t-u $t-n0 $t-n1 $t-p0 $t-p1; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for ns in $t-u $t-n0 $t-n1 $t-p0 $t-p1; do ip netns add "$ns"; done
ip -n $t-u link add ulbr type bridge
ip -n $t-u link set ulbr up
for i in 0 1; do
  ip -n $t-u link add n$i type veth peer name eth0 netns $t-n$i
  ip -n $t-u link set n$i master ulbr up
  ip -n $t-n$i addr add 192.168.77.$((i + 1))/24 dev eth0
  ip -n $t-n$i link set eth0 up
  ip -n $t-n$i link set lo up
done
cat >"$work/nodes.json" <<JSON
[{"name":"n0","podCIDR":"10.244.0.0/24","nodeIP":"192.168.77.1","vtepMAC":"0e:6b:00:00:00:01"},
 {"name":"n1","podCIDR":"10.244.1.0/24","nodeIP":"192.168.77.2","vtepMAC":"0e:6b:00:00:00:02"}]
JSON

add_pods() { # $1 = pod MTU
  for i in 0 1; do
    cat >"$work/c$i.json" <<JSON
{"cniVersion":"1.1.0","name":"kntd","type":"knet","bridge":"cbr0","isDefaultGateway":true,"mtu":$1,
 "podCIDR":"10.244.$i.0/24","clusterCIDR":"10.244.0.0/16","ipMasq":false,"dataDir":"$work/ipam$i"}
JSON
    CNI_COMMAND=ADD CNI_CONTAINERID=bench$i CNI_NETNS=/run/netns/$t-p$i CNI_IFNAME=eth0 \
      ip netns exec $t-n$i "$KNET" cni <"$work/c$i.json" >"$work/r$i.json"
  done
  dst=$(jq -r '.ips[0].address' "$work/r1.json" | cut -d/ -f1)
}
del_pods() {
  for i in 0 1; do
    CNI_COMMAND=DEL CNI_CONTAINERID=bench$i CNI_NETNS=/run/netns/$t-p$i CNI_IFNAME=eth0 \
      ip netns exec $t-n$i "$KNET" cni <"$work/c$i.json" >/dev/null
  done
}
route() { # $1 = backend
  for i in 0 1; do
    local mac=0e:6b:00:00:00:0$((i + 1))
    KNET_LOG=warn "$KNET" podnet --node-name n$i --backend "$1" --netns $t-n$i \
      --nodes-file "$work/nodes.json" --vtep-mac $mac --once >/dev/null
  done
}

measure() { # $1 = label
  ip netns exec $t-p1 iperf3 -s -1 -D -B "$dst" >/dev/null
  sleep 0.3
  local bps rtt
  bps=$(ip netns exec $t-p0 iperf3 -c "$dst" -t "$SECS" -J | jq '.end.sum_received.bits_per_second')
  # "rtt min/avg/max/mdev = a/b/c/d ms"
  rtt=$(ip netns exec $t-p0 ping -q -c "$PINGS" -i 0.005 "$dst" |
    sed -n 's|^rtt min/avg/max/mdev = \([^/]*\)/\([^/]*\)/\([^/]*\)/.*|avg \2 ms, min \1 ms, max \3 ms|p')
  [[ $bps != null && -n $rtt ]] || { echo "$1: no connectivity to $dst" >&2; exit 1; }
  printf "%-9s pod->pod across nodes: TCP %6.2f Gbit/s   RTT %s\n" "$1" "$(echo "$bps / 1000000000" | bc -l)" "$rtt"
}

echo "machine: $(nproc) cores, $(uname -r), $(date -u +%FT%TZ); iperf3 ${SECS}s, ping x$PINGS"
add_pods 1500
route host-gw
measure host-gw
del_pods
add_pods 1450
route vxlan
measure vxlan
