#!/usr/bin/env bash
# basic: the app component's routes with curl: GET /, POST /echo (small, empty, binary),
# 404, headers echoed as x-echo-<name>, status codes passed through, HEAD.
source "$(dirname "$0")/lib.sh"

start_server || finish
check_http "GET /" 200 hello "$base/"
check_http "GET /?q=1" 200 hello "$base/?q=1"
check_http "GET /nope" 404 "not found" "$base/nope"
check_http "POST /echo small" 200 "hello echo" --data-binary 'hello echo' "$base/echo"
check_http "POST /echo empty" 200 "" --data-binary '' "$base/echo"
printf 'a\0b\r\n\xff' >"$work/bin"
curl -s -m 30 --data-binary @"$work/bin" -o "$work/bin.out" "$base/echo"
expect "POST /echo binary bytes" cmp -s "$work/bin" "$work/bin.out"
check_http "POST /echo chunked upload" 200 "piece" -H 'Transfer-Encoding: chunked' \
  --data-binary piece "$base/echo"

curl -s -m 30 -D "$work/h" -o "$work/b" -H 'X-One: 1' -H 'X-Two: two words' \
  -H 'X-Empty;' "$base/headers"
tr -d '\r' <"$work/h" | tr 'A-Z' 'a-z' >"$work/hl"
expect "headers: status 200" grep -q '^http/1.1 200' "$work/hl"
expect "headers: x-echo-x-one" grep -qx 'x-echo-x-one: 1' "$work/hl"
expect "headers: x-echo-x-two" grep -qx 'x-echo-x-two: two words' "$work/hl"
expect "headers: x-echo-user-agent" grep -qx 'x-echo-user-agent: curl/.*' "$work/hl"
expect "headers: x-echo-accept" grep -qx 'x-echo-accept: \*/\*' "$work/hl"
expect "headers: body" test "$(cat "$work/b")" = headers

for s in 200 201 204 301 400 404 418 500 503 599; do
  check_http "GET /status/$s" "$s" "" "$base/status/$s"
done
code=$(curl -s -m 30 -I -o /dev/null -w '%{http_code}' "$base/")
expect "HEAD / -> 200 (got $code)" test "$code" = 200
check_http "GET / after all" 200 hello "$base/"
finish
