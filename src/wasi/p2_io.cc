// wasi:io (error, poll, streams), wasi:clocks (monotonic-clock, wall-clock) and wasi:random
// (random, insecure, insecure-seed).
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "p2.h"

namespace flotilla::wasi::p2 {

namespace {

constexpr const char* kError = "wasi:io/error@0.2.0";
constexpr const char* kPoll = "wasi:io/poll@0.2.0";
constexpr const char* kStreams = "wasi:io/streams@0.2.0";
constexpr const char* kMono = "wasi:clocks/monotonic-clock@0.2.0";
constexpr const char* kWall = "wasi:clocks/wall-clock@0.2.0";
constexpr const char* kRandom = "wasi:random/random@0.2.0";
constexpr const char* kInsecure = "wasi:random/insecure@0.2.0";
constexpr const char* kSeed = "wasi:random/insecure-seed@0.2.0";

// The most a single read returns, and what check-write grants.
constexpr uint64_t kChunk = 1 << 20;

bool fd_ready(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int n = ::poll(&p, 1, timeout_ms);
  return n > 0;
}

bool is_ready(const Pollable& p) {
  switch (p.kind) {
    case Pollable::Kind::Ready:
      return true;
    case Pollable::Kind::Deadline:
      return monotonic_now() >= p.deadline_ns;
    case Pollable::Kind::Readable:
      return fd_ready(p.fd, POLLIN, 0);
    case Pollable::Kind::Writable:
      return fd_ready(p.fd, POLLOUT, 0);
    case Pollable::Kind::Source:
      return !p.source || p.source->ready();
  }
  return true;
}

}  // namespace

// Lets the guest's background work progress, and adds what it waits for to `fds`/`deadline`.
static void drive_background(State& s, std::vector<pollfd>& fds,
                             std::optional<uint64_t>& deadline) {
  std::erase_if(s.background, [&](const std::weak_ptr<PollSource>& w) {
    auto d = w.lock();
    if (!d || d->ready()) return true;
    pollfd p = d->watch();
    if (p.fd >= 0) fds.push_back(p);
    if (auto dl = d->deadline_ns()) deadline = std::min(deadline.value_or(UINT64_MAX), *dl);
    return false;
  });
}

bool wait_any(State& s, const std::vector<const Pollable*>& ps, const engine::Store& store) {
  for (;;) {
    std::vector<pollfd> fds;
    std::optional<uint64_t> deadline;
    drive_background(s, fds, deadline);
    for (const auto* p : ps) {
      if (is_ready(*p)) return true;
      if (p->kind == Pollable::Kind::Deadline)
        deadline = std::min(deadline.value_or(UINT64_MAX), p->deadline_ns);
      if (p->kind == Pollable::Kind::Readable) fds.push_back({p->fd, POLLIN, 0});
      if (p->kind == Pollable::Kind::Writable) fds.push_back({p->fd, POLLOUT, 0});
      if (p->kind == Pollable::Kind::Source) {
        if (auto d = p->source->deadline_ns())
          deadline = std::min(deadline.value_or(UINT64_MAX), *d);
        pollfd w = p->source->watch();
        if (w.fd >= 0)
          fds.push_back(w);
        else  // nothing to watch: look again in a millisecond
          deadline = std::min(deadline.value_or(UINT64_MAX), monotonic_now() + 1000000);
        if (pollfd also = p->source->watch_also(); also.fd >= 0) fds.push_back(also);
      }
    }
    // The store's deadline (steady_clock is CLOCK_MONOTONIC, like monotonic_now()).
    if (auto d = store.deadline()) {
      auto limit = static_cast<uint64_t>(std::max<int64_t>(0, d->time_since_epoch().count()));
      if (monotonic_now() >= limit) return false;
      deadline = std::min(deadline.value_or(UINT64_MAX), limit);
    }
    s.c.waiter->wait(fds, deadline);
  }
}

void wait_pipe(State& s, http::Pipe& pipe, bool readable) {
  int own = readable ? pipe.readable_fd() : pipe.writable_fd();
  std::vector<pollfd> fds;
  std::optional<uint64_t> deadline;
  drive_background(s, fds, deadline);
  auto driver = pipe.driver();
  if (driver) {
    if (driver->ready()) return;  // the driven side is finished: look at the pipe again
    pollfd w = driver->watch();
    if (w.fd >= 0)
      fds.push_back(w);
    else  // the driver waits for nothing (e.g. for this guest): look again in a millisecond
      deadline = std::min(deadline.value_or(UINT64_MAX), monotonic_now() + 1000000);
    if (auto dl = driver->deadline_ns()) deadline = std::min(deadline.value_or(UINT64_MAX), *dl);
  }
  // Background work that moved may have changed the pipe: look again first.
  if ((readable && (pipe.size() > 0 || pipe.closed())) ||
      (!readable && (pipe.space() > 0 || pipe.reader_gone() || pipe.closed())))
    return;
  fds.push_back({own, POLLIN, 0});
  s.c.waiter->wait(std::span<pollfd>(fds.data(), fds.size()), deadline);
}

namespace {

// Readiness of an HTTP body: something to read (or its end), or room to write. A driven
// body (an outgoing request's) makes its driver progress first and waits for what it needs.
class PipeSource final : public PollSource {
 public:
  PipeSource(std::shared_ptr<http::Pipe> pipe, bool read) : pipe_(std::move(pipe)), read_(read) {}
  bool ready() override {
    if (auto d = pipe_->driver()) d->ready();
    if (read_) return pipe_->size() > 0 || pipe_->closed();
    return pipe_->space() > 0 || pipe_->reader_gone() || pipe_->closed();
  }
  pollfd watch() override {
    if (auto d = pipe_->driver()) {
      pollfd w = d->watch();
      if (w.fd >= 0) return w;
    }
    return own();
  }
  pollfd watch_also() override {
    if (auto d = pipe_->driver(); d && d->watch().fd >= 0) return own();
    return {-1, 0, 0};
  }
  std::optional<uint64_t> deadline_ns() override {
    if (auto d = pipe_->driver()) return d->deadline_ns();
    return std::nullopt;
  }

 private:
  pollfd own() { return {read_ ? pipe_->readable_fd() : pipe_->writable_fd(), POLLIN, 0}; }
  std::shared_ptr<http::Pipe> pipe_;
  bool read_;
};

Pollable pipe_pollable(std::shared_ptr<http::Pipe> pipe, bool read) {
  Pollable pl;
  pl.kind = Pollable::Kind::Source;
  pl.source = std::make_shared<PipeSource>(std::move(pipe), read);
  return pl;
}

Val stream_closed() { return Val::err(Val::variant("closed", std::nullopt)); }
Val stream_failed(State& s, int err) {
  return Val::err(Val::variant("last-operation-failed", io_error(s, err)));
}

// Reads up to `len` bytes; `blocking` waits for at least one byte (or end of stream).
Val read_stream(State& s, InputStream& in, uint64_t len, bool blocking) {
  if (in.closed || in.kind == InputStream::Kind::Empty) return stream_closed();
  size_t n = static_cast<size_t>(std::min(len, kChunk));
  std::vector<uint8_t> buf(n);
  if (n == 0) return Val::ok(bytes_val(nullptr, 0));
  if (in.kind == InputStream::Kind::Pipe) {
    http::Pipe& pipe = *in.pipe;
    if (auto d = pipe.driver(); d && pipe.size() == 0) d->ready();
    while (pipe.size() == 0 && !pipe.closed()) {
      if (!blocking) return Val::ok(bytes_val(nullptr, 0));
      wait_pipe(s, pipe, true);
    }
    if (pipe.size() == 0) {
      in.closed = true;
      if (pipe.error()) return stream_failed(s, EPIPE);
      return stream_closed();
    }
    size_t got = pipe.read(buf.data(), n);
    return Val::ok(bytes_val(buf.data(), got));
  }
  ssize_t got;
  if (in.kind == InputStream::Kind::File) {
    do got = ::pread(in.file->get(), buf.data(), n, static_cast<off_t>(in.offset));
    while (got < 0 && errno == EINTR);
    if (got > 0) in.offset += static_cast<uint64_t>(got);
  } else {
    if (!blocking && !fd_ready(in.fd, POLLIN, 0)) return Val::ok(bytes_val(nullptr, 0));
    for (;;) {
      s.c.before_io(in.fd, POLLIN);
      got = ::read(in.fd, buf.data(), n);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && errno == EAGAIN) {
        if (!blocking) return Val::ok(bytes_val(nullptr, 0));
        s.c.wait_fd(in.fd, POLLIN);
        continue;
      }
      break;
    }
  }
  if (got < 0) return stream_failed(s, errno);
  if (got == 0) {
    in.closed = true;
    return stream_closed();
  }
  return Val::ok(bytes_val(buf.data(), static_cast<size_t>(got)));
}

// Writes all of `data`; returns the stream-error result or ok.
Val write_stream(State& s, OutputStream& out, const uint8_t* data, size_t n) {
  if (out.closed) return stream_closed();
  if (out.kind == OutputStream::Kind::Discard) return Val::ok(std::nullopt);
  if (out.kind == OutputStream::Kind::Pipe) {
    // Writes past the room check-write granted are taken too: the capacity is soft.
    if (out.pipe->reader_gone() || out.pipe->closed()) {
      out.closed = true;
      return stream_closed();
    }
    out.pipe->push(data, n);
    if (auto d = out.pipe->driver()) d->ready();  // an outgoing request: send it on now
    return Val::ok(std::nullopt);
  }
  int fd = out.kind == OutputStream::Kind::Fd ? out.fd : out.file->get();
  size_t done = 0;
  while (done < n) {
    ssize_t w;
    if (out.kind == OutputStream::Kind::File) {
      w = ::pwrite(fd, data + done, n - done, static_cast<off_t>(out.offset));
      if (w > 0) out.offset += static_cast<uint64_t>(w);
    } else if (out.kind == OutputStream::Kind::Append) {
      // The descriptor may not be opened with O_APPEND: seek to the end for every write.
      off_t end = ::lseek(fd, 0, SEEK_END);
      if (end < 0) return stream_failed(s, errno);
      w = ::pwrite(fd, data + done, n - done, end);
    } else if (out.kind == OutputStream::Kind::Socket) {
      s.c.before_io(fd, POLLOUT);
      w = ::send(fd, data + done, n - done, MSG_NOSIGNAL);  // a closed peer: EPIPE, no signal
    } else {
      s.c.before_io(fd, POLLOUT);
      w = ::write(fd, data + done, n - done);
    }
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        s.c.wait_fd(fd, POLLOUT);
        continue;
      }
      if (errno == EPIPE) {
        out.closed = true;
        return stream_closed();
      }
      return stream_failed(s, errno);
    }
    done += static_cast<size_t>(w);
  }
  return Val::ok(std::nullopt);
}

Val datetime(const timespec& ts) {
  return Val::record({{"seconds", Val::u64(static_cast<uint64_t>(ts.tv_sec))},
                      {"nanoseconds", Val::u32(static_cast<uint32_t>(ts.tv_nsec))}});
}

Result<void> fill_random(std::vector<uint8_t>& buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::getrandom(buf.data() + done, buf.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return host_trap(std::string("wasi:random: getrandom failed: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<void> add_io(fc::Linker& linker, const BindingPtr& b) {
  // Destructors hold the binding weakly: it owns the resource types, which own them.
  std::weak_ptr<Binding> weak = b;
  auto dtor = [weak](auto member) {
    return [weak, member](HostContext& hc, uint32_t rep) -> Result<void> {
      auto bl = weak.lock();
      if (State* s = bl ? bl->get(hc) : nullptr) ((*s).*member).erase(rep);
      return {};
    };
  };
  auto rt = [&](const char* iface, const char* name, auto member) -> Result<fc::ResourceTypePtr> {
    return linker.resource(iface, name, dtor(member));
  };
  {
    auto r = rt(kError, "error", &State::errors);
    if (!r) return Unexpected(r.error());
    b->rt_error = *r;
    auto p = rt(kPoll, "pollable", &State::pollables);
    if (!p) return Unexpected(p.error());
    b->rt_pollable = *p;
    auto i = rt(kStreams, "input-stream", &State::inputs);
    if (!i) return Unexpected(i.error());
    b->rt_input = *i;
    auto o = rt(kStreams, "output-stream", &State::outputs);
    if (!o) return Unexpected(o.error());
    b->rt_output = *o;
  }
  // Functions hold the binding (resource types, how to find the caller's state); each call
  // looks its guest's state up first.
  using F = fc::HostFunc;
  auto def = [&](const char* iface, const char* name, F f) {
    return linker.func_new(iface, name, std::move(f));
  };
  Result<void> r;
#define DEF(iface, name, ...)                                               \
  if (r = def(iface, name,                                                  \
              [b](HostContext& hc, Params p, Results out) -> Result<void> { \
                State* s = b->get(hc);                                      \
                if (!s) return no_context();                                \
                __VA_ARGS__                                                 \
              });                                                           \
      !r)                                                                   \
    return r;
// The guest's state in a helper lambda: `s`.
#define STATE(hc)        \
  State* s = b->get(hc); \
  if (!s) return no_context();

  // ---- wasi:io/error
  DEF(kError, "[method]error.to-debug-string", {
    int* e = s->errors.get(rep_of(p[0]));
    out[0] = Val::string(e ? std::strerror(*e) : "unknown error");
    return {};
  })

  // ---- wasi:io/poll
  DEF(kPoll, "[method]pollable.ready", {
    Pollable* pl = s->pollables.get(rep_of(p[0]));
    out[0] = Val::boolean(!pl || is_ready(*pl));
    return {};
  })
  DEF(kPoll, "[method]pollable.block", {
    (void)out;
    if (Pollable* pl = s->pollables.get(rep_of(p[0]))) {
      if (!wait_any(*s, {pl}, hc.store())) return interrupted();
    }
    return {};
  })
  DEF(kPoll, "poll", {
    const auto& list = p[0].items;
    if (list.empty()) return host_trap("wasi:io/poll.poll: empty list of pollables");
    std::vector<const Pollable*> ps;
    for (const auto& h : list) {
      const Pollable* pl = s->pollables.get(rep_of(h));
      if (!pl) return host_trap("wasi:io/poll.poll: unknown pollable");
      ps.push_back(pl);
    }
    std::vector<Val> ready;
    for (;;) {
      for (size_t i = 0; i < ps.size(); ++i)
        if (is_ready(*ps[i])) ready.push_back(Val::u32(static_cast<uint32_t>(i)));
      if (!ready.empty()) break;
      if (!wait_any(*s, ps, hc.store())) return interrupted();
    }
    out[0] = Val::list(std::move(ready));
    return {};
  })

  // ---- wasi:io/streams: input-stream
  DEF(kStreams, "[method]input-stream.read", {
    InputStream* in = s->inputs.get(rep_of(p[0]));
    if (!in) return host_trap("unknown input-stream");
    out[0] = read_stream(*s, *in, p[1].bits, false);
    return {};
  })
  DEF(kStreams, "[method]input-stream.blocking-read", {
    InputStream* in = s->inputs.get(rep_of(p[0]));
    if (!in) return host_trap("unknown input-stream");
    out[0] = read_stream(*s, *in, p[1].bits, true);
    return {};
  })
  auto skip = [b](HostContext& hc, Params p, Results out, bool blocking) -> Result<void> {
    STATE(hc)
    InputStream* in = s->inputs.get(rep_of(p[0]));
    if (!in) return host_trap("unknown input-stream");
    Val v = read_stream(*s, *in, p[1].bits, blocking);
    if (v.is_ok())
      out[0] = Val::ok(Val::u64(v.items[0].list_size()));
    else
      out[0] = std::move(v);
    return {};
  };
  if (r = def(kStreams, "[method]input-stream.skip",
              [skip](HostContext& hc, Params p, Results o) { return skip(hc, p, o, false); });
      !r)
    return r;
  if (r = def(kStreams, "[method]input-stream.blocking-skip",
              [skip](HostContext& hc, Params p, Results o) { return skip(hc, p, o, true); });
      !r)
    return r;
  DEF(kStreams, "[method]input-stream.subscribe", {
    InputStream* in = s->inputs.get(rep_of(p[0]));
    Pollable pl;
    if (in && (in->kind == InputStream::Kind::Fd || in->kind == InputStream::Kind::Socket) &&
        !in->closed) {
      pl.kind = Pollable::Kind::Readable;
      pl.fd = in->fd;
      pl.keep = in->file;
    }
    if (in && in->kind == InputStream::Kind::Pipe && !in->closed)
      pl = pipe_pollable(in->pipe, true);
    out[0] = own(s->rt_pollable, s->pollables.add(pl));
    return {};
  })

  // ---- output-stream
  DEF(kStreams, "[method]output-stream.check-write", {
    OutputStream* o = s->outputs.get(rep_of(p[0]));
    if (!o) return host_trap("unknown output-stream");
    if (o->kind == OutputStream::Kind::Pipe && !o->closed)
      if (auto d = o->pipe->driver()) d->ready();
    if (o->kind == OutputStream::Kind::Pipe && !o->closed &&
        (o->pipe->reader_gone() || o->pipe->closed()))
      o->closed = true;
    if (o->closed)
      out[0] = stream_closed();
    else if (o->kind == OutputStream::Kind::Pipe)
      out[0] = Val::ok(Val::u64(o->pipe->space()));
    else
      out[0] = Val::ok(Val::u64(kChunk));
    return {};
  })
  auto write = [b](HostContext& hc, Params p, Results out, bool blocking) -> Result<void> {
    STATE(hc)
    OutputStream* o = s->outputs.get(rep_of(p[0]));
    if (!o) return host_trap("unknown output-stream");
    std::vector<uint8_t> data = val_bytes(p[1]);
    // A blocking write to an HTTP body waits until the reader has taken what came before.
    if (blocking && o->kind == OutputStream::Kind::Pipe)
      while (o->pipe->space() == 0 && !o->pipe->reader_gone() && !o->pipe->closed())
        wait_pipe(*s, *o->pipe, false);
    out[0] = write_stream(*s, *o, data.data(), data.size());
    return {};
  };
  if (r = def(kStreams, "[method]output-stream.write",
              [write](HostContext& hc, Params p, Results o) { return write(hc, p, o, false); });
      !r)
    return r;
  if (r = def(kStreams, "[method]output-stream.blocking-write-and-flush",
              [write](HostContext& hc, Params p, Results o) { return write(hc, p, o, true); });
      !r)
    return r;
  auto zeroes = [b](HostContext& hc, Params p, Results out) -> Result<void> {
    STATE(hc)
    OutputStream* o = s->outputs.get(rep_of(p[0]));
    if (!o) return host_trap("unknown output-stream");
    std::vector<uint8_t> data(static_cast<size_t>(std::min<uint64_t>(p[1].bits, kChunk)), 0);
    out[0] = write_stream(*s, *o, data.data(), data.size());
    return {};
  };
  for (const char* n : {"[method]output-stream.write-zeroes",
                        "[method]output-stream.blocking-write-zeroes-and-flush"}) {
    if (r = def(kStreams, n,
                [zeroes](HostContext& hc, Params p, Results o) { return zeroes(hc, p, o); });
        !r)
      return r;
  }
  for (const char* n : {"[method]output-stream.flush", "[method]output-stream.blocking-flush"}) {
    DEF(kStreams, n, {
      OutputStream* o = s->outputs.get(rep_of(p[0]));
      if (!o) return host_trap("unknown output-stream");
      out[0] = o->closed ? stream_closed() : Val::ok(std::nullopt);
      return {};
    })
  }
  DEF(kStreams, "[method]output-stream.subscribe", {
    OutputStream* o = s->outputs.get(rep_of(p[0]));
    Pollable pl;
    if (o && o->kind == OutputStream::Kind::Pipe && !o->closed) pl = pipe_pollable(o->pipe, false);
    if (o && o->kind == OutputStream::Kind::Socket && !o->closed) {
      pl.kind = Pollable::Kind::Writable;
      pl.fd = o->file->get();
      pl.keep = o->file;
    }
    out[0] = own(s->rt_pollable, s->pollables.add(pl));
    return {};
  })
  auto splice = [b](HostContext& hc, Params p, Results out, bool blocking) -> Result<void> {
    STATE(hc)
    OutputStream* o = s->outputs.get(rep_of(p[0]));
    InputStream* in = s->inputs.get(rep_of(p[1]));
    if (!o || !in) return host_trap("unknown stream");
    Val v = read_stream(*s, *in, p[2].bits, blocking);
    if (!v.is_ok()) {
      out[0] = std::move(v);
      return {};
    }
    std::vector<uint8_t> data = val_bytes(v.items[0]);
    Val w = write_stream(*s, *o, data.data(), data.size());
    out[0] = w.is_ok() ? Val::ok(Val::u64(data.size())) : std::move(w);
    return {};
  };
  if (r = def(kStreams, "[method]output-stream.splice",
              [splice](HostContext& hc, Params p, Results o) { return splice(hc, p, o, false); });
      !r)
    return r;
  if (r = def(kStreams, "[method]output-stream.blocking-splice",
              [splice](HostContext& hc, Params p, Results o) { return splice(hc, p, o, true); });
      !r)
    return r;

  // ---- wasi:clocks
  DEF(kMono, "now", {
    (void)p;
    out[0] = Val::u64(monotonic_now());
    return {};
  })
  DEF(kMono, "resolution", {
    (void)p;
    timespec ts{};
    ::clock_getres(CLOCK_MONOTONIC, &ts);
    out[0] = Val::u64(static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
                      static_cast<uint64_t>(ts.tv_nsec));
    return {};
  })
  DEF(kMono, "subscribe-instant", {
    Pollable pl{Pollable::Kind::Deadline, p[0].bits, -1, nullptr};
    out[0] = own(s->rt_pollable, s->pollables.add(pl));
    return {};
  })
  DEF(kMono, "subscribe-duration", {
    uint64_t now = monotonic_now();
    uint64_t when = p[0].bits > UINT64_MAX - now ? UINT64_MAX : now + p[0].bits;
    Pollable pl{Pollable::Kind::Deadline, when, -1, nullptr};
    out[0] = own(s->rt_pollable, s->pollables.add(pl));
    return {};
  })
  DEF(kWall, "now", {
    (void)p;
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    out[0] = datetime(ts);
    return {};
  })
  DEF(kWall, "resolution", {
    (void)p;
    timespec ts{};
    ::clock_getres(CLOCK_REALTIME, &ts);
    out[0] = datetime(ts);
    return {};
  })

  // ---- wasi:random
  DEF(kRandom, "get-random-bytes", {
    std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(p[0].bits, 64u << 20)));
    if (auto f = fill_random(buf); !f) return f;
    out[0] = bytes_val(buf.data(), buf.size());
    return {};
  })
  DEF(kRandom, "get-random-u64", {
    (void)p;
    std::vector<uint8_t> buf(8);
    if (auto f = fill_random(buf); !f) return f;
    uint64_t v;
    std::memcpy(&v, buf.data(), 8);
    out[0] = Val::u64(v);
    return {};
  })
  DEF(kInsecure, "get-insecure-random-bytes", {
    std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(p[0].bits, 64u << 20)));
    for (auto& byte : buf) byte = static_cast<uint8_t>(s->insecure()());
    out[0] = bytes_val(buf.data(), buf.size());
    return {};
  })
  DEF(kInsecure, "get-insecure-random-u64", {
    (void)p;
    out[0] = Val::u64(s->insecure()());
    return {};
  })
  DEF(kSeed, "insecure-seed", {
    (void)p;
    out[0] = Val::tuple(
        {Val::u64(s->insecure_seed_value().first), Val::u64(s->insecure_seed_value().second)});
    return {};
  })
#undef DEF
#undef STATE
  return {};
}

}  // namespace flotilla::wasi::p2
