# Helpers shared by the HTTP test scripts here (sourced, not run). Each script is called as
#   SCRIPT FLOTILLA WASM_DIR COMPONENT
# and gets $flotilla, $wasm (the built components), $component ($wasm/COMPONENT), $work (a fresh
# temporary directory, removed on exit), start_server/stop_server, check helpers and `finish`.
#
# HTTP_TEST_SERVER=jco runs the same checks against `jco serve` (node) instead of
# `flotilla serve`, to debug the scripts themselves; the flotilla-only cases (flags jco serve
# lacks, a trap, which kills jco serve) then report "skip".
set -uo pipefail
flotilla=$1
wasm=$2
component=$wasm/$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
fail=0
server_pid=
server_mode=${HTTP_TEST_SERVER:-flotilla}

# Shared mode (suite.sh): HTTP_TEST_BASE names a server that is already running (its pid in
# HTTP_TEST_PID); start_server and stop_server then leave it alone.
shared_base=${HTTP_TEST_BASE:-}

cleanup() {
  if [[ -n $server_pid && -z $shared_base ]]; then
    if [[ $server_mode == jco ]]; then kill -KILL -- "-$server_pid" 2>/dev/null; else kill -KILL "$server_pid" 2>/dev/null; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [[ $server_mode == flotilla ]]; then
  # Skip (77) only when flotilla has no serve command; never pass silently.
  help=$("$flotilla" serve --help 2>&1)
  if [[ $? != 0 || $help != *Usage:*serve* ]]; then
    echo "SKIP: \`$flotilla serve --help\` fails or shows no serve usage"
    exit 77
  fi
fi
if [[ ! -f $component ]]; then
  echo "FAIL: $component not built"
  exit 1
fi

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server [FLAGS...]: serves $component on a free port with FLAGS, waits (up to 120 s, or
# $HTTP_TEST_START_TIMEOUT: the first start compiles the component) for `http://127.0.0.1:PORT/` on its stdout; sets $port,
# $base (http://127.0.0.1:PORT) and $server_pid. Returns 1 if the server died or never listened.
start_server() {
  if [[ -n $shared_base ]]; then
    base=$shared_base
    port=${base##*:}
    server_pid=${HTTP_TEST_PID:-}
    return 0
  fi
  port=$(free_port)
  base=http://127.0.0.1:$port
  : >"$work/server.out"
  if [[ $server_mode == jco ]]; then
    mkdir -p "$work/tmp"
    local iso=()
    [[ $component == *hello-fetch* ]] && iso=(--isolate-requests instance)
    TMPDIR=$work/tmp setsid "$root/node_modules/.bin/jco" serve --host 127.0.0.1 --port "$port" \
      "${iso[@]}" "$component" >"$work/server.out" 2>"$work/server.err" </dev/null &
  else
    # The JS components run on the baseline tier: with the default (auto) every start would
    # also launch minutes of optimized-tier compilation of the 12.8 MB component.
    local tier=()
    [[ $component != *-c.wasm ]] && tier=(--tier baseline)
    "$flotilla" serve --addr "127.0.0.1:$port" "${tier[@]}" "$@" "$component" >"$work/server.out" \
      2>"$work/server.err" </dev/null &
  fi
  server_pid=$!
  local i limit=${HTTP_TEST_START_TIMEOUT:-120}
  for ((i = 0; i < limit * 2; i++)); do
    if [[ $server_mode == jco ]]; then
      curl -s -m 2 -o /dev/null "$base/" && return 0
    else
      grep -q "http://127.0.0.1:$port/" "$work/server.out" && return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "FAIL server exited before listening; stderr:"
      sed 's/^/  /' "$work/server.err"
      server_pid=
      fail=1
      return 1
    fi
    sleep 0.5
  done
  echo "FAIL server did not print http://127.0.0.1:$port/ within $limit s; stderr:"
  sed 's/^/  /' "$work/server.err"
  fail=1
  return 1
}

# stop_server: SIGTERM, then the server must exit 0 within 30 s (jco serve: just stopped).
stop_server() {
  [[ -z $server_pid ]] && return
  if [[ -n $shared_base ]]; then
    server_pid=
    return
  fi
  if [[ $server_mode == jco ]]; then
    kill -TERM -- "-$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
    return
  fi
  kill -TERM "$server_pid"
  local i
  for ((i = 0; i < 60; i++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "FAIL server still running 30 s after SIGTERM"
    kill -KILL "$server_pid"
    wait "$server_pid"
    fail=1
  else
    wait "$server_pid"
    local rc=$?
    expect "server exits 0 on SIGTERM (got $rc)" test "$rc" = 0
  fi
  server_pid=
}

# server_alive NAME: the server process still runs.
server_alive() {
  expect "$1: server still running" kill -0 "$server_pid"
}

# flotilla_only NAME: true under flotilla; under jco serve prints a skip line and is false.
flotilla_only() {
  if [[ $server_mode == jco ]]; then
    echo "skip $1 (flotilla only)"
    return 1
  fi
  return 0
}

# expect NAME CONDITION...
expect() {
  local name=$1
  shift
  if "$@"; then
    echo "ok   $name"
  else
    echo "FAIL $name: $*"
    fail=1
  fi
}

# check_http NAME WANT_STATUS WANT_BODY CURL_ARGS...: one curl request (30 s limit); status and
# body must match exactly (WANT_BODY '*' accepts any body).
check_http() {
  local name=$1 want_status=$2 want_body=$3
  shift 3
  local status
  status=$(curl -s -m 30 -o "$work/.body" -w '%{http_code}' "$@")
  local body
  body=$(cat "$work/.body" 2>/dev/null; echo x)
  body=${body%x}
  if [[ $status != "$want_status" || ( $want_body != '*' && $body != "$want_body" ) ]]; then
    echo "FAIL $name: status $status (want $want_status), body $(printf %q "${body:0:300}")" \
         "(want $(printf %q "$want_body"))"
    fail=1
  else
    echo "ok   $name"
  fi
}

# raw BYTES: sends BYTES (Python escapes: \r\n) on a fresh connection, prints
# the response's status line (or "no response").
raw() {
  python3 "$here/raw.py" 127.0.0.1 "$port" "$1"
}

finish() {
  stop_server
  if ((fail)); then
    echo "FAILED"
  fi
  exit $fail
}
