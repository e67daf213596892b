#!/usr/bin/env bash
# DNS benchmark: knet dns vs Knot DNS on the same generated cluster zone.
#
#   bench/dns.sh            # 10,000 Services / 50,000 endpoints; RSS at 100k / 500k
#
# Env: KNET_BIN (use this binary instead of building), SVCS (10000), PER (5 endpoints per Service), BIG_SVCS (100000),
#      DURATION (seconds per dnsperf run, 10), CLIENTS (10), OUTSTANDING (200),
#      REPEAT (interleaved knet/Knot run pairs per thread count, 3), THREADS (server thread counts, "1 2"),
#      MEMORY (1: also measure RSS at BIG_SVCS; 0 skips it).
# Prints one table row per (server, threads) with QPS, average and p99
# latency, and the resident memory of knet dns at BIG_SVCS Services.
# Everything runs on loopback; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

SVCS=${SVCS:-10000}
PER=${PER:-5}
BIG_SVCS=${BIG_SVCS:-100000}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-10}
OUTSTANDING=${OUTSTANDING:-200}
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-1 2}
MEMORY=${MEMORY:-1}

for tool in dnsperf knotd dig python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-deps)" >&2; exit 1; }
done

. bench/lib.sh
bench_start knet-dns-bench
private_knet

stop_last() {
  local p=${PIDS[-1]}
  kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  unset 'PIDS[-1]'
}

echo "== generating $SVCS Services x $PER endpoints"
python3 bench/dns_gen.py "$W/small" "$SVCS" "$PER"

start_knet() { # threads objects port
  "$KNET" dns --objects "$2" --listen "127.0.0.1:$3" --threads "$1" --no-forward \
    --health off --ready off --metrics off 2>"$W/knet.log" &
  PIDS+=($!)
  wait_dns "$3"
}

start_knot() { # threads port
  mkdir -p "$W/knot"
  cat >"$W/knot/knot.conf" <<EOF
server:
  listen: 127.0.0.1@$2
  rundir: $W/knot
  udp-workers: $1
  tcp-workers: 1
  background-workers: 1
database:
  storage: $W/knot
control:
  listen: $W/knot/knot.sock
log:
  - target: stderr
    any: error
zone:
  - domain: cluster.local
    file: $W/small/zone.txt
    journal-content: none
    zonefile-sync: -1
EOF
  knotd -c "$W/knot/knot.conf" 2>"$W/knot.log" &
  PIDS+=($!)
  wait_dns "$2"
}

# dnsperf with per-query output; prints "qps avg_ms p99_ms lost".
measure() { # port
  dnsperf -s 127.0.0.1 -p "$1" -d "$W/small/queries.txt" -l "$DURATION" -c "$CLIENTS" \
    -q "$OUTSTANDING" -v >"$W/perf.out" 2>"$W/perf.err"
  python3 - "$W/perf.out" <<'PY'
import sys
lat, qps, avg, lost = [], "0", "0", "?"
for line in open(sys.argv[1]):
    if line.startswith("> "):
        parts = line.split()
        try:
            lat.append(float(parts[-1]))
        except ValueError:
            pass
    elif "Queries per second:" in line:
        qps = line.split(":")[1].strip()
    elif "Average Latency" in line:
        avg = line.split(":")[1].split()[0]
    elif "Queries lost:" in line:
        lost = line.split(":")[1].strip().split()[0]
lat.sort()
p99 = lat[int(len(lat) * 0.99)] if lat else 0.0
print(f"{float(qps):.0f} {float(avg)*1000:.3f} {p99*1000:.3f} {lost}")
PY
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

echo "== dnsperf: $DURATION s, $CLIENTS clients, $OUTSTANDING outstanding, mix 40% ClusterIP A / 20% headless A / 15% SRV / 15% AAAA NODATA / 10% NXDOMAIN"
printf '%-10s %-8s %10s %10s %10s %8s %9s\n' server threads qps avg_ms p99_ms lost rss_mb
one_run() { # server threads
  local port
  port=$(free_port)
  if [ "$1" = knet-dns ]; then start_knet "$2" "$W/small/objects.json" "$port"; else start_knot "$2" "$port"; fi
  read -r qps avg p99 lost < <(measure "$port")
  printf '%-10s %-8s %10s %10s %10s %8s %9s\n' "$1" "$2" "$qps" "$avg" "$p99" "$lost" "$(rss_mb "${PIDS[-1]}")"
  echo "$1 $2 $qps" >>"$W/qps.txt"
  stop_last
}
# REPEAT pairs per thread count, alternating which server goes first: the
# machine is shared, so only interleaved pairs compare fairly.
for t in $THREADS; do
  for r in $(seq 1 "$REPEAT"); do
    if [ $((r % 2)) = 1 ]; then one_run knet-dns "$t"; one_run knot-3 "$t"; else one_run knot-3 "$t"; one_run knet-dns "$t"; fi
  done
done
echo "== QPS over $REPEAT runs each: median [min-max]"
python3 - "$W/qps.txt" <<'PY'
import sys, statistics
runs = {}
for line in open(sys.argv[1]):
    s, t, q = line.split()
    runs.setdefault((s, t), []).append(float(q))
for (s, t), v in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{s:<10} {t:<8} median {statistics.median(v):>9.0f}  [{min(v):.0f}-{max(v):.0f}]")
PY

[ "$MEMORY" = 1 ] || exit 0
echo "== memory at $BIG_SVCS Services x $PER endpoints"
python3 bench/dns_gen.py "$W/big" "$BIG_SVCS" "$PER" --no-zone
port=$(free_port)
t0=$(date +%s.%N)
start_knet 2 "$W/big/objects.json" "$port"
t1=$(date +%s.%N)
sleep 1
rss=$(rss_mb "${PIDS[-1]}")
endpoints=$((BIG_SVCS * PER))
budget=$(python3 -c "print(round(($endpoints + $BIG_SVCS)/1000 + 54, 1))")
echo "knet-dns services=$BIG_SVCS endpoints=$endpoints rss_mb=$rss load_s=$(python3 -c "print(round($t1-$t0,1))") coredns_formula_mb=$budget quarter_mb=$(python3 -c "print(round($budget/4,1))")"
dig @127.0.0.1 -p "$port" +short "svc$((BIG_SVCS - 1)).ns$(((BIG_SVCS - 1) % 100)).svc.cluster.local"
stop_last
