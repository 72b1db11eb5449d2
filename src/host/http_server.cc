#include <flotilla/host/http_server.h>
#include <flotilla/host/scheduler.h>
#include <flotilla/wasi/wasi.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <list>
#include <mutex>
#include <thread>

namespace flotilla::host {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace whttp = wasi::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

namespace {

constexpr size_t kChunk = 64 * 1024;

engine::Error config_error(std::string msg) {
  engine::Error e;
  e.kind = engine::ErrorKind::Usage;
  e.message = std::move(msg);
  return e;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// What a connection and the guest serving its current request share. Everything runs on the
// worker's thread; `wake` (a timer that never expires) is cancelled to wake the connection.
struct Sync {
  asio::steady_timer wake;
  bool guest_done = false;
  std::optional<engine::Error> guest_error;
  bool request_done = false;       // the request body was read to its end (or failed)
  std::optional<unsigned> refuse;  // the request body failed: answer this status
  engine::Store* store = nullptr;  // the guest's store while it lives
  bool optimized = false;          // the guest's instance runs optimized code only
  bool timed_out = false;          // the deadline passed while the guest was alive
  explicit Sync(asio::io_context& io) : wake(io, asio::steady_timer::time_point::max()) {}
  void notify() { wake.cancel(); }
};

awaitable<void> wait(Sync& s) {
  beast::error_code ec;
  co_await s.wake.async_wait(asio::redirect_error(use_awaitable, ec));
}

std::string simple_response(unsigned status, const std::string& text, bool keep_alive) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + whttp::reason_phrase(status) +
                  "\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: " +
                  std::to_string(text.size()) + "\r\n";
  if (!keep_alive) r += "connection: close\r\n";
  r += "\r\n";
  r += text;
  return r;
}

}  // namespace

struct Worker;

class HttpServerImpl {
 public:
  engine::Engine& engine;
  component::Component component;
  ServeConfig config;
  std::string handler_name;  // the export to call
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<bool> stopping{false};
  std::vector<engine::Module> modules;  // the component's core modules (their tiers)
  std::atomic<bool> all_optimized{false};
  std::atomic<uint64_t> requests{0}, errors_4xx{0}, errors_5xx{0}, traps{0}, timeouts{0},
      optimized_requests{0}, instances{0}, reused{0};

  HttpServerImpl(engine::Engine& e, component::Component c, ServeConfig cfg)
      : engine(e), component(std::move(c)), config(std::move(cfg)) {}

  void count(unsigned status, bool trap, bool timeout, bool optimized = false) {
    constexpr auto relaxed = std::memory_order_relaxed;
    requests.fetch_add(1, relaxed);
    if (status >= 400 && status < 500) errors_4xx.fetch_add(1, relaxed);
    if (status >= 500) errors_5xx.fetch_add(1, relaxed);
    if (trap) traps.fetch_add(1, relaxed);
    if (timeout) timeouts.fetch_add(1, relaxed);
    if (optimized) optimized_requests.fetch_add(1, relaxed);
  }

  // Called before each instantiation: true when every core module runs its optimized tier
  // (a module switches once, from baseline to optimized, in the background). The first time
  // it is true, config.on_optimized learns how many instances came before.
  bool optimized_now() {
    if (all_optimized.load(std::memory_order_acquire)) return true;
    for (const auto& m : modules) {
      if (m.current_tier() != engine::Tier::Optimized) return false;
    }
    if (!all_optimized.exchange(true) && config.on_optimized)
      config.on_optimized(instances.load(std::memory_order_relaxed));
    return true;
  }
};

struct Conn {
  beast::tcp_stream* stream;
  bool idle = true;
};

struct Worker {
  HttpServerImpl& srv;
  asio::io_context io{1};
  Scheduler sched{io, 2u << 20};
  component::Linker linker;
  std::shared_ptr<whttp::Host> http;
  component::InstancePre pre;  // the component linked once; instantiated per request
  std::shared_ptr<wasi::Ctx> ctx;
  tcp::acceptor acceptor{io};
  std::list<Conn> conns;
  bool stopping = false;
  std::thread thread;
  // Request deadlines, oldest first (every request gets the same timeout, so this is also
  // deadline order), behind one timer armed for the oldest: a timer per request cost a heap
  // allocation, two timer-queue updates and a cancelled handler each.
  struct Guarded {
    std::chrono::steady_clock::time_point at;
    std::weak_ptr<Sync> sync;
  };
  std::deque<Guarded> guarded;
  asio::steady_timer guard_timer{io};
  bool guard_armed = false;
  size_t guard_compact_at = 1024;

  explicit Worker(HttpServerImpl& s) : srv(s) {}

  static bool finished(const Guarded& g) {
    auto p = g.sync.lock();
    return !p || p->guest_done;
  }
  // A guest still alive at its deadline while waiting (not running: running code is
  // interrupted by the engine) gets its streams broken so that it wakes up and ends.
  void guard(const std::shared_ptr<Sync>& sync) {
    while (!guarded.empty() && finished(guarded.front())) guarded.pop_front();
    if (guarded.size() >= guard_compact_at) {  // an old request holds the front: drop the rest
      std::erase_if(guarded, finished);
      guard_compact_at = std::max<size_t>(1024, 2 * guarded.size());
    }
    guarded.push_back({std::chrono::steady_clock::now() + srv.config.request_timeout, sync});
    if (!guard_armed) arm_guard();
  }
  // Shutting down: the deadline timer must not keep the loop running once no guest is left.
  void release_guard() {
    while (!guarded.empty() && finished(guarded.front())) guarded.pop_front();
    if (guarded.empty() && guard_armed) guard_timer.cancel();
  }
  void arm_guard() {
    guard_armed = true;
    guard_timer.expires_at(guarded.front().at);
    guard_timer.async_wait([this](const boost::system::error_code& e) {
      guard_armed = false;
      if (e) return;
      auto now = std::chrono::steady_clock::now();
      while (!guarded.empty()) {
        const Guarded& g = guarded.front();
        auto p = g.sync.lock();
        if (p && !p->guest_done) {
          if (g.at > now) break;
          p->timed_out = true;
          if (p->store) http->abort(*p->store, "the request ran out of time");
          p->notify();
        }
        guarded.pop_front();
      }
      if (!guarded.empty()) arm_guard();
    });
  }

  engine::Result<void> init() {
    auto h = whttp::Host::define(linker, srv.config.policy);
    if (!h) return Unexpected(h.error());
    http = *h;
    auto p = linker.instantiate_pre(srv.component);
    if (!p) return Unexpected(p.error());
    pre = std::move(*p);
    wasi::Config wc;
    wc.stdin_fd = -1;
    wc.stdout_fd = srv.config.guest_stdout;
    wc.stderr_fd = srv.config.guest_stderr;
    wc.waiter = sched.waiter();
    auto c = wasi::Ctx::create(std::move(wc));
    if (!c) return Unexpected(c.error());
    ctx = *c;
    return {};
  }

  // A guest instance with its store, between requests (see ServeConfig::reuse_instances).
  struct Guest {
    std::unique_ptr<engine::Store> store;
    component::Instance inst;
    component::Func handler;
    bool optimized = false;  // made when every module ran its optimized tier
  };
  std::vector<std::unique_ptr<Guest>> idle;  // served a request without error; not reset yet
  static constexpr size_t kIdleMax = 8;

  // An instance for the next request, its deadline set: an idle one reset to its initial
  // state (under that deadline: a start function runs again), else a fresh one.
  engine::Result<std::unique_ptr<Guest>> take_guest(const std::shared_ptr<Sync>& sync) {
    const bool optimized = srv.optimized_now();
    while (!idle.empty()) {
      std::unique_ptr<Guest> g = std::move(idle.back());
      idle.pop_back();
      if (g->optimized != optimized) continue;  // made before the tier switch: dropped
      g->store->set_timeout(srv.config.request_timeout);
      sync->store = g->store.get();
      if (g->inst.reset(*g->store)) {
        srv.reused.fetch_add(1, std::memory_order_relaxed);
        return g;
      }
      sync->store = nullptr;  // dropped; a fresh instance follows
    }
    auto g = std::make_unique<Guest>();
    g->store = std::make_unique<engine::Store>(srv.engine, srv.config.limits);
    g->store->set_timeout(srv.config.request_timeout);
    wasi::bind(*g->store, ctx);
    g->optimized = optimized;
    sync->store = g->store.get();
    auto inst = pre.instantiate(*g->store);
    if (!inst) return Unexpected(inst.error());
    auto f = inst->get_func(srv.handler_name);
    if (!f) return Unexpected(f.error());
    g->inst = std::move(*inst);
    g->handler = std::move(*f);
    return g;
  }

  // After a request: an instance that served it without error goes idle, its WASI and HTTP
  // state dropped at once (unfinished bodies are closed as broken); any other is dropped.
  void put_guest(std::unique_ptr<Guest> g, bool clean) {
    if (!clean || stopping || !srv.config.reuse_instances || idle.size() >= kIdleMax) return;
    wasi::bind(*g->store, ctx);
    g->store->clear_deadline();
    idle.push_back(std::move(g));
  }

  // Runs the guest for one request on a fiber; `sync` learns when it is done.
  void start_guest(const std::shared_ptr<whttp::Exchange>& ex, const std::shared_ptr<Sync>& sync) {
    sched.spawn([this, ex, sync] {
      {
        srv.instances.fetch_add(1, std::memory_order_relaxed);
        auto g = take_guest(sync);
        if (!g) {
          sync->guest_error = g.error();
        } else {
          sync->optimized = (*g)->optimized;
          auto r = http->handle(*(*g)->store, (*g)->handler, ex);
          if (!r) sync->guest_error = r.error();
          put_guest(std::move(*g), r.has_value() && !sync->timed_out);
        }
        sync->store = nullptr;
      }  // a store not kept goes: unfinished bodies are closed as broken
      sync->guest_done = true;
      sync->notify();
      if (stopping) {
        idle.clear();
        release_guard();
      }
    });
  }

  awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) co_return;
        continue;  // e.g. too many open files: keep serving the others
      }
      sock.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(io, session(std::move(sock)), asio::detached);
    }
  }

  // The end of a chunked body, with the trailers the guest gave (names and values were checked
  // when the guest set them).
  static std::string last_chunk(const whttp::Pipe& body) {
    std::string out = "0\r\n";
    if (const auto& t = body.trailers())
      for (const auto& h : *t) out += h.name + ": " + h.value + "\r\n";
    out += "\r\n";
    return out;
  }

  awaitable<void> write_all(beast::tcp_stream& stream, const std::string& data, bool& broken) {
    beast::error_code ec;
    stream.expires_after(srv.config.idle_timeout);
    co_await asio::async_write(stream, asio::buffer(data), asio::redirect_error(use_awaitable, ec));
    if (ec) broken = true;
  }

  // Reads the request body into the pipe the guest reads, as the guest makes room.
  awaitable<void> pump_request(beast::tcp_stream& stream, beast::flat_buffer& buf,
                               bhttp::request_parser<bhttp::buffer_body>& parser,
                               std::shared_ptr<whttp::Pipe> body, std::shared_ptr<Sync> sync,
                               size_t head_fields) {
    std::vector<char> chunk(kChunk);
    while (!parser.is_done()) {
      if (body->reader_gone()) break;
      size_t room = std::min(body->space(), chunk.size());
      if (room == 0) {
        co_await wait(*sync);
        continue;
      }
      parser.get().body().data = chunk.data();
      parser.get().body().size = room;
      parser.get().body().more = true;
      beast::error_code ec;
      stream.expires_after(srv.config.idle_timeout);
      // read_some: whatever part of the body has arrived goes to the guest now (async_read
      // would hold it back until the chunk is full or the body complete).
      co_await bhttp::async_read_some(stream, buf, parser, asio::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      size_t got = room - parser.get().body().size;
      if (got) body->push(reinterpret_cast<const uint8_t*>(chunk.data()), got);
      if (ec) {
        if (ec == bhttp::error::body_limit) {
          sync->refuse = 413;
          body->close("the request body is larger than the server allows");
        } else {
          body->close("the client stopped sending the request body: " + ec.message());
        }
        break;
      }
    }
    if (parser.is_done()) {
      // A chunked body's trailer fields follow the head's in the parsed message.
      std::vector<whttp::Header> trailers;
      size_t i = 0;
      for (const auto& f : parser.get()) {
        if (i++ < head_fields) continue;
        std::string name(f.name_string());
        if (whttp::forbidden_header(lower(name))) continue;
        trailers.push_back({std::move(name), std::string(f.value())});
      }
      if (!trailers.empty()) body->set_trailers(std::move(trailers));
      body->close();
    }
    sync->request_done = true;
    sync->notify();
  }

  awaitable<void> session(tcp::socket sock) {
    beast::tcp_stream stream(std::move(sock));
    beast::flat_buffer buf;
    conns.push_back(Conn{&stream, true});
    auto me = std::prev(conns.end());
    for (;;) {
      if (stopping) break;
      me->idle = true;
      bhttp::request_parser<bhttp::buffer_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(srv.config.max_body);
      beast::error_code ec;
      stream.expires_after(srv.config.idle_timeout);
      co_await bhttp::async_read_header(stream, buf, parser,
                                        asio::redirect_error(use_awaitable, ec));
      me->idle = false;
      if (ec) {
        if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
            ec == beast::error::timeout || ec == asio::error::operation_aborted ||
            ec == asio::error::connection_reset || stopping)
          break;
        unsigned status = ec == bhttp::error::header_limit ? 431 : 400;
        if (ec == bhttp::error::body_limit) status = 413;
        bool broken = false;
        co_await write_all(
            stream, simple_response(status, "bad request: " + ec.message() + "\n", false), broken);
        srv.count(status, false, false);
        break;
      }
      bool keep = co_await exchange(stream, buf, parser);
      if (!keep) break;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
    conns.erase(me);
  }

  // Serves one request whose header has been read; false: close the connection.
  awaitable<bool> exchange(beast::tcp_stream& stream, beast::flat_buffer& buf,
                           bhttp::request_parser<bhttp::buffer_body>& parser) {
    auto& hdr = parser.get();
    auto ex = std::make_shared<whttp::Exchange>();
    whttp::Request& req = ex->request;
    req.method = std::string(hdr.method_string());
    std::string target(hdr.target());
    req.authority = std::string(hdr[bhttp::field::host]);
    if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
      size_t start = target.find("//") + 2;
      size_t slash = target.find('/', start);
      req.authority =
          target.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      target = slash == std::string::npos ? "/" : target.substr(slash);
    }
    bool bad_target = target.empty() || (target[0] != '/' && target != "*");
    if (bad_target || hdr.version() < 10 || hdr.version() > 11) {
      bool broken = false;
      co_await write_all(
          stream, simple_response(400, "bad request: invalid request target\n", false), broken);
      srv.count(400, false, false);
      co_return false;
    }
    req.path_with_query = target;
    size_t head_fields = 0;
    for (const auto& f : hdr) {
      ++head_fields;
      std::string name(f.name_string());
      if (whttp::forbidden_header(lower(name))) continue;
      req.headers.push_back({std::move(name), std::string(f.value())});
    }
    bool keep_alive = hdr.keep_alive();
    bool head = hdr.method() == bhttp::verb::head;
    bool expect_continue = lower(std::string(hdr[bhttp::field::expect])) == "100-continue";

    auto sync = std::make_shared<Sync>(io);
    req.body = std::make_shared<whttp::Pipe>();
    req.body->on_change = [s = std::weak_ptr<Sync>(sync)] {
      if (auto p = s.lock()) p->notify();
    };
    ex->on_response = [s = std::weak_ptr<Sync>(sync)] {
      if (auto p = s.lock()) p->notify();
    };
    bool broken = false;
    if (parser.is_done()) {
      req.body->close();
      sync->request_done = true;
    } else {
      if (expect_continue) {
        co_await write_all(stream, "HTTP/1.1 100 Continue\r\n\r\n", broken);
        if (broken) co_return false;
      }
      asio::co_spawn(io, pump_request(stream, buf, parser, req.body, sync, head_fields),
                     asio::detached);
    }
    start_guest(ex, sync);
    guard(sync);

    // Wait for the response head (or the guest's end, or a refused body).
    while (!ex->response && !ex->error && !sync->guest_done && !sync->refuse) co_await wait(*sync);

    unsigned status = 500;
    bool trap = false, timeout = false;
    std::string head_text;
    std::shared_ptr<whttp::Pipe> body;
    std::optional<uint64_t> content_length;
    if (sync->refuse && !ex->response) {
      status = *sync->refuse;
      head_text = simple_response(status, "request body too large\n", false);
      keep_alive = false;
    } else if (ex->response) {
      status = ex->response->status;
      body = ex->response->body;
      body->on_change = [s = std::weak_ptr<Sync>(sync)] {
        if (auto p = s.lock()) p->notify();
      };
      // Let the guest run on until it waits or ends: a short body then goes out whole with
      // its length, in one write with the head.
      head_text =
          "HTTP/1.1 " + std::to_string(status) + " " + whttp::reason_phrase(status) + "\r\n";
      for (const auto& h : ex->response->headers) {
        if (lower(h.name) == "content-length") {
          uint64_t v = 0;
          bool ok = !h.value.empty();
          for (char c : h.value) {
            if (c < '0' || c > '9') ok = false;
            v = v * 10 + static_cast<uint64_t>(c - '0');
          }
          if (ok && !content_length) content_length = v;
          continue;
        }
        head_text += h.name + ": " + h.value + "\r\n";
      }
    } else {
      if (sync->guest_error) {
        const engine::Error& e = *sync->guest_error;
        timeout = e.kind == engine::ErrorKind::Trap && e.trap == engine::TrapKind::Interrupted;
        trap = !timeout;
        status = timeout ? 503 : 500;
        std::fprintf(stderr, "flotilla serve: %s %s: %s\n", req.method.c_str(),
                     req.path_with_query.c_str(), e.message.c_str());
        head_text = simple_response(
            status, timeout ? "the handler ran out of time\n" : "the handler failed\n",
            keep_alive && !stopping);
      } else if (ex->error) {
        head_text = simple_response(500, "the handler answered with an error: " + *ex->error + "\n",
                                    keep_alive && !stopping);
      } else {
        head_text = simple_response(500, "the handler returned without a response\n",
                                    keep_alive && !stopping);
      }
    }

    bool complete = true;
    if (body) {
      bool no_body = head || status == 204 || status == 304 || (status >= 100 && status < 200);
      if (stopping) keep_alive = false;
      // A finished body goes out with its length, unless it has trailers for a chunked end.
      if (!no_body && !content_length && body->closed() && !body->error() &&
          !(body->trailers() && hdr.version() >= 11)) {
        content_length = body->size();
      }
      bool chunked = !no_body && !content_length;
      if (chunked && hdr.version() < 11) {
        chunked = false;
        keep_alive = false;  // HTTP/1.0: the end of the body is the end of the connection
      }
      if (content_length)
        head_text += "content-length: " + std::to_string(*content_length) + "\r\n";
      if (chunked) head_text += "transfer-encoding: chunked\r\n";
      if (!keep_alive) head_text += "connection: close\r\n";
      head_text += "\r\n";
      uint64_t sent = 0;
      std::string out = std::move(head_text);
      bool first = true;
      for (;;) {
        if (no_body) {
          body->drop_reader();
          break;
        }
        if (sync->timed_out) {
          // The deadline passed with the response under way: whatever the guest does after
          // its streams broke (it may well end the body cleanly) must not pass for a
          // complete response, so the connection closes with the body unfinished.
          complete = false;
          timeout = true;
          std::fprintf(stderr, "flotilla serve: %s %s: the handler ran out of time\n",
                       req.method.c_str(), req.path_with_query.c_str());
          break;
        }
        if (body->size() > 0) {
          std::string data = body->take();
          if (content_length && sent + data.size() > *content_length) {
            data.resize(static_cast<size_t>(*content_length - sent));
            complete = false;
          }
          sent += data.size();
          if (chunked) {
            char len[24];
            std::snprintf(len, sizeof len, "%zx\r\n", data.size());
            out += len;
            out += data;
            out += "\r\n";
          } else {
            out += data;
          }
          if (body->closed() && !body->error() && body->size() == 0 && chunked)
            out += last_chunk(*body);
          co_await write_all(stream, out, broken);
          out.clear();
          first = false;
          if (broken || !complete) break;
          if (body->at_end()) break;
          continue;
        }
        if (body->closed()) {
          if (body->error()) {
            complete = false;
            std::fprintf(stderr, "flotilla serve: %s %s: response body: %s\n", req.method.c_str(),
                         req.path_with_query.c_str(), body->error()->c_str());
          } else if (chunked) {
            out += last_chunk(*body);
          }
          break;
        }
        if (first && !out.empty()) {
          // The head goes out now: the guest is still producing the body.
          co_await write_all(stream, out, broken);
          out.clear();
          first = false;
          if (broken) break;
          continue;
        }
        co_await wait(*sync);
      }
      if (!out.empty() && !broken) co_await write_all(stream, out, broken);
      if (content_length && sent != *content_length && !no_body) complete = false;
    } else {
      if (!keep_alive || stopping) keep_alive = false;
      co_await write_all(stream, head_text, broken);
    }
    srv.count(status, trap, timeout, sync->optimized);

    // The request body: if the guest did not read it all, the connection cannot carry another
    // request.
    if (!sync->request_done) {
      keep_alive = false;
      req.body->drop_reader();
      beast::error_code ec;
      stream.socket().cancel(ec);
      while (!sync->request_done) co_await wait(*sync);
    }
    // The response could not be delivered: a guest still writing it must not wait for room
    // that will never come.
    if ((broken || !complete) && !sync->guest_done && sync->store)
      http->abort(*sync->store, "the client went away");
    co_return keep_alive&& complete && !broken && !sync->refuse;
  }
};

HttpServer::HttpServer(std::unique_ptr<HttpServerImpl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() {
  if (impl_) {
    stop();
    for (auto& w : impl_->workers)
      if (w->thread.joinable()) w->thread.join();
  }
}

engine::Result<std::unique_ptr<HttpServer>> HttpServer::create(engine::Engine& engine,
                                                               component::Component component,
                                                               ServeConfig config) {
  auto impl = std::make_unique<HttpServerImpl>(engine, std::move(component), std::move(config));
  // The handler export: wasi:http/incoming-handler@0.2.x#handle.
  for (const auto& e : impl->component.exports()) {
    if (e.name.rfind("wasi:http/incoming-handler@0.2.", 0) == 0 &&
        e.desc.kind == component::ExternDesc::Kind::Instance) {
      impl->handler_name = e.name + "#handle";
      break;
    }
  }
  if (impl->handler_name.empty())
    return Unexpected(config_error(
        "the component exports no wasi:http/incoming-handler@0.2.x (an HTTP handler)"));
  for (size_t i = 0; i < impl->component.core_module_count(); i++) {
    auto m = impl->component.core_module(i);
    if (!m) return Unexpected(m.error());
    impl->modules.push_back(*m);
  }
  unsigned n = impl->config.threads ? impl->config.threads : std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(*impl);
    if (auto r = w->init(); !r) return Unexpected(r.error());
    impl->workers.push_back(std::move(w));
  }
  // Listen on every worker (SO_REUSEPORT: the kernel spreads connections).
  beast::error_code ec;
  auto addr = asio::ip::make_address(impl->config.host, ec);
  if (ec)
    return Unexpected(config_error("bad address '" + impl->config.host + "': " + ec.message()));
  uint16_t port = impl->config.port;
  for (auto& w : impl->workers) {
    tcp::endpoint ep(addr, port);
    w->acceptor.open(ep.protocol(), ec);
    if (!ec) w->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
      using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
      w->acceptor.set_option(reuse_port(true), ec);
    }
    if (!ec) w->acceptor.bind(ep, ec);
    if (!ec) w->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Unexpected(config_error("cannot listen on " + impl->config.host + ":" +
                                     std::to_string(port) + ": " + ec.message()));
    port = w->acceptor.local_endpoint().port();
  }
  impl->config.port = port;
  return std::make_unique<HttpServer>(std::move(impl));
}

engine::Result<void> HttpServer::run() {
  std::string where =
      (impl_->config.host.find(':') != std::string::npos ? "[" + impl_->config.host + "]"
                                                         : impl_->config.host) +
      ":" + std::to_string(impl_->config.port);
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    asio::co_spawn(wp->io, wp->accept_loop(), asio::detached);
  }
  if (impl_->config.on_listening) impl_->config.on_listening(where);
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    wp->thread = std::thread([wp] { wp->io.run(); });
  }
  for (auto& w : impl_->workers) w->thread.join();
  return {};
}

void HttpServer::stop() {
  impl_->stopping = true;
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    asio::post(wp->io, [wp] {
      if (wp->stopping) return;
      wp->stopping = true;
      beast::error_code ec;
      wp->acceptor.close(ec);
      for (auto& c : wp->conns)
        if (c.idle) c.stream->socket().cancel(ec);
      wp->release_guard();
    });
  }
}

ServerStats HttpServer::stats() const {
  const HttpServerImpl& i = *impl_;
  return ServerStats{i.requests.load(), i.errors_4xx.load(), i.errors_5xx.load(),
                     i.traps.load(),    i.timeouts.load(),   i.optimized_requests.load(),
                     i.reused.load()};
}

}  // namespace flotilla::host
