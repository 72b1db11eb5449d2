#include "ctx.h"

#include <fcntl.h>

#include <cstring>

namespace flotilla::wasi {

Ctx::Ctx() : impl_(std::make_unique<CtxImpl>()) {}
Ctx::~Ctx() = default;

engine::Result<std::shared_ptr<Ctx>> Ctx::create(Config config) {
  std::shared_ptr<Ctx> ctx(new Ctx());
  CtxImpl& c = *ctx->impl_;
  // sys::Fd(fd).dup() would close fd when the temporary dies: release it instead.
  auto dup_keep = [&](int fd, sys::Fd& out) -> engine::Result<void> {
    sys::Fd borrowed(fd);
    engine::Result<void> r;
    if (fd >= 0) {
      auto d = borrowed.dup();
      if (!d) {
        r = engine::make_error(engine::ErrorKind::Io, "wasi: cannot use file descriptor " +
                                                          std::to_string(fd) + ": " +
                                                          std::strerror(d.error()));
      } else {
        out = std::move(*d);
      }
    }
    borrowed.release();
    return r;
  };
  if (auto r = dup_keep(config.stdin_fd, c.stdin_fd); !r) return Unexpected(r.error());
  if (auto r = dup_keep(config.stdout_fd, c.stdout_fd); !r) return Unexpected(r.error());
  if (auto r = dup_keep(config.stderr_fd, c.stderr_fd); !r) return Unexpected(r.error());
  for (const auto& p : config.preopens) {
    int fd = ::open(p.host.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return engine::make_error(
          engine::ErrorKind::Io,
          "wasi: cannot preopen directory '" + p.host.string() + "': " + std::strerror(errno));
    }
    c.preopens.push_back({p, sys::Fd(fd)});
  }
  c.config = std::move(config);
  return ctx;
}

const Config& Ctx::config() const { return impl_->config; }
std::optional<int> Ctx::exit_code() const { return impl_->exit_code; }

engine::Error CtxImpl::exit(int code) {
  exit_code = code;
  engine::Error e;
  e.kind = engine::ErrorKind::Trap;
  e.trap = engine::TrapKind::HostError;
  e.message = kExitMessage;
  return e;
}

bool is_exit(const engine::Error& error) {
  return error.kind == engine::ErrorKind::Trap &&
         error.message.find(kExitMessage) != std::string::npos;
}

}  // namespace flotilla::wasi
