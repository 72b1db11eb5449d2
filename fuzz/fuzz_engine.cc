// libFuzzer target over the engine. Every input is decoded and validated; valid inputs under
// 64 KiB are compiled on the baseline tier, instantiated through a Linker that satisfies every
// import with a host stub or a fresh memory/table/global of the declared type, and every
// exported function is called with default arguments under a short deadline and small limits.
//
// Any crash, sanitizer report, hang or out-of-memory is a bug: hostile input must only ever
// produce errors. Besides, the target aborts (a finding libFuzzer saves) on inconsistencies
// that are bugs without a crash:
//  - a module that validates but whose C does not compile (ErrorKind::Compile);
//  - validate, inspect and compile disagreeing;
//  - a Link error although every import was given an extern of exactly its declared type.
//
// FLOTILLA_FUZZ_DIFF=1 (environment): differential mode. Each valid module also runs on the
// optimized tier (cc -O2 shared objects, cached in $FLOTILLA_FUZZ_CACHE or a temp dir) and
// every call's results, trap kind, and the exported memories and globals afterwards must match
// the baseline tier's. Meant for replaying corpora (slow: one cc run per new module).
#include <flotilla/engine/engine.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace fe = flotilla::engine;

namespace {

constexpr size_t kMaxCompileSize = 64 * 1024;
constexpr auto kCallTimeout = std::chrono::milliseconds(50);

bool diff_mode() {
  static const bool on = [] {
    const char* v = getenv("FLOTILLA_FUZZ_DIFF");
    return v && *v && *v != '0';
  }();
  return on;
}

fe::Engine& baseline_engine() {
  static fe::Engine e([] {
    fe::Config c;
    c.tier = fe::Tier::Baseline;
    c.cache_enabled = false;
    return c;
  }());
  return e;
}

fe::Engine& optimized_engine() {
  static fe::Engine e([] {
    fe::Config c;
    c.tier = fe::Tier::Optimized;
    const char* dir = getenv("FLOTILLA_FUZZ_CACHE");
    c.cache_dir = dir && *dir ? std::filesystem::path(dir)
                              : std::filesystem::temp_directory_path() / "flotilla-fuzz-cache";
    c.max_jobs = 1;
    return c;
  }());
  return e;
}

[[noreturn]] void finding(const std::string& what) {
  fprintf(stderr, "\n==== flotilla fuzz finding: %s\n", what.c_str());
  fflush(stderr);
  abort();
}

fe::StoreLimits small_limits() {
  fe::StoreLimits limits;
  limits.max_memory_pages = 256;  // 16 MiB per memory
  limits.max_table_elements = 100000;
  limits.max_call_depth = 2000;
  limits.max_instances = 10;
  return limits;
}

// Host function stubs return a fixed, type-dependent value (the same on every tier).
fe::Val stub_value(fe::ValType t) {
  switch (t) {
    case fe::ValType::I32:
      return fe::Val::i32(7);
    case fe::ValType::I64:
      return fe::Val::i64(-3);
    case fe::ValType::F32:
      return fe::Val::f32(1.5f);
    case fe::ValType::F64:
      return fe::Val::f64(-2.25);
    default:
      return fe::Val::default_for(t);
  }
}

std::optional<fe::Extern> make_stub(fe::Store& store, const fe::ExternType& t) {
  switch (t.kind) {
    case fe::ExternKind::Func: {
      auto results = t.func.results;
      return fe::Extern(fe::Func::host(store, t.func,
                                       [results](fe::Caller&, std::span<const fe::Val>,
                                                 std::span<fe::Val> r) -> fe::Result<void> {
                                         for (size_t i = 0; i < r.size(); ++i)
                                           r[i] = stub_value(results[i]);
                                         return {};
                                       }));
    }
    case fe::ExternKind::Memory: {
      auto m = fe::Memory::create(store, t.memory);
      if (!m) return std::nullopt;  // over the store's limits
      return fe::Extern(*m);
    }
    case fe::ExternKind::Table: {
      auto tab = fe::Table::create(store, t.table, fe::Val::default_for(t.table.element));
      if (!tab) return std::nullopt;
      return fe::Extern(*tab);
    }
    case fe::ExternKind::Global: {
      auto g = fe::Global::create(store, t.global, stub_value(t.global.content));
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

// Instantiates `m` in `store` with stubs through a Linker; modules that import the same name
// twice with different types go through the positional Instance::create instead.
std::optional<fe::Instance> instantiate(fe::Store& store, const fe::Module& m) {
  fe::Linker linker;
  std::vector<fe::Extern> positional;
  bool use_linker = true;
  for (const auto& imp : m.imports()) {
    auto x = make_stub(store, imp.type);
    if (!x) return std::nullopt;
    positional.push_back(*x);
    if (use_linker && !linker.define(imp.module, imp.name, *x)) use_linker = false;
  }
  store.set_timeout(kCallTimeout);
  auto inst =
      use_linker ? linker.instantiate(store, m) : fe::Instance::create(store, m, positional);
  if (!inst) {
    if (inst.error().kind == fe::ErrorKind::Link)
      finding("link error with exactly typed imports: " + inst.error().to_string());
    return std::nullopt;  // traps in start/segments, limits
  }
  return *inst;
}

struct Outcome {
  bool ok = false;
  std::optional<fe::TrapKind> trap;
  std::vector<fe::Val> results;
  std::string error;
};

Outcome call_export(fe::Store& store, const fe::Instance& inst, const fe::ExportType& ex) {
  Outcome out;
  auto f = inst.get_func(ex.name);
  if (!f) finding("exported function missing: " + ex.name);
  if (!(f->type() == ex.type.func)) finding("export type differs from its Func: " + ex.name);
  std::vector<fe::Val> args;
  for (auto p : ex.type.func.params) args.push_back(fe::Val::default_for(p));
  store.set_timeout(kCallTimeout);
  auto r = f->call(store, args);
  if (r) {
    out.ok = true;
    out.results = std::move(*r);
    if (out.results.size() != ex.type.func.results.size()) finding("wrong result count");
    for (size_t i = 0; i < out.results.size(); ++i)
      if (out.results[i].type() != ex.type.func.results[i]) finding("wrong result type");
  } else {
    out.trap = r.error().trap;
    out.error = r.error().to_string();
    if (r.error().kind != fe::ErrorKind::Trap) finding("call failed without a trap: " + out.error);
  }
  return out;
}

// Touches every exported memory, table and global through the API (size consistency).
void check_exports(const fe::Instance& inst) {
  for (const auto& [name, x] : inst.exports()) {
    switch (x.kind) {
      case fe::ExternKind::Memory: {
        uint64_t size = x.memory.size();
        if (size != x.memory.pages() * 65536) finding("memory size and pages disagree");
        if (size) {
          uint8_t b[1];
          if (!x.memory.read(size - 1, b)) finding("last byte of memory unreadable");
          volatile uint8_t first = x.memory.data()[0];
          (void)first;
        }
        uint8_t b[1];
        if (x.memory.read(size, b)) finding("read past the end of memory succeeded");
        break;
      }
      case fe::ExternKind::Table: {
        uint64_t n = x.table.size();
        if (n && !x.table.get(n - 1)) finding("last table element unreadable");
        if (x.table.get(n)) finding("table get past the end succeeded");
        break;
      }
      case fe::ExternKind::Global:
        (void)x.global.get();
        break;
      case fe::ExternKind::Func:
        break;
      case fe::ExternKind::Tag:
        if (!(x.tag.type() == x.type().tag)) finding("tag type inconsistent");
        break;
    }
  }
}

bool is_nan_bits32(uint32_t b) { return (b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu); }
bool is_nan_bits64(uint64_t b) {
  return (b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (b & 0xfffffffffffffull);
}

// Equal, or both NaN (arithmetic NaN bits are nondeterministic in Wasm).
bool same_val(const fe::Val& a, const fe::Val& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case fe::ValType::I32:
      return a.u32() == b.u32();
    case fe::ValType::I64:
      return a.u64() == b.u64();
    case fe::ValType::F32:
      return a.f32_bits() == b.f32_bits() ||
             (is_nan_bits32(a.f32_bits()) && is_nan_bits32(b.f32_bits()));
    case fe::ValType::F64:
      return a.f64_bits() == b.f64_bits() ||
             (is_nan_bits64(a.f64_bits()) && is_nan_bits64(b.f64_bits()));
    case fe::ValType::FuncRef:
    case fe::ValType::ExternRef:
      return a.is_null_ref() == b.is_null_ref();
    case fe::ValType::V128:
      return true;
  }
  return true;
}

// Memory contents equal, except for words that are NaNs on both sides.
bool same_memory(const fe::Memory& a, const fe::Memory& b, std::string* where) {
  if (a.size() != b.size()) {
    *where = "size " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    return false;
  }
  const uint8_t* pa = a.data();
  const uint8_t* pb = b.data();
  uint64_t n = a.size();
  if (!n || memcmp(pa, pb, n) == 0) return true;
  for (uint64_t i = 0; i < n; ++i) {
    if (pa[i] == pb[i]) continue;
    bool nan_ok = false;
    for (uint64_t w : {4u, 8u}) {
      for (uint64_t s = i >= w - 1 ? i - (w - 1) : 0; s <= i && s + w <= n; ++s) {
        if (w == 4) {
          uint32_t x, y;
          memcpy(&x, pa + s, 4);
          memcpy(&y, pb + s, 4);
          if (is_nan_bits32(x) && is_nan_bits32(y)) nan_ok = true;
        } else {
          uint64_t x, y;
          memcpy(&x, pa + s, 8);
          memcpy(&y, pb + s, 8);
          if (is_nan_bits64(x) && is_nan_bits64(y)) nan_ok = true;
        }
      }
    }
    if (!nan_ok) {
      *where = "byte " + std::to_string(i) + ": " + std::to_string(pa[i]) + " vs " +
               std::to_string(pb[i]);
      return false;
    }
  }
  return true;
}

bool diverging_trap(const Outcome& o) {
  // Outcomes that legitimately depend on speed or frame sizes: stop comparing after these.
  return o.trap &&
         (*o.trap == fe::TrapKind::Interrupted || *o.trap == fe::TrapKind::CallStackExhausted ||
          *o.trap == fe::TrapKind::ResourceLimit);
}

void differential(std::span<const uint8_t> bytes, const fe::Module& base) {
  auto opt = fe::Module::compile(optimized_engine(), bytes);
  if (!opt) {
    if (opt.error().kind == fe::ErrorKind::Compile)
      finding("optimized tier failed to compile a valid module: " + opt.error().to_string());
    return;
  }
  fe::Store sa(baseline_engine(), small_limits());
  fe::Store sb(optimized_engine(), small_limits());
  auto ia = instantiate(sa, base);
  auto ib = instantiate(sb, *opt);
  if (ia.has_value() != ib.has_value()) {
    // One side trapped at instantiation: most often a start function interrupted on the slower
    // tier. Not compared further.
    fprintf(stderr, "instantiation differs: baseline %s, optimized %s\n", ia ? "ok" : "failed",
            ib ? "ok" : "failed");
    return;
  }
  if (!ia) return;
  for (const auto& ex : base.exports()) {
    if (ex.type.kind != fe::ExternKind::Func) continue;
    Outcome a = call_export(sa, *ia, ex);
    Outcome b = call_export(sb, *ib, ex);
    if (diverging_trap(a) || diverging_trap(b)) return;
    if (a.ok != b.ok) {
      finding("export " + ex.name + ": baseline " + (a.ok ? "returned" : a.error) + ", optimized " +
              (b.ok ? "returned" : b.error));
    }
    if (!a.ok) {
      if (a.trap != b.trap)
        finding("export " + ex.name + ": trap kinds differ: " + a.error + " vs " + b.error);
    } else {
      for (size_t i = 0; i < a.results.size(); ++i) {
        if (!same_val(a.results[i], b.results[i]))
          finding("export " + ex.name + " result " + std::to_string(i) + ": baseline " +
                  a.results[i].to_string() + ", optimized " + b.results[i].to_string());
      }
    }
    for (const auto& [name, xa] : ia->exports()) {
      auto xb = ib->get_export(name);
      if (!xb) finding("export missing on the optimized tier: " + name);
      if (xa.kind == fe::ExternKind::Memory) {
        std::string where;
        if (!same_memory(xa.memory, xb->memory, &where))
          finding("after " + ex.name + ": memory " + name + " differs at " + where);
      } else if (xa.kind == fe::ExternKind::Global) {
        auto va = xa.global.get(), vb = xb->global.get();
        if (!same_val(va, vb))
          finding("after " + ex.name + ": global " + name + " differs: " + va.to_string() + " vs " +
                  vb.to_string());
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto valid = fe::Module::validate(bytes);
  auto info = fe::Module::inspect(bytes);
  if (valid.has_value() != info.has_value()) finding("validate and inspect disagree");
  if (!valid) {
    if (valid.error().message.empty()) finding("error without a message");
    return 0;
  }
  if (size > kMaxCompileSize) return 0;
  auto module = fe::Module::compile(baseline_engine(), bytes);
  if (!module) {
    switch (module.error().kind) {
      case fe::ErrorKind::Compile:
        finding("baseline tier failed to compile a valid module: " + module.error().to_string());
      case fe::ErrorKind::Malformed:
      case fe::ErrorKind::Invalid:
        finding("compile rejected a module that validated: " + module.error().to_string());
      default:
        return 0;  // Unsupported (e.g. exceptions), Limit
    }
  }
  if (module->imports().size() != info->imports.size() ||
      module->exports().size() != info->exports.size())
    finding("inspect and compile disagree on imports/exports");

  {
    fe::Store store(baseline_engine(), small_limits());
    auto inst = instantiate(store, *module);
    if (inst) {
      for (const auto& ex : module->exports()) {
        if (ex.type.kind != fe::ExternKind::Func) continue;
        (void)call_export(store, *inst, ex);
        check_exports(*inst);
      }
      // Once more, after the first round's traps: the instance must still be usable.
      for (const auto& ex : module->exports()) {
        if (ex.type.kind == fe::ExternKind::Func) (void)call_export(store, *inst, ex);
      }
    }
  }
  if (diff_mode()) differential(bytes, *module);
  return 0;
}
