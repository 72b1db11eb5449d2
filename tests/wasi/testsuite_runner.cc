// Runs one wasi-testsuite case (corpus wasi-testsuite/<suite>/wasm32-wasip1/<name>.wasm) through
// `flotilla run` the way the suite's specification.md asks: arguments, environment (only the
// listed variables), the "root" directory preopened as "/" (a private, writable copy, so that
// tests can run in parallel and the corpus stays untouched), then the exit code and stdout
// and stderr when the .json gives them.
//
//   flotilla-wasitest FLOTILLA TEST.wasm WORKDIR
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string slurp_fd(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

// Runs argv with stdin from /dev/null, capturing stdout and stderr.
bool run(const std::vector<std::string>& argv, const fs::path& cwd, Outcome& o) {
  int po[2], pe[2];
  if (::pipe2(po, O_CLOEXEC) != 0 || ::pipe2(pe, O_CLOEXEC) != 0) return false;
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int nul = ::open("/dev/null", O_RDONLY);
    ::dup2(nul, 0);
    ::dup2(po[1], 1);
    ::dup2(pe[1], 2);
    if (::chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(po[1]);
  ::close(pe[1]);
  std::thread t([&] { o.err = slurp_fd(pe[0]); });
  o.out = slurp_fd(po[0]);
  t.join();
  ::close(po[0]);
  ::close(pe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

std::string shown(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: flotilla-wasitest FLOTILLA TEST.wasm WORKDIR\n";
    return 2;
  }
  fs::path flotilla = fs::absolute(argv[1]);
  fs::path wasm = fs::absolute(argv[2]);
  fs::path work = fs::absolute(argv[3]);
  json spec = json::object();
  fs::path spec_path = wasm;
  spec_path.replace_extension(".json");
  if (fs::exists(spec_path)) {
    std::ifstream in(spec_path);
    try {
      spec = json::parse(in);
    } catch (const std::exception& e) {
      std::cerr << spec_path << ": " << e.what() << "\n";
      return 2;
    }
  }
  if (spec.contains("operations")) {
    std::cerr << "SKIP: operation-based specifications (sockets, http) are not supported here\n";
    return 77;
  }

  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work);
  std::vector<std::string> cmd = {flotilla.string(), "run"};
  if (spec.contains("root") && spec["root"].is_string()) {
    fs::path root = wasm.parent_path() / spec["root"].get<std::string>();
    fs::path copy = work / "root";
    fs::copy(root, copy, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    // The corpus is read-only; the guest's copy must be writable. Leftovers from earlier runs
    // (*.cleanup) go, as the specification asks.
    fs::permissions(copy, fs::perms::owner_all, fs::perm_options::add);
    for (auto it = fs::recursive_directory_iterator(copy); it != fs::recursive_directory_iterator();
         ++it) {
      if (it->is_symlink()) continue;
      fs::permissions(it->path(), fs::perms::owner_read | fs::perms::owner_write,
                      fs::perm_options::add);
      if (it->is_directory())
        fs::permissions(it->path(), fs::perms::owner_exec, fs::perm_options::add);
    }
    std::vector<fs::path> cleanup;
    for (auto& e : fs::recursive_directory_iterator(copy))
      if (e.path().extension() == ".cleanup") cleanup.push_back(e.path());
    for (const auto& p : cleanup) fs::remove_all(p, ec);
    cmd.push_back("--dir");
    cmd.push_back(copy.string() + "::/");
  }
  if (spec.contains("env")) {
    for (const auto& [k, v] : spec["env"].items()) {
      cmd.push_back("--env");
      cmd.push_back(k + "=" + v.get<std::string>());
    }
  }
  cmd.push_back(wasm.string());
  if (spec.contains("args"))
    for (const auto& a : spec["args"]) cmd.push_back(a.get<std::string>());

  Outcome o;
  if (!run(cmd, work, o)) {
    std::cerr << "cannot run " << flotilla << ": " << std::strerror(errno) << "\n";
    return 2;
  }
  int want_code = spec.value("exit_code", 0);
  bool ok = true;
  std::ostringstream why;
  if (o.exit_code != want_code) {
    ok = false;
    why << "exit code " << o.exit_code << ", expected " << want_code << "\n";
  }
  // Like the suite's own runner, output is compared only when the .json gives it (several
  // programs print diagnostics to stdout).
  if (spec.contains("stdout") && o.out != spec["stdout"].get<std::string>()) {
    ok = false;
    why << "stdout " << shown(o.out) << ", expected " << shown(spec["stdout"].get<std::string>())
        << "\n";
  }
  if (spec.contains("stderr") && o.err != spec["stderr"].get<std::string>()) {
    ok = false;
    why << "stderr " << shown(o.err) << ", expected " << shown(spec["stderr"].get<std::string>())
        << "\n";
  }
  std::cout << "command:";
  for (const auto& c : cmd) std::cout << " " << c;
  std::cout << "\n";
  if (!o.err.empty()) std::cout << "stderr:\n" << o.err << "\n";
  if (!ok) {
    std::cout << "FAIL: " << why.str();
    return 1;
  }
  std::cout << "PASS\n";
  fs::remove_all(work, ec);
  return 0;
}
