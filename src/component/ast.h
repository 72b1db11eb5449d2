// Internal: the decoded form of a component binary (Binary.md), before type resolution.
// Index spaces are not built here; definitions are kept in order so the resolver and the
// instantiator can build them incrementally, as the format requires.
#pragma once

#include <flotilla/component/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace flotilla::component::ast {

enum class Sort : uint8_t {
  CoreFunc,
  CoreTable,
  CoreMemory,
  CoreGlobal,
  CoreTag,
  CoreType,
  CoreModule,
  CoreInstance,
  Func,
  Value,
  Type,
  Component,
  Instance,
};
const char* sort_name(Sort s);

// A value type reference: a primitive or an index into the type index space.
struct ValTypeRef {
  bool primitive = true;
  TypeKind prim = TypeKind::Bool;
  uint32_t index = 0;
};

struct Labeled {
  std::string label;
  std::optional<ValTypeRef> type;
};

struct DefValType {
  TypeKind kind = TypeKind::Bool;
  std::vector<Labeled> fields;     // record (type always set), variant cases (type optional)
  std::vector<ValTypeRef> items;   // tuple
  std::vector<std::string> names;  // enum, flags
  std::optional<ValTypeRef> a, b;  // list/option/stream/future elem (a); result ok (a) / err
                                   // (b); map key (a) / value (b)
  uint32_t index = 0;              // own/borrow: resource type index
  uint32_t length = 0;             // list: a fixed-size list of this many elements (0: any)
  bool map = false;                // list: map<a, b>, a list<tuple<a, b>> (same ABI)
};

struct FuncTypeDef {
  std::vector<Labeled> params;
  std::vector<Labeled> results;  // one unlabeled, or labeled ones
  bool async = false;
};

struct ExternTypeDef {
  // 0 core module, 1 func, 2 value, 3 type, 4 component, 5 instance
  uint8_t kind = 1;
  uint32_t index = 0;               // type index (or core type index for modules)
  bool sub_resource = false;        // type bound `(sub resource)`
  std::optional<ValTypeRef> value;  // value bound (unused)
};

// A core type definition (Binary.md core:type): a function type or a module type whose
// declarations are resolved against its own type index space by the resolver.
struct CoreTypeDef;
struct CoreExternDef {
  engine::ExternKind kind = engine::ExternKind::Func;
  uint32_t type_index = 0;  // func, tag
  engine::TableType table;
  engine::MemoryType memory;
  engine::GlobalType global;
  bool shared = false;  // memory
  bool memory64 = false;
};
struct CoreModuleDecl {
  enum class Kind { Import, Type, Alias, Export } kind = Kind::Import;
  std::string module, name;           // Import (module, name), Export (name)
  CoreExternDef ext;                  // Import, Export
  std::shared_ptr<CoreTypeDef> type;  // Type
  uint32_t count = 0, index = 0;      // Alias (outer type)
};
struct CoreTypeDef {
  bool module = false;
  engine::FuncType func;              // !module
  std::vector<CoreModuleDecl> decls;  // module
};

struct TypeDef;
struct AliasDef {
  Sort sort = Sort::Func;
  enum class Kind { Export, CoreExport, Outer } kind = Kind::Export;
  uint32_t instance = 0;  // export / core export
  std::string name;
  uint32_t count = 0, index = 0;  // outer
};

// A declarator inside a component type or instance type.
struct Decl {
  enum class Kind { CoreType, Type, Alias, Import, Export } kind = Kind::Type;
  std::shared_ptr<TypeDef> type;           // Type
  std::shared_ptr<CoreTypeDef> core_type;  // CoreType
  AliasDef alias;                          // Alias
  std::string name;                        // Import, Export
  ExternTypeDef extern_type;               // Import, Export
};

struct TypeDef {
  enum class Kind { DefVal, Func, Component, Instance, Resource } kind = Kind::DefVal;
  DefValType val;
  FuncTypeDef func;
  std::vector<Decl> decls;  // Component, Instance
  // Resource: representation type (always i32 today) and optional destructor core func.
  std::optional<uint32_t> dtor;
};

struct CanonOpts {
  enum class Encoding : uint8_t { Utf8, Utf16, Latin1Utf16 } encoding = Encoding::Utf8;
  std::optional<uint32_t> memory;       // core memory index
  std::optional<uint32_t> realloc;      // core func index
  std::optional<uint32_t> post_return;  // core func index
  bool async = false;
  std::optional<uint32_t> callback;  // core func index
};

struct CanonDef {
  // Lift, Lower and the built-ins of Binary.md `canon`, in its order (async and threads ones
  // included: they are decoded and validated; see README.md for which ones run).
  enum class Kind {
    Lift,
    Lower,
    ResourceNew,
    ResourceDrop,
    ResourceRep,
    BackpressureInc,
    BackpressureDec,
    TaskReturn,
    TaskCancel,
    ContextGet,
    ContextSet,
    SubtaskCancel,
    SubtaskDrop,
    StreamNew,
    StreamRead,
    StreamWrite,
    StreamCancelRead,
    StreamCancelWrite,
    StreamDropReadable,
    StreamDropWritable,
    FutureNew,
    FutureRead,
    FutureWrite,
    FutureCancelRead,
    FutureCancelWrite,
    FutureDropReadable,
    FutureDropWritable,
    ErrorContextNew,
    ErrorContextDebugMessage,
    ErrorContextDrop,
    WaitableSetNew,
    WaitableSetWait,
    WaitableSetPoll,
    WaitableSetDrop,
    WaitableJoin,
    ThreadIndex,
    ThreadNewIndirect,
    ThreadResumeLater,
    ThreadSuspend,
    ThreadYield,
    ThreadSuspendThenResume,
    ThreadYieldThenResume,
    ThreadSuspendThenPromote,
    ThreadYieldThenPromote,
    ThreadSpawnRef,
    ThreadSpawnIndirect,
    ThreadAvailableParallelism,
  } kind = Kind::Lift;
  uint32_t func = 0;  // lift: core func; lower: component func
  // lift: func type; resource.*: resource type; stream.* / future.*: stream or future type;
  // thread.new-indirect / thread.spawn-*: core func type
  uint32_t type = 0;
  CanonOpts opts;
  // The `async?`, `cancel?` or `shared?` immediate.
  bool flag = false;
  // context.get / context.set: slot and core value type; thread.new-indirect /
  // thread.spawn-indirect: core table.
  uint32_t index = 0;
  engine::ValType core_type = engine::ValType::I32;
  std::vector<Labeled> results;  // task.return: its result list
};
const char* canon_name(CanonDef::Kind k);

struct CoreExportRef {
  std::string name;
  Sort sort = Sort::CoreFunc;
  uint32_t index = 0;
};

struct CoreInstanceDef {
  bool instantiate = true;
  uint32_t module = 0;
  std::vector<std::pair<std::string, uint32_t>> args;  // name -> core instance
  std::vector<CoreExportRef> exports;                  // inline exports
};

struct InstanceDef {
  bool instantiate = true;
  uint32_t component = 0;
  std::vector<CoreExportRef> args;     // with NAME (sort idx)
  std::vector<CoreExportRef> exports;  // inline exports
};

struct ImportDef {
  std::string name;
  ExternTypeDef type;
};

struct ExportDef {
  std::string name;
  Sort sort = Sort::Func;
  uint32_t index = 0;
  std::optional<ExternTypeDef> type;
};

struct Component;

struct CoreModuleDef {
  std::span<const uint8_t> bytes;  // points into the component's bytes
  size_t offset = 0;               // byte offset of the module in the outermost binary
};

// One definition, in binary order.
struct Item {
  enum class Kind {
    CoreModule,
    CoreInstance,
    CoreType,
    Component,
    Instance,
    Alias,
    Type,
    Canon,
    Start,
    Import,
    Export
  } kind = Kind::Type;
  size_t offset = 0;
  CoreModuleDef module;
  CoreInstanceDef core_instance;
  std::shared_ptr<Component> component;
  InstanceDef instance;
  AliasDef alias;
  std::shared_ptr<TypeDef> type;
  std::shared_ptr<CoreTypeDef> core_type;
  CanonDef canon;
  ImportDef import;
  ExportDef export_;
};

struct Component {
  std::vector<Item> items;
  size_t offset = 0;
};

// Decodes a component binary. `base` is the offset of `bytes` in the outermost binary (for
// error messages). Errors: Malformed with the byte offset.
Result<std::shared_ptr<Component>> decode(std::span<const uint8_t> bytes, size_t base = 0,
                                          int depth = 0);

}  // namespace flotilla::component::ast
