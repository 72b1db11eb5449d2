// Components: decode, validate, link, instantiate and call WebAssembly components.
//
// Vocabulary follows Wasmtime's `component` module: a Component is compiled once per Engine;
// a Linker holds host implementations of imports (by interface name and function name); an
// Instance lives in an engine::Store; Func calls take and return component `Val`s.
//
// Errors are engine::Result values (Expected<T, engine::Error>); a guest trap is an Error of
// kind Trap. Bad values coming out of a guest (invalid UTF-8, bad discriminants, pointers out
// of bounds) trap; they never crash the host.
#pragma once

#include <flotilla/component/types.h>
#include <flotilla/engine/engine.h>

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::component {

// ---- static description of a component's imports and exports ------------------------------

struct InstanceTypeDesc;
struct ComponentTypeDesc;

// The type of a core module: its imports and exports.
struct CoreModuleType {
  std::vector<engine::ImportType> imports;
  std::vector<engine::ExportType> exports;
};

// The type of an imported or exported item.
struct ExternDesc {
  enum class Kind { Func, Instance, Type, Resource, Module, Component, Value };
  Kind kind = Kind::Func;
  FuncType func;                                       // Func
  std::shared_ptr<const InstanceTypeDesc> instance;    // Instance
  std::shared_ptr<const ComponentTypeDesc> component;  // Component
  TypePtr type;                                        // Type (a defined value type)
  ResourceTypePtr resource;                            // Resource (an abstract `(sub resource)`)
  std::shared_ptr<const CoreModuleType> module;        // Module (null when not known)
};

struct NamedExtern {
  std::string name;  // "wasi:io/streams@0.2.0", "add", "[method]output-stream.write"
  ExternDesc desc;
};

// The items an instance exports (or an imported instance must provide), in declaration order.
struct InstanceTypeDesc {
  std::vector<NamedExtern> exports;
};

// The imports and exports of a component type.
struct ComponentTypeDesc {
  std::vector<NamedExtern> imports;
  std::vector<NamedExtern> exports;
};

// ---- Component --------------------------------------------------------------------------

struct ComponentImpl;

class Component {
 public:
  static Result<Component> compile(engine::Engine& engine, std::span<const uint8_t> bytes);
  static Result<Component> from_file(engine::Engine& engine, const std::filesystem::path& path);
  // Decode + validate (core modules included), no compilation.
  static Result<void> validate(std::span<const uint8_t> bytes);
  // Decode and resolve types only: for inspecting imports, exports and the WIT world. The
  // result cannot be instantiated.
  static Result<Component> compile_static(std::span<const uint8_t> bytes);
  // True if the bytes start with the component preamble (layer 1).
  static bool is_component(std::span<const uint8_t> bytes);

  const std::vector<NamedExtern>& imports() const;
  const std::vector<NamedExtern>& exports() const;
  // The i-th core module (definition order, nested components included), compiled.
  Result<engine::Module> core_module(size_t i) const;
  size_t core_module_count() const;
  // The component's world, printed as WIT (`package root:component; world root { ... }`).
  std::string wit() const;

  std::shared_ptr<ComponentImpl> impl() const { return impl_; }
  explicit Component(std::shared_ptr<ComponentImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<ComponentImpl> impl_;
};

// ---- Host functions and the Linker --------------------------------------------------------

class Linker;
class Instance;
class InstancePre;
struct InstanceState;

// Context passed to host functions: the store, and the calling component instance.
class HostContext {
 public:
  HostContext(engine::Store& store, InstanceState* caller, const FuncType* type = nullptr,
              const std::string* name = nullptr)
      : store_(store), caller_(caller), type_(type), name_(name) {}
  engine::Store& store() { return store_; }
  InstanceState* caller() const { return caller_; }
  // The type and full name ("iface#func") of the import being called.
  const FuncType* type() const { return type_; }
  const std::string& name() const {
    static const std::string empty;
    return name_ ? *name_ : empty;
  }

 private:
  engine::Store& store_;
  InstanceState* caller_;
  const FuncType* type_;
  const std::string* name_;
};

// A dynamic host function: params already lifted and type-checked against the import's
// function type; results must be filled to match it (checked).
using HostFunc =
    std::function<Result<void>(HostContext&, std::span<const Val> params, std::span<Val> results)>;

// Called when the last owned handle to a host resource is dropped by a guest.
using ResourceDtor = std::function<Result<void>(HostContext&, uint32_t rep)>;

class Linker {
 public:
  Linker();
  ~Linker();
  Linker(const Linker&) = delete;
  Linker& operator=(const Linker&) = delete;

  // Defines function `name` in interface `instance` ("" = the component's root, i.e. a
  // freestanding imported function). Interface names may carry a version; a component
  // importing `ns:pkg/iface@0.2.1` is satisfied by a definition under any 0.2.x version
  // (semver-compatible), preferring an exact match.
  // Name "*" defines a catch-all for every function of `instance` not defined by name (it
  // learns which one was called, and its type, from HostContext::name() and type()).
  Result<void> func_new(std::string_view instance, std::string_view name, HostFunc fn);
  // Defines resource type `name` in `instance`, backed by the host; returns its identity
  // (handles the host creates with Val::own use it).
  Result<ResourceTypePtr> resource(std::string_view instance, std::string_view name,
                                   ResourceDtor dtor = {});
  ResourceTypePtr find_resource(std::string_view instance, std::string_view name) const;
  // Every import of `component` the linker cannot satisfy becomes a function that traps
  // when called (resources: fresh host types). Like Wasmtime's define_unknown_imports_as_traps.
  Result<void> define_unknown_imports_as_traps(const Component& component);

  // Resolves once what does not depend on the store: the component's type definitions and
  // the binding of its imports to this linker's definitions (link errors are reported here).
  // Like Wasmtime's Linker::instantiate_pre. The result is a snapshot: later definitions in
  // the linker are not seen. The linker must outlive the InstancePre and its instances.
  Result<InstancePre> instantiate_pre(const Component& component) const;

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// ---- Instances and calls ----------------------------------------------------------------

class Func {
 public:
  Func() = default;
  const FuncType& type() const;
  const std::string& name() const;
  // Calls with component values: params are type-checked; results returned lifted. Runs
  // post-return afterwards.
  Result<std::vector<Val>> call(engine::Store& store, std::span<const Val> params) const;
  explicit operator bool() const { return data_ != nullptr; }

  struct Data;
  explicit Func(std::shared_ptr<Data> d) : data_(std::move(d)) {}
  const std::shared_ptr<Data>& data() const { return data_; }

 private:
  std::shared_ptr<Data> data_;
};

class Instance {
 public:
  Instance() = default;
  // Looks an exported function up by name: "add" (a root export, or a function of an
  // exported interface when the plain name is unique), "ns:pkg/iface#name",
  // "ns:pkg/iface@1.0.0#name".
  Result<Func> get_func(std::string_view name) const;
  // All callable exports with their full names ("add", "test:numbers/test#roundtrip-u8").
  std::vector<std::pair<std::string, Func>> funcs() const;
  // The resource type an exported interface defines (for constructing/inspecting handles).
  ResourceTypePtr get_resource(std::string_view instance, std::string_view name) const;
  explicit operator bool() const { return state_ != nullptr; }
  // Returns this instance to its state right after instantiation, in place, for a pool of
  // instances that must not share state between uses: handle tables are emptied (without
  // running destructors), the canonical ABI's per-instance flags reset, and every core
  // instance of `store` (the store it was instantiated in, which must hold nothing else) is
  // instantiated again (engine::Store::reset_instances). Host state kept in the store's host
  // data is the embedder's to renew. Not while a call into the store runs; after an error
  // the instance and its store must be dropped.
  Result<void> reset(engine::Store& store) const;

  explicit Instance(std::shared_ptr<InstanceState> s) : state_(std::move(s)) {}
  const std::shared_ptr<InstanceState>& state() const { return state_; }

 private:
  std::shared_ptr<InstanceState> state_;
};

// A component with its imports resolved against a Linker, ready to be instantiated in any
// number of stores (cheaply: the per-instance work is core instantiation and the canonical
// ABI wiring). Copyable and shareable; instantiate() may run concurrently in different stores.
class InstancePre {
 public:
  InstancePre() = default;
  // The store must outlive the instance.
  Result<Instance> instantiate(engine::Store& store) const;
  explicit operator bool() const { return impl_ != nullptr; }

  struct Impl;
  explicit InstancePre(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

// Instantiates `component` in `store`, resolving its imports through `linker`. The store
// must outlive the instance.
Result<Instance> instantiate(engine::Store& store, const Linker& linker,
                             const Component& component);

// Drops an owned resource handle the host received from a guest (runs the guest destructor).
Result<void> resource_drop(engine::Store& store, const Val& handle);

}  // namespace flotilla::component
