// sock: a WASI 0.2 command that uses wasi:sockets against real peers (see wasi_sockets.h for
// how the imports are declared). Subcommands:
//   tcp-client ADDR PORT MESSAGE  connect, send MESSAGE (- : all of stdin), shut the sending
//                                 side, print what comes back until the peer closes
//   tcp-server ADDR PORT          bind (PORT 0: any), listen, print "listening PORT", accept one
//                                 connection, read it to the end, answer "echo:" + data
//   udp-echo ADDR PORT            bind, print "listening PORT", receive one datagram and send
//                                 it back upper-cased to its sender
//   udp-client ADDR PORT MESSAGE  bind to an ephemeral port, stream to ADDR:PORT, send
//                                 MESSAGE, print the answer and who sent it
//   lookup NAME...                resolve-addresses for each NAME, one line per address/error
//   states CLOSED_PORT            error and state-machine checks, one "check: outcome" line each
// ADDR is a dotted IPv4 address or "::1". Failures print "step: error-code" and exit 1.
#include <stdio.h>
#include <string.h>

#include "wasi_sockets.h"

enum { IPV4 = 0, IPV6 = 1 };
enum { SHUT_RECEIVE = 0, SHUT_SEND = 1, SHUT_BOTH = 2 };

typedef struct {
  int family;
  uint16_t port;
  uint8_t v4[4];
  uint16_t v6[8];
} Addr;

static Addr parse_addr(const char* s, int port) {
  Addr a;
  memset(&a, 0, sizeof a);
  a.port = (uint16_t)port;
  if (strcmp(s, "::1") == 0) {
    a.family = IPV6;
    a.v6[7] = 1;
    return a;
  }
  if (strcmp(s, "::") == 0) {
    a.family = IPV6;
    return a;
  }
  unsigned b[4] = {0, 0, 0, 0};
  sscanf(s, "%u.%u.%u.%u", &b[0], &b[1], &b[2], &b[3]);
  a.family = IPV4;
  for (int i = 0; i < 4; ++i) a.v4[i] = (uint8_t)b[i];
  return a;
}

// The 12 flattened ip-socket-address arguments.
#define FLAT(a)                                                                               \
  (a).family, (a).port, (a).family == IPV4 ? (a).v4[0] : 0,                                   \
      (a).family == IPV4 ? (a).v4[1] : (a).v6[0], (a).family == IPV4 ? (a).v4[2] : (a).v6[1], \
      (a).family == IPV4 ? (a).v4[3] : (a).v6[2], (a).family == IPV4 ? 0 : (a).v6[3],         \
      (a).family == IPV4 ? 0 : (a).v6[4], (a).family == IPV4 ? 0 : (a).v6[5],                 \
      (a).family == IPV4 ? 0 : (a).v6[6], (a).family == IPV4 ? 0 : (a).v6[7], 0

// The ip-socket-address stored at `off` of a result buffer, as text.
static const char* addr_text(const Ret* r, int off, int with_port) {
  static char buf[80];
  uint16_t port = at_u16(r, off + 4);
  if (at_u8(r, off) == IPV4) {
    snprintf(buf, sizeof buf, "%u.%u.%u.%u", at_u8(r, off + 6), at_u8(r, off + 7),
             at_u8(r, off + 8), at_u8(r, off + 9));
  } else {
    int n = 0;
    for (int i = 0; i < 8; ++i)
      n += snprintf(buf + n, sizeof buf - (size_t)n, i ? ":%x" : "%x", at_u16(r, off + 12 + 2 * i));
  }
  if (with_port) {
    size_t n = strlen(buf);
    snprintf(buf + n, sizeof buf - n, " port %u", port);
  }
  return buf;
}

static int fail(const char* step, const Ret* r, int code_off) {
  printf("%s: %s\n", step, code_name(at_u8(r, code_off)));
  return 1;
}

static void block_on(int32_t pollable) {
  pollable_block(pollable);
  drop_pollable(pollable);
}

// result<_, error-code> as "ok" or the code's name.
static const char* unit_outcome(const Ret* r) {
  return at_u8(r, 0) == 0 ? "ok" : code_name(at_u8(r, 1));
}

static int tcp_socket(int family, int32_t* sock) {
  Ret r = fresh();
  create_tcp_socket(family, &r);
  if (at_u8(&r, 0) != 0) return fail("create-tcp-socket", &r, 4);
  *sock = (int32_t)at_u32(&r, 4);
  return 0;
}

static int bind_tcp(int32_t net, int32_t sock, Addr a) {
  Ret r = fresh();
  tcp_start_bind(sock, net, FLAT(a), &r);
  if (at_u8(&r, 0) != 0) return fail("start-bind", &r, 1);
  r = fresh();
  tcp_finish_bind(sock, &r);
  if (at_u8(&r, 0) != 0) return fail("finish-bind", &r, 1);
  return 0;
}

// Connects, waiting on the socket's pollable while finish-connect says would-block.
static int connect_tcp(int32_t net, int32_t sock, Addr a, int32_t* in, int32_t* out, Ret* r) {
  *r = fresh();
  tcp_start_connect(sock, net, FLAT(a), r);
  if (at_u8(r, 0) != 0) return 1;
  for (;;) {
    *r = fresh();
    tcp_finish_connect(sock, r);
    if (at_u8(r, 0) == 0) break;
    if (strcmp(code_name(at_u8(r, 4)), "would-block") != 0) return 2;
    block_on(tcp_subscribe(sock));
  }
  *in = (int32_t)at_u32(r, 4);
  *out = (int32_t)at_u32(r, 8);
  return 0;
}

// Reads `in` to its end into buf (NUL-terminated); -1 on a stream failure.
static int read_all(int32_t in, char* buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    Ret r = fresh();
    input_blocking_read(in, 4096, &r);
    if (at_u8(&r, 0) != 0) {
      if (at_u8(&r, 4) == 1) break;  // closed
      Ret d = fresh();
      error_to_debug_string((int32_t)at_u32(&r, 8), &d);
      Ret c = fresh();
      network_error_code((int32_t)at_u32(&r, 8), &c);
      printf("read failed: %.*s (%s)\n", (int)at_u32(&d, 4), (const char*)(uintptr_t)at_u32(&d, 0),
             at_u8(&c, 0) ? code_name(at_u8(&c, 1)) : "not a network error");
      free((void*)(uintptr_t)at_u32(&d, 0));
      drop_error((int32_t)at_u32(&r, 8));
      return -1;
    }
    uint8_t* data = (uint8_t*)(uintptr_t)at_u32(&r, 4);
    size_t len = at_u32(&r, 8);
    if (n + len >= cap) len = cap - 1 - n;
    memcpy(buf + n, data, len);
    n += len;
    free(data);
  }
  buf[n] = 0;
  return (int)n;
}

static int write_all(int32_t out, const char* data, size_t len) {
  while (len > 0) {
    size_t chunk = len > 4096 ? 4096 : len;  // blocking-write-and-flush takes 4096 at most
    Ret r = fresh();
    output_blocking_write_and_flush(out, data, (int32_t)chunk, &r);
    if (at_u8(&r, 0) != 0) {
      printf("write failed (%s)\n", at_u8(&r, 4) == 1 ? "closed" : "last-operation-failed");
      return 1;
    }
    data += chunk;
    len -= chunk;
  }
  return 0;
}

static char big[1 << 20];

static int tcp_client(const char* addr, int port, const char* message) {
  if (strcmp(message, "-") == 0) {
    size_t n = fread(big, 1, sizeof big - 1, stdin);
    big[n] = 0;
    message = big;
  }
  int32_t net = instance_network(), sock, in, out;
  Addr a = parse_addr(addr, port);
  if (tcp_socket(a.family, &sock)) return 1;
  Ret r;
  int rc = connect_tcp(net, sock, a, &in, &out, &r);
  if (rc) return fail(rc == 1 ? "start-connect" : "finish-connect", &r, rc == 1 ? 1 : 4);
  r = fresh();
  tcp_remote_address(sock, &r);
  if (at_u8(&r, 0) != 0) return fail("remote-address", &r, 4);
  printf("connected to %s\n", addr_text(&r, 4, 1));
  if (write_all(out, message, strlen(message))) return 1;
  r = fresh();
  tcp_shutdown(sock, SHUT_SEND, &r);
  if (at_u8(&r, 0) != 0) return fail("shutdown", &r, 1);
  static char buf[1 << 20];
  if (read_all(in, buf, sizeof buf) < 0) return 1;
  printf("received: %s\n", buf);
  drop_input(in);
  drop_output(out);
  drop_tcp_socket(sock);
  drop_network(net);
  return 0;
}

static int tcp_server(const char* addr, int port) {
  int32_t net = instance_network(), sock;
  Addr a = parse_addr(addr, port);
  if (tcp_socket(a.family, &sock) || bind_tcp(net, sock, a)) return 1;
  Ret r = fresh();
  tcp_start_listen(sock, &r);
  if (at_u8(&r, 0) != 0) return fail("start-listen", &r, 1);
  r = fresh();
  tcp_finish_listen(sock, &r);
  if (at_u8(&r, 0) != 0) return fail("finish-listen", &r, 1);
  r = fresh();
  tcp_local_address(sock, &r);
  if (at_u8(&r, 0) != 0) return fail("local-address", &r, 4);
  printf("listening %u\n", at_u16(&r, 8));
  fflush(stdout);
  for (;;) {
    r = fresh();
    tcp_accept(sock, &r);
    if (at_u8(&r, 0) == 0) break;
    if (strcmp(code_name(at_u8(&r, 4)), "would-block") != 0) return fail("accept", &r, 4);
    block_on(tcp_subscribe(sock));
  }
  int32_t conn = (int32_t)at_u32(&r, 4), in = (int32_t)at_u32(&r, 8), out = (int32_t)at_u32(&r, 12);
  r = fresh();
  tcp_remote_address(conn, &r);
  if (at_u8(&r, 0) != 0) return fail("remote-address", &r, 4);
  printf("accepted from %s\n", addr_text(&r, 4, 0));
  static char buf[65536];
  int n = read_all(in, buf, sizeof buf);
  if (n < 0) return 1;
  printf("read %d bytes: %s\n", n, buf);
  if (write_all(out, "echo:", 5) || write_all(out, buf, (size_t)n)) return 1;
  drop_input(in);
  drop_output(out);
  drop_tcp_socket(conn);  // the last handle on the connection: the peer sees the end
  drop_tcp_socket(sock);
  drop_network(net);
  printf("done\n");
  return 0;
}

static int udp_bound(int32_t net, Addr a, int32_t* sock) {
  Ret r = fresh();
  create_udp_socket(a.family, &r);
  if (at_u8(&r, 0) != 0) return fail("create-udp-socket", &r, 4);
  *sock = (int32_t)at_u32(&r, 4);
  r = fresh();
  udp_start_bind(*sock, net, FLAT(a), &r);
  if (at_u8(&r, 0) != 0) return fail("start-bind", &r, 1);
  r = fresh();
  udp_finish_bind(*sock, &r);
  if (at_u8(&r, 0) != 0) return fail("finish-bind", &r, 1);
  return 0;
}

// Waits for and receives one datagram: its bytes into buf, its sender at 8.. of *from.
static int udp_receive_one(int32_t incoming, char* buf, size_t cap, Ret* from) {
  for (;;) {
    Ret r = fresh();
    udp_receive(incoming, 1, &r);
    if (at_u8(&r, 0) != 0) return fail("receive", &r, 4);
    if (at_u32(&r, 8) == 0) {
      block_on(udp_incoming_subscribe(incoming));
      continue;
    }
    uint8_t* list = (uint8_t*)(uintptr_t)at_u32(&r, 4);
    uint8_t* data = (uint8_t*)(uintptr_t)(list[0] | list[1] << 8 | list[2] << 16 | list[3] << 24);
    size_t len = (size_t)(list[4] | list[5] << 8 | list[6] << 16 | list[7] << 24);
    if (len >= cap) len = cap - 1;
    memcpy(buf, data, len);
    buf[len] = 0;
    *from = fresh();
    memcpy(from->b, list, 40);
    free(data);
    free(list);
    return 0;
  }
}

// Sends one datagram (to `to`, or the stream's peer if NULL), waiting for check-send.
static int udp_send_one(int32_t outgoing, const char* data, size_t len, const Ret* to) {
  Ret r;
  for (;;) {
    r = fresh();
    udp_check_send(outgoing, &r);
    if (at_u8(&r, 0) != 0) return fail("check-send", &r, 8);
    if (at_u64(&r, 8) > 0) break;
    block_on(udp_outgoing_subscribe(outgoing));
  }
  _Alignas(4) uint8_t d[44];
  memset(d, 0, sizeof d);
  uint32_t p = (uint32_t)(uintptr_t)data, n = (uint32_t)len;
  memcpy(d, &p, 4);
  memcpy(d + 4, &n, 4);
  if (to) {
    d[8] = 1;
    memcpy(d + 12, to->b + 8, 32);  // the sender's address from an incoming-datagram
  }
  r = fresh();
  udp_send(outgoing, d, 1, &r);
  if (at_u8(&r, 0) != 0) return fail("send", &r, 8);
  if (at_u64(&r, 8) != 1) {
    printf("send: %llu datagrams sent\n", (unsigned long long)at_u64(&r, 8));
    return 1;
  }
  return 0;
}

static int udp_streams(int32_t sock, const Addr* peer, int32_t* in, int32_t* out) {
  Ret r = fresh();
  if (peer)
    udp_stream(sock, 1, FLAT(*peer), &r);
  else
    udp_stream(sock, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, &r);
  if (at_u8(&r, 0) != 0) return fail("stream", &r, 4);
  *in = (int32_t)at_u32(&r, 4);
  *out = (int32_t)at_u32(&r, 8);
  return 0;
}

static int udp_echo(const char* addr, int port) {
  int32_t net = instance_network(), sock, in, out;
  if (udp_bound(net, parse_addr(addr, port), &sock) || udp_streams(sock, NULL, &in, &out)) return 1;
  Ret r = fresh();
  udp_local_address(sock, &r);
  if (at_u8(&r, 0) != 0) return fail("local-address", &r, 4);
  printf("listening %u\n", at_u16(&r, 8));
  fflush(stdout);
  char buf[2048];
  Ret from;
  if (udp_receive_one(in, buf, sizeof buf, &from)) return 1;
  printf("got \"%s\" from %s\n", buf, addr_text(&from, 8, 0));
  for (char* c = buf; *c; ++c)
    if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
  if (udp_send_one(out, buf, strlen(buf), &from)) return 1;
  printf("sent \"%s\"\n", buf);
  drop_incoming(in);
  drop_outgoing(out);
  drop_udp_socket(sock);
  drop_network(net);
  return 0;
}

static int udp_client(const char* addr, int port, const char* message) {
  int32_t net = instance_network(), sock, in, out;
  Addr peer = parse_addr(addr, port);
  Addr local = parse_addr(addr, 0);
  if (udp_bound(net, local, &sock) || udp_streams(sock, &peer, &in, &out)) return 1;
  if (udp_send_one(out, message, strlen(message), NULL)) return 1;
  char buf[2048];
  Ret from;
  if (udp_receive_one(in, buf, sizeof buf, &from)) return 1;
  printf("answer \"%s\" from %s\n", buf, addr_text(&from, 8, 0));
  printf("from the peer's port: %s\n", at_u16(&from, 12) == port ? "yes" : "no");
  drop_incoming(in);
  drop_outgoing(out);
  drop_udp_socket(sock);
  drop_network(net);
  return 0;
}

static int lookup(int argc, char** argv) {
  int32_t net = instance_network();
  for (int i = 0; i < argc; ++i) {
    Ret r = fresh();
    resolve_addresses(net, argv[i], (int32_t)strlen(argv[i]), &r);
    if (at_u8(&r, 0) != 0) {
      printf("%s: %s\n", argv[i], code_name(at_u8(&r, 4)));
      continue;
    }
    int32_t stream = (int32_t)at_u32(&r, 4);
    for (;;) {
      r = fresh();
      resolve_next_address(stream, &r);
      if (at_u8(&r, 0) != 0) {
        printf("%s: %s\n", argv[i], code_name(at_u8(&r, 2)));
        break;
      }
      if (at_u8(&r, 2) == 0) break;  // none: the end
      if (at_u8(&r, 4) == IPV4) {
        printf("%s: %u.%u.%u.%u\n", argv[i], at_u8(&r, 6), at_u8(&r, 7), at_u8(&r, 8),
               at_u8(&r, 9));
      } else {
        printf("%s: ", argv[i]);
        for (int k = 0; k < 8; ++k) printf(k ? ":%x" : "%x", at_u16(&r, 6 + 2 * k));
        printf("\n");
      }
    }
    drop_resolve(stream);
  }
  drop_network(net);
  return 0;
}

#define REPORT(label, call)                       \
  do {                                            \
    Ret r_ = fresh();                             \
    call;                                         \
    printf("%s: %s\n", label, unit_outcome(&r_)); \
  } while (0)

// result<T, error-code> whose payload starts at `off`: "ok" or the code's name.
static const char* outcome_at(const Ret* r, int off) {
  return at_u8(r, 0) == 0 ? "ok" : code_name(at_u8(r, off));
}

static int states(int closed_port) {
  int32_t net = instance_network();
  Addr lo = parse_addr("127.0.0.1", 0);
  Ret r;

  // An unbound socket.
  int32_t s;
  if (tcp_socket(IPV4, &s)) return 1;
  REPORT("finish-bind before start-bind", tcp_finish_bind(s, &r_));
  r = fresh();
  tcp_finish_connect(s, &r);
  printf("finish-connect before start-connect: %s\n", outcome_at(&r, 4));
  REPORT("start-listen unbound", tcp_start_listen(s, &r_));
  r = fresh();
  tcp_accept(s, &r);
  printf("accept unbound: %s\n", outcome_at(&r, 4));
  r = fresh();
  tcp_local_address(s, &r);
  printf("local-address unbound: %s\n", outcome_at(&r, 4));
  r = fresh();
  tcp_remote_address(s, &r);
  printf("remote-address unbound: %s\n", outcome_at(&r, 4));
  REPORT("shutdown unbound", tcp_shutdown(s, SHUT_BOTH, &r_));
  REPORT("bind to an ipv6 address", tcp_start_bind(s, net, FLAT(parse_addr("::1", 0)), &r_));
  REPORT("connect to port 0", tcp_start_connect(s, net, FLAT(parse_addr("127.0.0.1", 0)), &r_));
  REPORT("connect to 0.0.0.0", tcp_start_connect(s, net, FLAT(parse_addr("0.0.0.0", 80)), &r_));
  REPORT("set-hop-limit 0", tcp_set_hop_limit(s, 0, &r_));
  REPORT("set-hop-limit 42", tcp_set_hop_limit(s, 42, &r_));
  r = fresh();
  tcp_hop_limit(s, &r);
  printf("hop-limit: %s %u\n", outcome_at(&r, 1), at_u8(&r, 1));
  REPORT("set-keep-alive-idle-time 0", tcp_set_keep_alive_idle_time(s, 0, &r_));
  REPORT("set-keep-alive-idle-time 10s", tcp_set_keep_alive_idle_time(s, 10000000000LL, &r_));
  r = fresh();
  tcp_keep_alive_idle_time(s, &r);
  printf("keep-alive-idle-time: %s %llu\n", outcome_at(&r, 8), (unsigned long long)at_u64(&r, 8));
  REPORT("set-listen-backlog-size 0", tcp_set_listen_backlog_size(s, 0, &r_));
  printf("address-family: %s\n", tcp_address_family(s) == IPV4 ? "ipv4" : "ipv6");
  // Two bind halves at once, then bound.
  REPORT("start-bind", tcp_start_bind(s, net, FLAT(lo), &r_));
  REPORT("start-bind again before finish-bind", tcp_start_bind(s, net, FLAT(lo), &r_));
  REPORT("finish-bind", tcp_finish_bind(s, &r_));
  REPORT("start-bind when bound", tcp_start_bind(s, net, FLAT(lo), &r_));
  REPORT("finish-listen before start-listen", tcp_finish_listen(s, &r_));
  REPORT("start-listen", tcp_start_listen(s, &r_));
  REPORT("start-listen again before finish-listen", tcp_start_listen(s, &r_));
  REPORT("finish-listen", tcp_finish_listen(s, &r_));
  printf("is-listening: %s\n", tcp_is_listening(s) ? "yes" : "no");
  REPORT("start-connect when listening", tcp_start_connect(s, net, FLAT(lo), &r_));
  r = fresh();
  tcp_accept(s, &r);
  printf("accept with no client waiting: %s\n", outcome_at(&r, 4));
  REPORT("set-listen-backlog-size 10 when listening", tcp_set_listen_backlog_size(s, 10, &r_));
  r = fresh();
  tcp_local_address(s, &r);
  uint16_t port = at_u16(&r, 8);
  printf("local-address listening: %s\n", outcome_at(&r, 4));

  // The listener's port again, from a second socket.
  int32_t s2;
  if (tcp_socket(IPV4, &s2)) return 1;
  REPORT("bind to a port in use",
         tcp_start_bind(s2, net, FLAT(parse_addr("127.0.0.1", port)), &r_));
  drop_tcp_socket(s2);

  // A connection that is refused closes the socket.
  int32_t c, in, out;
  if (tcp_socket(IPV4, &c)) return 1;
  int rc = connect_tcp(net, c, parse_addr("127.0.0.1", closed_port), &in, &out, &r);
  printf("connect to a closed port: %s\n",
         rc == 0 ? "connected" : code_name(at_u8(&r, rc == 1 ? 1 : 4)));
  r = fresh();
  tcp_finish_connect(c, &r);
  printf("finish-connect after the failure: %s\n", outcome_at(&r, 4));
  REPORT("start-connect after the failure", tcp_start_connect(c, net, FLAT(lo), &r_));
  drop_tcp_socket(c);

  // A connection to our own listener: both ends.
  if (tcp_socket(IPV4, &c)) return 1;
  rc = connect_tcp(net, c, parse_addr("127.0.0.1", port), &in, &out, &r);
  printf("connect to the listener: %s\n", rc == 0 ? "ok" : code_name(at_u8(&r, rc == 1 ? 1 : 4)));
  REPORT("start-connect when connected", tcp_start_connect(c, net, FLAT(lo), &r_));
  REPORT("start-listen when connected", tcp_start_listen(c, &r_));
  int32_t a;
  for (;;) {
    r = fresh();
    tcp_accept(s, &r);
    if (at_u8(&r, 0) == 0) break;
    block_on(tcp_subscribe(s));
  }
  a = (int32_t)at_u32(&r, 4);
  int32_t ain = (int32_t)at_u32(&r, 8), aout = (int32_t)at_u32(&r, 12);
  r = fresh();
  tcp_remote_address(a, &r);
  Ret l = fresh();
  tcp_local_address(c, &l);
  printf("accepted peer is the client: %s\n",
         at_u8(&r, 0) == 0 && at_u8(&l, 0) == 0 && at_u16(&r, 8) == at_u16(&l, 8) ? "yes" : "no");
  if (write_all(out, "ping", 4)) return 1;
  REPORT("shutdown send", tcp_shutdown(c, SHUT_SEND, &r_));
  char buf[64];
  printf("accepted side reads: %d\n", read_all(ain, buf, sizeof buf));
  drop_input(ain);
  drop_output(aout);
  drop_tcp_socket(a);
  printf("client reads after the peer closed: %d\n", read_all(in, buf, sizeof buf));
  drop_input(in);
  drop_output(out);
  drop_tcp_socket(c);
  drop_tcp_socket(s);

  // UDP.
  int32_t u;
  r = fresh();
  create_udp_socket(IPV4, &r);
  u = (int32_t)at_u32(&r, 4);
  r = fresh();
  udp_stream(u, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, &r);
  printf("udp stream unbound: %s\n", outcome_at(&r, 4));
  r = fresh();
  udp_local_address(u, &r);
  printf("udp local-address unbound: %s\n", outcome_at(&r, 4));
  REPORT("udp start-bind", udp_start_bind(u, net, FLAT(lo), &r_));
  REPORT("udp finish-bind", udp_finish_bind(u, &r_));
  if (udp_streams(u, NULL, &in, &out)) return 1;
  r = fresh();
  udp_check_send(out, &r);
  printf("udp check-send: %s\n", outcome_at(&r, 8));
  _Alignas(4) uint8_t d[44];
  memset(d, 0, sizeof d);  // empty data, no remote address
  r = fresh();
  udp_send(out, d, 1, &r);
  printf("udp send without an address: %s\n", outcome_at(&r, 8));
  drop_incoming(in);
  drop_outgoing(out);
  drop_udp_socket(u);
  drop_network(net);
  return 0;
}

int main(int argc, char** argv) {
  // wasm-ld wraps every export of a command, cabi_realloc included, so that it runs the
  // destructors afterwards, which flush stdio. A flush inside cabi_realloc would call an import
  // while the host is lowering a result, which the canonical ABI forbids (a trap): with unbuffered
  // stdout there is never anything left to flush.
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc >= 5 && strcmp(argv[1], "tcp-client") == 0)
    return tcp_client(argv[2], atoi(argv[3]), argv[4]);
  if (argc >= 4 && strcmp(argv[1], "tcp-server") == 0) return tcp_server(argv[2], atoi(argv[3]));
  if (argc >= 4 && strcmp(argv[1], "udp-echo") == 0) return udp_echo(argv[2], atoi(argv[3]));
  if (argc >= 5 && strcmp(argv[1], "udp-client") == 0)
    return udp_client(argv[2], atoi(argv[3]), argv[4]);
  if (argc >= 2 && strcmp(argv[1], "lookup") == 0) return lookup(argc - 2, argv + 2);
  if (argc >= 3 && strcmp(argv[1], "states") == 0) return states(atoi(argv[2]));
  fprintf(stderr, "usage: sock tcp-client|tcp-server|udp-echo|udp-client|lookup|states ...\n");
  return 2;
}
