// Traps of every kind, on every tier, each followed by a successful call in the same store and
// instance; store limits (memory pages, table elements, call depth, native stack, instances);
// interruption by deadline and by Store::interrupt. No timing assertions.
#include <atomic>
#include <cmath>
#include <thread>

#include "test_util.h"

namespace flotilla::engine::test {
namespace {

using V = fe::Val;

class Traps : public TierTest {
 protected:
  void SetUp() override { inst_ = instantiate_stubbed("traps"); }

  void expect_trap(const std::string& fn, std::vector<V> args, fe::TrapKind kind) {
    SCOPED_TRACE(fn);
    auto r = call(inst_, fn, std::move(args));
    ASSERT_FALSE(r) << fn << " did not trap";
    EXPECT_EQ(r.error().kind, fe::ErrorKind::Trap);
    ASSERT_TRUE(r.error().trap) << r.error().to_string();
    EXPECT_EQ(*r.error().trap, kind) << r.error().to_string();
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(r.error().function, fn);
    // The same store and instance keep working.
    auto again = call(inst_, "ok", {});
    ASSERT_TRUE(again) << "after " << fn << ": " << again.error().to_string();
    EXPECT_EQ((*again)[0].i32(), 42);
  }

  fe::Instance inst_;
};

TEST_P(Traps, Unreachable) {
  expect_trap("unreachable", {}, fe::TrapKind::Unreachable);
  expect_trap("unreachable_deep", {}, fe::TrapKind::Unreachable);
}

TEST_P(Traps, MemoryOutOfBounds) {
  EXPECT_EQ(ok(inst_, "load32", {V::i32(65532)})[0].i32(), 0);  // last in-bounds word
  expect_trap("load32", {V::i32(65533)}, fe::TrapKind::MemoryOutOfBounds);
  expect_trap("load64", {V::i32(65529)}, fe::TrapKind::MemoryOutOfBounds);
  expect_trap("load32", {V::i32(-1)}, fe::TrapKind::MemoryOutOfBounds);
  expect_trap("load_big_offset", {V::i32(0x20)}, fe::TrapKind::MemoryOutOfBounds);  // > 4 GiB
  expect_trap("store8", {V::i32(65536), V::i32(1)}, fe::TrapKind::MemoryOutOfBounds);
  expect_trap("fill", {V::i32(65000), V::i32(1000)}, fe::TrapKind::MemoryOutOfBounds);
  expect_trap("copy", {V::i32(0), V::i32(65000), V::i32(1000)}, fe::TrapKind::MemoryOutOfBounds);
  expect_trap("init", {V::i32(0), V::i32(5), V::i32(6)}, fe::TrapKind::MemoryOutOfBounds);
  ok(inst_, "init", {V::i32(0), V::i32(0), V::i32(10)});
  EXPECT_EQ(ok(inst_, "load32", {V::i32(0)})[0].i32(), 0x33323130);  // "0123"
  ok(inst_, "drop_data", {});
  expect_trap("init", {V::i32(0), V::i32(0), V::i32(1)}, fe::TrapKind::MemoryOutOfBounds);
  // Declared maximum 1: the memory cannot grow, accesses stay out of bounds.
  EXPECT_EQ(ok(inst_, "grow", {V::i32(1)})[0].i32(), -1);
  expect_trap("store8", {V::i32(65536), V::i32(1)}, fe::TrapKind::MemoryOutOfBounds);
}

TEST_P(Traps, TableOutOfBounds) {
  EXPECT_EQ(ok(inst_, "table_get_null", {V::i32(3)})[0].i32(), 1);
  EXPECT_EQ(ok(inst_, "table_get_null", {V::i32(0)})[0].i32(), 0);
  expect_trap("table_get_null", {V::i32(4)}, fe::TrapKind::MemoryOutOfBounds);
  expect_trap("table_set_null", {V::i32(-1)}, fe::TrapKind::MemoryOutOfBounds);
}

TEST_P(Traps, IntegerDivision) {
  expect_trap("div_s32", {V::i32(1), V::i32(0)}, fe::TrapKind::IntegerDivideByZero);
  expect_trap("rem_u32", {V::i32(1), V::i32(0)}, fe::TrapKind::IntegerDivideByZero);
  expect_trap("div_s64", {V::i64(1), V::i64(0)}, fe::TrapKind::IntegerDivideByZero);
  expect_trap("rem_s64", {V::i64(1), V::i64(0)}, fe::TrapKind::IntegerDivideByZero);
  expect_trap("div_s32", {V::i32(INT32_MIN), V::i32(-1)}, fe::TrapKind::IntegerOverflow);
  expect_trap("div_s64", {V::i64(INT64_MIN), V::i64(-1)}, fe::TrapKind::IntegerOverflow);
  EXPECT_EQ(ok(inst_, "rem_s64", {V::i64(INT64_MIN), V::i64(-1)})[0].i64(), 0);
}

TEST_P(Traps, FloatToIntConversion) {
  expect_trap("trunc_f32_s32", {V::f32_bits(0x7fc00000u)}, fe::TrapKind::InvalidConversion);
  expect_trap("trunc_f32_s32", {V::f32_bits(0x7fa00001u)}, fe::TrapKind::InvalidConversion);
  expect_trap("trunc_f64_s64", {V::f64(std::nan(""))}, fe::TrapKind::InvalidConversion);
  expect_trap("trunc_f32_s32", {V::f32(2147483648.0f)}, fe::TrapKind::IntegerOverflow);
  expect_trap("trunc_f32_s32", {V::f32(-INFINITY)}, fe::TrapKind::IntegerOverflow);
  expect_trap("trunc_f64_u32", {V::f64(-1.0)}, fe::TrapKind::IntegerOverflow);
  expect_trap("trunc_f64_u32", {V::f64(4294967296.0)}, fe::TrapKind::IntegerOverflow);
  expect_trap("trunc_f64_s64", {V::f64(9223372036854775808.0)}, fe::TrapKind::IntegerOverflow);
  expect_trap("trunc_f32_u64", {V::f32(-1.0f)}, fe::TrapKind::IntegerOverflow);
  // Edges that do not trap.
  EXPECT_EQ(ok(inst_, "trunc_f64_u32", {V::f64(-0.99)})[0].i32(), 0);
  EXPECT_EQ(ok(inst_, "trunc_f64_u32", {V::f64(4294967295.9)})[0].u32(), UINT32_MAX);
  EXPECT_EQ(ok(inst_, "trunc_f32_s32", {V::f32(-2147483648.0f)})[0].i32(), INT32_MIN);
  EXPECT_EQ(ok(inst_, "trunc_f64_s64", {V::f64(-9223372036854775808.0)})[0].i64(), INT64_MIN);
}

TEST_P(Traps, IndirectCalls) {
  EXPECT_EQ(ok(inst_, "call_ii", {V::i32(0), V::i32(41)})[0].i32(), 42);
  expect_trap("call_ii", {V::i32(1), V::i32(0)}, fe::TrapKind::IndirectCall);  // type mismatch
  expect_trap("call_ii", {V::i32(2), V::i32(0)}, fe::TrapKind::IndirectCall);  // null entry
  expect_trap("call_ii", {V::i32(4), V::i32(0)}, fe::TrapKind::IndirectCall);  // out of range
  expect_trap("call_ii", {V::i32(-1), V::i32(0)}, fe::TrapKind::IndirectCall);
  ok(inst_, "table_set_null", {V::i32(0)});
  expect_trap("call_ii", {V::i32(0), V::i32(0)}, fe::TrapKind::IndirectCall);  // nulled
}

TEST_P(Traps, StackExhaustion) {
  expect_trap("recurse", {V::i32(0)}, fe::TrapKind::CallStackExhausted);
  expect_trap("recurse_fat", {V::i64(0)}, fe::TrapKind::CallStackExhausted);
  // Repeatedly: nothing leaks or drifts between exhausted calls.
  for (int i = 0; i < 5; ++i) expect_trap("recurse", {V::i32(i)}, fe::TrapKind::CallStackExhausted);
  EXPECT_EQ(ok(inst_, "count", {V::i32(1000)})[0].i32(), 1000);
}

TEST_P(Traps, InterruptSpinningLoops) {
  for (const char* fn : {"spin", "spin_calls", "spin_memory"}) {
    store_.set_timeout(std::chrono::milliseconds(30));
    auto r = call(inst_, fn, {});
    ASSERT_FALSE(r) << fn;
    ASSERT_TRUE(r.error().trap) << r.error().to_string();
    EXPECT_EQ(*r.error().trap, fe::TrapKind::Interrupted) << fn << ": " << r.error().to_string();
    store_.clear_deadline();
    EXPECT_EQ(ok(inst_, "ok", {})[0].i32(), 42) << fn;
  }
}

TEST_P(Traps, InterruptFromAnotherThread) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    // Interrupt until the call has returned: interrupt() also applies to calls not yet started,
    // so there is no race with the call below.
    while (!done.load()) {
      store_.interrupt();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto r = call(inst_, "spin_calls", {});
  done = true;
  t.join();
  ASSERT_FALSE(r);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::Interrupted) << r.error().to_string();
  store_.clear_deadline();
  EXPECT_EQ(ok(inst_, "ok", {})[0].i32(), 42);
}

TEST_P(Traps, ExpiredDeadlineAppliesToLaterCallsUntilCleared) {
  store_.set_deadline(std::chrono::steady_clock::now() - std::chrono::seconds(1));
  auto r = call(inst_, "spin", {});
  ASSERT_FALSE(r);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::Interrupted);
  store_.clear_deadline();
  EXPECT_EQ(ok(inst_, "count", {V::i32(100)})[0].i32(), 100);
  store_.set_timeout(std::chrono::hours(1));  // a far deadline does not disturb calls
  EXPECT_EQ(ok(inst_, "count", {V::i32(100)})[0].i32(), 100);
  store_.clear_deadline();
}

TEST_P(Traps, TrapInStartFunction) {
  auto m = compile("startrap");
  auto inst = fe::Linker().instantiate(store_, m);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().kind, fe::ErrorKind::Trap);
  ASSERT_TRUE(inst.error().trap);
  EXPECT_EQ(*inst.error().trap, fe::TrapKind::Unreachable);
  EXPECT_EQ(ok(inst_, "ok", {})[0].i32(), 42);  // the store is fine
}

TEST_P(Traps, SpinningStartFunctionIsInterrupted) {
  auto m = compile("startspin");
  store_.set_timeout(std::chrono::milliseconds(30));
  auto inst = fe::Linker().instantiate(store_, m);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().kind, fe::ErrorKind::Trap);
  ASSERT_TRUE(inst.error().trap);
  EXPECT_EQ(*inst.error().trap, fe::TrapKind::Interrupted) << inst.error().to_string();
  store_.clear_deadline();
  EXPECT_EQ(ok(inst_, "ok", {})[0].i32(), 42);
}

TEST_P(Traps, OutOfBoundsSegmentsTrapAtInstantiation) {
  for (const char* name : {"dataoob", "elemoob"}) {
    auto m = compile(name);
    auto inst = fe::Linker().instantiate(store_, m);
    ASSERT_FALSE(inst) << name;
    EXPECT_EQ(inst.error().kind, fe::ErrorKind::Trap) << inst.error().to_string();
    ASSERT_TRUE(inst.error().trap);
    EXPECT_EQ(*inst.error().trap, fe::TrapKind::MemoryOutOfBounds) << inst.error().to_string();
  }
  EXPECT_EQ(ok(inst_, "ok", {})[0].i32(), 42);
}

INSTANTIATE_TEST_SUITE_P(Tiers, Traps, FLOTILLA_ALL_TIERS, variant_name);

// ---------------------------------------------------------------------------------------------
// Store limits

class Limits : public TierTest {};

TEST_P(Limits, MemoryPages) {
  fe::StoreLimits limits;
  limits.max_memory_pages = 3;
  fe::Store store(engine_, limits);
  auto inst = instantiate_stubbed("limits", &store);
  auto grow = [&](int n) {
    auto r = call(inst, "grow", {V::i32(n)}, &store);
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? (*r)[0].i32() : -2;
  };
  EXPECT_EQ(grow(3), -1);  // 1 + 3 > 3
  EXPECT_EQ(grow(2), 1);
  EXPECT_EQ(grow(1), -1);
  EXPECT_EQ(grow(0), 3);
  auto last = call(inst, "store_last", {V::i32(77)}, &store);
  ASSERT_TRUE(last) << last.error().to_string();
  EXPECT_EQ((*last)[0].i32(), 77);
  auto mem = inst.get_memory("mem");
  ASSERT_TRUE(mem);
  EXPECT_EQ(mem->pages(), 3u);
  EXPECT_EQ(mem->data()[3 * 65536 - 1], 77);
  auto hg = mem->grow(1);  // the host's grow obeys the store limit too
  ASSERT_FALSE(hg);
  EXPECT_EQ(hg.error().kind, fe::ErrorKind::Limit);
  EXPECT_FALSE(mem->grow(UINT64_MAX));
  // Host-created memories over the limit are refused.
  auto big = fe::Memory::create(store, {{4, std::nullopt}});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().kind, fe::ErrorKind::Limit);
  // Host accessors check bounds, including offset overflow.
  uint8_t buf[8] = {};
  EXPECT_FALSE(mem->read(3 * 65536 - 4, buf));
  EXPECT_FALSE(mem->read(UINT64_MAX - 2, buf));
  EXPECT_FALSE(mem->write(UINT64_MAX, std::span<const uint8_t>(buf, 1)));
  EXPECT_TRUE(mem->write(3 * 65536 - 8, buf));
  EXPECT_TRUE(mem->read(3 * 65536, std::span<uint8_t>(buf, 0)));
}

TEST_P(Limits, InitialMemoryOverLimitFailsToInstantiate) {
  fe::StoreLimits limits;
  limits.max_memory_pages = 4;
  fe::Store store(engine_, limits);
  auto m = compile("bigmem");  // 8 pages
  auto inst = fe::Linker().instantiate(store, m);
  ASSERT_FALSE(inst);
  EXPECT_TRUE(inst.error().kind == fe::ErrorKind::Limit ||
              (inst.error().kind == fe::ErrorKind::Trap &&
               inst.error().trap == fe::TrapKind::ResourceLimit))
      << inst.error().to_string();
  EXPECT_FALSE(inst.error().to_string().empty());
  // The store and other modules are unaffected; a store with room instantiates the same module.
  auto other = instantiate_stubbed("limits", &store);
  auto r = call(other, "size", {}, &store);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 1);
  fe::Store roomy(engine_);
  EXPECT_TRUE(fe::Linker().instantiate(roomy, m));
}

TEST_P(Limits, TableElements) {
  fe::StoreLimits limits;
  limits.max_table_elements = 1000;
  fe::Store store(engine_, limits);
  auto inst = instantiate_stubbed("limits", &store);
  auto tgrow = [&](int n) {
    auto r = call(inst, "table_grow", {V::i32(n)}, &store);
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? (*r)[0].i32() : -2;
  };
  EXPECT_EQ(tgrow(1000), -1);
  EXPECT_EQ(tgrow(998), 1);
  EXPECT_EQ(tgrow(2), -1);
  EXPECT_EQ(tgrow(1), 999);
  EXPECT_EQ(tgrow(1), -1);
  EXPECT_EQ(tgrow(-1), -1);  // 4 billion elements
  auto tab = inst.get_table("tab");
  ASSERT_TRUE(tab);
  EXPECT_EQ(tab->size(), 1000u);
  EXPECT_FALSE(tab->grow(1, V::null_funcref()));
  // A module whose initial table is over the limit does not instantiate.
  auto m = compile("bigtable");  // 5000 elements
  auto big = fe::Linker().instantiate(store, m);
  ASSERT_FALSE(big);
  EXPECT_TRUE(
      big.error().kind == fe::ErrorKind::Limit ||
      (big.error().kind == fe::ErrorKind::Trap && big.error().trap == fe::TrapKind::ResourceLimit))
      << big.error().to_string();
  auto ht = fe::Table::create(store, {VT::FuncRef, {1001, std::nullopt}}, V::null_funcref());
  ASSERT_FALSE(ht);
  EXPECT_EQ(ht.error().kind, fe::ErrorKind::Limit);
  auto r = call(inst, "table_size", {}, &store);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i32(), 1000);
}

TEST_P(Limits, CallDepth) {
  fe::StoreLimits limits;
  limits.max_call_depth = 200;
  fe::Store store(engine_, limits);
  auto inst = instantiate_stubbed("traps", &store);
  auto r = call(inst, "count", {V::i32(100)}, &store);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 100);
  r = call(inst, "count", {V::i32(1000)}, &store);
  ASSERT_FALSE(r);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::CallStackExhausted);
  r = call(inst, "count", {V::i32(100)}, &store);
  ASSERT_TRUE(r) << r.error().to_string();
}

TEST_P(Limits, NativeStackBudget) {
  fe::StoreLimits limits;
  limits.max_wasm_stack = 64 * 1024;
  limits.max_call_depth = 1000000;
  fe::Store store(engine_, limits);
  auto inst = instantiate_stubbed("traps", &store);
  auto r = call(inst, "recurse_fat", {V::i64(0)}, &store);
  ASSERT_FALSE(r);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::CallStackExhausted);
  r = call(inst, "count", {V::i32(10)}, &store);
  ASSERT_TRUE(r) << r.error().to_string();
}

TEST_P(Limits, Instances) {
  fe::StoreLimits limits;
  limits.max_instances = 3;
  fe::Store store(engine_, limits);
  auto m = compile("tiered");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(fe::Linker().instantiate(store, m)) << i;
  auto r = fe::Linker().instantiate(store, m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Limit);
}

INSTANTIATE_TEST_SUITE_P(Tiers, Limits, FLOTILLA_ALL_TIERS, variant_name);

}  // namespace
}  // namespace flotilla::engine::test
