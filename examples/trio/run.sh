#!/usr/bin/env bash
# The trio: three fedmesh nodes federating over mutual TLS on loopback.
#   run.sh FEDMESH_BINARY        create CA + certificates if missing, start a, b, c, wait
#                                 until every peer is up, print the peer tables
#   run.sh FEDMESH_BINARY stop   stop the three nodes gracefully
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fedmesh="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
action="${2:-up}"
cd "$here"

stop_nodes() {
  for n in a b c; do
    if [ -f "run/$n.pid" ]; then
      pid=$(cat "run/$n.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "run/$n.pid"
    fi
  done
}

if [ "$action" = "stop" ]; then
  stop_nodes
  echo "trio stopped"
  exit 0
fi

stop_nodes   # re-running restarts cleanly
mkdir -p run
if [ ! -f ca/ca.crt ]; then
  "$fedmesh" ca init ca >/dev/null
fi
for n in a b c; do
  [ -f "certs/$n.crt" ] || "$fedmesh" ca issue --ca ca --name "$n" --out certs --organization "Org ${n^^}" >/dev/null
done
echo "CA and certificates: examples/trio/ca, examples/trio/certs"

for cfg in a.toml b.toml c.yaml; do
  n="${cfg%%.*}"
  "$fedmesh" config check "$cfg" >/dev/null
  "$fedmesh" node --config "$cfg" >"run/$n.log" 2>&1 &
  echo $! >"run/$n.pid"
done

# Wait (bounded) until every node reports both of its peers up.
declare -A port=([a]=3031 [b]=3032 [c]=3033)
deadline=$((SECONDS + 30))
for n in a b c; do
  until "$fedmesh" status --json "http://127.0.0.1:${port[$n]}" 2>/dev/null | grep -q '"up": 2'; do
    if ! kill -0 "$(cat run/$n.pid)" 2>/dev/null; then
      echo "node $n exited; its log:" >&2; cat "run/$n.log" >&2; stop_nodes; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "node $n did not see its peers up within 30 s; its log:" >&2; cat "run/$n.log" >&2; stop_nodes; exit 1
    fi
    sleep 0.1
  done
done

for n in a b c; do
  echo
  "$fedmesh" status "http://127.0.0.1:${port[$n]}"
  "$fedmesh" peers "http://127.0.0.1:${port[$n]}"
done
echo
echo "The trio is running (logs in examples/trio/run/). Operator APIs: http://127.0.0.1:3031, :3032, :3033"
echo "Stop it with: bash examples/trio/run.sh $1 stop"
