#!/usr/bin/env bash
# timeout: /spin never returns; with `--request-timeout 2` the server answers 503 within a few
# seconds (measured: under 10 s), then serves the next request with 200; two spins at once too.
# /sleep blocks in wasi:io/poll on a 60 s timer: also 503 at the deadline. A guest waiting on
# a request body that stops coming is stopped at the deadline too.
source "$(dirname "$0")/lib.sh"

flotilla_only "timeout (--request-timeout)" || { rm -rf "$work"; exit 0; }
start_server --request-timeout 2 || finish
check_http "GET / before" 200 hello "$base/"
# timed_503 PATH WHAT: GET PATH must answer 503 after 1.5 s and within 10 s.
timed_503() {
  local t0 t1 secs
  t0=$(date +%s.%N)
  check_http "GET $1 -> 503" 503 '*' "$base$1"
  t1=$(date +%s.%N)
  secs=$(python3 -c "print(round($t1 - $t0, 2))")
  expect "503 for $2 after 2 s and within 10 s (took $secs s)" \
    python3 -c "import sys; sys.exit(0 if 1.5 <= $secs < 10 else 1)"
}
timed_503 /spin "a spinning guest"
check_http "GET / after the timeout" 200 hello "$base/"
# A guest blocked in a wait (a 60 s timer in wasi:io/poll), not running: woken at its deadline.
timed_503 /sleep "a blocked guest"
check_http "GET / after the blocked guest" 200 hello "$base/"
# A guest blocked on a request body that stops coming (10 of 1,000 bytes sent, the connection
# kept open): /echo has answered 200 and echoes the 10 bytes at once, so the sign of the
# deadline is the connection closing, the body unfinished, after about 2 s rather than never.
# Unfinished even if the guest, its stream broken, ends the body cleanly.
secs=$(python3 - "$port" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
t0 = time.monotonic()
buf = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
except (socket.timeout, ConnectionResetError):
    pass
took = time.monotonic() - t0
done = buf.endswith(b"0\r\n\r\n")
# The 10 bytes that came are echoed at once (streamed, not held back for the rest).
ok = buf.startswith(b"HTTP/1.1 200") and b"\r\n0123456789\r\n" in buf and not done
print(round(took, 2) if ok else "bad:" + repr(buf[:120]))
PY
)
expect "a guest waiting on a stalled request body is stopped after 2 s and within 10 s (took $secs s)" \
  python3 -c "import sys; sys.exit(0 if 1.5 <= float('$secs') < 10 else 1)"
check_http "GET / after the stalled body" 200 hello "$base/"
codes=$(curl -s -m 60 --parallel -o /dev/null -w '%{http_code}\n' "$base/spin?n=[1-2]" 2>/dev/null | tr '\n' ' ')
expect "two spins at once: 503 503 (got $codes)" test "$codes" = "503 503 "
check_http "GET / at the end" 200 hello "$base/"
server_alive "after timeouts"
finish
