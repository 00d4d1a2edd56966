#!/usr/bin/env bash
# Skills benchmark: a trivial Lua skill called locally (operator API, wrk) and remotely
# (a peer calling /fed/v1/skills over mutual TLS, tls_load), beside NATS request-reply
# (Debian's nats-server, a libnats responder and requester, same payload) and the mTLS
# echo ceiling, at concurrency 1 and 64. Prints req/s, p50/p99 and server CPU per request.
#   bench/skills.sh BUILD_DIR [SECONDS]
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
secs="${2:-5}"
fedmesh="$build/src/cli/fedmesh"
tick=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "$1"; [ -f "$work/node.log" ] && tail -5 "$work/node.log"; exit 1; }
for tool in wrk nats-server; do command -v "$tool" >/dev/null || { echo "$tool is not installed (make deps)"; exit 1; }; done

base=$((21000 + RANDOM % 8000))  # four consecutive ports from here
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

"$fedmesh" ca init "$work/ca" >/dev/null
for n in bench-node bench-caller; do "$fedmesh" ca issue --ca "$work/ca" --name "$n" --out "$work/certs" >/dev/null; done
C="$work/certs/bench-caller.crt"; K="$work/certs/bench-caller.key"; CA="$work/ca/ca.crt"
mkdir -p "$work/pkgs/bench"
printf 'name = "bench"\nversion = "1"\n[skills.echo]\nacl = "peers"\n' >"$work/pkgs/bench/package.toml"
echo 'skill("echo", function(args) return { ok = true } end)' >"$work/pkgs/bench/main.lua"
printf 'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n' >"$work/post.lua"

# row NAME CONCURRENCY "PIDS" -- command printing "rps p50 p99 total"
row() {
  local name=$1 conc=$2 server_pids=$3; shift 3
  local before after out
  before=$(ticks $server_pids)
  out=$("$@")
  after=$(ticks $server_pids)
  read -r rps p50 p99 total <<<"$out"
  printf "| %-40s | %4s | %8.0f | %7s | %7s | %7s |\n" "$name" "$conc" "$rps" "$p50" "$p99" \
    "$(awk -v t=$((after - before)) -v hz="$tick" -v n="$total" 'BEGIN { printf "%.1f", (n > 0) ? t / hz * 1e6 / n : 0 }')"
}
wrk_run() {  # URL CONCURRENCY
  wrk -t1 -c"$2" -d"${secs}s" --latency -s "$work/post.lua" "$1" | awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
    /Requests\/sec/ { rps = $2 } /^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) } /requests in/ { total = $1 }
    END { printf "%s %.0f %.0f %s\n", rps, p50, p99, total }'
}
tls_run() {  # PORT NAME PATH CONCURRENCY METHOD BODY
  "$build/bench/tls_load" 127.0.0.1 "$1" "$2" "$3" "$4" "$secs" 1 "$C" "$K" "$CA" "$5" "$6" |
    sed -E 's/.*requests=([0-9]+).*rps=([0-9]+) p50_us=([0-9]+) p99_us=([0-9]+).*/\2 \3 \4 \1/'
}
nats_run() {  # URL CONCURRENCY
  "$build/bench/nats_reqrep" load "$1" bench.echo "$2" "$secs" '{}' |
    sed -E 's/.*requests=([0-9]+).*rps=([0-9]+) p50_us=([0-9]+) p99_us=([0-9]+).*/\2 \3 \4 \1/'
}

hp=$base; fp=$((base + 1)); ep=$((base + 2)); np_port=$((base + 3))
cat >"$work/node.toml" <<TOML
name = "bench-node"
workdir = "$work/var"
[http]
listen = "127.0.0.1:$hp"
[federation]
listen = "127.0.0.1:$fp"
cert = "$work/certs/bench-node.crt"
key = "$work/certs/bench-node.key"
trust = ["$CA"]
[system_services]
enable = ["bench"]
path = ["$work/pkgs"]
[log]
level = "warn"
TOML
"$fedmesh" node --config "$work/node.toml" >"$work/node.log" 2>&1 & pids+=($!); np=$!
wait_port "$hp" || fail "the node did not start:"
until curl -sf -X POST "http://127.0.0.1:$hp/api/v1/skills/bench/echo" -d '{}' >/dev/null; do sleep 0.1; done

"$build/bench/echo_server" "$ep" 2 "$work/certs/bench-node.crt" "$work/certs/bench-node.key" "$CA" >/dev/null & pids+=($!); echo_pid=$!
nats-server -a 127.0.0.1 -p "$np_port" >"$work/nats.log" 2>&1 & pids+=($!); nats_pid=$!
wait_port "$np_port"
"$build/bench/nats_reqrep" serve "nats://127.0.0.1:$np_port" bench.echo '{"ok":true}' >/dev/null & pids+=($!); resp_pid=$!
wait_port "$ep"; sleep 0.3

echo "fedmesh skills benchmark: $(nproc) cores, ${secs}s per run, load generator on the same machine"
echo
printf "| %-40s | %4s | %8s | %7s | %7s | %7s |\n" "target" "conc" "req/s" "p50 µs" "p99 µs" "CPU µs/req"
printf "|%s|%s|%s|%s|%s|%s|\n" "------------------------------------------" "------" "----------" "---------" "---------" "---------"
for c in 1 64; do
  row "local skill (operator API, plain HTTP)" "$c" "$np" wrk_run "http://127.0.0.1:$hp/api/v1/skills/bench/echo" "$c"
  row "remote skill (peer → node, mTLS)" "$c" "$np" tls_run "$fp" bench-node /fed/v1/skills/bench/echo "$c" POST '{}'
  row "NATS request-reply (server + responder)" "$c" "$nats_pid $resp_pid" nats_run "nats://127.0.0.1:$np_port" "$c"
  row "echo ceiling (Beast, mTLS)" "$c" "$echo_pid" tls_run "$ep" bench-node / "$c" GET ''
done
