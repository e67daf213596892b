# Shared helpers of the DNS benchmarks (source it from bench/*.sh, after cd
# to the repository root).
#
#   bench_start PREFIX   makes the work directory $W (/tmp/PREFIX.XXXXXX), an
#                        empty PIDS array, and an EXIT trap that stops every
#                        PID in PIDS and removes $W
#   private_knet         sets $KNET to a private copy of $KNET_BIN (built
#                        from this tree when unset): other builds may replace
#                        target/release/knet mid-run
#   free_port            prints a free UDP port on 127.0.0.1
#   wait_dns PORT        waits up to 60 s for cluster.local SOA on PORT

bench_start() {
  W=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$W"
}

private_knet() {
  if [ -z "${KNET_BIN:-}" ]; then
    cargo build --release --locked -q -p knet --bin knet
    KNET_BIN=$PWD/target/release/knet
  fi
  mkdir -p "$W/bin" && cp "$KNET_BIN" "$W/bin/knet"
  KNET=$W/bin/knet
}

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_dns() { # port
  for _ in $(seq 1 600); do
    if dig @127.0.0.1 -p "$1" +time=1 +tries=1 cluster.local SOA 2>/dev/null | grep -q 'status: NOERROR'; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2
  return 1
}
