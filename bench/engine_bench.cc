// Engine benchmarks. Everything a ratio is computed from is measured in this one run:
//  - CPU-bound programs: native (clang-19 -O2) vs the same C built to wasm32 (clang-19 -O2) and
//    run on the baseline and optimized tiers;
//  - instantiate + call + drop of a small module per tier, next to a native reference
//    (a call plus allocating, touching and freeing 64 KiB: the cheapest fresh state imaginable);
//  - instantiate + call + drop of a module with a large initial memory and many data segments
//    (generated here, shaped like the SpiderMonkey core module of a componentize-js component),
//    with its memory mapped from a prepared image and with the segments copied (no image).
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
  bool image = true;  // Config::memory_image
  bool operator<(const Variant& o) const {
    return std::tie(tier, guard, image) < std::tie(o.tier, o.guard, o.image);
  }
};

fe::Engine& engine(Variant v) {
  static std::map<Variant, std::unique_ptr<fe::Engine>> engines;
  auto& e = engines[v];
  if (!e) {
    fe::Config c;
    c.tier = v.tier;
    c.guard_pages = v.guard;
    c.memory_image = v.image;
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

// A module like the core module of a componentize-js component: 145 initial pages (9.5 MB)
// and 10,000 active data segments of 360 bytes (3.6 MB) spread over them; f() reads one byte.
std::vector<uint8_t> big_data_module() {
  constexpr uint32_t kPages = 145, kSegments = 10000, kSegmentBytes = 360, kStride = 950;
  auto uleb = [](std::vector<uint8_t>& out, uint64_t v) {
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      out.push_back(static_cast<uint8_t>(b | (v ? 0x80 : 0)));
    } while (v);
  };
  auto sleb = [](std::vector<uint8_t>& out, int64_t v) {
    for (;;) {
      uint8_t b = v & 0x7f;
      v >>= 7;
      bool done = (v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40));
      out.push_back(static_cast<uint8_t>(b | (done ? 0 : 0x80)));
      if (done) return;
    }
  };
  std::vector<uint8_t> m = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  auto section = [&](uint8_t id, const std::vector<uint8_t>& body) {
    m.push_back(id);
    uleb(m, body.size());
    m.insert(m.end(), body.begin(), body.end());
  };
  section(1, {0x01, 0x60, 0x00, 0x01, 0x7f});  // type 0: () -> i32
  section(3, {0x01, 0x00});                    // func 0: type 0
  std::vector<uint8_t> mem = {0x01, 0x00};     // one memory, no maximum
  uleb(mem, kPages);
  section(5, mem);
  section(7, {0x01, 0x01, 'f', 0x00, 0x00});  // export "f" = func 0
  std::vector<uint8_t> body = {0x00, 0x41};   // no locals; i32.const
  sleb(body, 5 * 65536 + 7);
  body.insert(body.end(), {0x2d, 0x00, 0x00, 0x0b});  // i32.load8_u; end
  std::vector<uint8_t> code = {0x01};
  uleb(code, body.size());
  code.insert(code.end(), body.begin(), body.end());
  section(10, code);
  std::vector<uint8_t> data;
  uleb(data, kSegments);
  for (uint32_t i = 0; i < kSegments; ++i) {
    data.insert(data.end(), {0x00, 0x41});
    sleb(data, int64_t{i} * kStride);
    data.push_back(0x0b);
    uleb(data, kSegmentBytes);
    for (uint32_t k = 0; k < kSegmentBytes; ++k) data.push_back(static_cast<uint8_t>(i + k + 1));
  }
  section(11, data);
  return m;
}

void BM_instantiate_big_data(benchmark::State& state, Variant v) {
  static const std::vector<uint8_t> bytes = big_data_module();
  auto m = fe::Module::compile(engine(v), bytes, "bigdata");
  if (!m) return state.SkipWithError(m.error().to_string().c_str());
  for (auto _ : state) {
    fe::Store store(engine(v));
    fe::Linker linker;
    auto inst = linker.instantiate(store, *m);
    if (!inst) return state.SkipWithError(inst.error().to_string().c_str());
    fe::Val res[1];
    auto r = inst->get_func("f")->call(store, {}, res);
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
  for (bool image : {true, false}) {
    std::string name =
        std::string("instantiate/big-data/baseline/") + (image ? "image" : "no-image");
    benchmark::RegisterBenchmark(name.c_str(), BM_instantiate_big_data,
                                 Variant{fe::Tier::Baseline, false, image})
        ->Unit(benchmark::kMicrosecond);
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
