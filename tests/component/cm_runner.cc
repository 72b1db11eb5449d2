// flotilla-cmtest: runs one component-model reference test script, converted by
// tests/component/cm/convert.mjs into a directory with commands.json and component binaries.
//
//   flotilla-cmtest [-v] [--tier baseline|optimized|auto] [--timeout SECONDS] DIR/commands.json
//
// Every command counts as passed, failed or skipped. Loading a component (`(component ...)`,
// `(component definition ...)`, `(component instance ...)`) counts like an assertion that the
// component compiles (and instantiates). Closes with
//   cmtest: FILE passed P failed F skipped S
// and exits 1 when anything failed. Without -v, failures and skips are listed grouped by cause;
// with -v every failure is printed with its line, what was expected and what we got.
#include <flotilla/component/component.h>
#include <flotilla/component/types.h>
#include <flotilla/component/wave.h>
#include <flotilla/engine/engine.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace fc = flotilla::component;
namespace fe = flotilla::engine;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

bool is_nan(const fc::Val& v) {
  if (v.kind == fc::TypeKind::F32) return std::isnan(v.as_f32());
  if (v.kind == fc::TypeKind::F64) return std::isnan(v.as_f64());
  return false;
}

// Val equality where a NaN expectation matches any NaN (at any depth).
bool matches(const fc::Val& expected, const fc::Val& got) {
  if (expected == got) return true;
  if (expected.kind != got.kind) return false;
  if (is_nan(expected)) return is_nan(got);
  if (expected.items.size() != got.items.size() || expected.bits != got.bits ||
      expected.str != got.str || expected.names != got.names ||
      expected.kind == fc::TypeKind::Own || expected.kind == fc::TypeKind::Borrow)
    return false;
  for (size_t i = 0; i < expected.items.size(); i++) {
    if (!matches(expected.items[i], got.items[i])) return false;
  }
  return true;
}

std::string print_vals(const std::vector<fc::Val>& vals) {
  std::string out;
  for (size_t i = 0; i < vals.size(); i++) out += (i ? ", " : "") + fc::wave::print(vals[i]);
  return "[" + out + "]";
}

std::string error_text(const fe::Error& e) {
  return std::string("[") + (e.kind == fe::ErrorKind::Trap ? "trap" : "error") + "] " +
         e.to_string();
}

// An error message without byte offsets and indices, to group failures by cause. (No
// std::regex: GCC 12 warns inside <regex> under the ASan preset.)
std::string cause_of(const fe::Error& e) {
  std::string m = e.message;
  for (const char* pat : {" (at byte offset ", "core module at byte offset "}) {
    size_t p;
    while ((p = m.find(pat)) != std::string::npos) {
      size_t end = p + std::strlen(pat);
      while (end < m.size() && std::isdigit(static_cast<unsigned char>(m[end]))) end++;
      if (pat[0] == ' ' && end < m.size() && m[end] == ')') end++;
      if (pat[0] == 'c' && m.compare(end, 2, ": ") == 0) end += 2;
      m.erase(p, end - p);
    }
  }
  std::string out;
  for (size_t i = 0; i < m.size(); i++) {
    if (std::isdigit(static_cast<unsigned char>(m[i]))) {
      out += 'N';
      while (i + 1 < m.size() && std::isdigit(static_cast<unsigned char>(m[i + 1]))) i++;
    } else {
      out += m[i];
    }
  }
  return out;
}

// One component instance with the store it lives in and the linker that resolved its imports.
struct LiveInstance {
  std::unique_ptr<fe::Store> store;
  std::unique_ptr<fc::Linker> linker;
  fc::Instance instance;
};

class Runner {
 public:
  Runner(fe::Config config, fs::path dir, bool verbose, double timeout)
      : engine_(std::move(config)), dir_(std::move(dir)), verbose_(verbose), timeout_(timeout) {}

  int run(const json& script, const std::string& name) {
    for (const auto& cmd : script.at("commands")) {
      try {
        command(cmd);
      } catch (const std::exception& e) {
        fail(cmd, "runner exception", e.what());
      }
    }
    for (const auto& [cause, n] : fail_causes_)
      std::cout << "  failed " << n << ": " << cause << "\n";
    for (const auto& [reason, n] : skip_reasons_)
      std::cout << "  skipped " << n << ": " << reason << "\n";
    if (unsupported_rejects_)
      std::cout << "  note: " << unsupported_rejects_
                << " passed assertion(s) were rejected as unsupported, not as invalid\n";
    if (text_rejected_)
      std::cout << "  note: " << text_rejected_
                << " passed assertion(s) were rejected by the text parser (jco/wasm-tools), not "
                   "by flotilla\n";
    std::cout << "cmtest: " << name << " passed " << passed_ << " failed " << failed_ << " skipped "
              << skipped_ << "\n";
    return failed_ ? 1 : 0;
  }

 private:
  void pass() { passed_++; }
  void skip(const json& cmd, const std::string& reason) {
    skipped_++;
    skip_reasons_[reason]++;
    if (verbose_) std::cout << "line " << cmd.value("line", 0) << ": skipped: " << reason << "\n";
  }
  // `cause` is a short grouping key; `detail` the specifics (expected vs got).
  void fail(const json& cmd, const std::string& cause, const std::string& detail) {
    failed_++;
    failed_lines_.insert(cmd.value("line", 0));
    fail_causes_[cmd.value("type", std::string("?")) + ": " + cause]++;
    if (verbose_) {
      std::cout << "line " << cmd.value("line", 0) << ": FAIL " << cmd.value("type", std::string())
                << ": " << cause << "\n";
      if (!detail.empty()) std::cout << "    " << detail << "\n";
    }
  }

  fe::Result<fc::Component> compile(const std::string& file) {
    auto bytes = read_bytes(dir_ / file);
    return fc::Component::compile(engine_, bytes);
  }

  fe::Result<std::shared_ptr<LiveInstance>> instantiate(const fc::Component& comp) {
    auto live = std::make_shared<LiveInstance>();
    live->store = std::make_unique<fe::Store>(engine_);
    live->linker = std::make_unique<fc::Linker>();
    auto def = live->linker->define_unknown_imports_as_traps(comp);
    if (!def) return flotilla::Unexpected<fe::Error>(def.error());
    // Through InstancePre: the testsuite covers what it resolves ahead of the store.
    auto pre = live->linker->instantiate_pre(comp);
    if (!pre) return flotilla::Unexpected<fe::Error>(pre.error());
    auto inst = pre->instantiate(*live->store);
    if (!inst) return flotilla::Unexpected<fe::Error>(inst.error());
    live->instance = std::move(*inst);
    return live;
  }

  // Makes `live` the current instance (and names it).
  void set_current(std::shared_ptr<LiveInstance> live, const json& name) {
    current_ = live;
    current_error_.clear();
    if (name.is_string()) instances_[name.get<std::string>()] = std::move(live);
  }
  void lose_current(const json& cmd, const std::string& why) {
    current_.reset();
    current_error_ = "the component at line " + std::to_string(cmd.value("line", 0)) + " " + why;
  }

  void command(const json& cmd) {
    const std::string type = cmd.at("type");
    if (type == "component") return load(cmd);
    if (type == "component_instance") return instance(cmd);
    if (type == "assert_return" || type == "assert_trap" || type == "action") return action(cmd);
    if (type == "assert_invalid" || type == "assert_malformed") return invalid(cmd);
    if (type == "assert_uninstantiable") return uninstantiable(cmd);
    if (type == "malformed_text") {
      // The text parser rejected the component: that is the expected outcome, but it says
      // nothing about flotilla. Counted as passed and reported separately.
      text_rejected_++;
      if (verbose_)
        std::cout << "line " << cmd.value("line", 0) << ": " << cmd.value("assert", std::string())
                  << " rejected by the text parser: " << cmd.value("parser_error", std::string())
                  << " (expected \"" << cmd.value("text", std::string()) << "\")\n";
      return pass();
    }
    if (type == "skip") return skip(cmd, cmd.value("reason", std::string("unsupported command")));
    skip(cmd, "unknown command type " + type);
  }

  void load(const json& cmd) {
    bool definition = cmd.value("definition", false);
    if (cmd.contains("text_error")) {
      if (cmd["name"].is_string()) broken_definitions_.insert(cmd["name"].get<std::string>());
      if (!definition) lose_current(cmd, "was rejected by the text parser");
      return fail(cmd, "text parser rejected a valid component", cmd["text_error"]);
    }
    auto comp = compile(cmd.at("filename"));
    if (!comp) {
      if (cmd["name"].is_string()) broken_definitions_.insert(cmd["name"].get<std::string>());
      if (!definition) lose_current(cmd, "failed to compile");
      return fail(cmd, "compile failed: " + cause_of(comp.error()), error_text(comp.error()));
    }
    auto shared = std::make_shared<fc::Component>(std::move(*comp));
    if (cmd["name"].is_string()) definitions_[cmd["name"].get<std::string>()] = shared;
    if (definition) return pass();
    auto live = instantiate(*shared);
    if (!live) {
      lose_current(cmd, "failed to instantiate");
      return fail(cmd, "instantiate failed: " + cause_of(live.error()), error_text(live.error()));
    }
    set_current(std::move(*live), cmd["name"]);
    pass();
  }

  void instance(const json& cmd) {
    std::string def = cmd.at("component");
    auto it = definitions_.find(def);
    if (it == definitions_.end()) {
      lose_current(cmd, "names an unknown definition");
      if (broken_definitions_.count(def))
        return fail(cmd, "its component definition failed to load", def);
      return fail(cmd, "unknown component definition", def);
    }
    auto live = instantiate(*it->second);
    if (!live) {
      lose_current(cmd, "failed to instantiate");
      return fail(cmd, "instantiate failed: " + cause_of(live.error()), error_text(live.error()));
    }
    set_current(std::move(*live), cmd["instance"]);
    pass();
  }

  void invalid(const json& cmd) {
    auto bytes = read_bytes(dir_ / cmd.at("filename").get<std::string>());
    auto r = fc::Component::validate(bytes);
    std::string expected = cmd.value("text", std::string());
    if (r) {
      // Say whether compile (and instantiation) would catch it either.
      std::string later = "compile accepts it too";
      auto comp = fc::Component::compile(engine_, bytes);
      if (!comp) {
        later = "compile rejects it: " + comp.error().message;
      } else if (auto live = instantiate(*comp); !live) {
        later = "compile accepts it, instantiation fails: " + live.error().message;
      }
      return fail(cmd, "validation accepted it", "expected error \"" + expected + "\"; " + later);
    }
    const std::string& got = r.error().message;
    bool unsupported = r.error().kind == fe::ErrorKind::Unsupported ||
                       got.find("not supported") != std::string::npos ||
                       got.find("unsupported") != std::string::npos;
    if (unsupported) unsupported_rejects_++;
    if (verbose_)
      std::cout << "line " << cmd.value("line", 0) << ": ok"
                << (unsupported ? " (unsupported)" : "") << ", expected \"" << expected
                << "\", got \"" << got << "\"\n";
    pass();
  }

  void uninstantiable(const json& cmd) {
    if (cmd.contains("text_error"))
      return fail(cmd, "text parser rejected the component", cmd["text_error"]);
    auto comp = compile(cmd.at("filename"));
    if (!comp) return pass();
    auto live = instantiate(*comp);
    if (live)
      return fail(cmd, "instantiation succeeded",
                  "expected \"" + cmd.value("text", std::string()) + "\"");
    pass();
  }

  void action(const json& cmd) {
    const std::string type = cmd.at("type");
    const json& act = cmd.at("action");
    std::shared_ptr<LiveInstance> live = current_;
    if (act["instance"].is_string()) {
      auto it = instances_.find(act["instance"].get<std::string>());
      if (it == instances_.end())
        return fail(cmd, "unknown instance", act["instance"].get<std::string>());
      live = it->second;
    }
    if (!live)
      return fail(cmd, "no instance (its component failed to load)",
                  current_error_.empty() ? "no component loaded" : current_error_);
    const std::string field = act.at("field");
    auto f = live->instance.get_func(field);
    if (!f) return fail(cmd, "export not found", field + ": " + error_text(f.error()));
    std::string arg_text;
    for (const auto& a : act.at("args"))
      arg_text += (arg_text.empty() ? "" : ", ") + a.get<std::string>();
    auto args = fc::wave::parse_args(arg_text, f->type());
    if (!args)
      return fail(cmd, "WAVE arguments rejected",
                  field + "(" + arg_text + ") against " + f->type().to_string() + ": " +
                      args.error().message);

    std::vector<fc::Val> expected;
    if (type == "assert_return") {
      const auto& results = f->type().results;
      const json& exp = cmd.at("expected");
      if (exp.size() != results.size())
        return fail(
            cmd, "result count differs",
            std::to_string(exp.size()) + " expected, function type " + f->type().to_string());
      for (size_t i = 0; i < exp.size(); i++) {
        auto v = fc::wave::parse(exp[i].get<std::string>(), *results[i].second);
        if (!v)
          return fail(cmd, "WAVE expected result rejected",
                      exp[i].get<std::string>() + " as " + results[i].second->to_string() + ": " +
                          v.error().message);
        expected.push_back(std::move(*v));
      }
    }

    if (timeout_ > 0)
      live->store->set_timeout(std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::duration<double>(timeout_)));
    auto res = f->call(*live->store, *args);
    live->store->clear_deadline();
    std::string call = field + "(" + arg_text + ")";

    if (type == "assert_trap") {
      std::string want = "trap \"" + cmd.value("text", std::string()) + "\"";
      if (res)
        return fail(cmd, "returned instead of trapping",
                    call + ": expected " + want + ", got " + print_vals(*res));
      if (res.error().kind != fe::ErrorKind::Trap)
        return fail(cmd, "failed without a trap",
                    call + ": expected " + want + ", got " + error_text(res.error()));
      if (verbose_)
        std::cout << "line " << cmd.value("line", 0) << ": ok, expected " << want << ", got \""
                  << res.error().message << "\"\n";
      return pass();
    }
    if (!res) return fail(cmd, "call failed", call + ": " + error_text(res.error()));
    if (type == "action") return pass();
    if (res->size() != expected.size())
      return fail(cmd, "result count differs",
                  call + ": expected " + print_vals(expected) + ", got " + print_vals(*res));
    for (size_t i = 0; i < expected.size(); i++) {
      if (!matches(expected[i], (*res)[i]))
        return fail(cmd, "wrong result",
                    call + ": expected " + print_vals(expected) + ", got " + print_vals(*res));
    }
    pass();
  }

  fe::Engine engine_;
  fs::path dir_;
  bool verbose_;
  double timeout_;
  std::map<std::string, std::shared_ptr<fc::Component>> definitions_;
  std::map<std::string, std::shared_ptr<LiveInstance>> instances_;
  std::set<std::string> broken_definitions_;
  std::shared_ptr<LiveInstance> current_;
  std::string current_error_;
  int passed_ = 0, failed_ = 0, skipped_ = 0, text_rejected_ = 0, unsupported_rejects_ = 0;
  std::map<std::string, int> fail_causes_, skip_reasons_;
  std::set<int> failed_lines_;

 public:
  // With a list of known failures (`folder/name.wast:LINE` lines), the run passes when exactly
  // those commands fail: a new failure is a regression, a listed command that now passes must
  // be taken off the list.
  int check_known(const std::string& name, const std::set<int>& known) {
    int bad = 0;
    for (int l : failed_lines_) {
      if (!known.count(l)) {
        std::cout << "REGRESSION " << name << ":" << l << " fails and is not a known failure\n";
        bad++;
      }
    }
    for (int l : known) {
      if (!failed_lines_.count(l)) {
        std::cout << "FIXED " << name << ":" << l
                  << " passes now: remove it from the known failures\n";
        bad++;
      }
    }
    std::cout << "cmtest: " << name << " known failures " << known.size() << ", mismatches " << bad
              << "\n";
    return bad ? 1 : 0;
  }
};

int usage() {
  std::cerr << "usage: flotilla-cmtest [-v] [--tier baseline|optimized|auto] [--timeout SECONDS] "
               "DIR/commands.json\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool verbose = false;
  double timeout = 30;
  fe::Config config;
  config.tier = fe::Tier::Baseline;
  config.cache_enabled = false;
  std::string path, known_path;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a == "--tier" && i + 1 < argc) {
      auto t = fe::parse_tier(argv[++i]);
      if (!t) return usage();
      config.tier = *t;
      config.cache_enabled = true;
    } else if (a == "--known-failures" && i + 1 < argc) {
      known_path = argv[++i];
    } else if (a == "--timeout" && i + 1 < argc) {
      timeout = std::atof(argv[++i]);
    } else if (!a.empty() && a[0] == '-') {
      return usage();
    } else if (path.empty()) {
      path = a;
    } else {
      return usage();
    }
  }
  if (path.empty()) return usage();

  std::ifstream in(path);
  if (!in) {
    std::cerr << "flotilla-cmtest: cannot read " << path << "\n";
    return 2;
  }
  json script;
  try {
    script = json::parse(in);
  } catch (const std::exception& e) {
    std::cerr << "flotilla-cmtest: " << path << ": " << e.what() << "\n";
    return 2;
  }
  fs::path dir = fs::path(path).parent_path();
  std::string name = script.value("source_filename", path);
  // Show the script as folder/name.wast.
  fs::path src(name);
  if (src.has_parent_path()) name = (src.parent_path().filename() / src.filename()).string();
  Runner runner(std::move(config), dir, verbose, timeout);
  int rc = runner.run(script, name);
  if (known_path.empty()) return rc;
  std::ifstream kin(known_path);
  if (!kin) {
    std::cerr << "flotilla-cmtest: cannot read " << known_path << "\n";
    return 2;
  }
  std::set<int> known;
  std::string line;
  const std::string prefix = name + ":";
  while (std::getline(kin, line)) {
    if (line.rfind(prefix, 0) == 0) known.insert(std::atoi(line.c_str() + prefix.size()));
  }
  return runner.check_known(name, known);
}
