// flotilla-bench-compile --tier baseline|optimized FILE [--cache-dir DIR]
// Compiles one module on one tier and prints the wall time; run it under /usr/bin/time -v for
// peak memory. The optimized tier always builds (a fresh cache dir is used when none is given).
#include <flotilla/engine/engine.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fe = flotilla::engine;

int main(int argc, char** argv) {
  std::string tier = "baseline", file, cache;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--tier" && i + 1 < argc)
      tier = argv[++i];
    else if (a == "--cache-dir" && i + 1 < argc)
      cache = argv[++i];
    else
      file = a;
  }
  if (file.empty()) {
    fprintf(stderr,
            "usage: flotilla-bench-compile --tier baseline|optimized FILE [--cache-dir DIR]\n");
    return 2;
  }
  std::ifstream f(file, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  fe::Config c;
  c.tier = *fe::parse_tier(tier);
  c.cache_dir = cache.empty() ? std::filesystem::temp_directory_path() /
                                    ("flotilla-bench-" + std::to_string(getpid()))
                              : std::filesystem::path(cache);
  c.cache_enabled = !cache.empty();
  if (const char* cc = getenv("FLOTILLA_BENCH_CC")) c.cc = cc;  // e.g. clang-19
  fe::Engine engine(c);
  auto t0 = std::chrono::steady_clock::now();
  auto m = fe::Module::compile(engine, bytes, file);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!m) {
    fprintf(stderr, "error: %s\n", m.error().to_string().c_str());
    return 1;
  }
  printf("%s tier: %s (%zu bytes) ready in %.3f s, C source %.1f MB\n", tier.c_str(), file.c_str(),
         bytes.size(), s, m->c_source().size() / 1e6);
  if (cache.empty()) std::filesystem::remove_all(c.cache_dir);
  return 0;
}
