// Exception handling on every tier: throw and catch in one module (try_table with catch and
// catch_all, several values, nesting, dead clauses, call_indirect, call depth after a catch),
// tags imported across instances, generativity of tags, uncaught exceptions as traps, host
// frames as a boundary, and malformed or unsupported input refused with a clear error.
#include <chrono>
#include <string>

#include "test_util.h"

namespace flotilla::engine::test {
namespace {

using V = fe::Val;

bool have_eh_modules() { return fs::exists(fs::path(FLOTILLA_TEST_WASM_DIR) / "eh_basic.wasm"); }

class Exceptions : public TierTest {
 protected:
  void SetUp() override {
    if (!have_eh_modules()) GTEST_SKIP() << "exception-handling test modules not built (jco)";
  }

  // The i32 result of a call expected to succeed (INT32_MIN, with the test failed, if not).
  int32_t i32(const fe::Instance& inst, const std::string& name, std::vector<V> args) {
    auto r = ok(inst, name, std::move(args));
    return r.size() == 1 ? r[0].i32() : INT32_MIN;
  }

  void expect_uncaught(const fe::Result<std::vector<V>>& r) {
    ASSERT_FALSE(r) << "no trap";
    ASSERT_TRUE(r.error().trap) << r.error().to_string();
    EXPECT_EQ(*r.error().trap, fe::TrapKind::UncaughtException) << r.error().to_string();
    EXPECT_NE(r.error().message.find("uncaught exception"), std::string::npos) << r.error().message;
  }

  fe::Instance instantiate(const std::string& name, std::vector<fe::Extern> imports) {
    auto inst = fe::Instance::create(store_, compile(name), imports);
    EXPECT_TRUE(inst) << name << ": " << inst.error().to_string();
    return inst ? *inst : fe::Instance();
  }
};

TEST_P(Exceptions, ThrowAndCatchInOneModule) {
  auto inst = instantiate_stubbed("eh_basic");
  ASSERT_TRUE(inst);
  EXPECT_EQ(i32(inst, "catch", {V::i32(42)}), 42);
  EXPECT_EQ(i32(inst, "catch", {V::i32(0)}), 99);
  EXPECT_EQ(i32(inst, "catch_all", {V::i32(1)}), 1);
  EXPECT_EQ(i32(inst, "catch_all", {V::i32(0)}), 0);
  EXPECT_EQ(i32(inst, "nested", {V::i32(0)}), 0);
  EXPECT_EQ(i32(inst, "nested", {V::i32(1)}), 1);
  EXPECT_EQ(i32(inst, "nested", {V::i32(2)}), 2);
  EXPECT_EQ(i32(inst, "all_first", {}), 4);
  EXPECT_EQ(i32(inst, "loop", {V::i32(5)}), 5);
  auto multi = ok(inst, "multi", {V::i32(2)});
  ASSERT_EQ(multi.size(), 1u);
  EXPECT_EQ(multi[0].f64(), 42.5);
}

TEST_P(Exceptions, LocalsChangedInTheTryKeepTheirValues) {
  auto inst = instantiate_stubbed("eh_basic");
  ASSERT_TRUE(inst);
  // $v = 5 and the parameter 10 + 1000 when $t(1010) is thrown: 1010 + 5 + 1010.
  EXPECT_EQ(i32(inst, "locals", {V::i32(10)}), 2025);
}

TEST_P(Exceptions, CallDepthIsRestoredByACatch) {
  auto inst = instantiate_stubbed("eh_basic");
  ASSERT_TRUE(inst);
  // 2000 throws from 50 frames down: the unwound frames' depth must not accumulate (the
  // store's limit is 10000 calls).
  EXPECT_EQ(i32(inst, "deep", {V::i32(2000), V::i32(50)}), 2000);
}

TEST_P(Exceptions, UncaughtExceptionTrapsAndTheHostGoesOn) {
  auto inst = instantiate_stubbed("eh_basic");
  ASSERT_TRUE(inst);
  expect_uncaught(call(inst, "uncaught", {V::i32(1)}));
  expect_uncaught(call(inst, "uncaught_in_try", {V::i32(0)}));  // the try catches $t only
  EXPECT_EQ(i32(inst, "catch", {V::i32(7)}), 7);
  EXPECT_EQ(i32(inst, "deep", {V::i32(10), V::i32(20)}), 10);
  expect_uncaught(call(inst, "uncaught", {V::i32(2)}));
  EXPECT_EQ(i32(inst, "catch_all", {V::i32(1)}), 1);
}

TEST_P(Exceptions, ImportedTagCaughtAcrossInstances) {
  auto tags = instantiate_stubbed("eh_basic");
  ASSERT_TRUE(tags);
  auto t = tags.get_tag("t");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->type().params, std::vector<VT>{VT::I32});
  auto thrower = instantiate("eh_thrower", {*t});
  ASSERT_TRUE(thrower);
  auto catcher = instantiate("eh_catcher", {*t, *thrower.get_func("throw")});
  ASSERT_TRUE(catcher);
  EXPECT_EQ(i32(catcher, "run", {V::i32(42)}), 42);
  EXPECT_EQ(i32(catcher, "run", {V::i32(-5)}), -5);
  // The thrower's exception escapes to the host from a direct call.
  expect_uncaught(call(thrower, "throw", {V::i32(1)}));
}

TEST_P(Exceptions, TagsAreGenerativePerInstance) {
  auto a = instantiate_stubbed("eh_basic");
  auto b = instantiate_stubbed("eh_basic");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a.get_tag("t") && b.get_tag("t"));
  EXPECT_FALSE(*a.get_tag("t") == *b.get_tag("t"));
  EXPECT_TRUE(*a.get_tag("t") == *a.get_tag("t"));
  // The catcher knows a's tag; b's tag thrown is another exception: only catch_all takes it.
  auto thrower_b = instantiate("eh_thrower", {*b.get_tag("t")});
  auto catcher = instantiate("eh_catcher", {*a.get_tag("t"), *thrower_b.get_func("throw")});
  ASSERT_TRUE(thrower_b && catcher);
  EXPECT_EQ(i32(catcher, "run", {V::i32(42)}), 77);
  // A tag created by the host is a tag of its own too.
  auto host_tag = fe::Tag::create(store_, fe::FuncType{{VT::I32}, {}});
  ASSERT_TRUE(host_tag);
  auto thrower_h = instantiate("eh_thrower", {*host_tag});
  auto catcher_h = instantiate("eh_catcher", {*host_tag, *thrower_h.get_func("throw")});
  ASSERT_TRUE(thrower_h && catcher_h);
  EXPECT_EQ(i32(catcher_h, "run", {V::i32(9)}), 9);
  auto catcher_a = instantiate("eh_catcher", {*a.get_tag("t"), *thrower_h.get_func("throw")});
  ASSERT_TRUE(catcher_a);
  EXPECT_EQ(i32(catcher_a, "run", {V::i32(9)}), 77);
}

TEST_P(Exceptions, ExceptionsStopAtHostFrames) {
  auto tags = instantiate_stubbed("eh_basic");
  ASSERT_TRUE(tags);
  auto t = *tags.get_tag("t");
  auto thrower = instantiate("eh_thrower", {t});
  ASSERT_TRUE(thrower);
  fe::Func inner = *thrower.get_func("throw");
  bool throw_it = true;
  // A host function between the catcher and the thrower: the exception ends the thrower's
  // call as a trap, which the host function passes on as its error; the catcher's catch_all
  // does not see a trap.
  auto host = fe::Func::host(
      store_, fe::FuncType{{VT::I32}, {}},
      [&](fe::Caller& caller, std::span<const V> args, std::span<V>) -> fe::Result<void> {
        if (!throw_it) return {};
        auto r = inner.call(caller.store(), args);
        if (!r) return Unexpected(r.error());
        return {};
      });
  auto catcher = instantiate("eh_catcher", {t, host});
  ASSERT_TRUE(catcher);
  auto r = call(catcher, "run", {V::i32(3)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Trap);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::UncaughtException) << r.error().to_string();
  throw_it = false;
  EXPECT_EQ(i32(catcher, "run", {V::i32(3)}), 99);
}

TEST_P(Exceptions, TagImportsAreTypeChecked) {
  auto i64_tag = fe::Tag::create(store_, fe::FuncType{{VT::I64}, {}});
  ASSERT_TRUE(i64_tag);
  auto inst =
      fe::Instance::create(store_, compile("eh_thrower"), std::vector<fe::Extern>{*i64_tag});
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().kind, fe::ErrorKind::Link);
  EXPECT_NE(inst.error().message.find("(tag (param i32))"), std::string::npos)
      << inst.error().message;
  auto func = fe::Func::host(store_, fe::FuncType{{VT::I32}, {}}, zero_results());
  auto inst2 = fe::Instance::create(store_, compile("eh_thrower"), std::vector<fe::Extern>{func});
  ASSERT_FALSE(inst2);
  EXPECT_EQ(inst2.error().kind, fe::ErrorKind::Link);
  EXPECT_FALSE(fe::Tag::create(store_, fe::FuncType{{}, {VT::I32}}));
}

INSTANTIATE_TEST_SUITE_P(Tiers, Exceptions, FLOTILLA_ALL_TIERS, variant_name);

// The optimized tier split into several translation units: tag entries and the structs of
// multi-value tags are visible in every unit.
TEST(ExceptionsSplit, SplitTranslationUnits) {
  if (!have_eh_modules()) GTEST_SKIP() << "exception-handling test modules not built (jco)";
  fe::Config c;
  c.tier = fe::Tier::Optimized;
  c.cache_dir = cache_dir();
  c.split_bytes = 4096;
  fe::Engine engine(c);
  fe::Store store(engine);
  auto m = fe::Module::compile(engine, wasm("eh_basic"), "eh_basic");
  ASSERT_TRUE(m) << m.error().to_string();
  auto inst = fe::Instance::create(store, *m, {});
  ASSERT_TRUE(inst) << inst.error().to_string();
  auto call = [&](const char* name, std::vector<V> args) {
    auto r = inst->get_func(name)->call(store, args);
    EXPECT_TRUE(r) << name << ": " << r.error().to_string();
    return r && r->size() == 1 ? (*r)[0] : V::i32(INT32_MIN);
  };
  EXPECT_EQ(call("catch", {V::i32(42)}).i32(), 42);
  EXPECT_EQ(call("multi", {V::i32(2)}).f64(), 42.5);
  EXPECT_EQ(call("nested", {V::i32(2)}).i32(), 2);
  EXPECT_EQ(call("deep", {V::i32(100), V::i32(30)}).i32(), 100);
}

TEST(ExceptionsCache, TagsSurviveTheOptimizedCache) {
  if (!have_eh_modules()) GTEST_SKIP() << "exception-handling test modules not built (jco)";
  fe::Config c;
  c.tier = fe::Tier::Optimized;
  c.cache_dir = cache_dir();
  for (int round = 0; round < 2; ++round) {  // the second one loads the cached code and meta
    fe::Engine engine(c);
    fe::Store store(engine);
    auto m = fe::Module::compile(engine, wasm("eh_basic"), "eh_basic");
    ASSERT_TRUE(m) << m.error().to_string();
    if (round == 1) {
      EXPECT_TRUE(m->c_source().empty()) << "not a cache hit";
    }
    bool tag_export = false;
    for (const auto& e : m->exports())
      tag_export |= e.name == "t" && e.type.kind == fe::ExternKind::Tag &&
                    e.type.tag.params == std::vector<VT>{VT::I32};
    EXPECT_TRUE(tag_export);
    auto inst = fe::Instance::create(store, *m, {});
    ASSERT_TRUE(inst) << inst.error().to_string();
    auto r = inst->get_func("multi")->call(store, std::vector<V>{V::i32(2)});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ((*r)[0].f64(), 42.5);
    EXPECT_TRUE(inst->get_tag("t"));
  }
}

TEST(ExceptionsStart, ThrowingStartFunctionFailsInstantiation) {
  if (!have_eh_modules()) GTEST_SKIP() << "exception-handling test modules not built (jco)";
  fe::Config c;
  c.tier = fe::Tier::Baseline;
  c.cache_dir = cache_dir();
  fe::Engine engine(c);
  fe::Store store(engine);
  auto m = fe::Module::compile(engine, wasm("eh_start"), "eh_start");
  ASSERT_TRUE(m) << m.error().to_string();
  auto inst = fe::Instance::create(store, *m, {});
  ASSERT_FALSE(inst);
  ASSERT_TRUE(inst.error().trap) << inst.error().to_string();
  EXPECT_EQ(*inst.error().trap, fe::TrapKind::UncaughtException);
  // The store is still usable.
  auto again = fe::Module::compile(engine, wasm("eh_basic"), "eh_basic");
  ASSERT_TRUE(again);
  EXPECT_TRUE(fe::Instance::create(store, *again, {}));
}

// ---- input the engine refuses ------------------------------------------------------------

// A module with types [] -> [] and [i32] -> [], one tag (i32), and one function of type
// [] -> [] whose body (after its empty locals) is `body` followed by the final end.
std::vector<uint8_t> module_with_body(const std::vector<uint8_t>& body) {
  std::vector<uint8_t> m = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01,
                            0x08, 0x02, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x00,  // types
                            0x03, 0x02, 0x01, 0x00,                                // funcs
                            0x0d, 0x03, 0x01, 0x00, 0x01};                         // tags
  std::vector<uint8_t> code = {0x00};                                              // no locals
  code.insert(code.end(), body.begin(), body.end());
  code.push_back(0x0b);
  m.push_back(0x0a);
  m.push_back(static_cast<uint8_t>(code.size() + 2));
  m.push_back(0x01);
  m.push_back(static_cast<uint8_t>(code.size()));
  m.insert(m.end(), code.begin(), code.end());
  return m;
}

class ExceptionInput : public ::testing::Test {
 protected:
  fe::Result<void> validate(const std::vector<uint8_t>& body) {
    return fe::Module::validate(engine_, module_with_body(body));
  }
  void expect_error(const std::vector<uint8_t>& body, fe::ErrorKind kind, const char* words) {
    auto r = validate(body);
    ASSERT_FALSE(r) << "accepted";
    EXPECT_EQ(r.error().kind, kind) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
    // Compilation says the same, and never crashes.
    auto m = fe::Module::compile(engine_, module_with_body(body));
    EXPECT_FALSE(m);
  }
  fe::Engine engine_{[] {
    fe::Config c;
    c.tier = fe::Tier::Baseline;
    c.cache_dir = cache_dir();
    return c;
  }()};
};

TEST_F(ExceptionInput, WellFormedTryTablesValidate) {
  // try_table (catch_all 0) end; and (catch 0 1) to a block of type [i32].
  EXPECT_TRUE(validate({0x1f, 0x40, 0x01, 0x02, 0x00, 0x0b}));
  EXPECT_TRUE(
      validate({0x02, 0x7f, 0x1f, 0x40, 0x01, 0x00, 0x00, 0x00, 0x0b, 0x41, 0x00, 0x0b, 0x1a}));
  // throw 0 with its value.
  EXPECT_TRUE(validate({0x41, 0x01, 0x08, 0x00}));
  auto m = fe::Module::compile(engine_, module_with_body({0x1f, 0x40, 0x01, 0x02, 0x00, 0x0b}));
  EXPECT_TRUE(m) << m.error().to_string();
}

TEST_F(ExceptionInput, MalformedTryTablesAreRefused) {
  expect_error({0x1f, 0x40, 0x01, 0x07, 0x00, 0x0b}, fe::ErrorKind::Malformed,
               "unknown catch clause kind 7");
  // Truncated in the clause list, and a try_table that is never closed.
  EXPECT_FALSE(validate({0x1f, 0x40, 0x02, 0x02}));
  EXPECT_FALSE(validate({0x1f, 0x40, 0x00}));
  EXPECT_FALSE(validate({0x1f}));
}

TEST_F(ExceptionInput, InvalidTryTablesAreRefused) {
  // A label past the function's.
  expect_error({0x1f, 0x40, 0x01, 0x02, 0x01, 0x0b}, fe::ErrorKind::Invalid, "invalid label 1");
  // An unknown tag; a tag whose value the label does not take.
  expect_error({0x1f, 0x40, 0x01, 0x00, 0x05, 0x00, 0x0b}, fe::ErrorKind::Invalid, "invalid");
  expect_error({0x1f, 0x40, 0x01, 0x00, 0x00, 0x00, 0x0b}, fe::ErrorKind::Invalid, "invalid");
  // throw of an unknown tag, with a missing value.
  expect_error({0x08, 0x03}, fe::ErrorKind::Invalid, "invalid");
  expect_error({0x08, 0x00}, fe::ErrorKind::Invalid, "invalid");
}

TEST_F(ExceptionInput, UnsupportedFormsAreRefused) {
  expect_error({0x1f, 0x40, 0x01, 0x01, 0x00, 0x00, 0x0b}, fe::ErrorKind::Unsupported, "catch_ref");
  expect_error({0x1f, 0x40, 0x01, 0x03, 0x00, 0x0b}, fe::ErrorKind::Unsupported, "catch_ref");
  expect_error({0x0a}, fe::ErrorKind::Unsupported, "throw_ref");
  // Legacy exception handling: try ... catch_all ... end, rethrow, delegate.
  expect_error({0x06, 0x40, 0x19, 0x0b}, fe::ErrorKind::Unsupported, "legacy exception");
  expect_error({0x06, 0x40, 0x18, 0x00}, fe::ErrorKind::Unsupported, "legacy exception");
}

// Every truncation of a module with try_tables, and every byte of it replaced by a few
// interesting values (try_table, legacy try, end, 0xff, 0), is decoded without a crash: the
// result is a module or an error. The first 40 mutants that validate are compiled and run.
TEST_F(ExceptionInput, MutatedModulesNeverCrash) {
  if (!have_eh_modules()) GTEST_SKIP() << "exception-handling test modules not built (jco)";
  const std::vector<uint8_t> good = wasm("eh_basic");
  ASSERT_FALSE(good.empty());
  int compiled = 0;
  auto check = [&](const std::vector<uint8_t>& bytes) {
    auto r = fe::Module::validate(engine_, bytes);
    if (!r) {
      EXPECT_FALSE(r.error().message.empty());
      return;
    }
    if (compiled >= 40) return;
    ++compiled;
    auto m = fe::Module::compile(engine_, bytes);
    if (!m) return;  // e.g. an import the mutation made up
    fe::Store store(engine_);
    std::vector<fe::Extern> imports;
    for (const auto& imp : m->imports()) {
      auto x = stub_import(store, imp.type);
      if (!x) return;
      imports.push_back(*x);
    }
    auto inst = fe::Instance::create(store, *m, imports);
    if (!inst) return;
    for (const auto& ex : m->exports()) {
      if (ex.type.kind != fe::ExternKind::Func) continue;
      std::vector<V> args;
      for (auto t : ex.type.func.params) args.push_back(V::default_for(t));
      store.set_timeout(std::chrono::milliseconds(200));
      (void)inst->get_func(ex.name)->call(store, args);  // a result or a trap
    }
  };
  for (size_t n = 0; n < good.size(); ++n)
    check(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
  for (size_t i = 8; i < good.size(); ++i) {
    for (uint8_t v : {0x1f, 0x06, 0x0b, 0xff, 0x00}) {
      if (good[i] == v) continue;
      auto bytes = good;
      bytes[i] = v;
      check(bytes);
    }
  }
  EXPECT_GT(compiled, 0);
}

TEST(ExceptionConfig, OffMeansWasm2Decoding) {
  fe::Config c;
  c.tier = fe::Tier::Baseline;
  c.cache_dir = cache_dir();
  c.exceptions = false;
  fe::Engine engine(c);
  auto r = fe::Module::validate(engine, module_with_body({}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Malformed) << r.error().message;
  fe::Engine on;
  EXPECT_TRUE(fe::Module::validate(on, module_with_body({})));
}

}  // namespace
}  // namespace flotilla::engine::test
