#!/usr/bin/env bash
# make demo: bring the hello-federate network up, list the colours the painter can
# reach, blend two, and leave the network running.
#   demo.sh FEDMESH_BINARY
set -euo pipefail
fedmesh="$1"
net="$(cd "$(dirname "$0")" && pwd)"
rel="examples/hello-federate"

echo "== fedmesh up $rel"
"$fedmesh" up "$net"

# Re-running the demo on a running network: start from full inventories.
for c in red blue yellow; do "$fedmesh" event "$c" system.reset --network "$net" >/dev/null; done

echo
echo "== fedmesh call painter palette/list_all_colors"
"$fedmesh" call painter palette/list_all_colors --network "$net"

echo
echo "== fedmesh call painter palette/color_blend '{\"color1\":\"red\",\"color2\":\"yellow\"}'"
blend=$("$fedmesh" call painter palette/color_blend '{"color1":"red","color2":"yellow"}' --network "$net")
echo "$blend"

color=$(sed -nE 's/^  "color": "([a-z]+)".*/\1/p' <<<"$blend")
hex=$(sed -nE 's/^  "rgb": "#([0-9A-Fa-f]{6})".*/\1/p' <<<"$blend")
echo
echo "The network is still running:"
echo "  dashboards   http://127.0.0.1:3026/ (painter), :3023 red, :3024 blue, :3025 yellow"
echo "  try          $fedmesh call painter palette/color_blend '{\"color1\":\"blue\",\"color2\":\"yellow\"}' --network $rel"
echo "  stop it with $fedmesh down $rel"
echo
printf '  red + yellow = %s  \033[48;2;%d;%d;%dm            \033[0m  #%s\n\n' "$color" \
  $((16#${hex:0:2})) $((16#${hex:2:2})) $((16#${hex:4:2})) "$hex"
