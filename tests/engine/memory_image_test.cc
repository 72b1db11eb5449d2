// Prepared memory images (Config::memory_image): instances of a module with one own memory
// above the pool size map its initialised memory copy-on-write instead of replaying the active
// data segments. Contents, isolation between instances, growth, passive segments, traps and
// limits must not change; every test runs with the image and without it.
#include <fstream>

#include "test_util.h"

namespace flotilla::engine::test {
namespace {

using V = fe::Val;

constexpr int32_t kPages = 20;
constexpr int32_t kBytes = kPages * 65536;

// Mappings of image files in this process: one per live image-backed memory.
int image_mappings() {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);)
    n += line.find("flotilla-memory-image") != std::string::npos;
  return n;
}

struct ImageVariant {
  Variant variant;
  bool image;
};

class MemoryImage : public ::testing::TestWithParam<ImageVariant> {
 protected:
  MemoryImage() : engine_(make_config()), store_(engine_) {}

  fe::Config make_config() const {
    fe::Config c;
    c.tier = GetParam().variant.tier;
    c.guard_pages = GetParam().variant.guard_pages;
    c.cache_dir = cache_dir();
    c.memory_image = GetParam().image;
    return c;
  }

  fe::Module compile(const std::string& name) {
    auto m = fe::Module::compile(engine_, wasm(name), name);
    EXPECT_TRUE(m) << name << ": " << m.error().to_string();
    return *m;
  }

  fe::Instance instantiate(fe::Store& store, const fe::Module& m) {
    auto inst = fe::Linker().instantiate(store, m);
    EXPECT_TRUE(inst) << inst.error().to_string();
    return inst ? *inst : fe::Instance();
  }

  fe::Result<std::vector<fe::Val>> call(fe::Store& store, const fe::Instance& inst,
                                        const std::string& name, std::vector<fe::Val> args) {
    auto f = inst.get_func(name);
    EXPECT_TRUE(f) << "no export " << name;
    if (!f) return fe::make_error(fe::ErrorKind::Usage, "no export " + name);
    return f->call(store, args);
  }

  int32_t i32(fe::Store& store, const fe::Instance& inst, const std::string& name,
              std::vector<fe::Val> args) {
    auto r = call(store, inst, name, std::move(args));
    EXPECT_TRUE(r) << name << ": " << r.error().to_string();
    return r && !r->empty() ? (*r)[0].i32() : -12345;
  }

  // The contents image.wat's segments give its memory.
  void expect_initial(fe::Store& store, const fe::Instance& inst) {
    std::string first;
    for (int i = 0; i < 5; ++i) first += static_cast<char>(i32(store, inst, "load8", {V::i32(i)}));
    EXPECT_EQ(first, "First");
    EXPECT_EQ(i32(store, inst, "load", {V::i32(100000)}), 0x04030201);
    EXPECT_EQ(static_cast<uint32_t>(i32(store, inst, "load", {V::i32(kBytes - 4)})), 0xddccbbaau);
    EXPECT_EQ(i32(store, inst, "load", {V::i32(65536)}), 0);
    EXPECT_EQ(i32(store, inst, "load", {V::i32(kBytes - 8)}), 0);
    EXPECT_EQ(i32(store, inst, "size", {}), kPages);
  }

  fe::Engine engine_;
  fe::Store store_;
};

TEST_P(MemoryImage, HasTheSegmentContents) {
  auto m = compile("image");
  int before = image_mappings();
  auto inst = instantiate(store_, m);
  EXPECT_EQ(image_mappings() - before, GetParam().image ? 1 : 0);
  expect_initial(store_, inst);
  auto mem = inst.get_memory("mem");
  ASSERT_TRUE(mem);
  EXPECT_EQ(mem->size(), static_cast<uint64_t>(kBytes));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(mem->data()), 5), "First");
  EXPECT_EQ(mem->data()[kBytes - 1], 0xdd);
}

TEST_P(MemoryImage, WritesStayInTheirInstance) {
  auto m = compile("image");
  int before = image_mappings();
  {
    fe::Store other(engine_);
    auto a = instantiate(store_, m);
    auto b = instantiate(store_, m);  // the same store
    auto c = instantiate(other, m);   // another store
    EXPECT_EQ(image_mappings() - before, GetParam().image ? 3 : 0);
    ASSERT_TRUE(call(store_, a, "store", {V::i32(0), V::i32(0x12345678)}));
    ASSERT_TRUE(call(store_, a, "store", {V::i32(kBytes - 4), V::i32(7)}));
    ASSERT_TRUE(call(store_, a, "store", {V::i32(300000), V::i32(9)}));  // an untouched page
    EXPECT_EQ(i32(store_, a, "load", {V::i32(0)}), 0x12345678);
    EXPECT_EQ(i32(store_, a, "load", {V::i32(300000)}), 9);
    expect_initial(store_, b);
    expect_initial(other, c);
    EXPECT_EQ(i32(other, c, "load", {V::i32(300000)}), 0);
  }
  // A later instance (the others' store gone) starts from the image again.
  {
    fe::Store later(engine_);
    auto d = instantiate(later, m);
    expect_initial(later, d);
    EXPECT_EQ(i32(later, d, "load", {V::i32(300000)}), 0);
  }
}

TEST_P(MemoryImage, GrowKeepsTheContents) {
  auto m = compile("image");
  auto inst = instantiate(store_, m);
  ASSERT_TRUE(call(store_, inst, "store", {V::i32(8), V::i32(42)}));
  EXPECT_EQ(i32(store_, inst, "grow", {V::i32(5)}), kPages);
  EXPECT_EQ(i32(store_, inst, "size", {}), kPages + 5);
  EXPECT_EQ(i32(store_, inst, "load", {V::i32(8)}), 42);
  EXPECT_EQ(i32(store_, inst, "load", {V::i32(100000)}), 0x04030201);
  EXPECT_EQ(static_cast<uint32_t>(i32(store_, inst, "load", {V::i32(kBytes - 4)})), 0xddccbbaau);
  // The new pages are zero and writable up to the new end, and the end is still checked.
  int32_t end = (kPages + 5) * 65536;
  EXPECT_EQ(i32(store_, inst, "load", {V::i32(end - 4)}), 0);
  ASSERT_TRUE(call(store_, inst, "store", {V::i32(end - 4), V::i32(5)}));
  EXPECT_EQ(i32(store_, inst, "load", {V::i32(end - 4)}), 5);
  auto oob = call(store_, inst, "load", {V::i32(end - 2)});
  ASSERT_FALSE(oob);
  EXPECT_EQ(oob.error().trap, fe::TrapKind::MemoryOutOfBounds);
  // The host grows it to its maximum; past that, growth fails.
  auto mem = inst.get_memory("mem");
  ASSERT_TRUE(mem);
  auto g = mem->grow(15);
  ASSERT_TRUE(g) << g.error().to_string();
  EXPECT_EQ(*g, static_cast<uint64_t>(kPages + 5));
  EXPECT_EQ(mem->pages(), 40u);
  mem->data()[40 * 65536 - 1] = 3;
  EXPECT_EQ(i32(store_, inst, "load8", {V::i32(40 * 65536 - 1)}), 3);
  EXPECT_EQ(i32(store_, inst, "grow", {V::i32(1)}), -1);
  EXPECT_EQ(i32(store_, inst, "load", {V::i32(8)}), 42);
}

TEST_P(MemoryImage, PassiveSegmentsAndDrops) {
  auto m = compile("image");
  auto inst = instantiate(store_, m);
  ASSERT_TRUE(call(store_, inst, "init", {V::i32(200), V::i32(0), V::i32(8)}));
  std::string got;
  for (int i = 0; i < 8; ++i)
    got += static_cast<char>(i32(store_, inst, "load8", {V::i32(200 + i)}));
  EXPECT_EQ(got, "passive!");
  ASSERT_TRUE(call(store_, inst, "drop", {}));
  EXPECT_TRUE(call(store_, inst, "init", {V::i32(0), V::i32(0), V::i32(0)}));
  auto dropped = call(store_, inst, "init", {V::i32(0), V::i32(0), V::i32(1)});
  ASSERT_FALSE(dropped);
  EXPECT_EQ(dropped.error().trap, fe::TrapKind::MemoryOutOfBounds);
  // Active segments count as dropped after instantiation.
  auto active = call(store_, inst, "init_active", {V::i32(0)});
  ASSERT_FALSE(active);
  EXPECT_EQ(active.error().trap, fe::TrapKind::MemoryOutOfBounds);
  // Another instance still has its passive segment.
  auto fresh = instantiate(store_, m);
  ASSERT_TRUE(call(store_, fresh, "init", {V::i32(0), V::i32(0), V::i32(7)}));
  EXPECT_EQ(i32(store_, fresh, "load8", {V::i32(0)}), 'p');
}

TEST_P(MemoryImage, ResetStartsFromTheImageAgain) {
  auto m = compile("image");
  int before = image_mappings();
  auto inst = instantiate(store_, m);
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(call(store_, inst, "store", {V::i32(0), V::i32(0x12345678)}));
    ASSERT_TRUE(call(store_, inst, "store", {V::i32(kBytes - 4), V::i32(7)}));
    ASSERT_TRUE(call(store_, inst, "store", {V::i32(300000), V::i32(9)}));
    EXPECT_EQ(i32(store_, inst, "grow", {V::i32(3)}), kPages);
    ASSERT_TRUE(call(store_, inst, "drop", {}));
    auto r = store_.reset_instances();
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(image_mappings() - before, GetParam().image ? 1 : 0);
    expect_initial(store_, inst);
    EXPECT_EQ(i32(store_, inst, "load", {V::i32(300000)}), 0);
    // The passive segment is back.
    ASSERT_TRUE(call(store_, inst, "init", {V::i32(200), V::i32(0), V::i32(4)}));
    EXPECT_EQ(i32(store_, inst, "load8", {V::i32(200)}), 'p');
    ASSERT_TRUE(call(store_, inst, "store", {V::i32(200), V::i32(0)}));
  }
}

TEST_P(MemoryImage, OutOfBoundsSegmentStillTraps) {
  auto m = compile("imageoob");
  int before = image_mappings();
  auto inst = fe::Linker().instantiate(store_, m);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().kind, fe::ErrorKind::Trap) << inst.error().to_string();
  EXPECT_EQ(inst.error().trap, fe::TrapKind::MemoryOutOfBounds) << inst.error().to_string();
  EXPECT_EQ(image_mappings(), before);
}

TEST_P(MemoryImage, OffsetFromAnImportedGlobal) {
  auto m = compile("imageglobal");
  fe::Linker linker;
  auto base = fe::Global::create(store_, {VT::I32, false}, V::i32(1000));
  ASSERT_TRUE(base);
  ASSERT_TRUE(linker.define("env", "base", fe::Extern(*base)));
  int before = image_mappings();
  auto inst = linker.instantiate(store_, m);
  ASSERT_TRUE(inst) << inst.error().to_string();
  EXPECT_EQ(image_mappings(), before);
  EXPECT_EQ(i32(store_, *inst, "load8", {V::i32(8)}), 'c');
  EXPECT_EQ(i32(store_, *inst, "load8", {V::i32(1000)}), 'g');
  EXPECT_EQ(i32(store_, *inst, "load8", {V::i32(1005)}), 'l');
}

TEST_P(MemoryImage, StoreLimitStillApplies) {
  auto m = compile("image");
  fe::StoreLimits limits;
  limits.max_memory_pages = kPages - 1;
  fe::Store small(engine_, limits);
  auto inst = fe::Linker().instantiate(small, m);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().kind, fe::ErrorKind::Trap) << inst.error().to_string();
  EXPECT_EQ(inst.error().trap, fe::TrapKind::ResourceLimit) << inst.error().to_string();
  // Room for the initial size, not for growth.
  limits.max_memory_pages = kPages + 1;
  fe::Store tight(engine_, limits);
  auto ok = instantiate(tight, m);
  expect_initial(tight, ok);
  EXPECT_EQ(i32(tight, ok, "grow", {V::i32(2)}), -1);
  EXPECT_EQ(i32(tight, ok, "grow", {V::i32(1)}), kPages);
}

// Several memories: each defined memory that qualifies has its own image; the small one and
// the imported one get their segments replayed.
TEST_P(MemoryImage, OneImagePerDefinedMemory) {
  auto m = compile("imagemulti");
  auto text = [](const fe::Memory& mem, uint64_t at, size_t n) {
    return std::string(reinterpret_cast<const char*>(mem.data()) + at, n);
  };
  int before = image_mappings();
  fe::Store other(engine_);
  std::vector<fe::Memory> imported;
  std::vector<fe::Instance> insts;
  for (fe::Store* s : {&store_, &store_, &other}) {
    auto mem = fe::Memory::create(*s, {{1, std::nullopt}});
    ASSERT_TRUE(mem) << mem.error().to_string();
    fe::Linker linker;
    ASSERT_TRUE(linker.define("env", "mem", *mem));
    auto inst = linker.instantiate(*s, m);
    ASSERT_TRUE(inst) << inst.error().to_string();
    imported.push_back(*mem);
    insts.push_back(*inst);
  }
  EXPECT_EQ(image_mappings() - before, GetParam().image ? 6 : 0);
  for (size_t i = 0; i < insts.size(); ++i) {
    EXPECT_EQ(imported[i].data()[8], 'I');
    EXPECT_EQ(text(*insts[i].get_memory("a"), 0, 5), "Alpha");
    EXPECT_EQ(text(*insts[i].get_memory("s"), 0, 5), "small");
    EXPECT_EQ(text(*insts[i].get_memory("b"), 1572860, 4), "beta");
    EXPECT_EQ(insts[i].get_memory("b")->pages(), 24u);
  }
  fe::Store& s0 = store_;
  ASSERT_TRUE(call(s0, insts[0], "store_a", {V::i32(1), V::i32('X')}));
  ASSERT_TRUE(call(s0, insts[0], "store_b", {V::i32(1572860), V::i32('Y')}));
  EXPECT_EQ(i32(s0, insts[0], "load_a", {V::i32(1)}), 'X');
  EXPECT_EQ(i32(s0, insts[1], "load_a", {V::i32(1)}), 'l');
  EXPECT_EQ(i32(s0, insts[1], "load_b", {V::i32(1572860)}), 'b');
  EXPECT_EQ(i32(other, insts[2], "load_b", {V::i32(1572860)}), 'b');
  EXPECT_EQ(i32(s0, insts[0], "grow_b", {V::i32(6)}), 24);
  EXPECT_EQ(i32(s0, insts[0], "load_b", {V::i32(1572860)}), 'Y');
  EXPECT_EQ(i32(s0, insts[0], "load_b", {V::i32(29 * 65536)}), 0);
  EXPECT_EQ(i32(s0, insts[0], "grow_b", {V::i32(1)}), -1);
}

std::string image_variant_name(const ::testing::TestParamInfo<ImageVariant>& info) {
  return std::string(fe::tier_name(info.param.variant.tier)) +
         (info.param.variant.guard_pages ? "_guard" : "") +
         (info.param.image ? "_image" : "_noimage");
}

INSTANTIATE_TEST_SUITE_P(Tiers, MemoryImage,
                         ::testing::Values(ImageVariant{{fe::Tier::Baseline, false}, true},
                                           ImageVariant{{fe::Tier::Optimized, false}, true},
                                           ImageVariant{{fe::Tier::Optimized, true}, true},
                                           ImageVariant{{fe::Tier::Baseline, false}, false},
                                           ImageVariant{{fe::Tier::Optimized, true}, false}),
                         image_variant_name);

}  // namespace
}  // namespace flotilla::engine::test
