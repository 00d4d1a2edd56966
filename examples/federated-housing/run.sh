#!/usr/bin/env bash
# The federated-housing walk-through (README.md): start an aggregator and three clients,
# each client holding one private split of the California housing data; run a mean, a
# linear regression, a 20-round logistic regression on two clients and its evaluation on
# the third; print beside each federated result what one site holding every row computes
# (single_site.py, over the CSV files directly).
#   run.sh FEDMESH_BINARY        run it (leaves the network running)
#   run.sh FEDMESH_BINARY down   stop the network
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fedmesh="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
A=http://127.0.0.1:3040
data="$here/../../data/california"
# The project token of fedmesh.toml. The CLI reads it from the environment, so it never
# shows in a process list.
export FEDMESH_PROJECT_TOKEN="housing-demo-token-2f8c61d4"
target=MedHouseValDiscrete

if [ "${2:-}" = "down" ]; then exec "$fedmesh" down "$here"; fi

for f in california.csv california_housing.MedInc1.csv california_housing.MedInc2.csv \
         california_housing.validation.csv; do
  if [ ! -f "$data/$f" ]; then
    echo "run.sh: $f not found: the example reads the California housing files from" >&2
    echo "        data/california/ in the repository" >&2
    exit 1
  fi
done
command -v python3 >/dev/null || { echo "run.sh: needs python3 for the single-site comparisons" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# submit NAME ARGS...: one job through the aggregator's operator API, waiting for its
# result; the result goes to $out/NAME.json, the job's id to $out/NAME.id.
submit() {
  local name="$1"; shift
  local shown="" a
  for a in "$@"; do
    case "$a" in *[{}\"\ ]*) shown+=" '$a'" ;; *) shown+=" $a" ;; esac
  done
  echo "\$ fedmesh job submit aggregator --network examples/federated-housing --project housing$shown --wait"
  if ! "$fedmesh" job submit aggregator --network "$here" --project housing "$@" --wait \
       >"$out/$name.json" 2>"$out/$name.err"; then
    cat "$out/$name.err" >&2
    exit 1
  fi
  sed -n 's/^submitted //p' "$out/$name.err" >"$out/$name.id"
  echo "job $(cat "$out/$name.id"):"
  sed 's/^/    /' "$out/$name.json"
}

step "Start the network: an aggregator and three clients (north, south, holdout)"
"$fedmesh" up "$here"

step "Wait until each client has told the aggregator what its datasource holds"
for _ in $(seq 150); do
  n=$(curl -sf "$A/api/v1/jobs/clients" |
      python3 -c 'import json,sys; print(sum(len(c["datasources"]) for c in json.load(sys.stdin)["clients"]))' \
      2>/dev/null || echo 0)
  [ "$n" = 3 ] && break
  sleep 0.1
done
if [ "$n" != 3 ]; then echo "only $n of 3 datasources reported within 15 s; see $here/.fedmesh/logs/" >&2; exit 1; fi
echo "\$ fedmesh job clients aggregator --network examples/federated-housing"
"$fedmesh" job clients aggregator --network "$here"

step "Mean of MedInc and HouseAge over the three datasources"
submit mean --operation '{"kind":"mean","columns":["MedInc","HouseAge"]}'
echo "  beside one site holding california.csv:"
python3 "$here/single_site.py" mean "$out/mean.json" "$data/california.csv"

step "Linear regression of Latitude on MedInc, HouseAge, AveRooms, AveOccup"
submit linear --operation \
  '{"kind":"linear_regression","target":"Latitude","features":["MedInc","HouseAge","AveRooms","AveOccup"]}'
echo "  beside one site holding california.csv (least squares with numpy):"
python3 "$here/single_site.py" linear "$out/linear.json" "$data/california.csv" Latitude

step "Logistic regression of $target, 20 rounds, trained on north and south only"
features='["MedInc","HouseAge","AveRooms","AveBedrms","Population","AveOccup"]'
submit logistic --datasource north-blocks --datasource south-blocks --operation \
  "{\"kind\":\"logistic_regression\",\"target\":\"$target\",\"features\":$features,\"rounds\":20}"
echo "  beside one site holding both training files (the same gradient descent over their rows):"
python3 "$here/single_site.py" logistic "$out/logistic.json" "$target" 20 \
  "$data/california_housing.MedInc1.csv" "$data/california_housing.MedInc2.csv"

step "Evaluate that model on the holdout client's rows, which it never saw"
model="$(cat "$out/logistic.id")"
submit evaluate --operation "{\"kind\":\"evaluate\",\"model\":\"$model\",\"datasource\":\"holdout-blocks\"}"
echo "  beside the same coefficients applied to california_housing.validation.csv here:"
python3 "$here/single_site.py" evaluate "$out/evaluate.json" "$out/logistic.json" "$target" \
  "$data/california_housing.validation.csv"

step "What each client did"
for pair in north:3041 south:3042 holdout:3043; do
  echo "\$ curl -s http://127.0.0.1:${pair#*:}/api/v1/worker   (${pair%%:*})"
  curl -s "http://127.0.0.1:${pair#*:}/api/v1/worker" | python3 -c 'import json, sys
w = json.load(sys.stdin)
for d in w["datasources"]:
    print("    %s: %s rows; %s tasks computed, %s refused; aggregator %s"
          % (d["name"], d["rows"], w["tasks"], w["refused"], w["aggregator"]))' ||
    echo "    (not reachable)"
done

echo
echo "The network keeps running. Try more jobs (docs/jobs.md), for example:"
echo "  FEDMESH_PROJECT_TOKEN=$FEDMESH_PROJECT_TOKEN $1 job submit aggregator --network examples/federated-housing \\"
echo "    --project housing --operation '{\"kind\":\"histogram\",\"column\":\"HouseAge\",\"bins\":[0,10,20,30,40,52]}' --wait"
echo "Stop it with: make federated-housing-down   (or: bash examples/federated-housing/run.sh $1 down)"
