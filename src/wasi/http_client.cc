#include "http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <cstring>

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

struct ClientCallImpl {
  enum class Phase { Body, Connect, Handshake, Send, Receive, Done } phase = Phase::Body;
  ClientRequest req;
  size_t max_body;
  std::string request_body;
  sys::Fd fd;
  std::unique_ptr<SSL, SslFree> ssl;
  short want = 0;  // events the current phase waits for
  std::string out;
  size_t out_done = 0;
  std::string in;
  bhttp::response_parser<bhttp::string_body> parser;
  std::optional<uint64_t> deadline;
  ClientResult result;

  ClientCallImpl(ClientRequest r, size_t max) : req(std::move(r)), max_body(max) {
    parser.body_limit(max_body);
    parser.eager(true);
    if (req.method == "HEAD") parser.skip(true);
  }

  void fail(std::string code, std::string payload = {}) {
    result.error = ClientError{std::move(code), std::move(payload)};
    phase = Phase::Done;
    ssl.reset();
    fd.reset();
  }

  void start_connect() {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    std::string port = std::to_string(req.port);
    int rc = ::getaddrinfo(req.host.c_str(), port.c_str(), &hints, &list);
    if (rc != 0 || !list) {
      if (list) ::freeaddrinfo(list);
      fail("DNS-error");
      return;
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(list, ::freeaddrinfo);
    fd = sys::Fd(::socket(list->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      fail("internal-error", std::strerror(errno));
      return;
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd.get(), list->ai_addr, list->ai_addrlen) != 0 && errno != EINPROGRESS) {
      connect_failed(errno);
      return;
    }
    if (req.connect_timeout_ns) deadline = p2::monotonic_now() + *req.connect_timeout_ns;
    phase = Phase::Connect;
    want = POLLOUT;
  }

  void connect_failed(int err) {
    if (err == ECONNREFUSED) return fail("connection-refused");
    if (err == ETIMEDOUT) return fail("connection-timeout");
    if (err == ENETUNREACH || err == EHOSTUNREACH) return fail("destination-unavailable");
    fail("internal-error", std::strerror(err));
  }

  void build_request() {
    out = req.method + " " + req.path + " HTTP/1.1\r\nhost: " + req.authority + "\r\n";
    for (const auto& h : req.headers) {
      std::string n = h.name;
      for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (n == "content-length" || forbidden_header(n)) continue;
      out += h.name + ": " + h.value + "\r\n";
    }
    if (!request_body.empty() || req.method == "POST" || req.method == "PUT")
      out += "content-length: " + std::to_string(request_body.size()) + "\r\n";
    out += "connection: close\r\n\r\n";
    out += request_body;
    request_body.clear();
  }

  // Advances as far as possible without blocking.
  void step() {
    for (;;) {
      if (deadline && phase != Phase::Done && p2::monotonic_now() >= *deadline)
        return fail(phase == Phase::Receive ? "connection-read-timeout" : "connection-timeout");
      switch (phase) {
        case Phase::Body:
          if (req.body) {
            request_body += req.body->take();
            if (!req.body->closed()) return;  // the guest is still writing it
            if (req.body->error()) return fail("HTTP-request-body-size", "");
          }
          start_connect();
          continue;
        case Phase::Connect: {
          pollfd p{fd.get(), POLLOUT, 0};
          if (::poll(&p, 1, 0) <= 0) return;
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
          if (err) return connect_failed(err);
          deadline.reset();
          if (req.first_byte_timeout_ns)
            deadline = p2::monotonic_now() + *req.first_byte_timeout_ns;
          build_request();
          if (req.scheme == "https") {
            SSL_CTX* ctx = client_ctx();
            if (!ctx) return fail("internal-error", "TLS is not available");
            ssl.reset(SSL_new(ctx));
            if (!ssl) return fail("internal-error", "TLS is not available");
            SSL_set_fd(ssl.get(), fd.get());
            SSL_set_tlsext_host_name(ssl.get(), req.host.c_str());
            SSL_set1_host(ssl.get(), req.host.c_str());
            phase = Phase::Handshake;
          } else {
            phase = Phase::Send;
          }
          continue;
        }
        case Phase::Handshake: {
          int rc = SSL_connect(ssl.get());
          if (rc == 1) {
            phase = Phase::Send;
            continue;
          }
          int e = SSL_get_error(ssl.get(), rc);
          if (e == SSL_ERROR_WANT_READ) {
            want = POLLIN;
            return;
          }
          if (e == SSL_ERROR_WANT_WRITE) {
            want = POLLOUT;
            return;
          }
          if (SSL_get_verify_result(ssl.get()) != X509_V_OK) return fail("TLS-certificate-error");
          return fail("TLS-protocol-error");
        }
        case Phase::Send: {
          while (out_done < out.size()) {
            ssize_t n;
            if (ssl) {
              size_t w = 0;
              int rc = SSL_write_ex(ssl.get(), out.data() + out_done, out.size() - out_done, &w);
              if (rc <= 0) {
                int e = SSL_get_error(ssl.get(), rc);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                  want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
                  return;
                }
                return fail("connection-terminated");
              }
              n = static_cast<ssize_t>(w);
            } else {
              n = ::send(fd.get(), out.data() + out_done, out.size() - out_done, MSG_NOSIGNAL);
              if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) {
                  want = POLLOUT;
                  return;
                }
                return fail("connection-terminated");
              }
            }
            out_done += static_cast<size_t>(n);
          }
          out.clear();
          phase = Phase::Receive;
          want = POLLIN;
          continue;
        }
        case Phase::Receive: {
          char buf[16384];
          ssize_t n;
          if (ssl) {
            size_t got = 0;
            int rc = SSL_read_ex(ssl.get(), buf, sizeof buf, &got);
            if (rc <= 0) {
              int e = SSL_get_error(ssl.get(), rc);
              if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
                return;
              }
              n = 0;  // closed (cleanly or not): the parser decides if that was the end
            } else {
              n = static_cast<ssize_t>(got);
            }
          } else {
            n = ::recv(fd.get(), buf, sizeof buf, 0);
            if (n < 0) {
              if (errno == EINTR) continue;
              if (errno == EAGAIN) {
                want = POLLIN;
                return;
              }
              return fail("connection-terminated");
            }
          }
          boost::beast::error_code ec;
          if (n == 0) {
            parser.put_eof(ec);
            if (ec || !parser.is_done()) return fail("HTTP-response-incomplete");
            return finish();
          }
          deadline.reset();
          in.append(buf, static_cast<size_t>(n));
          while (!in.empty() && !parser.is_done()) {
            size_t used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
            in.erase(0, used);
            if (ec == bhttp::error::need_more) {
              ec = {};
              break;
            }
            if (ec == bhttp::error::body_limit) return fail("HTTP-response-body-size");
            if (ec) return fail("HTTP-protocol-error");
            if (used == 0) break;
          }
          if (parser.is_done()) return finish();
          continue;
        }
        case Phase::Done:
          return;
      }
    }
  }

  void finish() {
    auto& msg = parser.get();
    result.status = static_cast<uint16_t>(msg.result_int());
    for (const auto& f : msg)
      result.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    result.body = std::make_shared<Pipe>(max_body);
    result.body->push(std::move(msg.body()));
    result.body->close();
    phase = Phase::Done;
    ssl.reset();
    fd.reset();
  }
};

ClientCall::ClientCall(ClientRequest request, size_t max_body)
    : impl_(std::make_unique<ClientCallImpl>(std::move(request), max_body)) {}
ClientCall::~ClientCall() = default;

bool ClientCall::ready() {
  impl_->step();
  return impl_->phase == ClientCallImpl::Phase::Done;
}

pollfd ClientCall::watch() {
  if (impl_->phase == ClientCallImpl::Phase::Body && impl_->req.body)
    return {impl_->req.body->readable_fd(), POLLIN, 0};
  if (impl_->fd) return {impl_->fd.get(), impl_->want, 0};
  return {-1, 0, 0};
}

std::optional<uint64_t> ClientCall::deadline_ns() { return impl_->deadline; }

ClientResult& ClientCall::result() { return impl_->result; }

}  // namespace flotilla::wasi::http
