#!/usr/bin/env bash
# Registration throughput and end-to-end query latency on one registry process:
#  1. fedmesh registrations over mTLS (tls_load re-registering one node with 10 flows:
#     every request is a full write: decode, version, SQLite, listeners, index invalidation);
#  2. Kodo registrations over plain HTTP filling the catalog with NODES x FLOWS flows
#     (distinct nodes), then paged queries over HTTP on the full catalog.
#   bench/registry_load.sh BUILD_DIR [NODES] [FLOWS_PER_NODE]
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
nodes="${2:-1000}"
flows="${3:-1000}"
fedmesh="$build/src/cli/fedmesh"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$fedmesh" ca init "$work/ca" >/dev/null
for n in reg loader; do "$fedmesh" ca issue --ca "$work/ca" --name "$n" --out "$work/certs" >/dev/null; done
base=$((26000 + RANDOM % 4000))
cat >"$work/reg.toml" <<TOML
name = "reg"
workdir = "$work/var"
roles = ["registry"]
[http]
listen = "127.0.0.1:$base"
max_body = 4194304
[federation]
listen = "127.0.0.1:$((base + 1))"
cert = "$work/certs/reg.crt"
key = "$work/certs/reg.key"
trust = ["$work/ca/ca.crt"]
[registry]
kodo_compat = true
max_page_size = 100
[log]
level = "warn"
TOML
"$fedmesh" node --config "$work/reg.toml" >"$work/reg.log" 2>&1 & pid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$base/healthz" >/dev/null && break; sleep 0.05; done

body='{"url":"https://127.0.0.1:1","organization":"Load","flows":['
for i in $(seq 0 9); do
  body+="{\"name\":\"load/skill$i\",\"url\":\"https://127.0.0.1:1/fed/v1/skills/load/skill$i\",\"author\":\"bench\",\"tags\":[\"t$i\"]}"
  [ "$i" -lt 9 ] && body+=","
done
body+=']}'
echo "== fedmesh registrations over mTLS (one node, 10 flows, 32 connections, 5 s)"
"$build/bench/tls_load" 127.0.0.1 $((base + 1)) reg /fed/v1/registry/register 32 5 1 \
  "$work/certs/loader.crt" "$work/certs/loader.key" "$work/ca/ca.crt" POST "$body"
echo
echo "== Kodo registrations over plain HTTP, then queries over HTTP"
"$build/bench/registry_load" "http://127.0.0.1:$base" "$nodes" "$flows" 2 200
echo
echo "registry RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
