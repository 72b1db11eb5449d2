// POSIX plumbing shared by the WASI 0.2 and preview1 hosts: owned file descriptors and path
// resolution confined to a preopened directory. Errors are errno values.
#pragma once
#include <flotilla/expected.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>

namespace flotilla::wasi::sys {

template <typename T>
using Result = Expected<T, int>;  // error: an errno value

inline Unexpected<int> fail(int err) { return Unexpected<int>(err); }
// The current errno as an error.
Unexpected<int> last_error();

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }
  Result<Fd> dup() const;

 private:
  int fd_ = -1;
};

// Opens `path` relative to directory `dirfd` without ever leaving the tree below it: absolute
// paths, `..` above `dirfd` and symlinks that lead outside fail with EPERM. `follow` decides
// whether a symlink as the last component is followed (otherwise ELOOP for O_NOFOLLOW opens,
// or the link itself with O_PATH). `flags` are open(2) flags; O_CLOEXEC is always added.
Result<Fd> open_beneath(int dirfd, std::string_view path, int flags, mode_t mode = 0,
                        bool follow = true);

// For operations on a name inside a directory (mkdir, unlink, rename, symlink, link, readlink,
// stat without following): opens the parent of `path` beneath `dirfd` and returns it with the
// last component. A trailing slash stays on the component ("a/" -> "a/") so that callers can
// apply directory semantics. An empty path is ENOENT.
struct Parent {
  Fd dir;
  std::string name;
};
Result<Parent> open_parent(int dirfd, std::string_view path);

// stat of `path` beneath `dirfd` (following the last symlink or not).
Result<struct stat> stat_beneath(int dirfd, std::string_view path, bool follow);

}  // namespace flotilla::wasi::sys
