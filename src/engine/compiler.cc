// The two code tiers: libtcc in memory (baseline) and the system C compiler into a shared
// object loaded with dlopen (optimized).
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <libtcc.h>
#include <link.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

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
                                        ChildProcesses* children) {
  if (children) {
    std::lock_guard<std::mutex> lock(children->mu);
    if (children->stopping) return {-1, "engine is shutting down"};
  }
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
  if (children) {
    std::lock_guard<std::mutex> lock(children->mu);
    children->pids.insert(pid);
    if (children->stopping) kill(-pid, SIGKILL);
  }
  std::string out = read_all(pipefd[0]);
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (children) {
    std::lock_guard<std::mutex> lock(children->mu);
    children->pids.erase(pid);
  }
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
  for (int slot : code_ranges) unregister_code_range(slot);
  if (tcc_state) {
    std::lock_guard<std::mutex> lock(tcc_mutex());
    tcc_delete(static_cast<TCCState*>(tcc_state));
  }
  if (exec_mem) munmap(exec_mem, exec_size);
  if (dl_handle) dlclose(dl_handle);
}

Result<std::shared_ptr<Code>> compile_baseline(const std::string& c_source,
                                               const ModuleMeta& meta) {
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
    // Relocate into a mapping of our own so the code's address range is known (the
    // interruption signal handler only unwinds guest code).
    int size = tcc_relocate(s, nullptr);
    if (size <= 0)
      return make_error(ErrorKind::Compile, "baseline link (libtcc) failed: " + errors);
    size_t bytes = (static_cast<size_t>(size) + 4095) & ~size_t(4095);
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
      return make_error(ErrorKind::Compile, "baseline: cannot map code memory");
    code->exec_mem = mem;
    code->exec_size = bytes;
    if (tcc_relocate(s, mem) < 0) {
      return make_error(ErrorKind::Compile, "baseline link (libtcc) failed: " + errors);
    }
    int slot = register_code_range(reinterpret_cast<uintptr_t>(mem),
                                   reinterpret_cast<uintptr_t>(mem) + bytes);
    if (slot >= 0) code->code_ranges.push_back(slot);
    auto get = reinterpret_cast<flot_get_module_fn>(tcc_get_symbol(s, "flot_get_module"));
    if (!get) return make_error(ErrorKind::Compile, "baseline: flot_get_module missing");
    auto r = attach(*code, get(runtime_api()), meta);
    if (!r) return Unexpected(r.error());
  }
  return code;
}

namespace {

// Empty if `path` is a complete ELF64 shared object as far as the loader will read it;
// otherwise what is wrong.
std::string check_elf_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return "unreadable";
  auto size = static_cast<uint64_t>(f.tellg());
  Elf64_Ehdr eh{};
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(&eh), sizeof eh)) return "truncated ELF header";
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_type != ET_DYN || eh.e_phentsize != sizeof(Elf64_Phdr))
    return "not an ELF64 shared object";
  if (eh.e_phoff > size || uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > size - eh.e_phoff)
    return "truncated program headers";
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  f.seekg(static_cast<std::streamoff>(eh.e_phoff));
  if (!f.read(reinterpret_cast<char*>(ph.data()),
              static_cast<std::streamsize>(ph.size() * sizeof(Elf64_Phdr))))
    return "truncated program headers";
  for (const auto& p : ph) {
    if (p.p_type != PT_LOAD && p.p_type != PT_DYNAMIC) continue;
    if (p.p_offset > size || p.p_filesz > size - p.p_offset)
      return "truncated (a segment lies past the end)";
  }
  return {};
}

}  // namespace

Result<std::shared_ptr<Code>> load_shared_object(const std::filesystem::path& so,
                                                 const ModuleMeta& meta, bool guard_pages) {
  // A cut-short entry (interrupted copy, full disk) would make dlopen touch pages past the end
  // of the file (SIGBUS): check the ELF header and that every loadable segment is in the file.
  if (auto bad = check_elf_file(so); !bad.empty()) {
    return make_error(ErrorKind::Io, "cannot load " + so.string() + ": " + bad);
  }
  auto code = std::make_shared<Code>();
  code->tier = Tier::Optimized;
  code->guard_pages = guard_pages;
  code->dl_handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!code->dl_handle) {
    const char* e = dlerror();
    return make_error(ErrorKind::Io,
                      std::string("cannot load ") + so.string() + ": " + (e ? e : "?"));
  }
  auto get = reinterpret_cast<flot_get_module_fn>(dlsym(code->dl_handle, "flot_get_module"));
  if (!get)
    return make_error(ErrorKind::Compile, "optimized: flot_get_module missing in " + so.string());
  // Register the executable segments of the loaded object (found through flot_get_module's
  // address) for the interruption signal handler.
  struct Find {
    uintptr_t addr;
    std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  } find{reinterpret_cast<uintptr_t>(get), {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* f = static_cast<Find*>(data);
        std::vector<std::pair<uintptr_t, uintptr_t>> exec;
        bool mine = false;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
          if (f->addr >= lo && f->addr < hi) mine = true;
          if (ph.p_flags & PF_X) exec.emplace_back(lo, hi);
        }
        if (!mine) return 0;
        f->ranges = std::move(exec);
        return 1;
      },
      &find);
  for (auto [lo, hi] : find.ranges) {
    int slot = register_code_range(lo, hi);
    if (slot >= 0) code->code_ranges.push_back(slot);
  }
  auto r = attach(*code, get(runtime_api(guard_pages)), meta);
  if (!r) return Unexpected(r.error());
  return code;
}

namespace {

// The compiler's executable, resolved through PATH and symlinks ("cc" -> /usr/bin/x86_64-...).
std::filesystem::path resolve_executable(const std::string& name) {
  std::error_code ec;
  if (name.find('/') != std::string::npos) return std::filesystem::canonical(name, ec);
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::filesystem::path cand = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (::access(cand.c_str(), X_OK) == 0) return std::filesystem::canonical(cand, ec);
    start = end + 1;
  }
  return {};
}

}  // namespace

std::string compiler_identity(const Config& config, const std::filesystem::path& cache_dir) {
  // Running `cc --version` costs a process (about 5 ms) on every Engine: remember its answer
  // in the cache, keyed by the executable's path, size, inode and modification time, so that
  // an upgraded compiler is asked again.
  std::filesystem::path exe = resolve_executable(config.cc);
  std::string key;
  std::filesystem::path memo;
  struct stat st {};
  if (!exe.empty() && ::stat(exe.c_str(), &st) == 0 && !cache_dir.empty()) {
    std::ostringstream k;
    k << exe.string() << ' ' << st.st_size << ' ' << st.st_ino << ' ' << st.st_mtim.tv_sec << '.'
      << st.st_mtim.tv_nsec;
    key = k.str();
    memo = cache_dir / "cc-identity" / (std::to_string(std::hash<std::string>{}(key)) + ".txt");
    std::ifstream in(memo);
    std::string first, second;
    if (in && std::getline(in, first) && std::getline(in, second) && first == key) return second;
  }
  auto [rc, out] = run_process({config.cc, "--version"}, nullptr);
  if (rc != 0) return config.cc + " (unavailable)";
  auto nl = out.find('\n');
  std::string id = config.cc + ": " + out.substr(0, nl);
  if (!memo.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(memo.parent_path(), ec);
    std::filesystem::path tmp = memo;
    tmp += ".tmp" + std::to_string(::getpid());
    {
      std::ofstream o(tmp);
      o << key << "\n" << id << "\n";
    }
    std::filesystem::rename(tmp, memo, ec);  // atomic: readers see all of it or nothing
    if (ec) std::filesystem::remove(tmp, ec);
  }
  return id;
}

const std::vector<std::string>& fixed_cc_flags() {
  static const std::vector<std::string> flags = {
      "-shared", "-fPIC", "-fvisibility=hidden", "-ffp-contract=off", "-fsignaling-nans", "-w"};
  return flags;
}

void ChildProcesses::kill_all() {
  std::lock_guard<std::mutex> lock(mu);
  stopping = true;
  for (int pid : pids) kill(-pid, SIGKILL);  // each compiler runs in its own process group
}

Result<void> compile_shared_object(const Config& config, const std::string& c_source,
                                   const std::filesystem::path& out, ChildProcesses* children) {
  std::error_code ec;
  auto tmpdir = out.parent_path() / "tmp";
  std::filesystem::create_directories(tmpdir, ec);
  if (ec)
    return make_error(ErrorKind::Io, "cannot create " + tmpdir.string() + ": " + ec.message());
  std::string base = (tmpdir / (out.stem().string() + "." + random_suffix())).string();

  size_t parts = 1;
  if (config.split_bytes && c_source.size() > config.split_bytes) {
    parts = std::min<size_t>(16, (c_source.size() + config.split_bytes - 1) / config.split_bytes);
  }
  std::vector<std::string> units;
  if (parts > 1) units = split_translation_unit(c_source, parts);
  std::vector<std::filesystem::path> c_files, o_files;
  auto cleanup = [&] {
    for (const auto& f : c_files) std::filesystem::remove(f, ec);
    for (const auto& f : o_files) std::filesystem::remove(f, ec);
  };
  auto write = [&](const std::filesystem::path& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    return static_cast<bool>(f);
  };
  std::vector<std::string> common{config.cc};
  for (const auto& f : config.cc_flags) common.push_back(f);
  for (const auto& f : fixed_cc_flags()) common.push_back(f);
  auto so_tmp = std::filesystem::path(base + ".so");

  if (units.size() <= 1) {
    c_files.push_back(base + ".c");
    if (!write(c_files[0], c_source)) {
      cleanup();
      return make_error(ErrorKind::Io, "cannot write " + c_files[0].string());
    }
    auto argv = common;
    argv.insert(argv.end(), {"-o", so_tmp.string(), c_files[0].string()});
    auto [rc, output] = run_process(argv, children);
    cleanup();
    if (rc != 0) {
      std::filesystem::remove(so_tmp, ec);
      if (output.size() > 4000) output.resize(4000);
      return make_error(ErrorKind::Compile,
                        "optimized compile (" + config.cc + ") failed: " + output);
    }
  } else {
    for (size_t i = 0; i < units.size(); ++i) {
      c_files.push_back(base + "." + std::to_string(i) + ".c");
      o_files.push_back(base + "." + std::to_string(i) + ".o");
      if (!write(c_files[i], units[i])) {
        cleanup();
        return make_error(ErrorKind::Io, "cannot write " + c_files[i].string());
      }
    }
    units.clear();
    units.shrink_to_fit();
    // Compile the units, at most max_jobs at a time.
    std::mutex mu;
    size_t next = 0;
    std::string failure;
    auto worker = [&] {
      for (;;) {
        size_t i;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (next >= c_files.size() || !failure.empty()) return;
          i = next++;
        }
        auto argv = common;
        argv.insert(argv.end(), {"-c", "-o", o_files[i].string(), c_files[i].string()});
        auto [rc, output] = run_process(argv, children);
        if (rc != 0) {
          std::lock_guard<std::mutex> lock(mu);
          if (failure.empty()) failure = output.substr(0, 4000);
        }
      }
    };
    std::vector<std::thread> threads;
    size_t n = std::min<size_t>(std::max(1u, config.max_jobs), c_files.size());
    for (size_t t = 0; t < n; ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    if (!failure.empty()) {
      cleanup();
      return make_error(ErrorKind::Compile,
                        "optimized compile (" + config.cc + ") failed: " + failure);
    }
    auto argv = common;
    argv.insert(argv.end(), {"-o", so_tmp.string()});
    for (const auto& o : o_files) argv.push_back(o.string());
    auto [rc, output] = run_process(argv, children);
    cleanup();
    if (rc != 0) {
      std::filesystem::remove(so_tmp, ec);
      return make_error(ErrorKind::Compile,
                        "optimized link (" + config.cc + ") failed: " + output.substr(0, 4000));
    }
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
