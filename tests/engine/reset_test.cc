// Store::reset_instances: every instance of a store back to its state right after
// instantiation (memories and their size, tables, globals, segments of importers applied
// again in order, start functions run again), on every tier.
#include "test_util.h"

namespace flotilla::engine::test {
namespace {

using V = fe::Val;

class Reset : public ::testing::TestWithParam<Variant> {
 protected:
  Reset() : engine_(make_config()), store_(engine_) {}
  fe::Config make_config() const {
    fe::Config c;
    c.tier = GetParam().tier;
    c.guard_pages = GetParam().guard_pages;
    c.cache_dir = cache_dir();
    return c;
  }
  fe::Module compile(const std::string& name) {
    auto m = fe::Module::compile(engine_, wasm(name), name);
    EXPECT_TRUE(m) << name << ": " << m.error().to_string();
    return *m;
  }
  int32_t i32(const fe::Instance& inst, const std::string& name, std::vector<fe::Val> args) {
    auto f = inst.get_func(name);
    EXPECT_TRUE(f) << "no export " << name;
    if (!f) return -12345;
    auto r = f->call(store_, args);
    EXPECT_TRUE(r) << name << ": " << r.error().to_string();
    return r && !r->empty() ? (*r)[0].i32() : -12345;
  }
  fe::Engine engine_;
  fe::Store store_;
};

TEST_P(Reset, EveryInstanceStartsOver) {
  auto ma = compile("reset_a");
  auto mb = compile("reset_b");
  fe::Linker linker;
  auto a = linker.instantiate(store_, ma);
  ASSERT_TRUE(a) << a.error().to_string();
  ASSERT_TRUE(linker.define_instance("a", *a));
  auto b = linker.instantiate(store_, mb);
  ASSERT_TRUE(b) << b.error().to_string();
  auto mem = a->get_memory("mem");
  ASSERT_TRUE(mem);
  auto g = a->get_global("g");
  ASSERT_TRUE(g);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    // As instantiated: b's segments in a's memory and table, a's start function run once.
    EXPECT_EQ(i32(*a, "load", {V::i32(16)}), 0x00636261);  // "abc\0"
    EXPECT_EQ(i32(*a, "load", {V::i32(32)}), 1);
    EXPECT_EQ(i32(*a, "starts", {}), 1);
    EXPECT_EQ(i32(*a, "call", {V::i32(0)}), 1);
    EXPECT_EQ(i32(*a, "call", {V::i32(1)}), 3);
    EXPECT_EQ(i32(*a, "get", {}), 5);
    EXPECT_EQ(i32(*a, "size", {}), 1);
    EXPECT_EQ(i32(*b, "load", {V::i32(100)}), 0x6d6f7266);
    ASSERT_TRUE(a->get_func("scribble")->call(store_, {}));
    EXPECT_EQ(i32(*a, "load", {V::i32(16)}), 0x7a7a7a7a);
    EXPECT_EQ(i32(*a, "call", {V::i32(0)}), 2);
    EXPECT_EQ(i32(*a, "call", {V::i32(1)}), 2);
    EXPECT_EQ(i32(*a, "get", {}), 77);
    EXPECT_EQ(i32(*a, "size", {}), 3);
    mem->data()[3 * 65536 - 1] = 9;  // the host writes to the grown part
    auto r = store_.reset_instances();
    ASSERT_TRUE(r) << r.error().to_string();
    // The same export objects see the reset state.
    EXPECT_EQ(mem->size(), 65536u);
    EXPECT_EQ(g->get().i32(), 5);
    EXPECT_EQ(mem->data()[32], 1);
    EXPECT_EQ(mem->data()[16], 'a');
  }
  // Grown again after a reset: the new pages are zero.
  EXPECT_EQ(i32(*a, "size", {}), 1);
  ASSERT_TRUE(mem->grow(2));
  EXPECT_EQ(mem->data()[3 * 65536 - 1], 0);
  std::vector<fe::Val> args{V::i32(4 * 65536)};
  auto oob = a->get_func("load")->call(store_, args);
  ASSERT_FALSE(oob);
  EXPECT_EQ(oob.error().trap, fe::TrapKind::MemoryOutOfBounds);
}

TEST_P(Reset, RefusedAfterAFailedInstantiation) {
  auto m = compile("imageoob");  // an active segment out of bounds: instantiation traps
  auto inst = fe::Linker().instantiate(store_, m);
  ASSERT_FALSE(inst);
  auto r = store_.reset_instances();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Usage) << r.error().to_string();
}

INSTANTIATE_TEST_SUITE_P(Tiers, Reset, FLOTILLA_ALL_TIERS, variant_name);

}  // namespace
}  // namespace flotilla::engine::test
