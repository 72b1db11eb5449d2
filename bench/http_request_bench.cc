// Per-request cost of serving HTTP with a component, without the network: a fresh store, a
// fresh instance of a wasi:http handler (through an InstancePre, as the server does), its handle()
// for a GET, and the drop — what `flotilla serve` does for every request — next to instantiate +
// call + drop of a minimal core module (bench/small.wat) measured in the same run; and the same
// request on one instance reset in place between requests (the server's default).
//
// The component: $FLOTILLA_HTTP_COMPONENT, default examples/http-hello.wasm of this build (a
// componentize-js handler). Tier: $FLOTILLA_BENCH_TIER (baseline | optimized), default baseline.
#include <benchmark/benchmark.h>
#include <flotilla/component/component.h>
#include <flotilla/engine/engine.h>
#include <flotilla/wasi/http.h>
#include <flotilla/wasi/wasi.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

namespace fc = flotilla::component;
namespace fe = flotilla::engine;
namespace wh = flotilla::wasi::http;

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

fe::Config config() {
  fe::Config c;
  const char* t = std::getenv("FLOTILLA_BENCH_TIER");
  c.tier = (t && std::string(t) == "optimized") ? fe::Tier::Optimized : fe::Tier::Baseline;
  return c;
}

struct Fixture {
  fe::Engine engine{config()};
  std::optional<fc::Component> comp;
  fc::Linker linker;
  std::shared_ptr<wh::Host> host;
  fc::InstancePre pre;  // as flotilla serve: linked once, instantiated per request
  std::shared_ptr<flotilla::wasi::Ctx> ctx;
  std::string handler;
  std::string error;

  Fixture() {
    const char* p = std::getenv("FLOTILLA_HTTP_COMPONENT");
    std::string path = p ? p : std::string(FLOTILLA_EXAMPLES_DIR) + "/http-hello.wasm";
    auto bytes = read_file(path);
    auto c = fc::Component::compile(engine, bytes);
    if (!c) {
      error = path + ": " + c.error().message;
      return;
    }
    comp = std::move(*c);
    for (const auto& e : comp->exports())
      if (e.name.rfind("wasi:http/incoming-handler@0.2.", 0) == 0) handler = e.name + "#handle";
    auto h = wh::Host::define(linker, {});
    if (!h) {
      error = h.error().message;
      return;
    }
    host = *h;
    auto linked = linker.instantiate_pre(*comp);
    if (!linked) {
      error = linked.error().message;
      return;
    }
    pre = std::move(*linked);
    flotilla::wasi::Config wc;
    wc.stdin_fd = wc.stdout_fd = wc.stderr_fd = -1;
    ctx = *flotilla::wasi::Ctx::create(wc);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_instantiate(benchmark::State& state) {
  Fixture& f = fixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  for (auto _ : state) {
    fe::Store store(f.engine);
    flotilla::wasi::bind(store, f.ctx);
    auto inst = f.pre.instantiate(store);
    if (!inst) return state.SkipWithError(inst.error().message.c_str());
    benchmark::DoNotOptimize(inst);
  }
}

void BM_request(benchmark::State& state) {
  Fixture& f = fixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  bool deadline = state.range(0) != 0;
  for (auto _ : state) {
    fe::Store store(f.engine);
    if (deadline) store.set_timeout(std::chrono::seconds(30));
    flotilla::wasi::bind(store, f.ctx);
    auto inst = f.pre.instantiate(store);
    if (!inst) return state.SkipWithError(inst.error().message.c_str());
    auto ex = std::make_shared<wh::Exchange>();
    ex->request.method = "GET";
    ex->request.path_with_query = "/";
    ex->request.authority = "localhost";
    ex->request.body = std::make_shared<wh::Pipe>();
    ex->request.body->close();
    auto fn = inst->get_func(f.handler);
    if (!fn) return state.SkipWithError(fn.error().message.c_str());
    auto r = f.host->handle(store, *fn, ex);
    if (!r) return state.SkipWithError(r.error().message.c_str());
    if (!ex->response || ex->response->status != 200)
      return state.SkipWithError("the handler did not answer 200");
    benchmark::DoNotOptimize(ex->response->body->take());
  }
}

// The same request on one instance reset between requests, as `flotilla serve` does by
// default (ServeConfig::reuse_instances): deadline set, Instance::reset, handle(), the WASI and
// HTTP state dropped by binding anew.
void BM_reset_request(benchmark::State& state) {
  Fixture& f = fixture();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  fe::Store store(f.engine);
  flotilla::wasi::bind(store, f.ctx);
  auto inst = f.pre.instantiate(store);
  if (!inst) return state.SkipWithError(inst.error().message.c_str());
  auto fn = inst->get_func(f.handler);
  if (!fn) return state.SkipWithError(fn.error().message.c_str());
  for (auto _ : state) {
    store.set_timeout(std::chrono::seconds(30));
    if (auto r = inst->reset(store); !r) return state.SkipWithError(r.error().message.c_str());
    auto ex = std::make_shared<wh::Exchange>();
    ex->request.method = "GET";
    ex->request.path_with_query = "/";
    ex->request.authority = "localhost";
    ex->request.body = std::make_shared<wh::Pipe>();
    ex->request.body->close();
    auto r = f.host->handle(store, *fn, ex);
    if (!r) return state.SkipWithError(r.error().message.c_str());
    if (!ex->response || ex->response->status != 200)
      return state.SkipWithError("the handler did not answer 200");
    benchmark::DoNotOptimize(ex->response->body->take());
    flotilla::wasi::bind(store, f.ctx);
    store.clear_deadline();
  }
}

// Reference: instantiate + call + drop of bench/small.wat on the same tier.
void BM_reference(benchmark::State& state) {
  static fe::Engine engine{config()};
  static auto bytes = read_file(std::string(FLOTILLA_BENCH_DIR) + "/small.wasm");
  static auto module = fe::Module::compile(engine, bytes);
  if (!module) return state.SkipWithError(module.error().message.c_str());
  for (auto _ : state) {
    fe::Store store(engine);
    fe::Linker linker;
    auto inst = linker.instantiate(store, *module);
    if (!inst) return state.SkipWithError(inst.error().message.c_str());
    benchmark::DoNotOptimize(inst);
  }
}

}  // namespace

BENCHMARK(BM_reference)->Name("reference/core-instantiate")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_instantiate)->Name("http/instantiate")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_request)->Name("http/instantiate+handle+drop")->Arg(0)->Unit(benchmark::kMicrosecond);
// With a deadline, as the server sets one per request.
BENCHMARK(BM_request)
    ->Name("http/instantiate+handle+drop/deadline")
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_reset_request)->Name("http/reset+handle/deadline")->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
