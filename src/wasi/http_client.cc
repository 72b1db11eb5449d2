#include "http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "sys.h"

namespace flotilla::wasi::http {

namespace bhttp = boost::beast::http;

std::optional<std::pair<std::string, uint16_t>> split_authority(const std::string& authority,
                                                                uint16_t default_port) {
  std::string host;
  std::string port;
  if (authority.empty()) return std::nullopt;
  if (authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(':') == colon) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    } else {
      host = authority;
    }
  }
  if (host.empty()) return std::nullopt;
  uint16_t p = default_port;
  if (!port.empty()) {
    if (port.size() > 5) return std::nullopt;
    unsigned v = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return std::nullopt;
    p = static_cast<uint16_t>(v);
  }
  return std::make_pair(host, p);
}

namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

// One client context for the process: system trust store, TLS 1.2 or later.
SSL_CTX* client_ctx() {
  static std::unique_ptr<SSL_CTX, SslCtxFree> ctx = [] {
    std::unique_ptr<SSL_CTX, SslCtxFree> c(SSL_CTX_new(TLS_client_method()));
    if (c) {
      SSL_CTX_set_min_proto_version(c.get(), TLS1_2_VERSION);
      SSL_CTX_set_default_verify_paths(c.get());
      SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);
    }
    return c;
  }();
  return ctx.get();
}

}  // namespace

namespace {

constexpr size_t kRead = 16384;

// The value of a content-length field, if it is one.
std::optional<uint64_t> parse_length(const std::string& v) {
  if (v.empty() || v.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

std::string lower_name(std::string n) {
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n;
}

}  // namespace

component::Val error_code_val(const ClientError& e) {
  using component::Val;
  if (e.code == "internal-error")
    return Val::variant(
        e.code,
        Val::option(e.payload.empty() ? std::nullopt : std::optional<Val>(Val::string(e.payload))));
  if (e.code == "HTTP-request-body-size" || e.code == "HTTP-response-body-size")
    return Val::variant(e.code, Val::option(std::nullopt));
  if (e.code == "DNS-error")
    return Val::variant(e.code, Val::record({{"rcode", Val::option(std::nullopt)},
                                             {"info-code", Val::option(std::nullopt)}}));
  return Val::variant(e.code, std::nullopt);
}

struct ClientCallImpl {
  enum class Conn { Start, Connecting, Handshake, Open, Closed } conn = Conn::Start;
  ClientRequest req;
  size_t buffer;
  sys::Fd fd;
  std::unique_ptr<SSL, SslFree> ssl;
  short handshake_want = 0;
  // ---- sending
  std::string out;
  size_t out_done = 0;
  bool head_queued = false;
  bool body_sent = false;  // the body (and its end) is in `out`, or there is none
  bool send_over = false;  // nothing more will be sent (all sent, or sending failed)
  bool chunked = false;
  std::optional<uint64_t> length;  // the guest's content-length
  uint64_t body_bytes = 0;
  bool write_wants_read = false;  // TLS: the last write needs the socket readable
  // ---- receiving
  std::string in;
  bhttp::response_parser<bhttp::buffer_body> parser;
  bool head_done = false;
  size_t head_fields = 0;  // fields of the head; those after them are trailers
  std::weak_ptr<Pipe> response;
  bool read_wants_write = false;  // TLS: the last read needs the socket writable
  bool read_blocked = false;      // the last read found nothing
  bool paused = false;            // the last read waited for room in the response pipe
  // ---- outcome
  std::optional<uint64_t> deadline;
  enum class Deadline { None, Connect, FirstByte, Between } deadline_kind = Deadline::None;
  ClientResult result;
  bool result_ready = false;

  ClientCallImpl(ClientRequest r, size_t buf) : req(std::move(r)), buffer(buf) {
    // The body streams through a bounded pipe: no limit. (Not boost::none: Boost 1.74 compares
    // the content-length with the optional, and any number is greater than none.)
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    parser.eager(true);
    if (req.method == "HEAD") parser.skip(true);
  }

  void set_deadline(Deadline kind, const std::optional<uint64_t>& ns) {
    deadline_kind = ns ? kind : Deadline::None;
    deadline = ns ? std::optional<uint64_t>(p2::monotonic_now() + *ns) : std::nullopt;
  }

  void close_connection() {
    conn = Conn::Closed;
    deadline.reset();
    ssl.reset();
    fd.reset();
    if (req.body && !req.body->closed()) req.body->drop_reader();
  }

  // The call failed: before the response head, the future's error; after it, the response
  // body breaks.
  void fail(std::string code, std::string payload = {}) {
    if (!head_done) {
      if (!result_ready) result.error = ClientError{code, payload};
      result_ready = true;
    } else if (auto pipe = response.lock()) {
      pipe->close("the response body broke: " + code + (payload.empty() ? "" : ": " + payload));
    }
    close_connection();
  }

  void start_connect() {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    std::string port = std::to_string(req.port);
    int rc = ::getaddrinfo(req.host.c_str(), port.c_str(), &hints, &list);
    if (rc != 0 || !list) {
      if (list) ::freeaddrinfo(list);
      return fail("DNS-error");
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(list, ::freeaddrinfo);
    fd = sys::Fd(::socket(list->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail("internal-error", std::strerror(errno));
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd.get(), list->ai_addr, list->ai_addrlen) != 0 && errno != EINPROGRESS)
      return connect_failed(errno);
    set_deadline(Deadline::Connect, req.connect_timeout_ns);
    conn = Conn::Connecting;
  }

  void connect_failed(int err) {
    if (err == ECONNREFUSED) return fail("connection-refused");
    if (err == ETIMEDOUT) return fail("connection-timeout");
    if (err == ENETUNREACH || err == EHOSTUNREACH) return fail("destination-unavailable");
    fail("internal-error", std::strerror(err));
  }

  void queue_head() {
    out = req.method + " " + req.path + " HTTP/1.1\r\nhost: " + req.authority + "\r\n";
    for (const auto& h : req.headers) {
      std::string n = lower_name(h.name);
      if (forbidden_header(n)) continue;
      if (n == "content-length") {
        if (!req.body) continue;  // no body: the length is ours to say
        length = parse_length(h.value);
        if (!length) {
          fail("HTTP-request-body-size");
          return;
        }
      }
      out += h.name + ": " + h.value + "\r\n";
    }
    if (!req.body) {
      if (req.method == "POST" || req.method == "PUT") out += "content-length: 0\r\n";
      body_sent = true;
    } else if (!length) {
      chunked = true;
      out += "transfer-encoding: chunked\r\n";
    }
    out += "connection: close\r\n\r\n";
    head_queued = true;
  }

  // Moves what the guest has written of the body into `out` (only once `out` went out: the
  // pipe's bounded room is what holds the guest back).
  void fill() {
    if (body_sent || !req.body || out_done < out.size()) return;
    out.clear();
    out_done = 0;
    std::string data = req.body->take();
    if (!data.empty()) {
      body_bytes += data.size();
      if (length && body_bytes > *length) return fail("HTTP-request-body-size");
      if (chunked) {
        char len[24];
        std::snprintf(len, sizeof len, "%zx\r\n", data.size());
        out += len;
        out += data;
        out += "\r\n";
      } else {
        out = std::move(data);
      }
    }
    if (req.body->closed() && req.body->size() == 0) {
      if (req.body->error()) return fail("HTTP-request-body-size");  // dropped half-written
      if (length && body_bytes != *length) return fail("HTTP-request-body-size");
      if (chunked) {
        out += "0\r\n";
        if (const auto& t = req.body->trailers())
          for (const auto& h : *t) out += h.name + ": " + h.value + "\r\n";
        out += "\r\n";
      }
      body_sent = true;
    }
  }

  // Sends what it can; false when the call ended.
  bool send() {
    write_wants_read = false;
    for (;;) {
      fill();
      if (conn == Conn::Closed) return false;
      if (out_done == out.size()) {
        if (body_sent) send_over = true;
        return true;
      }
      size_t n = 0;
      if (ssl) {
        int rc = SSL_write_ex(ssl.get(), out.data() + out_done, out.size() - out_done, &n);
        if (rc <= 0) {
          int e = SSL_get_error(ssl.get(), rc);
          if (e == SSL_ERROR_WANT_READ) write_wants_read = true;
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
          return send_failed();
        }
      } else {
        ssize_t w = ::send(fd.get(), out.data() + out_done, out.size() - out_done, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN) return true;
          return send_failed();
        }
        n = static_cast<size_t>(w);
      }
      out_done += n;
    }
  }

  // The server stopped taking the request (it may have answered already and closed): what it
  // said, if anything, is still read.
  bool send_failed() {
    send_over = true;
    out.clear();
    out_done = 0;
    if (req.body) req.body->drop_reader();
    return true;
  }

  // Parses what was read; false when the call ended.
  bool parse() {
    while (!in.empty() && !parser.is_done()) {
      boost::beast::error_code ec;
      size_t used = 0, got = 0;
      std::shared_ptr<Pipe> pipe;
      std::vector<char> chunk;
      if (head_done) {
        pipe = response.lock();
        if (!pipe || pipe->reader_gone()) {  // the guest dropped the body: stop here
          if (pipe) pipe->close();
          close_connection();
          return false;
        }
        size_t room = std::min(pipe->space(), kRead);
        if (room == 0) {  // the guest must read first
          paused = true;
          return true;
        }
        chunk.resize(room);
        parser.get().body().data = chunk.data();
        parser.get().body().size = room;
        parser.get().body().more = true;
        used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
        got = room - parser.get().body().size;
        if (got) pipe->push(reinterpret_cast<const uint8_t*>(chunk.data()), got);
      } else {
        parser.get().body().data = nullptr;
        parser.get().body().size = 0;
        used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
      }
      in.erase(0, used);
      if (ec == bhttp::error::need_buffer) ec = {};
      bool need_more = ec == bhttp::error::need_more;
      if (need_more) ec = {};
      if (ec) {
        fail("HTTP-protocol-error", ec.message());
        return false;
      }
      if (!head_done && parser.is_header_done()) on_head();
      if (parser.is_done()) {
        on_end();
        return false;
      }
      if (need_more || (used == 0 && got == 0)) return true;
    }
    return true;
  }

  void on_head() {
    head_done = true;
    auto& msg = parser.get();
    result.status = static_cast<uint16_t>(msg.result_int());
    for (const auto& f : msg) {
      result.headers.push_back({std::string(f.name_string()), std::string(f.value())});
      ++head_fields;
    }
    auto pipe = std::make_shared<Pipe>(buffer);
    result.body = pipe;
    response = pipe;
    result_ready = true;
    set_deadline(Deadline::Between, req.between_bytes_timeout_ns);
  }

  void on_end() {
    auto pipe = response.lock();
    if (pipe) {
      std::vector<Header> trailers;
      size_t i = 0;
      for (const auto& f : parser.get()) {
        if (i++ < head_fields) continue;
        std::string name(f.name_string());
        if (forbidden_header(lower_name(name))) continue;
        trailers.push_back({std::move(name), std::string(f.value())});
      }
      if (!trailers.empty()) pipe->set_trailers(std::move(trailers));
      pipe->close();
    }
    close_connection();
  }

  // Reads and parses while there is room; false when the call ended.
  bool receive() {
    read_wants_write = false;
    read_blocked = false;
    for (;;) {
      if (!parse()) return false;
      if (head_done) {
        auto pipe = response.lock();
        if (!pipe || pipe->reader_gone()) return parse();  // closes the connection
        if (pipe->space() == 0) {                          // paused until the guest reads
          paused = true;
          return true;
        }
      }
      char buf[kRead];
      size_t n = 0;
      if (ssl) {
        int rc = SSL_read_ex(ssl.get(), buf, sizeof buf, &n);
        if (rc <= 0) {
          int e = SSL_get_error(ssl.get(), rc);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            read_wants_write = e == SSL_ERROR_WANT_WRITE;
            read_blocked = true;
            return true;
          }
          n = 0;  // closed (cleanly or not): the parser decides if that was the end
        }
      } else {
        ssize_t r = ::recv(fd.get(), buf, sizeof buf, 0);
        if (r < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN) {
            read_blocked = true;
            return true;
          }
          fail("connection-terminated");
          return false;
        }
        n = static_cast<size_t>(r);
      }
      if (n == 0) {
        boost::beast::error_code ec;
        parser.put_eof(ec);
        if (ec || !parser.is_done()) {
          fail("HTTP-response-incomplete");
          return false;
        }
        if (!head_done) on_head();
        on_end();
        return false;
      }
      if (!head_done)
        set_deadline(Deadline::FirstByte, std::nullopt);
      else
        set_deadline(Deadline::Between, req.between_bytes_timeout_ns);
      in.append(buf, n);
    }
  }

  // Advances as far as possible without blocking.
  void step() {
    for (;;) {
      if (conn == Conn::Closed) return;
      if (paused && deadline_kind == Deadline::Between) {
        // The time the guest took to make room does not count as time between bytes.
        paused = false;
        set_deadline(Deadline::Between, req.between_bytes_timeout_ns);
      }
      if (deadline && p2::monotonic_now() >= *deadline) {
        if (deadline_kind == Deadline::Connect) return fail("connection-timeout");
        return fail("connection-read-timeout");
      }
      switch (conn) {
        case Conn::Start:
          start_connect();
          continue;
        case Conn::Connecting: {
          pollfd p{fd.get(), POLLOUT, 0};
          if (::poll(&p, 1, 0) <= 0) return;
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
          if (err) return connect_failed(err);
          set_deadline(Deadline::FirstByte, req.first_byte_timeout_ns);
          queue_head();
          if (conn == Conn::Closed) return;
          if (req.scheme == "https") {
            SSL_CTX* ctx = client_ctx();
            if (!ctx) return fail("internal-error", "TLS is not available");
            ssl.reset(SSL_new(ctx));
            if (!ssl) return fail("internal-error", "TLS is not available");
            SSL_set_mode(ssl.get(),
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
            SSL_set_fd(ssl.get(), fd.get());
            SSL_set_tlsext_host_name(ssl.get(), req.host.c_str());
            SSL_set1_host(ssl.get(), req.host.c_str());
            conn = Conn::Handshake;
          } else {
            conn = Conn::Open;
          }
          continue;
        }
        case Conn::Handshake: {
          int rc = SSL_connect(ssl.get());
          if (rc == 1) {
            conn = Conn::Open;
            continue;
          }
          int e = SSL_get_error(ssl.get(), rc);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            handshake_want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
            return;
          }
          if (SSL_get_verify_result(ssl.get()) != X509_V_OK) return fail("TLS-certificate-error");
          return fail("TLS-protocol-error");
        }
        case Conn::Open:
          if (!send_over && !send()) return;
          if (conn == Conn::Closed) return;
          receive();
          return;
        case Conn::Closed:
          return;
      }
    }
  }

  pollfd watch() const {
    switch (conn) {
      case Conn::Connecting:
        return {fd.get(), POLLOUT, 0};
      case Conn::Handshake:
        return {fd.get(), handshake_want, 0};
      case Conn::Open: {
        short ev = 0;
        if (!send_over && out_done < out.size()) ev |= write_wants_read ? POLLIN : POLLOUT;
        bool room = !head_done;
        if (head_done)
          if (auto pipe = response.lock()) room = pipe->space() > 0 && !pipe->reader_gone();
        if (room && read_blocked) ev |= read_wants_write ? POLLOUT : POLLIN;
        if (!ev) return {-1, 0, 0};
        return {fd.get(), ev, 0};
      }
      default:
        return {-1, 0, 0};
    }
  }
};

namespace {

// Moves a call's connection on for the pipes of its bodies.
class Driver final : public p2::PollSource {
 public:
  explicit Driver(std::shared_ptr<ClientCallImpl> impl) : impl_(std::move(impl)) {}
  bool ready() override {
    impl_->step();
    return impl_->conn == ClientCallImpl::Conn::Closed;
  }
  pollfd watch() override { return impl_->watch(); }
  std::optional<uint64_t> deadline_ns() override { return impl_->deadline; }

 private:
  std::shared_ptr<ClientCallImpl> impl_;
};

}  // namespace

ClientCall::ClientCall(ClientRequest request, size_t buffer)
    : impl_(std::make_shared<ClientCallImpl>(std::move(request), buffer)),
      driver_(std::make_shared<Driver>(impl_)) {
  if (auto& body = impl_->req.body) {
    // From now on the guest's writes go out as they come: room for one buffer.
    body->set_capacity(buffer);
    body->set_weak_driver(driver_);
  }
}
ClientCall::~ClientCall() = default;

bool ClientCall::ready() {
  impl_->step();
  return impl_->result_ready;
}

pollfd ClientCall::watch() {
  pollfd w = impl_->watch();
  if (w.fd < 0 && impl_->req.body && !impl_->body_sent)  // waiting for the guest's body
    return {impl_->req.body->readable_fd(), POLLIN, 0};
  return w;
}

std::optional<uint64_t> ClientCall::deadline_ns() { return impl_->deadline; }

ClientResult& ClientCall::result() { return impl_->result; }

}  // namespace flotilla::wasi::http
