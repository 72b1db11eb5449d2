#!/usr/bin/env bash
# outgoing: app.js's /fetch?url=U makes an outgoing request (wasi:http/outgoing-handler through
# fetch()). Upstream: python3 -m http.server on another free port serving a file.
#   --allow-http 127.0.0.1:UPSTREAM   -> 200 and the upstream body
#   no --allow-http                   -> 502 (the guest sees an error)
#   allowed host but another port     -> 502
source "$(dirname "$0")/lib.sh"

mkdir "$work/up"
printf 'upstream says hi' >"$work/up/file.txt"
up_port=$(free_port)
python3 -m http.server "$up_port" --bind 127.0.0.1 --directory "$work/up" >/dev/null 2>&1 &
up_pid=$!
trap 'kill $up_pid 2>/dev/null; cleanup' EXIT
for ((i = 0; i < 50; i++)); do
  curl -s -o /dev/null "http://127.0.0.1:$up_port/file.txt" && break
  sleep 0.2
done
url="http://127.0.0.1:$up_port/file.txt"
if [[ $server_mode == jco ]]; then
  start_server || finish
  check_http "fetch (jco serve allows everything)" 200 'upstream says hi' "$base/fetch?url=$url"
  check_http "fetch of a closed port -> 502" 502 '*' "$base/fetch?url=http://127.0.0.1:1/"
  finish
fi
start_server --allow-http "127.0.0.1:$up_port" || finish
check_http "allowed: 200 + upstream body" 200 'upstream says hi' "$base/fetch?url=$url"
check_http "allowed twice" 200 'upstream says hi' "$base/fetch?url=$url"
check_http "same host, other port -> 502" 502 '*' "$base/fetch?url=http://127.0.0.1:1/"
stop_server
start_server || finish
check_http "not allowed -> 502" 502 '*' "$base/fetch?url=$url"
check_http "GET / after" 200 hello "$base/"
finish
