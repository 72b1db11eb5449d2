// The runtime behind wasm-rt.h: function type registry, traps and per-call unwinding, linear
// memories and tables with limits, host calls and the deadline watchdog.
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdarg>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "internal.h"

namespace flotilla::engine {
namespace {

constexpr uint64_t kPage = 65536;

thread_local CallFrame* t_frame = nullptr;

// --- function types ---------------------------------------------------------------------

std::mutex g_types_mu;
std::map<std::string, uint32_t>& type_map() {
  static std::map<std::string, uint32_t> m;
  return m;
}

uint32_t intern_key(const std::string& key) {
  // Ids never change once given, so each thread keeps the ones it has seen and takes the
  // shared lock only for a signature new to it (instantiation creates host functions often).
  thread_local std::unordered_map<std::string, uint32_t> seen;
  if (auto it = seen.find(key); it != seen.end()) return it->second;
  std::lock_guard<std::mutex> lock(g_types_mu);
  auto& m = type_map();
  auto [it, inserted] = m.emplace(key, static_cast<uint32_t>(m.size() + 1));
  seen.emplace(key, it->second);
  return it->second;
}

char type_code(ValType t) { return "IJFDVre"[static_cast<int>(t)]; }
char type_code_rt(int t) {
  switch (t) {
    case WASM_RT_I32:
      return 'I';
    case WASM_RT_I64:
      return 'J';
    case WASM_RT_F32:
      return 'F';
    case WASM_RT_F64:
      return 'D';
    case WASM_RT_FUNCREF:
      return 'r';
    case WASM_RT_EXTERNREF:
      return 'e';
  }
  return '?';
}

uint32_t rt_register_func_type(uint32_t params, uint32_t results, ...) {
  std::string key;
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < params; ++i) key += type_code_rt(va_arg(ap, int));
  key += ':';
  for (uint32_t i = 0; i < results; ++i) key += type_code_rt(va_arg(ap, int));
  va_end(ap);
  return intern_key(key);
}

// --- traps ------------------------------------------------------------------------------

__attribute__((noreturn)) void rt_trap(wasm_rt_trap_t code) {
  CallFrame* f = t_frame;
  if (!f) {
    // Guest code running outside any entry frame cannot happen through the public API.
    fprintf(stderr, "flotilla: trap %d outside of a guest call\n", static_cast<int>(code));
    abort();
  }
  if (code == WASM_RT_TRAP_EXHAUSTION && f->store && f->store->ctx.interrupt) {
    code = WASM_RT_TRAP_INTERRUPTED;
  }
  f->trap = code;
  _longjmp(f->jb, 1);
}

StoreLimits current_limits() {
  if (t_frame && t_frame->store) return t_frame->store->limits;
  return StoreLimits{};
}

// --- memories ---------------------------------------------------------------------------

// Records what a resource-limit trap ran into, for the error message.
void set_trap_detail(const std::string& text) {
  if (CallFrame* f = t_frame) snprintf(f->detail, sizeof f->detail, "%s", text.c_str());
}

void allocate_memory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max, bool guarded) {
  bool ok;
  {
    // The Result must be destroyed before trapping: the trap longjmps over this frame.
    auto r = memory_allocate(m, initial, max, current_limits().max_memory_pages, guarded);
    ok = r.has_value();
    if (!ok) set_trap_detail(r.error().message);
  }
  if (!ok) rt_trap(WASM_RT_TRAP_RESOURCE_LIMIT);
}

void rt_allocate_memory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  allocate_memory(m, initial, max, false);
}

void rt_allocate_memory_guarded(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  allocate_memory(m, initial, max, true);
}

// The memory of the module being instantiated: from its image when the instantiation carries
// one (and the store's limits allow the size), else as allocate_memory.
uint32_t allocate_memory_image(wasm_rt_memory_t* m, uint32_t initial, uint32_t max, bool guarded) {
  CallFrame* f = t_frame;
  const MemoryImage* image = nullptr;
  if (f && f->images_left) {  // the next defined memory's image (or null)
    image = f->images->get();
    ++f->images;
    --f->images_left;
  }
  if (!image || image->pages != initial) {
    allocate_memory(m, initial, max, guarded);
    return 0;
  }
  bool ok;
  {
    auto r = memory_allocate_image(m, *image, max, current_limits().max_memory_pages, guarded);
    ok = r.has_value();
    if (!ok) set_trap_detail(r.error().message);
  }
  if (!ok) rt_trap(WASM_RT_TRAP_RESOURCE_LIMIT);
  return 1;
}

uint32_t rt_allocate_memory_image(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  return allocate_memory_image(m, initial, max, false);
}

uint32_t rt_allocate_memory_image_guarded(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  return allocate_memory_image(m, initial, max, true);
}

uint32_t rt_grow_memory(wasm_rt_memory_t* m, uint32_t delta) {
  return memory_grow(m, delta, current_limits().max_memory_pages);
}

void rt_free_memory(wasm_rt_memory_t* m) { memory_free(m); }

// --- tables -----------------------------------------------------------------------------

template <typename Table, typename Elem>
void table_alloc(Table* t, uint32_t elements, uint32_t max) {
  t->data = nullptr;
  t->size = 0;
  t->max_size = max;
  uint64_t limit = current_limits().max_table_elements;
  if (elements > limit) {
    if (CallFrame* f = t_frame)
      snprintf(f->detail, sizeof f->detail, "table of %u elements exceeds the limit of %llu",
               elements, static_cast<unsigned long long>(limit));
    rt_trap(WASM_RT_TRAP_RESOURCE_LIMIT);
  }
  if (elements) {
    t->data = static_cast<Elem*>(calloc(elements, sizeof(Elem)));
    if (!t->data) {
      if (CallFrame* f = t_frame)
        snprintf(f->detail, sizeof f->detail, "cannot allocate a table of %u elements", elements);
      rt_trap(WASM_RT_TRAP_RESOURCE_LIMIT);
    }
  }
  t->size = elements;
}

template <typename Table, typename Elem>
uint32_t table_grow(Table* t, uint32_t delta, Elem init) {
  uint64_t old = t->size;
  uint64_t n = old + delta;
  if (n > t->max_size || n > current_limits().max_table_elements) return UINT32_MAX;
  if (delta == 0) return static_cast<uint32_t>(old);
  auto* d = static_cast<Elem*>(realloc(t->data, n * sizeof(Elem)));
  if (!d) return UINT32_MAX;
  for (uint64_t i = old; i < n; ++i) d[i] = init;
  t->data = d;
  t->size = static_cast<uint32_t>(n);
  return static_cast<uint32_t>(old);
}

void rt_alloc_funcref_table(wasm_rt_funcref_table_t* t, uint32_t n, uint32_t max) {
  table_alloc<wasm_rt_funcref_table_t, wasm_rt_funcref_t>(t, n, max);
}
void rt_alloc_externref_table(wasm_rt_externref_table_t* t, uint32_t n, uint32_t max) {
  table_alloc<wasm_rt_externref_table_t, wasm_rt_externref_t>(t, n, max);
}
void rt_free_funcref_table(wasm_rt_funcref_table_t* t) {
  free(t->data);
  t->data = nullptr;
  t->size = 0;
}
void rt_free_externref_table(wasm_rt_externref_table_t* t) {
  free(t->data);
  t->data = nullptr;
  t->size = 0;
}
uint32_t rt_grow_funcref_table(wasm_rt_funcref_table_t* t, uint32_t d, wasm_rt_funcref_t v) {
  return table_grow(t, d, v);
}
uint32_t rt_grow_externref_table(wasm_rt_externref_table_t* t, uint32_t d, wasm_rt_externref_t v) {
  return table_grow(t, d, v);
}

// --- host calls -------------------------------------------------------------------------

int rt_call_host(void* env, flot_val_t* io) {
  auto* he = static_cast<HostCallEnv*>(env);
  FuncData* f = he->func;
  CallFrame* frame = t_frame;
  StoreImpl* store = frame ? frame->store : nullptr;
  if (!store) return WASM_RT_TRAP_HOST;
  // Room for the usual arity, left unconstructed: only the values in use are made (zeroing
  // two arrays of 16 on every host call showed up in profiles).
  union Room {
    Room() {}
    Val v[16];
  };
  static_assert(std::is_trivially_destructible_v<Val>);
  Room params, results;
  std::vector<Val> big_params;
  Val* pv = params.v;
  size_t np = f->type.params.size(), nr = f->type.results.size();
  if (np > 16) {
    big_params.resize(np);
    pv = big_params.data();
  }
  for (size_t i = 0; i < np; ++i) std::construct_at(pv + i, raw_to_val(f->type.params[i], io[i]));
  std::vector<Val> big_results;
  Val* rv = results.v;
  if (nr > 16) {
    big_results.resize(nr);
    rv = big_results.data();
  }
  for (size_t i = 0; i < nr; ++i) std::construct_at(rv + i, Val::default_for(f->type.results[i]));
  // The host function may call back into guest code (a nested frame).
  Result<void> r;
  r = [&]() -> Result<void> {
    try {
      Caller caller(*store_handle(store), he->caller);
      return f->host(caller, std::span<const Val>(pv, np), std::span<Val>(rv, nr));
    } catch (const std::exception& e) {
      return make_error(ErrorKind::Trap, std::string("host function threw: ") + e.what());
    } catch (...) {
      return make_error(ErrorKind::Trap, "host function threw an exception");
    }
  }();
  if (!r) {
    frame = t_frame;
    if (frame) {
      frame->host_error = r.error();
      frame->has_host_error = true;
    }
    return r.error().trap && *r.error().trap == TrapKind::Interrupted ? WASM_RT_TRAP_INTERRUPTED
                                                                      : WASM_RT_TRAP_HOST;
  }
  for (size_t i = 0; i < nr; ++i) {
    if (rv[i].type() != f->type.results[i]) {
      frame = t_frame;
      if (frame) {
        frame->host_error = Error{ErrorKind::Trap,
                                  "host function returned a value of the wrong type",
                                  TrapKind::HostError,
                                  {},
                                  {}};
        frame->has_host_error = true;
      }
      return WASM_RT_TRAP_HOST;
    }
    // The same rule as parameters of Func::call and table/global writes: a value the guest
    // cannot use (a host function's funcref) must not reach it.
    if (auto ok = check_val_for_wasm(rv[i]); !ok) {
      frame = t_frame;
      if (frame) {
        frame->host_error = ok.error();
        frame->host_error.kind = ErrorKind::Trap;
        frame->host_error.trap = TrapKind::HostError;
        frame->has_host_error = true;
      }
      return WASM_RT_TRAP_HOST;
    }
    val_to_raw(rv[i], io[i]);
  }
  return 0;
}

// --- exceptions ---------------------------------------------------------------------------
//
// A try block of generated code registers its landing place with the running guest call
// (CallFrame::unwind: per host->guest entry, so per thread and fiber); a throw longjmps there,
// or traps as an uncaught exception when the call has no try open. Exceptions never cross a
// host frame: a nested guest entry starts with no try, so an exception it does not catch ends
// that entry as a trap, which its host caller sees as an error.

// The exception being thrown: its tag, and its values in a per-thread buffer (the catching
// code copies them out right after landing, before any other guest code runs).
struct Exception {
  const void* tag = nullptr;
  std::unique_ptr<uint8_t[]> data;
  uint32_t capacity = 0;
};
thread_local Exception t_exception;
// More than any tag's values need (codegen.cc: at most 1000 parameters).
constexpr uint32_t kMaxExceptionBytes = 64 * 1024;

flot_unwind_t* rt_get_unwind_target() { return t_frame ? t_frame->unwind : nullptr; }

void rt_set_unwind_target(flot_unwind_t* target) {
  if (t_frame) t_frame->unwind = target;
}

void rt_load_exception(const void* tag, uint32_t size, const void* values) {
  Exception& x = t_exception;
  if (size > x.capacity) {
    if (size > kMaxExceptionBytes) rt_trap(WASM_RT_TRAP_RESOURCE_LIMIT);
    x.data.reset(new (std::nothrow) uint8_t[kMaxExceptionBytes]);
    if (!x.data) rt_trap(WASM_RT_TRAP_RESOURCE_LIMIT);
    x.capacity = kMaxExceptionBytes;
  }
  x.tag = tag;
  if (size) memcpy(x.data.get(), values, size);
}

__attribute__((noreturn)) void rt_throw() {
  flot_unwind_t* target = t_frame ? t_frame->unwind : nullptr;
  if (!target) rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
  target->ctx->depth = target->depth;
  _longjmp(target->buf, 1);
}

const void* rt_exception_tag() { return t_exception.tag; }

void* rt_exception() { return t_exception.data.get(); }

const flot_rt_api_t kApi = {
    rt_trap,
    rt_register_func_type,
    rt_allocate_memory,
    rt_grow_memory,
    rt_free_memory,
    rt_alloc_funcref_table,
    rt_free_funcref_table,
    rt_alloc_externref_table,
    rt_free_externref_table,
    rt_grow_funcref_table,
    rt_grow_externref_table,
    rt_call_host,
    rt_allocate_memory_image,
    rt_get_unwind_target,
    rt_set_unwind_target,
    rt_load_exception,
    rt_throw,
    rt_exception_tag,
    rt_exception,
};

// The same table with guard-page memory allocation.
const flot_rt_api_t kApiGuarded = [] {
  flot_rt_api_t api = kApi;
  api.allocate_memory = rt_allocate_memory_guarded;
  api.allocate_memory_image = rt_allocate_memory_image_guarded;
  return api;
}();

thread_local char* t_fiber_stack_low = nullptr;  // set by swap_fiber_state

}  // namespace
}  // namespace flotilla::engine
extern "C" void* __libc_stack_end;  // glibc: the top of the main thread's stack
namespace flotilla::engine {
namespace {

// Lowest usable address of the current stack: the running fiber's, else the thread's (cached).
char* thread_stack_low() {
  if (t_fiber_stack_low) return t_fiber_stack_low + 16 * 1024;  // margin for host code
  thread_local char* low = nullptr;
  if (!low && ::getpid() == static_cast<pid_t>(::syscall(SYS_gettid))) {
    // The main thread: its stack ends at __libc_stack_end and may grow to RLIMIT_STACK.
    // (pthread_getattr_np would parse /proc/self/maps to say the same, ~0.3 ms per process.)
    rlimit rl{};
    if (::getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (uintptr_t{1} << 40)) {
      low = static_cast<char*>(__libc_stack_end) - rl.rlim_cur + 64 * 1024;
    }
  }
  if (!low) {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &addr, &size);
      pthread_attr_destroy(&attr);
    }
    low = static_cast<char*>(addr) + 64 * 1024;  // keep a margin for host code and signals
  }
  return low;
}

// --- code ranges and the interruption signal ---------------------------------------------
//
// A guest spinning in a loop is stopped by a signal sent to its thread: if the interrupted
// instruction is in generated code, the handler unwinds to the innermost entry frame as a
// trap. Anywhere else (host code, the runtime, libc) the handler does nothing and the watchdog
// signals again shortly; calls into guest functions check the interrupt flag as well.

constexpr int kChunk = 1024;
constexpr int kChunks = 64;
struct RangeSlot {
  std::atomic<uintptr_t> lo{0}, hi{0};
};
std::atomic<RangeSlot*> g_chunks[kChunks];
std::atomic<int> g_range_count{0};
std::mutex g_range_mu;
std::vector<int> g_free_slots;

bool in_generated_code(uintptr_t pc) {
  int n = g_range_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    RangeSlot* chunk = g_chunks[i / kChunk].load(std::memory_order_acquire);
    if (!chunk) continue;
    RangeSlot& r = chunk[i % kChunk];
    uintptr_t lo = r.lo.load(std::memory_order_acquire);
    if (lo && pc >= lo && pc < r.hi.load(std::memory_order_relaxed)) return true;
  }
  return false;
}

int interrupt_signal() { return SIGRTMIN + 7; }

void on_interrupt_signal(int, siginfo_t*, void* uc) {
  CallFrame* f = t_frame;
  if (!f || !f->store || !f->store->ctx.interrupt) return;
  auto pc = static_cast<uintptr_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
  if (!in_generated_code(pc)) return;
  f->trap = WASM_RT_TRAP_INTERRUPTED;
  _longjmp(f->jb, 1);  // SA_NODEFER: the signal mask needs no restoring
}

struct sigaction g_prev_segv, g_prev_bus;

// Guard-page mode: a fault in generated code is an out-of-bounds access of the running guest.
// Anything else goes to the handler that was installed before ours.
void on_fault_signal(int sig, siginfo_t* info, void* uc) {
  CallFrame* f = t_frame;
  auto pc = static_cast<uintptr_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
  if (f && in_generated_code(pc)) {
    f->trap = WASM_RT_TRAP_OOB;
    _longjmp(f->jb, 1);
  }
  const struct sigaction& prev = sig == SIGSEGV ? g_prev_segv : g_prev_bus;
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, info, uc);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  } else {
    signal(sig, SIG_DFL);  // returning re-executes the access and takes the default action
  }
}

void install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault_signal;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_prev_segv);
    sigaction(SIGBUS, &sa, &g_prev_bus);
  });
}

void install_signal_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_interrupt_signal;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(interrupt_signal(), &sa, nullptr);
  });
}

// --- watchdog ---------------------------------------------------------------------------

struct Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  std::map<StoreImpl*, std::chrono::steady_clock::time_point> deadlines;
  std::thread thread;
  bool started = false;
  // When the thread wakes next on its own (max: it waits for a notification). A new deadline
  // later than that needs no wake-up: a server sets one per request.
  std::chrono::steady_clock::time_point next_wake = std::chrono::steady_clock::time_point::min();

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      auto next = std::chrono::steady_clock::time_point::max();
      for (auto it = deadlines.begin(); it != deadlines.end();) {
        StoreImpl* s = it->first;
        if (it->second <= now) {
          s->ctx.interrupt = 1;
          __atomic_store_n(&s->ctx.max_depth, 0u, __ATOMIC_RELAXED);
          if (s->running.load(std::memory_order_acquire)) {
            // Still in guest code: signal its thread, and again in 2 ms until it has left.
            pthread_kill(s->thread, interrupt_signal());
            it->second = now + std::chrono::milliseconds(2);
            next = std::min(next, it->second);
            ++it;
          } else {
            it = deadlines.erase(it);
          }
        } else {
          next = std::min(next, it->second);
          ++it;
        }
      }
      next_wake = next;
      if (next == std::chrono::steady_clock::time_point::max()) {
        cv.wait(lock);
      } else {
        cv.wait_until(lock, next);
      }
      next_wake = std::chrono::steady_clock::time_point::min();  // running: it rescans anyway
    }
  }
};

Watchdog& watchdog() {
  static Watchdog* w = new Watchdog();  // lives for the process; its thread never exits
  return *w;
}

}  // namespace

const flot_rt_api_t* runtime_api(bool guard_pages) {
  if (!guard_pages) return &kApi;
  install_fault_handler();
  return &kApiGuarded;
}

int register_code_range(uintptr_t lo, uintptr_t hi) {
  std::lock_guard<std::mutex> lock(g_range_mu);
  int slot;
  if (!g_free_slots.empty()) {
    slot = g_free_slots.back();
    g_free_slots.pop_back();
  } else {
    slot = g_range_count.load();
    if (slot >= kChunk * kChunks) return -1;
    if (!g_chunks[slot / kChunk].load())
      g_chunks[slot / kChunk].store(new RangeSlot[kChunk]);  // never freed
  }
  RangeSlot& r = g_chunks[slot / kChunk].load()[slot % kChunk];
  r.hi.store(hi, std::memory_order_relaxed);
  r.lo.store(lo, std::memory_order_release);
  if (slot >= g_range_count.load()) g_range_count.store(slot + 1, std::memory_order_release);
  return slot;
}

void unregister_code_range(int slot) {
  std::lock_guard<std::mutex> lock(g_range_mu);
  g_chunks[slot / kChunk].load()[slot % kChunk].lo.store(0, std::memory_order_release);
  g_free_slots.push_back(slot);
}

uint32_t intern_func_type(const FuncType& t) {
  std::string key;
  for (auto p : t.params) key += type_code(p);
  key += ':';
  for (auto r : t.results) key += type_code(r);
  return intern_key(key);
}

CallFrame* current_frame() { return t_frame; }

FiberState swap_fiber_state(FiberState next) {
  FiberState prev{t_frame, t_fiber_stack_low};
  t_frame = static_cast<CallFrame*>(next.frame);
  t_fiber_stack_low = static_cast<char*>(next.stack_low);
  return prev;
}

int guarded_call(StoreImpl* store, CallFrame& frame, void (*thunk)(void*), void* arg) {
  frame.store = store;
  frame.prev = t_frame;
  frame.trap = 0;
  frame.unwind = nullptr;
  frame.detail[0] = 0;
  flot_ctx_t& ctx = store->ctx;
  uint32_t saved_depth = ctx.depth;
  char* saved_limit = ctx.stack_limit;
  bool outermost = store->entries == 0;
  // A function's frame is allocated before its prologue check runs, and a failing check calls
  // the trap handler below it. So the limit keeps room for two of the largest frames any
  // instantiated function needs (the caller that passed its check, then the callee that fails
  // its own), and no guest code is entered with less than one largest frame of stack left.
  char* sp = static_cast<char*>(__builtin_frame_address(0));
  char* low = thread_stack_low();
  if (sp < low + store->max_frame_bytes) {
    frame.trap = WASM_RT_TRAP_EXHAUSTION;
    return frame.trap;
  }
  if (outermost) {
    install_signal_handler();
    store->thread = pthread_self();
    store->running.store(true, std::memory_order_release);
    char* limit = sp - store->limits.max_wasm_stack;
    char* floor = low + 2 * store->max_frame_bytes;
    ctx.stack_limit = limit > floor ? limit : floor;
    ctx.depth = 0;
  }
  store->entries++;
  t_frame = &frame;
  int result = 0;
  if (_setjmp(frame.jb) == 0) {
    thunk(arg);
  } else {
    result = frame.trap ? frame.trap : WASM_RT_TRAP_UNREACHABLE;
  }
  t_frame = frame.prev;
  store->entries--;
  if (outermost) store->running.store(false, std::memory_order_release);
  ctx.depth = saved_depth;
  ctx.stack_limit = saved_limit;
  return result;
}

Error trap_error(const CallFrame& frame, std::string_view function) {
  Error e;
  e.kind = ErrorKind::Trap;
  e.function = std::string(function);
  if (frame.has_host_error &&
      (frame.trap == WASM_RT_TRAP_HOST || frame.trap == WASM_RT_TRAP_INTERRUPTED)) {
    e = frame.host_error;
    e.kind = ErrorKind::Trap;
    if (!e.trap) e.trap = TrapKind::HostError;
    if (e.function.empty()) e.function = std::string(function);
    return e;
  }
  struct Known {
    int code;
    TrapKind kind;
    const char* message;
  };
  static const Known kKnown[] = {
      {WASM_RT_TRAP_OOB, TrapKind::MemoryOutOfBounds, "out of bounds memory access"},
      {WASM_RT_TRAP_INT_OVERFLOW, TrapKind::IntegerOverflow, "integer overflow"},
      {WASM_RT_TRAP_DIV_BY_ZERO, TrapKind::IntegerDivideByZero, "integer divide by zero"},
      {WASM_RT_TRAP_INVALID_CONVERSION, TrapKind::InvalidConversion,
       "invalid conversion to integer"},
      {WASM_RT_TRAP_UNREACHABLE, TrapKind::Unreachable, "unreachable executed"},
      {WASM_RT_TRAP_CALL_INDIRECT, TrapKind::IndirectCall,
       "indirect call: undefined element, null or signature mismatch"},
      {WASM_RT_TRAP_UNCAUGHT_EXCEPTION, TrapKind::UncaughtException,
       "uncaught exception (thrown and not caught before it reached the host)"},
      {WASM_RT_TRAP_EXHAUSTION, TrapKind::CallStackExhausted, "call stack exhausted"},
      {WASM_RT_TRAP_INTERRUPTED, TrapKind::Interrupted, "interrupted: deadline exceeded"},
      {WASM_RT_TRAP_RESOURCE_LIMIT, TrapKind::ResourceLimit, "resource limit exceeded"},
  };
  e.trap = TrapKind::HostError;
  e.message = "host function failed";
  for (const auto& k : kKnown) {
    if (k.code == frame.trap) {
      e.trap = k.kind;
      e.message = k.message;
    }
  }
  if (frame.trap == WASM_RT_TRAP_RESOURCE_LIMIT && frame.detail[0])
    e.message += std::string(": ") + frame.detail;
  return e;
}

// --- memory implementation --------------------------------------------------------------

// Linear memories are anonymous private mappings of exactly the accessible size: every access
// is bounds-checked by the generated code, so no guard region is needed. Growing remaps the
// mapping (it may move; generated code reloads the base pointer after any call). Guarded
// memories (guard-page mode) reserve kGuardReserve bytes, inaccessible beyond the current size.
// Memories created from a module's image are reservations too (memory_allocate_image).
namespace {

// Small linear memories are not unmapped when their store goes: they are zeroed and kept for
// the next instance that asks for the same size or a little less. Mapping, faulting in and
// unmapping 64 KiB costs 8-9 us on this VM (see docs/status.md, instantiate benchmark);
// zeroing it and handing it out again costs well under one. A pooled mapping larger than asked
// for stays whole: growing into it needs no syscall (a memory that grows in its start function,
// as the preview1 adapter does, comes back to the pool larger than it starts). Bounded: at most
// kPoolEntries mappings of at most kPoolMaxBytes each stay resident.
constexpr uint64_t kPoolMaxBytes = kMemoryPoolMaxBytes;
constexpr size_t kPoolEntries = 32;

struct MemoryPool {
  std::mutex mu;
  std::vector<std::pair<uint64_t, uint8_t*>> free;  // (bytes, zeroed read-write mapping)
};

MemoryPool& memory_pool() {
  // Intentionally never destroyed: stores may free memories during static destruction.
  static MemoryPool* const pool = new MemoryPool();
  return *pool;
}

// The smallest pooled mapping of at least `bytes` and at most 4 times that; its size goes to
// *mapped.
uint8_t* pool_take(uint64_t bytes, uint64_t* mapped) {
  MemoryPool& pool = memory_pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  size_t best = pool.free.size();
  for (size_t i = pool.free.size(); i-- > 0;) {
    uint64_t n = pool.free[i].first;
    if (n < bytes || n / 4 > bytes) continue;
    if (best == pool.free.size() || n < pool.free[best].first) best = i;
    if (n == bytes) break;
  }
  if (best == pool.free.size()) return nullptr;
  uint8_t* p = pool.free[best].second;
  *mapped = pool.free[best].first;
  pool.free.erase(pool.free.begin() + static_cast<std::ptrdiff_t>(best));
  return p;
}

// Pools a read-write mapping of `bytes`, of which only the first `used` may be non-zero.
bool pool_put(uint8_t* data, uint64_t bytes, uint64_t used) {
  if (bytes == 0 || bytes > kPoolMaxBytes) return false;
  {
    MemoryPool& pool = memory_pool();
    std::lock_guard<std::mutex> lock(pool.mu);
    if (pool.free.size() >= kPoolEntries) return false;
  }
  std::memset(data, 0, std::min(used, bytes));  // outside the lock
  MemoryPool& pool = memory_pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  if (pool.free.size() >= kPoolEntries) return false;
  pool.free.emplace_back(bytes, data);
  return true;
}

}  // namespace

Result<void> memory_allocate(wasm_rt_memory_t* m, uint64_t initial, uint64_t max,
                             uint64_t limit_pages, bool guarded) {
  *m = wasm_rt_memory_t{};
  m->max_pages = static_cast<uint32_t>(std::min<uint64_t>(max, 65536));
  if (initial > limit_pages || initial > 65536) {
    return make_error(ErrorKind::Limit, "memory of " + std::to_string(initial) +
                                            " pages exceeds the limit of " +
                                            std::to_string(limit_pages));
  }
  uint64_t bytes = initial * kPage;
  if (!guarded && bytes == 0) return {};
  if (!guarded) {
    uint64_t mapped = 0;
    if (uint8_t* pooled = pool_take(bytes, &mapped)) {
      m->data = pooled;
      m->reserved = m->committed = mapped;  // all of it read-write (and zero)
      m->size = bytes;
      m->pages = static_cast<uint32_t>(initial);
      return {};
    }
  }
  uint64_t reserve = guarded ? kGuardReserve : bytes;
  void* p = mmap(nullptr, reserve, guarded ? PROT_NONE : PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return make_error(ErrorKind::Limit, "cannot allocate linear memory");
  if (guarded && bytes && mprotect(p, bytes, PROT_READ | PROT_WRITE) != 0) {
    munmap(p, reserve);
    return make_error(ErrorKind::Limit, "cannot commit linear memory");
  }
  m->data = static_cast<uint8_t*>(p);
  m->reserved = reserve;
  m->committed = bytes;
  m->pages = static_cast<uint32_t>(initial);
  m->size = bytes;
  return {};
}

// Image-backed memories: a private mapping of the image's memfd over the initial size, inside
// an inaccessible anonymous reservation of the maximum size (guard-page mode: kGuardReserve),
// so growth commits more of the reservation like a guarded memory and never moves or remaps
// the file mapping. Pages are copied only when written and faulted in only when touched.
// Never pooled: they are larger than kPoolMaxBytes (build_memory_images) and reserved apart.
Result<void> memory_allocate_image(wasm_rt_memory_t* m, const MemoryImage& image, uint64_t max,
                                   uint64_t limit_pages, bool guarded) {
  *m = wasm_rt_memory_t{};
  m->max_pages = static_cast<uint32_t>(std::min<uint64_t>(max, 65536));
  uint64_t initial = image.pages;
  if (initial > limit_pages || initial > 65536) {
    return make_error(ErrorKind::Limit, "memory of " + std::to_string(initial) +
                                            " pages exceeds the limit of " +
                                            std::to_string(limit_pages));
  }
  uint64_t bytes = image.bytes;
  uint64_t reserve =
      guarded ? kGuardReserve : std::max<uint64_t>(bytes, uint64_t(m->max_pages) * kPage);
  void* p;
  if (reserve == bytes) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, image.fd, 0);
    if (p == MAP_FAILED) return make_error(ErrorKind::Limit, "cannot map a memory image");
  } else {
    p = mmap(nullptr, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return make_error(ErrorKind::Limit, "cannot allocate linear memory");
    if (mmap(p, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, image.fd,
             0) == MAP_FAILED) {
      munmap(p, reserve);
      return make_error(ErrorKind::Limit, "cannot map a memory image");
    }
  }
  m->data = static_cast<uint8_t*>(p);
  m->reserved = reserve;
  m->committed = bytes;
  m->pages = static_cast<uint32_t>(initial);
  m->size = bytes;
  return {};
}

uint32_t memory_grow(wasm_rt_memory_t* m, uint32_t delta, uint64_t limit_pages) {
  uint64_t old = m->pages;
  uint64_t n = old + delta;
  if (n > m->max_pages || n > limit_pages || n > 65536) return UINT32_MAX;
  if (delta == 0) return static_cast<uint32_t>(old);
  uint64_t bytes = n * kPage;
  if (bytes > m->committed) {
    if (bytes <= m->reserved) {  // guard-page reservation: commit more of it
      if (mprotect(m->data + m->committed, bytes - m->committed, PROT_READ | PROT_WRITE) != 0)
        return UINT32_MAX;
    } else {
      void* p;
      if (m->data) {
        p = mremap(m->data, m->reserved, bytes, MREMAP_MAYMOVE);
      } else {
        p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      }
      if (p == MAP_FAILED) return UINT32_MAX;
      m->data = static_cast<uint8_t*>(p);
      m->reserved = bytes;
    }
    m->committed = bytes;
  }
  m->pages = static_cast<uint32_t>(n);
  m->size = bytes;
  return static_cast<uint32_t>(old);
}

void memory_free(wasm_rt_memory_t* m) {
  // Mappings that are read-write throughout (not guard-page reservations) may go back to the
  // pool. Guest code never wrote beyond the current size.
  bool rw = m->reserved == m->committed;
  if (m->data && m->reserved && !(rw && pool_put(m->data, m->reserved, m->size)))
    munmap(m->data, m->reserved);
  m->data = nullptr;
  m->size = 0;
  m->pages = 0;
  m->reserved = 0;
  m->committed = 0;
}

// --- values -----------------------------------------------------------------------------

void val_to_raw(const Val& v, flot_val_t& out) {
  switch (v.type()) {
    case ValType::I32:
      out.i32 = v.u32();
      break;
    case ValType::I64:
      out.i64 = v.u64();
      break;
    case ValType::F32: {
      uint32_t b = v.f32_bits();
      memcpy(&out.f32, &b, 4);
      break;
    }
    case ValType::F64: {
      uint64_t b = v.f64_bits();
      memcpy(&out.f64, &b, 8);
      break;
    }
    case ValType::FuncRef: {
      const FuncRef& r = v.funcref();
      out.funcref.func_type = r.type_id;
      out.funcref.func = reinterpret_cast<wasm_rt_function_ptr_t>(r.fn);
      out.funcref.module_instance = r.env;
      break;
    }
    case ValType::ExternRef:
      out.externref = reinterpret_cast<void*>(v.externref());
      break;
    case ValType::V128:
      out.i64 = 0;
      break;
  }
}

Val raw_to_val(ValType t, const flot_val_t& in) {
  switch (t) {
    case ValType::I32:
      return Val::i32(static_cast<int32_t>(in.i32));
    case ValType::I64:
      return Val::i64(static_cast<int64_t>(in.i64));
    case ValType::F32: {
      uint32_t b;
      memcpy(&b, &in.f32, 4);
      return Val::f32_bits(b);
    }
    case ValType::F64: {
      uint64_t b;
      memcpy(&b, &in.f64, 8);
      return Val::f64_bits(b);
    }
    case ValType::FuncRef:
      return Val::funcref(FuncRef{in.funcref.func_type, reinterpret_cast<void*>(in.funcref.func),
                                  in.funcref.module_instance});
    case ValType::ExternRef:
      return Val::externref(reinterpret_cast<uintptr_t>(in.externref));
    case ValType::V128:
      return Val::i64(0);
  }
  return Val();
}

void store_global(GlobalData& g, const Val& v) {
  flot_val_t raw{};
  val_to_raw(v, raw);
  switch (g.type.content) {
    case ValType::I32:
      memcpy(g.ptr, &raw.i32, 4);
      break;
    case ValType::F32:
      memcpy(g.ptr, &raw.f32, 4);
      break;
    case ValType::I64:
      memcpy(g.ptr, &raw.i64, 8);
      break;
    case ValType::F64:
      memcpy(g.ptr, &raw.f64, 8);
      break;
    case ValType::FuncRef:
      memcpy(g.ptr, &raw.funcref, sizeof(wasm_rt_funcref_t));
      break;
    case ValType::ExternRef:
      memcpy(g.ptr, &raw.externref, sizeof(void*));
      break;
    case ValType::V128:
      break;
  }
}

Val load_global(const GlobalData& g) {
  flot_val_t raw{};
  switch (g.type.content) {
    case ValType::I32:
      memcpy(&raw.i32, g.ptr, 4);
      break;
    case ValType::F32:
      memcpy(&raw.f32, g.ptr, 4);
      break;
    case ValType::I64:
      memcpy(&raw.i64, g.ptr, 8);
      break;
    case ValType::F64:
      memcpy(&raw.f64, g.ptr, 8);
      break;
    case ValType::FuncRef:
      memcpy(&raw.funcref, g.ptr, sizeof(wasm_rt_funcref_t));
      break;
    case ValType::ExternRef:
      memcpy(&raw.externref, g.ptr, sizeof(void*));
      break;
    case ValType::V128:
      break;
  }
  return raw_to_val(g.type.content, raw);
}

// --- watchdog API -----------------------------------------------------------------------

void watchdog_set(StoreImpl* store, std::chrono::steady_clock::time_point deadline) {
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  if (!w.started) {
    w.thread = std::thread([&w] { w.run(); });
    w.thread.detach();
    w.started = true;
  }
  store->ctx.interrupt = 0;
  store->ctx.max_depth = store->limits.max_call_depth;
  w.deadlines[store] = deadline;
  if (deadline < w.next_wake) w.cv.notify_all();
}

void watchdog_clear(StoreImpl* store) {
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  w.deadlines.erase(store);
  store->ctx.interrupt = 0;
  store->ctx.max_depth = store->limits.max_call_depth;
}

}  // namespace flotilla::engine
