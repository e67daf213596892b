#!/usr/bin/env bash
# Seed 004, "What kube-dns does at cluster start", replayed on a knet lab.
# Start the lab (and the stand-in upstream DNS) first:
#   knet up --name knet --detach --upstream 172.18.255.254
#   examples/seeds/upstream.sh start
source "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

heading "The cluster DNS runs as pods in kube-system, behind the ClusterIP 10.96.0.10"
wait_dns
k get pods -n kube-system -l k8s-app=kube-dns -o wide
k get svc -n kube-system kube-dns

heading "dnsPolicy ClusterFirst (the default): the kubelet writes resolv.conf"
k apply -f "$here/test-pod.yaml"
wait_pod test-pod; wait_pod default-policy-pod
k exec test-pod -- cat /etc/resolv.conf

heading "dnsPolicy Default: the pod inherits its node's resolver"
k exec default-policy-pod -- cat /etc/resolv.conf

heading "test.development finds Service test in namespace development"
k apply -f "$here/development.yaml"
k exec test-pod -- dig +search +noall +answer test.development
echo "# ClusterIP of development/test: $(kubectl get svc test -n development -o jsonpath='{.spec.clusterIP}')"

heading "Creating Service hoge: a VIP from the API server, an A record, a proxy rule"
k apply -f "$here/hoge.yaml"
wait_pod hoge
VIP=$(jp svc/hoge '{.spec.clusterIP}')
k get svc hoge
k exec test-pod -- dig +noall +answer hoge.default.svc.cluster.local
on "$CP" sh -c "nft list map ip knet-proxy addr-eps-tcp | grep -F $VIP" || true
k exec test-pod -- curl -s -m 3 "http://hoge/"

heading "Upstream name servers: cluster names first, everything else upstream"
k get deploy coredns -n kube-system -o jsonpath='{.spec.template.spec.containers[0].command}'; echo
k exec -n kube-system deploy/coredns -- cat /etc/resolv.conf
k exec test-pod -- dig +search +noall +answer +comments www.iij.ad.jp | grep -E 'status|IN' || true
