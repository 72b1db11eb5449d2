// Engine (configuration, code cache, background optimizer) and Module (compilation, tiers).
#include <signal.h>

#include <cstring>
#include <fstream>

#include "internal.h"

namespace flotilla::engine {

// ------------------------------------------------------------------------------------------
// Names and printing

const char* trap_kind_name(TrapKind k) {
  switch (k) {
    case TrapKind::Unreachable:
      return "unreachable";
    case TrapKind::MemoryOutOfBounds:
      return "out-of-bounds";
    case TrapKind::IntegerDivideByZero:
      return "divide-by-zero";
    case TrapKind::IntegerOverflow:
      return "integer-overflow";
    case TrapKind::InvalidConversion:
      return "invalid-conversion";
    case TrapKind::IndirectCall:
      return "indirect-call";
    case TrapKind::CallStackExhausted:
      return "call-stack-exhausted";
    case TrapKind::Interrupted:
      return "interrupted";
    case TrapKind::ResourceLimit:
      return "resource-limit";
    case TrapKind::HostError:
      return "host-error";
    case TrapKind::UncaughtException:
      return "uncaught-exception";
  }
  return "unknown";
}

const char* val_type_name(ValType t) {
  switch (t) {
    case ValType::I32:
      return "i32";
    case ValType::I64:
      return "i64";
    case ValType::F32:
      return "f32";
    case ValType::F64:
      return "f64";
    case ValType::V128:
      return "v128";
    case ValType::FuncRef:
      return "funcref";
    case ValType::ExternRef:
      return "externref";
  }
  return "?";
}

const char* extern_kind_name(ExternKind k) {
  switch (k) {
    case ExternKind::Func:
      return "func";
    case ExternKind::Table:
      return "table";
    case ExternKind::Memory:
      return "memory";
    case ExternKind::Global:
      return "global";
    case ExternKind::Tag:
      return "tag";
  }
  return "?";
}

const char* tier_name(Tier t) {
  switch (t) {
    case Tier::Baseline:
      return "baseline";
    case Tier::Optimized:
      return "optimized";
    case Tier::Auto:
      return "auto";
  }
  return "?";
}

std::optional<Tier> parse_tier(std::string_view s) {
  if (s == "baseline") return Tier::Baseline;
  if (s == "optimized") return Tier::Optimized;
  if (s == "auto") return Tier::Auto;
  return std::nullopt;
}

std::string Error::to_string() const {
  std::string s;
  if (kind == ErrorKind::Trap) {
    s = "trap";
    if (trap) s += std::string(" (") + trap_kind_name(*trap) + ")";
    if (!function.empty()) s += " in " + function;
    s += ": " + message;
  } else {
    s = message;
  }
  return s;
}

std::string FuncType::to_string() const {
  std::string s = "(func";
  if (!params.empty()) {
    s += " (param";
    for (auto p : params) s += std::string(" ") + val_type_name(p);
    s += ")";
  }
  if (!results.empty()) {
    s += " (result";
    for (auto r : results) s += std::string(" ") + val_type_name(r);
    s += ")";
  }
  return s + ")";
}

static std::string limits_string(const Limits& l) {
  std::string s = std::to_string(l.min);
  if (l.max) s += " " + std::to_string(*l.max);
  return s;
}

std::string ExternType::to_string() const {
  switch (kind) {
    case ExternKind::Func:
      return func.to_string();
    case ExternKind::Table:
      return "(table " + limits_string(table.limits) + " " + val_type_name(table.element) + ")";
    case ExternKind::Memory:
      return "(memory " + limits_string(memory.limits) + ")";
    case ExternKind::Global:
      return global.mutable_ ? std::string("(global (mut ") + val_type_name(global.content) + "))"
                             : std::string("(global ") + val_type_name(global.content) + ")";
    case ExternKind::Tag: {
      std::string s = "(tag";
      if (!tag.params.empty()) {
        s += " (param";
        for (auto p : tag.params) s += std::string(" ") + val_type_name(p);
        s += ")";
      }
      return s + ")";
    }
  }
  return "?";
}

Val Val::f32(float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  return f32_bits(b);
}
Val Val::f64(double v) {
  uint64_t b;
  memcpy(&b, &v, 8);
  return f64_bits(b);
}
float Val::f32() const {
  uint32_t b = f32_bits();
  float f;
  memcpy(&f, &b, 4);
  return f;
}
double Val::f64() const {
  uint64_t b = bits_;
  double d;
  memcpy(&d, &b, 8);
  return d;
}
Val Val::default_for(ValType t) {
  switch (t) {
    case ValType::I32:
      return i32(0);
    case ValType::I64:
      return i64(0);
    case ValType::F32:
      return f32_bits(0);
    case ValType::F64:
      return f64_bits(0);
    case ValType::FuncRef:
      return null_funcref();
    case ValType::ExternRef:
      return externref(0);
    case ValType::V128:
      return i64(0);
  }
  return Val();
}
std::string Val::to_string() const {
  char buf[64];
  switch (type_) {
    case ValType::I32:
      return std::to_string(i32());
    case ValType::I64:
      return std::to_string(i64());
    case ValType::F32:
      snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f32()));
      return buf;
    case ValType::F64:
      snprintf(buf, sizeof buf, "%.17g", f64());
      return buf;
    case ValType::FuncRef:
      return ref_.is_null() ? "null" : "funcref";
    case ValType::ExternRef:
      return bits_ == 0 ? "null" : "externref:" + std::to_string(bits_);
    case ValType::V128:
      return "v128";
  }
  return "?";
}

// ------------------------------------------------------------------------------------------
// Engine

static std::filesystem::path default_cache_dir() {
  if (const char* x = getenv("XDG_CACHE_HOME"); x && *x)
    return std::filesystem::path(x) / "flotilla";
  if (const char* h = getenv("HOME"); h && *h)
    return std::filesystem::path(h) / ".cache" / "flotilla";
  return std::filesystem::temp_directory_path() / "flotilla-cache";
}

EngineImpl::EngineImpl(Config c) : config(std::move(c)) {
  cache_dir = config.cache_dir.empty() ? default_cache_dir() : config.cache_dir;
  unsigned jobs = config.max_jobs;
  if (jobs == 0) jobs = std::max(1u, std::thread::hardware_concurrency());
  config.max_jobs = jobs;
}

EngineImpl::~EngineImpl() {
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
    jobs.clear();
  }
  children.kill_all();
  cv.notify_all();
  for (auto& t : workers) t.join();
}

void EngineImpl::submit(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(mu);
  if (stopping) return;
  jobs.push_back(std::move(job));
  if (workers.empty()) {  // one background module build at a time; it uses max_jobs compilers
    workers.emplace_back([this] {
      std::unique_lock<std::mutex> lock(mu);
      for (;;) {
        cv.wait(lock, [this] { return stopping || !jobs.empty(); });
        if (stopping) return;
        auto j = std::move(jobs.front());
        jobs.pop_front();
        active++;
        lock.unlock();
        j();
        lock.lock();
        active--;
        cv.notify_all();
      }
    });
  }
  cv.notify_all();
}

void EngineImpl::wait_idle() {
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [this] { return stopping || (jobs.empty() && active == 0); });
}

const std::string& EngineImpl::cc_id() {
  std::lock_guard<std::mutex> lock(mu);
  if (cc_identity.empty()) cc_identity = compiler_identity(config, cache_dir);
  return cc_identity;
}

std::string EngineImpl::cache_key(std::span<const uint8_t> bytes) {
  // The salt (engine version, compiler, flags, runtime header) is the same for every module:
  // hash it once per engine and start each key from that state.
  std::call_once(salt_once, [this] {
    // kCodegenRevision: changes to the generated C that the runtime header does not show.
    std::string salt = std::string("flotilla-engine ") + FLOTILLA_VERSION + " codegen " +
                       std::to_string(kCodegenRevision) + "\n" + cc_id() + "\n";
    for (const auto& f : config.cc_flags) salt += f + " ";
    for (const auto& f : fixed_cc_flags()) salt += f + " ";
    salt += "split " + std::to_string(config.split_bytes) + (config.guard_pages ? " guard" : "") +
            (config.multi_memory ? "" : " single-memory") +
            (config.exceptions ? "" : " no-exceptions") + "\n";
    salt += "\n";
    salt += detail::kRuntimeHeader;
    crypto_generichash_init(&salt_state, nullptr, 0, kKeyBytes);
    crypto_generichash_update(&salt_state, reinterpret_cast<const unsigned char*>(salt.data()),
                              salt.size());
  });
  unsigned char md[kKeyBytes];
  unsigned len = kKeyBytes;
  crypto_generichash_state st = salt_state;
  crypto_generichash_update(&st, bytes.data(), bytes.size());
  crypto_generichash_final(&st, md, kKeyBytes);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::filesystem::path EngineImpl::cache_path(const std::string& key) const {
  return cache_dir / key.substr(0, 2) / (key + ".so");
}

Engine::Engine(Config config) : impl_(std::make_shared<EngineImpl>(std::move(config))) {}
Engine::~Engine() = default;
const Config& Engine::config() const { return impl_->config; }
std::filesystem::path Engine::cache_dir() const { return impl_->cache_dir; }
void Engine::wait_background() { impl_->wait_idle(); }

// ------------------------------------------------------------------------------------------
// Module

namespace {

// Builds the optimized tier for `c_source` into the cache (or finds it there) and loads it.
Result<std::shared_ptr<Code>> build_optimized(EngineImpl& e, const std::string& key,
                                              const std::string& c_source, const ModuleMeta& meta,
                                              const ProgressFn& progress,
                                              std::chrono::steady_clock::time_point t0) {
  auto path = e.cache_path(key);
  std::error_code ec;
  if (e.config.cache_enabled && std::filesystem::exists(path, ec)) {
    if (progress)
      progress({"cache-hit",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
    auto code = load_shared_object(path, meta, e.config.guard_pages);
    if (code) return code;
    std::filesystem::remove(path, ec);  // unreadable entry: rebuild it
  }
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec)
    return make_error(ErrorKind::Io, "cannot create cache directory " +
                                         path.parent_path().string() + ": " + ec.message());
  if (progress)
    progress({"cc", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
  auto built = e.config.guard_pages
                   ? compile_shared_object(e.config, "#define FLOT_GUARD_PAGES 1\n" + c_source,
                                           path, &e.children)
                   : compile_shared_object(e.config, c_source, path, &e.children);
  if (!built) return Unexpected(built.error());
  auto code = load_shared_object(path, meta, e.config.guard_pages);
  if (!e.config.cache_enabled) {
    std::filesystem::remove(path, ec);
  } else if (code) {
    auto meta_path = path;
    meta_path.replace_extension(".meta");
    write_meta_file(meta_path, meta);
  }
  return code;
}

Result<std::vector<uint8_t>> read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error(ErrorKind::Io, "cannot open " + path.string() + ": " + strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return bytes;
}

}  // namespace

Result<Module> Module::compile(Engine& engine, std::span<const uint8_t> bytes, std::string name) {
  auto e = engine.impl();
  Tier tier = e->config.tier;
  // A cache hit needs no decoding, validation or C: the interface comes from the entry's
  // .meta file, the code from its shared object. Otherwise decode, validate and write C once.
  auto m = std::make_shared<ModuleImpl>();
  m->name = std::move(name);
  if (tier != Tier::Baseline) {
    m->key = e->cache_key(bytes);
    std::error_code ec;
    auto path = e->cache_path(m->key);
    if (e->config.cache_enabled && std::filesystem::exists(path, ec)) {
      // The module's interface is stored beside the entry; without that file, decode the
      // bytes (validated when the entry was built, so without validating) and store it.
      auto meta_path = path;
      meta_path.replace_extension(".meta");
      std::optional<ModuleMeta> meta = read_meta_file(meta_path);
      if (!meta) {
        if (auto known =
                generate_c(bytes, /*generate=*/false, /*validate=*/false, features_of(e->config))) {
          meta = std::move(known->meta);
          write_meta_file(meta_path, *meta);
        }
      }
      if (meta) {
        if (auto code = load_shared_object(path, *meta, e->config.guard_pages)) {
          m->meta = std::move(*meta);
          m->code = std::move(*code);
          m->c_source = std::make_shared<const std::string>();
          if (e->config.memory_image) m->images = build_memory_images(bytes, m->meta);
          return Module(m);
        }
      }
    }
  }
  auto gen = generate_c(bytes, /*generate=*/true, /*validate=*/true, features_of(e->config));
  if (!gen) return Unexpected(gen.error());
  m->meta = std::move(gen->meta);
  if (e->config.memory_image) m->images = build_memory_images(bytes, m->meta);
  auto src = std::make_shared<const std::string>(std::move(gen->c_source));
  m->c_source = src;

  if (tier == Tier::Optimized) {
    auto code = build_optimized(*e, m->key, *src, m->meta, {}, std::chrono::steady_clock::now());
    if (!code) return Unexpected(code.error());
    m->code = std::move(*code);
    return Module(m);
  }
  auto code = compile_baseline(*src, m->meta);
  if (!code) return Unexpected(code.error());
  m->code = std::move(*code);
  if (tier == Tier::Auto) {
    m->optimizing = true;
    std::weak_ptr<ModuleImpl> weak = m;
    EngineImpl* ep = e.get();
    // Whether the job runs or is dropped (engine shutting down), waiters are released.
    std::shared_ptr<void> done(nullptr, [weak](void*) {
      if (auto mod = weak.lock()) {
        std::lock_guard<std::mutex> lock(mod->mu);
        mod->optimizing = false;
        mod->cv.notify_all();
      }
    });
    e->submit([ep, weak, src, done] {
      auto mod = weak.lock();
      if (!mod) return;
      auto code =
          build_optimized(*ep, mod->key, *src, mod->meta, {}, std::chrono::steady_clock::now());
      std::lock_guard<std::mutex> lock(mod->mu);
      if (code) {
        mod->code = std::move(*code);  // new instances use it; running ones keep theirs
      } else {
        mod->optimize_error = code.error().message;
      }
    });
  }
  return Module(m);
}

Result<Module> Module::from_file(Engine& engine, const std::filesystem::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return Unexpected(bytes.error());
  return compile(engine, *bytes, path.filename().string());
}

Result<void> Module::validate(std::span<const uint8_t> bytes) {
  auto gen = generate_c(bytes, /*generate=*/false);
  if (!gen) return Unexpected(gen.error());
  return {};
}

Result<void> Module::validate(const Engine& engine, std::span<const uint8_t> bytes) {
  auto gen = generate_c(bytes, /*generate=*/false, /*validate=*/true, features_of(engine.config()));
  if (!gen) return Unexpected(gen.error());
  return {};
}

Result<Module::Info> Module::inspect(std::span<const uint8_t> bytes) {
  auto gen = generate_c(bytes, /*generate=*/false);
  if (!gen) return Unexpected(gen.error());
  return Info{std::move(gen->meta.imports), std::move(gen->meta.exports)};
}

Result<Tier> Module::compile_to_cache(Engine& engine, std::span<const uint8_t> bytes,
                                      const ProgressFn& progress) {
  auto t0 = std::chrono::steady_clock::now();
  auto e = engine.impl();
  auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  if (progress) progress({"decode", since()});
  auto gen = generate_c(bytes, /*generate=*/true, /*validate=*/true, features_of(e->config));
  if (!gen) return Unexpected(gen.error());
  if (progress) progress({"codegen", since()});
  auto code = build_optimized(*e, e->cache_key(bytes), gen->c_source, gen->meta, progress, t0);
  if (!code) return Unexpected(code.error());
  if (progress) progress({"done", since()});
  return Tier::Optimized;
}

const std::string& Module::name() const { return impl_->name; }
const std::vector<ImportType>& Module::imports() const { return impl_->meta.imports; }
const std::vector<ExportType>& Module::exports() const { return impl_->meta.exports; }
Tier Module::current_tier() const { return impl_->current()->tier; }
Tier Module::wait_optimized() const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return !impl_->optimizing; });
  return impl_->code->tier;
}
const std::string& Module::c_source() const { return *impl_->c_source; }

}  // namespace flotilla::engine
