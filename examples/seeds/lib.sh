# Shared helpers of the seed replays (sourced, not run).
#
# KNET_CLUSTER  the lab's name (default: knet, as `knet up` without --name)
# KNET          the knet binary (default: knet on PATH, else ./target/{release,debug}/knet)
# KUBECONFIG    default: /run/knet/$KNET_CLUSTER/api/kubeconfig
set -euo pipefail

KNET_CLUSTER=${KNET_CLUSTER:-knet}
export KUBECONFIG=${KUBECONFIG:-/run/knet/$KNET_CLUSTER/api/kubeconfig}
SEEDS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ -z ${KNET:-} ]]; then
    if command -v knet >/dev/null; then
        KNET=$(command -v knet)
    else
        for b in "$SEEDS_DIR/../../target/release/knet" "$SEEDS_DIR/../../target/debug/knet"; do
            if [[ -x $b ]]; then KNET=$b; break; fi
        done
    fi
fi
[[ -n ${KNET:-} ]] || { echo "replay: cannot find the knet binary (set KNET=...)" >&2; exit 1; }
[[ -f $KUBECONFIG ]] || { echo "replay: no lab '$KNET_CLUSTER' (missing $KUBECONFIG); start one with: knet up --name $KNET_CLUSTER --detach" >&2; exit 1; }

# The lab's node names, as `knet up` names them.
CP=$KNET_CLUSTER-control-plane
W1=$KNET_CLUSTER-worker
W2=$KNET_CLUSTER-worker2

# heading "TEXT": a section of the replay, named after the part of the seed.
heading() { printf '\n=== %s\n' "$*"; }

# show CMD...: print the command as the seed's author typed it, then run it.
show() { printf '$ %s\n' "$*"; "$@"; }

# k ARGS...: kubectl against the lab, echoed like the seed's transcripts.
k() { printf '$ kubectl %s\n' "$*"; kubectl "$@"; }

# on NODE CMD...: run CMD on a lab node (or `client`, `underlay`).
on() {
    local node=$1; shift
    printf '[%s]$ %s\n' "$node" "$*"
    "$KNET" exec --name "$KNET_CLUSTER" "$node" -- "$@"
}

# jp GET-ARGS... JSONPATH: fields of objects, quietly (`jp pod/x '{.status.podIP}'`).
jp() { local path=${*: -1}; kubectl get "${@:1:$#-1}" -o "jsonpath=$path"; }

# wait_ready SELECTOR COUNT: until COUNT pods matching SELECTOR are Ready.
wait_ready() {
    local sel=$1 want=$2 n
    for _ in $(seq 150); do
        n=$(kubectl get pods -l "$sel" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true)
        [[ $n -ge $want ]] && return 0
        sleep 0.2
    done
    echo "replay: pods $sel not ready ($n of $want)" >&2
    kubectl get pods -l "$sel" -o wide >&2
    return 1
}

# wait_pod NAME: until the pod is Ready.
wait_pod() {
    kubectl wait --for=condition=Ready "pod/$1" --timeout=30s >/dev/null
}

# wait_eps SERVICE COUNT: until the Service's Endpoints list COUNT addresses.
wait_eps() {
    local svc=$1 want=$2 n=0
    for _ in $(seq 150); do
        n=$(kubectl get endpoints "$svc" -o jsonpath='{.subsets[*].addresses[*].ip}' 2>/dev/null | wc -w)
        [[ $n -eq $want ]] && return 0
        sleep 0.2
    done
    echo "replay: endpoints of $svc: $n addresses, wanted $want" >&2
    return 1
}

# wait_gone KIND/NAME: until the object is deleted.
wait_gone() {
    for _ in $(seq 150); do
        kubectl get "$1" >/dev/null 2>&1 || return 0
        sleep 0.2
    done
    echo "replay: $1 still exists" >&2
    return 1
}

# wait_dns: until the cluster DNS Deployment is ready.
wait_dns() {
    kubectl -n kube-system rollout status deploy/coredns --timeout=60s >/dev/null
}
