#!/usr/bin/env bash
# Installs the Debian 12 packages fedmesh needs to build, test and run its demo.
# Idempotent and quiet: installs only what is missing, runs apt-get update at most once.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git curl
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libssl-dev openssl
  nlohmann-json3-dev libtomlplusplus-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev sqlite3
  libpq-dev libpqxx-dev postgresql
  liblua5.4-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  wrk procps clang-format
  chromium chromium-driver fonts-dejavu-core
  nats-server libnats-dev
  prometheus
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or with sudo) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
