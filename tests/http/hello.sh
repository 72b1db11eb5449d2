#!/usr/bin/env bash
# hello: a hello component (hello-c, hello-handler.js, hello-fetch.js) answers GET and POST with
# 200 text/plain "hello", several times on the same server (the fetch-event style must not get
# stuck after its first request), and the server stops with exit 0 on SIGTERM.
source "$(dirname "$0")/lib.sh"

start_server || finish
for i in 1 2 3; do
  check_http "GET / #$i" 200 hello "$base/"
done
check_http "POST /x" 200 hello -d 'some body' "$base/x"
ct=$(curl -s -m 30 -o /dev/null -w '%{content_type}' "$base/")
expect "content-type text/plain (got $ct)" test "$ct" = text/plain
# Two requests on one connection (curl reuses it).
out=$(curl -s -m 30 "$base/" "$base/")
expect "keep-alive: two bodies on one connection (got $out)" test "$out" = hellohello
finish
