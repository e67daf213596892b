#!/usr/bin/env bash
# Lab benchmark (issue 6): wall time of `knet up` until every node is Ready
# and the cluster DNS answers; time for a 100-replica Deployment to be all
# Running and Ready; resident memory (PSS, so the binary's shared pages count
# once) of the lab at 3 nodes and 100 pods.
# Needs root. Usage: bench/lab.sh [path/to/knet] [runs]
set -euo pipefail
KNET=${1:-target/release/knet}
RUNS=${2:-3}
NAME=knbench$$
PORT=$((20000 + $$ % 10000))
export KUBECONFIG=/run/knet/$NAME/api/kubeconfig
cleanup() { "$KNET" down --force --name "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }

pss_kb() { # proportional set size (shared pages split among sharers): the knet up process plus every process in the lab's namespaces
  local total=0 pid
  local up; up=$(python3 -c "import json;print(json.load(open('/run/knet/$NAME/state.json'))['pid'])")
  for pid in $up $(for ns in $(ip netns list | awk '{print $1}' | grep "^$NAME-"); do ip netns pids "$ns"; done | sort -u); do
    total=$((total + $(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup 2>/dev/null || echo 0)))
  done
  echo "$total"
}

for run in $(seq 1 "$RUNS"); do
  t0=$(now)
  "$KNET" up --name "$NAME" --nodes 3 --api-listen 127.0.0.1:$PORT --detach >/dev/null 2>&1
  # `knet up --detach` returns once nodes are registered and a DNS pod is Ready;
  # confirm DNS really answers from a node through the kube-dns ClusterIP.
  until "$KNET" exec --name "$NAME" "$NAME-control-plane" -- dig +short +time=1 +tries=1 @10.96.0.10 kubernetes.default.svc.cluster.local 2>/dev/null | grep -q 10.96.0.1; do sleep 0.02; done
  t1=$(now)
  kubectl create deployment web --image=nginx:1.19 --replicas=100 >/dev/null
  until [ "$(kubectl get deploy web -o jsonpath='{.status.readyReplicas}')" = "100" ]; do sleep 0.1; done
  t2=$(now)
  pss=$(pss_kb)
  printf 'run %d: up→nodes Ready+DNS answering %ss; 100 replicas Ready %ss; lab memory (PSS) %d MiB (%d processes in lab namespaces)\n' \
    "$run" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" $((pss / 1024)) \
    "$(for ns in $(ip netns list | awk '{print $1}' | grep "^$NAME-"); do ip netns pids "$ns"; done | wc -l)"
  cleanup
done
