#include "ctx.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace flotilla::wasi {

namespace {
class PollWaiter final : public Waiter {
 public:
  void wait(std::span<pollfd> fds, std::optional<uint64_t> deadline_ns) override {
    int timeout = -1;
    if (deadline_ns) {
      timespec ts{};
      ::clock_gettime(CLOCK_MONOTONIC, &ts);
      uint64_t now =
          static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
      uint64_t ns = *deadline_ns > now ? *deadline_ns - now : 0;
      if (fds.empty()) {
        timespec d{static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
        while (::nanosleep(&d, &d) != 0 && errno == EINTR) {
        }
        return;
      }
      timeout = static_cast<int>(std::min<uint64_t>((ns + 999999) / 1000000, 1u << 30));
    }
    ::poll(fds.data(), fds.size(), timeout);
  }
};
}  // namespace

std::shared_ptr<Waiter> thread_waiter() {
  static const std::shared_ptr<Waiter> w = std::make_shared<PollWaiter>();
  return w;
}

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
  c.waiter = config.waiter ? config.waiter : thread_waiter();
  c.cooperative = config.waiter != nullptr;
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
