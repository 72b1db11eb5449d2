// Engine benchmarks. Everything a ratio is computed from is measured in this one run:
//  - CPU-bound programs: native (clang-19 -O2) vs the same C built to wasm32 (clang-19 -O2) and
//    run on the baseline and optimized tiers;
//  - instantiate + call + drop of a small module per tier, next to a native reference
//    (a call plus allocating, touching and freeing 64 KiB: the cheapest fresh state imaginable).
#include <benchmark/benchmark.h>
#include <flotilla/engine/engine.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

namespace fe = flotilla::engine;

extern "C" {
int64_t sha256_run(int32_t);
int64_t nbody_run(int32_t);
int64_t sieve_run(int32_t);
}

namespace {

struct Program {
  const char* name;
  int64_t (*native)(int32_t);
  int32_t n;
};
const Program kPrograms[] = {
    {"sha256", sha256_run, 20}, {"nbody", nbody_run, 200000}, {"sieve", sieve_run, 3}};

std::vector<uint8_t> read(const std::string& name) {
  std::ifstream f(std::filesystem::path(FLOTILLA_BENCH_DIR) / name, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

// Tier plus memory mode: Optimized with guard pages is benchmarked as its own variant.
struct Variant {
  fe::Tier tier;
  bool guard;
  bool operator<(const Variant& o) const {
    return std::tie(tier, guard) < std::tie(o.tier, o.guard);
  }
};

fe::Engine& engine(Variant v) {
  static std::map<Variant, std::unique_ptr<fe::Engine>> engines;
  auto& e = engines[v];
  if (!e) {
    fe::Config c;
    c.tier = v.tier;
    c.guard_pages = v.guard;
    c.cache_dir = std::filesystem::path(FLOTILLA_BENCH_DIR) / "cache";
    if (const char* cc = getenv("FLOTILLA_BENCH_CC")) c.cc = cc;  // e.g. clang-19
    e = std::make_unique<fe::Engine>(c);
  }
  return *e;
}

void BM_native(benchmark::State& state, const Program* p) {
  int64_t r = 0;
  for (auto _ : state) benchmark::DoNotOptimize(r = p->native(p->n));
  state.counters["checksum"] = static_cast<double>(r & 0xffffff);
}

void BM_wasm(benchmark::State& state, const Program* p, Variant tier) {
  auto m = fe::Module::compile(engine(tier), read(std::string(p->name) + ".wasm"), p->name);
  if (!m) return state.SkipWithError(m.error().to_string().c_str());
  fe::Store store(engine(tier));
  fe::Linker linker;
  auto inst = linker.instantiate(store, *m);
  if (!inst) return state.SkipWithError(inst.error().to_string().c_str());
  auto run = inst->get_func("run");
  fe::Val args[1] = {fe::Val::i32(p->n)};
  fe::Val res[1];
  int64_t expect = p->native(p->n);
  for (auto _ : state) {
    auto r = run->call(store, args, res);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
  }
  if (res[0].i64() != expect) return state.SkipWithError("checksum differs from native");
  state.counters["checksum"] = static_cast<double>(res[0].i64() & 0xffffff);
}

void BM_instantiate(benchmark::State& state, Variant tier) {
  auto m = fe::Module::compile(engine(tier), read("small.wasm"), "small");
  if (!m) return state.SkipWithError(m.error().to_string().c_str());
  int32_t i = 0;
  for (auto _ : state) {
    fe::Store store(engine(tier));
    fe::Linker linker;
    auto inst = linker.instantiate(store, *m);
    if (!inst) return state.SkipWithError(inst.error().to_string().c_str());
    fe::Val args[1] = {fe::Val::i32(i++)};
    fe::Val res[1];
    auto r = inst->get_func("f")->call(store, args, res);
    if (!r) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(res[0].i32());
  }
}

void BM_instantiate_reference(benchmark::State& state) {
  int32_t i = 0;
  for (auto _ : state) {
    auto* p = static_cast<uint8_t*>(malloc(65536));
    memset(p, 0, 65536);
    memcpy(p + 16, "hello from flotilla", 19);
    benchmark::DoNotOptimize(p[16] + i++);
    free(p);
  }
}

// What the kernel charges for one linear memory: map 64 KiB, touch two pages, unmap. Every
// instance pays at least this (memories are exact-size anonymous mappings), so the instantiate
// figures are read against it as well as against the malloc reference.
void BM_instantiate_mmap_reference(benchmark::State& state) {
  for (auto _ : state) {
    void* m = mmap(nullptr, 65536, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return state.SkipWithError("mmap failed");
    auto* p = static_cast<uint8_t*>(m);
    p[0] = 1;
    p[4096] = 1;
    benchmark::DoNotOptimize(p[0]);
    munmap(m, 65536);
  }
}

int register_all() {
  for (const auto& p : kPrograms) {
    std::string n = p.name;
    benchmark::RegisterBenchmark(("program/" + n + "/native").c_str(), BM_native, &p)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("program/" + n + "/baseline").c_str(), BM_wasm, &p,
                                 Variant{fe::Tier::Baseline, false})
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("program/" + n + "/optimized").c_str(), BM_wasm, &p,
                                 Variant{fe::Tier::Optimized, false})
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("program/" + n + "/optimized-guard").c_str(), BM_wasm, &p,
                                 Variant{fe::Tier::Optimized, true})
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("instantiate/reference", BM_instantiate_reference)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("instantiate/mmap-reference", BM_instantiate_mmap_reference)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("instantiate/baseline", BM_instantiate,
                               Variant{fe::Tier::Baseline, false})
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("instantiate/optimized", BM_instantiate,
                               Variant{fe::Tier::Optimized, false})
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("instantiate/optimized-guard", BM_instantiate,
                               Variant{fe::Tier::Optimized, true})
      ->Unit(benchmark::kMicrosecond);
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
