#!/usr/bin/env bash
# Foundation benchmark: GET /api/v1/status (plain HTTP, wrk) and an mTLS round trip
# (GET /fed/v1/ping, tls_load) on a fedmesh node, beside a bare Beast echo server (the
# ceiling), with 1 and 2 server threads. Prints requests/s, p50/p99 and server CPU time
# per request (from /proc), and the node's idle RSS.
#   bench/run.sh BUILD_DIR [SECONDS] [CONNECTIONS]
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
secs="${2:-5}"
conns="${3:-64}"
fedmesh="$build/src/cli/fedmesh"
echo_server="$build/bench/echo_server"
tls_load="$build/bench/tls_load"
tick=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is not installed (make deps)"; exit 1; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)); }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

"$fedmesh" ca init "$work/ca" >/dev/null
"$fedmesh" ca issue --ca "$work/ca" --name bench-node --out "$work/certs" >/dev/null
"$fedmesh" ca issue --ca "$work/ca" --name bench-client --out "$work/certs" >/dev/null
C="$work/certs/bench-client.crt"; K="$work/certs/bench-client.key"; CA="$work/ca/ca.crt"

# node_config FILE WORKDIR THREADS HTTP_PORT FED_PORT
node_config() {
  cat >"$1" <<TOML
name = "bench-node"
workdir = "$2"
threads = $3
[http]
listen = "127.0.0.1:$4"
[federation]
listen = "127.0.0.1:$5"
cert = "$work/certs/bench-node.crt"
key = "$work/certs/bench-node.key"
trust = ["$CA"]
[log]
level = "warn"
TOML
}

# measure NAME PID -- load command printing "rps p50 p99" on its last line
measure() {
  local name=$1 pid=$2; shift 2
  local before after out
  before=$(cpu_ticks "$pid")
  out=$("$@")
  after=$(cpu_ticks "$pid")
  read -r rps p50 p99 total <<<"$out"
  local cpu_us
  cpu_us=$(awk -v t=$((after - before)) -v hz="$tick" -v n="$total" 'BEGIN { printf "%.1f", (n > 0) ? t / hz * 1e6 / n : 0 }')
  printf "| %-34s | %8.0f | %8s | %8s | %7s |\n" "$name" "$rps" "$p50" "$p99" "$cpu_us"
}

# wrk -> "rps p50 p99 total" (latencies in µs)
wrk_run() {
  local out
  out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$1")
  awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) }
    /requests in/ { total = $1 }
    END { printf "%s %.0f %.0f %s\n", rps, p50, p99, total }' <<<"$out"
}

# tls_load -> "rps p50 p99 total"
tls_run() {
  local out
  out=$("$tls_load" 127.0.0.1 "$1" "$2" "$3" "$conns" "$secs" 1 "$C" "$K" "$CA")
  sed -E 's/.*requests=([0-9]+).*rps=([0-9]+) p50_us=([0-9]+) p99_us=([0-9]+).*/\2 \3 \4 \1/' <<<"$out"
}

echo "fedmesh foundation benchmark: $(nproc) cores, ${secs}s per run, $conns connections, load generator on the same machine"
echo
printf "| %-34s | %8s | %8s | %8s | %7s |\n" "target" "req/s" "p50 µs" "p99 µs" "CPU µs/req"
printf "|%s|%s|%s|%s|%s|\n" "------------------------------------" "----------" "----------" "----------" "---------"
for threads in 1 2; do
  p=$(free_port)
  "$echo_server" "$p" "$threads" >/dev/null & pids+=($!); ep=$!
  wait_port "$p"
  measure "echo (Beast), plain, ${threads} thr" "$ep" wrk_run "http://127.0.0.1:$p/"
  kill "$ep"; wait "$ep" 2>/dev/null || true

  p=$(free_port)
  "$echo_server" "$p" "$threads" "$work/certs/bench-node.crt" "$work/certs/bench-node.key" "$CA" >/dev/null & pids+=($!); ep=$!
  wait_port "$p"
  measure "echo (Beast), mTLS, ${threads} thr" "$ep" tls_run "$p" bench-node /
  kill "$ep"; wait "$ep" 2>/dev/null || true

  hp=$(free_port); fp=$(free_port)
  node_config "$work/node.toml" "$work/var" "$threads" "$hp" "$fp"
  "$fedmesh" node --config "$work/node.toml" >"$work/node.log" 2>&1 & pids+=($!); np=$!
  wait_port "$hp"
  measure "fedmesh GET /api/v1/status, ${threads} thr" "$np" wrk_run "http://127.0.0.1:$hp/api/v1/status"
  measure "fedmesh mTLS GET /fed/v1/ping, ${threads} thr" "$np" tls_run "$fp" bench-node /fed/v1/ping
  kill -TERM "$np"; wait "$np" 2>/dev/null || true
done

# Idle RSS: a fresh node, three seconds after start, no traffic.
hp=$(free_port); fp=$(free_port)
node_config "$work/idle.toml" "$work/var-idle" 0 "$hp" "$fp"
"$fedmesh" node --config "$work/idle.toml" >/dev/null 2>&1 & pids+=($!); np=$!
wait_port "$hp"; sleep 3
echo
echo "idle node RSS: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$np/status) ($(nproc) I/O threads)"
kill -TERM "$np"; wait "$np" 2>/dev/null || true
