#!/usr/bin/env bash
# stream: outgoing-handler bodies stream both ways, and trailers pass both ways (app-c.wasm's
# /proxy, /upload and /trailers against upstream.py; the checks are in stream.py).
source "$(dirname "$0")/lib.sh"
flotilla_only stream || finish

up_port=$(free_port)
closed_port=$(free_port)
python3 "$here/upstream.py" "$up_port" >"$work/upstream.log" 2>&1 &
up_pid=$!
trap 'kill $up_pid 2>/dev/null; cleanup' EXIT
for ((i = 0; i < 50; i++)); do
  curl -s -o /dev/null "http://127.0.0.1:$up_port/last" && break
  sleep 0.2
done
start_server --allow-http 127.0.0.1 || finish
python3 "$here/stream.py" "$port" "$up_port" "$closed_port" || fail=1
server_alive "after the stream checks"
finish
