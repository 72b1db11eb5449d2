// Engine unit tests, run against both tiers: calls, host functions, linking, limits, traps,
// interruption, hostile input, the code cache and tier switching.
#include <flotilla/engine/engine.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace fe = flotilla::engine;
namespace fs = std::filesystem;
using VT = fe::ValType;

namespace {

std::vector<uint8_t> wasm(const std::string& name) {
  std::ifstream f(fs::path(FLOTILLA_TEST_WASM_DIR) / (name + ".wasm"), std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

fs::path cache_dir() { return fs::path(FLOTILLA_TEST_CACHE_DIR); }

struct Variant {
  fe::Tier tier;
  bool guard_pages;
};

class EngineTest : public ::testing::TestWithParam<Variant> {
 protected:
  EngineTest() : engine_(config()), store_(engine_) {}

  fe::Config config() {
    fe::Config c;
    c.tier = GetParam().tier;
    c.guard_pages = GetParam().guard_pages;
    c.cache_dir = cache_dir();
    return c;
  }

  // Instantiates basic.wat with its host imports.
  fe::Instance basic() {
    auto m = fe::Module::compile(engine_, wasm("basic"), "basic");
    EXPECT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(m->current_tier(), GetParam().tier);
    fe::Linker linker;
    auto ok = linker.define_func(
        store_, "env", "double", {{VT::I32}, {VT::I32}},
        [](fe::Caller&, std::span<const fe::Val> p, std::span<fe::Val> r) -> fe::Result<void> {
          r[0] = fe::Val::i32(p[0].i32() * 2);
          return {};
        });
    EXPECT_TRUE(ok);
    ok = linker.define_func(
        store_, "env", "fail", {},
        [](fe::Caller&, std::span<const fe::Val>, std::span<fe::Val>) -> fe::Result<void> {
          return fe::make_error(fe::ErrorKind::Usage, "the host said no");
        });
    EXPECT_TRUE(ok);
    ok = linker.define_func(store_, "env", "reenter", {{VT::I32}, {VT::I32}},
                            [](fe::Caller& caller, std::span<const fe::Val> p,
                               std::span<fe::Val> r) -> fe::Result<void> {
                              // Calls back into the calling instance.
                              auto add = caller.get_export("add");
                              if (!add) return fe::make_error(fe::ErrorKind::Usage, "no add");
                              std::vector<fe::Val> args{p[0], fe::Val::i32(100)};
                              auto res = add->func.call(caller.store(), args);
                              if (!res) return flotilla::Unexpected(res.error());
                              r[0] = (*res)[0];
                              return {};
                            });
    EXPECT_TRUE(ok);
    auto inst = linker.instantiate(store_, *m);
    EXPECT_TRUE(inst) << inst.error().to_string();
    return *inst;
  }

  fe::Result<std::vector<fe::Val>> call(fe::Instance& inst, const std::string& name,
                                        std::vector<fe::Val> args) {
    auto f = inst.get_func(name);
    EXPECT_TRUE(f) << name;
    return f->call(store_, args);
  }

  void expect_trap(fe::Instance& inst, const std::string& name, std::vector<fe::Val> args,
                   fe::TrapKind kind) {
    auto r = call(inst, name, std::move(args));
    ASSERT_FALSE(r) << name << " did not trap";
    EXPECT_EQ(r.error().kind, fe::ErrorKind::Trap);
    ASSERT_TRUE(r.error().trap);
    EXPECT_EQ(*r.error().trap, kind) << r.error().to_string();
    // The store and instance stay usable after a trap.
    auto again = call(inst, "add", {fe::Val::i32(1), fe::Val::i32(2)});
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ((*again)[0].i32(), 3);
  }

  fe::Engine engine_;
  fe::Store store_;
};

TEST_P(EngineTest, NumericCalls) {
  auto inst = basic();
  auto r = call(inst, "add", {fe::Val::i32(2), fe::Val::i32(40)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 42);
  r = call(inst, "fac", {fe::Val::i64(20)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i64(), 2432902008176640000LL);
  r = call(inst, "swap", {fe::Val::f32(1.5f), fe::Val::f64(2.25)});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].f64(), 2.25);
  EXPECT_EQ((*r)[1].f32(), 1.5f);
}

TEST_P(EngineTest, NanPayloadsSurvive) {
  auto inst = basic();
  auto r = call(inst, "id_f32", {fe::Val::f32_bits(0x7fa00001u)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].f32_bits(), 0x7fa00001u);
  r = call(inst, "neg_f64", {fe::Val::f64_bits(0x7ff8000000000001ull)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].f64_bits(), 0xfff8000000000001ull);  // sign flipped, payload kept
}

TEST_P(EngineTest, ArgumentChecks) {
  auto inst = basic();
  auto r = call(inst, "add", {fe::Val::i32(1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Usage);
  r = call(inst, "add", {fe::Val::i64(1), fe::Val::i32(1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Usage);
}

TEST_P(EngineTest, HostFunctions) {
  auto inst = basic();
  auto r = call(inst, "call_double", {fe::Val::i32(21)});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 42);
  r = call(inst, "call_reenter", {fe::Val::i32(5)});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 105);
  r = call(inst, "call_fail", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Trap);
  EXPECT_NE(r.error().message.find("the host said no"), std::string::npos) << r.error().to_string();
}

TEST_P(EngineTest, MemoryGlobalTable) {
  auto inst = basic();
  auto mem = inst.get_memory("mem");
  ASSERT_TRUE(mem);
  EXPECT_EQ(mem->pages(), 1u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(mem->data()) + 8, 8), "flotilla");
  uint8_t byte = 77;
  ASSERT_TRUE(mem->write(100, std::span<const uint8_t>(&byte, 1)));
  auto r = call(inst, "load8", {fe::Val::i32(100)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 77);
  EXPECT_FALSE(mem->write(65536, std::span<const uint8_t>(&byte, 1)));
  r = call(inst, "grow", {fe::Val::i32(2)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 1);
  EXPECT_EQ(mem->pages(), 3u);
  r = call(inst, "grow", {fe::Val::i32(5)});  // over the declared maximum of 4
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), -1);
  auto g = inst.get_global("counter");
  ASSERT_TRUE(g);
  ASSERT_TRUE(call(inst, "inc", {}));
  EXPECT_EQ(g->get().i32(), 1);
  ASSERT_TRUE(g->set(fe::Val::i32(41)));
  r = call(inst, "inc", {});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 42);
  auto t = inst.get_table("tab");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), 2u);
  auto e = t->get(0);
  ASSERT_TRUE(e);
  auto f = fe::Func::from_ref(store_, e->funcref());
  ASSERT_TRUE(f);
  std::vector<fe::Val> args{fe::Val::i32(3), fe::Val::i32(4)};
  auto fr = f->call(store_, args);
  ASSERT_TRUE(fr) << fr.error().to_string();
  EXPECT_EQ((*fr)[0].i32(), 7);
}

TEST_P(EngineTest, LinkingAcrossInstances) {
  auto inst = basic();
  auto m = fe::Module::compile(engine_, wasm("importer"), "importer");
  ASSERT_TRUE(m) << m.error().to_string();
  fe::Linker linker;
  ASSERT_TRUE(linker.define_instance("basic", inst));
  auto imp = linker.instantiate(store_, *m);
  ASSERT_TRUE(imp) << imp.error().to_string();
  auto r = call(*imp, "peek", {fe::Val::i32(8)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 'f');
  ASSERT_TRUE(call(*imp, "poke", {fe::Val::i32(200), fe::Val::i32(9)}));
  r = call(inst, "load8", {fe::Val::i32(200)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 9);
  r = call(*imp, "via_table", {});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 42);
  r = call(*imp, "via_import", {});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 42);
  r = call(*imp, "bump", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(inst.get_global("counter")->get().i32(), (*r)[0].i32());

  // Missing and mistyped imports are link errors.
  fe::Linker empty;
  auto bad = empty.instantiate(store_, *m);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, fe::ErrorKind::Link);
  fe::Linker wrong;
  ASSERT_TRUE(wrong.define_instance("basic", inst));
  wrong.allow_shadowing(true);
  ASSERT_TRUE(wrong.define("basic", "add", *inst.get_func("fac")));
  bad = wrong.instantiate(store_, *m);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, fe::ErrorKind::Link);
}

TEST_P(EngineTest, Traps) {
  auto inst = basic();
  expect_trap(inst, "unreachable", {}, fe::TrapKind::Unreachable);
  expect_trap(inst, "load8", {fe::Val::i32(70000)}, fe::TrapKind::MemoryOutOfBounds);
  expect_trap(inst, "div_s", {fe::Val::i32(1), fe::Val::i32(0)}, fe::TrapKind::IntegerDivideByZero);
  expect_trap(inst, "div_s", {fe::Val::i32(INT32_MIN), fe::Val::i32(-1)},
              fe::TrapKind::IntegerOverflow);
  expect_trap(inst, "trunc", {fe::Val::f32_bits(0x7fc00000u)}, fe::TrapKind::InvalidConversion);
  expect_trap(inst, "trunc", {fe::Val::f32(3e10f)}, fe::TrapKind::IntegerOverflow);
  expect_trap(inst, "call_indirect", {fe::Val::i32(1)},
              fe::TrapKind::IndirectCall);  // signature mismatch
  expect_trap(inst, "call_indirect", {fe::Val::i32(7)},
              fe::TrapKind::IndirectCall);  // out of range
  expect_trap(inst, "recurse", {fe::Val::i32(0)}, fe::TrapKind::CallStackExhausted);
}

TEST_P(EngineTest, InterruptSpinningAndRecursingGuests) {
  auto inst = basic();
  store_.set_timeout(std::chrono::milliseconds(100));
  auto r = call(inst, "spin", {});
  ASSERT_FALSE(r);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::Interrupted);
  // Exponential recursion without loops is interrupted too.
  store_.set_timeout(std::chrono::milliseconds(100));
  r = call(inst, "fib", {fe::Val::i32(60)});
  ASSERT_FALSE(r);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::Interrupted);
  store_.clear_deadline();
  r = call(inst, "fib", {fe::Val::i32(20)});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 6765);
}

TEST_P(EngineTest, MemoryLimits) {
  fe::StoreLimits limits;
  limits.max_memory_pages = 2;
  fe::Store small(engine_, limits);
  auto m = fe::Module::compile(engine_, wasm("bigmem"), "bigmem");
  ASSERT_TRUE(m);
  fe::Linker linker;
  auto inst = linker.instantiate(small, *m);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().kind, fe::ErrorKind::Trap);
  EXPECT_EQ(*inst.error().trap, fe::TrapKind::ResourceLimit);
  // A store-level limit also caps memory.grow inside the guest.
  auto basic_m = fe::Module::compile(engine_, wasm("basic"), "basic");
  ASSERT_TRUE(basic_m);
  fe::Linker l2;
  auto noop = [](fe::Caller&, std::span<const fe::Val>, std::span<fe::Val> r) -> fe::Result<void> {
    for (auto& v : r) v = fe::Val::i32(0);
    return {};
  };
  ASSERT_TRUE(l2.define_func(small, "env", "double", {{VT::I32}, {VT::I32}}, noop));
  ASSERT_TRUE(l2.define_func(small, "env", "fail", {}, noop));
  ASSERT_TRUE(l2.define_func(small, "env", "reenter", {{VT::I32}, {VT::I32}}, noop));
  auto b = l2.instantiate(small, *basic_m);
  ASSERT_TRUE(b) << b.error().to_string();
  auto r = b->get_func("grow")->call(small, std::vector<fe::Val>{fe::Val::i32(2)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), -1);
  r = b->get_func("grow")->call(small, std::vector<fe::Val>{fe::Val::i32(1)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 1);
}

TEST_P(EngineTest, StartFunctionTrap) {
  auto m = fe::Module::compile(engine_, wasm("startrap"), "startrap");
  ASSERT_TRUE(m);
  fe::Linker linker;
  auto inst = linker.instantiate(store_, *m);
  ASSERT_FALSE(inst);
  EXPECT_EQ(*inst.error().trap, fe::TrapKind::Unreachable);
}

INSTANTIATE_TEST_SUITE_P(Tiers, EngineTest,
                         ::testing::Values(Variant{fe::Tier::Baseline, false},
                                           Variant{fe::Tier::Optimized, false},
                                           Variant{fe::Tier::Optimized, true}),
                         [](const auto& info) {
                           return std::string(fe::tier_name(info.param.tier)) +
                                  (info.param.guard_pages ? "_guard" : "");
                         });

// ---------------------------------------------------------------------------------------------

TEST(HostileInput, EmptyGarbageAndTruncated) {
  auto check = [](std::span<const uint8_t> bytes) {
    auto r = fe::Module::validate(bytes);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().kind == fe::ErrorKind::Malformed ||
                r.error().kind == fe::ErrorKind::Invalid)
        << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  };
  check({});
  auto good = wasm("basic");
  size_t rejected = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    // A prefix is malformed unless it ends exactly at a section boundary.
    auto r = fe::Module::validate(std::span<const uint8_t>(good.data(), n));
    if (!r) {
      rejected++;
      EXPECT_FALSE(r.error().message.empty());
    }
  }
  EXPECT_GT(rejected, good.size() * 9 / 10);
  std::mt19937 rng(42);
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> junk(1 + rng() % 300);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (i % 2) {  // a valid header followed by garbage
      const uint8_t hdr[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
      junk.insert(junk.begin(), hdr, hdr + 8);
    }
    auto r = fe::Module::validate(junk);
    if (r) continue;  // garbage can, rarely, be a valid module
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(HostileInput, MalformedReportsOffset) {
  const uint8_t bad[] = {0, 'a', 's', 'm', 1, 0, 0, 0, 1, 100};
  auto r = fe::Module::validate(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Malformed);
  EXPECT_TRUE(r.error().offset.has_value());
  EXPECT_NE(r.error().message.find("offset"), std::string::npos);
}

// A function body of `depth` nested empty blocks, exported as "f".
std::vector<uint8_t> nested_blocks(size_t depth) {
  auto leb = [](std::vector<uint8_t>& out, size_t v) {
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      out.push_back(v ? (b | 0x80) : b);
    } while (v);
  };
  std::vector<uint8_t> body{0};  // no locals
  for (size_t i = 0; i < depth; ++i) body.insert(body.end(), {0x02, 0x40});
  body.insert(body.end(), depth + 1, 0x0b);
  std::vector<uint8_t> code;
  leb(code, 1);
  leb(code, body.size());
  code.insert(code.end(), body.begin(), body.end());
  std::vector<uint8_t> m{0, 'a', 's', 'm', 1, 0, 0, 0, 1, 4,   1, 0x60, 0,
                         0, 3,   2,   1,   0, 7, 5, 1, 1, 'f', 0, 0,    10};
  leb(m, code.size());
  m.insert(m.end(), code.begin(), code.end());
  return m;
}

TEST(HostileInput, DeepNestingIsRefusedNotAStackOverflow) {
  fe::Config c;
  c.tier = fe::Tier::Baseline;
  fe::Engine engine(c);
  auto ok = fe::Module::compile(engine, nested_blocks(500));
  ASSERT_TRUE(ok) << ok.error().to_string();
  auto deep = fe::Module::compile(engine, nested_blocks(500000));
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().kind, fe::ErrorKind::Limit);
}

TEST(HostileInput, SimdIsUnsupportedNotACrash) {
  fe::Config c;
  c.tier = fe::Tier::Baseline;
  fe::Engine engine(c);
  auto m = fe::Module::compile(engine, wasm("simd"), "simd");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, fe::ErrorKind::Unsupported);
}

// ---------------------------------------------------------------------------------------------

TEST(Cache, CompileToCacheThenAutoUsesOptimized) {
  fs::path dir = cache_dir() / "cache-test";
  fs::remove_all(dir);
  fe::Config c;
  c.cache_dir = dir;
  fe::Engine engine(c);
  auto bytes = wasm("importer");
  auto t = fe::Module::compile_to_cache(engine, bytes);
  ASSERT_TRUE(t) << t.error().to_string();
  size_t entries = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".so") entries++;
  EXPECT_EQ(entries, 1u);
  bool hit = false;
  auto again = fe::Module::compile_to_cache(engine, bytes, [&](const fe::CompileProgress& p) {
    if (p.stage == "cache-hit") hit = true;
  });
  ASSERT_TRUE(again);
  EXPECT_TRUE(hit);
  auto m = fe::Module::compile(engine, bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->current_tier(), fe::Tier::Optimized);
}

TEST(Cache, CorruptEntryIsRebuilt) {
  fs::path dir = cache_dir() / "corrupt-test";
  fs::remove_all(dir);
  fe::Config c;
  c.cache_dir = dir;
  fe::Engine engine(c);
  auto bytes = wasm("importer");
  ASSERT_TRUE(fe::Module::compile_to_cache(engine, bytes));
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() == ".so") fs::resize_file(e.path(), 100);
  }
  auto t = fe::Module::compile_to_cache(engine, bytes);
  ASSERT_TRUE(t) << t.error().to_string();
  c.tier = fe::Tier::Optimized;
  fe::Engine e2(c);
  auto m = fe::Module::compile(e2, bytes);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->current_tier(), fe::Tier::Optimized);
}

TEST(Tiers, OptimizedSplitIntoManyUnits) {
  fe::Config c;
  c.cache_dir = cache_dir() / "split-test";
  c.tier = fe::Tier::Optimized;
  c.split_bytes = 1;  // every module splits into the maximum number of units
  fe::Engine engine(c);
  auto m = fe::Module::compile(engine, wasm("basic"), "basic");
  ASSERT_TRUE(m) << m.error().to_string();
  fe::Store store(engine);
  fe::Linker linker;
  auto twice = [](fe::Caller&, std::span<const fe::Val> p,
                  std::span<fe::Val> r) -> fe::Result<void> {
    r[0] = fe::Val::i32(p[0].i32() * 2);
    return {};
  };
  auto none = [](fe::Caller&, std::span<const fe::Val>, std::span<fe::Val> r) -> fe::Result<void> {
    for (auto& v : r) v = fe::Val::i32(0);
    return {};
  };
  ASSERT_TRUE(linker.define_func(store, "env", "double", {{VT::I32}, {VT::I32}}, twice));
  ASSERT_TRUE(linker.define_func(store, "env", "fail", {}, none));
  ASSERT_TRUE(linker.define_func(store, "env", "reenter", {{VT::I32}, {VT::I32}}, none));
  auto inst = linker.instantiate(store, *m);
  ASSERT_TRUE(inst) << inst.error().to_string();
  auto call = [&](const char* name, std::vector<fe::Val> args) {
    return inst->get_func(name)->call(store, args);
  };
  auto r = call("fac", {fe::Val::i64(20)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i64(), 2432902008176640000LL);
  r = call("call_double", {fe::Val::i32(21)});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 42);
  r = call("call_indirect", {fe::Val::i32(0)});  // table entry 0 is $add: 1 + 2
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 3);
  r = call("div_s", {fe::Val::i32(1), fe::Val::i32(0)});
  ASSERT_FALSE(r);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::IntegerDivideByZero);
  r = call("recurse", {fe::Val::i32(1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::CallStackExhausted);
}

TEST(Tiers, EngineShutdownReleasesWaiters) {
  fs::path dir = cache_dir() / "shutdown-test";
  fs::remove_all(dir);
  std::optional<fe::Module> a, b;
  {
    fe::Config c;
    c.cache_dir = dir;
    c.tier = fe::Tier::Auto;
    fe::Engine engine(c);
    auto ma = fe::Module::compile(engine, wasm("basic"));
    auto mb = fe::Module::compile(engine, wasm("importer"));  // queued behind the first
    ASSERT_TRUE(ma && mb);
    a = *ma;
    b = *mb;
  }  // the engine kills its compilers and drops queued builds
  // Neither wait hangs; the modules stay usable on whatever tier they reached.
  a->wait_optimized();
  b->wait_optimized();
  fe::Config c2;
  fe::Engine other(c2);
  fe::Store store(other);
  fe::Linker linker;
  auto inst = linker.instantiate(store, *b);
  EXPECT_FALSE(inst);  // importer has unresolved imports: a link error, not a crash
}

TEST(Tiers, AutoStartsOnBaselineAndSwitches) {
  fs::path dir = cache_dir() / "auto-test";
  fs::remove_all(dir);
  fe::Config c;
  c.cache_dir = dir;
  c.tier = fe::Tier::Auto;
  fe::Engine engine(c);
  auto m = fe::Module::compile(engine, wasm("bigmem"));
  ASSERT_TRUE(m);
  fe::Store store(engine);
  fe::Linker linker;
  auto first = linker.instantiate(store, *m);
  ASSERT_TRUE(first);
  EXPECT_EQ(m->wait_optimized(), fe::Tier::Optimized);
  auto second = linker.instantiate(store, *m);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->tier(), fe::Tier::Optimized);
  EXPECT_TRUE(first->get_memory("nope") == std::nullopt);  // the first instance is still valid
}

}  // namespace
