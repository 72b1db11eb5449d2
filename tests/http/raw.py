#!/usr/bin/env python3
"""raw.py HOST PORT BYTES: sends BYTES (Python string escapes: \\r\\n, \\x00) on one TCP
connection (keeping it open for writing: some servers close on a half-close), prints the response's status code ("none" when the server closed
without answering, "timeout" after 30 s)."""
import socket, sys

host, port, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = data.encode('latin-1').decode('unicode_escape').encode('latin-1')
s = socket.create_connection((host, port), timeout=30)
try:
    s.sendall(data)
    buf = b''
    while b'\r\n' not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
except socket.timeout:
    print('timeout')
    sys.exit(0)
except ConnectionResetError:
    pass
line = buf.split(b'\r\n', 1)[0].decode('latin-1')
parts = line.split(' ')
print(parts[1] if len(parts) > 1 and line.startswith('HTTP/1.') else 'none')
