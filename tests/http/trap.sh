#!/usr/bin/env bash
# trap: a guest trap (/trap: __builtin_trap in C; an exception thrown out of the export in JS,
# which componentize-js turns into `unreachable`) gives 500, and the server keeps serving: the
# next requests get 200, also several traps in a row and traps alongside good requests.
source "$(dirname "$0")/lib.sh"

flotilla_only "trap (jco serve exits on a guest trap)" || { rm -rf "$work"; exit 0; }
start_server || finish
check_http "GET /trap" 500 '*' "$base/trap"
check_http "GET / after the trap" 200 hello "$base/"
for i in 1 2 3; do check_http "GET /trap #$i" 500 '*' "$base/trap"; done
check_http "POST /echo after traps" 200 fine --data-binary fine "$base/echo"
codes=$(curl -s -m 60 --parallel --parallel-max 20 -w '%{http_code}\n' \
  -o /dev/null "$base/trap?n=[1-10]" -o /dev/null "$base/?n=[1-10]" 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ';')
expect "10 traps and 10 GETs at once: 10x500, 10x200 (got $codes)" \
  test "$codes" = " 10 200; 10 500;"
server_alive "after traps"
finish
