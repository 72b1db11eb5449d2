// WASI 0.2 host state shared by the interface implementations (p2_*.cc): host resource types,
// the tables behind their handles, and helpers for building component values.
#pragma once
#include <dirent.h>
#include <flotilla/component/component.h>
#include <flotilla/wasi/http.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "ctx.h"

namespace flotilla::wasi::p2 {

namespace fc = flotilla::component;
using fc::HostContext;
using fc::Val;
using Params = std::span<const Val>;
using Results = std::span<Val>;
using engine::Result;

// Handles the host gives out for one resource type: rep -> object.
template <typename T>
struct Table {
  std::unordered_map<uint32_t, T> items;
  uint32_t next = 1;
  uint32_t add(T t) {
    uint32_t rep = next++;
    items.emplace(rep, std::move(t));
    return rep;
  }
  T* get(uint32_t rep) {
    auto it = items.find(rep);
    return it == items.end() ? nullptr : &it->second;
  }
  void erase(uint32_t rep) { items.erase(rep); }
};

// A host object a pollable can wait for (an HTTP body, an outgoing request in flight).
class PollSource {
 public:
  virtual ~PollSource() = default;
  // Makes what progress it can without blocking; true once the pollable is ready.
  virtual bool ready() = 0;
  // What to wait for while not ready (fd -1: nothing; the caller then polls again soon).
  virtual pollfd watch() = 0;
  // A second descriptor to wait for at the same time (fd -1: none).
  virtual pollfd watch_also() { return {-1, 0, 0}; }
  // When to look again even if nothing happened (a timeout of the source's own).
  virtual std::optional<uint64_t> deadline_ns() { return std::nullopt; }
};

// Something a pollable waits for.
struct Pollable {
  enum class Kind { Ready, Deadline, Readable, Writable, Source } kind = Kind::Ready;
  uint64_t deadline_ns = 0;                 // monotonic clock
  int fd = -1;                              // Readable/Writable (not owned)
  std::shared_ptr<sys::Fd> keep = nullptr;  // sockets: keeps `fd` open while the pollable lives
  std::shared_ptr<PollSource> source = nullptr;
};

struct InputStream {
  enum class Kind { Empty, Fd, File, Socket, Pipe } kind = Kind::Empty;
  int fd = -1;                       // Fd: not owned (stdin); File, Socket: owned copy below
  std::shared_ptr<sys::Fd> file;     // File, Socket: the descriptor's fd, shared
  uint64_t offset = 0;               // File
  std::shared_ptr<http::Pipe> pipe;  // Pipe: an HTTP body coming in
  bool closed = false;
};

struct OutputStream {
  // Socket: a connected TCP socket (fd and file set), written with send(MSG_NOSIGNAL).
  // Pipe: an HTTP body going out.
  enum class Kind { Discard, Fd, File, Append, Socket, Pipe } kind = Kind::Discard;
  int fd = -1;
  std::shared_ptr<sys::Fd> file;
  uint64_t offset = 0;
  std::shared_ptr<http::Pipe> pipe;  // Pipe: an HTTP body going out
  bool closed = false;
};

struct Descriptor {
  std::shared_ptr<sys::Fd> fd;
  bool is_dir = false;
  bool read = false, write = false;
  bool mutate = false;  // directories: may create, remove and rename entries
  // descriptor-flags as given to open-at (reported by get-flags)
  std::vector<std::string> flags;
};

struct DirCloser {
  void operator()(DIR* d) const {
    if (d) ::closedir(d);
  }
};
struct DirStream {
  std::unique_ptr<DIR, DirCloser> dir;
};

// The resource types one linker defines (shared by every guest linked through it).
struct Types {
  fc::ResourceTypePtr rt_error, rt_pollable, rt_input, rt_output, rt_descriptor, rt_dirstream,
      rt_term_in, rt_term_out, rt_network, rt_tcp, rt_udp, rt_incoming_dgram, rt_outgoing_dgram,
      rt_resolve;
};

struct Sockets;  // wasi:sockets tables (p2_sockets.cc)

// One guest's WASI 0.2 state: its context and the objects behind its handles.
struct State : Types {
  std::shared_ptr<Ctx> ctx;
  CtxImpl& c;
  explicit State(std::shared_ptr<Ctx> x) : ctx(std::move(x)), c(ctx->impl()) {}

  Table<int> errors;  // errno values
  Table<Pollable> pollables;
  Table<InputStream> inputs;
  Table<OutputStream> outputs;
  Table<Descriptor> descriptors;
  Table<DirStream> dirstreams;
  Table<int> terminals;  // terminal-input / terminal-output (no state)
  Table<int> networks;
  std::shared_ptr<Sockets> sockets;  // made by the first wasi:sockets call
  // Made on first use: constructing the generator fills 2.5 KB of state, which would be
  // paid by every instance (e.g. every HTTP request).
  std::unique_ptr<std::mt19937_64> insecure_gen;
  // Work that progresses only when this guest's calls drive it (outgoing HTTP requests in
  // flight): every wait of the guest (poll, a body) lets it progress and wakes for it too, so
  // that e.g. a request body goes out while the guest sleeps on a timer. Dropped once ready()
  // says it is over or nobody else holds it.
  std::vector<std::weak_ptr<PollSource>> background;
  bool insecure_seeded = false;
  std::pair<uint64_t, uint64_t> insecure_seed{0, 0};
  // The insecure generator and the insecure seed, drawn from the system on first use.
  std::mt19937_64& insecure();
  const std::pair<uint64_t, uint64_t>& insecure_seed_value();

 private:
  void seed_insecure();
};

// What the host functions of one linker capture: its resource types, and how to find the
// state of the guest calling them. A linker made for one context (add_to_linker(linker, ctx))
// holds that guest's state; a linker shared by many guests (add_to_linker(linker)) finds it
// in the caller's store (wasi::bind).
struct Binding : Types {
  std::shared_ptr<State> fixed;
  // The caller's state, or null when its store has no WASI context bound.
  State* get(HostContext& hc) const { return get(hc.store()); }
  State* get(engine::Store& store) const;
};
using BindingPtr = std::shared_ptr<Binding>;

// The error returned by a host function called from a store without a WASI context.
Unexpected<engine::Error> no_context();

Val own(const fc::ResourceTypePtr& rt, uint32_t rep);
uint32_t rep_of(const Val& v);
Val bytes_val(const uint8_t* p, size_t n);
// A list<u8> argument's bytes.
std::vector<uint8_t> val_bytes(const Val& v);
// The error-code enum case (wasi:filesystem/types, also used by sockets) for an errno value.
const char* error_code(int err);
// wasi:io/error resource holding `err`.
Val io_error(State& s, int err);
uint64_t monotonic_now();
Unexpected<engine::Error> host_trap(std::string message);

// Defines every WASI 0.2 group in `linker`, store-bound (wasi::add_to_linker(linker)).
Result<BindingPtr> define_all(fc::Linker& linker);
// Waits (through the state's waiter) until one of `ps` is ready.
// Waits until one of `ps` is ready; false (nothing ready) once the deadline of `store` has
// passed: the caller then fails with interrupted().
bool wait_any(State& s, const std::vector<const Pollable*>& ps, const engine::Store& store);
// Waits once for an HTTP body to change: through its driver when it has one (see
// http::Pipe::set_driver), else for its event descriptor (readable: something to read or the
// end; else room or the reader's departure).
void wait_pipe(State& s, http::Pipe& pipe, bool readable);
// The trap of a blocking call cut off by its store's deadline (TrapKind::Interrupted).
Unexpected<engine::Error> interrupted();

// Defines the interfaces of each group in `linker`.
Result<void> add_io(fc::Linker& linker, const BindingPtr& b);
Result<void> add_cli(fc::Linker& linker, const BindingPtr& b);
Result<void> add_filesystem(fc::Linker& linker, const BindingPtr& b);
Result<void> add_sockets(fc::Linker& linker, const BindingPtr& b);

}  // namespace flotilla::wasi::p2
