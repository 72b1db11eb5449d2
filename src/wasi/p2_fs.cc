// wasi:filesystem (types, preopens): descriptors over host file descriptors.
//
// Confinement: a guest reaches the host file system only through the preopened directories.
// Every guest path is resolved relative to a directory descriptor by sys::open_beneath (openat2
// with RESOLVE_BENEATH) or, for operations on a name inside a directory, by sys::open_parent
// followed by an *at call on the last component alone. Names that end in a slash make the kernel
// follow a symlink in the last position even for "no-follow" calls (fstatat, utimensat,
// readlinkat, linkat), so those cases are resolved with open_beneath instead. Mutations need a
// descriptor whose tree is writable (`mutate`, inherited from the preopen); a read-only preopen
// answers `read-only`.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "p2.h"

namespace flotilla::wasi::p2 {

namespace {

constexpr const char* kTypes = "wasi:filesystem/types@0.2.0";
constexpr const char* kPreopens = "wasi:filesystem/preopens@0.2.0";

// The most bytes one `read` returns (each byte becomes a Val).
constexpr uint64_t kMaxRead = 1 << 20;
// The longest symlink target readlink-at reports.
constexpr size_t kMaxLink = 1 << 16;

// result<_, error-code> / result<T, error-code> failures.
Val fs_err(int err) { return Val::err(Val::enumeration(error_code(err))); }
Val ok_unit() { return Val::ok(std::nullopt); }

bool has_flag(const Val& flags, std::string_view name) {
  return std::find(flags.names.begin(), flags.names.end(), name) != flags.names.end();
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

bool ends_with_slash(const std::string& s) { return !s.empty() && s.back() == '/'; }

// Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

const char* type_name(mode_t m) {
  if (S_ISREG(m)) return "regular-file";
  if (S_ISDIR(m)) return "directory";
  if (S_ISLNK(m)) return "symbolic-link";
  if (S_ISBLK(m)) return "block-device";
  if (S_ISCHR(m)) return "character-device";
  if (S_ISFIFO(m)) return "fifo";
  if (S_ISSOCK(m)) return "socket";
  return "unknown";
}

const char* dirent_type_name(unsigned char t) {
  switch (t) {
    case DT_REG:
      return "regular-file";
    case DT_DIR:
      return "directory";
    case DT_LNK:
      return "symbolic-link";
    case DT_BLK:
      return "block-device";
    case DT_CHR:
      return "character-device";
    case DT_FIFO:
      return "fifo";
    case DT_SOCK:
      return "socket";
    default:
      return nullptr;  // DT_UNKNOWN: ask the file system
  }
}

// option<datetime>: times before the epoch have no datetime.
Val datetime_opt(const timespec& ts) {
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) return Val::option(std::nullopt);
  return Val::option(Val::record({{"seconds", Val::u64(static_cast<uint64_t>(ts.tv_sec))},
                                  {"nanoseconds", Val::u32(static_cast<uint32_t>(ts.tv_nsec))}}));
}

Val stat_val(const struct stat& st) {
  return Val::record({
      {"type", Val::enumeration(type_name(st.st_mode))},
      {"link-count", Val::u64(static_cast<uint64_t>(st.st_nlink))},
      {"size", Val::u64(st.st_size < 0 ? 0 : static_cast<uint64_t>(st.st_size))},
      {"data-access-timestamp", datetime_opt(st.st_atim)},
      {"data-modification-timestamp", datetime_opt(st.st_mtim)},
      {"status-change-timestamp", datetime_opt(st.st_ctim)},
  });
}

uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// metadata-hash-value: a function of the object's identity (device, inode) only.
Val hash_val(const struct stat& st) {
  auto dev = static_cast<uint64_t>(st.st_dev);
  auto ino = static_cast<uint64_t>(st.st_ino);
  uint64_t lower = mix64(dev ^ mix64(ino));
  uint64_t upper = mix64(ino ^ mix64(dev + 0x9e3779b97f4a7c15ull));
  return Val::record({{"lower", Val::u64(lower)}, {"upper", Val::u64(upper)}});
}

// A new-timestamp value as a utimensat time; 0 or an errno.
int to_timespec(const Val& v, timespec& ts) {
  ts.tv_sec = 0;
  if (v.str == "no-change") {
    ts.tv_nsec = UTIME_OMIT;
    return 0;
  }
  if (v.str == "now") {
    ts.tv_nsec = UTIME_NOW;
    return 0;
  }
  if (v.str != "timestamp") return EINVAL;
  const Val* dt = v.payload();
  const Val* sec = dt ? dt->field("seconds") : nullptr;
  const Val* ns = dt ? dt->field("nanoseconds") : nullptr;
  if (!sec || !ns) return EINVAL;
  if (sec->bits > static_cast<uint64_t>(INT64_MAX)) return EOVERFLOW;
  if (ns->bits >= 1000000000ull) return EINVAL;
  ts.tv_sec = static_cast<time_t>(sec->bits);
  ts.tv_nsec = static_cast<long>(ns->bits);
  return 0;
}

// Sets the times of the object an O_PATH descriptor refers to; 0 or an errno.
int set_times_path_fd(int fd, const timespec ts[2]) {
  if (::utimensat(fd, "", ts, AT_EMPTY_PATH) == 0) return 0;
  if (errno != EINVAL) return errno;
  // Kernels without AT_EMPTY_PATH for utimensat: go through our own descriptor's proc link.
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  if (::utimensat(AT_FDCWD, proc.c_str(), ts, 0) == 0) return 0;
  return errno;
}

// The parent of `path` (beneath `dirfd`) and its last component.
sys::Result<sys::Parent> parent_of(const Descriptor& d, const std::string& path) {
  return sys::open_parent(d.fd->get(), path);
}

}  // namespace

Result<void> add_filesystem(fc::Linker& linker, const BindingPtr& b) {
  // Destructors hold the binding weakly: it owns the resource types, which own them.
  std::weak_ptr<Binding> weak = b;
  {
    auto rd = linker.resource(kTypes, "descriptor",
                              [weak](HostContext& hc, uint32_t rep) -> Result<void> {
                                auto bl = weak.lock();
                                if (State* st = bl ? bl->get(hc) : nullptr)
                                  st->descriptors.erase(rep);
                                return {};
                              });
    if (!rd) return Unexpected(rd.error());
    b->rt_descriptor = *rd;
    auto rs = linker.resource(kTypes, "directory-entry-stream",
                              [weak](HostContext& hc, uint32_t rep) -> Result<void> {
                                auto bl = weak.lock();
                                if (State* st = bl ? bl->get(hc) : nullptr)
                                  st->dirstreams.erase(rep);
                                return {};
                              });
    if (!rs) return Unexpected(rs.error());
    b->rt_dirstream = *rs;
  }

  // Functions capture the state strongly (the linker owns them; the state owns only resource
  // types, whose destructors hold it weakly). Each body gets the state, checked parameters and
  // returns its single result; a wrong signature or a host exception becomes a trap.
  using Body = std::function<Result<Val>(State&, Params)>;
  auto def = [&](const char* iface, const char* name, size_t nparams, Body body) {
    std::string full = std::string(iface) + "#" + name;
    return linker.func_new(iface, name,
                           [b, nparams, full, body = std::move(body)](HostContext& hc, Params p,
                                                                      Results out) -> Result<void> {
                             if (p.size() != nparams || out.size() != 1)
                               return host_trap(full + ": imported with an unexpected signature");
                             State* s = b->get(hc);
                             if (!s) return no_context();
                             try {
                               auto v = body(*s, p);
                               if (!v) return Unexpected(v.error());
                               out[0] = std::move(*v);
                               return {};
                             } catch (const std::exception& e) {
                               return host_trap(full + ": host failure: " + e.what());
                             } catch (...) {
                               return host_trap(full + ": host failure");
                             }
                           });
  };
  Result<void> r;
#define DEF(iface, name, nparams, ...)                                               \
  if (r = def(iface, name, nparams,                                                  \
              [](State & st, [[maybe_unused]] Params p) -> Result<Val> __VA_ARGS__); \
      !r)                                                                            \
    return r;
// Looks up the descriptor handle `v` into `var`; an unknown handle traps.
#define DESC(var, v)                               \
  Descriptor* var = st.descriptors.get(rep_of(v)); \
  if (!var || !var->fd || !*var->fd)               \
    return host_trap(                              \
        "wasi:filesystem: unknown descriptor "     \
        "handle");

  // ---- streams over a file
  DEF(kTypes, "[method]descriptor.read-via-stream", 2, {
    DESC(d, p[0]);
    if (d->is_dir || !d->read) return fs_err(EBADF);
    InputStream in;
    in.kind = InputStream::Kind::File;
    in.file = d->fd;
    in.offset = p[1].bits;
    return Val::ok(own(st.rt_input, st.inputs.add(std::move(in))));
  })
  DEF(kTypes, "[method]descriptor.write-via-stream", 2, {
    DESC(d, p[0]);
    if (d->is_dir || !d->write) return fs_err(EBADF);
    OutputStream o;
    o.kind = OutputStream::Kind::File;
    o.file = d->fd;
    o.offset = p[1].bits;
    return Val::ok(own(st.rt_output, st.outputs.add(std::move(o))));
  })
  DEF(kTypes, "[method]descriptor.append-via-stream", 1, {
    DESC(d, p[0]);
    if (d->is_dir || !d->write) return fs_err(EBADF);
    OutputStream o;
    o.kind = OutputStream::Kind::Append;
    o.file = d->fd;
    return Val::ok(own(st.rt_output, st.outputs.add(std::move(o))));
  })

  // ---- operations on the descriptor itself
  DEF(kTypes, "[method]descriptor.advise", 4, {
    DESC(d, p[0]);
    if (d->is_dir) return fs_err(EBADF);
    uint64_t off = p[1].bits, len = p[2].bits;
    if (off > static_cast<uint64_t>(INT64_MAX) || len > static_cast<uint64_t>(INT64_MAX))
      return fs_err(EINVAL);
    const std::string& a = p[3].str;
    int advice;
    if (a == "normal")
      advice = POSIX_FADV_NORMAL;
    else if (a == "sequential")
      advice = POSIX_FADV_SEQUENTIAL;
    else if (a == "random")
      advice = POSIX_FADV_RANDOM;
    else if (a == "will-need")
      advice = POSIX_FADV_WILLNEED;
    else if (a == "dont-need")
      advice = POSIX_FADV_DONTNEED;
    else if (a == "no-reuse")
      advice = POSIX_FADV_NOREUSE;
    else
      return fs_err(EINVAL);
    int e = ::posix_fadvise(d->fd->get(), static_cast<off_t>(off), static_cast<off_t>(len), advice);
    return e == 0 ? ok_unit() : fs_err(e);
  })
  DEF(kTypes, "[method]descriptor.sync-data", 1, {
    DESC(d, p[0]);
    if (::fdatasync(d->fd->get()) != 0) return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.sync", 1, {
    DESC(d, p[0]);
    if (::fsync(d->fd->get()) != 0) return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.get-flags", 1, {
    DESC(d, p[0]);
    return Val::ok(Val::flags(d->flags));
  })
  DEF(kTypes, "[method]descriptor.get-type", 1, {
    DESC(d, p[0]);
    struct stat sb {};
    if (::fstat(d->fd->get(), &sb) != 0) return fs_err(errno);
    return Val::ok(Val::enumeration(type_name(sb.st_mode)));
  })
  DEF(kTypes, "[method]descriptor.set-size", 2, {
    DESC(d, p[0]);
    if (d->is_dir) return fs_err(EISDIR);
    if (!d->write) return fs_err(EBADF);
    if (p[1].bits > static_cast<uint64_t>(INT64_MAX)) return fs_err(EFBIG);
    if (::ftruncate(d->fd->get(), static_cast<off_t>(p[1].bits)) != 0) return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.set-times", 3, {
    DESC(d, p[0]);
    if (!d->mutate) return fs_err(EROFS);
    timespec ts[2];
    if (int e = to_timespec(p[1], ts[0])) return fs_err(e);
    if (int e = to_timespec(p[2], ts[1])) return fs_err(e);
    if (::futimens(d->fd->get(), ts) != 0) return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.read", 3, {
    DESC(d, p[0]);
    if (d->is_dir || !d->read) return fs_err(EBADF);
    uint64_t off = p[2].bits;
    if (off > static_cast<uint64_t>(INT64_MAX)) return fs_err(EINVAL);
    size_t want = static_cast<size_t>(std::min(p[1].bits, kMaxRead));
    std::vector<uint8_t> buf(want);
    size_t got = 0;
    bool end = false;
    while (got < want) {
      ssize_t n =
          ::pread(d->fd->get(), buf.data() + got, want - got, static_cast<off_t>(off + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (got > 0) break;
        return fs_err(errno);
      }
      if (n == 0) {
        end = true;
        break;
      }
      got += static_cast<size_t>(n);
    }
    return Val::ok(Val::tuple({bytes_val(buf.data(), got), Val::boolean(end)}));
  })
  DEF(kTypes, "[method]descriptor.write", 3, {
    DESC(d, p[0]);
    if (d->is_dir || !d->write) return fs_err(EBADF);
    uint64_t off = p[2].bits;
    std::vector<uint8_t> data = val_bytes(p[1]);
    if (off > static_cast<uint64_t>(INT64_MAX) ||
        data.size() > static_cast<uint64_t>(INT64_MAX) - off)
      return fs_err(EFBIG);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(d->fd->get(), data.data() + done, data.size() - done,
                           static_cast<off_t>(off + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (done > 0) break;
        return fs_err(errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return Val::ok(Val::u64(done));
  })
  DEF(kTypes, "[method]descriptor.read-directory", 1, {
    DESC(d, p[0]);
    if (!d->is_dir) return fs_err(ENOTDIR);
    // A fresh open file description, so that every stream starts at the first entry and
    // streams do not share a position. A dup (shared offset, rewound) is the fallback.
    int raw = -1;
    if (auto fresh = sys::open_beneath(d->fd->get(), ".", O_RDONLY | O_DIRECTORY)) {
      raw = fresh->release();
    } else if (auto dup = d->fd->dup()) {
      raw = dup->release();
    } else {
      return fs_err(dup.error());
    }
    DIR* dir = ::fdopendir(raw);
    if (!dir) {
      int e = errno;
      ::close(raw);
      return fs_err(e);
    }
    ::rewinddir(dir);
    DirStream ds;
    ds.dir.reset(dir);
    return Val::ok(own(st.rt_dirstream, st.dirstreams.add(std::move(ds))));
  })
  DEF(kTypes, "[method]descriptor.stat", 1, {
    DESC(d, p[0]);
    struct stat sb {};
    if (::fstat(d->fd->get(), &sb) != 0) return fs_err(errno);
    return Val::ok(stat_val(sb));
  })
  DEF(kTypes, "[method]descriptor.is-same-object", 2, {
    DESC(a, p[0]);
    DESC(b, p[1]);
    struct stat sa {
    }, sb{};
    if (::fstat(a->fd->get(), &sa) != 0 || ::fstat(b->fd->get(), &sb) != 0)
      return Val::boolean(false);
    return Val::boolean(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
  })
  DEF(kTypes, "[method]descriptor.metadata-hash", 1, {
    DESC(d, p[0]);
    struct stat sb {};
    if (::fstat(d->fd->get(), &sb) != 0) return fs_err(errno);
    return Val::ok(hash_val(sb));
  })

  // ---- operations on paths beneath a directory descriptor
  DEF(kTypes, "[method]descriptor.stat-at", 3, {
    DESC(d, p[0]);
    const std::string& path = p[2].str;
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(path)) return fs_err(EILSEQ);
    auto sb = sys::stat_beneath(d->fd->get(), path, has_flag(p[1], "symlink-follow"));
    if (!sb) return fs_err(sb.error());
    return Val::ok(stat_val(*sb));
  })
  DEF(kTypes, "[method]descriptor.metadata-hash-at", 3, {
    DESC(d, p[0]);
    const std::string& path = p[2].str;
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(path)) return fs_err(EILSEQ);
    auto sb = sys::stat_beneath(d->fd->get(), path, has_flag(p[1], "symlink-follow"));
    if (!sb) return fs_err(sb.error());
    return Val::ok(hash_val(*sb));
  })
  DEF(kTypes, "[method]descriptor.set-times-at", 5, {
    DESC(d, p[0]);
    const std::string& path = p[2].str;
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(path)) return fs_err(EILSEQ);
    if (!d->mutate) return fs_err(EROFS);
    timespec ts[2];
    if (int e = to_timespec(p[3], ts[0])) return fs_err(e);
    if (int e = to_timespec(p[4], ts[1])) return fs_err(e);
    bool follow = has_flag(p[1], "symlink-follow");
    if (!follow) {
      auto par = parent_of(*d, path);
      if (!par) return fs_err(par.error());
      if (!ends_with_slash(par->name)) {
        if (::utimensat(par->dir.get(), par->name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
          return fs_err(errno);
        return ok_unit();
      }
      // "name/" means the directory a symlink leads to: resolve it beneath, as when following.
    }
    auto fd = sys::open_beneath(d->fd->get(), path, O_PATH, 0, true);
    if (!fd) return fs_err(fd.error());
    if (int e = set_times_path_fd(fd->get(), ts)) return fs_err(e);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.open-at", 5, {
    DESC(d, p[0]);
    const std::string& path = p[2].str;
    const Val& oflags = p[3];
    const Val& dflags = p[4];
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(path)) return fs_err(EILSEQ);
    bool follow = has_flag(p[1], "symlink-follow");
    bool create = has_flag(oflags, "create"), directory = has_flag(oflags, "directory"),
         exclusive = has_flag(oflags, "exclusive"), truncate = has_flag(oflags, "truncate");
    bool rd = has_flag(dflags, "read"), wr = has_flag(dflags, "write"),
         mut = has_flag(dflags, "mutate-directory");
    if ((create || truncate || wr || mut) && !d->mutate) return fs_err(EROFS);
    if (directory && wr) return fs_err(EISDIR);
    if (directory && (create || truncate)) return fs_err(EINVAL);
    // O_NONBLOCK: opening a FIFO or a device must not wait for a peer (cleared below).
    int flags = O_NOCTTY | O_NONBLOCK;
    if (directory)
      flags |= O_RDONLY | O_DIRECTORY;
    else
      flags |= wr ? (rd ? O_RDWR : O_WRONLY) : O_RDONLY;
    if (create) flags |= O_CREAT;
    if (create && exclusive) flags |= O_EXCL;
    if (truncate) flags |= O_TRUNC;
    if (has_flag(dflags, "file-integrity-sync")) flags |= O_SYNC;
    if (has_flag(dflags, "data-integrity-sync")) flags |= O_DSYNC;
    if (has_flag(dflags, "requested-write-sync")) flags |= O_RSYNC;
    // The mode only with O_CREAT: open_beneath keeps it whenever O_DIRECTORY is set (glibc's
    // __O_TMPFILE includes O_DIRECTORY), and openat2 rejects a mode without O_CREAT.
    auto fd = sys::open_beneath(d->fd->get(), path, flags, create ? 0666 : 0, follow);
    if (!fd) return fs_err(fd.error());
    struct stat sb {};
    if (::fstat(fd->get(), &sb) != 0) return fs_err(errno);
    bool is_dir = S_ISDIR(sb.st_mode);
    if (!is_dir) {
      int fl = ::fcntl(fd->get(), F_GETFL);
      if (fl >= 0) ::fcntl(fd->get(), F_SETFL, fl & ~O_NONBLOCK);
    }
    Descriptor nd;
    nd.fd = std::make_shared<sys::Fd>(std::move(*fd));
    nd.is_dir = is_dir;
    nd.read = rd;
    nd.write = wr && !is_dir;
    nd.mutate = d->mutate;  // the tree's writability carries over to everything below
    for (const char* f : {"read", "write", "file-integrity-sync", "data-integrity-sync",
                          "requested-write-sync", "mutate-directory"}) {
      if (has_flag(dflags, f)) nd.flags.emplace_back(f);
    }
    return Val::ok(own(st.rt_descriptor, st.descriptors.add(std::move(nd))));
  })
  DEF(kTypes, "[method]descriptor.readlink-at", 2, {
    DESC(d, p[0]);
    const std::string& path = p[1].str;
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(path)) return fs_err(EILSEQ);
    auto par = parent_of(*d, path);
    if (!par) return fs_err(par.error());
    if (ends_with_slash(par->name)) {
      // The kernel would follow the link: what it names is never a symlink itself.
      auto sb = sys::stat_beneath(d->fd->get(), path, true);
      return fs_err(sb ? EINVAL : sb.error());
    }
    std::string target(256, '\0');
    for (;;) {
      ssize_t n = ::readlinkat(par->dir.get(), par->name.c_str(), target.data(), target.size());
      if (n < 0) return fs_err(errno);
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        break;
      }
      if (target.size() >= kMaxLink) return fs_err(ENAMETOOLONG);
      target.resize(target.size() * 2);
    }
    if (!valid_utf8(target)) return fs_err(EILSEQ);
    return Val::ok(Val::string(std::move(target)));
  })
  DEF(kTypes, "[method]descriptor.create-directory-at", 2, {
    DESC(d, p[0]);
    const std::string& path = p[1].str;
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(path)) return fs_err(EILSEQ);
    if (!d->mutate) return fs_err(EROFS);
    auto par = parent_of(*d, path);
    if (!par) return fs_err(par.error());
    if (::mkdirat(par->dir.get(), par->name.c_str(), 0777) != 0) return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.remove-directory-at", 2, {
    DESC(d, p[0]);
    const std::string& path = p[1].str;
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(path)) return fs_err(EILSEQ);
    if (!d->mutate) return fs_err(EROFS);
    auto par = parent_of(*d, path);
    if (!par) return fs_err(par.error());
    if (::unlinkat(par->dir.get(), par->name.c_str(), AT_REMOVEDIR) != 0) return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.unlink-file-at", 2, {
    DESC(d, p[0]);
    const std::string& path = p[1].str;
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(path)) return fs_err(EILSEQ);
    if (!d->mutate) return fs_err(EROFS);
    auto par = parent_of(*d, path);
    if (!par) return fs_err(par.error());
    if (::unlinkat(par->dir.get(), par->name.c_str(), 0) != 0) return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.symlink-at", 3, {
    DESC(d, p[0]);
    const std::string& target = p[1].str;
    const std::string& path = p[2].str;
    if (!d->is_dir) return fs_err(ENOTDIR);
    if (has_nul(target) || has_nul(path)) return fs_err(EILSEQ);
    if (!d->mutate) return fs_err(EROFS);
    // A link to an absolute path would name something outside every preopen.
    if (!target.empty() && target.front() == '/') return fs_err(EPERM);
    auto par = parent_of(*d, path);
    if (!par) return fs_err(par.error());
    if (::symlinkat(target.c_str(), par->dir.get(), par->name.c_str()) != 0) return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.link-at", 5, {
    DESC(d, p[0]);
    DESC(nd, p[3]);
    const std::string& old_path = p[2].str;
    const std::string& new_path = p[4].str;
    if (!d->is_dir || !nd->is_dir) return fs_err(ENOTDIR);
    if (has_nul(old_path) || has_nul(new_path)) return fs_err(EILSEQ);
    // Following a symlink for the source is not supported (as in Wasmtime).
    if (has_flag(p[1], "symlink-follow")) return fs_err(EINVAL);
    // Both sides must be writable: a hard link from a read-only tree into a writable one
    // would make the file writable.
    if (!d->mutate || !nd->mutate) return fs_err(EROFS);
    auto op = parent_of(*d, old_path);
    if (!op) return fs_err(op.error());
    if (ends_with_slash(op->name)) {
      // "name/" names a directory (through a symlink, possibly): never linkable.
      auto sb = sys::stat_beneath(d->fd->get(), old_path, true);
      return fs_err(sb ? EPERM : sb.error());
    }
    auto np = parent_of(*nd, new_path);
    if (!np) return fs_err(np.error());
    if (::linkat(op->dir.get(), op->name.c_str(), np->dir.get(), np->name.c_str(), 0) != 0)
      return fs_err(errno);
    return ok_unit();
  })
  DEF(kTypes, "[method]descriptor.rename-at", 4, {
    DESC(d, p[0]);
    DESC(nd, p[2]);
    const std::string& old_path = p[1].str;
    const std::string& new_path = p[3].str;
    if (!d->is_dir || !nd->is_dir) return fs_err(ENOTDIR);
    if (has_nul(old_path) || has_nul(new_path)) return fs_err(EILSEQ);
    if (!d->mutate || !nd->mutate) return fs_err(EROFS);
    auto op = parent_of(*d, old_path);
    if (!op) return fs_err(op.error());
    auto np = parent_of(*nd, new_path);
    if (!np) return fs_err(np.error());
    if (::renameat(op->dir.get(), op->name.c_str(), np->dir.get(), np->name.c_str()) != 0)
      return fs_err(errno);
    return ok_unit();
  })

  // ---- directory-entry-stream
  DEF(kTypes, "[method]directory-entry-stream.read-directory-entry", 1, {
    DirStream* ds = st.dirstreams.get(rep_of(p[0]));
    if (!ds) return host_trap("wasi:filesystem: unknown directory-entry-stream handle");
    if (!ds->dir) return Val::ok(Val::option(std::nullopt));
    for (;;) {
      errno = 0;
      dirent* e = ::readdir(ds->dir.get());
      if (!e) {
        if (errno != 0) return fs_err(errno);
        return Val::ok(Val::option(std::nullopt));
      }
      std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      if (!valid_utf8(name)) return fs_err(EILSEQ);
      const char* type = dirent_type_name(e->d_type);
      if (!type) {
        // A single component straight from the directory, not followed: stays inside it.
        struct stat sb {};
        type = ::fstatat(::dirfd(ds->dir.get()), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0
                   ? type_name(sb.st_mode)
                   : "unknown";
      }
      return Val::ok(Val::option(Val::record(
          {{"type", Val::enumeration(type)}, {"name", Val::string(std::string(name))}})));
    }
  })

  // ---- filesystem-error-code
  DEF(kTypes, "filesystem-error-code", 1, {
    const int* e = st.errors.get(rep_of(p[0]));
    if (!e) return Val::option(std::nullopt);
    return Val::option(Val::enumeration(error_code(*e)));
  })

  // ---- wasi:filesystem/preopens
  DEF(kPreopens, "get-directories", 0, {
    std::vector<Val> items;
    for (const auto& dir : st.c.preopens) {
      auto fd = dir.fd.dup();
      if (!fd) {
        return host_trap("wasi:filesystem: cannot duplicate preopened directory '" +
                         dir.preopen.guest + "': " + std::strerror(fd.error()));
      }
      Descriptor d;
      d.fd = std::make_shared<sys::Fd>(std::move(*fd));
      d.is_dir = true;
      d.read = true;
      d.write = false;
      d.mutate = !dir.preopen.read_only;
      d.flags.emplace_back("read");
      if (d.mutate) d.flags.emplace_back("mutate-directory");
      items.push_back(Val::tuple({own(st.rt_descriptor, st.descriptors.add(std::move(d))),
                                  Val::string(dir.preopen.guest)}));
    }
    return Val::list(std::move(items));
  })
#undef DESC
#undef DEF
  return {};
}

}  // namespace flotilla::wasi::p2
