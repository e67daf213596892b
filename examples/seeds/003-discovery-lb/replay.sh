#!/usr/bin/env bash
# Seed 003, "Learning Kubernetes late, 08: discovery & LB part 1", replayed on
# a knet lab. Start the lab first: knet up --name knet --detach
source "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

heading "Three pods with nginx + redis containers"
k apply -f "$here/sample-deployment.yaml"
wait_ready app=sample-app 3
k get pods -l app=sample-app -o custom-columns="NAME:{metadata.name},IP:{status.podIP},NODE:{spec.nodeName}"
mapfile -t PODS < <(jp pods -l app=sample-app '{range .items[*]}{.metadata.name}{"\n"}{end}')
mapfile -t IPS < <(jp pods -l app=sample-app '{range .items[*]}{.status.podIP}{"\n"}{end}')
P=${PODS[0]}

heading "Same pod: the redis container reaches nginx on localhost:80"
k exec "$P" -c redis-container -- curl -s -m 3 localhost:80

heading "Pod to pod, on this and the other nodes"
for ip in "${IPS[@]}"; do k exec "$P" -c redis-container -- curl -s -m 3 "$ip:80"; done

heading "The control-plane node reaches each pod"
for ip in "${IPS[@]}"; do on "$CP" curl -s -m 3 "$ip:80"; done

heading "Service sample-clusterip: 8080 → targetPort 80 (http-port)"
k apply -f "$here/sample-clusterip.yaml"
wait_eps sample-clusterip 3
k get service sample-clusterip
k describe service sample-clusterip
CIP=$(jp svc/sample-clusterip '{.spec.clusterIP}')

heading "Each pod answers with its hostname (knet's built-in web server does what the seed's cp /etc/hostname index.html did)"
for _ in 1 2 3 4 5 6; do on "$CP" curl -s -m 3 "$CIP:8080"; done

heading "…but not from outside the cluster (the lab's outside client)"
if on client curl -s -m 2 "$CIP:8080"; then echo "(unexpected answer)"; else echo "# no answer (curl exit $?)"; fi

heading "Service discovery: environment variables (set when a pod starts: pods older than the Service have none)"
echo "# SAMPLE_CLUSTERIP_* variables in $P (started before the Service): $(kubectl exec "$P" -c redis-container -- env | grep -c '^SAMPLE_CLUSTERIP_' || true)"
k run env-check --image=centos:7 --command -- sleep 3600
wait_pod env-check
k exec env-check -- env | grep -e '^\$ ' -e '^SAMPLE_CLUSTERIP_' | sort

heading "Service discovery: DNS A, SRV and reverse (PTR) records"
wait_dns
k exec "$P" -c redis-container -- dig +search +noall +answer sample-clusterip
k exec "$P" -c redis-container -- dig +noall +answer SRV _http-port._tcp.sample-clusterip.default.svc.cluster.local
k exec "$P" -c redis-container -- dig +noall +answer -x "$CIP"
k exec "$P" -c redis-container -- dig +noall +answer -x "${IPS[1]}"

heading "Names outside the cluster go to the outside DNS"
k exec "$P" -c redis-container -- dig +search +noall +answer +comments example.org | grep -E 'status|IN' || true

heading "Clean up"
k delete -f "$here/sample-deployment.yaml" -f "$here/sample-clusterip.yaml"
k delete pod env-check --wait=false
