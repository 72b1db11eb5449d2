"""Host-side peers for the wasi:sockets tests (python3, standard library only).

  peer.py tcp-echo HOST READY      listen on HOST (any port), write the port to READY, accept
                                   one connection, read it to the end, answer b"echo:" + data
  peer.py tcp-reset HOST READY     like tcp-echo, but resets the connection (RST) instead of
                                   answering
  peer.py tcp-send PORT MESSAGE    connect to 127.0.0.1:PORT, send MESSAGE, close the sending
                                   side, print the whole answer
  peer.py udp-reply HOST READY     bind on HOST, write the port to READY, answer one datagram
                                   with b"pong:" + data
  peer.py udp-send PORT MESSAGE    send MESSAGE to 127.0.0.1:PORT, print the one answer
  peer.py free-port                print a TCP port on 127.0.0.1 that nothing listens on

Every peer gives up after 20 seconds, so a broken guest fails the test instead of hanging it.
"""
import os
import socket
import struct
import sys

TIMEOUT = 20


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ready(path, port):
    with open(path + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(path + ".tmp", path)


def tcp_echo(host, path, reset=False):
    with socket.socket(family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        s.listen(1)
        s.settimeout(TIMEOUT)
        ready(path, s.getsockname()[1])
        conn, _ = s.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if reset:
                # Linger 0: close() sends RST instead of FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                conn.sendall(b"echo:" + data)


def tcp_send(port, message):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(message.encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    print(data.decode())


def udp_reply(host, path):
    with socket.socket(family(host), socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(TIMEOUT)
        ready(path, s.getsockname()[1])
        data, sender = s.recvfrom(65536)
        s.sendto(b"pong:" + data, sender)


def udp_send(port, message):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(message.encode(), ("127.0.0.1", port))
        data, sender = s.recvfrom(65536)
    print(data.decode(), "from", "port" if sender[1] == port else "another port")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def main(argv):
    cmd = argv[1]
    if cmd == "tcp-echo":
        tcp_echo(argv[2], argv[3])
    elif cmd == "tcp-reset":
        tcp_echo(argv[2], argv[3], reset=True)
    elif cmd == "tcp-send":
        tcp_send(int(argv[2]), argv[3])
    elif cmd == "udp-reply":
        udp_reply(argv[2], argv[3])
    elif cmd == "udp-send":
        udp_send(int(argv[2]), argv[3])
    elif cmd == "free-port":
        free_port()
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
