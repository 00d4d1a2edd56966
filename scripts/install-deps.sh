#!/usr/bin/env bash
# Installs the Debian 12 packages fedmesh needs to build and run (build) or also to test
# and benchmark it (all).
# Idempotent and quiet: installs only what is missing, runs apt-get update at most once.
set -euo pipefail

# `build`: what building and running the binary needs (make demo).
# `all` (default): also the tests' servers and browsers, and the benchmarks' tools.
build_packages=(
  build-essential cmake ninja-build ccache pkg-config git curl
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libssl-dev openssl
  nlohmann-json3-dev libtomlplusplus-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev
  libpq-dev libpqxx-dev
  liblua5.4-dev
)
test_packages=(
  sqlite3 postgresql
  libgtest-dev libgmock-dev libbenchmark-dev
  wrk procps clang-format clang-tidy
  clang-14 libclang-rt-14-dev  # make fuzz: libFuzzer and the sanitizer runtimes
  chromium chromium-driver fonts-dejavu-core
  nats-server libnats-dev
  prometheus
  gnuplot-nox  # bench/soak.py plots (never python3-matplotlib: it pulls Boost 1.74)
  testssl.sh          # bench/testssl.sh: the federation listener's TLS offer
)
case "${1:-all}" in
  build) packages=("${build_packages[@]}") ;;
  all) packages=("${build_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: install-deps.sh [build|all]" >&2; exit 2 ;;
esac

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
