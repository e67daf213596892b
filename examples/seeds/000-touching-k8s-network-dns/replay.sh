#!/usr/bin/env bash
# Seed 000, "Touching Kubernetes: networks and DNS inside Kubernetes", replayed
# on a knet lab. Start the lab (and the stand-in upstream DNS) first:
#   knet up --name knet --detach --upstream 172.18.255.254
#   examples/seeds/upstream.sh start
source "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

heading "Pod network: one IP per pod (cent-1, cent-2 on two nodes)"
echo "\$ sed -e s/WORKER2/$W2/ -e s/WORKER\\\$/$W1/ cent-pods.yaml | kubectl apply -f -"
sed -e "s/WORKER2/$W2/" -e "s/WORKER\$/$W1/" "$here/cent-pods.yaml" | kubectl apply -f -
wait_pod cent-1; wait_pod cent-2
k get po -o wide
CENT1=$(jp pod/cent-1 '{.status.podIP}'); CENT2=$(jp pod/cent-2 '{.status.podIP}')

heading "Node $W1 pings pod cent-1 ($CENT1)"
on "$W1" ping -c 2 "$CENT1"

heading "Pod cent-1 pings pod cent-2 ($CENT2) on the other node"
k exec cent-1 -- ping -c 2 "$CENT2"

heading "Containers of one pod share its IP (cent-cent)"
k apply -f "$here/cent-cent.yml"
wait_pod cent-cent
k exec cent-cent -c cent7-1 -- ifconfig eth0
k exec cent-cent -c cent7-2 -- ifconfig eth0

heading "tcpdump in both containers sees the pings from another node"
CC=$(jp pod/cent-cent '{.status.podIP}')
for c in cent7-1 cent7-2; do
    kubectl exec cent-cent -c $c -- timeout 8 tcpdump -lni eth0 -c 2 icmp >"/tmp/seed000-$KNET_CLUSTER-$c.txt" 2>/dev/null &
done
sleep 2
on "$CP" ping -c 4 -i 0.5 "$CC" | tail -2
wait
for c in cent7-1 cent7-2; do echo "[$c] tcpdump -i eth0 icmp"; cat "/tmp/seed000-$KNET_CLUSTER-$c.txt"; rm -f "/tmp/seed000-$KNET_CLUSTER-$c.txt"; done

heading "Two containers cannot bind the same port (two-nginx)"
k apply -f "$here/two-nginx.yaml"
for _ in $(seq 100); do
    kubectl get pod two-nginx -o jsonpath='{.status.containerStatuses[*].state.waiting.reason}' | grep -q CrashLoopBackOff && break
    sleep 0.2
done
k get pod two-nginx
k delete pod two-nginx --wait=false

heading "DNS: Service my-nginx-svc has a name that resolves to its ClusterIP"
k apply -f "$here/my-nginx.yaml"
wait_ready run=my-nginx 3
wait_dns
k get pods -l run=my-nginx
k get svc
POD=$(jp pods -l run=my-nginx '{.items[0].metadata.name}')
k exec "$POD" -- cat /etc/resolv.conf
on "$CP" dig my-nginx-svc.default.svc.cluster.local @10.96.0.10

heading "Headless Service + StatefulSet: one A record per pod, per-pod names"
k delete -f "$here/my-nginx.yaml"
wait_gone svc/my-nginx-svc
k apply -f "$here/nginx-headless.yaml"
wait_ready app=nginx 3
wait_eps my-nginx-svc 3
k get pods -l app=nginx
k get svc
on "$CP" dig my-nginx-svc.default.svc.cluster.local @10.96.0.10
on "$CP" dig my-nginx-0.my-nginx-svc.default.svc.cluster.local @10.96.0.10

heading "ExternalName: google-externalname is a CNAME for google.com"
k apply -f "$here/google-external.yaml"
k get svc
on "$CP" dig google-externalname.default.svc.cluster.local @10.96.0.10
