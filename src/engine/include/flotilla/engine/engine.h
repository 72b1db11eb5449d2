// Flotilla core WebAssembly engine: public API.
//
// Vocabulary follows Wasmtime: Engine (shared compiler + code cache), Module (validated, compiled
// code), Store (owns instances and their runtime state; used by one thread/fiber at a time),
// Linker (names -> externs), Instance, Func, Memory, Table, Global, Val.
//
// Error handling: every fallible call returns Expected<T, Error>. Traps raised by guest code are
// Errors with kind == ErrorKind::Trap and a TrapKind. Nothing here throws on bad input.
#pragma once

#include <flotilla/expected.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::engine {

// ---------------------------------------------------------------------------------------------
// Errors and traps

enum class TrapKind {
  Unreachable,          // `unreachable` executed
  MemoryOutOfBounds,    // out-of-bounds memory or table access
  IntegerDivideByZero,  // integer divide or remainder by zero
  IntegerOverflow,      // signed division overflow or float->int truncation overflow
  InvalidConversion,    // float->int conversion of NaN
  IndirectCall,         // call_indirect: index out of range, null entry or signature mismatch
  CallStackExhausted,   // call depth or native stack budget exceeded
  Interrupted,          // deadline passed or interrupt() requested
  ResourceLimit,        // memory/table over the store's limits, or allocation failure
  HostError,            // a host function returned an error
  UncaughtException,    // a thrown exception no try_table caught reached the host
};

const char* trap_kind_name(TrapKind kind);

enum class ErrorKind {
  Malformed,    // bytes are not a WebAssembly binary
  Invalid,      // binary decodes but fails validation
  Unsupported,  // valid, but uses a feature this engine does not execute (e.g. SIMD)
  Compile,      // code generation or C compilation failed
  Link,         // import missing or of the wrong type
  Trap,         // guest trapped
  Limit,        // over a configured limit (before running guest code)
  Usage,        // API misuse: wrong argument count or types, unknown export
  Io,           // file system or process errors (cache, compiler)
};

struct Error {
  ErrorKind kind = ErrorKind::Usage;
  std::string message;
  std::optional<TrapKind> trap;    // set when kind == Trap
  std::optional<uint64_t> offset;  // byte offset in the module, when known
  std::string function;            // export/function being called, when known

  std::string to_string() const;
};

template <typename T>
using Result = Expected<T, Error>;

inline Unexpected<Error> make_error(ErrorKind kind, std::string message) {
  return Unexpected<Error>(Error{kind, std::move(message), {}, {}, {}});
}

// ---------------------------------------------------------------------------------------------
// Types and values

enum class ValType : uint8_t { I32, I64, F32, F64, V128, FuncRef, ExternRef };
const char* val_type_name(ValType t);

struct FuncType {
  std::vector<ValType> params;
  std::vector<ValType> results;
  bool operator==(const FuncType&) const = default;
  std::string to_string() const;
};

struct Limits {
  uint64_t min = 0;
  std::optional<uint64_t> max;
  bool operator==(const Limits&) const = default;
};

struct MemoryType {
  Limits limits;
};
struct TableType {
  ValType element = ValType::FuncRef;
  Limits limits;
};
struct GlobalType {
  ValType content = ValType::I32;
  bool mutable_ = false;
};

enum class ExternKind : uint8_t { Func, Table, Memory, Global, Tag };
const char* extern_kind_name(ExternKind k);

struct ExternType {
  ExternKind kind = ExternKind::Func;
  FuncType func;
  TableType table;
  MemoryType memory;
  GlobalType global;
  FuncType tag;  // a tag's type: its parameters (no results)
  std::string to_string() const;
};

struct ImportType {
  std::string module;
  std::string name;
  ExternType type;
};
struct ExportType {
  std::string name;
  ExternType type;
};

class Func;

// A raw funcref as the runtime stores it in tables and globals. Opaque to users.
struct FuncRef {
  uint32_t type_id = 0;
  void* fn = nullptr;
  void* env = nullptr;
  bool is_null() const { return fn == nullptr; }
  bool operator==(const FuncRef&) const = default;
};

// A WebAssembly value. Floats are kept as bit patterns so NaN payloads survive round trips.
class Val {
 public:
  Val() = default;
  static Val i32(int32_t v) { return Val(ValType::I32, static_cast<uint32_t>(v)); }
  static Val i64(int64_t v) { return Val(ValType::I64, static_cast<uint64_t>(v)); }
  static Val f32_bits(uint32_t bits) { return Val(ValType::F32, bits); }
  static Val f64_bits(uint64_t bits) { return Val(ValType::F64, bits); }
  static Val f32(float v);
  static Val f64(double v);
  static Val funcref(FuncRef r) {
    Val v(ValType::FuncRef, 0);
    v.ref_ = r;
    return v;
  }
  static Val null_funcref() { return funcref({}); }
  // externref: an opaque host pointer-sized value; 0 is null.
  static Val externref(uintptr_t p) { return Val(ValType::ExternRef, p); }
  static Val default_for(ValType t);

  ValType type() const { return type_; }
  int32_t i32() const { return static_cast<int32_t>(bits_); }
  int64_t i64() const { return static_cast<int64_t>(bits_); }
  uint32_t u32() const { return static_cast<uint32_t>(bits_); }
  uint64_t u64() const { return bits_; }
  float f32() const;
  double f64() const;
  uint32_t f32_bits() const { return static_cast<uint32_t>(bits_); }
  uint64_t f64_bits() const { return bits_; }
  const FuncRef& funcref() const { return ref_; }
  uintptr_t externref() const { return static_cast<uintptr_t>(bits_); }
  bool is_null_ref() const {
    return type_ == ValType::FuncRef ? ref_.is_null() : (type_ == ValType::ExternRef && bits_ == 0);
  }
  std::string to_string() const;

 private:
  Val(ValType t, uint64_t bits) : type_(t), bits_(bits) {}
  ValType type_ = ValType::I32;
  uint64_t bits_ = 0;
  FuncRef ref_{};
};

// ---------------------------------------------------------------------------------------------
// Engine

enum class Tier { Baseline, Optimized, Auto };
const char* tier_name(Tier t);
std::optional<Tier> parse_tier(std::string_view s);

struct Config {
  // Auto: use a cached optimized build if present; otherwise run the baseline tier at once and
  // build the optimized tier in the background. Baseline/Optimized force one tier.
  Tier tier = Tier::Auto;
  // Optimized-tier code cache. Empty: $XDG_CACHE_HOME/flotilla (or ~/.cache/flotilla).
  std::filesystem::path cache_dir;
  bool cache_enabled = true;
  // System compiler for the optimized tier and its flags.
  std::string cc = "cc";
  std::vector<std::string> cc_flags = {"-O2"};
  // Maximum compiler processes running at once for the optimized tier (0: all cores).
  unsigned max_jobs = 0;
  // Generated C larger than this is split into several translation units for the optimized
  // tier (compiled in parallel, less peak memory per compiler). 0 disables splitting.
  size_t split_bytes = 8u << 20;
  // Optimized tier without explicit bounds checks: linear memories are 8 GiB reservations and
  // out-of-bounds accesses fault into a trap. Faster code; costlier instantiation. Memories
  // created in stores of this engine are all reserved this way.
  bool guard_pages = false;
  // Each linear memory a module defines that is larger than the small-memory pool (1 MiB) keeps
  // an image of it as initialised (active data segments applied, i32.const offsets in bounds),
  // and instances map that image copy-on-write instead of copying the segments.
  bool memory_image = true;
  // Multi-memory (Wasm 3.0): several memories per module, memory indices on loads, stores and
  // memory instructions. Off: Wasm 2.0 validation (at most one memory).
  bool multi_memory = true;
  // Exception handling (Wasm 3.0): tags, `throw`, `try_table` with catch and catch_all (not
  // exnref: catch_ref, catch_all_ref, throw_ref). Off: Wasm 2.0 decoding (no tag section).
  bool exceptions = true;
};

// Progress reports from long compilations (optimized tier).
struct CompileProgress {
  std::string stage;   // "decode", "codegen", "baseline", "cc", "cache-hit", "done"
  double seconds = 0;  // since the compilation started
};
using ProgressFn = std::function<void(const CompileProgress&)>;

class Module;
struct EngineImpl;

class Engine {
 public:
  explicit Engine(Config config = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const Config& config() const;
  std::filesystem::path cache_dir() const;
  // Waits for every queued background compilation to finish.
  void wait_background();

  std::shared_ptr<EngineImpl> impl() const { return impl_; }

 private:
  std::shared_ptr<EngineImpl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Module

struct ModuleImpl;

class Module {
 public:
  // Decodes, validates and compiles. With Tier::Auto the returned module runs on the baseline
  // tier unless the optimized code is already cached; the optimized build is queued.
  static Result<Module> compile(Engine& engine, std::span<const uint8_t> bytes,
                                std::string name = "module");
  static Result<Module> from_file(Engine& engine, const std::filesystem::path& path);
  // Decode + validate only (with the default Config's features, or with `engine`'s).
  static Result<void> validate(std::span<const uint8_t> bytes);
  static Result<void> validate(const Engine& engine, std::span<const uint8_t> bytes);
  // Decode + validate, and describe the imports and exports (no compilation).
  struct Info {
    std::vector<ImportType> imports;
    std::vector<ExportType> exports;
  };
  static Result<Info> inspect(std::span<const uint8_t> bytes);
  // Builds (or finds) the optimized tier synchronously and stores it in the cache.
  static Result<Tier> compile_to_cache(Engine& engine, std::span<const uint8_t> bytes,
                                       const ProgressFn& progress = {});

  const std::string& name() const;
  const std::vector<ImportType>& imports() const;
  const std::vector<ExportType>& exports() const;
  // Tier new instances will use right now.
  Tier current_tier() const;
  // Blocks until the optimized tier is installed or failed; returns the tier now in use.
  Tier wait_optimized() const;
  // The generated C source (for debugging and the fuzz/bench tools); empty when the module
  // was loaded from the optimized cache without generating C.
  const std::string& c_source() const;

  std::shared_ptr<ModuleImpl> impl() const { return impl_; }
  static Module from_impl(std::shared_ptr<ModuleImpl> impl) { return Module(std::move(impl)); }

 private:
  explicit Module(std::shared_ptr<ModuleImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<ModuleImpl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Store

struct StoreLimits {
  uint64_t max_memory_pages = 16384;       // 1 GiB per memory
  uint64_t max_table_elements = 1u << 20;  // per table
  uint32_t max_call_depth = 10000;
  size_t max_wasm_stack = 1u << 20;  // native stack budget for guest frames, bytes
  size_t max_instances = 10000;
};

struct StoreImpl;
class Instance;
class Caller;

class Store {
 public:
  explicit Store(Engine& engine, StoreLimits limits = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;

  const StoreLimits& limits() const;
  // Guest code running in this store traps with TrapKind::Interrupted once the deadline passes.
  // Applies to calls that are running and to later ones until cleared.
  void set_deadline(std::chrono::steady_clock::time_point deadline);
  void set_timeout(std::chrono::nanoseconds timeout) {
    set_deadline(std::chrono::steady_clock::now() + timeout);
  }
  void clear_deadline();
  // Returns every instance in the store to its state right after instantiation, without
  // linking anything again: in creation order, each instance's own memories, tables and
  // globals are released and its module's instantiation (globals, memories or their prepared
  // images, tables, active segments, start function) runs again with the same imports.
  // Objects made outside instances (host functions, Store-created memories, tables, globals)
  // are left as they are. Not while guest code of the store runs, nor when an instantiation
  // failed in it; if a start function traps during the reset, the store must be dropped.
  Result<void> reset_instances();
  // Thread-safe: ask running guest code in this store to stop.
  void interrupt();
  // The deadline in force (interrupt(): the moment it was asked), if any. Host functions that
  // block on the guest's behalf (WASI polls) wait no longer than this, then trap as
  // TrapKind::Interrupted. Thread-safe.
  std::optional<std::chrono::steady_clock::time_point> deadline() const;

  // Data of the embedder that rides with the store (like Wasmtime's Store<T>): host functions
  // defined once in a Linker find the state of the guest calling them through their caller's
  // store. The engine never looks at it; it is released with the store.
  void set_host_data(std::shared_ptr<void> data);
  void* host_data() const;

  StoreImpl* impl() const { return impl_.get(); }

 private:
  std::unique_ptr<StoreImpl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Externs (handles into a Store; valid while the Store lives)

struct FuncData;
struct MemoryData;
struct TableData;
struct GlobalData;
struct TagData;

using HostFn =
    std::function<Result<void>(Caller&, std::span<const Val> params, std::span<Val> results)>;

class Func {
 public:
  Func() = default;
  static Func host(Store& store, FuncType type, HostFn fn);
  FuncType type() const;
  Result<std::vector<Val>> call(Store& store, std::span<const Val> params) const;
  // Faster path: params and results in caller-provided spans (sizes must match the type).
  Result<void> call(Store& store, std::span<const Val> params, std::span<Val> results) const;
  FuncRef as_ref() const;
  static std::optional<Func> from_ref(Store& store, const FuncRef& ref);
  explicit operator bool() const { return data_ != nullptr; }
  FuncData* data() const { return data_; }
  explicit Func(FuncData* d) : data_(d) {}

 private:
  FuncData* data_ = nullptr;
};

class Memory {
 public:
  Memory() = default;
  static Result<Memory> create(Store& store, MemoryType type);
  MemoryType type() const;
  uint8_t* data() const;
  uint64_t size() const;  // bytes
  uint64_t pages() const;
  // Returns the previous size in pages.
  Result<uint64_t> grow(uint64_t delta_pages) const;
  Result<void> read(uint64_t offset, std::span<uint8_t> out) const;
  Result<void> write(uint64_t offset, std::span<const uint8_t> in) const;
  explicit operator bool() const { return data_ != nullptr; }
  MemoryData* raw() const { return data_; }
  explicit Memory(MemoryData* d) : data_(d) {}

 private:
  MemoryData* data_ = nullptr;
};

class Table {
 public:
  Table() = default;
  static Result<Table> create(Store& store, TableType type, Val init);
  TableType type() const;
  uint64_t size() const;
  Result<Val> get(uint64_t index) const;
  Result<void> set(uint64_t index, const Val& v) const;
  Result<uint64_t> grow(uint64_t delta, const Val& init) const;
  explicit operator bool() const { return data_ != nullptr; }
  TableData* raw() const { return data_; }
  explicit Table(TableData* d) : data_(d) {}

 private:
  TableData* data_ = nullptr;
};

class Global {
 public:
  Global() = default;
  static Result<Global> create(Store& store, GlobalType type, Val init);
  GlobalType type() const;
  Val get() const;
  Result<void> set(const Val& v) const;
  explicit operator bool() const { return data_ != nullptr; }
  GlobalData* raw() const { return data_; }
  explicit Global(GlobalData* d) : data_(d) {}

 private:
  GlobalData* data_ = nullptr;
};

// An exception tag. Each instance of a module that defines a tag gets a tag of its own (tags
// are generative); an imported tag is the exporter's. `throw` of one tag is caught only by
// catch clauses naming that same tag.
class Tag {
 public:
  Tag() = default;
  // A new tag with parameters `type.params` (type.results must be empty).
  static Result<Tag> create(Store& store, FuncType type);
  FuncType type() const;
  explicit operator bool() const { return data_ != nullptr; }
  TagData* raw() const { return data_; }
  explicit Tag(TagData* d) : data_(d) {}
  bool operator==(const Tag&) const = default;

 private:
  TagData* data_ = nullptr;
};

struct Extern {
  ExternKind kind = ExternKind::Func;
  Func func;
  Table table;
  Memory memory;
  Global global;
  Tag tag;
  Extern() = default;
  Extern(Func f) : kind(ExternKind::Func), func(f) {}        // NOLINT
  Extern(Table t) : kind(ExternKind::Table), table(t) {}     // NOLINT
  Extern(Memory m) : kind(ExternKind::Memory), memory(m) {}  // NOLINT
  Extern(Global g) : kind(ExternKind::Global), global(g) {}  // NOLINT
  Extern(Tag t) : kind(ExternKind::Tag), tag(t) {}           // NOLINT
  ExternType type() const;
};

// ---------------------------------------------------------------------------------------------
// Instance

struct InstanceData;

class Instance {
 public:
  Instance() = default;
  // Instantiates with imports given in the module's import order.
  static Result<Instance> create(Store& store, const Module& module,
                                 std::span<const Extern> imports);
  std::optional<Extern> get_export(std::string_view name) const;
  // The export at `index` in Module::exports() order (nullopt when out of range).
  std::optional<Extern> export_at(uint32_t index) const;
  std::optional<Func> get_func(std::string_view name) const;
  std::optional<Memory> get_memory(std::string_view name) const;
  std::optional<Global> get_global(std::string_view name) const;
  std::optional<Table> get_table(std::string_view name) const;
  std::optional<Tag> get_tag(std::string_view name) const;
  std::vector<std::pair<std::string, Extern>> exports() const;
  Module module() const;
  // Tier of the code this instance runs.
  Tier tier() const;
  explicit operator bool() const { return data_ != nullptr; }
  InstanceData* raw() const { return data_; }
  explicit Instance(InstanceData* d) : data_(d) {}

 private:
  InstanceData* data_ = nullptr;
};

// What a host function sees of its caller.
class Caller {
 public:
  Caller(Store& store, InstanceData* instance) : store_(store), instance_(instance) {}
  Store& store() { return store_; }
  // The calling instance (empty when called directly from the host).
  Instance instance() const { return Instance(instance_); }
  std::optional<Extern> get_export(std::string_view name) const;

 private:
  Store& store_;
  InstanceData* instance_;
};

// ---------------------------------------------------------------------------------------------
// Linker

class Linker {
 public:
  Linker() = default;
  // Later definitions of the same name replace earlier ones when allow_shadowing is set.
  void allow_shadowing(bool allow) { allow_shadowing_ = allow; }
  Result<void> define(std::string_view module, std::string_view name, Extern item);
  Result<void> define_func(Store& store, std::string_view module, std::string_view name,
                           FuncType type, HostFn fn);
  // Defines every export of `instance` under module name `name`.
  Result<void> define_instance(std::string_view name, const Instance& instance);
  std::optional<Extern> get(std::string_view module, std::string_view name) const;
  // Resolves the module's imports by name (with type checks) and instantiates it.
  Result<Instance> instantiate(Store& store, const Module& module) const;

 private:
  std::map<std::pair<std::string, std::string>, Extern> entries_;
  bool allow_shadowing_ = false;
};

// ---------------------------------------------------------------------------------------------
// Fibers
//
// Guest calls may run on fibers (DESIGN.md, "Concurrency"). The engine keeps the innermost guest
// entry of each thread (where traps unwind to) and the lowest usable stack address per thread.
// A scheduler that switches fibers while guest calls are on their stacks swaps this state with
// every switch: `auto mine = swap_fiber_state(next_fibers_state);` before resuming another fiber,
// and installs `mine` again when this fiber runs next. A fiber that has not run guest code yet
// starts from FiberState{nullptr, its_stack_lowest_address}. One Store must not be used by two
// fibers at once.
struct FiberState {
  void* frame = nullptr;      // innermost guest entry (opaque)
  void* stack_low = nullptr;  // lowest address of the fiber's stack; nullptr: the thread's stack
};
FiberState swap_fiber_state(FiberState next);

// Checks that `actual` satisfies an import declared as `expected` (Wasm import matching:
// exact function types, limits subtyping, global mutability and type).
Result<void> check_import_type(const ExternType& expected, const ExternType& actual);

}  // namespace flotilla::engine
