// Engine internals shared by the engine's translation units. Not installed, not public.
#pragma once
#include <flotilla/engine/engine.h>
#include <pthread.h>
#include <sodium/crypto_generichash.h>

#include <atomic>
#include <condition_variable>
#include <csetjmp>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "wasm-rt.h"

namespace flotilla::engine {

namespace detail {
extern const char* const kRuntimeHeader;
}

// ------------------------------------------------------------------------------------------
// Code generation (codegen.cc)

// Hash for unordered maps keyed by std::string looked up with std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct ModuleMeta {
  std::vector<ImportType> imports;
  std::vector<ExportType> exports;
  std::vector<uint32_t> export_sig;  // per export: sig index (funcs), tag index (tags)
  std::vector<FuncType> sigs;        // signatures with a generated sig_call adapter
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> export_index;
  // The types of the tags the module defines, in order (tag imports are in `imports`; a tag's
  // index counts the imported ones first).
  std::vector<FuncType> tags;
  // An upper estimate of the largest native frame a function of this module needs (params and
  // locals; see kMaxFunctionLocals): guest calls keep this much stack below the limit check.
  uint64_t max_frame_bytes = 0;
};

// Functions may declare at most this many params + locals (V8's limit): more is a Limit error
// at compile time, before any C is generated.
inline constexpr uint64_t kMaxFunctionLocals = 50000;
// Memories (imported and defined) a module may have: the store's limits are per memory, and in
// guard-page mode each one is an 8 GiB reservation, so their number is capped at compile time.
inline constexpr size_t kMaxMemories = 100;
// Bumped whenever the generated C changes in a way the embedded runtime header does not (it is
// part of every optimized-cache key, so old entries are not reused).
inline constexpr int kCodegenRevision = 5;
// Native bytes a param or local may take in a generated frame (a v128, or an i64 plus a
// temporary), and a frame's fixed part.
inline constexpr uint64_t kFrameBytesPerLocal = 16;
inline constexpr uint64_t kFrameBytesFixed = 512;

// The interface of a module kept beside its optimized-cache entry (meta_cache.cc).
void write_meta_file(const std::filesystem::path& path, const ModuleMeta& meta);
std::optional<ModuleMeta> read_meta_file(const std::filesystem::path& path);

struct Generated {
  ModuleMeta meta;
  std::string c_source;  // complete translation unit
};

// Decodes and validates. With `generate`, also produces the C translation unit.
// Decodes (and, unless `validate` is false, validates) a module; with `generate`, also writes
// its C translation unit. `validate = false` is only for bytes known valid (an optimized-cache
// entry exists for them: the key is a cryptographic hash of the bytes).
// The Config switches that change what a module may contain.
struct CodegenFeatures {
  bool multi_memory = true;
  bool exceptions = true;
};
inline CodegenFeatures features_of(const Config& c) { return {c.multi_memory, c.exceptions}; }
Result<Generated> generate_c(std::span<const uint8_t> bytes, bool generate, bool validate = true,
                             CodegenFeatures features = {});

// Exception handling: try_table lowered to the legacy try/catch wabt decodes (try_table.cc).
struct LoweredModule {
  // Unchanged: no try_table (and no legacy exception opcode) in the module. Lowered: `bytes`
  // is the module with every try_table lowered. Unparsed: the scan could not follow the code
  // (an unknown opcode, a truncated body): wabt is given the input and reports the problem.
  enum class Status { Unchanged, Lowered, Unparsed } status = Status::Unchanged;
  std::vector<uint8_t> bytes;
};
// Errors: catch_ref, catch_all_ref, throw_ref and exnref (Unsupported), the legacy exception
// opcodes (Unsupported), a malformed catch clause (Malformed), a catch label out of range
// (Invalid).
Result<LoweredModule> lower_try_tables(std::span<const uint8_t> bytes);

// ------------------------------------------------------------------------------------------
// Initial memory images (memory_image.cc)

// Linear memories up to this size are kept in a pool of zeroed mappings (runtime.cc).
inline constexpr uint64_t kMemoryPoolMaxBytes = uint64_t(1) << 20;

// A linear memory a module defines, as instantiation leaves it: the initial pages with every
// active data segment of that memory applied, in a sealed memfd that instances map
// copy-on-write.
struct MemoryImage {
  int fd = -1;
  uint64_t pages = 0;
  uint64_t bytes = 0;  // pages * 65536: the file's size
  MemoryImage() = default;
  MemoryImage(const MemoryImage&) = delete;
  MemoryImage& operator=(const MemoryImage&) = delete;
  ~MemoryImage();
};

// The images of a module's defined memories, in their order (the order init_memories creates
// them in); null where a memory does not qualify: an active segment of it out of bounds, no
// active data for it, or small enough for the pool.
struct MemoryImages {
  std::vector<std::unique_ptr<const MemoryImage>> memories;
};

// The images of a module (its bytes, already validated, and interface), or null when no memory
// qualifies (also when the module has no memory of its own, or an active segment whose offset
// is not an i32.const).
std::shared_ptr<const MemoryImages> build_memory_images(std::span<const uint8_t> bytes,
                                                        const ModuleMeta& meta);

// ------------------------------------------------------------------------------------------
// Compiled code (compiler.cc)

struct Code {
  Tier tier = Tier::Baseline;
  bool guard_pages = false;  // compiled without bounds checks: needs reserved memories
  const flot_module_t* desc = nullptr;
  std::vector<uint32_t> sig_type_ids;  // per sig: runtime type id
  void* tcc_state = nullptr;           // libtcc state owning the code (baseline)
  void* dl_handle = nullptr;           // dlopen handle (optimized)
  void* exec_mem = nullptr;            // baseline: the mapping libtcc relocated the code into
  size_t exec_size = 0;
  std::vector<int> code_ranges;  // registrations in the code-range registry
  ~Code();
};

Result<std::shared_ptr<Code>> compile_baseline(const std::string& c_source, const ModuleMeta& meta);
Result<std::shared_ptr<Code>> load_shared_object(const std::filesystem::path& so,
                                                 const ModuleMeta& meta, bool guard_pages);
// Runs the system compiler: C source -> shared object at `out` (atomically renamed into place).
// Compiler processes that are running, so an Engine being destroyed can kill them.
struct ChildProcesses {
  std::mutex mu;
  std::set<int> pids;
  bool stopping = false;
  void kill_all();
};

Result<void> compile_shared_object(const Config& config, const std::string& c_source,
                                   const std::filesystem::path& out, ChildProcesses* children);

// Splits a generated translation unit into `parts` units that compile separately and link into
// one shared object (function bodies are distributed; shared data is defined once).
std::vector<std::string> split_translation_unit(const std::string& c_source, size_t parts);
// The system compiler's identity for cache keys (its `--version` line, remembered in
// `cache_dir` per executable).
std::string compiler_identity(const Config& config, const std::filesystem::path& cache_dir);
// Flags always passed to the system compiler (part of the cache key).
const std::vector<std::string>& fixed_cc_flags();

// ------------------------------------------------------------------------------------------
// Engine / module

struct EngineImpl {
  Config config;
  std::filesystem::path cache_dir;
  std::string cc_identity;  // computed lazily
  // Cache keys: BLAKE2b-256 (libsodium's generichash) of a salt and the module's bytes.
  static constexpr size_t kKeyBytes = 32;
  std::once_flag salt_once;
  crypto_generichash_state salt_state{};  // the salt, hashed once
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  std::vector<std::thread> workers;
  ChildProcesses children;
  unsigned active = 0;
  bool stopping = false;

  explicit EngineImpl(Config c);
  ~EngineImpl();
  void submit(std::function<void()> job);
  void wait_idle();
  std::string cache_key(std::span<const uint8_t> bytes);
  const std::string& cc_id();
  std::filesystem::path cache_path(const std::string& key) const;
};

struct ModuleImpl {
  std::string name;
  ModuleMeta meta;
  std::shared_ptr<const std::string> c_source;
  std::string key;
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::shared_ptr<Code> code;
  std::shared_ptr<const MemoryImages> images;  // null: instances replay their data segments
  bool optimizing = false;                     // background build queued or running
  std::string optimize_error;

  std::shared_ptr<Code> current() const {
    std::lock_guard<std::mutex> lock(mu);
    return code;
  }
};

// ------------------------------------------------------------------------------------------
// Runtime (runtime.cc)

uint32_t intern_func_type(const FuncType& t);
const flot_rt_api_t* runtime_api(bool guard_pages = false);
// Bytes reserved per memory in guard-page mode: any 32-bit address plus a 32-bit offset.
constexpr uint64_t kGuardReserve = (uint64_t(1) << 33) + 65536;

// One host->guest entry on this thread. Traps longjmp to the innermost one.
struct CallFrame {
  jmp_buf jb;
  int trap = 0;
  StoreImpl* store = nullptr;
  CallFrame* prev = nullptr;
  flot_unwind_t* unwind = nullptr;  // the innermost try open in this call (generated code's)
  Error host_error;                 // set when a host function failed
  bool has_host_error = false;
  // Instantiation only: the images the module's memories are created from, one per defined
  // memory in order (each call of the runtime's allocate_memory_image takes the next one).
  const std::unique_ptr<const MemoryImage>* images = nullptr;
  size_t images_left = 0;
  // What a resource-limit trap ran into ("memory of 8 pages exceeds the limit of 4"): plain
  // characters, since the trap longjmps over any C++ object.
  char detail[128];  // NOLINT: set by guarded_call (no zeroing on the call path)
};

CallFrame* current_frame();
// Runs thunk(arg) as guest code of `store`. Returns 0 or the trap code.
int guarded_call(StoreImpl* store, CallFrame& frame, void (*thunk)(void*), void* arg);
Error trap_error(const CallFrame& frame, std::string_view function);

void memory_free(wasm_rt_memory_t* m);
Result<void> memory_allocate(wasm_rt_memory_t* m, uint64_t initial, uint64_t max,
                             uint64_t limit_pages, bool guarded);
// Creates the memory from `image` (its initial size), mapped copy-on-write.
Result<void> memory_allocate_image(wasm_rt_memory_t* m, const MemoryImage& image, uint64_t max,
                                   uint64_t limit_pages, bool guarded);
uint32_t memory_grow(wasm_rt_memory_t* m, uint32_t delta, uint64_t limit_pages);

// ------------------------------------------------------------------------------------------
// Store objects (objects.cc)

struct FuncData {
  FuncType type;
  uint32_t type_id = 0;
  bool is_host = false;
  FuncRef ref;                         // wasm: callable pointer + env
  flot_sig_call_t sig_call = nullptr;  // wasm
  HostFn host;                         // host
  std::shared_ptr<Code> keep;          // keeps the code alive
  std::string name;                    // export name, for error messages
};

// Marks a FuncRef that designates a host function (env == &kHostRefTag, fn == FuncData*).
extern const char kHostRefTag;

struct MemoryData {
  StoreImpl* store = nullptr;
  MemoryType declared;
  wasm_rt_memory_t* mem = nullptr;
  std::unique_ptr<wasm_rt_memory_t> owned;  // host-created
  ~MemoryData();
};

struct TableData {
  StoreImpl* store = nullptr;
  TableType declared;
  void* table = nullptr;  // wasm_rt_funcref_table_t* or wasm_rt_externref_table_t*
  std::unique_ptr<wasm_rt_funcref_table_t> owned_func;
  std::unique_ptr<wasm_rt_externref_table_t> owned_extern;
  ~TableData();
};

struct GlobalData {
  GlobalType type;
  void* ptr = nullptr;  // storage (u32/u64/f32/f64/wasm_rt_funcref_t/void*)
  flot_val_t owned{};   // host-created storage
};

struct TagData {
  FuncType type;  // parameters only
};

struct HostCallEnv {
  FuncData* func = nullptr;
  InstanceData* caller = nullptr;
};

struct InstanceData {
  StoreImpl* store = nullptr;
  std::shared_ptr<ModuleImpl> module;
  std::shared_ptr<Code> code;
  void* block = nullptr;  // allocation: [ctx pointer | pad][instance struct]
  void* inst = nullptr;   // the generated instance struct
  std::vector<flot_binding_t> bindings;
  std::vector<HostCallEnv> host_envs;
  std::vector<const void*> tags;  // FLOT_TAGS: TagData* of each tag, imported ones first
  std::vector<Extern> exports;    // materialized lazily
  std::vector<bool> export_ready;
  bool live = false;     // instantiation completed
  bool created = false;  // instantiate() ran (the block must be freed with free_instance)
  ~InstanceData();
};

struct StoreImpl {
  Store* handle = nullptr;  // the public object (updated on move)
  Engine* engine;
  std::shared_ptr<EngineImpl> engine_impl;
  // Store::set_host_data; declared before the objects so that it outlives them.
  std::shared_ptr<void> host_data;
  StoreLimits limits;
  flot_ctx_t ctx{};
  bool guard_pages = false;          // memories are created as guard-page reservations
  uint32_t entries = 0;              // nested guest entries on the current thread
  std::atomic<bool> running{false};  // guest code of this store is on `thread`'s stack
  pthread_t thread{};
  uint64_t deadline_generation = 0;
  // The current deadline as steady_clock nanoseconds (0: none), for host code that blocks.
  std::atomic<int64_t> deadline_ns{0};
  std::deque<FuncData> funcs;
  std::deque<MemoryData> memories;
  std::deque<TableData> tables;
  std::deque<GlobalData> globals;
  std::deque<TagData> tags;
  std::deque<InstanceData> instances;
  struct Sig {
    flot_sig_call_t call;
    FuncType type;
  };
  // For calling funcrefs from the host: filled on demand from the instances' modules.
  std::unordered_map<uint32_t, Sig> sig_by_type;
  size_t live_instances = 0;  // instances whose instantiation completed
  std::map<std::pair<void*, void*>, FuncData*> func_by_ref;  // Func::from_ref results
  std::unordered_map<void*, MemoryData*> memory_by_ptr;
  std::unordered_map<void*, TableData*> table_by_ptr;
  std::unordered_map<void*, GlobalData*> global_by_ptr;
  std::vector<std::shared_ptr<Code>> codes;  // keeps sig adapters alive
  uint64_t max_frame_bytes = 0;              // largest ModuleMeta::max_frame_bytes instantiated

  StoreImpl(Engine& e, StoreLimits l);
  ~StoreImpl();
};

// Conversions between Val and runtime storage.
void val_to_raw(const Val& v, flot_val_t& out);
Val raw_to_val(ValType t, const flot_val_t& in);
void store_global(GlobalData& g, const Val& v);
Val load_global(const GlobalData& g);

// Registry of generated-code address ranges, read by the interruption signal handler.
int register_code_range(uintptr_t lo, uintptr_t hi);
void unregister_code_range(int slot);

// Watchdog for deadlines (runtime.cc).
void watchdog_set(StoreImpl* store, std::chrono::steady_clock::time_point deadline);
void watchdog_clear(StoreImpl* store);

Result<void> check_val_for_wasm(const Val& v);
inline Store* store_handle(StoreImpl* s) { return s->handle; }

}  // namespace flotilla::engine
