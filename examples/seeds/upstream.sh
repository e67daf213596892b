#!/usr/bin/env bash
# A stand-in for "the internet's DNS" inside a knet lab.
#
# Runs Knot DNS (knotd) in the lab's outside-client namespace, listening on
# 172.18.255.254:53, authoritative for the external names the seeds look up
# (google.com, www.iij.ad.jp, …) with documentation addresses. Start the lab
# with `--upstream 172.18.255.254` so cluster DNS forwards non-cluster names here.
#
#   examples/seeds/upstream.sh start   # idempotent
#   examples/seeds/upstream.sh stop    # kills only the knotd this script started
#   examples/seeds/upstream.sh status
#
# Environment: KNET_CLUSTER (default knet), KNET (default: knet on PATH, else
# ./target/debug/knet or ./target/release/knet), UPSTREAM_ADDR (default 172.18.255.254).
set -euo pipefail

cluster=${KNET_CLUSTER:-knet}
addr=${UPSTREAM_ADDR:-172.18.255.254}
dir=/run/knet-upstream/$cluster
pidfile=$dir/knot.pid

find_knet() {
    if [[ -n ${KNET:-} ]]; then echo "$KNET"; return; fi
    if command -v knet >/dev/null; then command -v knet; return; fi
    local root
    root=$(cd "$(dirname "$0")/../.." && pwd)
    for b in "$root/target/release/knet" "$root/target/debug/knet"; do
        [[ -x $b ]] && { echo "$b"; return; }
    done
    echo "upstream.sh: cannot find the knet binary (set KNET=...)" >&2
    exit 1
}

write_zones() {
    cat >"$dir/google.com.zone" <<ZONE
\$ORIGIN google.com.
\$TTL 30
@    SOA ns.google.com. hostmaster.google.com. 1 3600 600 86400 30
@    NS  ns
ns   A   192.0.2.53
@    A   192.0.2.206
www  A   192.0.2.207
ZONE
    cat >"$dir/iij.ad.jp.zone" <<ZONE
\$ORIGIN iij.ad.jp.
\$TTL 30
@    SOA ns.iij.ad.jp. hostmaster.iij.ad.jp. 1 3600 600 86400 30
@    NS  ns
ns   A   198.51.100.53
www  A   198.51.100.180
ZONE
    cat >"$dir/example.org.zone" <<ZONE
\$ORIGIN example.org.
\$TTL 30
@    SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 30
@    NS  ns
ns   A   203.0.113.53
@    A   203.0.113.10
www  CNAME @
ZONE
    cat >"$dir/knot.conf" <<CONF
server:
    listen: $addr@53
    rundir: "$dir"
    pidfile: "$pidfile"
database:
    storage: "$dir/db"
log:
  - target: "$dir/knot.log"
    any: info
template:
  - id: default
    storage: "$dir"
    file: "%s.zone"
    semantic-checks: on
zone:
  - domain: google.com
  - domain: iij.ad.jp
  - domain: example.org
CONF
}

running() {
    [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
    if running; then
        echo "upstream DNS already running (pid $(cat "$pidfile")) on $addr:53"
        return
    fi
    local knet
    knet=$(find_knet)
    mkdir -p "$dir/db"
    write_zones
    # -d: knotd daemonizes and writes its PID to $pidfile.
    "$knet" exec --name "$cluster" client -- knotd -d -c "$dir/knot.conf"
    for _ in $(seq 50); do
        if running && "$knet" exec --name "$cluster" client -- \
            dig +short +time=1 +tries=1 "@$addr" google.com A >/dev/null 2>&1; then
            echo "upstream DNS running (pid $(cat "$pidfile")) on $addr:53 in $cluster-client"
            return
        fi
        sleep 0.1
    done
    echo "upstream.sh: knotd did not come up; log: $dir/knot.log" >&2
    cat "$dir/knot.log" >&2 || true
    exit 1
}

stop() {
    if running; then
        local pid
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "upstream DNS stopped (pid $pid)"
    else
        echo "upstream DNS not running"
    fi
    rm -rf "$dir"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
