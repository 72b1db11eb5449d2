// WIT parser, printer and resolver against real WIT: WASI 0.2.x as shipped in npm
// @bytecodealliance/jco, and the worlds printed beside the corpus components.
#include <flotilla/wit/wit.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
namespace wit = flotilla::wit;

namespace {

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string print_all(const std::vector<wit::Package>& ps) {
  std::string s;
  for (const auto& p : ps) s += wit::print(p);
  return s;
}

// Parses, prints, parses the print and prints again: both prints must agree.
void round_trip(const std::string& text, const std::string& name) {
  auto first = wit::parse(text, name);
  ASSERT_TRUE(first) << first.error().to_string();
  std::string printed = print_all(*first);
  auto second = wit::parse(printed, name + " (printed)");
  ASSERT_TRUE(second) << second.error().to_string() << "\n" << printed;
  EXPECT_EQ(printed, print_all(*second)) << name;
}

fs::path wasi_wit(const std::string& version) {
  return fs::path(FLOTILLA_NODE_MODULES) / "@bytecodealliance/jco/lib/wit/builtin" / version;
}

TEST(Wit, WasiPackagesParseRoundTripAndResolve) {
  // jco ships the complete WASI 0.2.12 and a 0.2.10 subset (clocks, io, sockets).
  struct Expect {
    std::string version;
    size_t packages, interfaces;
  };
  for (const auto& [version, want_packages, want_interfaces] :
       {Expect{"0.2.10", 3, 13}, Expect{"0.2.12", 7, 32}}) {
    fs::path dir = wasi_wit(version);
    if (!fs::exists(dir)) GTEST_SKIP() << "npm packages not installed: " << dir;
    wit::Resolve all;
    size_t interfaces = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_directory()) continue;
      for (const auto& f : fs::directory_iterator(e.path()))
        if (f.path().extension() == ".wit") round_trip(read(f.path()), f.path().string());
      auto p = wit::parse_dir(e.path());
      ASSERT_TRUE(p) << p.error().to_string();
      interfaces += p->interfaces.size();
      all.packages.push_back(std::move(*p));
    }
    EXPECT_EQ(all.packages.size(), want_packages) << version;
    EXPECT_EQ(interfaces, want_interfaces) << version;
    auto ok = all.check();
    EXPECT_TRUE(ok) << ok.error().to_string();
    const wit::Package* io = all.find("wasi", "io", std::string("0.2.0"));  // 0.2.0 -> 0.2.x
    ASSERT_NE(io, nullptr);
    ASSERT_NE(io->find_interface("streams"), nullptr);
    EXPECT_EQ(all.find("wasi", "io", std::string("0.3.0")), nullptr);
  }
}

TEST(Wit, CorpusComponentWorldsParse) {
  size_t files = 0;
  for (const char* sub : {"runtime", "jco-components", "jco-modules"}) {
    fs::path dir = fs::path(FLOTILLA_CORPUS_DIR) / "jco-components" / sub;
    if (!fs::exists(dir)) continue;
    for (const auto& f : fs::directory_iterator(dir)) {
      if (f.path().extension() != ".wit") continue;
      round_trip(read(f.path()), f.path().string());
      files++;
    }
  }
  EXPECT_GE(files, 40u);
}

TEST(Wit, SyntaxAndContent) {
  auto r = wit::parse(R"(
    package my:pkg@1.2.3;
    interface types {
      /// a doc comment
      record point { x: s32, y: s32 }
      variant shape { circle(f64), square(tuple<f64, f64>), none }
      enum color { red, green }
      flags perms { read, write }
      resource file {
        constructor(path: string);
        read: func(len: u64) -> result<list<u8>, string>;
        open: static func(path: string) -> option<own<file>>;
      }
      type id = u64;
      /* block /* nested */ comment */
      %type: func(a: borrow<file>) -> result;
    }
    world app {
      import types;
      import log: func(msg: string);
      export run: func() -> result<_, string>;
      export api: interface { ping: func(); }
      include other with { log as logger }
    }
    world other { import log: func(msg: string); }
  )");
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  const auto& p = (*r)[0];
  EXPECT_EQ(p.id(), "my:pkg@1.2.3");
  const auto* types = p.find_interface("types");
  ASSERT_NE(types, nullptr);
  ASSERT_EQ(types->items.size(), 7u);
  const auto& res = std::get<wit::TypeDef>(types->items[4]);
  EXPECT_EQ(res.kind, wit::TypeDef::Kind::Resource);
  ASSERT_EQ(res.methods.size(), 3u);
  EXPECT_EQ(res.methods[0].kind, wit::Function::Kind::Constructor);
  EXPECT_EQ(res.methods[2].kind, wit::Function::Kind::Static);
  EXPECT_EQ(wit::print(*res.methods[1].result), "result<list<u8>, string>");
  const auto& f = std::get<wit::Function>(types->items[6]);
  EXPECT_EQ(f.name, "type");  // %type
  std::string printed = wit::print(p);
  EXPECT_NE(printed.find("%type: func(a: borrow<file>) -> result;"), std::string::npos) << printed;
  wit::Resolve res_all{{p}};
  EXPECT_TRUE(res_all.check());
}

TEST(Wit, ErrorsNameTheLocation) {
  auto r = wit::parse("package a:b;\ninterface x {\n  f: func(a: u32;\n}\n", "bad.wit");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().line, 3);
  EXPECT_NE(r.error().to_string().find("bad.wit:3:"), std::string::npos) << r.error().to_string();
  r = wit::parse("interface x { f: func() -> list<u8; }");
  ASSERT_FALSE(r);
  r = wit::parse("/* unterminated");
  ASSERT_FALSE(r);
  // Unresolvable references are reported by check().
  auto p = wit::parse(
      "package a:b;\ninterface x { use y.{t}; }\nworld w { import c:d/e; include nope; }\n");
  ASSERT_TRUE(p);
  wit::Resolve r2{*p};
  EXPECT_FALSE(r2.check());
}

}  // namespace
