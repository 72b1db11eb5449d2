// One Engine used from several threads at once (the host runs an event loop per core): each
// thread compiles, instantiates and calls in its own Store, with traps, deadlines and the Auto
// tier switching underneath. Also meant for ThreadSanitizer runs.
#include <atomic>
#include <thread>

#include "test_util.h"

namespace flotilla::engine::test {
namespace {

using V = fe::Val;

// Per-thread work on one shared module: calls, a trap, an interrupted spin, a good call.
void work(fe::Engine& engine, const fe::Module& traps, int iterations, std::atomic<int>& errors) {
  for (int i = 0; i < iterations; ++i) {
    fe::Store store(engine);
    auto inst = fe::Linker().instantiate(store, traps);
    if (!inst) {
      errors++;
      continue;
    }
    auto call = [&](const char* fn, std::vector<V> args) {
      return inst->get_func(fn)->call(store, args);
    };
    auto r = call("count", {V::i32(200)});
    if (!r || (*r)[0].i32() != 200) errors++;
    r = call("div_s32", {V::i32(1), V::i32(0)});
    if (r || r.error().trap != fe::TrapKind::IntegerDivideByZero) errors++;
    r = call("recurse", {V::i32(0)});
    if (r || r.error().trap != fe::TrapKind::CallStackExhausted) errors++;
    if (i % 4 == 0) {
      store.set_timeout(std::chrono::milliseconds(5));
      r = call("spin_calls", {});
      if (r || r.error().trap != fe::TrapKind::Interrupted) errors++;
      store.clear_deadline();
    }
    r = call("ok", {});
    if (!r || (*r)[0].i32() != 42) errors++;
  }
}

TEST(Threads, SharedModuleWhileTheTierSwitches) {
  fs::path dir = cache_dir() / "threads-shared";
  fs::remove_all(dir);
  fe::Config c;
  c.cache_dir = dir;
  c.tier = fe::Tier::Auto;
  fe::Engine engine(c);
  auto m = fe::Module::compile(engine, wasm("traps"));
  ASSERT_TRUE(m) << m.error().to_string();
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { work(engine, *m, 12, errors); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(m->wait_optimized(), fe::Tier::Optimized);
  work(engine, *m, 2, errors);
  EXPECT_EQ(errors.load(), 0);
}

TEST(Threads, ConcurrentCompiles) {
  fs::path dir = cache_dir() / "threads-compile";
  fs::remove_all(dir);
  fe::Config c;
  c.cache_dir = dir;
  c.tier = fe::Tier::Auto;
  fe::Engine engine(c);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        // Every thread compiles the same bytes and a module of its own choosing.
        auto m = fe::Module::compile(engine, wasm("traps"));
        auto other = fe::Module::compile(engine, wasm(t % 2 ? "numeric" : "tiered"));
        if (!m || !other) {
          errors++;
          continue;
        }
        work(engine, *m, 1, errors);
      }
    });
  }
  for (auto& t : threads) t.join();
  engine.wait_background();
  EXPECT_EQ(errors.load(), 0);
}

TEST(Threads, InterruptFromManyThreads) {
  fe::Config c;
  c.tier = fe::Tier::Baseline;
  fe::Engine engine(c);
  auto m = fe::Module::compile(engine, wasm("traps"));
  ASSERT_TRUE(m);
  fe::Store store(engine);
  auto inst = fe::Linker().instantiate(store, *m);
  ASSERT_TRUE(inst);
  std::atomic<bool> done{false};
  std::vector<std::thread> interrupters;
  for (int t = 0; t < 3; ++t) {
    interrupters.emplace_back([&] {
      while (!done.load()) {
        store.interrupt();
        std::this_thread::yield();
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    auto r = inst->get_func("spin")->call(store, std::span<const V>{});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().trap, fe::TrapKind::Interrupted) << r.error().to_string();
  }
  done = true;
  for (auto& t : interrupters) t.join();
  store.clear_deadline();
  auto r = inst->get_func("ok")->call(store, std::span<const V>{});
  ASSERT_TRUE(r) << r.error().to_string();
}

}  // namespace
}  // namespace flotilla::engine::test
