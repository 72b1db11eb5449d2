// WASI host: what a guest may see of the world, and the host side of WASI 0.2 (components)
// and WASI preview1 (core modules importing `wasi_snapshot_preview1`).
//
// Deny by default (DESIGN.md, "Security model"): a guest sees exactly the arguments,
// environment variables and preopened directories configured here; sockets are refused unless
// allowed. Errors crossing this API are engine::Result values; errors a guest sees are WASI
// error codes, never host failures.
#pragma once
#include <flotilla/engine/engine.h>
#include <poll.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace flotilla::component {
class Linker;
}

namespace flotilla::wasi {

struct Preopen {
  std::filesystem::path host;  // a directory on the host
  std::string guest;           // the name the guest sees ("/", ".", "/data")
  bool read_only = false;
};

// Where a guest's blocking WASI calls wait (pollable.block, poll, blocking stream reads and
// writes, preview1 poll_oneoff and fd_read/fd_write on pipes). The default blocks the calling
// thread in poll(2). A host that runs guests on fibers over an event loop supplies one that
// suspends only the calling guest's fiber (host::Scheduler::waiter()).
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Returns once one of `fds` is ready for its `events` (setting `revents`) or once
  // `deadline_ns` (CLOCK_MONOTONIC) has passed; may return early, callers check again.
  virtual void wait(std::span<pollfd> fds, std::optional<uint64_t> deadline_ns) = 0;
};

// The default Waiter: poll(2) on the calling thread.
std::shared_ptr<Waiter> thread_waiter();

struct Config {
  std::vector<std::string> args;  // argv, program name first
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<Preopen> preopens;
  // Host file descriptors for the guest's stdio (duplicated; -1: empty input / discarded output).
  int stdin_fd = 0;
  int stdout_fd = 1;
  int stderr_fd = 2;
  // Network: denied unless allowed.
  bool allow_tcp = false;
  bool allow_udp = false;
  bool allow_ip_name_lookup = false;
  // How blocking calls wait; null: thread_waiter().
  std::shared_ptr<Waiter> waiter;
};

// The guest called exit (proc_exit, wasi:cli/exit): returned as an engine error whose message
// is `kExitMessage`; the code is in Ctx::exit_code().
inline constexpr const char* kExitMessage = "wasi: guest exited";

struct CtxImpl;

// One guest's view of the world; shared by the host functions of one instance.
class Ctx {
 public:
  static engine::Result<std::shared_ptr<Ctx>> create(Config config);
  ~Ctx();
  const Config& config() const;
  // Set once the guest called exit.
  std::optional<int> exit_code() const;
  CtxImpl& impl() const { return *impl_; }

 private:
  Ctx();
  std::unique_ptr<CtxImpl> impl_;
};

// True if `error` is the guest's exit rather than a failure.
bool is_exit(const engine::Error& error);

// Defines every `wasi_snapshot_preview1` function in `linker` for `store`.
engine::Result<void> add_preview1(engine::Linker& linker, engine::Store& store,
                                  std::shared_ptr<Ctx> ctx);

// Defines the WASI 0.2 interfaces (io, clocks, random, cli, filesystem, sockets) in `linker`
// for one guest with context `ctx`; any 0.2.x version a component imports is accepted.
engine::Result<void> add_to_linker(component::Linker& linker, std::shared_ptr<Ctx> ctx);

// Defines the same interfaces in a linker shared by many guests (one per store, e.g. one per
// HTTP request): each call finds its guest's context in the caller's store, given by bind().
// A call from a store without a context traps.
engine::Result<void> add_to_linker(component::Linker& linker);

// What the WASI host keeps in a store's host data (engine::Store::set_host_data): the guest's
// context and the per-guest state of the interface groups, made on first use.
struct StoreData {
  std::shared_ptr<Ctx> ctx;
  std::shared_ptr<void> p2;    // WASI 0.2 state
  std::shared_ptr<void> http;  // wasi:http state (http.h)
};

// Gives the guest of `store` the context `ctx` (replaces the store's host data).
void bind(engine::Store& store, std::shared_ptr<Ctx> ctx);
// The store's WASI data, or null if bind() was not called for it.
StoreData* store_data(engine::Store& store);

}  // namespace flotilla::wasi
