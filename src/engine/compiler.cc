// The two code tiers: libtcc in memory (baseline) and the system C compiler into a shared
// object loaded with dlopen (optimized).
#include <dlfcn.h>
#include <fcntl.h>
#include <libtcc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "internal.h"

extern char** environ;

namespace flotilla::engine {
namespace {

std::mutex& tcc_mutex() {
  static std::mutex mu;  // libtcc keeps global state: one compilation at a time
  return mu;
}

Result<void> attach(Code& code, const flot_module_t* desc, const ModuleMeta& meta) {
  if (!desc || desc->abi_version != FLOT_ABI_VERSION) {
    return make_error(ErrorKind::Compile, "compiled module has an unexpected ABI version");
  }
  if (desc->num_exports != meta.exports.size() || desc->num_imports != meta.imports.size() ||
      desc->num_sigs != meta.sigs.size()) {
    return make_error(ErrorKind::Compile, "compiled module does not match its metadata");
  }
  code.desc = desc;
  desc->init_module();
  code.sig_type_ids.reserve(meta.sigs.size());
  for (const auto& s : meta.sigs) code.sig_type_ids.push_back(intern_func_type(s));
  return {};
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Runs argv, capturing stdout+stderr. Returns exit status (or -1) and output.
std::pair<int, std::string> run_process(const std::vector<std::string>& argv,
                                        std::atomic<int>* child_pid) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return {-1, "pipe failed"};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    return {-1, std::string("cannot start ") + argv[0] + ": " + strerror(rc)};
  }
  if (child_pid) child_pid->store(pid);
  std::string out = read_all(pipefd[0]);
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (child_pid) child_pid->store(0);
  if (WIFEXITED(status)) return {WEXITSTATUS(status), out};
  return {-1, out + "\n(compiler killed by signal " + std::to_string(WTERMSIG(status)) + ")"};
}

std::string random_suffix() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  char buf[32];
  snprintf(buf, sizeof buf, "%d.%016llx", getpid(), static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

Code::~Code() {
  if (tcc_state) {
    std::lock_guard<std::mutex> lock(tcc_mutex());
    tcc_delete(static_cast<TCCState*>(tcc_state));
  }
  if (dl_handle) dlclose(dl_handle);
}

Result<std::shared_ptr<Code>> compile_baseline(const std::string& c_source, const ModuleMeta& meta) {
  auto code = std::make_shared<Code>();
  code->tier = Tier::Baseline;
  std::string errors;
  {
    std::lock_guard<std::mutex> lock(tcc_mutex());
    TCCState* s = tcc_new();
    if (!s) return make_error(ErrorKind::Compile, "libtcc: cannot create a compiler state");
    code->tcc_state = s;
    tcc_set_error_func(s, &errors, [](void* opaque, const char* msg) {
      auto* e = static_cast<std::string*>(opaque);
      if (e->size() < 4096) {
        *e += msg;
        *e += '\n';
      }
    });
    tcc_set_lib_path(s, FLOTILLA_TCC_LIB_DIR);
    tcc_set_options(s, "-w");
    tcc_set_output_type(s, TCC_OUTPUT_MEMORY);
    if (tcc_compile_string(s, c_source.c_str()) != 0) {
      return make_error(ErrorKind::Compile, "baseline compile (libtcc) failed: " + errors);
    }
    tcc_add_library(s, "m");
    if (tcc_relocate(s, TCC_RELOCATE_AUTO) < 0) {
      return make_error(ErrorKind::Compile, "baseline link (libtcc) failed: " + errors);
    }
    auto get = reinterpret_cast<flot_get_module_fn>(tcc_get_symbol(s, "flot_get_module"));
    if (!get) return make_error(ErrorKind::Compile, "baseline: flot_get_module missing");
    auto r = attach(*code, get(runtime_api()), meta);
    if (!r) return Unexpected(r.error());
  }
  return code;
}

Result<std::shared_ptr<Code>> load_shared_object(const std::filesystem::path& so,
                                                 const ModuleMeta& meta) {
  auto code = std::make_shared<Code>();
  code->tier = Tier::Optimized;
  code->dl_handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!code->dl_handle) {
    const char* e = dlerror();
    return make_error(ErrorKind::Io, std::string("cannot load ") + so.string() + ": " + (e ? e : "?"));
  }
  auto get = reinterpret_cast<flot_get_module_fn>(dlsym(code->dl_handle, "flot_get_module"));
  if (!get) return make_error(ErrorKind::Compile, "optimized: flot_get_module missing in " + so.string());
  auto r = attach(*code, get(runtime_api()), meta);
  if (!r) return Unexpected(r.error());
  return code;
}

std::string compiler_identity(const Config& config) {
  auto [rc, out] = run_process({config.cc, "--version"}, nullptr);
  if (rc != 0) return config.cc + " (unavailable)";
  auto nl = out.find('\n');
  return config.cc + ": " + out.substr(0, nl);
}

const std::vector<std::string>& fixed_cc_flags() {
  static const std::vector<std::string> flags = {"-shared", "-fPIC", "-fvisibility=hidden",
                                                 "-ffp-contract=off", "-fsignaling-nans", "-w"};
  return flags;
}

Result<void> compile_shared_object(const Config& config, const std::string& c_source,
                                   const std::filesystem::path& out, std::atomic<int>* child_pid) {
  std::error_code ec;
  auto tmpdir = out.parent_path() / "tmp";
  std::filesystem::create_directories(tmpdir, ec);
  if (ec) return make_error(ErrorKind::Io, "cannot create " + tmpdir.string() + ": " + ec.message());
  std::string suffix = random_suffix();
  auto c_path = tmpdir / (out.stem().string() + "." + suffix + ".c");
  auto so_tmp = tmpdir / (out.stem().string() + "." + suffix + ".so");
  {
    std::ofstream f(c_path, std::ios::binary);
    f.write(c_source.data(), static_cast<std::streamsize>(c_source.size()));
    if (!f) return make_error(ErrorKind::Io, "cannot write " + c_path.string());
  }
  std::vector<std::string> argv{config.cc};
  for (const auto& f : config.cc_flags) argv.push_back(f);
  // Fixed flags: position-independent shared object, no FP contraction and no folding that
  // drops signaling NaNs (Wasm float semantics),
  // hidden symbols except flot_get_module, generated code is not ours to lint.
  for (const auto& f : fixed_cc_flags()) argv.push_back(f);
  argv.push_back("-o");
  argv.push_back(so_tmp.string());
  argv.push_back(c_path.string());
  auto [rc, output] = run_process(argv, child_pid);
  std::filesystem::remove(c_path, ec);
  if (rc != 0) {
    std::filesystem::remove(so_tmp, ec);
    if (output.size() > 4000) output.resize(4000);
    return make_error(ErrorKind::Compile, "optimized compile (" + config.cc + ") failed: " + output);
  }
  // rename() is atomic: readers see either no entry or a complete one.
  std::filesystem::rename(so_tmp, out, ec);
  if (ec) {
    std::filesystem::remove(so_tmp, ec);
    return make_error(ErrorKind::Io, "cannot store " + out.string() + ": " + ec.message());
  }
  return {};
}

}  // namespace flotilla::engine
