// WASI 0.2 for components: wires the interface groups into a component Linker.
#include "p2.h"

#include <sys/random.h>

#include <cerrno>
#include <ctime>

namespace flotilla::wasi {

namespace p2 {

Val own(const fc::ResourceTypePtr& rt, uint32_t rep) {
  return Val::own(std::make_shared<fc::ResourceAny>(fc::ResourceAny{rt, rep, true, {}}));
}

uint32_t rep_of(const Val& v) { return v.resource ? v.resource->rep : 0; }

Val bytes_val(const uint8_t* p, size_t n) {
  return Val::bytes(n ? std::string(reinterpret_cast<const char*>(p), n) : std::string());
}

std::vector<uint8_t> val_bytes(const Val& v) {
  if (v.is_bytes()) return std::vector<uint8_t>(v.str.begin(), v.str.end());
  std::vector<uint8_t> out;
  out.reserve(v.items.size());
  for (const auto& b : v.items) out.push_back(static_cast<uint8_t>(b.bits));
  return out;
}

const char* error_code(int err) {
  switch (err) {
    case EACCES:
      return "access";
    case EAGAIN:
      return "would-block";
    case EALREADY:
      return "already";
    case EBADF:
      return "bad-descriptor";
    case EBUSY:
      return "busy";
    case EDEADLK:
      return "deadlock";
    case EDQUOT:
      return "quota";
    case EEXIST:
      return "exist";
    case EFBIG:
      return "file-too-large";
    case EILSEQ:
      return "illegal-byte-sequence";
    case EINPROGRESS:
      return "in-progress";
    case EINTR:
      return "interrupted";
    case EINVAL:
      return "invalid";
    case EIO:
      return "io";
    case EISDIR:
      return "is-directory";
    case ELOOP:
      return "loop";
    case EMLINK:
      return "too-many-links";
    case EMSGSIZE:
      return "message-size";
    case ENAMETOOLONG:
      return "name-too-long";
    case ENODEV:
      return "no-device";
    case ENOENT:
      return "no-entry";
    case ENOLCK:
      return "no-lock";
    case ENOMEM:
      return "insufficient-memory";
    case ENOSPC:
      return "insufficient-space";
    case ENOTDIR:
      return "not-directory";
    case ENOTEMPTY:
      return "not-empty";
    case ENOTRECOVERABLE:
      return "not-recoverable";
    case ENOTSUP:
      return "unsupported";
    case ENOTTY:
      return "no-tty";
    case ENXIO:
      return "no-such-device";
    case EOVERFLOW:
      return "overflow";
    case EPERM:
      return "not-permitted";
    case EPIPE:
      return "pipe";
    case EROFS:
      return "read-only";
    case ESPIPE:
      return "invalid-seek";
    case ETXTBSY:
      return "text-file-busy";
    case EXDEV:
      return "cross-device";
    default:
      return "io";
  }
}

Val io_error(State& s, int err) { return own(s.rt_error, s.errors.add(err)); }

uint64_t monotonic_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void State::seed_insecure() {
  if (insecure_seeded) return;
  uint64_t v[3] = {0, 0, 0};
  size_t done = 0;
  auto* bytes = reinterpret_cast<uint8_t*>(v);
  while (done < sizeof v) {
    ssize_t n = ::getrandom(bytes + done, sizeof v - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // left partly zero: these values promise no security
    done += static_cast<size_t>(n);
  }
  insecure_gen = std::make_unique<std::mt19937_64>(v[0]);
  insecure_seed = {v[1], v[2]};
  insecure_seeded = true;
}

std::mt19937_64& State::insecure() {
  seed_insecure();
  return *insecure_gen;
}

const std::pair<uint64_t, uint64_t>& State::insecure_seed_value() {
  seed_insecure();
  return insecure_seed;
}

State* Binding::get(engine::Store& store) const {
  if (fixed) return fixed.get();
  StoreData* d = store_data(store);
  if (!d || !d->ctx) return nullptr;
  if (!d->p2) {
    auto s = std::make_shared<State>(d->ctx);
    static_cast<Types&>(*s) = *this;
    d->p2 = std::move(s);
  }
  return static_cast<State*>(d->p2.get());
}

Unexpected<engine::Error> no_context() {
  return host_trap("wasi: no WASI context is bound to the calling guest's store");
}

Unexpected<engine::Error> interrupted() {
  engine::Error e;
  e.kind = engine::ErrorKind::Trap;
  e.trap = engine::TrapKind::Interrupted;
  e.message = "deadline exceeded while the guest was blocked in a wasi:io wait";
  return Unexpected<engine::Error>(std::move(e));
}

Unexpected<engine::Error> host_trap(std::string message) {
  engine::Error e;
  e.kind = engine::ErrorKind::Trap;
  e.trap = engine::TrapKind::HostError;
  e.message = std::move(message);
  return Unexpected<engine::Error>(std::move(e));
}

}  // namespace p2

namespace p2 {

Result<BindingPtr> define_all(fc::Linker& linker) {
  auto b = std::make_shared<p2::Binding>();
  if (auto r = p2::add_io(linker, b); !r) return Unexpected(r.error());
  if (auto r = p2::add_cli(linker, b); !r) return Unexpected(r.error());
  if (auto r = p2::add_filesystem(linker, b); !r) return Unexpected(r.error());
  if (auto r = p2::add_sockets(linker, b); !r) return Unexpected(r.error());
  return b;
}

}  // namespace p2

engine::Result<void> add_to_linker(component::Linker& linker, std::shared_ptr<Ctx> ctx) {
  auto b = p2::define_all(linker);
  if (!b) return Unexpected(b.error());
  auto s = std::make_shared<p2::State>(std::move(ctx));
  static_cast<p2::Types&>(*s) = **b;
  (*b)->fixed = std::move(s);
  return {};
}

engine::Result<void> add_to_linker(component::Linker& linker) {
  auto b = p2::define_all(linker);
  if (!b) return Unexpected(b.error());
  return {};
}

void bind(engine::Store& store, std::shared_ptr<Ctx> ctx) {
  auto d = std::make_shared<StoreData>();
  d->ctx = std::move(ctx);
  store.set_host_data(std::move(d));
}

StoreData* store_data(engine::Store& store) { return static_cast<StoreData*>(store.host_data()); }

}  // namespace flotilla::wasi
