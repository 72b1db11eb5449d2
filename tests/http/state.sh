#!/usr/bin/env bash
# state: requests share no guest state. /state answers "count=N heap=fresh|reused" from a
# global counter and a heap object the component keeps between calls (c/app.c, js/app.js), so
# only a fresh instance per request answers "count=1 heap=fresh" every time: 60 requests on one
# keep-alive connection, then 100 at once, and again after a trapping request.
source "$(dirname "$0")/lib.sh"

start_server || finish
# bodies NAME CURL_ARGS...: the body of every transfer (one file each: parallel transfers would
# interleave on stdout), one per line, counted: "N count=1 heap=fresh;" when all are fresh.
bodies() {
  local name=$1
  shift
  mkdir -p "$work/$name"
  curl -s -m 120 "$@" -o "$work/$name/#1" 2>/dev/null
  for f in "$work/$name"/*; do
    cat "$f"
    echo
  done | sort | uniq -c | sed 's/^ *//' | tr '\n' ';'
}
got=$(bodies serial "$base/state?n=[1-60]")
expect "60 requests on one connection all see a fresh instance (got $got)" \
  test "$got" = "60 count=1 heap=fresh;"
got=$(bodies parallel --parallel --parallel-max 50 "$base/state?n=[1-100]")
expect "100 concurrent requests all see a fresh instance (got $got)" \
  test "$got" = "100 count=1 heap=fresh;"
if flotilla_only "state after a trap"; then
  check_http "GET /trap" 500 '*' "$base/trap"
  check_http "GET /state after a trap" 200 "count=1 heap=fresh" "$base/state"
fi
server_alive "after the state checks"
finish
