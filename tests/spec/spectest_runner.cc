// Runs one WebAssembly spec-testsuite script (.wast, converted with wabt's wast2json) against
// one engine tier. Prints every failure and a closing "N passed, M failed, K skipped" line;
// exits non-zero when anything failed.
#include <flotilla/engine/engine.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace fe = flotilla::engine;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Counts {
  int passed = 0, failed = 0, skipped = 0;
};

std::optional<fe::ValType> parse_type(const std::string& t) {
  if (t == "i32") return fe::ValType::I32;
  if (t == "i64") return fe::ValType::I64;
  if (t == "f32") return fe::ValType::F32;
  if (t == "f64") return fe::ValType::F64;
  if (t == "funcref") return fe::ValType::FuncRef;
  if (t == "externref") return fe::ValType::ExternRef;
  if (t == "v128") return fe::ValType::V128;
  return std::nullopt;
}

// Converts a JSON argument; nullopt when the value kind is not supported by the runner.
std::optional<fe::Val> to_val(const json& j) {
  std::string t = j["type"];
  if (t == "v128") return std::nullopt;
  std::string v = j["value"].is_string() ? j["value"].get<std::string>() : "";
  if (t == "i32") return fe::Val::i32(static_cast<int32_t>(std::stoul(v)));
  if (t == "i64") return fe::Val::i64(static_cast<int64_t>(std::stoull(v)));
  if (t == "f32") return fe::Val::f32_bits(static_cast<uint32_t>(std::stoul(v)));
  if (t == "f64") return fe::Val::f64_bits(std::stoull(v));
  if (t == "externref")
    return v == "null" ? fe::Val::externref(0) : fe::Val::externref(std::stoull(v) + 1);
  if (t == "funcref") {
    if (v == "null") return fe::Val::null_funcref();
    return std::nullopt;
  }
  return std::nullopt;
}

bool matches(const json& expected, const fe::Val& actual, std::string& why) {
  std::string t = expected["type"];
  auto et = parse_type(t);
  if (!et || *et != actual.type()) {
    why = "type " + t + " expected, got " + fe::val_type_name(actual.type());
    return false;
  }
  std::string v = expected["value"].is_string() ? expected["value"].get<std::string>() : "";
  auto fail = [&](const std::string& exp) {
    why = "expected " + exp + ", got " + actual.to_string();
    return false;
  };
  if (t == "f32") {
    uint32_t b = actual.f32_bits();
    if (v == "nan:canonical") return (b & 0x7fffffffu) == 0x7fc00000u || fail(v);
    if (v == "nan:arithmetic") return (b & 0x7fc00000u) == 0x7fc00000u || fail(v);
    return b == static_cast<uint32_t>(std::stoul(v)) ||
           fail("f32 bits " + v + " (got bits " + std::to_string(b) + ")");
  }
  if (t == "f64") {
    uint64_t b = actual.f64_bits();
    if (v == "nan:canonical")
      return (b & 0x7fffffffffffffffull) == 0x7ff8000000000000ull || fail(v);
    if (v == "nan:arithmetic")
      return (b & 0x7ff8000000000000ull) == 0x7ff8000000000000ull || fail(v);
    return b == std::stoull(v) || fail("f64 bits " + v + " (got bits " + std::to_string(b) + ")");
  }
  if (t == "i32") return actual.u32() == static_cast<uint32_t>(std::stoul(v)) || fail(v);
  if (t == "i64") return actual.u64() == std::stoull(v) || fail(v);
  if (t == "externref") {
    if (v == "null") return actual.externref() == 0 || fail("null");
    return actual.externref() == std::stoull(v) + 1 || fail("ref.extern " + v);
  }
  if (t == "funcref") {
    if (v == "null") return actual.is_null_ref() || fail("null");
    return !actual.is_null_ref() || fail("non-null funcref");
  }
  why = "unsupported expected type " + t;
  return false;
}

// The trap kind the spec's assertion text names (nullopt: text not recognised).
std::optional<fe::TrapKind> expected_trap(const std::string& text) {
  auto starts = [&](const char* p) { return text.rfind(p, 0) == 0; };
  if (starts("call stack exhausted")) return fe::TrapKind::CallStackExhausted;
  if (starts("indirect call type mismatch") || starts("undefined element") ||
      starts("uninitialized element"))
    return fe::TrapKind::IndirectCall;
  if (starts("integer divide by zero")) return fe::TrapKind::IntegerDivideByZero;
  if (starts("integer overflow")) return fe::TrapKind::IntegerOverflow;
  if (starts("invalid conversion to integer")) return fe::TrapKind::InvalidConversion;
  if (starts("out of bounds memory access") || starts("out of bounds table access"))
    return fe::TrapKind::MemoryOutOfBounds;
  if (starts("unreachable")) return fe::TrapKind::Unreachable;
  return std::nullopt;
}

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

class Runner {
 public:
  Runner(fe::Tier tier, fs::path cache, fs::path dir, bool verbose, size_t split_bytes, bool guard)
      : engine_(make_config(tier, cache, split_bytes, guard)),
        store_(engine_),
        dir_(std::move(dir)),
        verbose_(verbose) {
    linker_.allow_shadowing(true);
    define_spectest();
  }

  int run(const json& script, const std::string& name) {
    for (const auto& cmd : script["commands"]) {
      try {
        command(cmd);
      } catch (const std::exception& e) {
        fail(cmd, std::string("runner exception: ") + e.what());
      }
    }
    for (const auto& [reason, n] : skip_reasons_)
      std::cout << "  skipped " << n << ": " << reason << "\n";
    std::cout << name << " [" << fe::tier_name(engine_.config().tier) << "]: " << counts_.passed
              << " passed, " << counts_.failed << " failed, " << counts_.skipped << " skipped\n";
    return counts_.failed ? 1 : 0;
  }

 private:
  static fe::Config make_config(fe::Tier tier, const fs::path& cache, size_t split_bytes,
                                bool guard) {
    fe::Config c;
    c.multi_memory = false;  // the suite is Wasm 2.0: it asserts that two memories are invalid
    c.guard_pages = guard;
    if (split_bytes) c.split_bytes = split_bytes;
    c.tier = tier;
    c.cache_dir = cache;
    return c;
  }

  void define_spectest() {
    auto noop = [](fe::Caller&, std::span<const fe::Val>, std::span<fe::Val>) -> fe::Result<void> {
      return {};
    };
    using VT = fe::ValType;
    std::vector<std::pair<std::string, fe::FuncType>> prints = {
        {"print", {}},
        {"print_i32", {{VT::I32}, {}}},
        {"print_i64", {{VT::I64}, {}}},
        {"print_f32", {{VT::F32}, {}}},
        {"print_f64", {{VT::F64}, {}}},
        {"print_i32_f32", {{VT::I32, VT::F32}, {}}},
        {"print_f64_f64", {{VT::F64, VT::F64}, {}}},
    };
    for (auto& [n, t] : prints) (void)linker_.define_func(store_, "spectest", n, t, noop);
    (void)linker_.define("spectest", "global_i32",
                         *fe::Global::create(store_, {VT::I32, false}, fe::Val::i32(666)));
    (void)linker_.define("spectest", "global_i64",
                         *fe::Global::create(store_, {VT::I64, false}, fe::Val::i64(666)));
    (void)linker_.define("spectest", "global_f32",
                         *fe::Global::create(store_, {VT::F32, false}, fe::Val::f32(666.6f)));
    (void)linker_.define("spectest", "global_f64",
                         *fe::Global::create(store_, {VT::F64, false}, fe::Val::f64(666.6)));
    (void)linker_.define(
        "spectest", "table",
        *fe::Table::create(store_, {VT::FuncRef, {10, 20}}, fe::Val::null_funcref()));
    (void)linker_.define("spectest", "memory", *fe::Memory::create(store_, {{1, 2}}));
  }

  void pass() { counts_.passed++; }
  void skip(const std::string& reason) {
    counts_.skipped++;
    skip_reasons_[reason]++;
  }
  void fail(const json& cmd, const std::string& why) {
    counts_.failed++;
    std::cout << "  FAIL line " << cmd.value("line", 0) << " " << cmd.value("type", std::string())
              << ": " << why << "\n";
  }

  fe::Result<fe::Module> compile(const std::string& file) {
    auto bytes = read_file(dir_ / file);
    return fe::Module::compile(engine_, bytes, file);
  }

  void command(const json& cmd) {
    std::string type = cmd["type"];
    if (type == "module") {
      current_.reset();
      auto m = compile(cmd["filename"]);
      if (!m) {
        skip_module_ = true;
        if (m.error().kind == fe::ErrorKind::Unsupported) {
          skip_reason_ = "action on a skipped module (" + m.error().message + ")";
          return skip(m.error().message);
        }
        skip_reason_ = "action on a module that failed to load";
        return fail(cmd, "compile: " + m.error().to_string());
      }
      auto inst = linker_.instantiate(store_, *m);
      if (!inst) {
        skip_module_ = true;
        skip_reason_ = "action on a module that failed to load";
        return fail(cmd, "instantiate: " + inst.error().to_string());
      }
      skip_module_ = false;
      current_ = *inst;
      if (cmd.contains("name")) named_[cmd["name"]] = *inst;
      return pass();
    }
    if (type == "register") {
      std::optional<fe::Instance> inst = cmd.contains("name") ? lookup(cmd["name"]) : current_;
      if (!inst) return skip("register of a module that did not load");
      auto r = linker_.define_instance(cmd["as"].get<std::string>(), *inst);
      return r ? pass() : fail(cmd, r.error().to_string());
    }
    if (type == "assert_invalid" || type == "assert_malformed") {
      if (cmd.value("module_type", std::string("binary")) != "binary") {
        return skip("text-format module (the engine takes binaries; the text front end is wabt's)");
      }
      auto bytes = read_file(dir_ / cmd["filename"].get<std::string>());
      auto r = fe::Module::validate(engine_, bytes);
      if (r) return fail(cmd, "module was accepted; expected: " + cmd.value("text", std::string()));
      return pass();
    }
    if (type == "assert_unlinkable" || type == "assert_uninstantiable") {
      auto m = compile(cmd["filename"]);
      if (!m) {
        if (m.error().kind == fe::ErrorKind::Unsupported) return skip(m.error().message);
        return fail(cmd, "compile: " + m.error().to_string());
      }
      auto inst = linker_.instantiate(store_, *m);
      if (inst)
        return fail(cmd, "instantiation succeeded; expected: " + cmd.value("text", std::string()));
      bool want_link = type == "assert_unlinkable";
      bool got_link = inst.error().kind == fe::ErrorKind::Link;
      if (want_link != got_link) {
        return fail(cmd, "expected " + std::string(want_link ? "a link error" : "a trap") +
                             ", got " + inst.error().to_string());
      }
      if (!want_link) {
        auto want = expected_trap(cmd.value("text", std::string()));
        if (want && inst.error().trap != want) {
          return fail(cmd, "expected trap \"" + cmd.value("text", std::string()) + "\", got " +
                               inst.error().to_string());
        }
      }
      return pass();
    }
    if (type == "action" || type == "assert_return" || type == "assert_trap" ||
        type == "assert_exhaustion") {
      const json& action = cmd["action"];
      std::optional<fe::Instance> inst =
          action.contains("module") ? lookup(action["module"]) : current_;
      if (!inst || (!action.contains("module") && skip_module_)) {
        return skip(inst ? skip_reason_ : "action on a module that failed to load");
      }
      std::vector<fe::Val> results;
      std::optional<fe::Error> error;
      if (action["type"] == "get") {
        auto g = inst->get_global(action["field"].get<std::string>());
        if (!g) return fail(cmd, "no global " + action["field"].get<std::string>());
        results.push_back(g->get());
      } else {
        auto f = inst->get_func(action["field"].get<std::string>());
        if (!f) return fail(cmd, "no function " + action["field"].get<std::string>());
        std::vector<fe::Val> args;
        for (const auto& a : action["args"]) {
          auto v = to_val(a);
          if (!v)
            return skip("argument type " + a["type"].get<std::string>() +
                        " not supported by the runner");
          args.push_back(*v);
        }
        store_.set_timeout(std::chrono::seconds(20));
        auto r = f->call(store_, args);
        store_.clear_deadline();
        if (r) {
          results = std::move(*r);
        } else {
          error = r.error();
        }
      }
      if (type == "assert_trap" || type == "assert_exhaustion") {
        if (!error) return fail(cmd, "no trap; expected: " + cmd.value("text", std::string()));
        if (error->kind != fe::ErrorKind::Trap)
          return fail(cmd, "expected a trap, got " + error->to_string());
        auto want = expected_trap(cmd.value("text", std::string()));
        if (want && error->trap != want) {
          return fail(cmd, "expected trap \"" + cmd.value("text", std::string()) + "\", got " +
                               error->to_string());
        }
        if (verbose_)
          std::cout << "  trap ok line " << cmd["line"] << ": " << error->message << " / "
                    << cmd.value("text", std::string()) << "\n";
        return pass();
      }
      if (error) return fail(cmd, error->to_string());
      if (type == "action") return pass();
      const json& expected = cmd["expected"];
      if (expected.size() != results.size()) return fail(cmd, "wrong number of results");
      for (size_t i = 0; i < results.size(); ++i) {
        if (expected[i]["type"] == "v128") return skip("v128 results");
        std::string why;
        if (!matches(expected[i], results[i], why))
          return fail(cmd, action["field"].get<std::string>() + ": " + why);
      }
      return pass();
    }
    fail(cmd, "unknown command type " + type);
  }

  std::optional<fe::Instance> lookup(const std::string& name) {
    auto it = named_.find(name);
    if (it == named_.end()) return std::nullopt;
    return it->second;
  }

  fe::Engine engine_;
  fe::Store store_;
  fe::Linker linker_;
  fs::path dir_;
  bool verbose_;
  Counts counts_;
  std::optional<fe::Instance> current_;
  bool skip_module_ = false;
  std::string skip_reason_;
  std::map<std::string, fe::Instance> named_;
  std::map<std::string, int> skip_reasons_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string tier_s = "baseline", wast, work, cache;
  bool verbose = false;
  size_t split_bytes = 0;  // 0: the engine's default
  bool guard = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--tier")
      tier_s = next();
    else if (a == "--work")
      work = next();
    else if (a == "--cache")
      cache = next();
    else if (a == "--verbose")
      verbose = true;
    else if (a == "--guard-pages")
      guard = true;
    else if (a == "--split-bytes")
      split_bytes = std::stoull(next());
    else
      wast = a;
  }
  auto tier = fe::parse_tier(tier_s);
  if (wast.empty() || work.empty() || !tier) {
    std::cerr << "usage: flotilla-spectest --tier baseline|optimized --work DIR [--cache DIR] "
                 "FILE.wast\n";
    return 2;
  }
  std::string name = fs::path(wast).stem().string();
  fs::path dir = fs::path(work) / name;
  fs::create_directories(dir);
  std::string cmd = "wast2json '" + wast + "' -o '" + (dir / (name + ".json")).string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "wast2json failed for " << wast << "\n";
    return 1;
  }
  std::ifstream f(dir / (name + ".json"));
  json script = json::parse(f);
  if (cache.empty()) cache = (fs::path(work) / "cache").string();
  Runner runner(*tier, cache, dir, verbose, split_bytes, guard);
  return runner.run(script, name);
}
