// Component call overhead: each benchmark calls the same core function of one instance twice
// over, in the same run: directly (engine::Func with core values, data copied into guest
// memory by hand) and through the canonical ABI (component::Func with component Vals).
//   add:  add(u32, u32) -> u32
//   echo: a 1 KiB string in and out (realloc + copy + UTF-8 validation + post-return)
//   sum:  a list of 1,000 records {x: u32, y: u32} in, u32 out
// Instantiation (+ drop, each in a fresh store) of a C command made a component with the
// preview1 adapter (examples/wasi/greet.c, `jco new --wasi-command`), next to instantiating
// its main core module alone (imports bound to host stubs, made in the same store).
#include <benchmark/benchmark.h>
#include <flotilla/component/component.h>
#include <flotilla/component/typed.h>
#include <flotilla/wasi/wasi.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

namespace fe = flotilla::engine;
namespace fc = flotilla::component;

namespace {

struct Fixture {
  fe::Engine engine{[] {
    fe::Config c;
    c.tier = fe::Tier::Optimized;
    c.cache_dir = std::filesystem::path(FLOTILLA_BENCH_DIR) / "cache";
    return c;
  }()};
  fe::Store store{engine};
  fc::Instance inst;
  fe::Instance core;  // the component's core instance, for direct calls
  std::string error;

  Fixture() {
    std::ifstream f(std::filesystem::path(FLOTILLA_BENCH_DIR) / "calls.component.wasm",
                    std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
    auto comp = fc::Component::compile(engine, bytes);
    if (!comp) {
      error = comp.error().to_string();
      return;
    }
    // Both sides run the optimized tier: wait for it before instantiating.
    for (size_t k = 0; k < comp->core_module_count(); k++) comp->core_module(k)->wait_optimized();
    fc::Linker linker;
    auto i = fc::instantiate(store, linker, *comp);
    if (!i) {
      error = i.error().to_string();
      return;
    }
    inst = *i;
    // A second, plain core instance of the same module for the direct reference.
    auto info = comp->core_module(0);
    if (!info) {
      error = info.error().to_string();
      return;
    }
    fe::Linker core_linker;
    auto c = core_linker.instantiate(store, *info);
    if (!c) {
      error = c.error().to_string();
      return;
    }
    core = *c;
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

void BM_add_core(benchmark::State& state) {
  auto& f = fx();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto add = *f.core.get_func("add");
  fe::Val args[2] = {fe::Val::i32(2), fe::Val::i32(40)}, res[1];
  for (auto _ : state) {
    auto r = add.call(f.store, args, res);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(res[0].i32());
  }
}

void BM_add_component(benchmark::State& state) {
  auto& f = fx();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto add = *f.inst.get_func("add");
  fc::Val args[2] = {fc::Val::u32(2), fc::Val::u32(40)};
  for (auto _ : state) {
    auto r = add.call(f.store, args);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize((*r)[0].bits);
  }
}

void BM_add_typed(benchmark::State& state) {
  auto& f = fx();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto add = fc::TypedFunc<uint32_t(uint32_t, uint32_t)>::from(*f.inst.get_func("add"));
  if (!add) return state.SkipWithError(add.error().to_string().c_str());
  uint32_t i = 0;
  for (auto _ : state) {
    auto r = add->call(f.store, i++, 40);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(*r);
  }
}

const std::string kString(1024, 'x');

void BM_echo_core(benchmark::State& state) {
  auto& f = fx();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto realloc = *f.core.get_func("realloc");
  auto echo = *f.core.get_func("echo");
  auto post = *f.core.get_func("post");
  auto mem = *f.core.get_memory("mem");
  std::string out;
  for (auto _ : state) {
    fe::Val ra[4] = {fe::Val::i32(0), fe::Val::i32(0), fe::Val::i32(1), fe::Val::i32(1024)}, p[1];
    if (!realloc.call(f.store, ra, p)) return state.SkipWithError("realloc");
    std::memcpy(mem.data() + p[0].u32(), kString.data(), kString.size());
    fe::Val ea[2] = {p[0], fe::Val::i32(1024)}, er[1];
    if (!echo.call(f.store, ea, er)) return state.SkipWithError("echo");
    uint32_t rp, rl;
    std::memcpy(&rp, mem.data() + er[0].u32(), 4);
    std::memcpy(&rl, mem.data() + er[0].u32() + 4, 4);
    out.assign(reinterpret_cast<const char*>(mem.data() + rp), rl);
    std::span<fe::Val> none;
    if (!post.call(f.store, er, none)) return state.SkipWithError("post");
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_echo_component(benchmark::State& state) {
  auto& f = fx();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto echo = *f.inst.get_func("echo");
  fc::Val args[1] = {fc::Val::string(kString)};
  for (auto _ : state) {
    auto r = echo.call(f.store, args);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    if ((*r)[0].str.size() != 1024) return state.SkipWithError("wrong echo");
  }
}

void BM_sum_core(benchmark::State& state) {
  auto& f = fx();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto realloc = *f.core.get_func("realloc");
  auto sum = *f.core.get_func("sum");
  auto post = *f.core.get_func("post");
  auto mem = *f.core.get_memory("mem");
  std::vector<uint32_t> points(2000);
  for (uint32_t i = 0; i < 2000; i++) points[i] = i;
  for (auto _ : state) {
    fe::Val ra[4] = {fe::Val::i32(0), fe::Val::i32(0), fe::Val::i32(4), fe::Val::i32(8000)}, p[1];
    if (!realloc.call(f.store, ra, p)) return state.SkipWithError("realloc");
    std::memcpy(mem.data() + p[0].u32(), points.data(), 8000);
    fe::Val sa[2] = {p[0], fe::Val::i32(1000)}, sr[1];
    if (!sum.call(f.store, sa, sr)) return state.SkipWithError("sum");
    std::span<fe::Val> none;
    if (!post.call(f.store, sr, none)) return state.SkipWithError("post");
    benchmark::DoNotOptimize(sr[0].i32());
  }
}

void BM_sum_component(benchmark::State& state) {
  auto& f = fx();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto sum = *f.inst.get_func("sum");
  std::vector<fc::Val> pts;
  for (uint32_t i = 0; i < 1000; i++) {
    pts.push_back(fc::Val::record({{"x", fc::Val::u32(2 * i)}, {"y", fc::Val::u32(2 * i + 1)}}));
  }
  fc::Val args[1] = {fc::Val::list(std::move(pts))};
  for (auto _ : state) {
    auto r = sum.call(f.store, args);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    if ((*r)[0].bits != 1999000) return state.SkipWithError("wrong sum");
  }
}

// ---- instantiation -------------------------------------------------------------------------

struct GreetFixture {
  fe::Engine engine{[] {
    fe::Config c;
    c.tier = fe::Tier::Optimized;
    c.cache_dir = std::filesystem::path(FLOTILLA_BENCH_DIR) / "cache";
    return c;
  }()};
  std::optional<fc::Component> comp;
  std::optional<fe::Module> main_module;
  std::shared_ptr<flotilla::wasi::Ctx> ctx;
  fc::Linker linker;  // WASI, built once
  std::string error;

  GreetFixture() {
    auto c = fc::Component::from_file(
        engine, std::filesystem::path(FLOTILLA_EXAMPLES_DIR) / "greet.component.wasm");
    if (!c) {
      error = c.error().to_string();
      return;
    }
    for (size_t k = 0; k < c->core_module_count(); k++) c->core_module(k)->wait_optimized();
    comp = *c;
    main_module = *comp->core_module(0);  // the C program (the others: adapter, shims)
    flotilla::wasi::Config cfg;
    cfg.stdin_fd = cfg.stdout_fd = cfg.stderr_fd = -1;
    cfg.args = {"greet"};
    auto x = flotilla::wasi::Ctx::create(cfg);
    if (!x) {
      error = x.error().to_string();
      return;
    }
    ctx = *x;
    if (auto r = flotilla::wasi::add_to_linker(linker, ctx); !r) error = r.error().to_string();
  }
};

GreetFixture& greet() {
  static GreetFixture f;
  return f;
}

void BM_instantiate_core(benchmark::State& state) {
  auto& f = greet();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto trap = [](fe::Caller&, std::span<const fe::Val>, std::span<fe::Val>) -> fe::Result<void> {
    return fe::make_error(fe::ErrorKind::Trap, "stub");
  };
  for (auto _ : state) {
    fe::Store store(f.engine);
    std::vector<fe::Extern> imports;
    for (const auto& imp : f.main_module->imports()) {
      if (imp.type.kind != fe::ExternKind::Func) return state.SkipWithError("non-func import");
      imports.emplace_back(fe::Func::host(store, imp.type.func, trap));
    }
    auto i = fe::Instance::create(store, *f.main_module, imports);
    if (!i) return state.SkipWithError(i.error().to_string().c_str());
    benchmark::DoNotOptimize(i->raw());
  }
}

void BM_instantiate_component(benchmark::State& state) {
  auto& f = greet();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  for (auto _ : state) {
    fe::Store store(f.engine);
    auto i = fc::instantiate(store, f.linker, *f.comp);
    if (!i) return state.SkipWithError(i.error().to_string().c_str());
    benchmark::DoNotOptimize(i->state().get());
  }
}

void BM_instantiate_pre(benchmark::State& state) {
  auto& f = greet();
  if (!f.error.empty()) return state.SkipWithError(f.error.c_str());
  auto pre = f.linker.instantiate_pre(*f.comp);
  if (!pre) return state.SkipWithError(pre.error().to_string().c_str());
  for (auto _ : state) {
    fe::Store store(f.engine);
    auto i = pre->instantiate(store);
    if (!i) return state.SkipWithError(i.error().to_string().c_str());
    benchmark::DoNotOptimize(i->state().get());
  }
}

BENCHMARK(BM_add_core)->Name("call/add/core");
BENCHMARK(BM_add_component)->Name("call/add/component");
BENCHMARK(BM_add_typed)->Name("call/add/component-typed");
BENCHMARK(BM_echo_core)->Name("call/string-1k/core");
BENCHMARK(BM_echo_component)->Name("call/string-1k/component");
BENCHMARK(BM_sum_core)->Name("call/list-1000-records/core");
BENCHMARK(BM_sum_component)->Name("call/list-1000-records/component");
BENCHMARK(BM_instantiate_core)->Name("instantiate/greet/main-core-module");
BENCHMARK(BM_instantiate_component)->Name("instantiate/greet/component");
BENCHMARK(BM_instantiate_pre)->Name("instantiate/greet/component-pre");

}  // namespace

BENCHMARK_MAIN();
