// An HTTP/1.1 server whose requests are handled by a component exporting
// wasi:http/incoming-handler: every request gets a fresh instance in a fresh store, run on a
// fiber of the event loop that serves its connection (one loop per thread, each with its own
// listening socket on the same port).
//
// Errors: configuration and start-up failures are engine::Result errors; a failing request
// (malformed, too large, a guest that traps or overruns its deadline) is answered with its
// status code and never stops the server.
#pragma once
#include <flotilla/component/component.h>
#include <flotilla/engine/engine.h>
#include <flotilla/wasi/http.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flotilla::host {

struct ServeConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port
  unsigned threads = 0;  // 0: one per core
  // A guest still running after this long is stopped; its request gets 503 if nothing was
  // sent yet.
  std::chrono::milliseconds request_timeout{30000};
  // A client that sends nothing for this long while a request is expected is disconnected.
  std::chrono::milliseconds idle_timeout{60000};
  // Larger request bodies are refused with 413.
  uint64_t max_body = 64ull << 20;
  // Where guests' stdout and stderr go (-1: discarded).
  int guest_stdout = 2, guest_stderr = 2;
  // Each request runs in an instance of its own: a fresh one, or one that served an earlier
  // request without error and was reset to its initial state before this one
  // (component::Instance::reset: every memory, table, global and handle table as right
  // after instantiation, the WASI and HTTP state made anew). Off: always a fresh instance.
  bool reuse_instances = true;
  wasi::http::Policy policy;  // outgoing requests
  engine::StoreLimits limits;
  // Called once every thread listens, with the bound address ("127.0.0.1:8080").
  std::function<void(const std::string&)> on_listening;
  // Called once, from a worker thread, when every core module of the component first runs its
  // optimized tier (Tier::Auto builds it in the background), with the number of instances
  // created before (on the baseline tier). Called before the first such instantiation.
  std::function<void(uint64_t)> on_optimized;
};

struct ServerStats {
  uint64_t requests = 0, errors_4xx = 0, errors_5xx = 0, traps = 0, timeouts = 0;
  uint64_t optimized = 0;  // requests whose instance ran optimized code only
  uint64_t reused = 0;     // requests served by an instance reset after an earlier request
};

class HttpServerImpl;

class HttpServer {
 public:
  // `component` must export wasi:http/incoming-handler@0.2.x.
  static engine::Result<std::unique_ptr<HttpServer>> create(engine::Engine& engine,
                                                            component::Component component,
                                                            ServeConfig config);
  ~HttpServer();
  // Serves until stop(); returns once in-flight requests have finished.
  engine::Result<void> run();
  // Thread-safe, also from a signal handler's thread: stop accepting, finish what is in
  // flight, close idle connections.
  void stop();
  ServerStats stats() const;

  explicit HttpServer(std::unique_ptr<HttpServerImpl> impl);

 private:
  std::unique_ptr<HttpServerImpl> impl_;
};

}  // namespace flotilla::host
