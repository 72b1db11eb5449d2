#!/usr/bin/env bash
# disconnect: clients that go away mid-request (half a declared body, then close; a chunked
# body cut off; a client that stops reading a large echo) do not stop the server: the next
# request still gets 200.
source "$(dirname "$0")/lib.sh"

start_server || finish
python3 - 127.0.0.1 "$port" <<'PY'
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
# 1) Content-Length 1 MB, 1000 bytes sent, then close.
s = socket.create_connection((host, port))
s.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n' + b'a' * 1000)
time.sleep(0.3); s.close()
# 2) chunked body cut in the middle of a chunk.
s = socket.create_connection((host, port))
s.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n' + b'b' * 100)
time.sleep(0.3); s.close()
# 3) a 4 MB echo whose client reads nothing and resets the connection.
s = socket.create_connection((host, port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
s.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n')
try:
    s.settimeout(5)
    s.sendall(b'c' * 4194304)
except OSError:
    pass
s.close()
PY
sleep 0.5
check_http "GET / after a half body" 200 hello "$base/"
check_http "POST /echo after" 200 again --data-binary again "$base/echo"
server_alive "after disconnects"
finish
