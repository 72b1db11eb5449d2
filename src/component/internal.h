// Internal: runtime structures shared by the resolver/instantiator, the canonical ABI and the
// linker.
#pragma once

#include <flotilla/component/component.h>

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ast.h"

namespace flotilla::component {

struct InstanceState;

// Every ResourceType this layer creates is a ResourceTypeImpl.
struct ResourceTypeImpl : ResourceType {
  using ResourceType::ResourceType;
  // Guest-defined: the instance that defined it (handles of this type hold reps it chose) and
  // its destructor (may be empty). Host-defined: host_dtor.
  InstanceState* owner = nullptr;
  engine::Func dtor;
  bool host = false;
  ResourceDtor host_dtor;
  bool placeholder = false;  // an abstract import in a static (uninstantiated) view
  // Validation only: this type is the export of `alias_of` under a new name (same type, but
  // a distinct identity for the naming rules).
  ResourceTypePtr alias_of;
  const ResourceType* canonical() const override { return alias_of ? alias_of->canonical() : this; }
};

inline const ResourceTypeImpl* impl_of(const ResourceTypePtr& p) {
  return dynamic_cast<const ResourceTypeImpl*>(p.get());
}

// An entry of the type index space.
struct TypeEntry {
  enum class Kind { Val, Func, Component, Instance, Resource } kind = Kind::Val;
  TypePtr val;
  std::shared_ptr<const FuncType> func;
  std::shared_ptr<const InstanceTypeDesc> inst;
  std::shared_ptr<const ComponentTypeDesc> comp;
  ResourceTypePtr res;
  // Instance and component types: the abstract resources the type itself defines (its
  // `(sub resource)` exports, and those of instance types it exports), made fresh for each
  // import or export of the type.
  std::vector<ResourceTypePtr> defined;
};

struct CanonContext {
  InstanceState* inst = nullptr;
  engine::Memory memory;
  engine::Func realloc;
  engine::Func post_return;
  ast::CanonOpts::Encoding encoding = ast::CanonOpts::Encoding::Utf8;
  bool async = false;     // the `async` option
  engine::Func callback;  // `async` lift: the `callback` option (empty: stackful)
};

struct Func::Data {
  std::string name;
  FuncType type;
  enum class Kind { Lifted, Host, Trap } kind = Kind::Trap;
  engine::Func core;         // Lifted
  CanonContext cx;           // Lifted
  HostFunc host;             // Host
  std::string trap_message;  // Trap
  // Precomputed by prepare(): flattened core types, the core signatures of `canon lift` and
  // `canon lower` of this type, and whether handles are involved.
  std::vector<engine::ValType> flat_params, flat_results;
  TypePtr params_tuple, results_tuple;  // the tuples params and results are spilled as
  engine::FuncType lift_sig, lower_sig;
  size_t core_results = 0;
  bool has_handles = false;
};

// The async objects a handle table entry may hold besides resources (async.cc).
struct AsyncObject;

// A component instance's handle table entry (CanonicalABI.md: its `handles` table holds
// ResourceHandle, and with async also waitable sets, subtasks, stream and future ends and
// error contexts).
struct HandleEntry {
  enum class Kind : uint8_t {
    Resource,
    WaitableSet,
    Subtask,
    StreamReadable,
    StreamWritable,
    FutureReadable,
    FutureWritable,
    ErrorContext,
  } kind = Kind::Resource;
  std::shared_ptr<AsyncObject> obj;  // kinds other than Resource
  ResourceTypePtr type;
  uint32_t rep = 0;
  bool own = true;
  uint32_t num_lends = 0;
  uint64_t borrow_scope = 0;  // for borrows: the call that created it
};

struct ComponentImpl;
struct InstanceValue;

// A component-level item (func, type, instance, component, core module) in an index space or
// in an instance's exports.
struct CompItem {
  ast::Sort sort = ast::Sort::Func;
  std::shared_ptr<Func::Data> func;
  TypeEntry type;
  std::shared_ptr<InstanceValue> instance;
  std::shared_ptr<ast::Component> component;  // Component (definition)
  void* component_scope = nullptr;            // Component: the defining Scope (for outer aliases)
  std::shared_ptr<ComponentTypeDesc> component_type;  // Component (imported)
  const ast::Item* module = nullptr;                  // CoreModule (definition)
  std::shared_ptr<const CoreModuleType> module_type;  // CoreModule (null when not known)
};

struct InstanceValue {
  std::vector<std::pair<std::string, CompItem>> exports;
  const CompItem* find(std::string_view name) const {
    for (auto& [n, it] : exports) {
      if (n == name) return &it;
    }
    return nullptr;
  }
};

// A call of a lifted function in progress in an instance (CanonicalABI.md: Task, with its
// implicit thread). Calls run to completion on the caller's stack, so an instance's tasks nest
// and `InstanceState::task` is the innermost one.
struct Task {
  const Func::Data* func = nullptr;  // the lifted function called
  Task* outer = nullptr;             // the instance's current task when this one started
  uint32_t thread_index = 0;         // thread.index of the implicit thread
  uint64_t context[2] = {0, 0};      // context.get / context.set storage
  bool returned = false;             // async lift: task.return was called
  std::vector<Val> results;          // async lift: the values given to task.return
};

struct InstanceState {
  engine::Store* store = nullptr;
  std::vector<std::optional<HandleEntry>> handles;  // index 0 is never used
  std::vector<uint32_t> free_handles;
  bool may_leave = true;
  bool may_enter = true;
  Task* task = nullptr;       // the current task (innermost call into this instance)
  uint32_t threads = 0;       // live implicit threads (thread.index of the next one - 1)
  uint32_t backpressure = 0;  // backpressure.inc / backpressure.dec counter
  std::shared_ptr<InstanceValue> exports;
  std::vector<std::shared_ptr<InstanceState>> children;
  std::vector<std::shared_ptr<Func::Data>> funcs;  // keep-alive
  std::vector<ResourceTypePtr> resources;          // keep-alive
  std::shared_ptr<const ComponentImpl> component;  // keep-alive

  Result<uint32_t> add_handle(HandleEntry h);
  Result<HandleEntry*> get_handle(uint32_t i);
  Result<HandleEntry> remove_handle(uint32_t i);
};

struct ComponentImpl {
  std::vector<uint8_t> bytes;
  std::shared_ptr<ast::Component> ast;
  std::map<const ast::Item*, engine::Module> modules;  // compiled core modules
  // Types of the core modules defined in the component, by definition (validated or
  // compiled modules; empty for compile_static). Used to type-check core instantiations.
  std::map<const ast::Item*, std::shared_ptr<const CoreModuleType>> module_types;
  std::vector<NamedExtern> imports;
  std::vector<NamedExtern> exports;
};

struct Linker::Impl {
  struct Iface {
    std::map<std::string, HostFunc, std::less<>> funcs;
    std::map<std::string, ResourceTypePtr, std::less<>> resources;
  };
  std::map<std::string, Iface, std::less<>> ifaces;  // "" = root
  bool unknown_as_traps = false;
  // Finds the interface for an import name, allowing semver-compatible versions.
  const Iface* find(std::string_view name) const;
  Iface* find_mut(std::string_view name);
};

// ---- canonical ABI (abi.cc) ----

// Calls `f` with component values (host -> guest or guest -> guest adapter).
Result<std::vector<Val>> invoke(engine::Store& store, const Func::Data& f,
                                std::span<const Val> args, bool check_args = true);
// Computes the flattening of f's type (call once after setting f.type).
void prepare(Func::Data& f);
// Whether values of type t contain own or borrow handles.
bool has_handles(const Type& t);
// Creates the core function for `canon lower` of `callee` with the given options.
Result<engine::Func> make_lowered(engine::Store& store, std::shared_ptr<Func::Data> callee,
                                  CanonContext cx);
// Core function types for canon lift / lower.
engine::FuncType core_sig(const FuncType& ft, bool lower);
// canon resource.new / resource.drop / resource.rep for `rt` in instance `inst`.
Result<engine::Func> make_resource_builtin(engine::Store& store, ast::CanonDef::Kind kind,
                                           ResourceTypePtr rt, InstanceState* inst);
// Lifts `ts` from core values `flat` (spilled to memory as `tuple` beyond max_flat values),
// with the options of `cx` (task.return).
Result<std::vector<Val>> lift_flat_values(engine::Store& store, const CanonContext& cx,
                                          const std::vector<std::pair<std::string, TypePtr>>& ts,
                                          const TypePtr& tuple, size_t max_flat,
                                          std::span<const engine::Val> flat);
// Lifts a string (ptr, tagged code units) / lowers one as (ptr, len) at `out` (error-context).
Result<std::string> lift_string_at(engine::Store& store, const CanonContext& cx, uint32_t ptr,
                                   uint32_t units);
Result<void> store_string_at(engine::Store& store, const CanonContext& cx, const std::string& s,
                             uint32_t out);
// Size and alignment of a value of type t in memory (CanonicalABI.md elem_size, alignment).
uint32_t abi_elem_size(const Type& t);
uint32_t abi_alignment(const Type& t);
// Moves n values of type t from memory at src_ptr (options src) to memory at dst_ptr (options
// dst): stream and future copies. Realloc of dst may run.
Result<void> copy_elems(engine::Store& store, const CanonContext& src, uint32_t src_ptr,
                        const CanonContext& dst, uint32_t dst_ptr, const TypePtr& t, uint32_t n);
// Core function type of `canon lift` (lower = false) or `canon lower` of `f` with the `async`
// option.
engine::FuncType async_core_sig(const Func::Data& f, bool lower, bool callback);

// ---- async built-ins (async.cc) ----

// A `canon` built-in other than lift, lower and resource.*, with its resolved immediates.
struct Builtin {
  ast::CanonDef::Kind kind = ast::CanonDef::Kind::TaskCancel;
  bool flag = false;   // async? / cancel?
  uint32_t index = 0;  // context.* slot
  TypePtr type;        // stream.* / future.*: the stream or future type
  std::vector<std::pair<std::string, TypePtr>> results;  // task.return
  TypePtr results_tuple;                                 // task.return
  CanonContext cx;                                       // memory, realloc, encoding
  engine::FuncType sig;                                  // its core function type
};
// The core signature of a built-in (task.return: from `results`); sets b.sig.
void builtin_sig(Builtin& b);
Result<engine::Func> make_builtin(engine::Store& store, std::shared_ptr<const Builtin> b);
// `canon lift ... async (callback ...)`: runs the callback loop from the first packed result.
Result<void> run_callback_loop(engine::Store& store, const Func::Data& f, uint32_t packed);
// Lifting a stream, future or error-context value (handle i of inst) into a Val, and lowering
// one into inst's handle table (CanonicalABI.md lift_stream/future, lift_error_context...).
Result<Val> lift_async_value(InstanceState* inst, const Type& t, uint32_t i);
Result<uint32_t> lower_async_value(InstanceState* inst, const Val& v, const Type& t);
// Tasks: entered around every call of a lifted function.
void enter_task(InstanceState* inst, Task& task, const Func::Data& f);
void leave_task(InstanceState* inst, Task& task);
// A call of lifted function `f` entering its instance: the entry checks (reentrance,
// backpressure), then `task` is the call's task until the scope ends.
struct TaskScope {
  InstanceState* inst;
  Task task;
  explicit TaskScope(const Func::Data& f) : inst(f.cx.inst) { enter_task(inst, task, f); }
  ~TaskScope() { leave_task(inst, task); }
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  static Result<void> check(const Func::Data& f);
};

// Runs the destructor of a resource (guest dtor or host dtor), if any.
Result<void> run_dtor(engine::Store& store, const ResourceTypeImpl& rt, uint32_t rep);

Unexpected<Error> trap(std::string message);

// ---- resolution / instantiation (instance.cc) ----
Result<void> resolve_static(ComponentImpl& c);
// Substitutes resource types inside a type.
TypePtr subst(const TypePtr& t, const std::map<const ResourceType*, ResourceTypePtr>& m);
FuncType subst(const FuncType& f, const std::map<const ResourceType*, ResourceTypePtr>& m);

}  // namespace flotilla::component
