#!/usr/bin/env bash
# Seed 001, "An illustrated guide to Kubernetes networking, parts 1 and 2",
# replayed on a knet lab: the pieces the seed draws, looked at with ip,
# bridge and tcpdump. Start the lab first: knet up --name knet --detach
source "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

heading "Every pod has its own IP (pod-a, pod-b on $W1; pod-c on $W2)"
echo "\$ sed -e s/WORKER2/$W2/ -e s/WORKER\\\$/$W1/ pods.yaml | kubectl apply -f -"
sed -e "s/WORKER2/$W2/" -e "s/WORKER\$/$W1/" "$here/pods.yaml" | kubectl apply -f -
for p in pod-a pod-b pod-c; do wait_pod $p; done
k get pods pod-a pod-b pod-c -o wide
A=$(jp pod/pod-a '{.status.podIP}'); B=$(jp pod/pod-b '{.status.podIP}'); C=$(jp pod/pod-c '{.status.podIP}')

heading "Inside a pod: eth0, one end of a veth pair"
k exec pod-a -- ip -br addr show eth0
k exec pod-a -- ip route

heading "On the node: the other ends (vethXXX) sit on the bridge cbr0 (brctl show)"
on "$W1" ip -br addr show cbr0
on "$W1" bridge link

heading "Pod to pod on one node: through cbr0, resolved by ARP"
k exec pod-a -- ping -c 2 "$B"
k exec pod-a -- ip neigh show "$B"

heading "Each node owns one pod CIDR; the route table sends the others to their node (route -n)"
k get nodes -o custom-columns="NAME:{metadata.name},INTERNAL-IP:{status.addresses[0].address},POD-CIDR:{spec.podCIDR}"
on "$W1" route -n

heading "The overlay: flannel.1 is a VXLAN device (VNI 1, UDP 8472) whose forwarding table maps peers to node IPs"
on "$W1" ip -d link show flannel.1
on "$W1" bridge fdb show dev flannel.1
on "$W1" ip neigh show dev flannel.1

heading "Pod to pod across nodes, seen on the node's eth0: pod packets inside UDP 8472"
on "$W1" timeout 8 tcpdump -lni eth0 -c 4 udp port 8472 >"/tmp/seed001-$KNET_CLUSTER.txt" 2>/dev/null &
sleep 2
k exec pod-a -- ping -c 2 "$C"
wait
cat "/tmp/seed001-$KNET_CLUSTER.txt"; rm -f "/tmp/seed001-$KNET_CLUSTER.txt"
