#include "sys.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace flotilla::wasi::sys {

Unexpected<int> last_error() { return Unexpected<int>(errno); }

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<Fd> Fd::dup() const {
  int d = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return last_error();
  return Fd(d);
}

Result<Fd> open_beneath(int dirfd, std::string_view path, int flags, mode_t mode, bool follow) {
  if (path.empty()) return fail(ENOENT);
  if (path.find('\0') != std::string_view::npos) return fail(EILSEQ);
  std::string p(path);
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
  // The kernel refuses a mode without O_CREAT/O_TMPFILE.
  how.mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, p.c_str(), &how, sizeof how);
    if (fd >= 0) return Fd(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;
    // EXDEV: the path (an absolute path, `..`, or a symlink) would leave the directory.
    return fail(errno == EXDEV ? EPERM : errno);
  }
}

Result<Parent> open_parent(int dirfd, std::string_view path) {
  if (path.empty()) return fail(ENOENT);
  if (path.front() == '/') return fail(EPERM);
  // Split at the last slash that is followed by something other than slashes.
  size_t end = path.size();
  while (end > 0 && path[end - 1] == '/') --end;
  size_t slash = path.rfind('/', end == 0 ? 0 : end - 1);
  std::string name, dir;
  if (slash == std::string_view::npos) {
    name = std::string(path);
    dir = ".";
  } else {
    name = std::string(path.substr(slash + 1));
    dir = std::string(path.substr(0, slash + 1));
  }
  std::string_view bare = std::string_view(name).substr(0, name.find('/'));
  if (bare == "." || bare == "..") {
    // Never hand out ".." of a directory as a name: resolve the whole path instead.
    auto d = open_beneath(dirfd, path, O_PATH | O_DIRECTORY);
    if (!d) return fail(d.error());
    return Parent{std::move(*d), "."};
  }
  auto d = open_beneath(dirfd, dir, O_PATH | O_DIRECTORY);
  if (!d) return fail(d.error());
  return Parent{std::move(*d), std::move(name)};
}

Result<struct stat> stat_beneath(int dirfd, std::string_view path, bool follow) {
  auto fd = open_beneath(dirfd, path, O_PATH, 0, follow);
  if (!fd) return fail(fd.error());
  struct stat st {};
  if (::fstatat(fd->get(), "", &st, AT_EMPTY_PATH) != 0) return last_error();
  return st;
}

}  // namespace flotilla::wasi::sys
