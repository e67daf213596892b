#!/usr/bin/env bash
# Seed 002, "The Kubernetes Service mechanism you didn't know" (IIJ), replayed
# on a knet lab. Start the lab (and the stand-in upstream DNS) first:
#   knet up --name knet --detach --upstream 172.18.255.254
#   examples/seeds/upstream.sh start
source "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

# The seed runs dig on a machine of the cluster; here: the control-plane node.
d() { on "$CP" dig @10.96.0.10 "$1" +noall +answer; }

heading "An internal load balancer: Deployment nginx + Service (ClusterIP)"
k create deploy nginx --image=nginx:1.19
k expose deploy nginx --port=80 --target-port=80
wait_ready app=nginx 1
wait_eps nginx 1
k get svc nginx
k get ep nginx
k get pods --selector=app=nginx -o wide

heading "Scale out to 2 replicas: the Endpoints list both pods"
k scale deploy nginx --replicas=2
wait_ready app=nginx 2
wait_eps nginx 2
k get ep nginx
k get svc,ep,pods -l app=nginx -o wide

heading "The balancer itself (knet programs nftables where kube-proxy's IPVS mode uses ipvsadm)"
CIP=$(jp svc/nginx '{.spec.clusterIP}')
# One element per endpoint: ClusterIP . port . index -> pod IP . port
on "$CP" sh -c "nft list map ip knet-proxy addr-eps-tcp | grep -F $CIP" || true
for _ in 1 2 3 4; do on "$CP" curl -s -m 2 "http://$CIP/"; done

heading "The authoritative cluster DNS: nginx.default.svc.cluster.local. A = the ClusterIP"
wait_dns
d nginx.default.svc.cluster.local.
POD=$(jp pods -l app=nginx '{.items[0].metadata.name}')
k exec "$POD" -- cat /etc/resolv.conf
k exec "$POD" -- dig +search +noall +answer nginx
k exec "$POD" -- dig +search +noall +answer nginx.default

heading "Headless Service: the A records are the pod addresses, order rotates"
k delete svc nginx
wait_gone svc/nginx
k expose deploy nginx --cluster-ip=None
wait_eps nginx 2
k get svc nginx
k get ep nginx
d nginx.default.svc.cluster.local.
d nginx.default.svc.cluster.local.

heading "StatefulSet + headless Service: per-pod names"
k delete svc nginx
k delete deploy nginx
wait_gone svc/nginx
k apply -f "$here/statefulset-headless.yaml"
wait_ready app=nginx 2
wait_eps nginx 2
k get pods -l app=nginx -o wide
d nginx-0.nginx.default.svc.cluster.local.
d nginx-1.nginx.default.svc.cluster.local.
d nginx.default.svc.cluster.local.

heading "A Service without selector + hand-written Endpoints 202.232.2.180"
k delete -f "$here/statefulset-headless.yaml"
wait_gone svc/nginx
k apply -f "$here/selectorless.yaml"
wait_eps nginx 1
k get svc,ep nginx
d nginx.default.svc.cluster.local.

heading "ExternalName: a CNAME for www.iij.ad.jp"
# The endpoints controller deletes a Service's Endpoints with it (as in
# Kubernetes), so kubectl may find them gone already.
k delete -f "$here/selectorless.yaml" --ignore-not-found
wait_gone svc/nginx
k apply -f "$here/externalname.yaml"
k get svc
d nginx.default.svc.cluster.local.
