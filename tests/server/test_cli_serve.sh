#!/usr/bin/env bash
# tinkerc serve as a user runs it: start on a free port, answer over HTTP, persist a data dir,
# refuse bad flags with exit status 2, stop cleanly on SIGTERM and SIGINT.
set -euo pipefail
bin="${TK_BUILD_DIR:?TK_BUILD_DIR not set}/src/cli/tinkerc"
tmp=$(mktemp -d /tmp/tinkerc-serve-XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start() { # start [extra args...]: sets pid and url
  "$bin" serve --port 0 --data-dir "$tmp/data" "$@" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$tmp/out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || fail "server exited: $(cat "$tmp/err")"
    sleep 0.1
  done
  url=$(sed -n 's/^tinkerc serve: listening on //p' "$tmp/out")
  [[ "$url" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "bad url line: $(cat "$tmp/out")"
}

stop() { # stop SIGNAL: expects exit status 0
  kill -"$1" "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 0 ] || fail "exit status $rc after SIG$1: $(cat "$tmp/err")"
}

"$bin" model init --arch llama3 --layers 1 --hidden 16 --heads 2 --kv-heads 1 --intermediate 24 \
  --vocab 50 --max-position 64 --out "$tmp/model" >/dev/null || fail "model init"
mkdir -p "$tmp/empty"
start --model "tiny/test=$tmp/model" --session-timeout 60 --max-body-bytes 1K
[ "$(curl -s "$url/api/v1/healthz")" = '{"status":"ok"}' ] || fail "healthz"
caps=$(curl -s -H 'X-API-Key: tml-x' "$url/api/v1/get_server_capabilities")
[ "$caps" = '{"supported_models":[{"model_name":"tiny/test","max_context_length":64}]}' ] || fail "capabilities: $caps"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: tml-x' -H 'Content-Type: application/json' \
       --data-binary "{\"pad\":\"$(head -c 2000 /dev/zero | tr '\0' a)\"}" "$url/api/v1/telemetry")
[ "$code" = 413 ] || fail "--max-body-bytes 1K: got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/get_server_capabilities")
[ "$code" = 401 ] || fail "no key: got $code"
[ -d "$tmp/data/runs" ] || fail "data dir not created"
stop TERM

printf 'tml-only\n' >"$tmp/keys"
start --api-key-file "$tmp/keys"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: tml-other' "$url/api/v1/get_server_capabilities")
[ "$code" = 401 ] || fail "--api-key-file: other key got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: tml-only' "$url/api/v1/get_server_capabilities")
[ "$code" = 200 ] || fail "--api-key-file: listed key got $code"
stop INT

for bad in "--port 99999" "--port" "--bogus 1" "--model nodir" "--model x=$tmp/missing" \
           "--max-body-bytes 0" "--session-timeout -1" "extra"; do
  rc=0
  # shellcheck disable=SC2086
  "$bin" serve $bad >/dev/null 2>"$tmp/err" || rc=$?
  [ "$rc" = 2 ] || fail "tinkerc serve $bad: exit $rc, expected 2"
  grep -q "tinkerc serve:" "$tmp/err" || fail "tinkerc serve $bad: no message"
done
rc=0
"$bin" serve --port 0 --api-key-file "$tmp/missing" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q -- "--api-key-file" "$tmp/err" || fail "missing key file: exit $rc $(cat "$tmp/err")"
rc=0   # a --model directory that is not a model: refused at start, naming it
"$bin" serve --port 0 --data-dir "$tmp/data" --model "x/y=$tmp/empty" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q -- "--model x/y=" "$tmp/err" || fail "bad model dir: exit $rc $(cat "$tmp/err")"
echo "tinkerc serve: all checks passed"
