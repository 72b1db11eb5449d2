// wasi:sockets (network, instance-network, tcp, tcp-create-socket, udp, udp-create-socket,
// ip-name-lookup) over non-blocking host sockets.
//
// Policy: every function of a kind (TCP, UDP, name lookup) first checks the configuration. A
// kind that is not allowed answers `access-denied` through the function's own error type (or
// traps when the function has none), exactly as before sockets were implemented; an allowed
// kind gets real sockets. Functions not defined here (newer 0.2.x additions) keep answering
// `not-supported` to allowed guests.
//
// TCP follows the WIT state machine: unbound -> bind-started -> bound -> listen-started ->
// listening, or (unbound|bound) -> connecting -> connected, and closed after a failed connect.
// The `start-*` halves do the system call (bind, a non-blocking connect, listen); `finish-*`
// moves the state on, answering `would-block` while a connect is still in flight. Connected
// sockets hand out wasi:io streams of kind Socket that share the descriptor, so it stays open
// while the socket resource or any of its streams or pollables lives. IPv6 sockets are
// IPv6-only; IPv4-mapped addresses are refused, as in Wasmtime.
//
// UDP: a socket must be bound before `stream`, which connects it to the given peer (or
// disconnects it) and returns a fresh pair of datagram streams; only the newest pair works.
//
// Name lookup validates the name (IP literals are answered directly, malformed names are
// `invalid-argument`) and then resolves synchronously with getaddrinfo; resolver failures are
// reported by the first `resolve-next-address`.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <tuple>

#include "p2.h"

namespace flotilla::wasi::p2 {

struct TcpSocket {
  enum class St {
    Unbound,
    BindStarted,
    Bound,
    ListenStarted,
    Listening,
    Connecting,
    Connected,
    Closed
  };
  std::shared_ptr<sys::Fd> fd;
  int family = AF_INET;
  St st = St::Unbound;
  int connect_err = -1;  // Connecting: -1 while the kernel has not answered, else its errno
  int backlog = 128;
};

struct UdpSocket {
  enum class St { Unbound, BindStarted, Bound };
  std::shared_ptr<sys::Fd> fd;
  int family = AF_INET;
  St st = St::Unbound;
  bool connected = false;
  sockaddr_storage remote{};
  uint64_t generation = 0;  // of the newest stream pair
};

struct DatagramStream {
  std::shared_ptr<UdpSocket> socket;
  uint64_t generation = 0;
  uint64_t permit = 0;  // outgoing: datagrams the last check-send allowed
};

struct ResolveStream {
  std::vector<Val> addresses;  // ip-address values
  size_t next = 0;
  const char* error = nullptr;  // reported once by resolve-next-address
};

struct Sockets {
  Table<TcpSocket> tcp;
  Table<std::shared_ptr<UdpSocket>> udp;
  Table<DatagramStream> incoming, outgoing;
  Table<ResolveStream> resolves;
};

namespace {

constexpr const char* kNetwork = "wasi:sockets/network@0.2.0";
constexpr const char* kInstanceNetwork = "wasi:sockets/instance-network@0.2.0";
constexpr const char* kTcp = "wasi:sockets/tcp@0.2.0";
constexpr const char* kTcpCreate = "wasi:sockets/tcp-create-socket@0.2.0";
constexpr const char* kUdp = "wasi:sockets/udp@0.2.0";
constexpr const char* kUdpCreate = "wasi:sockets/udp-create-socket@0.2.0";
constexpr const char* kLookup = "wasi:sockets/ip-name-lookup@0.2.0";

// The most datagrams one check-send permits and one receive returns.
constexpr uint64_t kMaxDatagrams = 16;
// Keep-alive times and counts Linux accepts (seconds, probes).
constexpr int kMaxKeepAliveSecs = 32767;
constexpr int kMaxKeepAliveCount = 127;

bool has_case(const fc::TypePtr& t, std::string_view name) {
  return t && t->kind == fc::TypeKind::Enum &&
         std::find(t->names.begin(), t->names.end(), name) != t->names.end();
}

// Answers `code` through the called function's result<_, error-code>, or traps if it has none.
Result<void> refuse(HostContext& hc, Results out, const char* code) {
  const fc::FuncType* ft = hc.type();
  if (ft && ft->results.size() == 1 && ft->results[0].second &&
      ft->results[0].second->kind == fc::TypeKind::Result &&
      has_case(ft->results[0].second->err, "access-denied")) {
    out[0] = Val::err(Val::enumeration(code));
    return {};
  }
  return host_trap(hc.name() + ": network access is not available to this guest");
}

enum class Grant { Tcp, Udp, Lookup };

bool granted(const State& s, Grant g) {
  switch (g) {
    case Grant::Tcp:
      return s.c.config.allow_tcp;
    case Grant::Udp:
      return s.c.config.allow_udp;
    case Grant::Lookup:
      return s.c.config.allow_ip_name_lookup;
  }
  return false;
}

// The error-code for an errno from a socket call.
const char* net_code(int err) {
  switch (err) {
    case EWOULDBLOCK:
      return "would-block";
    case EACCES:
    case EPERM:
      return "access-denied";
    case EADDRINUSE:
      return "address-in-use";
    case EADDRNOTAVAIL:
      return "address-not-bindable";
    case EALREADY:
      return "concurrency-conflict";
    case ETIMEDOUT:
      return "timeout";
    case ECONNREFUSED:
      return "connection-refused";
    case ECONNRESET:
    case EPIPE:
      return "connection-reset";
    case ECONNABORTED:
      return "connection-aborted";
    case EINVAL:
    case EAFNOSUPPORT:
      return "invalid-argument";
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case ENETUNREACH:
    case ENETDOWN:
    case ENONET:
      return "remote-unreachable";
    case ENOMEM:
    case ENOBUFS:
      return "out-of-memory";
    case EMSGSIZE:
      return "datagram-too-large";
    case EMFILE:
    case ENFILE:
      return "new-socket-limit";
    case EOPNOTSUPP:
    case ENOPROTOOPT:
    case EPROTONOSUPPORT:
    case ESOCKTNOSUPPORT:
      return "not-supported";
    case EISCONN:
    case ENOTCONN:
    case EDESTADDRREQ:
      return "invalid-state";
    default:
      return "unknown";
  }
}

// connect(2) failures as finish-connect reports them: an address the implicit bind could not
// get is `address-in-use` there.
const char* connect_code(int err) {
  return err == EADDRNOTAVAIL ? "address-in-use" : net_code(err);
}

Val err(const char* code) { return Val::err(Val::enumeration(code)); }
Val ok_unit() { return Val::ok(std::nullopt); }

Val family_val(int family) { return Val::enumeration(family == AF_INET6 ? "ipv6" : "ipv4"); }

// ---- addresses

Val ipv4_val(const in_addr& a) {
  auto* b = reinterpret_cast<const uint8_t*>(&a);
  return Val::tuple({Val::u8(b[0]), Val::u8(b[1]), Val::u8(b[2]), Val::u8(b[3])});
}

Val ipv6_val(const in6_addr& a) {
  std::vector<Val> parts;
  for (int i = 0; i < 8; ++i)
    parts.push_back(Val::u16(static_cast<uint16_t>(a.s6_addr[2 * i] << 8 | a.s6_addr[2 * i + 1])));
  return Val::tuple(std::move(parts));
}

// ip-socket-address for a socket address.
Val socket_address_val(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
    return Val::variant("ipv6",
                        Val::record({{"port", Val::u16(ntohs(in6.sin6_port))},
                                     {"flow-info", Val::u32(ntohl(in6.sin6_flowinfo))},
                                     {"address", ipv6_val(in6.sin6_addr)},
                                     {"scope-id", Val::u32(in6.sin6_scope_id)}}),
                        1);
  }
  const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
  return Val::variant(
      "ipv4",
      Val::record({{"port", Val::u16(ntohs(in.sin_port))}, {"address", ipv4_val(in.sin_addr)}}), 0);
}

// A guest ip-socket-address; false if the value is malformed.
bool to_sockaddr(const Val& v, sockaddr_storage& ss, socklen_t& len) {
  ss = {};
  const Val* rec = v.payload();
  const Val* port = rec ? rec->field("port") : nullptr;
  const Val* addr = rec ? rec->field("address") : nullptr;
  if (!port || !addr) return false;
  if (v.str == "ipv4") {
    if (addr->items.size() != 4) return false;
    auto& in = reinterpret_cast<sockaddr_in&>(ss);
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<uint16_t>(port->bits));
    auto* b = reinterpret_cast<uint8_t*>(&in.sin_addr);
    for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(addr->items[i].bits);
    len = sizeof(sockaddr_in);
    return true;
  }
  if (v.str == "ipv6") {
    const Val* flow = rec->field("flow-info");
    const Val* scope = rec->field("scope-id");
    if (addr->items.size() != 8 || !flow || !scope) return false;
    auto& in6 = reinterpret_cast<sockaddr_in6&>(ss);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<uint16_t>(port->bits));
    in6.sin6_flowinfo = htonl(static_cast<uint32_t>(flow->bits));
    in6.sin6_scope_id = static_cast<uint32_t>(scope->bits);
    for (int i = 0; i < 8; ++i) {
      auto part = static_cast<uint16_t>(addr->items[i].bits);
      in6.sin6_addr.s6_addr[2 * i] = static_cast<uint8_t>(part >> 8);
      in6.sin6_addr.s6_addr[2 * i + 1] = static_cast<uint8_t>(part);
    }
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

uint16_t port_of(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port)
                                  : ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
}

bool is_unspecified(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
  return reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr == htonl(INADDR_ANY);
}

bool is_multicast(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6)
    return IN6_IS_ADDR_MULTICAST(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
  return IN_MULTICAST(ntohl(reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr));
}

bool is_broadcast(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET &&
         reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr == htonl(INADDR_BROADCAST);
}

bool is_v4_mapped(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 &&
         IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
  }
  const auto& x = reinterpret_cast<const sockaddr_in&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in&>(b);
  return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
}

// Checks of a local address to bind to: nullptr if acceptable, else the error-code.
const char* check_local(const sockaddr_storage& ss, int family) {
  if (ss.ss_family != family || is_multicast(ss) || is_v4_mapped(ss)) return "invalid-argument";
  return nullptr;
}

// Checks of a remote address to connect or send to.
const char* check_remote(const sockaddr_storage& ss, int family) {
  if (ss.ss_family != family || is_unspecified(ss) || port_of(ss) == 0 || is_multicast(ss) ||
      is_broadcast(ss) || is_v4_mapped(ss))
    return "invalid-argument";
  return nullptr;
}

// ---- socket options

// A new non-blocking socket; IPv6 sockets are IPv6-only.
Expected<std::shared_ptr<sys::Fd>, const char*> new_socket(const std::string& family, int type) {
  int af = family == "ipv6" ? AF_INET6 : AF_INET;
  int fd = ::socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return Unexpected<const char*>(errno == EAFNOSUPPORT ? "not-supported" : net_code(errno));
  auto owned = std::make_shared<sys::Fd>(fd);
  if (af == AF_INET6) {
    int one = 1;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
      return Unexpected<const char*>(net_code(errno));
  }
  return owned;
}

// getsockopt of an int option: the value or the error-code.
Expected<int, const char*> get_int(int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, level, name, &v, &len) != 0) return Unexpected<const char*>(net_code(errno));
  return v;
}

Val set_int(int fd, int level, int name, int v) {
  if (::setsockopt(fd, level, name, &v, sizeof v) != 0) return err(net_code(errno));
  return ok_unit();
}

// result<u64/u32/u8/bool, error-code> of an int option, converted by `f`.
template <typename F>
Val get_opt(int fd, int level, int name, F f) {
  auto v = get_int(fd, level, name);
  if (!v) return err(v.error());
  return Val::ok(f(*v));
}

int clamp_int(uint64_t v, int lo, int hi) {
  if (v < static_cast<uint64_t>(lo)) return lo;
  if (v > static_cast<uint64_t>(hi)) return hi;
  return static_cast<int>(v);
}

// A duration in nanoseconds as whole seconds (rounded up) within Linux's keep-alive range.
int keepalive_secs(uint64_t ns) {
  uint64_t secs = ns / 1000000000ull + (ns % 1000000000ull ? 1 : 0);
  return clamp_int(secs, 1, kMaxKeepAliveSecs);
}

int hop_level(int family) { return family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP; }
int hop_name(int family) { return family == AF_INET6 ? IPV6_UNICAST_HOPS : IP_TTL; }

bool fd_ready(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, 0) > 0;
}

Val local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return err(net_code(errno));
  return Val::ok(socket_address_val(ss));
}

Val remote_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return err(net_code(errno));
  return Val::ok(socket_address_val(ss));
}

Val pollable_val(State& s, Pollable::Kind kind, const std::shared_ptr<sys::Fd>& fd) {
  Pollable pl;
  pl.kind = kind;
  if (kind != Pollable::Kind::Ready) {
    pl.fd = fd->get();
    pl.keep = fd;
  }
  return own(s.rt_pollable, s.pollables.add(std::move(pl)));
}

// The input and output streams of a connected TCP socket.
std::pair<Val, Val> socket_streams(State& s, const std::shared_ptr<sys::Fd>& fd) {
  InputStream in;
  in.kind = InputStream::Kind::Socket;
  in.fd = fd->get();
  in.file = fd;
  OutputStream out;
  out.kind = OutputStream::Kind::Socket;
  out.fd = fd->get();
  out.file = fd;
  return {own(s.rt_input, s.inputs.add(std::move(in))),
          own(s.rt_output, s.outputs.add(std::move(out)))};
}

// ---- name lookup

// An IP literal (dotted IPv4, IPv6 with or without brackets) as an ip-address value.
std::optional<Val> ip_literal(const std::string& name) {
  in_addr a4{};
  if (::inet_pton(AF_INET, name.c_str(), &a4) == 1) return Val::variant("ipv4", ipv4_val(a4), 0);
  std::string inner = name;
  if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']')
    inner = inner.substr(1, inner.size() - 2);
  in6_addr a6{};
  if (::inet_pton(AF_INET6, inner.c_str(), &a6) == 1) return Val::variant("ipv6", ipv6_val(a6), 1);
  return std::nullopt;
}

// A host name the resolver may be asked about: ASCII labels of 1..63 characters without
// characters URLs forbid in hosts, 253 characters at most (a final dot aside), and a last
// label that is not numeric (that would be a malformed IPv4 address).
bool valid_host_name(const std::string& name) {
  std::string n = name;
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (n.empty() || n.size() > 253) return false;
  size_t label = 0;
  for (char ch : n) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || std::strchr("#%/:<>?@[\\]^|", c)) return false;
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (++label > 63) {
      return false;
    }
  }
  if (label == 0) return false;
  std::string last = n.substr(n.rfind('.') == std::string::npos ? 0 : n.rfind('.') + 1);
  bool numeric = std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
  bool hex = last.size() > 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
             std::all_of(last.begin() + 2, last.end(), [](char c) { return std::isxdigit(c); });
  return !numeric && !hex;
}

ResolveStream resolve(const std::string& name) {
  ResolveStream rs;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    switch (rc) {
      case EAI_NONAME:
      case EAI_NODATA:
      case EAI_ADDRFAMILY:
        rs.error = "name-unresolvable";
        break;
      case EAI_AGAIN:
        rs.error = "temporary-resolver-failure";
        break;
      case EAI_MEMORY:
        rs.error = "out-of-memory";
        break;
      default:
        rs.error = "permanent-resolver-failure";
        break;
    }
    return rs;
  }
  std::vector<sockaddr_storage> seen;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    sockaddr_storage ss{};
    std::memcpy(&ss, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof ss));
    if (std::any_of(seen.begin(), seen.end(),
                    [&](const sockaddr_storage& o) { return same_address(o, ss); }))
      continue;
    seen.push_back(ss);
    if (ss.ss_family == AF_INET)
      rs.addresses.push_back(
          Val::variant("ipv4", ipv4_val(reinterpret_cast<sockaddr_in&>(ss).sin_addr), 0));
    else
      rs.addresses.push_back(
          Val::variant("ipv6", ipv6_val(reinterpret_cast<sockaddr_in6&>(ss).sin6_addr), 1));
  }
  ::freeaddrinfo(res);
  return rs;
}

// The guest's socket tables, made on first use.
Sockets& sockets_of(State& s) {
  if (!s.sockets) s.sockets = std::make_shared<Sockets>();
  return *s.sockets;
}

}  // namespace

Result<void> add_sockets(fc::Linker& linker, const BindingPtr& b) {
  // Destructors hold the binding weakly: it owns the resource types, which own them.
  std::weak_ptr<Binding> weak = b;
  auto dtor = [weak](auto erase) {
    return [weak, erase](HostContext& hc, uint32_t rep) -> Result<void> {
      auto bl = weak.lock();
      if (State* s = bl ? bl->get(hc) : nullptr) erase(*s, rep);
      return {};
    };
  };
  struct Res {
    const char* iface;
    const char* name;
    fc::ResourceTypePtr Types::*slot;
    void (*erase)(State&, uint32_t);
  };
  const Res resources[] = {
      {kNetwork, "network", &State::rt_network,
       [](State& s, uint32_t rep) { s.networks.erase(rep); }},
      {kTcp, "tcp-socket", &State::rt_tcp,
       [](State& s, uint32_t rep) { sockets_of(s).tcp.erase(rep); }},
      {kUdp, "udp-socket", &State::rt_udp,
       [](State& s, uint32_t rep) { sockets_of(s).udp.erase(rep); }},
      {kUdp, "incoming-datagram-stream", &State::rt_incoming_dgram,
       [](State& s, uint32_t rep) { sockets_of(s).incoming.erase(rep); }},
      {kUdp, "outgoing-datagram-stream", &State::rt_outgoing_dgram,
       [](State& s, uint32_t rep) { sockets_of(s).outgoing.erase(rep); }},
      {kLookup, "resolve-address-stream", &State::rt_resolve,
       [](State& s, uint32_t rep) { sockets_of(s).resolves.erase(rep); }},
  };
  for (const auto& res : resources) {
    auto rt = linker.resource(res.iface, res.name, dtor(res.erase));
    if (!rt) return Unexpected(rt.error());
    (*b).*res.slot = *rt;
  }
  if (auto r = linker.func_new(kInstanceNetwork, "instance-network",
                               [b](HostContext& hc, Params, Results out) -> Result<void> {
                                 State* s = b->get(hc);
                                 if (!s) return no_context();
                                 out[0] = own(s->rt_network, s->networks.add(0));
                                 return {};
                               });
      !r)
    return r;
  // The error-code behind a stream error from a socket stream.
  if (auto r = linker.func_new(kNetwork, "network-error-code",
                               [b](HostContext& hc, Params p, Results out) -> Result<void> {
                                 State* s = b->get(hc);
                                 if (!s) return no_context();
                                 const int* e = s->errors.get(rep_of(p[0]));
                                 std::optional<Val> code;
                                 if (e) {
                                   switch (*e) {
                                     case ECONNRESET:
                                     case EPIPE:
                                     case ECONNABORTED:
                                     case ECONNREFUSED:
                                     case ETIMEDOUT:
                                     case EHOSTUNREACH:
                                     case ENETUNREACH:
                                     case ENETDOWN:
                                       code = Val::enumeration(net_code(*e));
                                       break;
                                     default:
                                       break;
                                   }
                                 }
                                 out[0] = Val::option(std::move(code));
                                 return {};
                               });
      !r)
    return r;

  // Defines `name` in `iface` behind the policy check for `grant`.
  using Fn = std::function<Result<void>(State&, Sockets&, Params, Results)>;
  auto def = [&](const char* iface, const char* name, Grant grant, Fn fn) -> Result<void> {
    return linker.func_new(
        iface, name,
        [b, grant, fn = std::move(fn)](HostContext& hc, Params p, Results out) -> Result<void> {
          State* s = b->get(hc);
          if (!s) return no_context();
          if (!granted(*s, grant)) return refuse(hc, out, "access-denied");
          return fn(*s, sockets_of(*s), p, out);
        });
  };
  Result<void> r;
#define DEF(iface, name, grant, ...)                                                            \
  if (r = def(iface, name, grant,                                                               \
              [](State & st, Sockets & sk, Params p, Results out) -> Result<void> __VA_ARGS__); \
      !r)                                                                                       \
    return r;
#define TCP_SELF                                  \
  TcpSocket* t = sk.tcp.get(rep_of(p[0]));        \
  if (!t) return host_trap("unknown tcp-socket"); \
  (void)st;
#define UDP_SELF                                   \
  auto* up = sk.udp.get(rep_of(p[0]));             \
  if (!up) return host_trap("unknown udp-socket"); \
  UdpSocket* u = up->get();                        \
  (void)st;

  // ---- tcp-create-socket, tcp
  DEF(kTcpCreate, "create-tcp-socket", Grant::Tcp, {
    auto fd = new_socket(p[0].str, SOCK_STREAM);
    if (!fd) {
      out[0] = err(fd.error());
      return {};
    }
    TcpSocket t;
    t.fd = *fd;
    t.family = p[0].str == "ipv6" ? AF_INET6 : AF_INET;
    out[0] = Val::ok(own(st.rt_tcp, sk.tcp.add(std::move(t))));
    return {};
  })
  using TS = TcpSocket::St;
  DEF(kTcp, "[method]tcp-socket.start-bind", Grant::Tcp, {
    TCP_SELF
    if (t->st == TS::BindStarted || t->st == TS::ListenStarted || t->st == TS::Connecting) {
      out[0] = err("concurrency-conflict");
      return {};
    }
    if (t->st != TS::Unbound) {
      out[0] = err("invalid-state");
      return {};
    }
    sockaddr_storage ss;
    socklen_t len = 0;
    if (!to_sockaddr(p[2], ss, len)) return host_trap("malformed ip-socket-address");
    if (const char* bad = check_local(ss, t->family)) {
      out[0] = err(bad);
      return {};
    }
    // As Wasmtime does: a port left in TIME_WAIT by an earlier socket may be bound again.
    int one = 1;
    ::setsockopt(t->fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(t->fd->get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      out[0] = err(net_code(errno));
      return {};
    }
    t->st = TS::BindStarted;
    out[0] = ok_unit();
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.finish-bind", Grant::Tcp, {
    TCP_SELF
    if (t->st != TS::BindStarted) {
      out[0] = err("not-in-progress");
      return {};
    }
    t->st = TS::Bound;
    out[0] = ok_unit();
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.start-connect", Grant::Tcp, {
    TCP_SELF
    if (t->st == TS::BindStarted || t->st == TS::ListenStarted || t->st == TS::Connecting) {
      out[0] = err("concurrency-conflict");
      return {};
    }
    if (t->st != TS::Unbound && t->st != TS::Bound) {
      out[0] = err("invalid-state");
      return {};
    }
    sockaddr_storage ss;
    socklen_t len = 0;
    if (!to_sockaddr(p[2], ss, len)) return host_trap("malformed ip-socket-address");
    if (const char* bad = check_remote(ss, t->family)) {
      out[0] = err(bad);
      return {};
    }
    // An interrupted non-blocking connect goes on in the kernel, like EINPROGRESS.
    if (::connect(t->fd->get(), reinterpret_cast<sockaddr*>(&ss), len) == 0) {
      t->connect_err = 0;
    } else if (errno == EINPROGRESS || errno == EINTR) {
      t->connect_err = -1;  // the kernel goes on connecting
    } else if (errno == EACCES || errno == EPERM || errno == EAFNOSUPPORT || errno == EINVAL ||
               errno == EALREADY || errno == EISCONN) {
      out[0] = err(net_code(errno));
      return {};
    } else {
      t->connect_err = errno;  // refused, unreachable, ...: reported by finish-connect
    }
    t->st = TS::Connecting;
    out[0] = ok_unit();
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.finish-connect", Grant::Tcp, {
    TCP_SELF
    if (t->st != TS::Connecting) {
      out[0] = err("not-in-progress");
      return {};
    }
    int e = t->connect_err;
    if (e < 0) {
      if (!fd_ready(t->fd->get(), POLLOUT)) {
        out[0] = err("would-block");
        return {};
      }
      auto so = get_int(t->fd->get(), SOL_SOCKET, SO_ERROR);
      e = so ? *so : EIO;
    }
    if (e != 0) {
      t->st = TS::Closed;
      out[0] = err(connect_code(e));
      return {};
    }
    t->st = TS::Connected;
    auto [in, o] = socket_streams(st, t->fd);
    out[0] = Val::ok(Val::tuple({std::move(in), std::move(o)}));
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.start-listen", Grant::Tcp, {
    TCP_SELF
    if (t->st == TS::BindStarted || t->st == TS::ListenStarted || t->st == TS::Connecting) {
      out[0] = err("concurrency-conflict");
      return {};
    }
    if (t->st != TS::Bound) {
      out[0] = err("invalid-state");
      return {};
    }
    if (::listen(t->fd->get(), t->backlog) != 0) {
      out[0] = err(net_code(errno));
      return {};
    }
    t->st = TS::ListenStarted;
    out[0] = ok_unit();
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.finish-listen", Grant::Tcp, {
    TCP_SELF
    if (t->st != TS::ListenStarted) {
      out[0] = err("not-in-progress");
      return {};
    }
    t->st = TS::Listening;
    out[0] = ok_unit();
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.accept", Grant::Tcp, {
    TCP_SELF
    if (t->st != TS::Listening) {
      out[0] = err("invalid-state");
      return {};
    }
    int fd;
    do fd = ::accept4(t->fd->get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      out[0] = err(net_code(errno));
      return {};
    }
    TcpSocket c;
    c.fd = std::make_shared<sys::Fd>(fd);
    c.family = t->family;
    c.st = TS::Connected;
    auto [in, o] = socket_streams(st, c.fd);
    Val sock = own(st.rt_tcp, sk.tcp.add(std::move(c)));
    out[0] = Val::ok(Val::tuple({std::move(sock), std::move(in), std::move(o)}));
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.local-address", Grant::Tcp, {
    TCP_SELF
    if (t->st == TS::Unbound || t->st == TS::BindStarted || t->st == TS::Closed)
      out[0] = err("invalid-state");
    else
      out[0] = local_address(t->fd->get());
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.remote-address", Grant::Tcp, {
    TCP_SELF
    out[0] = t->st == TS::Connected ? remote_address(t->fd->get()) : err("invalid-state");
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.is-listening", Grant::Tcp, {
    TCP_SELF
    out[0] = Val::boolean(t->st == TS::Listening);
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.address-family", Grant::Tcp, {
    TCP_SELF
    out[0] = family_val(t->family);
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.set-listen-backlog-size", Grant::Tcp, {
    TCP_SELF
    if (p[1].bits == 0) {
      out[0] = err("invalid-argument");
      return {};
    }
    if (t->st == TS::Connecting || t->st == TS::Connected || t->st == TS::Closed) {
      out[0] = err("invalid-state");
      return {};
    }
    int n = clamp_int(p[1].bits, 1, INT_MAX);
    if (t->st == TS::Listening && ::listen(t->fd->get(), n) != 0) {
      out[0] = err(net_code(errno));
      return {};
    }
    t->backlog = n;
    out[0] = ok_unit();
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.keep-alive-enabled", Grant::Tcp, {
    TCP_SELF
    out[0] = get_opt(t->fd->get(), SOL_SOCKET, SO_KEEPALIVE, [](int v) { return Val::boolean(v); });
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.set-keep-alive-enabled", Grant::Tcp, {
    TCP_SELF
    out[0] = set_int(t->fd->get(), SOL_SOCKET, SO_KEEPALIVE, p[1].bits ? 1 : 0);
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.keep-alive-idle-time", Grant::Tcp, {
    TCP_SELF
    out[0] = get_opt(t->fd->get(), IPPROTO_TCP, TCP_KEEPIDLE,
                     [](int v) { return Val::u64(static_cast<uint64_t>(v) * 1000000000ull); });
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.set-keep-alive-idle-time", Grant::Tcp, {
    TCP_SELF
    out[0] = p[1].bits == 0
                 ? err("invalid-argument")
                 : set_int(t->fd->get(), IPPROTO_TCP, TCP_KEEPIDLE, keepalive_secs(p[1].bits));
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.keep-alive-interval", Grant::Tcp, {
    TCP_SELF
    out[0] = get_opt(t->fd->get(), IPPROTO_TCP, TCP_KEEPINTVL,
                     [](int v) { return Val::u64(static_cast<uint64_t>(v) * 1000000000ull); });
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.set-keep-alive-interval", Grant::Tcp, {
    TCP_SELF
    out[0] = p[1].bits == 0
                 ? err("invalid-argument")
                 : set_int(t->fd->get(), IPPROTO_TCP, TCP_KEEPINTVL, keepalive_secs(p[1].bits));
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.keep-alive-count", Grant::Tcp, {
    TCP_SELF
    out[0] = get_opt(t->fd->get(), IPPROTO_TCP, TCP_KEEPCNT,
                     [](int v) { return Val::u32(static_cast<uint32_t>(v)); });
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.set-keep-alive-count", Grant::Tcp, {
    TCP_SELF
    out[0] = p[1].bits == 0 ? err("invalid-argument")
                            : set_int(t->fd->get(), IPPROTO_TCP, TCP_KEEPCNT,
                                      clamp_int(p[1].bits, 1, kMaxKeepAliveCount));
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.hop-limit", Grant::Tcp, {
    TCP_SELF
    out[0] = get_opt(t->fd->get(), hop_level(t->family), hop_name(t->family),
                     [](int v) { return Val::u8(static_cast<uint8_t>(std::clamp(v, 0, 255))); });
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.set-hop-limit", Grant::Tcp, {
    TCP_SELF
    out[0] = p[1].bits == 0 ? err("invalid-argument")
                            : set_int(t->fd->get(), hop_level(t->family), hop_name(t->family),
                                      static_cast<int>(p[1].bits));
    return {};
  })
  for (auto [getter, setter, opt] :
       {std::tuple{"[method]tcp-socket.receive-buffer-size",
                   "[method]tcp-socket.set-receive-buffer-size", SO_RCVBUF},
        std::tuple{"[method]tcp-socket.send-buffer-size", "[method]tcp-socket.set-send-buffer-size",
                   SO_SNDBUF}}) {
    if (r = def(kTcp, getter, Grant::Tcp,
                [opt](State&, Sockets& sk, Params p, Results out) -> Result<void> {
                  TcpSocket* t = sk.tcp.get(rep_of(p[0]));
                  if (!t) return host_trap("unknown tcp-socket");
                  out[0] = get_opt(t->fd->get(), SOL_SOCKET, opt, [](int v) {
                    return Val::u64(static_cast<uint64_t>(std::max(v, 0)));
                  });
                  return {};
                });
        !r)
      return r;
    if (r = def(kTcp, setter, Grant::Tcp,
                [opt](State&, Sockets& sk, Params p, Results out) -> Result<void> {
                  TcpSocket* t = sk.tcp.get(rep_of(p[0]));
                  if (!t) return host_trap("unknown tcp-socket");
                  out[0] = p[1].bits == 0 ? err("invalid-argument")
                                          : set_int(t->fd->get(), SOL_SOCKET, opt,
                                                    clamp_int(p[1].bits, 1, INT_MAX));
                  return {};
                });
        !r)
      return r;
  }
  DEF(kTcp, "[method]tcp-socket.subscribe", Grant::Tcp, {
    TCP_SELF
    Pollable::Kind kind = Pollable::Kind::Ready;
    if (t->st == TS::Connecting && t->connect_err < 0) kind = Pollable::Kind::Writable;
    if (t->st == TS::Listening) kind = Pollable::Kind::Readable;
    out[0] = pollable_val(st, kind, t->fd);
    return {};
  })
  DEF(kTcp, "[method]tcp-socket.shutdown", Grant::Tcp, {
    TCP_SELF
    if (t->st != TS::Connected) {
      out[0] = err("invalid-state");
      return {};
    }
    int how = p[1].str == "receive" ? SHUT_RD : p[1].str == "send" ? SHUT_WR : SHUT_RDWR;
    out[0] = ::shutdown(t->fd->get(), how) == 0 ? ok_unit() : err(net_code(errno));
    return {};
  })

  // ---- udp-create-socket, udp
  using US = UdpSocket::St;
  DEF(kUdpCreate, "create-udp-socket", Grant::Udp, {
    auto fd = new_socket(p[0].str, SOCK_DGRAM);
    if (!fd) {
      out[0] = err(fd.error());
      return {};
    }
    auto u = std::make_shared<UdpSocket>();
    u->fd = *fd;
    u->family = p[0].str == "ipv6" ? AF_INET6 : AF_INET;
    out[0] = Val::ok(own(st.rt_udp, sk.udp.add(std::move(u))));
    return {};
  })
  DEF(kUdp, "[method]udp-socket.start-bind", Grant::Udp, {
    UDP_SELF
    if (u->st != US::Unbound) {
      out[0] = err(u->st == US::BindStarted ? "concurrency-conflict" : "invalid-state");
      return {};
    }
    sockaddr_storage ss;
    socklen_t len = 0;
    if (!to_sockaddr(p[2], ss, len)) return host_trap("malformed ip-socket-address");
    if (const char* bad = check_local(ss, u->family)) {
      out[0] = err(bad);
      return {};
    }
    if (::bind(u->fd->get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      out[0] = err(net_code(errno));
      return {};
    }
    u->st = US::BindStarted;
    out[0] = ok_unit();
    return {};
  })
  DEF(kUdp, "[method]udp-socket.finish-bind", Grant::Udp, {
    UDP_SELF
    if (u->st != US::BindStarted) {
      out[0] = err("not-in-progress");
      return {};
    }
    u->st = US::Bound;
    out[0] = ok_unit();
    return {};
  })
  DEF(kUdp, "[method]udp-socket.stream", Grant::Udp, {
    UDP_SELF
    if (u->st != US::Bound) {
      out[0] = err("invalid-state");
      return {};
    }
    if (p[1].is_some()) {
      sockaddr_storage ss;
      socklen_t len = 0;
      if (!to_sockaddr(*p[1].payload(), ss, len)) return host_trap("malformed ip-socket-address");
      if (const char* bad = check_remote(ss, u->family)) {
        out[0] = err(bad);
        return {};
      }
      if (::connect(u->fd->get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        out[0] = err(connect_code(errno));
        return {};
      }
      u->connected = true;
      u->remote = ss;
    } else if (u->connected) {
      sockaddr unspec{};
      unspec.sa_family = AF_UNSPEC;
      if (::connect(u->fd->get(), &unspec, sizeof unspec) != 0) {
        out[0] = err(net_code(errno));
        return {};
      }
      u->connected = false;
    }
    ++u->generation;
    Val in = own(st.rt_incoming_dgram, sk.incoming.add(DatagramStream{*up, u->generation, 0}));
    Val o = own(st.rt_outgoing_dgram, sk.outgoing.add(DatagramStream{*up, u->generation, 0}));
    out[0] = Val::ok(Val::tuple({std::move(in), std::move(o)}));
    return {};
  })
  DEF(kUdp, "[method]udp-socket.local-address", Grant::Udp, {
    UDP_SELF
    out[0] = u->st == US::Bound ? local_address(u->fd->get()) : err("invalid-state");
    return {};
  })
  DEF(kUdp, "[method]udp-socket.remote-address", Grant::Udp, {
    UDP_SELF
    out[0] = u->connected ? remote_address(u->fd->get()) : err("invalid-state");
    return {};
  })
  DEF(kUdp, "[method]udp-socket.address-family", Grant::Udp, {
    UDP_SELF
    out[0] = family_val(u->family);
    return {};
  })
  DEF(kUdp, "[method]udp-socket.unicast-hop-limit", Grant::Udp, {
    UDP_SELF
    out[0] = get_opt(u->fd->get(), hop_level(u->family), hop_name(u->family),
                     [](int v) { return Val::u8(static_cast<uint8_t>(std::clamp(v, 0, 255))); });
    return {};
  })
  DEF(kUdp, "[method]udp-socket.set-unicast-hop-limit", Grant::Udp, {
    UDP_SELF
    out[0] = p[1].bits == 0 ? err("invalid-argument")
                            : set_int(u->fd->get(), hop_level(u->family), hop_name(u->family),
                                      static_cast<int>(p[1].bits));
    return {};
  })
  for (auto [getter, setter, opt] :
       {std::tuple{"[method]udp-socket.receive-buffer-size",
                   "[method]udp-socket.set-receive-buffer-size", SO_RCVBUF},
        std::tuple{"[method]udp-socket.send-buffer-size", "[method]udp-socket.set-send-buffer-size",
                   SO_SNDBUF}}) {
    if (r = def(kUdp, getter, Grant::Udp,
                [opt](State&, Sockets& sk, Params p, Results out) -> Result<void> {
                  auto* up = sk.udp.get(rep_of(p[0]));
                  if (!up) return host_trap("unknown udp-socket");
                  out[0] = get_opt((*up)->fd->get(), SOL_SOCKET, opt, [](int v) {
                    return Val::u64(static_cast<uint64_t>(std::max(v, 0)));
                  });
                  return {};
                });
        !r)
      return r;
    if (r = def(kUdp, setter, Grant::Udp,
                [opt](State&, Sockets& sk, Params p, Results out) -> Result<void> {
                  auto* up = sk.udp.get(rep_of(p[0]));
                  if (!up) return host_trap("unknown udp-socket");
                  out[0] = p[1].bits == 0 ? err("invalid-argument")
                                          : set_int((*up)->fd->get(), SOL_SOCKET, opt,
                                                    clamp_int(p[1].bits, 1, INT_MAX));
                  return {};
                });
        !r)
      return r;
  }
  DEF(kUdp, "[method]udp-socket.subscribe", Grant::Udp, {
    UDP_SELF
    out[0] = pollable_val(st, Pollable::Kind::Ready, u->fd);
    return {};
  })
  DEF(kUdp, "[method]incoming-datagram-stream.receive", Grant::Udp, {
    DatagramStream* ds = sk.incoming.get(rep_of(p[0]));
    if (!ds) return host_trap("unknown incoming-datagram-stream");
    UdpSocket& u = *ds->socket;
    if (ds->generation != u.generation) {
      out[0] = err("invalid-state");  // a newer `stream` call replaced this stream
      return {};
    }
    std::vector<Val> got;
    uint64_t max = std::min(p[1].bits, kMaxDatagrams);
    std::vector<uint8_t> buf(65536);
    while (got.size() < max) {
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(u.fd->get(), buf.data(), buf.size(), 0,
                             reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || !got.empty()) break;
        out[0] = err(net_code(errno));
        return {};
      }
      got.push_back(Val::record({{"data", bytes_val(buf.data(), static_cast<size_t>(n))},
                                 {"remote-address", socket_address_val(from)}}));
    }
    (void)st;
    out[0] = Val::ok(Val::list(std::move(got)));
    return {};
  })
  DEF(kUdp, "[method]incoming-datagram-stream.subscribe", Grant::Udp, {
    DatagramStream* ds = sk.incoming.get(rep_of(p[0]));
    if (!ds) return host_trap("unknown incoming-datagram-stream");
    out[0] = pollable_val(st, Pollable::Kind::Readable, ds->socket->fd);
    return {};
  })
  DEF(kUdp, "[method]outgoing-datagram-stream.check-send", Grant::Udp, {
    DatagramStream* ds = sk.outgoing.get(rep_of(p[0]));
    if (!ds) return host_trap("unknown outgoing-datagram-stream");
    (void)st;
    if (ds->generation != ds->socket->generation) {
      out[0] = err("invalid-state");
      return {};
    }
    ds->permit = fd_ready(ds->socket->fd->get(), POLLOUT) ? kMaxDatagrams : 0;
    out[0] = Val::ok(Val::u64(ds->permit));
    return {};
  })
  DEF(kUdp, "[method]outgoing-datagram-stream.send", Grant::Udp, {
    DatagramStream* ds = sk.outgoing.get(rep_of(p[0]));
    if (!ds) return host_trap("unknown outgoing-datagram-stream");
    (void)st;
    const auto& list = p[1].items;
    if (list.size() > ds->permit)
      return host_trap("outgoing-datagram-stream.send: more datagrams than check-send permitted");
    ds->permit -= list.size();
    UdpSocket& u = *ds->socket;
    if (ds->generation != u.generation) {
      out[0] = err("invalid-state");
      return {};
    }
    uint64_t sent = 0;
    const char* failure = nullptr;
    for (const Val& d : list) {
      const Val* data = d.field("data");
      const Val* to = d.field("remote-address");
      if (!data || !to) return host_trap("malformed outgoing-datagram");
      sockaddr_storage ss{};
      socklen_t len = 0;
      if (to->is_some()) {
        if (!to_sockaddr(*to->payload(), ss, len)) return host_trap("malformed ip-socket-address");
        failure = check_remote(ss, u.family);
        if (!failure && u.connected && !same_address(ss, u.remote)) failure = "invalid-argument";
      } else if (!u.connected) {
        failure = "invalid-argument";
      }
      if (failure) break;
      std::vector<uint8_t> bytes = val_bytes(*data);
      ssize_t n;
      do {
        if (u.connected)
          n = ::send(u.fd->get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        else
          n = ::sendto(u.fd->get(), bytes.data(), bytes.size(), MSG_NOSIGNAL,
                       reinterpret_cast<sockaddr*>(&ss), len);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        if (errno != EAGAIN) failure = net_code(errno);
        break;
      }
      ++sent;
    }
    out[0] = failure && sent == 0 ? err(failure) : Val::ok(Val::u64(sent));
    return {};
  })
  DEF(kUdp, "[method]outgoing-datagram-stream.subscribe", Grant::Udp, {
    DatagramStream* ds = sk.outgoing.get(rep_of(p[0]));
    if (!ds) return host_trap("unknown outgoing-datagram-stream");
    out[0] = pollable_val(st, Pollable::Kind::Writable, ds->socket->fd);
    return {};
  })

  // ---- ip-name-lookup
  DEF(kLookup, "resolve-addresses", Grant::Lookup, {
    const std::string& name = p[1].str;
    ResolveStream rs;
    if (auto lit = ip_literal(name)) {
      rs.addresses.push_back(std::move(*lit));
    } else if (!valid_host_name(name)) {
      out[0] = err("invalid-argument");
      return {};
    } else {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](char c) { return static_cast<char>(std::tolower(c)); });
      rs = resolve(lower);
    }
    out[0] = Val::ok(own(st.rt_resolve, sk.resolves.add(std::move(rs))));
    return {};
  })
  DEF(kLookup, "[method]resolve-address-stream.resolve-next-address", Grant::Lookup, {
    ResolveStream* rs = sk.resolves.get(rep_of(p[0]));
    if (!rs) return host_trap("unknown resolve-address-stream");
    (void)st;
    if (rs->error) {
      out[0] = err(std::exchange(rs->error, nullptr));
    } else if (rs->next < rs->addresses.size()) {
      out[0] = Val::ok(Val::option(rs->addresses[rs->next++]));
    } else {
      out[0] = Val::ok(Val::option(std::nullopt));
    }
    return {};
  })
  DEF(kLookup, "[method]resolve-address-stream.subscribe", Grant::Lookup, {
    (void)p;
    (void)sk;
    out[0] = own(st.rt_pollable, st.pollables.add(Pollable{}));
    return {};
  })
#undef DEF
#undef TCP_SELF
#undef UDP_SELF

  // Anything else in these interfaces: refused, or not supported for an allowed kind.
  auto rest = [b](HostContext& hc, Params, Results out) -> Result<void> {
    State* s = b->get(hc);
    if (!s) return no_context();
    const std::string& name = hc.name();
    bool allowed =
        (name.find("/tcp") != std::string::npos && s->c.config.allow_tcp) ||
        (name.find("/udp") != std::string::npos && s->c.config.allow_udp) ||
        (name.find("/ip-name-lookup") != std::string::npos && s->c.config.allow_ip_name_lookup);
    return refuse(hc, out, allowed ? "not-supported" : "access-denied");
  };
  for (const char* iface : {kTcp, kTcpCreate, kUdp, kUdpCreate, kLookup}) {
    if (r = linker.func_new(iface, "*", rest); !r) return r;
  }
  return {};
}

}  // namespace flotilla::wasi::p2
