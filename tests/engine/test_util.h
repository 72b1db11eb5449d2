// Shared helpers for the engine tests: test modules, the tier fixture, host function stubs.
#pragma once

#include <flotilla/engine/engine.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace flotilla::engine::test {

namespace fe = flotilla::engine;
namespace fs = std::filesystem;
using VT = fe::ValType;

// A module converted from tests/engine/wat/<name>.wat at build time ("invalid/x" for the
// modules converted without validation).
inline std::vector<uint8_t> wasm(const std::string& name) {
  std::ifstream f(fs::path(FLOTILLA_TEST_WASM_DIR) / (name + ".wasm"), std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing test module " << name;
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

// This test binary's cache directory (in the build tree).
inline fs::path cache_dir() { return fs::path(FLOTILLA_TEST_CACHE_DIR); }

struct Variant {
  fe::Tier tier;
  bool guard_pages;
};

inline std::string variant_name(const ::testing::TestParamInfo<Variant>& info) {
  return std::string(fe::tier_name(info.param.tier)) + (info.param.guard_pages ? "_guard" : "");
}

#define FLOTILLA_ALL_TIERS                                                                         \
  ::testing::Values(::flotilla::engine::test::Variant{::flotilla::engine::Tier::Baseline, false},  \
                    ::flotilla::engine::test::Variant{::flotilla::engine::Tier::Optimized, false}, \
                    ::flotilla::engine::test::Variant{::flotilla::engine::Tier::Optimized, true})

inline fe::HostFn zero_results() {
  return [](fe::Caller&, std::span<const fe::Val>, std::span<fe::Val>) -> fe::Result<void> {
    return {};  // results arrive preset to their type's default
  };
}

// Satisfies an import with a stub of the matching type (host function returning defaults,
// fresh memory/table/global).
inline std::optional<fe::Extern> stub_import(fe::Store& store, const fe::ExternType& t) {
  switch (t.kind) {
    case fe::ExternKind::Func:
      return fe::Extern(fe::Func::host(store, t.func, zero_results()));
    case fe::ExternKind::Memory: {
      auto m = fe::Memory::create(store, t.memory);
      if (!m) return std::nullopt;
      return fe::Extern(*m);
    }
    case fe::ExternKind::Table: {
      auto tab = fe::Table::create(store, t.table, fe::Val::default_for(t.table.element));
      if (!tab) return std::nullopt;
      return fe::Extern(*tab);
    }
    case fe::ExternKind::Global: {
      auto g = fe::Global::create(store, t.global, fe::Val::default_for(t.global.content));
      if (!g) return std::nullopt;
      return fe::Extern(*g);
    }
    case fe::ExternKind::Tag: {
      auto tag = fe::Tag::create(store, t.tag);
      if (!tag) return std::nullopt;
      return fe::Extern(*tag);
    }
  }
  return std::nullopt;
}

// Fixture parametrized on the tier: one Engine (with this binary's cache dir) and one Store.
class TierTest : public ::testing::TestWithParam<Variant> {
 protected:
  TierTest() : engine_(make_config()), store_(engine_) {}

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
    if (!m) return compile("tiered");  // keeps the test going; it has failed already
    EXPECT_EQ(m->current_tier(), GetParam().tier);
    return *m;
  }

  // Instantiates with every import stubbed.
  fe::Instance instantiate_stubbed(const std::string& name, fe::Store* store = nullptr) {
    fe::Store& s = store ? *store : store_;
    auto m = compile(name);
    std::vector<fe::Extern> imports;
    for (const auto& imp : m.imports()) {
      auto x = stub_import(s, imp.type);
      EXPECT_TRUE(x) << imp.module << "::" << imp.name;
      if (x) imports.push_back(*x);
    }
    auto inst = fe::Instance::create(s, m, imports);
    EXPECT_TRUE(inst) << name << ": " << inst.error().to_string();
    return inst ? *inst : fe::Instance();
  }

  fe::Result<std::vector<fe::Val>> call(const fe::Instance& inst, const std::string& name,
                                        std::vector<fe::Val> args, fe::Store* store = nullptr) {
    auto f = inst.get_func(name);
    EXPECT_TRUE(f) << "no export " << name;
    if (!f) return fe::make_error(fe::ErrorKind::Usage, "no export " + name);
    return f->call(store ? *store : store_, args);
  }

  // Calls and expects success; returns the results (empty on failure, with the test failed).
  std::vector<fe::Val> ok(const fe::Instance& inst, const std::string& name,
                          std::vector<fe::Val> args) {
    auto r = call(inst, name, std::move(args));
    EXPECT_TRUE(r) << name << ": " << r.error().to_string();
    return r ? *r : std::vector<fe::Val>{};
  }

  fe::Engine engine_;
  fe::Store store_;
};

}  // namespace flotilla::engine::test
