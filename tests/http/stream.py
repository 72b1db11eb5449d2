#!/usr/bin/env python3
"""stream.py PORT UPSTREAM_PORT CLOSED_PORT TLS_PORT: the checks of stream.sh against `flotilla serve`
of app-c.wasm on 127.0.0.1:PORT (flags: --allow-http 127.0.0.1 --allow-http localhost), whose
/proxy and /upload routes talk to upstream.py on UPSTREAM_PORT (HTTP) and on TLS_PORT (HTTPS,
https://localhost, a certificate the server trusts through SSL_CERT_FILE). Raw sockets, so that trailers and the time of the
first body byte can be seen. Prints ok/FAIL lines; exit status 1 if a check failed."""
import socket, sys, time

port, up, closed, tls = (int(a) for a in sys.argv[1:5])
failed = False


def check(name, cond, detail=''):
    global failed
    print(('ok   ' if cond else 'FAIL ') + name + ('' if cond else ': ' + detail), flush=True)
    if not cond:
        failed = True


class Response:
    status = None
    headers = None
    body = b''
    trailers = None
    complete = False
    first_byte = None  # seconds from the request to the first body byte
    elapsed = None


def exchange(data, target_port=None, read_delay=0.0, timeout=30):
    """Sends `data`, reads one response (content-length, chunked or to the close)."""
    r = Response()
    s = socket.create_connection(('127.0.0.1', target_port or port), timeout=timeout)
    t0 = time.monotonic()
    s.sendall(data)
    buf = b''

    def more():
        nonlocal buf
        d = s.recv(65536)
        if not d:
            raise EOFError()
        buf += d

    def line():
        nonlocal buf
        while b'\r\n' not in buf:
            more()
        l, buf = buf.split(b'\r\n', 1)
        return l

    try:
        r.status = int(line().split(b' ')[1])
        r.headers = {}
        while True:
            l = line()
            if not l:
                break
            k, v = l.decode('latin-1').split(':', 1)
            r.headers[k.strip().lower()] = v.strip()
        if read_delay:
            time.sleep(read_delay)
        if r.headers.get('transfer-encoding') == 'chunked':
            while True:
                size = int(line().split(b';')[0], 16)
                if size == 0:
                    r.trailers = {}
                    while True:
                        l = line()
                        if not l:
                            break
                        k, v = l.decode('latin-1').split(':', 1)
                        r.trailers[k.strip().lower()] = v.strip()
                    r.complete = True
                    break
                while len(buf) < size + 2:
                    more()
                if r.first_byte is None:
                    r.first_byte = time.monotonic() - t0
                r.body += buf[:size]
                buf = buf[size + 2:]
        elif 'content-length' in r.headers:
            n = int(r.headers['content-length'])
            while len(buf) < n:
                if buf and r.first_byte is None:
                    r.first_byte = time.monotonic() - t0
                more()
            r.body, r.complete = buf[:n], True
        else:
            try:
                while True:
                    more()
            except EOFError:
                pass
            r.body, r.complete = buf, True
    except (EOFError, ConnectionError, socket.timeout, ValueError, IndexError):
        r.body = r.body or buf
    r.elapsed = time.monotonic() - t0
    s.close()
    return r


def get(target, **kw):
    return exchange(b'GET %s HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n' % target.encode(), **kw)


def alive(name):
    r = get('/')
    check(name + ': then GET / -> 200 hello', r.status == 200 and r.body == b'hello',
          'status %s body %r' % (r.status, r.body[:100]))


# 1. An upstream body that comes slowly reaches the client as it comes, then its trailers.
r = get('/proxy?port=%d&path=/slow' % up)
check('slow upstream: 200, body first+rest', r.status == 200 and r.body == b'first\nrest\n',
      'status %s body %r' % (r.status, r.body))
check('slow upstream: first chunk before the upstream finished (< 1.0 s; it waits 2 s)',
      r.first_byte is not None and r.first_byte < 1.0, 'first byte after %s s' % r.first_byte)
check('slow upstream: whole body after the upstream finished (>= 1.8 s)', r.elapsed >= 1.8,
      '%.2f s' % r.elapsed)
check('slow upstream: its trailer in the response trailers',
      r.complete and r.trailers == {'x-upstream-trailer': 'yes'},
      'complete %s trailers %r' % (r.complete, r.trailers))

# 2. A request body goes upstream as the guest writes it (chunked, with the guest's trailers).
r = get('/upload?port=%d&size=300000' % up)
text = r.body.decode('latin-1')
check('upload: 200 and the upstream got 300000 bytes and the trailer',
      r.status == 200 and text.startswith('bytes=300000 ') and
      text.endswith('trailers=x-upload-trailer: done'), 'status %s body %r' % (r.status, text))
gap = float(text.split('gap=')[1].split(' ')[0]) if 'gap=' in text else 0.0
check('upload: the first bytes reached the upstream >= 1.0 s before the last (guest sleeps 1.5 s)',
      gap >= 1.0, 'gap %.1f s' % gap)

# 3. A guest that drops the request body half-written: the upstream sees an incomplete body,
# the guest an error (502 from app.c), the host carries on.
r = get('/upload?port=%d&size=300000&drop=1' % up)
check('dropped body: 502', r.status == 502, 'status %s body %r' % (r.status, r.body))
last = get('/last', target_port=up).body
check('dropped body: the upstream saw it incomplete', last.startswith(b'incomplete bytes='),
      repr(last))
alive('dropped body')

# 4. Request trailers reach the guest, which sends them back as response trailers.
req = (b'POST /trailers HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n'
       b'trailer: x-req-trailer\r\nconnection: close\r\n\r\n'
       b'5\r\nhello\r\n6\r\n world\r\n0\r\nx-req-trailer: abc\r\nx-second: 2\r\n\r\n')
r = exchange(req)
check('trailers: 200, body echoed', r.status == 200 and r.body == b'hello world',
      'status %s body %r' % (r.status, r.body))
check('trailers: chunked response with the request trailers',
      r.complete and r.trailers == {'x-req-trailer': 'abc', 'x-second': '2'},
      'headers %r trailers %r' % (r.headers, r.trailers))
# Without trailers: no trailer part, a plain body.
r = exchange(b'POST /trailers HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n'
             b'connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
check('no trailers: 200 hello, none sent', r.status == 200 and r.body == b'hello' and
      not r.trailers, 'status %s body %r trailers %r' % (r.status, r.body, r.trailers))
# Malformed trailers: the body fails (the guest sees an error), the connection closes, the host
# carries on.
for name, bad in [('trailer line without colon', b'0\r\nbad trailer\r\n\r\n'),
                  ('space in a trailer name', b'0\r\nx bad: 1\r\n\r\n'),
                  ('NUL in a trailer value', b'0\r\nx-t: a\x00b\r\n\r\n')]:
    r = exchange(b'POST /trailers HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n'
                 b'connection: close\r\n\r\n5\r\nhello\r\n' + bad, timeout=10)
    check('malformed trailers (%s): no trailers passed on' % name,
          r.status in (200, 400) and not r.trailers,
          'status %s trailers %r complete %s' % (r.status, r.trailers, r.complete))
alive('malformed trailers')

# 5. An upstream that closes mid-body: the client sees a broken body, the host carries on.
r = get('/proxy?port=%d&path=/cut' % up)
check('upstream cut mid-body: 200 head, body incomplete', r.status == 200 and not r.complete,
      'status %s complete %s body %r' % (r.status, r.complete, r.body))
alive('upstream cut')

# 6. Backpressure: a client that reads nothing for 3 s holds the upstream back (48 MiB body;
# the buffers in between are far smaller), then gets all of it.
n = 48 << 20
s = socket.create_connection(('127.0.0.1', port), timeout=60)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b'GET /proxy?port=%d&path=/big?n=%d HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'
          % (up, n))
time.sleep(3)
sent = int(get('/sent', target_port=up).body or b'0')
check('backpressure: upstream held back while the client reads nothing (< 32 MiB of 48 sent)',
      sent < (32 << 20), 'upstream sent %d bytes' % sent)
total = 0
head = b''
while b'\r\n\r\n' not in head:
    head += s.recv(65536)
hdr, rest = head.split(b'\r\n\r\n', 1)
raw = rest
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    raw += d
s.close()
# Dechunk.
body_len, p, ok = 0, 0, False
while True:
    e = raw.find(b'\r\n', p)
    if e < 0:
        break
    size = int(raw[p:e].split(b';')[0], 16)
    if size == 0:
        ok = True
        break
    body_len += size
    p = e + 2 + size + 2
check('backpressure: then all 48 MiB arrive', ok and body_len == n,
      'got %d bytes, complete %s; head %r, then %r' % (body_len, ok, hdr, raw[:200]))

# 7. The same over HTTPS (OpenSSL, non-blocking, reads and writes interleaved).
r = get('/proxy?scheme=https&host=localhost&port=%d&path=/slow' % tls)
check('https slow upstream: 200, body first+rest, trailer',
      r.status == 200 and r.body == b'first\nrest\n' and
      r.trailers == {'x-upstream-trailer': 'yes'},
      'status %s body %r trailers %r' % (r.status, r.body, r.trailers))
check('https slow upstream: first chunk < 1.0 s, all >= 1.8 s',
      r.first_byte is not None and r.first_byte < 1.0 and r.elapsed >= 1.8,
      'first byte %s s, all %.2f s' % (r.first_byte, r.elapsed))
r = get('/upload?scheme=https&host=localhost&port=%d&size=300000' % tls)
text = r.body.decode('latin-1')
gap = float(text.split('gap=')[1].split(' ')[0]) if 'gap=' in text else 0.0
check('https upload: 300000 bytes, the trailer, first bytes >= 1.0 s before the last',
      r.status == 200 and text.startswith('bytes=300000 ') and
      text.endswith('trailers=x-upload-trailer: done') and gap >= 1.0,
      'status %s body %r' % (r.status, text))
r = get('/proxy?scheme=https&host=127.0.0.1&port=%d&path=/slow' % tls)
check('https to 127.0.0.1 (certificate for localhost only): 502 TLS-certificate-error (13)',
      r.status == 502 and r.body == b'upstream error 13', 'status %s body %r' % (r.status, r.body))

# 8. Errors of the call itself.
r = get('/proxy?port=%d&path=/' % closed)
check('closed port: 502 connection-refused (error-code tag 6)',
      r.status == 502 and r.body == b'upstream error 6', 'status %s body %r' % (r.status, r.body))
alive('errors')

sys.exit(1 if failed else 0)
