// Multi-memory on every tier: a module with an imported and two defined memories (loads, stores,
// memory.size/grow/copy/fill/init and data segments per memory index, exports of a non-zero
// memory, bounds per memory), one memory satisfying two imports, and the cap on memories.
#include <string>

#include "test_util.h"

namespace flotilla::engine::test {
namespace {

using V = fe::Val;

class MultiMemory : public TierTest {
 protected:
  // multimemory.wat with a fresh host memory (1 page, max 4) as its memory 0.
  fe::Instance instantiate_multi() {
    auto mem = fe::Memory::create(store_, {{1, 4}});
    EXPECT_TRUE(mem) << mem.error().to_string();
    if (!mem) return fe::Instance();
    host_mem_ = *mem;
    fe::Linker linker;
    EXPECT_TRUE(linker.define("env", "mem", *host_mem_));
    auto inst = linker.instantiate(store_, compile("multimemory"));
    EXPECT_TRUE(inst) << inst.error().to_string();
    return inst ? *inst : fe::Instance();
  }

  void expect_trap(const fe::Instance& inst, const std::string& fn, std::vector<V> args) {
    auto r = call(inst, fn, std::move(args));
    ASSERT_FALSE(r) << fn << " did not trap";
    ASSERT_TRUE(r.error().trap) << r.error().to_string();
    EXPECT_EQ(*r.error().trap, fe::TrapKind::MemoryOutOfBounds) << r.error().to_string();
  }

  std::optional<fe::Memory> host_mem_;
};

TEST_P(MultiMemory, EachIndexAddressesItsOwnMemory) {
  auto inst = instantiate_multi();
  // Data segments went to their own memories.
  EXPECT_EQ(ok(inst, "load_a", {V::i32(16)})[0].i32(), 'a');
  EXPECT_EQ(ok(inst, "load_b", {V::i32(16)})[0].i32(), 'b');
  EXPECT_EQ(ok(inst, "load_imp", {V::i32(16)})[0].i32(), 0);
  EXPECT_EQ(ok(inst, "load_b", {V::i32(1048576 + 2)})[0].i32(), 'r');
  // The same address in three memories holds three values.
  ok(inst, "store_imp", {V::i32(7), V::i32(1)});
  ok(inst, "store_a", {V::i32(7), V::i32(2)});
  ok(inst, "store_b", {V::i32(7), V::i32(3)});
  EXPECT_EQ(ok(inst, "load_imp", {V::i32(7)})[0].i32(), 1);
  EXPECT_EQ(ok(inst, "load_a", {V::i32(7)})[0].i32(), 2);
  EXPECT_EQ(ok(inst, "load_b", {V::i32(7)})[0].i32(), 3);
  EXPECT_EQ(host_mem_->data()[7], 1);
  // Wider accesses with offsets.
  ok(inst, "store32_a", {V::i32(100), V::i32(0x04030201)});
  EXPECT_EQ(ok(inst, "load_a", {V::i32(102)})[0].i32(), 1);
  EXPECT_EQ(ok(inst, "load_a", {V::i32(105)})[0].i32(), 4);
  EXPECT_EQ(ok(inst, "load64_b", {V::i32(12)})[0].i64(), 0x6262);  // "bb" at 16
  // Exports of memories 1 and 2 are those memories.
  auto a = inst.get_memory("a");
  auto b = inst.get_memory("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->data()[7], 2);
  EXPECT_EQ(b->data()[7], 3);
  EXPECT_EQ(a->pages(), 1u);
  EXPECT_EQ(b->pages(), 20u);
  EXPECT_EQ(b->type().limits.max, std::optional<uint64_t>(40));
  b->data()[9] = 42;
  EXPECT_EQ(ok(inst, "load_b", {V::i32(9)})[0].i32(), 42);
}

TEST_P(MultiMemory, GrowNonZeroMemory) {
  auto inst = instantiate_multi();
  EXPECT_EQ(ok(inst, "size_imp", {})[0].i32(), 1);
  EXPECT_EQ(ok(inst, "size_a", {})[0].i32(), 1);
  EXPECT_EQ(ok(inst, "size_b", {})[0].i32(), 20);
  EXPECT_EQ(ok(inst, "grow_b", {V::i32(3)})[0].i32(), 20);
  EXPECT_EQ(ok(inst, "size_b", {})[0].i32(), 23);
  EXPECT_EQ(ok(inst, "size_a", {})[0].i32(), 1);  // the others did not move
  EXPECT_EQ(ok(inst, "size_imp", {})[0].i32(), 1);
  ok(inst, "store_b", {V::i32(22 * 65536 + 5), V::i32(9)});
  EXPECT_EQ(ok(inst, "load_b", {V::i32(22 * 65536 + 5)})[0].i32(), 9);
  EXPECT_EQ(ok(inst, "load_b", {V::i32(16)})[0].i32(), 'b');  // contents kept
  // Memory 1's own maximum (2 pages) applies to it alone.
  EXPECT_EQ(ok(inst, "grow_a", {V::i32(2)})[0].i32(), -1);
  EXPECT_EQ(ok(inst, "grow_a", {V::i32(1)})[0].i32(), 1);
  EXPECT_EQ(ok(inst, "grow_a", {V::i32(1)})[0].i32(), -1);
  EXPECT_EQ(ok(inst, "size_a", {})[0].i32(), 2);
  ok(inst, "store_a", {V::i32(65536 + 1), V::i32(8)});
  EXPECT_EQ(ok(inst, "load_a", {V::i32(65536 + 1)})[0].i32(), 8);
  EXPECT_EQ(ok(inst, "grow_b", {V::i32(18)})[0].i32(), -1);  // over b's maximum of 40
  EXPECT_EQ(inst.get_memory("b")->pages(), 23u);
}

TEST_P(MultiMemory, BoundsArePerMemory) {
  auto inst = instantiate_multi();
  // Memory 1 has one page, memory 2 twenty: the same address is out of bounds in one only.
  EXPECT_EQ(ok(inst, "load_b", {V::i32(65536)})[0].i32(), 0);
  expect_trap(inst, "load_a", {V::i32(65536)});
  expect_trap(inst, "store_a", {V::i32(65536), V::i32(1)});
  expect_trap(inst, "store32_a", {V::i32(65536 - 5), V::i32(1)});  // offset=2 crosses the end
  expect_trap(inst, "load_imp", {V::i32(65536)});
  expect_trap(inst, "load_b", {V::i32(20 * 65536)});
  expect_trap(inst, "load_b", {V::i32(-1)});
  // After growing memory 1 the address is in bounds there.
  EXPECT_EQ(ok(inst, "grow_a", {V::i32(1)})[0].i32(), 1);
  EXPECT_EQ(ok(inst, "load_a", {V::i32(65536)})[0].i32(), 0);
  expect_trap(inst, "load_a", {V::i32(2 * 65536)});
  // Bulk operations check each memory's own bounds.
  expect_trap(inst, "fill_b", {V::i32(20 * 65536 - 1), V::i32(1), V::i32(2)});
  expect_trap(inst, "copy_a_to_b", {V::i32(0), V::i32(2 * 65536 - 1), V::i32(2)});
  expect_trap(inst, "copy_b_to_imp", {V::i32(65535), V::i32(0), V::i32(2)});
  expect_trap(inst, "init_a", {V::i32(2 * 65536 - 1)});
}

TEST_P(MultiMemory, BulkOperationsBetweenMemories) {
  auto inst = instantiate_multi();
  // memory.copy from memory 1 into memory 2 (the destination is the first immediate).
  ok(inst, "copy_a_to_b", {V::i32(1000), V::i32(16), V::i32(2)});
  EXPECT_EQ(ok(inst, "load_b", {V::i32(1000)})[0].i32(), 'a');
  EXPECT_EQ(ok(inst, "load_b", {V::i32(1001)})[0].i32(), 'a');
  EXPECT_EQ(ok(inst, "load_a", {V::i32(1000)})[0].i32(), 0);  // the source is unchanged
  // From memory 2 into the imported memory 0.
  ok(inst, "copy_b_to_imp", {V::i32(50), V::i32(16), V::i32(2)});
  EXPECT_EQ(host_mem_->data()[50], 'b');
  EXPECT_EQ(host_mem_->data()[51], 'b');
  // memory.fill and memory.init on non-zero memories.
  ok(inst, "fill_b", {V::i32(200), V::i32(0x5a), V::i32(3)});
  EXPECT_EQ(ok(inst, "load_b", {V::i32(202)})[0].i32(), 0x5a);
  EXPECT_EQ(ok(inst, "load_a", {V::i32(202)})[0].i32(), 0);
  ok(inst, "init_a", {V::i32(300)});
  EXPECT_EQ(ok(inst, "load_a", {V::i32(300)})[0].i32(), 'p');
  EXPECT_EQ(ok(inst, "load_a", {V::i32(301)})[0].i32(), 'q');
  EXPECT_EQ(ok(inst, "load_b", {V::i32(300)})[0].i32(), 0);
}

TEST_P(MultiMemory, InstancesHaveTheirOwnMemories) {
  auto one = instantiate_multi();
  auto two = instantiate_multi();
  ok(one, "store_b", {V::i32(16), V::i32(1)});
  ok(two, "store_a", {V::i32(16), V::i32(2)});
  EXPECT_EQ(ok(one, "load_b", {V::i32(16)})[0].i32(), 1);
  EXPECT_EQ(ok(two, "load_b", {V::i32(16)})[0].i32(), 'b');
  EXPECT_EQ(ok(one, "load_a", {V::i32(16)})[0].i32(), 'a');
  EXPECT_EQ(ok(two, "load_a", {V::i32(16)})[0].i32(), 2);
}

TEST_P(MultiMemory, OneMemoryForTwoImports) {
  auto mem = fe::Memory::create(store_, {{1, std::nullopt}});
  ASSERT_TRUE(mem) << mem.error().to_string();
  fe::Linker linker;
  ASSERT_TRUE(linker.define("env", "x", *mem));
  ASSERT_TRUE(linker.define("env", "y", *mem));
  auto inst = linker.instantiate(store_, compile("twomemimports"));
  ASSERT_TRUE(inst) << inst.error().to_string();
  ok(*inst, "poke_x", {V::i32(5), V::i32(77)});
  EXPECT_EQ(ok(*inst, "peek_y", {V::i32(5)})[0].i32(), 77);
  // An exported memory of another instance works the same way.
  auto provider = instantiate_multi();
  fe::Linker l2;
  ASSERT_TRUE(l2.define("env", "x", *provider.get_memory("a")));
  ASSERT_TRUE(l2.define("env", "y", *provider.get_memory("b")));
  auto other = l2.instantiate(store_, compile("twomemimports"));
  ASSERT_TRUE(other) << other.error().to_string();
  ok(*other, "poke_x", {V::i32(16), V::i32(1)});
  EXPECT_EQ(ok(provider, "load_a", {V::i32(16)})[0].i32(), 1);
  EXPECT_EQ(ok(*other, "peek_y", {V::i32(16)})[0].i32(), 'b');
}

// A module with more memories than kMaxMemories (100) is refused at compile time.
std::vector<uint8_t> module_with_memories(uint32_t n) {
  std::vector<uint8_t> body = {static_cast<uint8_t>(n)};  // count (n < 128: one LEB byte)
  for (uint32_t i = 0; i < n; ++i) body.insert(body.end(), {0x00, 0x00});  // (memory 0)
  std::vector<uint8_t> w = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05};
  w.push_back(static_cast<uint8_t>(0x80 | (body.size() & 0x7f)));  // section size, 2 bytes
  w.push_back(static_cast<uint8_t>(body.size() >> 7));
  w.insert(w.end(), body.begin(), body.end());
  return w;
}

TEST(MultiMemoryLimits, TooManyMemories) {
  fe::Config c;
  c.tier = fe::Tier::Baseline;
  c.cache_dir = cache_dir();
  fe::Engine engine(c);
  auto m = fe::Module::compile(engine, module_with_memories(101), "many");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, fe::ErrorKind::Limit) << m.error().to_string();
  auto fine = fe::Module::compile(engine, module_with_memories(100), "hundred");
  ASSERT_TRUE(fine) << fine.error().to_string();
  fe::Store store(engine);
  auto inst = fe::Linker().instantiate(store, *fine);
  EXPECT_TRUE(inst) << inst.error().to_string();
}

// Config::multi_memory off: Wasm 2.0 validation, one memory at most.
TEST(MultiMemoryLimits, DisabledByConfig) {
  fe::Config c;
  c.tier = fe::Tier::Baseline;
  c.cache_dir = cache_dir();
  c.multi_memory = false;
  fe::Engine engine(c);
  auto bytes = wasm("multimemory");
  EXPECT_FALSE(fe::Module::validate(engine, bytes));
  EXPECT_TRUE(fe::Module::validate(bytes));  // the default Config has it on
  auto m = fe::Module::compile(engine, bytes, "multimemory");
  ASSERT_FALSE(m);
  // A memory index on a load is an alignment field with bit 6 set in Wasm 2.0.
  EXPECT_EQ(m.error().kind, fe::ErrorKind::Malformed) << m.error().to_string();
  auto two = fe::Module::compile(engine, module_with_memories(2), "two");
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().kind, fe::ErrorKind::Invalid) << two.error().to_string();
  EXPECT_TRUE(fe::Module::compile(engine, module_with_memories(1), "one"));
  EXPECT_TRUE(fe::Module::compile(engine, wasm("basic"), "basic"));
}

INSTANTIATE_TEST_SUITE_P(Tiers, MultiMemory, FLOTILLA_ALL_TIERS, variant_name);

}  // namespace
}  // namespace flotilla::engine::test
