#!/usr/bin/env bash
# Registry mesh convergence: N registry processes in a ring (the longest path for its
# size); one node registers at r0; convergence is the latest time any registry stored
# the entry ("received") minus when r0 stored it, and messages are the sync/digest
# requests the change cost (from /api/v1/registry/peers).
#   bench/registry_mesh.sh BUILD_DIR [N ...]
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"; shift || true
sizes=("${@:-4 16 64}")
fedmesh="$build/src/cli/fedmesh"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
command -v python3 >/dev/null || { echo "python3 is needed to read the JSON answers"; exit 1; }

"$fedmesh" ca init "$work/ca" >/dev/null
json() { curl -sf "$1" || echo '{}'; }

echo "| registries (ring) | convergence ms | messages | messages per registry |"
echo "|---|---|---|---|"
for n in ${sizes[@]}; do
  base=$((22000 + RANDOM % 5000))
  dir="$work/ring$n"; mkdir -p "$dir/pkg/demo"
  printf 'name = "demo"\nversion = "1"\n[skills.hello]\nacl = "peers"\ntags = ["bench"]\n' >"$dir/pkg/demo/package.toml"
  echo 'skill("hello", function() return 1 end)' >"$dir/pkg/demo/main.lua"
  for i in $(seq 0 $((n - 1))) node; do
    [ -f "$work/certs/r$i.crt" ] || "$fedmesh" ca issue --ca "$work/ca" --name "r$i" --out "$work/certs" >/dev/null
  done
  port_http() { echo $((base + $1)); }
  port_fed() { echo $((base + 100 + $1)); }
  for i in $(seq 0 $((n - 1))); do
    prev=$(((i + n - 1) % n)); next=$(((i + 1) % n))
    peers="\"r$prev\", \"r$next\""; [ "$n" -eq 2 ] && peers="\"r$next\""
    {
      echo "name = \"r$i\""
      echo "workdir = \"$dir/var/r$i\""
      echo "roles = [\"node\", \"registry\"]"
      echo "threads = 1"
      echo "[registry]"
      echo "peers = [$peers]"
      echo "[http]"
      echo "listen = \"127.0.0.1:$(port_http $i)\""
      echo "[federation]"
      echo "listen = \"127.0.0.1:$(port_fed $i)\""
      echo "cert = \"$work/certs/r$i.crt\""
      echo "key = \"$work/certs/r$i.key\""
      echo "trust = [\"$work/ca/ca.crt\"]"
      echo "retry_max = \"1s\""
      for p in $prev $next; do
        [ "$p" -eq "$i" ] && continue
        echo "[[federation.peers]]"
        echo "name = \"r$p\""
        echo "url = \"https://127.0.0.1:$(port_fed $p)\""
      done
      echo "[log]"
      echo "level = \"warn\""
    } >"$dir/r$i.toml"
    "$fedmesh" node --config "$dir/r$i.toml" >"$dir/r$i.log" 2>&1 & pids+=($!)
  done
  # Wait until every registry is up and idle (links synced).
  deadline=$((SECONDS + 60))
  for i in $(seq 0 $((n - 1))); do
    until json "http://127.0.0.1:$(port_http $i)/api/v1/status" | grep -q '"idle":true'; do
      [ $SECONDS -lt $deadline ] || { echo "r$i did not settle"; tail -3 "$dir/r$i.log"; exit 1; }
      sleep 0.05
    done
  done
  until [ "$(for i in $(seq 0 $((n - 1))); do json "http://127.0.0.1:$(port_http $i)/api/v1/registry/peers"; echo; done |
    python3 -c 'import json,sys; print(all(l["state"]=="up" and not l["needs_sync"] for line in sys.stdin if line.strip() for l in json.loads(line).get("peers",[])))')" = True ]; do
    sleep 0.1
  done
  messages() {
    for i in $(seq 0 $((n - 1))); do json "http://127.0.0.1:$(port_http $i)/api/v1/registry/peers"; echo; done |
      python3 -c 'import json,sys; print(sum(l["messages"] for line in sys.stdin if line.strip() for l in json.loads(line).get("peers",[])))'
  }
  before=$(messages)
  {
    echo 'name = "rnode"'; echo "workdir = \"$dir/var/node\""
    echo "[http]"; echo "listen = \"127.0.0.1:$(port_http 200)\""
    echo "[federation]"; echo "listen = \"127.0.0.1:$(port_fed 200)\""
    echo "cert = \"$work/certs/rnode.crt\""; echo "key = \"$work/certs/rnode.key\""; echo "trust = [\"$work/ca/ca.crt\"]"
    echo "[[federation.peers]]"; echo 'name = "r0"'; echo "url = \"https://127.0.0.1:$(port_fed 0)\""
    echo "[system_services]"; echo 'enable = ["demo"]'; echo "path = [\"$dir/pkg\"]"
    echo "[discovery]"; echo 'registries = ["r0"]'; echo 'heartbeat = "1h"'
  } >"$dir/node.toml"
  "$fedmesh" node --config "$dir/node.toml" >"$dir/node.log" 2>&1 & pids+=($!)
  # Wait until every registry holds it, then read when each stored it.
  for i in $(seq 0 $((n - 1))); do
    until json "http://127.0.0.1:$(port_http $i)/api/v1/registry/nodes/rnode" | grep -q '"received"'; do sleep 0.02; done
  done
  until json "http://127.0.0.1:$(port_http 0)/api/v1/status" | grep -q '"idle":true'; do sleep 0.02; done
  sleep 0.2
  after=$(messages)
  conv=$(for i in $(seq 0 $((n - 1))); do json "http://127.0.0.1:$(port_http $i)/api/v1/registry/nodes/rnode"; echo; done |
    python3 -c '
import json, sys, datetime
def t(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
rows = [json.loads(l) for l in sys.stdin if l.strip()]
origin = t(rows[0]["received"])
print("%.1f" % (max((t(r["received"]) - origin).total_seconds() for r in rows) * 1000))')
  msgs=$((after - before))
  echo "| $n | $conv | $msgs | $(python3 -c "print(round($msgs / $n, 2))") |"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done
