// libFuzzer target: decode + validate arbitrary bytes; for valid modules, compile on the
// baseline tier, instantiate with every import satisfied by stubs, and call every exported
// function with default arguments under a deadline and small limits. Any crash, sanitizer report
// or hang here is a bug: hostile input must only ever produce errors.
#include <flotilla/engine/engine.h>

#include <cstdint>
#include <vector>

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

std::optional<fe::Extern> stub(fe::Store& store, const fe::ExternType& t) {
  switch (t.kind) {
    case fe::ExternKind::Func: {
      auto results = t.func.results;
      return fe::Extern(fe::Func::host(store, t.func,
                                       [results](fe::Caller&, std::span<const fe::Val>,
                                                 std::span<fe::Val> r) -> fe::Result<void> {
                                         for (size_t i = 0; i < r.size(); ++i)
                                           r[i] = fe::Val::default_for(results[i]);
                                         return {};
                                       }));
    }
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
  }
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  if (!fe::Module::validate(bytes) || size > 64 * 1024) return 0;
  auto module = fe::Module::compile(engine(), bytes);
  if (!module) return 0;  // e.g. Unsupported (SIMD): an error, not a crash
  fe::StoreLimits limits;
  limits.max_memory_pages = 256;
  limits.max_table_elements = 100000;
  limits.max_call_depth = 2000;
  fe::Store store(engine(), limits);
  std::vector<fe::Extern> imports;
  for (const auto& imp : module->imports()) {
    auto x = stub(store, imp.type);
    if (!x) return 0;
    imports.push_back(*x);
  }
  store.set_timeout(std::chrono::milliseconds(50));
  auto inst = fe::Instance::create(store, *module, imports);
  if (!inst) return 0;
  for (const auto& ex : module->exports()) {
    if (ex.type.kind != fe::ExternKind::Func) continue;
    std::vector<fe::Val> args;
    for (auto p : ex.type.func.params) args.push_back(fe::Val::default_for(p));
    store.set_timeout(std::chrono::milliseconds(50));
    (void)inst->get_func(ex.name)->call(store, args);
  }
  return 0;
}
