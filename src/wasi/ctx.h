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

  // Records the exit and returns the error that unwinds the guest.
  engine::Error exit(int code);
};

}  // namespace flotilla::wasi
