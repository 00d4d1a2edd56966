#!/usr/bin/env bash
# The shared-data walk-through (README.md): start the line of three nodes, write on one
# end, read on the other, take the shipper down, write on, bring it back and watch it
# catch up, then show the lossless history.
#   run.sh FEDMESH_BINARY        run it (leaves the network running)
#   run.sh FEDMESH_BINARY down   stop the network
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fedmesh="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
M=http://127.0.0.1:3041 S=http://127.0.0.1:3042 H=http://127.0.0.1:3043

if [ "${2:-}" = "down" ]; then exec "$fedmesh" down "$here"; fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Prints the command as it can be pasted (arguments with spaces or JSON single-quoted), then runs it.
show() {
  local line='$' a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then line+=" $a"; else line+=" '${a//\'/\'\\\'\'}'"; fi
  done
  echo "$line"; "$@"; echo
}
# Polls (bounded) until the shipper shows what we expect.
wait_for() {
  local what="$1" url="$2" pattern="$3"
  for _ in $(seq 150); do
    if curl -sf "$url" | grep -q "$pattern"; then echo "   ($what: yes)"; return 0; fi
    sleep 0.1
  done
  echo "   ($what: not within 15 s)" >&2; return 1
}

step "Start the network: manufacturer - supplier - shipper"
"$fedmesh" up "$here"

step "The manufacturer creates a shipment"
show curl -s -X PUT "$M/api/v1/data/shipment/SHP-1001" \
  -d '{"status":"packed","pallets":12,"checkpoints":"Acme dock 3"}'

step "The shipper, two hops away, reads it (relayed by the supplier)"
wait_for "shipper sees SHP-1001" "$H/api/v1/data/shipment/SHP-1001" '"packed"'
show "$fedmesh" data get shipper shipment SHP-1001 --network "$here"

step "Prices stay between manufacturer and supplier"
show curl -s -X PUT "$M/api/v1/data/pricing/SHP-1001" -d '{"unit_price":41.5}'
wait_for "supplier sees the price" "$S/api/v1/data/pricing/SHP-1001" 'unit_price'
echo "\$ curl -s $H/api/v1/data/pricing/SHP-1001"
curl -s "$H/api/v1/data/pricing/SHP-1001"; echo

step "A write that breaks the schema is refused (400) and changes nothing"
show curl -s -X PUT "$S/api/v1/data/shipment/SHP-1002" -d '{"pallets":"many"}'

step "The shipper goes down; the others keep writing"
kill -TERM "$(cat "$here/.fedmesh/run/shipper.pid")"
while curl -sf "$H/healthz" >/dev/null 2>&1; do sleep 0.1; done
show curl -s -X PUT "$S/api/v1/data/shipment/SHP-1001" -d '{"status":"in transit","checkpoints":"Bolt hub"}'
show curl -s -X PUT "$M/api/v1/data/shipment/SHP-1003" -d '{"status":"packed","pallets":4}'

step "The shipper comes back and catches up (only the missing deltas travel)"
"$fedmesh" up "$here" >/dev/null
wait_for "shipper caught up on SHP-1001" "$H/api/v1/data/shipment/SHP-1001" 'in transit'
wait_for "shipper caught up on SHP-1003" "$H/api/v1/data/shipment/SHP-1003" 'packed'
show "$fedmesh" call shipper shipments/summary --network "$here"

step "The lossless history of SHP-1001 on the shipper: every value, who wrote it, when"
show curl -s "$H/api/v1/data/shipment/SHP-1001?view=lossless"

echo "The network keeps running. Dashboards: $M/ $S/ $H/ (Shared data section)."
echo "Stop it with: make shared-data-down   (or: bash examples/shared-data/run.sh $1 down)"
