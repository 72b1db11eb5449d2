// The optimized tier's code cache (hits, corrupt entries) and Tier::Auto switching.
#include <random>

#include "test_util.h"

namespace flotilla::engine::test {
namespace {

using V = fe::Val;

std::vector<fs::path> cache_entries(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".so") out.push_back(e.path());
  return out;
}

fe::Config config_for(const fs::path& dir, fe::Tier tier) {
  fe::Config c;
  c.cache_dir = dir;
  c.tier = tier;
  return c;
}

// Instantiates tiered.wat and checks that it computes.
void expect_runs(fe::Engine& engine, const fe::Module& m) {
  fe::Store store(engine);
  auto inst = fe::Linker().instantiate(store, m);
  ASSERT_TRUE(inst) << inst.error().to_string();
  auto fib = inst->get_func("fib");
  ASSERT_TRUE(fib);
  std::vector<V> args{V::i32(20)};
  auto r = fib->call(store, args);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 6765);
  std::vector<V> div0{V::i32(1), V::i32(0)};
  r = inst->get_func("div")->call(store, div0);
  ASSERT_FALSE(r);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::IntegerDivideByZero);
}

TEST(Cache, CompileToCacheTwiceHitsTheSecondTime) {
  fs::path dir = cache_dir() / "hit-test";
  fs::remove_all(dir);
  fe::Engine engine(config_for(dir, fe::Tier::Auto));
  auto bytes = wasm("tiered");
  std::vector<std::string> stages;
  auto t = fe::Module::compile_to_cache(
      engine, bytes, [&](const fe::CompileProgress& p) { stages.push_back(p.stage); });
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_EQ(*t, fe::Tier::Optimized);
  EXPECT_NE(std::find(stages.begin(), stages.end(), "cc"), stages.end());
  auto entries = cache_entries(dir);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_GT(fs::file_size(entries[0]), 0u);
  auto mtime = fs::last_write_time(entries[0]);

  stages.clear();
  t = fe::Module::compile_to_cache(
      engine, bytes, [&](const fe::CompileProgress& p) { stages.push_back(p.stage); });
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_NE(std::find(stages.begin(), stages.end(), "cache-hit"), stages.end());
  EXPECT_EQ(std::find(stages.begin(), stages.end(), "cc"), stages.end());  // no compiler run
  EXPECT_EQ(cache_entries(dir).size(), 1u);
  EXPECT_EQ(fs::last_write_time(entries[0]), mtime);

  auto m = fe::Module::compile(engine, bytes);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->current_tier(), fe::Tier::Optimized);  // Auto picks the cached build at once
  EXPECT_EQ(m->wait_optimized(), fe::Tier::Optimized);
  expect_runs(engine, *m);
  // A different module is a different entry.
  ASSERT_TRUE(fe::Module::compile_to_cache(engine, wasm("numeric")));
  EXPECT_EQ(cache_entries(dir).size(), 2u);
}

TEST(Cache, DisabledCacheLeavesNoEntries) {
  fs::path dir = cache_dir() / "disabled-test";
  fs::remove_all(dir);
  auto c = config_for(dir, fe::Tier::Optimized);
  c.cache_enabled = false;
  fe::Engine engine(c);
  auto m = fe::Module::compile(engine, wasm("tiered"));
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->current_tier(), fe::Tier::Optimized);
  expect_runs(engine, *m);
  EXPECT_TRUE(cache_entries(dir).empty());
}

// Ways to damage a cache entry. Each must end in a rebuild or a fallback, never a crash.
enum class Damage {
  Empty,
  Header,
  Truncated100,
  TruncatedHalf,
  TruncatedLastByte,
  Garbage,
  FlippedMiddle,
  OtherModule
};

const char* damage_name(Damage d) {
  switch (d) {
    case Damage::Empty:
      return "Empty";
    case Damage::Header:
      return "Header";
    case Damage::Truncated100:
      return "Truncated100";
    case Damage::TruncatedHalf:
      return "TruncatedHalf";
    case Damage::TruncatedLastByte:
      return "TruncatedLastByte";
    case Damage::Garbage:
      return "Garbage";
    case Damage::FlippedMiddle:
      return "FlippedMiddle";
    case Damage::OtherModule:
      return "OtherModule";
  }
  return "?";
}

class CorruptCache : public ::testing::TestWithParam<Damage> {
 protected:
  // Builds tiered.wat's entry in a fresh cache dir and damages it. Nothing holds the shared
  // object open at that point (a file changed under a live mapping is another matter).
  void damage_entry(const fs::path& dir) {
    fs::remove_all(dir);
    fs::path so;
    {
      fe::Engine engine(config_for(dir, fe::Tier::Optimized));
      if (GetParam() == Damage::OtherModule) {
        ASSERT_TRUE(fe::Module::compile_to_cache(engine, wasm("numeric")));
        auto other = cache_entries(dir);
        ASSERT_EQ(other.size(), 1u);
        fs::rename(other[0], dir / "numeric.so.keep");
      }
      ASSERT_TRUE(fe::Module::compile_to_cache(engine, wasm("tiered")));
      auto entries = cache_entries(dir);
      ASSERT_EQ(entries.size(), 1u);
      so = entries[0];
    }
    auto size = fs::file_size(so);
    std::mt19937 rng(7);
    switch (GetParam()) {
      case Damage::Empty:
        fs::resize_file(so, 0);
        break;
      case Damage::Header:
        fs::resize_file(so, 64);  // an ELF header and nothing else
        break;
      case Damage::Truncated100:
        fs::resize_file(so, 100);
        break;
      case Damage::TruncatedHalf:
        fs::resize_file(so, size / 2);
        break;
      case Damage::TruncatedLastByte:
        fs::resize_file(so, size - 1);
        break;
      case Damage::Garbage: {
        std::ofstream f(so, std::ios::binary | std::ios::trunc);
        for (uintmax_t i = 0; i < size; ++i) f.put(static_cast<char>(rng()));
        break;
      }
      case Damage::FlippedMiddle: {
        std::fstream f(so, std::ios::binary | std::ios::in | std::ios::out);
        f.seekp(static_cast<std::streamoff>(size / 2));
        for (int i = 0; i < 64; ++i) f.put(static_cast<char>(rng()));
        break;
      }
      case Damage::OtherModule:
        fs::remove(so);
        fs::copy_file(dir / "numeric.so.keep", so);
        break;
    }
  }
};

TEST_P(CorruptCache, OptimizedTierRebuilds) {
  fs::path dir = cache_dir() / (std::string("corrupt-opt-") + damage_name(GetParam()));
  damage_entry(dir);
  if (HasFatalFailure()) return;
  fe::Engine engine(config_for(dir, fe::Tier::Optimized));
  auto m = fe::Module::compile(engine, wasm("tiered"));
  if (GetParam() == Damage::FlippedMiddle && !m) {
    // Damage inside the code can go undetected by the loader; an error is acceptable, a
    // crash is not.
    SUCCEED() << m.error().to_string();
    return;
  }
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->current_tier(), fe::Tier::Optimized);
  if (GetParam() != Damage::FlippedMiddle) expect_runs(engine, *m);
}

TEST_P(CorruptCache, CompileToCacheRebuilds) {
  fs::path dir = cache_dir() / (std::string("corrupt-ctc-") + damage_name(GetParam()));
  damage_entry(dir);
  if (HasFatalFailure()) return;
  if (GetParam() == Damage::FlippedMiddle) return;  // loads fine: nothing to rebuild
  fe::Engine engine(config_for(dir, fe::Tier::Auto));
  auto t = fe::Module::compile_to_cache(engine, wasm("tiered"));
  ASSERT_TRUE(t) << t.error().to_string();
  // The entry is sound again: a fresh engine loads it as a cache hit.
  fe::Engine again(config_for(dir, fe::Tier::Auto));
  auto m = fe::Module::compile(again, wasm("tiered"));
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->current_tier(), fe::Tier::Optimized);
  expect_runs(again, *m);
}

TEST_P(CorruptCache, AutoTierFallsBackToBaseline) {
  fs::path dir = cache_dir() / (std::string("corrupt-auto-") + damage_name(GetParam()));
  damage_entry(dir);
  if (HasFatalFailure()) return;
  if (GetParam() == Damage::FlippedMiddle) return;
  fe::Engine engine(config_for(dir, fe::Tier::Auto));
  auto m = fe::Module::compile(engine, wasm("tiered"));
  ASSERT_TRUE(m) << m.error().to_string();
  // Losing the last byte cuts only the section header table, which the loader does not need:
  // the entry still loads.
  if (GetParam() != Damage::TruncatedLastByte) {
    EXPECT_EQ(m->current_tier(), fe::Tier::Baseline);
  }
  expect_runs(engine, *m);
  EXPECT_EQ(m->wait_optimized(), fe::Tier::Optimized);  // rebuilt in the background
  expect_runs(engine, *m);
}

INSTANTIATE_TEST_SUITE_P(Damages, CorruptCache,
                         ::testing::Values(Damage::Empty, Damage::Header, Damage::Truncated100,
                                           Damage::TruncatedLastByte, Damage::Garbage,
                                           Damage::OtherModule),
                         [](const auto& info) { return std::string(damage_name(info.param)); });

// ---------------------------------------------------------------------------------------------
// Tier::Auto

TEST(AutoTier, StartsOnBaselineThenSwitchesWhileOldInstancesKeepWorking) {
  fs::path dir = cache_dir() / "auto-switch";
  fs::remove_all(dir);
  fe::Engine engine(config_for(dir, fe::Tier::Auto));
  auto bytes = wasm("tiered");
  auto m = fe::Module::compile(engine, bytes);
  ASSERT_TRUE(m) << m.error().to_string();
  fe::Store store(engine);
  auto first = fe::Linker().instantiate(store, *m);
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_EQ(first->tier(), fe::Tier::Baseline);
  auto call = [&](const fe::Instance& inst, const char* fn, std::vector<V> args) {
    auto f = inst.get_func(fn);
    EXPECT_TRUE(f) << fn;
    return f->call(store, args);
  };
  auto r = call(*first, "bump", {});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 1);

  EXPECT_EQ(m->wait_optimized(), fe::Tier::Optimized);
  EXPECT_EQ(m->current_tier(), fe::Tier::Optimized);
  EXPECT_EQ(cache_entries(dir).size(), 1u);
  auto second = fe::Linker().instantiate(store, *m);
  ASSERT_TRUE(second) << second.error().to_string();
  EXPECT_EQ(second->tier(), fe::Tier::Optimized);
  EXPECT_EQ(first->tier(), fe::Tier::Baseline);

  // The first instance keeps its state and code; the second starts fresh.
  r = call(*first, "bump", {});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 2);
  r = call(*second, "bump", {});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 1);
  for (const auto* inst : {&*first, &*second}) {
    r = call(*inst, "fib", {V::i32(15)});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ((*r)[0].i32(), 610);
    r = call(*inst, "div", {V::i32(1), V::i32(0)});
    ASSERT_FALSE(r);
    EXPECT_EQ(*r.error().trap, fe::TrapKind::IntegerDivideByZero);
  }
  EXPECT_EQ(first->get_memory("mem")->data()[0], 2);
  EXPECT_EQ(second->get_memory("mem")->data()[0], 1);

  // Funcs of the old instance obtained before the switch still work.
  auto old_fib = first->get_func("fib");
  ASSERT_TRUE(old_fib);
  std::vector<V> args{V::i32(10)};
  r = old_fib->call(store, args);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 55);

  // A later compile of the same bytes finds the cache.
  auto again = fe::Module::compile(engine, bytes);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->current_tier(), fe::Tier::Optimized);
}

TEST(AutoTier, ModuleOutlivesItsEngine) {
  fs::path dir = cache_dir() / "auto-outlive";
  fs::remove_all(dir);
  std::optional<fe::Module> m;
  {
    fe::Engine engine(config_for(dir, fe::Tier::Auto));
    auto c = fe::Module::compile(engine, wasm("numeric"));
    ASSERT_TRUE(c);
    m = *c;
  }                                 // the engine stops its background build
  auto tier = m->wait_optimized();  // returns, whatever tier was reached
  EXPECT_TRUE(tier == fe::Tier::Baseline || tier == fe::Tier::Optimized);
  fe::Engine other(config_for(dir, fe::Tier::Baseline));
  fe::Store store(other);
  auto inst = fe::Linker().instantiate(store, *m);
  ASSERT_TRUE(inst) << inst.error().to_string();
  std::vector<V> args{V::i32(47), V::i32(5)};
  auto r = inst->get_func("divmod")->call(store, args);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 9);
}

TEST(AutoTier, FailingCompilerKeepsBaseline) {
  fs::path dir = cache_dir() / "auto-badcc";
  fs::remove_all(dir);
  auto c = config_for(dir, fe::Tier::Auto);
  c.cc = "/nonexistent/cc";
  fe::Engine engine(c);
  auto m = fe::Module::compile(engine, wasm("tiered"));
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->wait_optimized(), fe::Tier::Baseline);
  expect_runs(engine, *m);
  c.tier = fe::Tier::Optimized;
  fe::Engine forced(c);
  auto f = fe::Module::compile(forced, wasm("tiered"));
  ASSERT_FALSE(f);
  EXPECT_TRUE(f.error().kind == fe::ErrorKind::Compile || f.error().kind == fe::ErrorKind::Io)
      << f.error().to_string();
}

}  // namespace
}  // namespace flotilla::engine::test
