#!/usr/bin/env python3
"""upstream.py PORT [CERT KEY]: the upstream server of stream.sh, raw HTTP/1.1 on
127.0.0.1:PORT (with CERT and KEY: HTTPS on [::]:PORT, IPv4 too; one thread per connection, one
request per connection):
  GET  /slow        200 chunked: "first\\n", then 2 s later "rest\\n" and the trailer
                    `x-upstream-trailer: yes`
  GET  /cut         200 with content-length 100, 10 bytes, then the connection closes
  GET  /big?n=N     200 with N bytes ('b'), written as fast as the reader takes them
  GET  /sent        how many bytes of the last /big have been handed to the kernel so far
  POST /upload      reads the body (chunked or content-length) as it comes and answers
                    `bytes=N gap=S trailers=NAME: VALUE;...` (S: seconds between the first and
                    the last body byte); a body cut short answers nothing
  GET  /last        what the last /upload saw ("complete ..." or "incomplete bytes=N")
"""
import socket, ssl, sys, threading, time

port = int(sys.argv[1])
state = {'sent': 0, 'last': 'none'}


def reply(conn, status, body, extra=b''):
    conn.sendall(b'HTTP/1.1 %d X\r\ncontent-length: %d\r\nconnection: close\r\n%s\r\n' %
                 (status, len(body), extra) + body)


class Reader:
    def __init__(self, conn, buf):
        self.conn, self.buf = conn, buf

    def more(self):
        data = self.conn.recv(65536)
        if not data:
            raise EOFError()
        self.buf += data

    def line(self):
        while b'\r\n' not in self.buf:
            self.more()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def some(self, limit):
        if not self.buf:
            self.more()
        data, self.buf = self.buf[:limit], self.buf[limit:]
        return data


def upload(conn, r, headers):
    got, first, trailers = 0, None, []
    try:
        if headers.get('transfer-encoding', '').lower() == 'chunked':
            while True:
                size = int(r.line().split(b';')[0], 16)
                if size == 0:
                    while True:
                        t = r.line()
                        if not t:
                            break
                        trailers.append(t.decode('latin-1'))
                    break
                left = size
                while left:
                    d = r.some(left)
                    if first is None:
                        first = time.monotonic()
                    got += len(d)
                    left -= len(d)
                r.line()
        else:
            left = int(headers.get('content-length', '0'))
            while left:
                d = r.some(left)
                if first is None:
                    first = time.monotonic()
                got += len(d)
                left -= len(d)
    except (EOFError, ConnectionError):
        state['last'] = 'incomplete bytes=%d' % got
        return
    gap = time.monotonic() - first if first is not None else 0.0
    text = 'bytes=%d gap=%.1f trailers=%s' % (got, gap, ';'.join(trailers))
    state['last'] = 'complete ' + text
    reply(conn, 200, text.encode())


def serve(conn):
    try:
        r = Reader(conn, b'')
        method, target, _ = r.line().decode('latin-1').split(' ')
        headers = {}
        while True:
            line = r.line()
            if not line:
                break
            k, v = line.decode('latin-1').split(':', 1)
            headers[k.strip().lower()] = v.strip()
        path, _, query = target.partition('?')
        if path == '/slow':
            conn.sendall(b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n'
                         b'trailer: x-upstream-trailer\r\n\r\n6\r\nfirst\n\r\n')
            time.sleep(2)
            conn.sendall(b'5\r\nrest\n\r\n0\r\nx-upstream-trailer: yes\r\n\r\n')
        elif path == '/cut':
            conn.sendall(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789')
        elif path == '/big':
            n = int(query.split('=')[1])
            state['sent'] = 0
            conn.sendall(b'HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n' % n)
            piece = b'b' * 65536
            while state['sent'] < n:
                k = min(len(piece), n - state['sent'])
                conn.sendall(piece[:k])
                state['sent'] += k
        elif path == '/sent':
            reply(conn, 200, str(state['sent']).encode())
        elif path == '/upload':
            upload(conn, r, headers)
        elif path == '/last':
            reply(conn, 200, state['last'].encode())
        else:
            reply(conn, 404, b'not found')
    except (EOFError, ConnectionError, ValueError):
        pass
    finally:
        conn.close()


tls = None
if len(sys.argv) > 3:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[2], sys.argv[3])
    srv = socket.socket(socket.AF_INET6)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('::', port))
else:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('127.0.0.1', port))
srv.listen(64)


def start(c):
    if tls:
        try:
            c.settimeout(30)
            c = tls.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError):
            c.close()
            return
    serve(c)


while True:
    c, _ = srv.accept()
    threading.Thread(target=start, args=(c,), daemon=True).start()
