// The state behind wasi::Ctx, shared by the preview1 and WASI 0.2 hosts.
#pragma once
#include <flotilla/wasi/wasi.h>

#include <optional>
#include <vector>

#include "sys.h"

namespace flotilla::wasi {

struct CtxImpl {
  Config config;
  sys::Fd stdin_fd, stdout_fd, stderr_fd;  // -1: empty input / discarded output
  struct Dir {
    Preopen preopen;
    sys::Fd fd;  // O_DIRECTORY, opened once at creation
  };
  std::vector<Dir> preopens;
  std::optional<int> exit_code;
  std::shared_ptr<Waiter> waiter;  // never null
  // A waiter other than the thread's own was configured: before a read or write that could
  // block the thread (pipes, terminals, sockets), wait for readiness through it.
  bool cooperative = false;

  // Waits for one fd (events POLLIN/POLLOUT) or a deadline through the waiter.
  void wait_fd(int fd, short events) {
    pollfd p{fd, events, 0};
    waiter->wait(std::span<pollfd>(&p, 1), std::nullopt);
  }
  // In cooperative mode, waits until `fd` is ready for `events` (a no-op otherwise).
  void before_io(int fd, short events) {
    if (!cooperative) return;
    for (;;) {
      pollfd p{fd, events, 0};
      if (::poll(&p, 1, 0) != 0) return;
      waiter->wait(std::span<pollfd>(&p, 1), std::nullopt);
    }
  }

  // Records the exit and returns the error that unwinds the guest.
  engine::Error exit(int code);
};

}  // namespace flotilla::wasi
