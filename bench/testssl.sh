#!/usr/bin/env bash
# Transport review: Debian's testssl.sh against a node's federation listener (mutual TLS)
# and its operator listener bound beyond loopback (TLS and a token), plus curl checks of
# what each refuses. Prints the protocols and ciphers offered, the server defaults, and
# PASS/FAIL per claim; exits 1 when a claim fails.
#   bench/testssl.sh BUILD_DIR [REPORT_DIR]
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
report="${2:-}"
fedmesh="$build/src/cli/fedmesh"
command -v testssl >/dev/null || { echo "testssl is not installed (make deps)"; exit 1; }
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

"$fedmesh" ca init "$work/ca" >/dev/null
for n in node client; do "$fedmesh" ca issue --ca "$work/ca" --name "$n" --out "$work/certs" >/dev/null; done
"$fedmesh" ca init "$work/other-ca" >/dev/null
"$fedmesh" ca issue --ca "$work/other-ca" --name stranger --out "$work/other" >/dev/null
hp=$(free_port); fp=$(free_port)
cat >"$work/node.toml" <<TOML
name = "node"
workdir = "$work/var"
[log]
level = "warn"
[http]
listen = "0.0.0.0:$hp"
tls_cert = "$work/certs/node.crt"
tls_key = "$work/certs/node.key"
token = "review-token"
[federation]
listen = "127.0.0.1:$fp"
cert = "$work/certs/node.crt"
key = "$work/certs/node.key"
trust = ["$work/ca/ca.crt"]
TOML
"$fedmesh" node --config "$work/node.toml" >"$work/node.log" 2>&1 &
pid=$!
wait_port "$hp" && wait_port "$fp" || { tail -5 "$work/node.log"; exit 1; }

failed=0
claim() {  # DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "PASS  $what"; else echo "FAIL  $what"; failed=1; fi
}
scan() {  # NAME PORT
  testssl --quiet --color 0 --warnings off --openssl-timeout 5 -p -E "127.0.0.1:$2" >"$work/$1.txt" 2>&1 || true
  if [ -n "$report" ]; then cp "$work/$1.txt" "$report/testssl-$1.txt"; fi
  echo "== $1 listener (127.0.0.1:$2): protocols and ciphers"
  grep -E '^ (SSLv2|SSLv3|TLS 1(\.[0-3])?|NPN|ALPN)' "$work/$1.txt" | sed 's/^ /  /'
  grep -E '^ *x13' "$work/$1.txt" | sed -E 's/^ +/  /; s/ +$//' || true
}
offers_only_tls13() {
  grep -qE '^ TLS 1\.3 +offered' "$work/$1.txt" &&
    ! grep -qE '^ (SSLv2|SSLv3|TLS 1|TLS 1\.1|TLS 1\.2) +offered' "$work/$1.txt"
}
scan federation "$fp"
scan operator "$hp"

echo "== claims"
claim "federation offers TLS 1.3 and nothing older" offers_only_tls13 federation
claim "operator TLS offers TLS 1.3 and nothing older" offers_only_tls13 operator
# testssl 3.0 cannot finish its server-defaults section against a listener that demands
# a client certificate over TLS 1.3; openssl shows the demand (a CertificateRequest).
claim "federation demands a client certificate" bash -c "openssl s_client -connect 127.0.0.1:$fp -tls1_3 \
  </dev/null 2>&1 | grep -q '^Requested Signature Algorithms'"
C="$work/certs/client.crt"; K="$work/certs/client.key"; CA="$work/ca/ca.crt"
claim "federation answers a trusted client certificate" \
  curl -sf --cacert "$CA" --cert "$C" --key "$K" --resolve "node:$fp:127.0.0.1" "https://node:$fp/fed/v1/ping"
claim "federation refuses a connection without a certificate" \
  bash -c "! curl -s --max-time 5 --cacert '$CA' --resolve 'node:$fp:127.0.0.1' 'https://node:$fp/fed/v1/ping' | grep -q ."
claim "federation refuses a certificate from another CA" \
  bash -c "! curl -s --max-time 5 --cacert '$CA' --cert '$work/other/stranger.crt' --key '$work/other/stranger.key' \
    --resolve 'node:$fp:127.0.0.1' 'https://node:$fp/fed/v1/ping' | grep -q ."
claim "federation refuses TLS 1.2" \
  bash -c "! curl -s --max-time 5 --tls-max 1.2 --cacert '$CA' --cert '$C' --key '$K' \
    --resolve 'node:$fp:127.0.0.1' 'https://node:$fp/fed/v1/ping' | grep -q ."
claim "operator beyond loopback answers 401 without the token" \
  bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --cacert '$CA' --resolve 'node:$hp:127.0.0.1' \
    'https://node:$hp/api/v1/status')\" = 401 ]"
claim "operator beyond loopback answers 200 with the token" \
  curl -sf --cacert "$CA" -H "Authorization: Bearer review-token" --resolve "node:$hp:127.0.0.1" \
    "https://node:$hp/api/v1/status"
claim "operator beyond loopback does not speak plain HTTP" \
  bash -c "! curl -s --max-time 5 'http://127.0.0.1:$hp/healthz' | grep -q ok"
exit $failed
