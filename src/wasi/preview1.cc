// WASI preview1 (`wasi_snapshot_preview1`) for core modules: a native layer over the same
// confined view of the host as the WASI 0.2 interfaces (Ctx, sys::open_beneath).
//
// Semantics follow Wasmtime's preview1 host: no rights model (fd_fdstat_set_rights answers
// NOTSUP, fd_fdstat_get reports the rights an fd's open mode allows), `.` and `..` first in
// fd_readdir, stdio never seekable. Guest pointers are checked against the exported memory;
// a bad pointer is ERRNO_FAULT, never a host crash.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctx.h"

namespace flotilla::wasi {

namespace {

using engine::Caller;
using engine::Val;
using engine::ValType;

// ---- preview1 constants
enum Errno : uint16_t {
  kSuccess = 0,
  k2big = 1,
  kAcces = 2,
  kAddrinuse = 3,
  kAddrnotavail = 4,
  kAfnosupport = 5,
  kAgain = 6,
  kAlready = 7,
  kBadf = 8,
  kBadmsg = 9,
  kBusy = 10,
  kCanceled = 11,
  kChild = 12,
  kConnaborted = 13,
  kConnrefused = 14,
  kConnreset = 15,
  kDeadlk = 16,
  kDestaddrreq = 17,
  kDom = 18,
  kDquot = 19,
  kExist = 20,
  kFault = 21,
  kFbig = 22,
  kHostunreach = 23,
  kIdrm = 24,
  kIlseq = 25,
  kInprogress = 26,
  kIntr = 27,
  kInval = 28,
  kIo = 29,
  kIsconn = 30,
  kIsdir = 31,
  kLoop = 32,
  kMfile = 33,
  kMlink = 34,
  kMsgsize = 35,
  kMultihop = 36,
  kNametoolong = 37,
  kNetdown = 38,
  kNetreset = 39,
  kNetunreach = 40,
  kNfile = 41,
  kNobufs = 42,
  kNodev = 43,
  kNoent = 44,
  kNoexec = 45,
  kNolck = 46,
  kNolink = 47,
  kNomem = 48,
  kNomsg = 49,
  kNoprotoopt = 50,
  kNospc = 51,
  kNosys = 52,
  kNotconn = 53,
  kNotdir = 54,
  kNotempty = 55,
  kNotrecoverable = 56,
  kNotsock = 57,
  kNotsup = 58,
  kNotty = 59,
  kNxio = 60,
  kOverflow = 61,
  kOwnerdead = 62,
  kPerm = 63,
  kPipe = 64,
  kProto = 65,
  kProtonosupport = 66,
  kPrototype = 67,
  kRange = 68,
  kRofs = 69,
  kSpipe = 70,
  kSrch = 71,
  kStale = 72,
  kTimedout = 73,
  kTxtbsy = 74,
  kXdev = 75,
  kNotcapable = 76,
};

uint16_t from_errno(int e) {
  switch (e) {
    case 0:
      return kSuccess;
    case E2BIG:
      return k2big;
    case EACCES:
      return kAcces;
    case EADDRINUSE:
      return kAddrinuse;
    case EADDRNOTAVAIL:
      return kAddrnotavail;
    case EAFNOSUPPORT:
      return kAfnosupport;
    case EAGAIN:
      return kAgain;
    case EALREADY:
      return kAlready;
    case EBADF:
      return kBadf;
    case EBADMSG:
      return kBadmsg;
    case EBUSY:
      return kBusy;
    case ECANCELED:
      return kCanceled;
    case ECHILD:
      return kChild;
    case ECONNABORTED:
      return kConnaborted;
    case ECONNREFUSED:
      return kConnrefused;
    case ECONNRESET:
      return kConnreset;
    case EDEADLK:
      return kDeadlk;
    case EDESTADDRREQ:
      return kDestaddrreq;
    case EDOM:
      return kDom;
    case EDQUOT:
      return kDquot;
    case EEXIST:
      return kExist;
    case EFAULT:
      return kFault;
    case EFBIG:
      return kFbig;
    case EHOSTUNREACH:
      return kHostunreach;
    case EIDRM:
      return kIdrm;
    case EILSEQ:
      return kIlseq;
    case EINPROGRESS:
      return kInprogress;
    case EINTR:
      return kIntr;
    case EINVAL:
      return kInval;
    case EIO:
      return kIo;
    case EISCONN:
      return kIsconn;
    case EISDIR:
      return kIsdir;
    case ELOOP:
      return kLoop;
    case EMFILE:
      return kMfile;
    case EMLINK:
      return kMlink;
    case EMSGSIZE:
      return kMsgsize;
    case EMULTIHOP:
      return kMultihop;
    case ENAMETOOLONG:
      return kNametoolong;
    case ENETDOWN:
      return kNetdown;
    case ENETRESET:
      return kNetreset;
    case ENETUNREACH:
      return kNetunreach;
    case ENFILE:
      return kNfile;
    case ENOBUFS:
      return kNobufs;
    case ENODEV:
      return kNodev;
    case ENOENT:
      return kNoent;
    case ENOEXEC:
      return kNoexec;
    case ENOLCK:
      return kNolck;
    case ENOLINK:
      return kNolink;
    case ENOMEM:
      return kNomem;
    case ENOMSG:
      return kNomsg;
    case ENOPROTOOPT:
      return kNoprotoopt;
    case ENOSPC:
      return kNospc;
    case ENOSYS:
      return kNosys;
    case ENOTCONN:
      return kNotconn;
    case ENOTDIR:
      return kNotdir;
    case ENOTEMPTY:
      return kNotempty;
    case ENOTRECOVERABLE:
      return kNotrecoverable;
    case ENOTSOCK:
      return kNotsock;
    case ENOTSUP:
      return kNotsup;
    case ENOTTY:
      return kNotty;
    case ENXIO:
      return kNxio;
    case EOVERFLOW:
      return kOverflow;
    case EOWNERDEAD:
      return kOwnerdead;
    case EPERM:
      return kPerm;
    case EPIPE:
      return kPipe;
    case EPROTO:
      return kProto;
    case EPROTONOSUPPORT:
      return kProtonosupport;
    case EPROTOTYPE:
      return kPrototype;
    case ERANGE:
      return kRange;
    case EROFS:
      return kRofs;
    case ESPIPE:
      return kSpipe;
    case ESRCH:
      return kSrch;
    case ESTALE:
      return kStale;
    case ETIMEDOUT:
      return kTimedout;
    case ETXTBSY:
      return kTxtbsy;
    case EXDEV:
      return kXdev;
    default:
      return kIo;
  }
}

enum Filetype : uint8_t {
  kFtUnknown = 0,
  kFtBlock = 1,
  kFtChar = 2,
  kFtDir = 3,
  kFtReg = 4,
  kFtSockDgram = 5,
  kFtSockStream = 6,
  kFtSymlink = 7,
};

uint8_t filetype_of(mode_t m) {
  if (S_ISREG(m)) return kFtReg;
  if (S_ISDIR(m)) return kFtDir;
  if (S_ISLNK(m)) return kFtSymlink;
  if (S_ISCHR(m)) return kFtChar;
  if (S_ISBLK(m)) return kFtBlock;
  if (S_ISSOCK(m)) return kFtSockStream;
  return kFtUnknown;
}

// fdflags
constexpr uint16_t kFdAppend = 1, kFdDsync = 2, kFdNonblock = 4, kFdRsync = 8, kFdSync = 16;
// oflags
constexpr uint16_t kOCreat = 1, kODirectory = 2, kOExcl = 4, kOTrunc = 8;
// lookupflags
constexpr uint32_t kSymlinkFollow = 1;
// fstflags
constexpr uint16_t kAtim = 1, kAtimNow = 2, kMtim = 4, kMtimNow = 8;

// rights
constexpr uint64_t R(int bit) { return uint64_t{1} << bit; }
constexpr uint64_t kRFdDatasync = R(0), kRFdRead = R(1), kRFdSeek = R(2), kRFdFdstatSetFlags = R(3),
                   kRFdSync = R(4), kRFdTell = R(5), kRFdWrite = R(6), kRFdAdvise = R(7),
                   kRFdAllocate = R(8), kRFdReaddir = R(14), kRFdFilestatGet = R(21),
                   kRFdFilestatSetSize = R(22), kRFdFilestatSetTimes = R(23),
                   kRPollFdReadwrite = R(27);
constexpr uint64_t kFileRights = kRFdDatasync | kRFdRead | kRFdSeek | kRFdFdstatSetFlags |
                                 kRFdSync | kRFdTell | kRFdWrite | kRFdAdvise | kRFdAllocate |
                                 kRFdFilestatGet | kRFdFilestatSetSize | kRFdFilestatSetTimes |
                                 kRPollFdReadwrite;
// Every path_* right and directory operation: bits 9..20 and 24..26, plus readdir and stat;
// not path_filestat_set_size (bit 19): there is no truncation by path (as in Wasmtime).
constexpr uint64_t kDirRights = kRFdFdstatSetFlags | kRFdSync | kRFdAdvise | R(9) | R(10) | R(11) |
                                R(12) | R(13) | kRFdReaddir | R(15) | R(16) | R(17) | R(18) |
                                R(20) | kRFdFilestatGet | kRFdFilestatSetTimes | R(24) | R(25) |
                                R(26);

// ---- guest memory

struct Mem {
  uint8_t* base = nullptr;
  uint64_t size = 0;
  bool ok(uint64_t p, uint64_t n) const { return p <= size && n <= size - p; }
  template <typename T>
  T load(uint32_t p) const {
    T v;
    std::memcpy(&v, base + p, sizeof v);
    return v;
  }
  template <typename T>
  void store(uint32_t p, T v) const {
    std::memcpy(base + p, &v, sizeof v);
  }
};

// An open preview1 descriptor.
struct Entry {
  enum class Kind { Stdio, File, Dir } kind = Kind::File;
  sys::Fd fd;  // -1 for stdin without input / stdout, stderr discarded
  int stdio = -1;
  bool read = false, write = false;
  uint16_t fdflags = 0;
  uint8_t filetype = kFtUnknown;
  bool mutate = true;   // false below a read-only preopen
  std::string preopen;  // guest name, for preopened directories
  bool is_preopen = false;
};

struct P1 {
  std::shared_ptr<Ctx> ctx;
  CtxImpl& c;
  std::map<uint32_t, Entry> fds;
  explicit P1(std::shared_ptr<Ctx> x) : ctx(std::move(x)), c(ctx->impl()) {}

  Entry* get(uint32_t fd) {
    auto it = fds.find(fd);
    return it == fds.end() ? nullptr : &it->second;
  }
  uint32_t add(Entry e) {
    uint32_t n = 3;
    for (const auto& [k, v] : fds) {
      (void)v;
      if (k < n) continue;
      if (k == n) {
        ++n;
        continue;
      }
      break;
    }
    fds.emplace(n, std::move(e));
    return n;
  }
};

using Args = std::span<const Val>;

// The result of a preview1 function: an errno, or an error that unwinds the guest (exit, trap).
using Ret = engine::Result<uint16_t>;

uint32_t a32(Args a, size_t i) { return a[i].u32(); }
uint64_t a64(Args a, size_t i) { return a[i].u64(); }

// Reads a guest path; false on a bad pointer. Paths with NUL bytes are rejected as ILSEQ.
bool guest_string(const Mem& m, uint32_t p, uint32_t n, std::string& out) {
  if (!m.ok(p, n)) return false;
  out.assign(reinterpret_cast<const char*>(m.base + p), n);
  return true;
}

struct Iov {
  uint32_t buf, len;
};
// Reads an iovec array; false on a bad pointer (including any buffer out of bounds).
bool iovecs(const Mem& m, uint32_t p, uint32_t n, std::vector<Iov>& out) {
  if (!m.ok(p, uint64_t{n} * 8)) return false;
  out.clear();
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    Iov v{m.load<uint32_t>(p + i * 8), m.load<uint32_t>(p + i * 8 + 4)};
    if (!m.ok(v.buf, v.len)) return false;
    out.push_back(v);
  }
  return true;
}

std::vector<iovec> host_iov(const Mem& m, const std::vector<Iov>& v) {
  std::vector<iovec> out;
  out.reserve(v.size());
  for (const auto& i : v) out.push_back(iovec{m.base + i.buf, i.len});
  return out;
}

uint64_t ts_ns(const timespec& t) {
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

void write_filestat(const Mem& m, uint32_t p, const struct stat& st) {
  std::memset(m.base + p, 0, 64);
  m.store<uint64_t>(p, st.st_dev);
  m.store<uint64_t>(p + 8, st.st_ino);
  m.store<uint8_t>(p + 16, filetype_of(st.st_mode));
  m.store<uint64_t>(p + 24, st.st_nlink);
  m.store<uint64_t>(p + 32, static_cast<uint64_t>(st.st_size));
  m.store<uint64_t>(p + 40, ts_ns(st.st_atim));
  m.store<uint64_t>(p + 48, ts_ns(st.st_mtim));
  m.store<uint64_t>(p + 56, ts_ns(st.st_ctim));
}

// utimensat/futimens times from preview1 timestamps and fstflags; EINVAL for contradictions.
int make_times(uint64_t atim, uint64_t mtim, uint16_t fst, timespec out[2]) {
  if (fst & ~(kAtim | kAtimNow | kMtim | kMtimNow)) return EINVAL;
  if ((fst & kAtim) && (fst & kAtimNow)) return EINVAL;
  if ((fst & kMtim) && (fst & kMtimNow)) return EINVAL;
  auto one = [](bool set, bool now, uint64_t ns, timespec& t) {
    if (now) {
      t.tv_sec = 0;
      t.tv_nsec = UTIME_NOW;
    } else if (set) {
      t.tv_sec = static_cast<time_t>(ns / 1000000000ull);
      t.tv_nsec = static_cast<long>(ns % 1000000000ull);
    } else {
      t.tv_sec = 0;
      t.tv_nsec = UTIME_OMIT;
    }
  };
  one(fst & kAtim, fst & kAtimNow, atim, out[0]);
  one(fst & kMtim, fst & kMtimNow, mtim, out[1]);
  return 0;
}

int host_fd(const Entry& e) { return e.fd.get(); }

// Drops the trailing slashes of a final path component; true if there were any.
bool strip_slashes(std::string& name) {
  bool had = !name.empty() && name.back() == '/';
  while (!name.empty() && name.back() == '/') name.pop_back();
  return had;
}

}  // namespace

engine::Result<void> add_preview1(engine::Linker& linker, engine::Store& store,
                                  std::shared_ptr<Ctx> ctx) {
  auto s = std::make_shared<P1>(std::move(ctx));
  // Standard streams: fds 0-2, duplicates of the context's.
  const sys::Fd* stdio[3] = {&s->c.stdin_fd, &s->c.stdout_fd, &s->c.stderr_fd};
  for (int i = 0; i < 3; ++i) {
    Entry e;
    e.kind = Entry::Kind::Stdio;
    e.stdio = i;
    e.read = i == 0;
    e.write = i != 0;
    if (*stdio[i]) {
      auto d = stdio[i]->dup();
      if (!d) {
        return engine::make_error(
            engine::ErrorKind::Io,
            std::string("wasi: cannot duplicate stdio: ") + std::strerror(d.error()));
      }
      e.fd = std::move(*d);
      struct stat st {};
      if (::fstat(e.fd.get(), &st) == 0) e.filetype = filetype_of(st.st_mode);
      if (e.filetype == kFtReg || e.filetype == kFtDir) e.filetype = kFtUnknown;
    } else {
      e.filetype = kFtChar;
    }
    s->fds.emplace(static_cast<uint32_t>(i), std::move(e));
  }
  // Preopened directories from fd 3 on, in configuration order.
  uint32_t next = 3;
  for (const auto& d : s->c.preopens) {
    auto dup = d.fd.dup();
    if (!dup) {
      return engine::make_error(
          engine::ErrorKind::Io,
          std::string("wasi: cannot duplicate preopen: ") + std::strerror(dup.error()));
    }
    Entry e;
    e.kind = Entry::Kind::Dir;
    e.fd = std::move(*dup);
    e.read = true;
    e.filetype = kFtDir;
    e.mutate = !d.preopen.read_only;
    e.preopen = d.preopen.guest;
    e.is_preopen = true;
    s->fds.emplace(next++, std::move(e));
  }

  using Fn = std::function<Ret(P1&, const Mem&, Args)>;
  // Defines `name` with parameter types from `sig` ('i' i32, 'I' i64), returning an i32 errno.
  auto def = [&](const char* name, const char* sig, Fn fn) -> engine::Result<void> {
    engine::FuncType type;
    for (const char* c = sig; *c; ++c)
      type.params.push_back(*c == 'I' ? ValType::I64 : ValType::I32);
    type.results.push_back(ValType::I32);
    std::string fname = name;
    return linker.define_func(
        store, "wasi_snapshot_preview1", name, std::move(type),
        [s, fn = std::move(fn), fname](Caller& caller, std::span<const Val> params,
                                       std::span<Val> results) -> engine::Result<void> {
          Mem m;
          if (auto ext = caller.get_export("memory");
              ext && ext->kind == engine::ExternKind::Memory) {
            m.base = ext->memory.data();
            m.size = ext->memory.size();
          }
          auto r = fn(*s, m, params);
          if (!r) return Unexpected(r.error());
          results[0] = Val::i32(*r);
          return {};
        });
  };
  engine::Result<void> r;
#define P1FN(name, sig, ...) \
  if (r = def(name, sig, [](P1 & s, const Mem& m, Args a) -> Ret __VA_ARGS__); !r) return r;

  // ---- args and environment
  auto sizes = [](const std::vector<std::string>& v, const Mem& m, uint32_t pcount,
                  uint32_t psize) -> uint16_t {
    if (!m.ok(pcount, 4) || !m.ok(psize, 4)) return kFault;
    uint64_t total = 0;
    for (const auto& x : v) total += x.size() + 1;
    m.store<uint32_t>(pcount, static_cast<uint32_t>(v.size()));
    m.store<uint32_t>(psize, static_cast<uint32_t>(total));
    return kSuccess;
  };
  auto fill = [](const std::vector<std::string>& v, const Mem& m, uint32_t ptrs,
                 uint32_t buf) -> uint16_t {
    uint64_t total = 0;
    for (const auto& x : v) total += x.size() + 1;
    if (!m.ok(ptrs, uint64_t{4} * v.size()) || !m.ok(buf, total)) return kFault;
    uint32_t at = buf;
    for (size_t i = 0; i < v.size(); ++i) {
      m.store<uint32_t>(ptrs + static_cast<uint32_t>(i) * 4, at);
      std::memcpy(m.base + at, v[i].c_str(), v[i].size() + 1);
      at += static_cast<uint32_t>(v[i].size() + 1);
    }
    return kSuccess;
  };
  auto env_strings = [](const P1& p) {
    std::vector<std::string> v;
    for (const auto& [k, val] : p.c.config.env) v.push_back(k + "=" + val);
    return v;
  };
  if (r = def("args_sizes_get", "ii",
              [sizes](P1& p, const Mem& m, Args a) -> Ret {
                return sizes(p.c.config.args, m, a32(a, 0), a32(a, 1));
              });
      !r)
    return r;
  if (r = def("args_get", "ii",
              [fill](P1& p, const Mem& m, Args a) -> Ret {
                return fill(p.c.config.args, m, a32(a, 0), a32(a, 1));
              });
      !r)
    return r;
  if (r = def("environ_sizes_get", "ii",
              [sizes, env_strings](P1& p, const Mem& m, Args a) -> Ret {
                return sizes(env_strings(p), m, a32(a, 0), a32(a, 1));
              });
      !r)
    return r;
  if (r = def("environ_get", "ii",
              [fill, env_strings](P1& p, const Mem& m, Args a) -> Ret {
                return fill(env_strings(p), m, a32(a, 0), a32(a, 1));
              });
      !r)
    return r;

  // ---- clocks, random, scheduling, process
  auto clock_of = [](uint32_t id, clockid_t& out) {
    switch (id) {
      case 0:
        out = CLOCK_REALTIME;
        return true;
      case 1:
        out = CLOCK_MONOTONIC;
        return true;
      case 2:
        out = CLOCK_PROCESS_CPUTIME_ID;
        return true;
      case 3:
        out = CLOCK_THREAD_CPUTIME_ID;
        return true;
      default:
        return false;
    }
  };
  // clock_res_get(id, *out) and clock_time_get(id, precision, *out).
  auto clock_query = [clock_of](const Mem& m, uint32_t which, uint32_t out, bool res) -> Ret {
    clockid_t id;
    if (!clock_of(which, id)) return kInval;
    if (!m.ok(out, 8)) return kFault;
    timespec ts{};
    if ((res ? ::clock_getres(id, &ts) : ::clock_gettime(id, &ts)) != 0) return from_errno(errno);
    m.store<uint64_t>(out, ts_ns(ts));
    return kSuccess;
  };
  if (r = def("clock_res_get", "ii",
              [clock_query](P1&, const Mem& m, Args a) -> Ret {
                return clock_query(m, a32(a, 0), a32(a, 1), true);
              });
      !r)
    return r;
  if (r = def("clock_time_get", "iIi",
              [clock_query](P1&, const Mem& m, Args a) -> Ret {
                return clock_query(m, a32(a, 0), a32(a, 2), false);
              });
      !r)
    return r;
  P1FN("random_get", "ii", {
    (void)s;
    uint32_t p = a32(a, 0), n = a32(a, 1);
    if (!m.ok(p, n)) return kFault;
    uint32_t done = 0;
    while (done < n) {
      ssize_t got = ::getrandom(m.base + p + done, n - done, 0);
      if (got < 0) {
        if (errno == EINTR) continue;
        return from_errno(errno);
      }
      done += static_cast<uint32_t>(got);
    }
    return kSuccess;
  })
  P1FN("sched_yield", "", {
    (void)s;
    (void)m;
    (void)a;
    ::sched_yield();
    return kSuccess;
  })
  P1FN("proc_raise", "i", {
    (void)s;
    (void)m;
    (void)a;
    return kNotsup;
  }) {
    engine::FuncType type;
    type.params.push_back(ValType::I32);
    if (r = linker.define_func(
            store, "wasi_snapshot_preview1", "proc_exit", std::move(type),
            [s](Caller&, std::span<const Val> params, std::span<Val>) -> engine::Result<void> {
              return Unexpected(s->c.exit(params[0].i32()));
            });
        !r)
      return r;
  }

  // ---- descriptors
  P1FN("fd_close", "i", {
    (void)m;
    auto it = s.fds.find(a32(a, 0));
    if (it == s.fds.end()) return kBadf;
    s.fds.erase(it);
    return kSuccess;
  })
  P1FN("fd_renumber", "ii", {
    (void)m;
    uint32_t from = a32(a, 0), to = a32(a, 1);
    auto f = s.fds.find(from);
    auto t = s.fds.find(to);
    if (f == s.fds.end() || t == s.fds.end()) return kBadf;
    if (from == to) return kSuccess;
    t->second = std::move(f->second);
    s.fds.erase(f);
    return kSuccess;
  })
  P1FN("fd_fdstat_get", "ii", {
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    uint32_t p = a32(a, 1);
    if (!m.ok(p, 24)) return kFault;
    uint64_t base = 0, inheriting = 0;
    switch (e->kind) {
      case Entry::Kind::Stdio:
        base = (e->read ? kRFdRead : kRFdWrite) | kRPollFdReadwrite | kRFdFdstatSetFlags;
        break;
      case Entry::Kind::File:
        base = kFileRights;
        if (!e->read) base &= ~kRFdRead;
        if (!e->write) base &= ~(kRFdWrite | kRFdAllocate | kRFdFilestatSetSize);
        break;
      case Entry::Kind::Dir:
        base = kDirRights;
        inheriting = kDirRights | kFileRights;
        break;
    }
    uint16_t flags = e->fdflags;
    if (e->kind != Entry::Kind::Dir && e->fd) {
      int fl = ::fcntl(host_fd(*e), F_GETFL);
      if (fl >= 0) {
        flags = 0;
        if (fl & O_APPEND) flags |= kFdAppend;
        if (fl & O_NONBLOCK) flags |= kFdNonblock;
        if ((fl & O_SYNC) == O_SYNC)
          flags |= kFdSync | kFdRsync;
        else if (fl & O_DSYNC)
          flags |= kFdDsync;
        if (e->kind == Entry::Kind::Stdio)
          flags &= static_cast<uint16_t>(~kFdNonblock) | (e->fdflags & kFdNonblock);
      }
    }
    std::memset(m.base + p, 0, 24);
    m.store<uint8_t>(p, e->filetype);
    m.store<uint16_t>(p + 2, flags);
    m.store<uint64_t>(p + 8, base);
    m.store<uint64_t>(p + 16, inheriting);
    return kSuccess;
  })
  P1FN("fd_fdstat_set_flags", "ii", {
    (void)m;
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    uint32_t flags = a32(a, 1);
    if (e->kind == Entry::Kind::Dir) return kBadf;
    // Only append and nonblock can change on an open file (as in Wasmtime).
    if (flags & (kFdDsync | kFdRsync | kFdSync)) return kInval;
    if (e->kind == Entry::Kind::Stdio) {
      e->fdflags = static_cast<uint16_t>(flags & kFdNonblock);
      return (flags & kFdAppend) ? kInval : kSuccess;
    }
    int fl = ::fcntl(host_fd(*e), F_GETFL);
    if (fl < 0) return from_errno(errno);
    fl &= ~(O_APPEND | O_NONBLOCK);
    if (flags & kFdAppend) fl |= O_APPEND;
    if (flags & kFdNonblock) fl |= O_NONBLOCK;
    if (::fcntl(host_fd(*e), F_SETFL, fl) != 0) return from_errno(errno);
    e->fdflags = static_cast<uint16_t>(flags);
    return kSuccess;
  })
  P1FN("fd_fdstat_set_rights", "iII", {
    (void)m;
    if (!s.get(a32(a, 0))) return kBadf;
    return kNotsup;
  })
  P1FN("fd_prestat_get", "ii", {
    Entry* e = s.get(a32(a, 0));
    if (!e || !e->is_preopen) return kBadf;
    uint32_t p = a32(a, 1);
    if (!m.ok(p, 8)) return kFault;
    m.store<uint32_t>(p, 0);
    m.store<uint32_t>(p + 4, static_cast<uint32_t>(e->preopen.size()));
    return kSuccess;
  })
  P1FN("fd_prestat_dir_name", "iii", {
    Entry* e = s.get(a32(a, 0));
    if (!e || !e->is_preopen) return kBadf;
    uint32_t p = a32(a, 1), n = a32(a, 2);
    if (n < e->preopen.size()) return kNametoolong;
    if (!m.ok(p, e->preopen.size())) return kFault;
    std::memcpy(m.base + p, e->preopen.data(), e->preopen.size());
    return kSuccess;
  })

  // Reads into or writes from guest iovecs at `offset` (-1: the descriptor's position).
  auto rw = [](P1& p, const Mem& m, Args a, bool write, bool positioned) -> uint16_t {
    Entry* e = p.get(a32(a, 0));
    if (!e) return kBadf;
    uint32_t out = a32(a, positioned ? 4 : 3);
    if (e->kind == Entry::Kind::Dir) return kIsdir;
    if (write ? !e->write : !e->read) return kBadf;
    if (positioned && e->kind == Entry::Kind::Stdio) return kSpipe;
    std::vector<Iov> iov;
    if (!iovecs(m, a32(a, 1), a32(a, 2), iov) || !m.ok(out, 4)) return kFault;
    auto hv = host_iov(m, iov);
    // Stdio without a host descriptor: empty input, discarded output.
    if (!e->fd) {
      uint64_t n = 0;
      if (write)
        for (const auto& v : iov) n += v.len;
      m.store<uint32_t>(out, static_cast<uint32_t>(n));
      return kSuccess;
    }
    int fd = host_fd(*e);
    ssize_t n;
    if (write && !positioned) {
      // Write everything (stdout may be a non-blocking pipe).
      uint64_t total = 0;
      size_t idx = 0;
      while (idx < hv.size()) {
        if (hv[idx].iov_len == 0) {
          ++idx;
          continue;
        }
        if (e->kind == Entry::Kind::Stdio && !(e->fdflags & kFdNonblock))
          p.c.before_io(fd, POLLOUT);
        ssize_t w = ::writev(fd, hv.data() + idx,
                             static_cast<int>(std::min<size_t>(hv.size() - idx, IOV_MAX)));
        if (w < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN && !(e->fdflags & kFdNonblock)) {
            p.c.wait_fd(fd, POLLOUT);
            continue;
          }
          if (total > 0) break;
          return from_errno(errno);
        }
        total += static_cast<uint64_t>(w);
        size_t left = static_cast<size_t>(w);
        while (idx < hv.size() && left >= hv[idx].iov_len) {
          left -= hv[idx].iov_len;
          ++idx;
        }
        if (idx < hv.size()) {
          hv[idx].iov_base = static_cast<uint8_t*>(hv[idx].iov_base) + left;
          hv[idx].iov_len -= left;
        }
        if (e->fdflags & kFdNonblock) break;
      }
      m.store<uint32_t>(out, static_cast<uint32_t>(total));
      return kSuccess;
    }
    for (;;) {
      if (positioned) {
        int64_t off = static_cast<int64_t>(a64(a, 3));
        if (off < 0) return kInval;
        // pwritev on an O_APPEND file appends on Linux; preview1 wants the offset honoured
        // the same way Wasmtime does (append wins), so this follows the kernel.
        n = write ? ::pwritev(fd, hv.data(), static_cast<int>(hv.size()), off)
                  : ::preadv(fd, hv.data(), static_cast<int>(hv.size()), off);
      } else {
        if (e->kind == Entry::Kind::Stdio && !(e->fdflags & kFdNonblock))
          p.c.before_io(fd, static_cast<short>(write ? POLLOUT : POLLIN));
        n = ::readv(fd, hv.data(), static_cast<int>(hv.size()));
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN && e->kind == Entry::Kind::Stdio &&
          !(e->fdflags & kFdNonblock)) {
        p.c.wait_fd(fd, static_cast<short>(write ? POLLOUT : POLLIN));
        continue;
      }
      break;
    }
    if (n < 0) return from_errno(errno);
    m.store<uint32_t>(out, static_cast<uint32_t>(n));
    return kSuccess;
  };
  if (r = def("fd_read", "iiii",
              [rw](P1& p, const Mem& m, Args a) -> Ret { return rw(p, m, a, false, false); });
      !r)
    return r;
  if (r = def("fd_write", "iiii",
              [rw](P1& p, const Mem& m, Args a) -> Ret { return rw(p, m, a, true, false); });
      !r)
    return r;
  if (r = def("fd_pread", "iiiIi",
              [rw](P1& p, const Mem& m, Args a) -> Ret { return rw(p, m, a, false, true); });
      !r)
    return r;
  if (r = def("fd_pwrite", "iiiIi",
              [rw](P1& p, const Mem& m, Args a) -> Ret { return rw(p, m, a, true, true); });
      !r)
    return r;

  P1FN("fd_seek", "iIii", {
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    if (e->kind == Entry::Kind::Dir) return kIsdir;
    if (e->kind == Entry::Kind::Stdio) return kSpipe;
    uint32_t whence = a32(a, 2), out = a32(a, 3);
    int w;
    switch (whence) {
      case 0:
        w = SEEK_SET;
        break;
      case 1:
        w = SEEK_CUR;
        break;
      case 2:
        w = SEEK_END;
        break;
      default:
        return kInval;
    }
    if (!m.ok(out, 8)) return kFault;
    off_t pos = ::lseek(host_fd(*e), static_cast<off_t>(a64(a, 1)), w);
    if (pos < 0) return from_errno(errno);
    m.store<uint64_t>(out, static_cast<uint64_t>(pos));
    return kSuccess;
  })
  P1FN("fd_tell", "ii", {
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    if (e->kind == Entry::Kind::Dir) return kIsdir;
    if (e->kind == Entry::Kind::Stdio) return kSpipe;
    if (!m.ok(a32(a, 1), 8)) return kFault;
    off_t pos = ::lseek(host_fd(*e), 0, SEEK_CUR);
    if (pos < 0) return from_errno(errno);
    m.store<uint64_t>(a32(a, 1), static_cast<uint64_t>(pos));
    return kSuccess;
  })
  P1FN("fd_advise", "iIIi", {
    (void)m;
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    if (e->kind == Entry::Kind::Dir) return kBadf;
    uint32_t advice = a32(a, 3);
    static const int kAdvice[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                                  POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE};
    if (advice > 5) return kInval;
    if (e->kind == Entry::Kind::Stdio) return kSpipe;
    int rc = ::posix_fadvise(host_fd(*e), static_cast<off_t>(a64(a, 1)),
                             static_cast<off_t>(a64(a, 2)), kAdvice[advice]);
    return from_errno(rc);
  })
  P1FN("fd_allocate", "iII", {
    (void)m;
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    if (e->kind != Entry::Kind::File) return e->kind == Entry::Kind::Dir ? kIsdir : kBadf;
    // Wasmtime no longer implements fd_allocate; neither does Flotilla.
    return kNotsup;
  })
  auto sync = [](P1& p, Args a, bool data) -> uint16_t {
    Entry* e = p.get(a32(a, 0));
    if (!e) return kBadf;
    if (!e->fd) return kInval;
    int rc = data ? ::fdatasync(host_fd(*e)) : ::fsync(host_fd(*e));
    if (rc != 0) return from_errno(errno);
    return kSuccess;
  };
  if (r = def("fd_sync", "i",
              [sync](P1& p, const Mem&, Args a) -> Ret { return sync(p, a, false); });
      !r)
    return r;
  if (r = def("fd_datasync", "i",
              [sync](P1& p, const Mem&, Args a) -> Ret { return sync(p, a, true); });
      !r)
    return r;
  P1FN("fd_filestat_get", "ii", {
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    uint32_t p = a32(a, 1);
    if (!m.ok(p, 64)) return kFault;
    struct stat st {};
    if (!e->fd) {
      st.st_mode = S_IFCHR;
    } else if (::fstat(host_fd(*e), &st) != 0) {
      return from_errno(errno);
    }
    write_filestat(m, p, st);
    if (e->kind == Entry::Kind::Stdio) m.store<uint8_t>(p + 16, e->filetype);
    return kSuccess;
  })
  P1FN("fd_filestat_set_size", "iI", {
    (void)m;
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    if (e->kind == Entry::Kind::Dir) return kIsdir;
    if (e->kind == Entry::Kind::Stdio || !e->write) return kBadf;
    int64_t size = static_cast<int64_t>(a64(a, 1));
    if (size < 0) return kInval;
    if (::ftruncate(host_fd(*e), size) != 0) return from_errno(errno);
    return kSuccess;
  })
  P1FN("fd_filestat_set_times", "iIIi", {
    (void)m;
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    timespec t[2];
    if (int err = make_times(a64(a, 1), a64(a, 2), static_cast<uint16_t>(a32(a, 3)), t))
      return from_errno(err);
    if (!e->fd) return kBadf;
    if (e->kind == Entry::Kind::Dir && !e->mutate) return kRofs;
    if (::futimens(host_fd(*e), t) != 0) return from_errno(errno);
    return kSuccess;
  })

  // ---- directories
  P1FN("fd_readdir", "iiiIi", {
    Entry* e = s.get(a32(a, 0));
    if (!e) return kBadf;
    if (e->kind != Entry::Kind::Dir) return kNotdir;
    uint32_t buf = a32(a, 1), len = a32(a, 2), used_p = a32(a, 4);
    uint64_t cookie = a64(a, 3);
    if (!m.ok(buf, len) || !m.ok(used_p, 4)) return kFault;
    struct Dent {
      uint64_t ino;
      uint8_t type;
      std::string name;
    };
    std::vector<Dent> list;
    struct stat self {};
    if (::fstat(host_fd(*e), &self) != 0) return from_errno(errno);
    list.push_back({self.st_ino, kFtDir, "."});
    {
      struct stat up {};
      uint64_t up_ino = self.st_ino;
      // The parent of a preopen is outside the sandbox: report the directory itself.
      if (!e->is_preopen && ::fstatat(host_fd(*e), "..", &up, 0) == 0) up_ino = up.st_ino;
      list.push_back({up_ino, kFtDir, ".."});
    }
    int dfd = ::openat(host_fd(*e), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return from_errno(errno);
    DIR* d = ::fdopendir(dfd);
    if (!d) {
      int err = errno;
      ::close(dfd);
      return from_errno(err);
    }
    std::vector<Dent> rest;
    errno = 0;
    while (dirent* de = ::readdir(d)) {
      std::string name = de->d_name;
      if (name == "." || name == "..") continue;
      uint8_t type = kFtUnknown;
      switch (de->d_type) {
        case DT_REG:
          type = kFtReg;
          break;
        case DT_DIR:
          type = kFtDir;
          break;
        case DT_LNK:
          type = kFtSymlink;
          break;
        case DT_CHR:
          type = kFtChar;
          break;
        case DT_BLK:
          type = kFtBlock;
          break;
        case DT_SOCK:
          type = kFtSockStream;
          break;
        default: {
          struct stat st {};
          if (::fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            type = filetype_of(st.st_mode);
        }
      }
      rest.push_back({de->d_ino, type, std::move(name)});
    }
    ::closedir(d);
    // A stable order, so that cookies stay meaningful between calls.
    std::sort(rest.begin(), rest.end(),
              [](const Dent& x, const Dent& y) { return x.name < y.name; });
    for (auto& x : rest) list.push_back(std::move(x));
    uint32_t used = 0;
    for (uint64_t i = cookie; i < list.size() && used < len; ++i) {
      const Dent& de = list[i];
      uint8_t hdr[24] = {};
      uint64_t nextc = i + 1;
      uint32_t namlen = static_cast<uint32_t>(de.name.size());
      std::memcpy(hdr, &nextc, 8);
      std::memcpy(hdr + 8, &de.ino, 8);
      std::memcpy(hdr + 16, &namlen, 4);
      hdr[20] = de.type;
      uint32_t n = std::min<uint32_t>(24, len - used);
      std::memcpy(m.base + buf + used, hdr, n);
      used += n;
      if (used == len) break;
      n = std::min<uint32_t>(namlen, len - used);
      std::memcpy(m.base + buf + used, de.name.data(), n);
      used += n;
    }
    m.store<uint32_t>(used_p, used);
    return kSuccess;
  })

  // Resolves (dirfd, path) for a path operation: the directory entry and the path string.
  struct PathArg {
    Entry* dir = nullptr;
    std::string path;
    uint16_t err = kSuccess;
  };
  auto path_arg = [](P1& p, const Mem& m, uint32_t fd, uint32_t ptr, uint32_t len) {
    PathArg out;
    out.dir = p.get(fd);
    if (!out.dir) {
      out.err = kBadf;
    } else if (!guest_string(m, ptr, len, out.path)) {
      out.err = kFault;
    } else if (out.dir->kind != Entry::Kind::Dir) {
      out.err = kNotdir;
    } else if (out.path.find('\0') != std::string::npos) {
      out.err = kIlseq;
    }
    return out;
  };

  if (r = def("path_open", "iiiiiIIii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg pa = path_arg(p, m, a32(a, 0), a32(a, 2), a32(a, 3));
                if (pa.err) return pa.err;
                uint32_t lookup = a32(a, 1), oflags = a32(a, 4), fdflags = a32(a, 7);
                uint64_t base = a64(a, 5);
                uint32_t out = a32(a, 8);
                if (!m.ok(out, 4)) return kFault;
                bool want_read = base & (kRFdRead | kRFdReaddir);
                bool want_write = base & (kRFdWrite | kRFdAllocate | kRFdFilestatSetSize);
                if ((fdflags & kFdAppend)) want_write = true;
                bool creating = oflags & (kOCreat | kOTrunc);
                if ((want_write || creating) && !pa.dir->mutate) return kRofs;
                int flags = 0;
                if (oflags & kODirectory) {
                  if (oflags & (kOCreat | kOTrunc)) return kInval;
                  flags |= O_DIRECTORY;
                }
                if (oflags & kOCreat) flags |= O_CREAT;
                if (oflags & kOExcl) flags |= O_EXCL;
                if (oflags & kOTrunc) flags |= O_TRUNC;
                if (fdflags & kFdAppend) flags |= O_APPEND;
                if (fdflags & kFdNonblock) flags |= O_NONBLOCK;
                if (fdflags & kFdDsync) flags |= O_DSYNC;
                if (fdflags & kFdSync) flags |= O_SYNC;
                if (fdflags & kFdRsync) flags |= O_RSYNC;
                bool follow = lookup & kSymlinkFollow;
                int mode = want_write ? (want_read ? O_RDWR : O_WRONLY) : O_RDONLY;
                if ((oflags & kOTrunc) && mode == O_RDONLY) mode = O_WRONLY, want_write = true;
                auto fd = sys::open_beneath(host_fd(*pa.dir), pa.path, flags | mode, 0666, follow);
                if (!fd && fd.error() == EISDIR && mode != O_RDONLY) return kIsdir;
                if (!fd) {
                  // A symlink opened without following: O_NOFOLLOW answers ELOOP, except
                  // for O_DIRECTORY where Linux says ENOTDIR; both mean "is a symlink".
                  return from_errno(fd.error());
                }
                struct stat st {};
                if (::fstat(fd->get(), &st) != 0) return from_errno(errno);
                Entry e;
                e.fd = std::move(*fd);
                e.filetype = filetype_of(st.st_mode);
                e.mutate = pa.dir->mutate;
                e.fdflags = static_cast<uint16_t>(fdflags);
                if (S_ISDIR(st.st_mode)) {
                  e.kind = Entry::Kind::Dir;
                  e.read = true;
                } else {
                  e.kind = Entry::Kind::File;
                  e.read = mode != O_WRONLY;
                  e.write = mode != O_RDONLY;
                }
                m.store<uint32_t>(out, p.add(std::move(e)));
                return kSuccess;
              });
      !r)
    return r;

  if (r = def("path_create_directory", "iii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg pa = path_arg(p, m, a32(a, 0), a32(a, 1), a32(a, 2));
                if (pa.err) return pa.err;
                if (!pa.dir->mutate) return kRofs;
                auto parent = sys::open_parent(host_fd(*pa.dir), pa.path);
                if (!parent) return from_errno(parent.error());
                if (parent->name == ".") return kExist;
                if (::mkdirat(parent->dir.get(), parent->name.c_str(), 0777) != 0)
                  return from_errno(errno);
                return kSuccess;
              });
      !r)
    return r;
  if (r = def("path_remove_directory", "iii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg pa = path_arg(p, m, a32(a, 0), a32(a, 1), a32(a, 2));
                if (pa.err) return pa.err;
                if (!pa.dir->mutate) return kRofs;
                auto parent = sys::open_parent(host_fd(*pa.dir), pa.path);
                if (!parent) return from_errno(parent.error());
                if (parent->name == ".") return kInval;
                if (::unlinkat(parent->dir.get(), parent->name.c_str(), AT_REMOVEDIR) != 0)
                  return from_errno(errno);
                return kSuccess;
              });
      !r)
    return r;
  if (r = def("path_unlink_file", "iii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg pa = path_arg(p, m, a32(a, 0), a32(a, 1), a32(a, 2));
                if (pa.err) return pa.err;
                if (!pa.dir->mutate) return kRofs;
                auto parent = sys::open_parent(host_fd(*pa.dir), pa.path);
                if (!parent) return from_errno(parent.error());
                if (parent->name == ".") return kIsdir;
                std::string name = parent->name;
                bool slash = strip_slashes(name);
                struct stat st {};
                if (::fstatat(parent->dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
                  if (S_ISDIR(st.st_mode)) return kIsdir;
                  if (slash) return kNotdir;
                }
                if (::unlinkat(parent->dir.get(), name.c_str(), 0) != 0) return from_errno(errno);
                return kSuccess;
              });
      !r)
    return r;
  if (r = def("path_filestat_get", "iiiii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg pa = path_arg(p, m, a32(a, 0), a32(a, 2), a32(a, 3));
                if (pa.err) return pa.err;
                uint32_t out = a32(a, 4);
                if (!m.ok(out, 64)) return kFault;
                auto st = sys::stat_beneath(host_fd(*pa.dir), pa.path, a32(a, 1) & kSymlinkFollow);
                if (!st) return from_errno(st.error());
                write_filestat(m, out, *st);
                return kSuccess;
              });
      !r)
    return r;
  if (r = def("path_filestat_set_times", "iiiiIIi",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg pa = path_arg(p, m, a32(a, 0), a32(a, 2), a32(a, 3));
                if (pa.err) return pa.err;
                timespec t[2];
                if (int err = make_times(a64(a, 4), a64(a, 5), static_cast<uint16_t>(a32(a, 6)), t))
                  return from_errno(err);
                if (!pa.dir->mutate) return kRofs;
                bool follow = a32(a, 1) & kSymlinkFollow;
                // A trailing slash makes the kernel follow a final symlink even with
                // AT_SYMLINK_NOFOLLOW: resolve such paths beneath the directory instead.
                if (follow || (!pa.path.empty() && pa.path.back() == '/')) {
                  auto fd = sys::open_beneath(host_fd(*pa.dir), pa.path, O_PATH, 0, true);
                  if (!fd) return from_errno(fd.error());
                  std::string proc = "/proc/self/fd/" + std::to_string(fd->get());
                  if (::utimensat(AT_FDCWD, proc.c_str(), t, 0) != 0) return from_errno(errno);
                  return kSuccess;
                }
                auto parent = sys::open_parent(host_fd(*pa.dir), pa.path);
                if (!parent) return from_errno(parent.error());
                if (::utimensat(parent->dir.get(), parent->name.c_str(), t, AT_SYMLINK_NOFOLLOW) !=
                    0)
                  return from_errno(errno);
                return kSuccess;
              });
      !r)
    return r;
  if (r = def("path_readlink", "iiiiii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg pa = path_arg(p, m, a32(a, 0), a32(a, 1), a32(a, 2));
                if (pa.err) return pa.err;
                uint32_t buf = a32(a, 3), len = a32(a, 4), used = a32(a, 5);
                if (!m.ok(buf, len) || !m.ok(used, 4)) return kFault;
                auto parent = sys::open_parent(host_fd(*pa.dir), pa.path);
                if (!parent) return from_errno(parent.error());
                if (parent->name.back() == '/') {
                  // "link/" names what the link points to, never a link; resolving it must
                  // stay beneath the directory too.
                  auto fd = sys::open_beneath(host_fd(*pa.dir), pa.path, O_PATH, 0, true);
                  return fd ? uint16_t{kInval} : from_errno(fd.error());
                }
                std::vector<char> tmp(PATH_MAX);
                ssize_t n =
                    ::readlinkat(parent->dir.get(), parent->name.c_str(), tmp.data(), tmp.size());
                if (n < 0) return from_errno(errno);
                uint32_t k = std::min<uint32_t>(len, static_cast<uint32_t>(n));
                std::memcpy(m.base + buf, tmp.data(), k);
                m.store<uint32_t>(used, k);
                return kSuccess;
              });
      !r)
    return r;
  if (r = def("path_symlink", "iiiii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                std::string target;
                if (!guest_string(m, a32(a, 0), a32(a, 1), target)) return kFault;
                PathArg pa = path_arg(p, m, a32(a, 2), a32(a, 3), a32(a, 4));
                if (pa.err) return pa.err;
                if (target.find('\0') != std::string::npos) return kIlseq;
                if (!pa.dir->mutate) return kRofs;
                // An absolute target would point outside the sandbox when followed.
                if (!target.empty() && target.front() == '/') return kPerm;
                auto parent = sys::open_parent(host_fd(*pa.dir), pa.path);
                if (!parent) return from_errno(parent.error());
                std::string name = parent->name;
                if (name == ".") return kExist;
                if (!name.empty() && name.back() == '/') {
                  // "link/" names a directory: fine only if it already exists (EEXIST).
                  std::string bare = name.substr(0, name.find('/'));
                  struct stat st {};
                  if (::fstatat(parent->dir.get(), bare.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
                    return kExist;
                  return kNoent;
                }
                if (::symlinkat(target.c_str(), parent->dir.get(), name.c_str()) != 0)
                  return from_errno(errno);
                return kSuccess;
              });
      !r)
    return r;
  if (r = def("path_link", "iiiiiii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg from = path_arg(p, m, a32(a, 0), a32(a, 2), a32(a, 3));
                if (from.err) return from.err;
                PathArg to = path_arg(p, m, a32(a, 4), a32(a, 5), a32(a, 6));
                if (to.err) return to.err;
                if (!to.dir->mutate) return kRofs;
                // Following a symlink at the source could reach outside the sandbox.
                if (a32(a, 1) & kSymlinkFollow) return kInval;
                auto src = sys::open_parent(host_fd(*from.dir), from.path);
                if (!src) return from_errno(src.error());
                auto dst = sys::open_parent(host_fd(*to.dir), to.path);
                if (!dst) return from_errno(dst.error());
                if (dst->name == ".") return kExist;
                std::string sname = src->name, dname = dst->name;
                bool sslash = strip_slashes(sname);
                bool dslash = strip_slashes(dname);
                struct stat st {};
                if (::fstatat(src->dir.get(), sname.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                  return from_errno(errno);
                if (S_ISDIR(st.st_mode)) return kPerm;
                if (sslash) return kNotdir;
                if (dslash) {
                  struct stat dt {};
                  if (::fstatat(dst->dir.get(), dname.c_str(), &dt, AT_SYMLINK_NOFOLLOW) == 0)
                    return kExist;
                  return kNoent;
                }
                if (::linkat(src->dir.get(), sname.c_str(), dst->dir.get(), dname.c_str(), 0) != 0)
                  return from_errno(errno);
                return kSuccess;
              });
      !r)
    return r;
  if (r = def("path_rename", "iiiiii",
              [path_arg](P1& p, const Mem& m, Args a) -> Ret {
                PathArg from = path_arg(p, m, a32(a, 0), a32(a, 1), a32(a, 2));
                if (from.err) return from.err;
                PathArg to = path_arg(p, m, a32(a, 3), a32(a, 4), a32(a, 5));
                if (to.err) return to.err;
                if (!from.dir->mutate || !to.dir->mutate) return kRofs;
                auto src = sys::open_parent(host_fd(*from.dir), from.path);
                if (!src) return from_errno(src.error());
                auto dst = sys::open_parent(host_fd(*to.dir), to.path);
                if (!dst) return from_errno(dst.error());
                if (src->name == "." || dst->name == ".") return kBusy;
                std::string sname = src->name, dname = dst->name;
                bool sslash = strip_slashes(sname);
                bool dslash = strip_slashes(dname);
                struct stat st {};
                if (::fstatat(src->dir.get(), sname.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                  return from_errno(errno);
                // Trailing slashes demand a directory on both sides.
                if ((sslash || dslash) && !S_ISDIR(st.st_mode)) return kNotdir;
                if (::renameat(src->dir.get(), sname.c_str(), dst->dir.get(), dname.c_str()) != 0)
                  return from_errno(errno);
                return kSuccess;
              });
      !r)
    return r;

  // ---- poll_oneoff: clocks and fd readiness, waiting through the context's waiter.
  P1FN("poll_oneoff", "iiii", {
    uint32_t in = a32(a, 0), outp = a32(a, 1), n = a32(a, 2), nevents = a32(a, 3);
    if (n == 0) return kInval;
    if (!m.ok(in, uint64_t{n} * 48) || !m.ok(outp, uint64_t{n} * 32) || !m.ok(nevents, 4))
      return kFault;
    struct Sub {
      uint64_t userdata;
      uint8_t tag;
      uint64_t deadline = 0;  // monotonic ns, clocks
      uint32_t fd = 0;
    };
    auto now_mono = [] {
      timespec ts{};
      ::clock_gettime(CLOCK_MONOTONIC, &ts);
      return ts_ns(ts);
    };
    std::vector<Sub> subs;
    uint64_t start = now_mono();
    struct Ev {
      uint64_t userdata;
      uint16_t error;
      uint8_t type;
      uint64_t nbytes;
      uint16_t flags;
    };
    std::vector<Ev> events;
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t p = in + i * 48;
      Sub sub{m.load<uint64_t>(p), m.load<uint8_t>(p + 8)};
      if (sub.tag == 0) {
        uint32_t id = m.load<uint32_t>(p + 16);
        uint64_t timeout = m.load<uint64_t>(p + 24);
        uint16_t fl = m.load<uint16_t>(p + 40);
        if (id > 3) {
          events.push_back({sub.userdata, kInval, 0, 0, 0});
          continue;
        }
        if (fl & 1) {  // absolute time on the given clock
          timespec ts{};
          ::clock_gettime(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
          uint64_t now = ts_ns(ts);
          sub.deadline = start + (timeout > now ? timeout - now : 0);
        } else {
          sub.deadline = start + timeout;
        }
      } else if (sub.tag == 1 || sub.tag == 2) {
        sub.fd = m.load<uint32_t>(p + 16);
        if (!s.get(sub.fd)) {
          events.push_back({sub.userdata, kBadf, sub.tag, 0, 0});
          continue;
        }
      } else {
        return kInval;
      }
      subs.push_back(sub);
    }
    while (events.empty()) {
      std::vector<pollfd> pfds;
      std::vector<size_t> which;
      uint64_t now = now_mono();
      uint64_t earliest = UINT64_MAX;
      for (size_t i = 0; i < subs.size(); ++i) {
        const Sub& sub = subs[i];
        if (sub.tag == 0) {
          if (sub.deadline <= now) events.push_back({sub.userdata, kSuccess, 0, 0, 0});
          earliest = std::min(earliest, sub.deadline);
          continue;
        }
        Entry* e = s.get(sub.fd);
        if (!e) {
          events.push_back({sub.userdata, kBadf, sub.tag, 0, 0});
          continue;
        }
        if (e->kind == Entry::Kind::Dir) {
          events.push_back({sub.userdata, kBadf, sub.tag, 0, 0});
          continue;
        }
        if (e->kind == Entry::Kind::File || !e->fd) {
          // Regular files are always ready; report the bytes left to read.
          uint64_t nbytes = 0;
          if (sub.tag == 1 && e->fd) {
            struct stat st {};
            off_t pos = ::lseek(host_fd(*e), 0, SEEK_CUR);
            if (::fstat(host_fd(*e), &st) == 0 && pos >= 0 && st.st_size > pos)
              nbytes = static_cast<uint64_t>(st.st_size - pos);
          }
          events.push_back({sub.userdata, kSuccess, sub.tag, nbytes, 0});
          continue;
        }
        pfds.push_back({host_fd(*e), static_cast<short>(sub.tag == 1 ? POLLIN : POLLOUT), 0});
        which.push_back(i);
      }
      if (!events.empty() && pfds.empty()) break;
      if (events.empty()) {
        // Nothing ready yet: wait through the context's waiter (a fiber host suspends only
        // this guest), then look again.
        std::optional<uint64_t> deadline;
        if (earliest != UINT64_MAX) deadline = earliest;
        s.c.waiter->wait(pfds, deadline);
        if (pfds.empty()) continue;
      }
      for (auto& pf : pfds) pf.revents = 0;
      int rc = ::poll(pfds.data(), pfds.size(), 0);
      if (rc < 0 && errno != EINTR) return from_errno(errno);
      for (size_t k = 0; k < pfds.size(); ++k) {
        if (!pfds[k].revents) continue;
        const Sub& sub = subs[which[k]];
        uint16_t flags = (pfds[k].revents & POLLHUP) ? 1 : 0;
        uint16_t err =
            (pfds[k].revents & (POLLERR | POLLNVAL)) && !(pfds[k].revents & (POLLIN | POLLOUT))
                ? kIo
                : kSuccess;
        events.push_back({sub.userdata, err, sub.tag, 0, flags});
      }
    }
    uint32_t k = 0;
    for (const auto& ev : events) {
      if (k >= n) break;
      uint32_t p = outp + k * 32;
      std::memset(m.base + p, 0, 32);
      m.store<uint64_t>(p, ev.userdata);
      m.store<uint16_t>(p + 8, ev.error);
      m.store<uint8_t>(p + 10, ev.type);
      m.store<uint64_t>(p + 16, ev.nbytes);
      m.store<uint16_t>(p + 24, ev.flags);
      ++k;
    }
    m.store<uint32_t>(nevents, k);
    return kSuccess;
  })

  // ---- sockets: Flotilla never hands out preview1 sockets.
  auto not_sock = [](P1& p, uint32_t fd) -> uint16_t { return p.get(fd) ? kNotsock : kBadf; };
  if (r = def("sock_accept", "iii",
              [not_sock](P1& p, const Mem&, Args a) -> Ret { return not_sock(p, a32(a, 0)); });
      !r)
    return r;
  if (r = def("sock_recv", "iiiiii",
              [not_sock](P1& p, const Mem&, Args a) -> Ret { return not_sock(p, a32(a, 0)); });
      !r)
    return r;
  if (r = def("sock_send", "iiiii",
              [not_sock](P1& p, const Mem&, Args a) -> Ret { return not_sock(p, a32(a, 0)); });
      !r)
    return r;
  if (r = def("sock_shutdown", "ii",
              [not_sock](P1& p, const Mem&, Args a) -> Ret { return not_sock(p, a32(a, 0)); });
      !r)
    return r;
#undef P1FN
  return {};
}

}  // namespace flotilla::wasi
