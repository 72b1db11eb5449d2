// The `flotilla` command. Thin: parsing, printing and exit codes; the work is in the libraries.
#include <flotilla/component/component.h>
#include <flotilla/component/wave.h>
#include <flotilla/engine/engine.h>
#include <flotilla/host/http_server.h>
#include <flotilla/wasi/wasi.h>
#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace fe = flotilla::engine;
using json = nlohmann::json;

namespace {

constexpr int kExitTrap = 134;  // like wasmtime: a trap exits as an abort would
constexpr int kExitError = 1;

struct Invoke {
  std::string name;
  std::vector<std::string> args;
};

std::optional<Invoke> parse_invoke(const std::string& text, std::string& err) {
  auto open = text.find('(');
  Invoke inv;
  if (open == std::string::npos) {
    inv.name = text;
    return inv;
  }
  if (text.empty() || text.back() != ')') {
    err = "expected NAME(ARG, ...) but got '" + text + "'";
    return std::nullopt;
  }
  inv.name = text.substr(0, open);
  std::string inner = text.substr(open + 1, text.size() - open - 2);
  size_t pos = 0;
  while (pos <= inner.size()) {
    size_t comma = inner.find(',', pos);
    std::string a = inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    a.erase(0, a.find_first_not_of(" \t"));
    a.erase(a.find_last_not_of(" \t") + 1);
    if (!a.empty())
      inv.args.push_back(a);
    else if (comma != std::string::npos || !inv.args.empty()) {
      err = "empty argument in '" + text + "'";
      return std::nullopt;
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  while (!inv.name.empty() && inv.name.back() == ' ') inv.name.pop_back();
  return inv;
}

std::optional<fe::Val> parse_arg(const std::string& s, fe::ValType t, std::string& err) {
  auto fail = [&] {
    err = "cannot parse '" + s + "' as " + fe::val_type_name(t);
    return std::nullopt;
  };
  const char* b = s.data();
  const char* e = s.data() + s.size();
  switch (t) {
    case fe::ValType::I32: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e || v < INT32_MIN || v > UINT32_MAX) return fail();
      return fe::Val::i32(static_cast<int32_t>(static_cast<uint32_t>(v)));
    }
    case fe::ValType::I64: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec == std::errc() && p == e) return fe::Val::i64(v);
      uint64_t u = 0;
      auto [p2, ec2] = std::from_chars(b, e, u);
      if (ec2 != std::errc() || p2 != e) return fail();
      return fe::Val::i64(static_cast<int64_t>(u));
    }
    case fe::ValType::F32: {
      float v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e) return fail();
      return fe::Val::f32(v);
    }
    case fe::ValType::F64: {
      double v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e) return fail();
      return fe::Val::f64(v);
    }
    default:
      err = std::string("arguments of type ") + fe::val_type_name(t) +
            " are not supported on the command line";
      return std::nullopt;
  }
}

std::string format_val(const fe::Val& v) {
  char buf[64];
  switch (v.type()) {
    case fe::ValType::F32: {
      float f = v.f32();
      if (std::isnan(f)) return "NaN";
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, f);
      return std::string(buf, p);
    }
    case fe::ValType::F64: {
      double d = v.f64();
      if (std::isnan(d)) return "NaN";
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
      return std::string(buf, p);
    }
    default:
      return v.to_string();
  }
}

json val_json(const fe::Val& v) {
  switch (v.type()) {
    case fe::ValType::I32:
      return v.i32();
    case fe::ValType::I64:
      return v.i64();
    case fe::ValType::F32:
      return std::isfinite(v.f32()) ? json(v.f32()) : json(format_val(v));
    case fe::ValType::F64:
      return std::isfinite(v.f64()) ? json(v.f64()) : json(format_val(v));
    default:
      return v.to_string();
  }
}

int report(const fe::Error& e, bool as_json) {
  int code = e.kind == fe::ErrorKind::Trap ? kExitTrap : kExitError;
  if (as_json) {
    json j{{"ok", false}, {"error", e.to_string()}, {"kind", static_cast<int>(e.kind)}};
    if (e.trap) j["trap"] = fe::trap_kind_name(*e.trap);
    if (!e.function.empty()) j["function"] = e.function;
    std::cout << j.dump() << "\n";
  } else {
    std::cerr << "error: " << e.to_string() << "\n";
  }
  return code;
}

// Shows elapsed time on stderr while a long compile runs (only on a terminal).
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled && isatty(2)) {
    if (enabled_) thread_ = std::thread([this] { loop(); });
  }
  ~Progress() { stop(); }
  void stage(const fe::CompileProgress& p) {
    std::lock_guard<std::mutex> lock(mu_);
    stage_ = p.stage;
    if (!enabled_ && show_lines_)
      fprintf(stderr, "[compile] %-9s %.2fs\n", p.stage.c_str(), p.seconds);
  }
  void show_lines(bool v) { show_lines_ = v; }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (enabled_) fprintf(stderr, "\r\033[K");
  }

 private:
  void loop() {
    auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fprintf(stderr, "\r\033[K[compile] %s %.1fs", stage_.c_str(), s);
      fflush(stderr);
      cv_.wait_for(lock, std::chrono::milliseconds(250));
    }
  }
  bool enabled_;
  bool show_lines_ = true;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string stage_ = "starting";
  bool done_ = false;
  std::thread thread_;
};

// A WAT string literal: printable ASCII as is, everything else as \hh escapes.
std::string wat_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      snprintf(buf, sizeof buf, "\\%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

std::optional<std::vector<uint8_t>> read_bytes(const std::string& path, std::string& err) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) {
    err = "cannot open " + path;
    return std::nullopt;
  }
  std::vector<uint8_t> out(static_cast<size_t>(f.tellg()));
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()))) {
    err = "cannot read " + path;
    return std::nullopt;
  }
  return out;
}

}  // namespace

namespace fc = flotilla::component;

json extern_json(const fc::NamedExtern& e) {
  static const char* kinds[] = {"func",   "instance",  "type", "resource",
                                "module", "component", "value"};
  json j{{"name", e.name}, {"kind", kinds[static_cast<int>(e.desc.kind)]}};
  if (e.desc.kind == fc::ExternDesc::Kind::Func) j["type"] = e.desc.func.to_string();
  if (e.desc.kind == fc::ExternDesc::Kind::Instance) {
    json items = json::array();
    for (const auto& x : e.desc.instance->exports) items.push_back(extern_json(x));
    j["exports"] = items;
  }
  if (e.desc.kind == fc::ExternDesc::Kind::Type) j["type"] = e.desc.type->to_string();
  return j;
}

int inspect_component(const std::vector<uint8_t>& bytes, bool as_json) {
  auto v = fc::Component::validate(bytes);
  if (!v) return report(v.error(), as_json);
  // Types only: no core module is compiled for inspection.
  auto comp = fc::Component::compile_static(bytes);
  if (!comp) return report(comp.error(), as_json);
  if (as_json) {
    json imports = json::array(), exports = json::array();
    for (const auto& i : comp->imports()) imports.push_back(extern_json(i));
    for (const auto& e : comp->exports()) exports.push_back(extern_json(e));
    std::cout << json{{"ok", true},
                      {"kind", "component"},
                      {"wit", comp->wit()},
                      {"imports", imports},
                      {"exports", exports}}
                     .dump()
              << "\n";
  } else {
    std::cout << comp->wit();
  }
  return 0;
}

int run_component(fe::Engine& engine, const std::vector<uint8_t>& bytes, const std::string& invoke,
                  double timeout_s, bool as_json, const std::shared_ptr<flotilla::wasi::Ctx>& ctx) {
  auto comp = fc::Component::compile(engine, bytes);
  if (!comp) return report(comp.error(), as_json);
  fe::Store store(engine);
  if (timeout_s > 0)
    store.set_timeout(std::chrono::nanoseconds(static_cast<int64_t>(timeout_s * 1e9)));
  fc::Linker linker;
  if (auto r = flotilla::wasi::add_to_linker(linker, ctx); !r) return report(r.error(), as_json);
  // With --invoke, imports nobody provides trap when called (as `wasmtime run --invoke` with
  // -Ctrap-unknown-imports); a command must have all its imports.
  if (!invoke.empty()) (void)linker.define_unknown_imports_as_traps(*comp);
  auto instance = fc::instantiate(store, linker, *comp);
  if (!instance) return report(instance.error(), as_json);
  if (invoke.empty()) {
    auto run = instance->get_func("wasi:cli/run@0.2.0#run");
    if (!run) {
      return report(fe::Error{fe::ErrorKind::Usage,
                              "the component exports no wasi:cli/run (a command); call one of "
                              "its functions with --invoke 'NAME(ARGS)'",
                              {},
                              {},
                              {}},
                    as_json);
    }
    auto r = run->call(store, {});
    if (!r) {
      if (flotilla::wasi::is_exit(r.error())) return ctx->exit_code().value_or(0);
      auto e = r.error();
      if (e.function.empty()) e.function = "wasi:cli/run#run";
      return report(e, as_json);
    }
    // run returns result: err means exit status 1.
    return (!r->empty() && !(*r)[0].is_ok()) ? 1 : 0;
  }
  auto call = fc::wave::split_call(invoke);
  if (!call) return report(call.error(), as_json);
  auto func = instance->get_func(call->name);
  if (!func) return report(func.error(), as_json);
  auto args = fc::wave::parse_args(call->args, func->type());
  if (!args) {
    auto e = args.error();
    e.message = call->name + ": " + e.message + " (expected " + func->type().to_string() + ")";
    return report(e, as_json);
  }
  auto results = func->call(store, *args);
  if (!results) {
    if (flotilla::wasi::is_exit(results.error())) return ctx->exit_code().value_or(0);
    auto e = results.error();
    if (e.function.empty()) e.function = func->name();
    return report(e, as_json);
  }
  if (as_json) {
    json out = json::array();
    for (const auto& v : *results) out.push_back(fc::wave::print(v));
    std::cout << json{{"ok", true}, {"results", out}}.dump() << "\n";
  } else {
    for (const auto& v : *results) std::cout << fc::wave::print(v) << "\n";
  }
  return 0;
}

// `flotilla serve`: an HTTP server whose requests each run in a fresh instance of FILE.
int serve_main(fe::Config cfg, const std::string& file, const std::string& addr,
               const std::string& tier_s, double request_timeout, uint64_t max_body,
               unsigned threads, const std::vector<std::string>& allow_http, bool fresh,
               bool as_json) {
  auto tier = fe::parse_tier(tier_s);
  if (!tier)
    return report(fe::Error{fe::ErrorKind::Usage, "unknown tier '" + tier_s + "'", {}, {}, {}},
                  as_json);
  cfg.tier = *tier;
  flotilla::host::ServeConfig sc;
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 == addr.size())
    return report(
        fe::Error{fe::ErrorKind::Usage, "--addr wants HOST:PORT, got '" + addr + "'", {}, {}, {}},
        as_json);
  sc.host = addr.substr(0, colon);
  if (sc.host.size() > 2 && sc.host.front() == '[' && sc.host.back() == ']')
    sc.host = sc.host.substr(1, sc.host.size() - 2);
  try {
    unsigned long port = std::stoul(addr.substr(colon + 1));
    if (port > 65535) throw std::out_of_range("port");
    sc.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return report(fe::Error{fe::ErrorKind::Usage, "bad port in --addr '" + addr + "'", {}, {}, {}},
                  as_json);
  }
  if (request_timeout <= 0)
    return report(fe::Error{fe::ErrorKind::Usage, "--request-timeout must be positive", {}, {}, {}},
                  as_json);
  sc.request_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(request_timeout * 1000.0 + 0.5));
  sc.max_body = max_body;
  sc.threads = threads;
  sc.reuse_instances = !fresh;
  sc.policy.allow = allow_http;

  std::string err;
  auto bytes = read_bytes(file, err);
  if (!bytes) return report(fe::Error{fe::ErrorKind::Io, err, {}, {}, {}}, as_json);
  if (!fc::Component::is_component(*bytes))
    return report(fe::Error{fe::ErrorKind::Usage,
                            file + ": not a component (serve wants a component exporting "
                                   "wasi:http/incoming-handler)",
                            {},
                            {},
                            {}},
                  as_json);
  // SIGINT and SIGTERM are taken by a thread of their own: graceful stop.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  // The signal thread runs from the start: a stop asked for while the component compiles
  // ends the process at once (the baseline tier compiles in-process).
  std::atomic<flotilla::host::HttpServer*> live{nullptr};
  std::atomic<bool> stop_requested{false};
  std::thread sig_thread([&sigs, &live, &stop_requested] {
    int sig = 0;
    sigwait(&sigs, &sig);
    stop_requested = true;
    if (auto* s = live.load()) {
      s->stop();
    } else {
      std::cerr << "[serve] stopped before serving\n";
      std::_Exit(0);
    }
  });
  fe::Engine engine(cfg);
  auto t0 = std::chrono::steady_clock::now();
  if (!as_json)
    std::cerr << "[serve] compiling " << file << " (" << fe::tier_name(cfg.tier) << " tier)\n";
  auto comp = fc::Component::compile(engine, *bytes);
  if (!comp) {
    sig_thread.detach();
    return report(comp.error(), as_json);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sc.on_listening = [&](const std::string& where) {
    if (as_json)
      std::cout
          << json{{"ok", true}, {"url", "http://" + where + "/"}, {"ready_seconds", secs}}.dump()
          << std::endl;
    else
      std::cout << "serving http://" << where << "/" << std::endl;
  };
  if (!as_json) {
    sc.on_optimized = [](uint64_t before) {
      std::cerr << "[serve] optimized tier in use (" << before
                << " instance(s) ran on the baseline tier before)\n";
    };
  }
  auto server = flotilla::host::HttpServer::create(engine, std::move(*comp), std::move(sc));
  if (!server) {
    sig_thread.detach();
    return report(server.error(), as_json);
  }
  auto* srv = server->get();
  live = srv;
  if (stop_requested) srv->stop();
  auto r = srv->run();
  // Wake the signal thread if the server stopped on its own.
  if (sig_thread.joinable()) {
    pthread_kill(sig_thread.native_handle(), SIGTERM);
    sig_thread.join();
  }
  if (!r) return report(r.error(), as_json);
  auto st = srv->stats();
  if (!as_json)
    std::cerr << "[serve] stopped after " << st.requests << " request(s) (" << st.errors_5xx
              << " 5xx, " << st.traps << " trap(s), " << st.timeouts << " timeout(s), "
              << st.optimized << " on the optimized tier, " << st.reused
              << " on a reset instance)\n";
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"flotilla: run WebAssembly, fast and safely"};
  app.require_subcommand(1);
  bool as_json = false;
  std::string cache_dir;
  app.add_flag("--json", as_json, "Machine-readable output");
  app.add_option("--cache-dir", cache_dir,
                 "Optimized code cache (default $XDG_CACHE_HOME/flotilla)");
  std::string cc;
  bool guard_pages = false;
  auto add_tier_options = [&](CLI::App* a) {
    a->add_option("--cc", cc, "C compiler for the optimized tier (default cc; e.g. clang-19)");
    a->add_flag("--guard-pages", guard_pages,
                "Optimized tier without bounds checks (guard-page memories)");
  };

  auto* run = app.add_subcommand("run", "Run a WebAssembly module or component");
  std::string file, invoke, tier_s = "auto";
  double timeout_s = 0;
  std::vector<std::string> dirs, envs;
  bool allow_tcp = false, allow_udp = false, allow_dns = false;
  run->add_option("file", file, "Module or component (.wasm); later arguments go to the guest")
      ->required();
  run->add_option("--invoke", invoke, "Call an export: 'NAME(ARG, ...)'");
  // One value per occurrence: otherwise a vector option would swallow FILE and its arguments.
  run->add_option("--dir", dirs, "Preopen a host directory: HOST[::GUEST] (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--env", envs, "Pass NAME=VALUE, or NAME from the host (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_flag("--allow-tcp", allow_tcp, "Let the guest use TCP sockets");
  run->add_flag("--allow-udp", allow_udp, "Let the guest use UDP sockets");
  run->add_flag("--allow-ip-name-lookup", allow_dns, "Let the guest resolve host names");
  run->prefix_command();
  run->add_option("--tier", tier_s, "baseline | optimized | auto")
      ->check(CLI::IsMember({"baseline", "optimized", "auto"}));
  run->add_option("--timeout", timeout_s, "Interrupt the guest after this many seconds");
  run->add_flag("--json", as_json, "Machine-readable output");
  run->add_option("--cache-dir", cache_dir, "Optimized code cache");
  add_tier_options(run);

  auto* compile =
      app.add_subcommand("compile", "Build the optimized tier of a module into the cache");
  std::string cfile;
  compile->add_option("file", cfile, "Module or component (.wasm)")->required();
  compile->add_flag("--json", as_json, "Machine-readable output");
  compile->add_option("--cache-dir", cache_dir, "Optimized code cache");
  add_tier_options(compile);

  auto* serve = app.add_subcommand(
      "serve", "Serve HTTP with a component exporting wasi:http/incoming-handler");
  std::string sfile, saddr = "127.0.0.1:8080", stier_s = "auto";
  double request_timeout = 30;
  uint64_t max_body = 64ull << 20;
  unsigned sthreads = 0;
  bool sfresh = false;
  std::vector<std::string> allow_http;
  serve->add_option("file", sfile, "Component (.wasm)")->required();
  serve->add_option("--addr", saddr, "Address to listen on, HOST:PORT (default 127.0.0.1:8080)");
  serve->add_option("--request-timeout", request_timeout,
                    "Seconds a handler may run; then it is stopped and answered 503 (default 30)");
  serve->add_option("--max-body", max_body, "Largest request body in bytes (default 64 MiB)");
  serve->add_option("--threads", sthreads, "Event-loop threads (default: one per core)");
  serve
      ->add_option("--allow-http", allow_http,
                   "Let the handler send HTTP(S) requests to HOST or HOST:PORT (repeatable)")
      ->allow_extra_args(false);
  serve->add_option("--tier", stier_s, "baseline | optimized | auto (default)");
  serve->add_flag("--fresh-instances", sfresh,
                  "Instantiate anew for every request (default: an instance that served a "
                  "request without error is reset to its initial state and serves another)");
  serve->add_flag("--json", as_json, "Machine-readable output");
  serve->add_option("--cache-dir", cache_dir, "Optimized code cache");
  add_tier_options(serve);

  auto* inspect = app.add_subcommand(
      "inspect", "Print a core module's imports and exports, or a component's world as WIT");
  std::string ifile;
  inspect->add_option("file", ifile, "Module (.wasm)")->required();
  inspect->add_flag("--json", as_json, "Machine-readable output");

  // `flotilla run [OPTIONS] -- FILE ARGS...`: a `--` before FILE only ends flotilla's options
  // (CLI11 would hand it to the guest with the rest); one after FILE belongs to the guest.
  std::vector<char*> cli_args(argv, argv + argc);
  for (size_t i = 1; i < cli_args.size(); ++i) {
    if (std::string_view(cli_args[i]) != "run") continue;
    static const std::set<std::string_view> with_value = {
        "--invoke", "--dir", "--env", "--tier", "--timeout", "--cache-dir", "--cc"};
    for (size_t j = i + 1; j < cli_args.size(); ++j) {
      std::string_view a = cli_args[j];
      if (a == "--") {
        cli_args.erase(cli_args.begin() + static_cast<std::ptrdiff_t>(j));
        break;
      }
      if (a.size() < 2 || a[0] != '-') break;  // FILE
      if (with_value.count(a)) ++j;
    }
    break;
  }
  try {
    app.parse(static_cast<int>(cli_args.size()), cli_args.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  fe::Config cfg;
  if (!cache_dir.empty()) cfg.cache_dir = cache_dir;
  if (!cc.empty()) cfg.cc = cc;
  cfg.guard_pages = guard_pages;

  if (*serve)
    return serve_main(cfg, sfile, saddr, stier_s, request_timeout, max_body, sthreads, allow_http,
                      sfresh, as_json);

  if (*inspect) {
    std::string err;
    auto bytes = read_bytes(ifile, err);
    if (!bytes) return report(fe::Error{fe::ErrorKind::Io, err, {}, {}, {}}, as_json);
    if (fc::Component::is_component(*bytes)) return inspect_component(*bytes, as_json);
    auto info = fe::Module::inspect(*bytes);
    if (!info) return report(info.error(), as_json);
    if (as_json) {
      json imports = json::array(), exports = json::array();
      for (const auto& i : info->imports)
        imports.push_back({{"module", i.module},
                           {"name", i.name},
                           {"kind", fe::extern_kind_name(i.type.kind)},
                           {"type", i.type.to_string()}});
      for (const auto& e : info->exports)
        exports.push_back({{"name", e.name},
                           {"kind", fe::extern_kind_name(e.type.kind)},
                           {"type", e.type.to_string()}});
      std::cout << json{{"ok", true},
                        {"kind", "core-module"},
                        {"imports", imports},
                        {"exports", exports}}
                       .dump()
                << "\n";
    } else {
      std::cout << ";; core module " << ifile << "\n";
      for (const auto& i : info->imports)
        std::cout << "(import " << wat_string(i.module) << " " << wat_string(i.name) << " "
                  << i.type.to_string() << ")\n";
      for (const auto& e : info->exports)
        std::cout << "(export " << wat_string(e.name) << " " << e.type.to_string() << ")\n";
    }
    return 0;
  }

  if (*compile) {
    std::string err;
    auto bytes = read_bytes(cfile, err);
    if (!bytes) return report(fe::Error{fe::ErrorKind::Io, err, {}, {}, {}}, as_json);
    if (fc::Component::is_component(*bytes)) {
      // A component: build the optimized tier of each of its core modules into the cache.
      cfg.tier = fe::Tier::Optimized;
      fe::Engine engine(cfg);
      auto t0 = std::chrono::steady_clock::now();
      if (!as_json) std::cerr << "[compile] component: optimized tier of every core module\n";
      auto comp = fc::Component::compile(engine, *bytes);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!comp) return report(comp.error(), as_json);
      if (as_json) {
        std::cout << json{{"ok", true},          {"file", cfile},
                          {"tier", "optimized"}, {"core_modules", comp->core_module_count()},
                          {"seconds", secs},     {"cache_dir", engine.cache_dir().string()}}
                         .dump()
                  << "\n";
      } else {
        std::cout << cfile << ": optimized tier of " << comp->core_module_count()
                  << " core module(s) ready in " << secs
                  << " s (cache: " << engine.cache_dir().string() << ")\n";
      }
      return 0;
    }
    fe::Engine engine(cfg);
    Progress progress(!as_json);
    progress.show_lines(!as_json);
    auto t0 = std::chrono::steady_clock::now();
    bool hit = false;
    auto r = fe::Module::compile_to_cache(engine, *bytes, [&](const fe::CompileProgress& p) {
      if (p.stage == "cache-hit") hit = true;
      progress.stage(p);
    });
    progress.stop();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r) return report(r.error(), as_json);
    if (as_json) {
      std::cout << json{{"ok", true},          {"file", cfile},
                        {"tier", "optimized"}, {"cached", hit},
                        {"seconds", secs},     {"cache_dir", engine.cache_dir().string()}}
                       .dump()
                << "\n";
    } else {
      std::cout << cfile << ": optimized tier " << (hit ? "already cached" : "compiled") << " in "
                << secs << " s (cache: " << engine.cache_dir().string() << ")\n";
    }
    return 0;
  }

  // run
  cfg.tier = *fe::parse_tier(tier_s);
  flotilla::wasi::Config wcfg;
  wcfg.args.push_back(file);
  for (const auto& a : run->remaining()) wcfg.args.push_back(a);
  for (const auto& d : dirs) {
    auto sep = d.find("::");
    flotilla::wasi::Preopen p;
    p.host = sep == std::string::npos ? d : d.substr(0, sep);
    p.guest = sep == std::string::npos ? d : d.substr(sep + 2);
    wcfg.preopens.push_back(std::move(p));
  }
  for (const auto& e : envs) {
    auto eq = e.find('=');
    if (eq != std::string::npos) {
      wcfg.env.emplace_back(e.substr(0, eq), e.substr(eq + 1));
    } else if (const char* v = std::getenv(e.c_str())) {
      wcfg.env.emplace_back(e, v);
    }
  }
  wcfg.allow_tcp = allow_tcp;
  wcfg.allow_udp = allow_udp;
  wcfg.allow_ip_name_lookup = allow_dns;
  auto wctx = flotilla::wasi::Ctx::create(std::move(wcfg));
  if (!wctx) return report(wctx.error(), as_json);
  std::string err;
  auto bytes = read_bytes(file, err);
  if (!bytes) return report(fe::Error{fe::ErrorKind::Io, err, {}, {}, {}}, as_json);
  fe::Engine engine(cfg);
  if (fc::Component::is_component(*bytes)) {
    return run_component(engine, *bytes, invoke, timeout_s, as_json, *wctx);
  }
  auto module = fe::Module::compile(engine, *bytes, file);
  if (!module) return report(module.error(), as_json);
  fe::Store store(engine);
  if (timeout_s > 0)
    store.set_timeout(std::chrono::nanoseconds(static_cast<int64_t>(timeout_s * 1e9)));
  fe::Linker linker;
  bool uses_wasi = false;
  for (const auto& i : module->imports()) uses_wasi |= i.module == "wasi_snapshot_preview1";
  if (uses_wasi) {
    if (auto r = flotilla::wasi::add_preview1(linker, store, *wctx); !r)
      return report(r.error(), as_json);
  }
  auto instance = linker.instantiate(store, *module);
  if (!instance) return report(instance.error(), as_json);

  std::string call = invoke.empty() ? "_start" : invoke;
  auto inv = parse_invoke(call, err);
  if (!inv) return report(fe::Error{fe::ErrorKind::Usage, err, {}, {}, {}}, as_json);
  auto func = instance->get_func(inv->name);
  if (!func) {
    std::string names;
    for (const auto& e : module->exports())
      if (e.type.kind == fe::ExternKind::Func) names += (names.empty() ? "" : ", ") + e.name;
    return report(fe::Error{fe::ErrorKind::Usage,
                            "no exported function '" + inv->name +
                                "' (exports: " + (names.empty() ? "none" : names) + ")",
                            {},
                            {},
                            {}},
                  as_json);
  }
  auto type = func->type();
  if (inv->args.size() != type.params.size()) {
    return report(
        fe::Error{fe::ErrorKind::Usage,
                  inv->name + " expects " + std::to_string(type.params.size()) + " argument(s) " +
                      type.to_string() + ", got " + std::to_string(inv->args.size()),
                  {},
                  {},
                  {}},
        as_json);
  }
  std::vector<fe::Val> args;
  for (size_t i = 0; i < inv->args.size(); ++i) {
    auto v = parse_arg(inv->args[i], type.params[i], err);
    if (!v)
      return report(
          fe::Error{
              fe::ErrorKind::Usage, "argument " + std::to_string(i + 1) + ": " + err, {}, {}, {}},
          as_json);
    args.push_back(*v);
  }
  auto results = func->call(store, args);
  if (!results) {
    if (flotilla::wasi::is_exit(results.error())) return (*wctx)->exit_code().value_or(0);
    auto e = results.error();
    if (e.function.empty() || e.function == "funcref") e.function = inv->name;
    return report(e, as_json);
  }
  if (as_json) {
    json out = json::array();
    for (const auto& v : *results) out.push_back(val_json(v));
    std::cout
        << json{{"ok", true}, {"results", out}, {"tier", fe::tier_name(instance->tier())}}.dump()
        << "\n";
  } else {
    for (const auto& v : *results) std::cout << format_val(v) << "\n";
  }
  return 0;
}
