// Canonical ABI and component runtime checks against hand-written components
// (tests/component/wat/*.wat, turned into binaries with jco at build time).
#include <flotilla/component/component.h>
#include <flotilla/component/typed.h>
#include <flotilla/component/wave.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

namespace fc = flotilla::component;
namespace fe = flotilla::engine;

namespace {

fe::Engine& engine() {
  static fe::Engine e([] {
    fe::Config c;
    c.tier = fe::Tier::Baseline;
    c.cache_enabled = false;
    return c;
  }());
  return e;
}

fc::Component load(const std::string& name) {
  auto c =
      fc::Component::from_file(engine(), std::filesystem::path(FLOTILLA_TEST_COMPONENTS) / name);
  if (!c) ADD_FAILURE() << c.error().to_string();
  return *c;
}

std::vector<fc::Val> call(fe::Store& store, const fc::Instance& inst, const std::string& name,
                          std::vector<fc::Val> args) {
  auto f = inst.get_func(name);
  EXPECT_TRUE(f) << (f ? "" : f.error().to_string());
  if (!f) return {};
  auto r = f->call(store, args);
  EXPECT_TRUE(r) << name << ": " << (r ? "" : r.error().to_string());
  return r ? *r : std::vector<fc::Val>{};
}

fe::Error call_error(fe::Store& store, const fc::Instance& inst, const std::string& name,
                     std::vector<fc::Val> args) {
  auto f = inst.get_func(name);
  if (!f) return f.error();
  auto r = f->call(store, args);
  EXPECT_FALSE(r) << name << " should have failed";
  return r ? fe::Error{} : r.error();
}

class Strings : public ::testing::Test {
 protected:
  void SetUp() override {
    comp_ = std::make_unique<fc::Component>(load("strings.wasm"));
    fc::Linker linker;
    auto i = fc::instantiate(store_, linker, *comp_);
    ASSERT_TRUE(i) << i.error().to_string();
    inst_ = *i;
  }
  fe::Store store_{engine()};
  std::unique_ptr<fc::Component> comp_;
  fc::Instance inst_;
};

const char* const kSamples[] = {"",
                                "a",
                                "hello, world",
                                "caf\xc3\xa9 \xc3\xbf",
                                "\xe2\x98\x83 snow",
                                "rocket \xf0\x9f\x9a\x80!",
                                "\xc3\xa9\xe2\x98\x83\xf0\x9f\x9a\x80 mixed"};

TEST_F(Strings, RoundTripInEveryEncoding) {
  for (const char* enc : {"echo-utf8", "echo-utf16", "echo-latin1"}) {
    for (const char* s : kSamples) {
      auto r = call(store_, inst_, enc, {fc::Val::string(s)});
      ASSERT_EQ(r.size(), 1u);
      EXPECT_EQ(r[0].str, s) << enc;
    }
  }
  std::string big(20000, 'x');
  big += "\xe2\x98\x83";
  for (const char* enc : {"echo-utf8", "echo-utf16", "echo-latin1"}) {
    auto r = call(store_, inst_, enc, {fc::Val::string(big)});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].str, big) << enc;
  }
}

TEST_F(Strings, ReallocAndPostReturnAreCalled) {
  auto before = call(store_, inst_, "counts", {});
  call(store_, inst_, "echo-utf8", {fc::Val::string("abc")});
  auto after = call(store_, inst_, "counts", {});
  ASSERT_EQ(before.size(), 1u);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].items[0].bits, before[0].items[0].bits + 1);  // one realloc
  EXPECT_EQ(after[0].items[1].bits, before[0].items[1].bits + 1);  // one post-return
}

TEST_F(Strings, LatinOneUsesOneBytePerChar) {
  // latin1+utf16 stores "é" as one byte: the guest sees length 1 (no UTF-16 tag).
  auto r = call(store_, inst_, "echo-latin1", {fc::Val::string("\xc3\xa9")});
  EXPECT_EQ(r[0].str, "\xc3\xa9");
}

TEST_F(Strings, InvalidValuesFromTheGuestTrap) {
  auto e = call_error(store_, inst_, "raw-utf8", {fc::Val::u32(200), fc::Val::u32(2)});
  EXPECT_EQ(e.kind, fe::ErrorKind::Trap);
  EXPECT_NE(e.message.find("UTF-8"), std::string::npos) << e.message;
  e = call_error(store_, inst_, "raw-utf16", {fc::Val::u32(208), fc::Val::u32(1)});
  EXPECT_NE(e.message.find("UTF-16"), std::string::npos) << e.message;
  e = call_error(store_, inst_, "raw-utf16", {fc::Val::u32(209), fc::Val::u32(1)});
  EXPECT_NE(e.message.find("misaligned"), std::string::npos) << e.message;
  e = call_error(store_, inst_, "raw-utf8", {fc::Val::u32(65530), fc::Val::u32(10)});
  EXPECT_NE(e.message.find("out of bounds"), std::string::npos) << e.message;
  // out of bounds even with length 0
  e = call_error(store_, inst_, "raw-utf8", {fc::Val::u32(70000), fc::Val::u32(0)});
  EXPECT_NE(e.message.find("out of bounds"), std::string::npos) << e.message;
  e = call_error(store_, inst_, "raw-char", {fc::Val::u32(0xd800)});
  EXPECT_NE(e.message.find("char"), std::string::npos) << e.message;
  e = call_error(store_, inst_, "raw-char", {fc::Val::u32(0x110000)});
  EXPECT_EQ(e.kind, fe::ErrorKind::Trap);
  e = call_error(store_, inst_, "option-disc", {fc::Val::u32(2)});
  EXPECT_NE(e.message.find("discriminant"), std::string::npos) << e.message;
  e = call_error(store_, inst_, "echo-bad-realloc", {fc::Val::string("abc")});
  EXPECT_EQ(e.kind, fe::ErrorKind::Trap) << e.message;
  // the instance still works afterwards
  EXPECT_EQ(call(store_, inst_, "echo-utf8", {fc::Val::string("ok")})[0].str, "ok");
}

TEST_F(Strings, ScalarLiftingWrapsLikeTheSpec) {
  EXPECT_EQ(call(store_, inst_, "raw-bool", {fc::Val::u32(7)})[0].bits, 1u);
  EXPECT_EQ(call(store_, inst_, "raw-bool", {fc::Val::u32(0)})[0].bits, 0u);
  EXPECT_EQ(call(store_, inst_, "raw-u8", {fc::Val::u32(0x1ff)})[0].bits, 0xffu);
  EXPECT_EQ(call(store_, inst_, "raw-s8", {fc::Val::u32(0x80)})[0].as_s64(), -128);
  EXPECT_EQ(call(store_, inst_, "raw-char", {fc::Val::u32(0x1f680)})[0].bits, 0x1f680u);
  auto some = call(store_, inst_, "option-disc", {fc::Val::u32(1)});
  EXPECT_EQ(fc::wave::print(some[0]), "some(7)");
  auto none = call(store_, inst_, "option-disc", {fc::Val::u32(0)});
  EXPECT_EQ(fc::wave::print(none[0]), "none");
}

TEST_F(Strings, ArgumentsAreTypeChecked) {
  auto e = call_error(store_, inst_, "echo-utf8", {fc::Val::u32(1)});
  EXPECT_EQ(e.kind, fe::ErrorKind::Usage);
  e = call_error(store_, inst_, "echo-utf8", {fc::Val::string("\xff")});
  EXPECT_NE(e.message.find("UTF-8"), std::string::npos) << e.message;
  e = call_error(store_, inst_, "echo-utf8", {});
  EXPECT_EQ(e.kind, fe::ErrorKind::Usage);
  e = call_error(store_, inst_, "raw-u8", {fc::Val::u64(1)});
  EXPECT_EQ(e.kind, fe::ErrorKind::Usage);
  fc::Val bad = fc::Val::u32(0);
  bad.bits = uint64_t(1) << 40;
  e = call_error(store_, inst_, "raw-u8", {bad});
  EXPECT_NE(e.message.find("out of range"), std::string::npos) << e.message;
}

TEST_F(Strings, TypedCallsCheckTheSignature) {
  auto f = inst_.get_func("raw-char");
  ASSERT_TRUE(f);
  auto ok = fc::TypedFunc<char32_t(uint32_t)>::from(*f);
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(*ok->call(store_, 0x41), U'A');
  EXPECT_FALSE(ok->call(store_, 0xd800));  // not a scalar value
  EXPECT_FALSE((fc::TypedFunc<uint32_t(uint32_t)>::from(*f)));
  EXPECT_FALSE((fc::TypedFunc<char32_t(uint32_t, uint32_t)>::from(*f)));
}

// ---- host functions, host resources -----------------------------------------------------------

struct Counters {
  std::map<uint32_t, uint32_t> live;  // rep -> value
  uint32_t next = 1;
  int drops = 0;
};

class Host : public ::testing::Test {
 protected:
  void SetUp() override {
    comp_ = std::make_unique<fc::Component>(load("host.wasm"));
    const char* api = "host:test/api@1.0.0";  // the component imports it unversioned
    (void)api;
    ASSERT_TRUE(linker_.func_new(
        "host:test/api", "double",
        [](fc::HostContext&, std::span<const fc::Val> p, std::span<fc::Val> r) -> fc::Result<void> {
          r[0] = fc::Val::u32(static_cast<uint32_t>(p[0].bits * 2));
          return {};
        }));
    ASSERT_TRUE(linker_.func_new(
        "host:test/api", "concat",
        [](fc::HostContext&, std::span<const fc::Val> p, std::span<fc::Val> r) -> fc::Result<void> {
          r[0] = fc::Val::string(p[0].str + p[1].str);
          return {};
        }));
    auto rt = linker_.resource("host:test/api", "counter",
                               [this](fc::HostContext&, uint32_t rep) -> fc::Result<void> {
                                 counters_.live.erase(rep);
                                 counters_.drops++;
                                 return {};
                               });
    ASSERT_TRUE(rt);
    rt_ = *rt;
    ASSERT_TRUE(linker_.func_new("host:test/api", "[constructor]counter",
                                 [this](fc::HostContext&, std::span<const fc::Val> p,
                                        std::span<fc::Val> r) -> fc::Result<void> {
                                   uint32_t rep = counters_.next++;
                                   counters_.live[rep] = static_cast<uint32_t>(p[0].bits);
                                   r[0] = fc::Val::own(std::make_shared<fc::ResourceAny>(
                                       fc::ResourceAny{rt_, rep, true, {}}));
                                   return {};
                                 }));
    ASSERT_TRUE(linker_.func_new("host:test/api", "[method]counter.bump",
                                 [this](fc::HostContext&, std::span<const fc::Val> p,
                                        std::span<fc::Val> r) -> fc::Result<void> {
                                   auto it = counters_.live.find(p[0].resource->rep);
                                   if (it == counters_.live.end()) {
                                     return fc::make_error(fe::ErrorKind::Trap, "no such counter");
                                   }
                                   r[0] = fc::Val::u32(++it->second);
                                   return {};
                                 }));
    auto i = fc::instantiate(store_, linker_, *comp_);
    ASSERT_TRUE(i) << i.error().to_string();
    inst_ = *i;
  }
  fc::Val new_counter(uint32_t start) {
    uint32_t rep = counters_.next++;
    counters_.live[rep] = start;
    return fc::Val::own(std::make_shared<fc::ResourceAny>(fc::ResourceAny{rt_, rep, true, {}}));
  }
  fe::Store store_{engine()};
  fc::Linker linker_;
  std::unique_ptr<fc::Component> comp_;
  fc::Instance inst_;
  Counters counters_;
  fc::ResourceTypePtr rt_;
};

TEST_F(Host, ScalarAndStringImports) {
  EXPECT_EQ(call(store_, inst_, "run", {fc::Val::u32(21)})[0].bits, 42u);
  auto r =
      call(store_, inst_, "cat", {fc::Val::string("Hello, "), fc::Val::string("\xe2\x98\x83")});
  EXPECT_EQ(r[0].str, "Hello, \xe2\x98\x83");
}

TEST_F(Host, GuestUsesAHostResource) {
  EXPECT_EQ(call(store_, inst_, "count", {fc::Val::u32(5)})[0].bits, 105u);
  EXPECT_EQ(counters_.drops, 1);  // the guest dropped its own handle: host destructor ran
  EXPECT_TRUE(counters_.live.empty());
}

TEST_F(Host, HostLendsAndGivesHandles) {
  fc::Val c = new_counter(10);
  // Lent for the call (an owned handle passed as a borrow): the host keeps it.
  EXPECT_EQ(call(store_, inst_, "bump-twice", {c})[0].bits, 12u);
  EXPECT_EQ(counters_.drops, 0);
  // A guest that keeps a borrow past the end of the call traps.
  auto e = call_error(store_, inst_, "forget-borrow", {c});
  EXPECT_NE(e.message.find("borrow handles still remain"), std::string::npos) << e.message;
  // Given to the guest and handed back: the same resource.
  auto back = call(store_, inst_, "keep", {c});
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].kind, fc::TypeKind::Own);
  EXPECT_EQ(back[0].resource->rep, c.resource->rep);
  EXPECT_EQ(back[0].resource->type.get(), rt_.get());
  // Given to the guest, which drops it: the host destructor runs.
  call(store_, inst_, "drop-it", {back[0]});
  EXPECT_EQ(counters_.drops, 1);
}

TEST_F(Host, BadHandlesTrapAndTheInstanceSurvives) {
  auto e = call_error(store_, inst_, "bad-handle", {});
  EXPECT_EQ(e.kind, fe::ErrorKind::Trap);
  EXPECT_EQ(call(store_, inst_, "run", {fc::Val::u32(1)})[0].bits, 2u);
}

TEST_F(Host, WrongResourceTypeIsRejected) {
  fc::Linker other;
  auto rt2 = other.resource("x", "counter");
  ASSERT_TRUE(rt2);
  fc::Val foreign =
      fc::Val::own(std::make_shared<fc::ResourceAny>(fc::ResourceAny{*rt2, 1, true, {}}));
  auto e = call_error(store_, inst_, "keep", {foreign});
  EXPECT_EQ(e.kind, fe::ErrorKind::Usage);
}

TEST(Linker, MissingImportsAreLinkErrors) {
  auto comp = load("host.wasm");
  fe::Store store(engine());
  fc::Linker linker;
  auto i = fc::instantiate(store, linker, comp);
  ASSERT_FALSE(i);
  EXPECT_EQ(i.error().kind, fe::ErrorKind::Link);
  EXPECT_NE(i.error().message.find("host:test/api"), std::string::npos) << i.error().message;
}

fc::Result<uint32_t> run_versioned(const std::string& host_version) {
  auto comp = load("versioned.wasm");
  fe::Store store(engine());
  fc::Linker linker;
  EXPECT_TRUE(linker.func_new(
      "test:dep/api" + host_version, "f",
      [](fc::HostContext&, std::span<const fc::Val>, std::span<fc::Val> r) -> fc::Result<void> {
        r[0] = fc::Val::u32(41);
        return {};
      }));
  auto i = fc::instantiate(store, linker, comp);
  if (!i) return flotilla::Unexpected(i.error());
  auto r = call(store, *i, "g", {});
  return static_cast<uint32_t>(r.at(0).bits);
}

TEST(Linker, SemverCompatibleInterfaceVersions) {
  // The component imports test:dep/api@0.2.1.
  EXPECT_EQ(*run_versioned("@0.2.1"), 42u);
  EXPECT_EQ(*run_versioned("@0.2.0"), 42u);
  EXPECT_EQ(*run_versioned("@0.2.9"), 42u);
  for (const char* v : {"@0.3.0", "@1.2.1", ""}) {
    auto r = run_versioned(v);
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error().kind, fe::ErrorKind::Link) << v;
  }
}

TEST(Component, MalformedInputIsAnError) {
  std::vector<uint8_t> bytes = {0, 'a', 's', 'm', 0x0d, 0, 1, 0};
  EXPECT_TRUE(fc::Component::validate(bytes));  // the empty component
  for (size_t cut = 0; cut < 8; cut++) {
    EXPECT_FALSE(fc::Component::validate(std::span<const uint8_t>(bytes.data(), cut)));
  }
  std::vector<uint8_t> core = {0, 'a', 's', 'm', 1, 0, 0, 0};
  auto e = fc::Component::validate(core);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("core module"), std::string::npos);
  // A section length past the end
  bytes.insert(bytes.end(), {7, 100, 1});
  e = fc::Component::validate(bytes);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, fe::ErrorKind::Malformed);
  ASSERT_TRUE(e.error().offset);
}

// The async built-ins (wat/async.wat): async lifts with and without a callback return through
// task.return; context storage, waitable sets with stream and future ends, error contexts;
// each misuse traps with a message naming it, and the instance stays usable by a new store.
class Async : public ::testing::Test {
 protected:
  void SetUp() override {
    comp_ = std::make_unique<fc::Component>(load("async.wasm"));
    fc::Linker linker;
    auto i = fc::instantiate(store_, linker, *comp_);
    ASSERT_TRUE(i) << i.error().to_string();
    inst_ = *i;
  }
  std::string trap_message(const std::string& name) {
    auto e = call_error(store_, inst_, name, {});
    EXPECT_EQ(e.kind, fe::ErrorKind::Trap) << name << ": " << e.to_string();
    return e.message;
  }
  std::unique_ptr<fc::Component> comp_;
  fe::Store store_{engine()};
  fc::Instance inst_;
};

TEST_F(Async, LiftsReturnThroughTaskReturn) {
  auto r = call(store_, inst_, "inc", {fc::Val::u32(41)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bits, 42u);
  r = call(store_, inst_, "count", {});  // the callback ran after two yields
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bits, 3u);
  r = call(store_, inst_, "greet", {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].str, "oops");
  auto f = inst_.get_func("inc");
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->type().async);
  std::string wit = comp_->wit();
  EXPECT_NE(wit.find("inc: async func(x: u32) -> u32;"), std::string::npos) << wit;
}

TEST_F(Async, BuiltinsWork) {
  auto r = call(store_, inst_, "context", {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bits, 42u);
  r = call(store_, inst_, "waitables", {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bits, 7u);
  r = call(store_, inst_, "error-context", {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bits, 4u);
  r = call(store_, inst_, "stream-copy", {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bits, 9u);
}

// Stream ends and error contexts move between instances (wat/async_pass.wat); the host gets a
// stream as an opaque value.
TEST(AsyncPass, StreamsAndErrorContextsCrossInstances) {
  auto comp = load("async_pass.wasm");
  fc::Linker linker;
  fe::Store store(engine());
  auto i = fc::instantiate(store, linker, comp);
  ASSERT_TRUE(i) << i.error().to_string();
  auto r = call(store, *i, "run", {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].bits, 55u);
  r = call(store, *i, "start", {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].kind, fc::TypeKind::Stream);
  auto f = i->get_func("start");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type().results[0].second->to_string(), "stream<u32>");
  std::string wit = comp.wit();
  EXPECT_NE(wit.find("start: func() -> stream<u32>;"), std::string::npos) << wit;
}

TEST(AsyncMisuse, TrapsNameTheRule) {
  struct Case {
    const char* func;
    const char* message;
  } cases[] = {
      {"no-return", "without calling task.return"},
      {"return-twice", "already returned"},
      {"wait-empty", "waitable-set.wait"},
      {"sync-task-return", "not an async-lifted call"},
      {"drop-set-with-member", "still has waitables"},
      {"drop-unwritten-future", "has not been written"},
      {"wrong-end", "not a readable stream end"},
      {"stream-read", "would block"},
      {"bad-subtask", "not a subtask"},
      {"bp-underflow", "underflow"},
  };
  auto comp = load("async.wasm");
  fc::Linker linker;
  for (auto& c : cases) {
    fe::Store store(engine());  // a trap leaves an instance unusable: a fresh one per case
    auto i = fc::instantiate(store, linker, comp);
    ASSERT_TRUE(i) << i.error().to_string();
    auto e = call_error(store, *i, c.func, {});
    EXPECT_EQ(e.kind, fe::ErrorKind::Trap) << c.func << ": " << e.to_string();
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.func << ": " << e.message;
  }
}

}  // namespace

// list<u8> has a compact form (Val::bytes, what lifting produces) next to a list of u8 Vals:
// both compare equal, print alike, expand alike, and type-check only as list<u8>.
TEST(Val, ByteListForms) {
  fc::Val compact = fc::Val::bytes(std::string("\x00\x7f\xff", 3));
  fc::Val expanded = fc::Val::list({fc::Val::u8(0), fc::Val::u8(127), fc::Val::u8(255)});
  EXPECT_TRUE(compact.is_bytes());
  EXPECT_FALSE(expanded.is_bytes());
  EXPECT_EQ(compact, expanded);
  EXPECT_EQ(expanded, compact);
  EXPECT_FALSE(compact == fc::Val::list({fc::Val::u8(0), fc::Val::u8(127)}));
  EXPECT_FALSE(compact == fc::Val::list({fc::Val::u16(0), fc::Val::u8(127), fc::Val::u8(255)}));
  EXPECT_EQ(compact.list_size(), 3u);
  EXPECT_EQ(compact.list_items(), expanded.items);
  EXPECT_EQ(expanded.bytes_copy(), compact.str);
  EXPECT_EQ(fc::wave::print(compact), "[0, 127, 255]");
  EXPECT_EQ(fc::wave::print(compact), fc::wave::print(expanded));

  auto list_of = [](fc::TypeKind k) {
    auto t = std::make_shared<fc::Type>();
    t->kind = fc::TypeKind::List;
    t->elem = fc::Type::primitive(k);
    return t;
  };
  EXPECT_TRUE(fc::typecheck(compact, *list_of(fc::TypeKind::U8)));
  auto wrong = fc::typecheck(compact, *list_of(fc::TypeKind::U16));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("list of bytes"), std::string::npos)
      << wrong.error().message;
}

// Fixed-size lists (list<T, N>): flattened element by element, stored inline, spilled to
// memory past 16 flat values, and checked for their length.
class FixedLists : public ::testing::Test {
 protected:
  void SetUp() override {
    comp_ = std::make_unique<fc::Component>(load("fixedlists.wasm"));
    fc::Linker linker;
    auto i = fc::instantiate(store_, linker, *comp_);
    ASSERT_TRUE(i) << i.error().to_string();
    inst_ = *i;
  }
  static fc::Val u32s(std::vector<uint32_t> xs) {
    std::vector<fc::Val> items;
    for (uint32_t x : xs) items.push_back(fc::Val::u32(x));
    return fc::Val::list(std::move(items));
  }
  fe::Store store_{engine()};
  std::unique_ptr<fc::Component> comp_;
  fc::Instance inst_;
};

TEST_F(FixedLists, FlatParamsAndResultsThroughMemory) {
  auto f = inst_.get_func("sum4");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type().to_string(), "func(l: list<u32, 4>) -> u32");
  auto r = call(store_, inst_, "sum4", {u32s({1, 2, 3, 4})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].as_u64(), 10u);
  auto m = call(store_, inst_, "make3", {fc::Val::u16(7)});
  ASSERT_EQ(m.size(), 1u);
  auto items = m[0].list_items();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].as_u64(), 7u);
  EXPECT_EQ(items[2].as_u64(), 9u);
}

TEST_F(FixedLists, SpilledParamsAndBytes) {
  std::string bytes;
  for (int i = 1; i <= 20; i++) bytes += static_cast<char>(i);
  auto r = call(store_, inst_, "sum20", {fc::Val::bytes(bytes)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].as_u64(), 210u);
  std::vector<fc::Val> items;
  for (int i = 0; i < 20; i++) items.push_back(fc::Val::u8(2));
  r = call(store_, inst_, "sum20", {fc::Val::list(std::move(items))});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].as_u64(), 40u);
}

TEST_F(FixedLists, InsideARecord) {
  auto r = call(store_, inst_, "rec", {fc::Val::u8(3)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].items.size(), 2u);
  EXPECT_EQ(r[0].items[0].as_u64(), 3u);
  auto b = r[0].items[1].list_items();
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].as_u64(), 30u);
  EXPECT_EQ(b[1].as_u64(), 300u);
}

TEST_F(FixedLists, WrongLengthIsRefused) {
  auto e = call_error(store_, inst_, "sum4", {u32s({1, 2, 3})});
  EXPECT_NE(e.message.find("list"), std::string::npos) << e.message;
  std::string short_bytes(19, '\1');
  call_error(store_, inst_, "sum20", {fc::Val::bytes(short_bytes)});
  call_error(store_, inst_, "sum4", {u32s({1, 2, 3, 4, 5})});
}
