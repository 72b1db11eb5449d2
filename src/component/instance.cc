// Type resolution and instantiation: walks a component's definitions in order, building the
// index spaces (Explainer.md). The same walk runs in two modes:
//  - static (no store): imports stand for themselves (abstract resources, trapping funcs),
//    core modules are not instantiated; it yields the component's import and export types
//    and validates index uses;
//  - runtime: imports are bound to the linker's definitions (root) or to instantiation
//    arguments (nested components), core modules are instantiated on the engine, canon
//    definitions become callable functions.
#include <functional>
#include <memory>
#include <set>

#include "internal.h"
#include "names.h"
#include "try.h"

namespace flotilla::component {

namespace {

using ast::Sort;

Unexpected<Error> invalid(const std::string& msg) {
  return make_error(ErrorKind::Invalid, "invalid component: " + msg);
}
Unexpected<Error> link_error(const std::string& msg) { return make_error(ErrorKind::Link, msg); }

// An entry of the core instance index space. An instantiated module's exports are looked up
// in the engine instance when aliased (materialized on first use); an instance built from
// inline exports lists them (names point into the AST: the component outlives the walk).
struct CoreExports {
  engine::Instance inst;
  std::vector<std::pair<std::string_view, engine::Extern>> items;
  // Static walk: the export types, when known.
  std::shared_ptr<const std::vector<engine::ExportType>> types;
  bool inline_ = false;  // made of inline exports

  // The export at `i` (engine export order, or the order of inline exports).
  std::optional<engine::Extern> at(uint32_t i) const {
    if (inst) return inst.export_at(i);
    if (i < items.size()) return items[i].second;
    return std::nullopt;
  }
  // Position of the export `name` when it is known statically, or -1.
  int64_t position(std::string_view name) const {
    if (types) {
      for (size_t i = 0; i < types->size(); ++i) {
        if ((*types)[i].name == name) return static_cast<int64_t>(i);
      }
      return -1;
    }
    if (inline_) {
      for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].first == name) return static_cast<int64_t>(i);
      }
    }
    return -1;
  }
  std::optional<engine::Extern> find(std::string_view name) const {
    if (inst) return inst.get_export(name);
    for (auto& [n, x] : items) {
      if (n == name) return x;
    }
    return std::nullopt;
  }
};
using Subst = std::map<const ResourceType*, ResourceTypePtr>;

struct Binder;

}  // namespace

// What InstancePre resolves once for the root component's items, by item index: results
// that do not depend on the store nor on the instance (see stable()).
struct PreMemo {
  std::vector<std::optional<TypeEntry>> types;   // Type items
  std::vector<std::optional<CompItem>> imports;  // Import items, bound through the linker
  bool imports_ok = false;                       // every import is in `imports`
  // The same for the type definitions of nested component instances, by the order in which
  // the walk meets them (deterministic for one component and linker), when stable.
  std::vector<std::optional<TypeEntry>> nested_types;
  // Where each import of each core instantiation comes from, by the walk order of core
  // instantiations: (core instance index, export position), or empty when not known
  // statically. Likewise the export position of each core export alias (-1: unknown).
  struct CoreLink {
    uint32_t instance;
    uint32_t position;
  };
  std::vector<std::vector<CoreLink>> core_links;
  std::vector<int64_t> core_aliases;
  // Final sizes of the root scope's index spaces (to reserve them).
  size_t n_types = 0, n_funcs = 0, n_instances = 0, n_core_instances = 0, n_core_funcs = 0;
};

namespace {

// An entry of the core type index space: a function type or a module type (null when it
// cannot be described, e.g. it mentions tags).
struct CoreTypeEntry {
  bool module = false;
  engine::FuncType func;
  std::shared_ptr<const CoreModuleType> mod;
};

struct Scope;
// The scopes of nested component instances, kept until the whole walk ends: a component
// defined in one is instantiated later through its exports, its outer aliases resolving in
// the scope that defined it.
using ScopeArena = std::vector<std::unique_ptr<Scope>>;

struct Scope {
  Scope* parent = nullptr;
  ScopeArena* arena = nullptr;
  enum class Kind { Component, ComponentType, InstanceType } kind = Kind::Component;
  // Types that may be named by an import (imported) or an export (exported, which includes the
  // imported ones): defined value types by identity (Type*), resources by ResourceType*
  // (Explainer.md, external visibility of types). Only kept when validating a definition.
  std::set<const void*> imported_named, exported_named;
  bool runtime = false;
  // Name and label validation (check_name, check_labels). Off when instantiating: the same
  // definitions were validated when the component was compiled.
  bool checks = true;
  engine::Store* store = nullptr;
  const ComponentImpl* comp = nullptr;
  std::shared_ptr<InstanceState> state;
  const Binder* binder = nullptr;
  // Root scope only: the memo filled by a pre-instantiation walk (record) or used by an
  // instantiation (use).
  PreMemo* record = nullptr;
  const PreMemo* memo = nullptr;
  // Shared by a root scope and its nested instantiations: the memo for nested items and the
  // walk's position in it.
  struct Walk {
    PreMemo* record = nullptr;
    const PreMemo* memo = nullptr;
    size_t type_seq = 0;
    size_t core_inst_seq = 0, core_alias_seq = 0;
  };
  Walk* walk = nullptr;

  std::vector<TypeEntry> types;
  std::vector<std::shared_ptr<Func::Data>> funcs;
  std::vector<CompItem> components;
  std::vector<std::shared_ptr<InstanceValue>> instances;
  std::vector<const ast::Item*> modules;
  std::vector<CoreExports> core_instances;
  std::vector<engine::Func> core_funcs;
  std::vector<engine::Table> core_tables;
  std::vector<engine::Memory> core_memories;
  std::vector<engine::Global> core_globals;
  std::vector<engine::Tag> core_tags;
  // Static walk: types of the core items, when known (parallel to the vectors above).
  std::vector<std::shared_ptr<const CoreModuleType>> module_types;
  std::vector<std::optional<engine::FuncType>> core_func_types;
  std::vector<std::optional<engine::ExternType>> core_table_types, core_memory_types,
      core_global_types, core_tag_types;
  std::vector<CoreTypeEntry> core_types;

  std::vector<NamedExtern> imports;  // declared imports (component and component types)
  // Component and instance types: the abstract resources declared so far (see
  // TypeEntry::defined).
  std::vector<ResourceTypePtr> defined;
  // Resource types defined (`(type (resource ...))`) by this component.
  std::set<const ResourceType*> local_resources;
  // Resources imported or exported so far, by name, as bound (for annotated function names).
  // (Imports and exports are separate namespaces.)
  using ResourceNames = std::map<std::string, const ResourceType*>;
  ResourceNames import_resources, export_resources;
  std::shared_ptr<InstanceValue> exports = std::make_shared<InstanceValue>();
  std::vector<NamedExtern> export_descs;
};

// How imports of the component being walked get their values.
struct Binder {
  // A nested instantiation's arguments, by name. When instantiating (no checks), imports are
  // bound to them directly: their descriptions and the arguments' types were checked when the
  // component was validated.
  const std::map<std::string, CompItem>* args = nullptr;
  // Returns the item for an import, given its statically resolved description.
  // `fresh` lists the abstract resources the import's type declares (bound by the argument).
  std::function<Result<CompItem>(const std::string& name, const ExternDesc& desc,
                                 const std::vector<ResourceTypePtr>& fresh)>
      bind;
};

// An aliased core export of another kind than the alias's sort.
Unexpected<Error> not_a(const ast::AliasDef& a, const char* what) {
  return invalid("export `" + a.name + "` for core instance " + std::to_string(a.instance) +
                 " is not a " + what);
}

Unexpected<Error> out_of_bounds(const char* what, uint32_t i) {
  return invalid(std::string("unknown ") + what + " " + std::to_string(i) +
                 ": index out of bounds");
}

// Binds `var` to a const reference to v[i], or returns the index error (no copy: entries of
// the core instance space are whole export maps).
#define AT(var, v, i, what)                                 \
  if ((i) >= (v).size()) return out_of_bounds((what), (i)); \
  const auto& var = (v)[(i)]

template <typename T>
Result<T> at(const std::vector<T>& v, uint32_t i, const char* what) {
  if (i >= v.size()) {
    return invalid(std::string("unknown ") + what + " " + std::to_string(i) +
                   ": index out of bounds");
  }
  return v[i];
}

// ---- substitution of resource types -----------------------------------------------------------

bool mentions(const Type& t, const Subst& m) {
  switch (t.kind) {
    case TypeKind::Own:
    case TypeKind::Borrow:
      return m.count(t.resource.get()) > 0;
    case TypeKind::List:
    case TypeKind::Option:
      return mentions(*t.elem, m);
    case TypeKind::Stream:
    case TypeKind::Future:
      return t.elem && mentions(*t.elem, m);
    case TypeKind::Result:
      return (t.ok && mentions(*t.ok, m)) || (t.err && mentions(*t.err, m));
    case TypeKind::Record:
      for (auto& f : t.fields) {
        if (mentions(*f.type, m)) return true;
      }
      return false;
    case TypeKind::Tuple:
      for (auto& f : t.items) {
        if (mentions(*f, m)) return true;
      }
      return false;
    case TypeKind::Variant:
      for (auto& c : t.cases) {
        if (c.type && mentions(*c.type, m)) return true;
      }
      return false;
    default:
      return false;
  }
}

// Substitutes resource types, memoized: a type reached twice (a named type used by a
// function and exported) is substituted once, so identities among the types are kept.
struct Substituter {
  const Subst& m;
  std::map<const Type*, TypePtr> memo;

  TypePtr type(const TypePtr& t) {
    if (!t || m.empty() || !mentions(*t, m)) return t;
    if (auto it = memo.find(t.get()); it != memo.end()) return it->second;
    auto n = std::make_shared<Type>(*t);
    switch (t->kind) {
      case TypeKind::Own:
      case TypeKind::Borrow:
        n->resource = m.at(t->resource.get());
        break;
      case TypeKind::List:
      case TypeKind::Option:
      case TypeKind::Stream:
      case TypeKind::Future:
        n->elem = type(t->elem);
        break;
      case TypeKind::Result:
        n->ok = type(t->ok);
        n->err = type(t->err);
        break;
      case TypeKind::Record:
        for (auto& f : n->fields) f.type = type(f.type);
        break;
      case TypeKind::Tuple:
        for (auto& f : n->items) f = type(f);
        break;
      case TypeKind::Variant:
        for (auto& c : n->cases) c.type = type(c.type);
        break;
      default:
        break;
    }
    memo[t.get()] = n;
    return n;
  }

  FuncType func(const FuncType& f) {
    FuncType out = f;
    for (auto& p : out.params) p.second = type(p.second);
    for (auto& r : out.results) r.second = type(r.second);
    return out;
  }

  std::vector<NamedExtern> list(const std::vector<NamedExtern>& v) {
    std::vector<NamedExtern> out;
    out.reserve(v.size());
    for (auto& e : v) out.push_back({e.name, desc(e.desc)});
    return out;
  }

  ExternDesc desc(const ExternDesc& d) {
    ExternDesc out = d;
    switch (d.kind) {
      case ExternDesc::Kind::Func:
        out.func = func(d.func);
        break;
      case ExternDesc::Kind::Type:
        out.type = type(d.type);
        break;
      case ExternDesc::Kind::Resource:
        if (auto it = m.find(d.resource.get()); it != m.end()) out.resource = it->second;
        break;
      case ExternDesc::Kind::Instance: {
        auto i = std::make_shared<InstanceTypeDesc>();
        i->exports = list(d.instance->exports);
        out.instance = i;
        break;
      }
      case ExternDesc::Kind::Component: {
        auto c = std::make_shared<ComponentTypeDesc>();
        c->imports = list(d.component->imports);
        c->exports = list(d.component->exports);
        out.component = c;
        break;
      }
      default:
        break;
    }
    return out;
  }
};

}  // namespace

TypePtr subst(const TypePtr& t, const Subst& m) { return Substituter{m, {}}.type(t); }

FuncType subst(const FuncType& f, const Subst& m) { return Substituter{m, {}}.func(f); }

namespace {

ExternDesc subst_desc(const ExternDesc& d, const Subst& m) { return Substituter{m, {}}.desc(d); }

std::shared_ptr<const InstanceTypeDesc> subst_inst(const InstanceTypeDesc& d, const Subst& m) {
  auto out = std::make_shared<InstanceTypeDesc>();
  out->exports = Substituter{m, {}}.list(d.exports);
  return out;
}

// ---- stability (what an InstancePre may resolve once) ------------------------------------------

// A resolved type is the same for every instantiation through the same linker unless it
// mentions a resource type created per instance: one the component defines, or one a nested
// component instance defines. Host resources (the linker's) and the abstract resources of
// type definitions (`sub resource` in an instance type) are shared.
bool stable(const ResourceTypePtr& r) {
  auto* ri = impl_of(r);
  return ri && (ri->host || ri->placeholder);
}

bool stable(const Type& t) {
  switch (t.kind) {
    case TypeKind::Own:
    case TypeKind::Borrow:
      return stable(t.resource);
    case TypeKind::List:
    case TypeKind::Option:
      return stable(*t.elem);
    case TypeKind::Stream:
    case TypeKind::Future:
      return t.elem ? stable(*t.elem) : true;
    case TypeKind::Result:
      return (!t.ok || stable(*t.ok)) && (!t.err || stable(*t.err));
    case TypeKind::Record:
      for (auto& f : t.fields) {
        if (!stable(*f.type)) return false;
      }
      return true;
    case TypeKind::Tuple:
      for (auto& f : t.items) {
        if (!stable(*f)) return false;
      }
      return true;
    case TypeKind::Variant:
      for (auto& c : t.cases) {
        if (c.type && !stable(*c.type)) return false;
      }
      return true;
    default:
      return true;
  }
}

bool stable(const FuncType& f) {
  for (auto& p : f.params) {
    if (!stable(*p.second)) return false;
  }
  for (auto& r : f.results) {
    if (!stable(*r.second)) return false;
  }
  return true;
}

bool stable(const ExternDesc& d);

bool stable(const std::vector<NamedExtern>& v) {
  for (auto& e : v) {
    if (!stable(e.desc)) return false;
  }
  return true;
}

bool stable(const ExternDesc& d) {
  switch (d.kind) {
    case ExternDesc::Kind::Func:
      return stable(d.func);
    case ExternDesc::Kind::Instance:
      return d.instance && stable(d.instance->exports);
    case ExternDesc::Kind::Component:
      return d.component && stable(d.component->imports) && stable(d.component->exports);
    case ExternDesc::Kind::Type:
      return d.type && stable(*d.type);
    case ExternDesc::Kind::Resource:
      return stable(d.resource);
    default:
      return true;
  }
}

bool stable(const TypeEntry& e) {
  switch (e.kind) {
    case TypeEntry::Kind::Val:
      return stable(*e.val);
    case TypeEntry::Kind::Func:
      return stable(*e.func);
    case TypeEntry::Kind::Instance:
      return stable(e.inst->exports);
    case TypeEntry::Kind::Component:
      return stable(e.comp->imports) && stable(e.comp->exports);
    case TypeEntry::Kind::Resource:
      return stable(e.res);
  }
  return false;
}

// ---- core types -------------------------------------------------------------------------------

template <typename T>
std::optional<T> opt_at(const std::vector<std::optional<T>>& v, uint32_t i) {
  if (i >= v.size()) return std::nullopt;
  return v[i];
}

constexpr uint64_t kMaxPages = 65536;

Result<CoreTypeEntry> resolve_core_type(Scope& s, const ast::CoreTypeDef& t) {
  CoreTypeEntry e;
  if (!t.module) {
    e.func = t.func;
    return e;
  }
  e.module = true;
  std::vector<std::optional<engine::FuncType>> types;  // the module type's own type space
  auto mt = std::make_shared<CoreModuleType>();
  bool known = true;
  auto extern_type = [&](const ast::CoreExternDef& d) -> Result<std::optional<engine::ExternType>> {
    engine::ExternType x;
    x.kind = d.kind;
    switch (d.kind) {
      case engine::ExternKind::Func: {
        if (d.type_index >= types.size())
          return invalid("type index " + std::to_string(d.type_index) + " out of bounds");
        if (!types[d.type_index])
          return invalid("type index " + std::to_string(d.type_index) + " is not a function type");
        x.func = *types[d.type_index];
        break;
      }
      case engine::ExternKind::Table:
        x.table = d.table;
        if (d.table.limits.max && *d.table.limits.max < d.table.limits.min)
          return invalid("size minimum must not be greater than maximum");
        break;
      case engine::ExternKind::Memory:
        x.memory = d.memory;
        if (d.memory64) {
          known = false;
        } else if (d.memory.limits.min > kMaxPages ||
                   (d.memory.limits.max && *d.memory.limits.max > kMaxPages)) {
          return invalid("memory size must be at most 65536 pages (4GiB)");
        }
        if (d.memory.limits.max && *d.memory.limits.max < d.memory.limits.min)
          return invalid("size minimum must not be greater than maximum");
        if (d.shared) known = false;  // shared memories are not modelled
        break;
      case engine::ExternKind::Global:
        x.global = d.global;
        break;
      case engine::ExternKind::Tag: {
        if (d.type_index >= types.size())
          return invalid("type index " + std::to_string(d.type_index) + " out of bounds");
        if (!types[d.type_index])
          return invalid("type index " + std::to_string(d.type_index) + " is not a function type");
        if (!types[d.type_index]->results.empty()) return invalid("non-empty tag result type");
        x.tag = *types[d.type_index];
        break;
      }
    }
    return std::optional<engine::ExternType>(x);
  };
  for (const auto& d : t.decls) {
    switch (d.kind) {
      case ast::CoreModuleDecl::Kind::Type:
        types.push_back(d.type->func);
        break;
      case ast::CoreModuleDecl::Kind::Alias: {
        Scope* target = &s;
        for (uint32_t i = 1; i < d.count; i++) {
          if (!target->parent)
            return invalid("outer alias count " + std::to_string(d.count) + " is out of bounds");
          target = target->parent;
        }
        if (d.count == 0) {
          if (d.index >= types.size())
            return invalid("type index " + std::to_string(d.index) + " out of bounds");
          types.push_back(types[d.index]);
          break;
        }
        TRY(ct, at(target->core_types, d.index, "core type"));
        if (ct.module)
          return invalid("core type index " + std::to_string(d.index) +
                         " is a module type, not a function type");
        types.push_back(ct.func);
        break;
      }
      case ast::CoreModuleDecl::Kind::Import: {
        TRY(x, extern_type(d.ext));
        for (auto& prev : mt->imports) {
          if (prev.module == d.module && prev.name == d.name)
            return invalid("duplicate import name `" + d.module + ":" + d.name + "`");
        }
        if (x) mt->imports.push_back({d.module, d.name, *x});
        break;
      }
      case ast::CoreModuleDecl::Kind::Export: {
        TRY(x, extern_type(d.ext));
        for (auto& prev : mt->exports) {
          if (prev.name == d.name) return invalid("export name `" + d.name + "` already defined");
        }
        if (x) mt->exports.push_back({d.name, *x});
        break;
      }
    }
  }
  if (known) e.mod = std::move(mt);
  return e;
}

bool limits_match(const engine::Limits& actual, const engine::Limits& expected) {
  if (actual.min < expected.min) return false;
  if (expected.max) return actual.max && *actual.max <= *expected.max;
  return true;
}

// Core subtyping of extern types (an `actual` export supplied for an `expected` import).
Result<void> check_core_extern(const engine::ExternType& actual, const engine::ExternType& expected,
                               const std::string& what) {
  if (actual.kind != expected.kind) {
    return invalid(what + ": expected " + engine::extern_kind_name(expected.kind) + ", found " +
                   engine::extern_kind_name(actual.kind));
  }
  switch (expected.kind) {
    case engine::ExternKind::Func:
      if (!(actual.func == expected.func))
        return invalid(what + ": type mismatch, expected: " + expected.func.to_string() +
                       ", found: " + actual.func.to_string());
      return {};
    case engine::ExternKind::Global:
      if (actual.global.content != expected.global.content ||
          actual.global.mutable_ != expected.global.mutable_)
        return invalid(what + ": global type mismatch");
      return {};
    case engine::ExternKind::Table:
      if (actual.table.element != expected.table.element)
        return invalid(what + ": table element type mismatch");
      if (!limits_match(actual.table.limits, expected.table.limits))
        return invalid(what + ": mismatch in table limits");
      return {};
    case engine::ExternKind::Memory:
      if (!limits_match(actual.memory.limits, expected.memory.limits))
        return invalid(what + ": mismatch in memory limits");
      return {};
    case engine::ExternKind::Tag:  // tag types match exactly
      if (actual.tag.params != expected.tag.params)
        return invalid(what + ": tag type mismatch, expected: " + expected.to_string() +
                       ", found: " + actual.to_string());
      return {};
  }
  return {};
}

// The arguments of a core module instantiation against the module's imports.
Result<void> check_core_args(
    const CoreModuleType& mt,
    const std::vector<std::pair<std::string_view, const CoreExports*>>& args) {
  for (const auto& imp : mt.imports) {
    const CoreExports* arg = nullptr;
    for (size_t k = args.size(); k-- > 0;) {
      if (args[k].first == imp.module) {
        arg = args[k].second;
        break;
      }
    }
    if (!arg) {
      return invalid("missing module instantiation argument named `" + imp.module + "`");
    }
    if (!arg->types) continue;
    const engine::ExportType* found = nullptr;
    for (auto& e : *arg->types) {
      if (e.name == imp.name) found = &e;
    }
    if (!found) {
      return invalid("module instantiation argument `" + imp.module +
                     "` does not export an item named `" + imp.name + "`");
    }
    CHECK(
        check_core_extern(found->type, imp.type, "import `" + imp.module + "::" + imp.name + "`"));
  }
  return {};
}

// Module subtyping: the supplied module may import less (each of its imports is expected,
// with a type the expected one matches) and export more.
Result<void> check_module_type(const CoreModuleType& actual, const CoreModuleType& expected,
                               const std::string& what) {
  for (const auto& imp : actual.imports) {
    const engine::ImportType* e = nullptr;
    for (auto& x : expected.imports) {
      if (x.module == imp.module && x.name == imp.name) e = &x;
    }
    if (!e)
      return invalid(what + ": missing expected import `" + imp.module + "::" + imp.name + "`");
    CHECK(check_core_extern(e->type, imp.type,
                            what + ": import `" + imp.module + "::" + imp.name + "`"));
  }
  for (const auto& exp : expected.exports) {
    const engine::ExportType* a = nullptr;
    for (auto& x : actual.exports) {
      if (x.name == exp.name) a = &x;
    }
    if (!a) return invalid(what + ": missing expected export `" + exp.name + "`");
    CHECK(check_core_extern(a->type, exp.type, what + ": export `" + exp.name + "`"));
  }
  return {};
}

// ---- type resolution ------------------------------------------------------------------------

Result<TypePtr> valtype(Scope& s, const ast::ValTypeRef& r) {
  if (r.primitive) return Type::primitive(r.prim);
  AT(e, s.types, r.index, "type");
  if (e.kind != TypeEntry::Kind::Val) {
    return invalid("type index " + std::to_string(r.index) + " is not a defined value type");
  }
  return e.val;
}

// Binary.md <keytype>: the primitive types other than floats, and error-context excluded.
bool is_map_key(const Type& t) {
  return is_primitive(t.kind) && t.kind != TypeKind::F32 && t.kind != TypeKind::F64;
}

bool contains_borrow(const Type& t) {
  switch (t.kind) {
    case TypeKind::Borrow:
      return true;
    case TypeKind::List:
    case TypeKind::Option:
      return contains_borrow(*t.elem);
    case TypeKind::Stream:
    case TypeKind::Future:
      return t.elem && contains_borrow(*t.elem);
    case TypeKind::Result:
      return (t.ok && contains_borrow(*t.ok)) || (t.err && contains_borrow(*t.err));
    case TypeKind::Record:
      for (auto& f : t.fields) {
        if (contains_borrow(*f.type)) return true;
      }
      return false;
    case TypeKind::Tuple:
      for (auto& f : t.items) {
        if (contains_borrow(*f)) return true;
      }
      return false;
    case TypeKind::Variant:
      for (auto& c : t.cases) {
        if (c.type && contains_borrow(*c.type)) return true;
      }
      return false;
    default:
      return false;
  }
}

Result<void> run_decls(Scope& s, const std::vector<ast::Decl>& decls);
Result<void> push_alias(Scope& s, const ast::AliasDef& a);

std::shared_ptr<ResourceTypeImpl> fresh_resource(std::string name, bool placeholder) {
  auto r = std::make_shared<ResourceTypeImpl>(std::move(name));
  r->placeholder = placeholder;
  return r;
}

// Labels of fields, cases, flags, enum cases and parameters: kebab case, strongly unique.
Result<void> check_labels(const std::vector<std::string>& labels, const char* what) {
  std::vector<std::string> keys;
  for (auto& l : labels) {
    if (!names::is_label(l))
      return invalid(std::string(what) + " name `" + l + "` is not in kebab case");
    std::string k = names::unique_key(l);
    for (auto& prev : keys) {
      if (prev == k)
        return invalid(std::string(what) + " name `" + l + "` conflicts with previous name");
    }
    keys.push_back(k);
  }
  return {};
}

Result<TypeEntry> resolve_type(Scope& s, const ast::TypeDef& td) {
  TypeEntry e;
  switch (td.kind) {
    case ast::TypeDef::Kind::DefVal: {
      const auto& dv = td.val;
      if (s.checks && (dv.kind == TypeKind::Record || dv.kind == TypeKind::Variant)) {
        std::vector<std::string> ls;
        for (auto& f : dv.fields) ls.push_back(f.label);
        CHECK(check_labels(ls, dv.kind == TypeKind::Record ? "field" : "variant case"));
      } else if (s.checks && (dv.kind == TypeKind::Enum || dv.kind == TypeKind::Flags)) {
        CHECK(check_labels(dv.names, dv.kind == TypeKind::Enum ? "enum case" : "flag"));
      }
      auto t = std::make_shared<Type>();
      t->kind = dv.kind;
      switch (dv.kind) {
        case TypeKind::Record:
          for (auto& f : dv.fields) {
            TRY(ft, valtype(s, *f.type));
            t->fields.push_back({f.label, ft});
          }
          break;
        case TypeKind::Variant:
          for (auto& c : dv.fields) {
            TypePtr ct;
            if (c.type) {
              TRY(x, valtype(s, *c.type));
              ct = x;
            }
            t->cases.push_back({c.label, ct});
          }
          break;
        case TypeKind::Tuple:
          for (auto& i : dv.items) {
            TRY(x, valtype(s, i));
            t->items.push_back(x);
          }
          break;
        case TypeKind::List:
          if (dv.map) {  // map<K, V>: a list of (K, V) tuples
            TRY(k, valtype(s, *dv.a));
            TRY(v, valtype(s, *dv.b));
            if (s.checks && !is_map_key(*k))
              return invalid("map key type `" + k->to_string() + "` is not a valid key type");
            auto entry = std::make_shared<Type>();
            entry->kind = TypeKind::Tuple;
            entry->items = {k, v};
            t->elem = entry;
            t->map = true;
            break;
          }
          t->length = dv.length;
          [[fallthrough]];
        case TypeKind::Option: {
          TRY(x, valtype(s, *dv.a));
          t->elem = x;
          break;
        }
        case TypeKind::Stream:
        case TypeKind::Future:
          if (dv.a) {
            TRY(x, valtype(s, *dv.a));
            if (s.checks && contains_borrow(*x)) {
              return invalid(std::string(type_kind_name(dv.kind)) +
                             " element type cannot contain a `borrow` type");
            }
            if (s.checks && dv.kind == TypeKind::Stream && x->kind == TypeKind::Char)
              return invalid("`stream<char>` is not valid at this time");
            t->elem = x;
          }
          break;
        case TypeKind::Result:
          if (dv.a) {
            TRY(x, valtype(s, *dv.a));
            t->ok = x;
          }
          if (dv.b) {
            TRY(x, valtype(s, *dv.b));
            t->err = x;
          }
          break;
        case TypeKind::Enum:
        case TypeKind::Flags:
          t->names = dv.names;
          break;
        case TypeKind::Own:
        case TypeKind::Borrow: {
          AT(r, s.types, dv.index, "type");
          if (r.kind != TypeEntry::Kind::Resource) {
            return invalid("type index " + std::to_string(dv.index) + " is not a resource type");
          }
          t->resource = r.res;
          break;
        }
        default:
          if (is_primitive(dv.kind) || dv.kind == TypeKind::ErrorContext)
            return TypeEntry{TypeEntry::Kind::Val, Type::primitive(dv.kind), {}, {}, {}, {}, {}};
          break;
      }
      e.kind = TypeEntry::Kind::Val;
      e.val = t;
      return e;
    }
    case ast::TypeDef::Kind::Func: {
      if (s.checks) {
        std::vector<std::string> ls;
        for (auto& p : td.func.params) ls.push_back(p.label);
        CHECK(check_labels(ls, "function parameter"));
        ls.clear();
        for (auto& r : td.func.results) {
          if (!r.label.empty()) ls.push_back(r.label);
        }
        CHECK(check_labels(ls, "function result"));
      }
      auto f = std::make_shared<FuncType>();
      f->async = td.func.async;
      for (auto& p : td.func.params) {
        TRY(t, valtype(s, *p.type));
        f->params.emplace_back(p.label, t);
      }
      for (auto& r : td.func.results) {
        TRY(t, valtype(s, *r.type));
        if (contains_borrow(*t)) return invalid("function result cannot contain a `borrow` type");
        f->results.emplace_back(r.label, t);
      }
      e.kind = TypeEntry::Kind::Func;
      e.func = f;
      return e;
    }
    case ast::TypeDef::Kind::Component:
    case ast::TypeDef::Kind::Instance: {
      Scope child;
      child.parent = &s;
      child.checks = s.checks;
      child.kind = td.kind == ast::TypeDef::Kind::Instance ? Scope::Kind::InstanceType
                                                           : Scope::Kind::ComponentType;
      CHECK(run_decls(child, td.decls));
      e.defined = std::move(child.defined);
      if (td.kind == ast::TypeDef::Kind::Instance) {
        auto d = std::make_shared<InstanceTypeDesc>();
        d->exports = std::move(child.export_descs);
        e.kind = TypeEntry::Kind::Instance;
        e.inst = d;
      } else {
        auto d = std::make_shared<ComponentTypeDesc>();
        d->imports = std::move(child.imports);
        d->exports = std::move(child.export_descs);
        e.kind = TypeEntry::Kind::Component;
        e.comp = d;
      }
      return e;
    }
    case ast::TypeDef::Kind::Resource: {
      auto r = fresh_resource("", false);
      if (s.runtime) {
        r->owner = s.state.get();
        if (td.dtor) {
          TRY(f, at(s.core_funcs, *td.dtor, "core func"));
          r->dtor = f;
        }
        s.state->resources.push_back(r);
      } else if (td.dtor && *td.dtor >= s.core_funcs.size()) {
        return invalid("unknown core func " + std::to_string(*td.dtor));
      } else if (td.dtor && s.checks) {
        auto t = opt_at(s.core_func_types, *td.dtor);
        if (t && !(t->params == std::vector{engine::ValType::I32} && t->results.empty()))
          return invalid("wrong signature for a destructor: " + t->to_string());
      }
      s.local_resources.insert(r.get());
      e.kind = TypeEntry::Kind::Resource;
      e.res = r;
      return e;
    }
  }
  return invalid("unknown type definition");
}

// The description of an import or export of type `et`. The abstract resources the type
// declares are made fresh (each import of an instance type has its own resources) and
// appended to `s.defined` and to `fresh` when given.
Result<ExternDesc> extern_desc(Scope& s, const ast::ExternTypeDef& et, const std::string& name,
                               std::vector<ResourceTypePtr>* fresh = nullptr) {
  ExternDesc d;
  switch (et.kind) {
    case 0x00: {
      AT(t, s.core_types, et.index, "core type");
      if (!t.module)
        return invalid("core type index " + std::to_string(et.index) + " is not a module type");
      d.kind = ExternDesc::Kind::Module;
      d.module = t.mod;
      return d;
    }
    case 0x01: {
      AT(t, s.types, et.index, "type");
      if (t.kind != TypeEntry::Kind::Func)
        return invalid("`" + name + "`: type is not a function type");
      d.kind = ExternDesc::Kind::Func;
      d.func = *t.func;
      return d;
    }
    case 0x02:
      return make_error(ErrorKind::Unsupported, "value imports and exports are not supported");
    case 0x03: {
      if (et.sub_resource) {
        d.kind = ExternDesc::Kind::Resource;
        d.resource = fresh_resource(name, true);
        s.defined.push_back(d.resource);
        if (fresh) fresh->push_back(d.resource);
        return d;
      }
      AT(t, s.types, et.index, "type");
      if (t.kind == TypeEntry::Kind::Resource) {
        d.kind = ExternDesc::Kind::Resource;
        d.resource = t.res;
      } else if (t.kind == TypeEntry::Kind::Val) {
        d.kind = ExternDesc::Kind::Type;
        if (t.val->name == name) {
          d.type = t.val;  // re-export of a named type: keep its identity (WIT `use`)
        } else {
          auto named = std::make_shared<Type>(*t.val);
          named->name = name;
          d.type = named;
        }
      } else {
        return invalid("`" + name + "`: type bound must be a value or resource type");
      }
      return d;
    }
    case 0x04: {
      AT(t, s.types, et.index, "type");
      if (t.kind != TypeEntry::Kind::Component)
        return invalid("`" + name + "`: not a component type");
      d.kind = ExternDesc::Kind::Component;
      d.component = t.comp;
      if (!t.defined.empty()) {
        // Fresh for this import (not added to s.defined: a component type's resources stay
        // abstract until it is instantiated).
        Subst m;
        for (auto& r : t.defined) {
          auto n = fresh_resource(r->name, true);
          m[r.get()] = n;
          if (fresh) fresh->push_back(n);
        }
        Substituter sb{m, {}};
        auto c = std::make_shared<ComponentTypeDesc>();
        c->imports = sb.list(t.comp->imports);
        c->exports = sb.list(t.comp->exports);
        d.component = c;
      }
      return d;
    }
    case 0x05: {
      AT(t, s.types, et.index, "type");
      if (t.kind != TypeEntry::Kind::Instance)
        return invalid("`" + name + "`: not an instance type");
      d.kind = ExternDesc::Kind::Instance;
      d.instance = t.inst;
      if (!t.defined.empty()) {
        Subst m;
        for (auto& r : t.defined) {
          auto n = fresh_resource(r->name, true);
          m[r.get()] = n;
          s.defined.push_back(n);
          if (fresh) fresh->push_back(n);
        }
        d.instance = subst_inst(*t.inst, m);
      }
      return d;
    }
  }
  return invalid("bad extern type");
}

std::shared_ptr<Func::Data> trap_func(const std::string& name, const FuncType& ft) {
  auto f = std::make_shared<Func::Data>();
  f->name = name;
  f->type = ft;
  f->kind = Func::Data::Kind::Trap;
  prepare(*f);
  return f;
}

std::shared_ptr<InstanceValue> value_from_desc(const InstanceTypeDesc& d, const std::string& prefix,
                                               bool callable);

// The item standing for an import in the static view. Inside a type definition (`callable`
// false) functions are never called nor described again: they get no Func::Data.
CompItem item_from_desc(const std::string& name, const ExternDesc& d, bool callable = true) {
  CompItem it;
  switch (d.kind) {
    case ExternDesc::Kind::Func:
      it.sort = Sort::Func;
      if (callable) it.func = trap_func(name, d.func);
      break;
    case ExternDesc::Kind::Instance:
      it.sort = Sort::Instance;
      it.instance = value_from_desc(*d.instance, name, callable);
      break;
    case ExternDesc::Kind::Type:
      it.sort = Sort::Type;
      it.type.kind = TypeEntry::Kind::Val;
      it.type.val = d.type;
      break;
    case ExternDesc::Kind::Resource:
      it.sort = Sort::Type;
      it.type.kind = TypeEntry::Kind::Resource;
      it.type.res = d.resource;
      break;
    case ExternDesc::Kind::Component:
      it.sort = Sort::Component;
      it.component_type = std::const_pointer_cast<ComponentTypeDesc>(d.component);
      break;
    case ExternDesc::Kind::Module:
      it.sort = Sort::CoreModule;
      it.module_type = d.module;
      break;
    case ExternDesc::Kind::Value:
      it.sort = Sort::Value;
      break;
  }
  return it;
}

std::shared_ptr<InstanceValue> value_from_desc(const InstanceTypeDesc& d, const std::string& prefix,
                                               bool callable) {
  auto v = std::make_shared<InstanceValue>();
  v->exports.reserve(d.exports.size());
  for (auto& e : d.exports) {
    v->exports.emplace_back(
        e.name, item_from_desc(callable ? prefix + "#" + e.name : std::string(), e.desc, callable));
  }
  return v;
}

// Adds an item to the index space of its sort.
Result<void> push_item(Scope& s, const CompItem& it) {
  switch (it.sort) {
    case Sort::Func:
      s.funcs.push_back(it.func);
      return {};
    case Sort::Type:
      s.types.push_back(it.type);
      return {};
    case Sort::Instance:
      s.instances.push_back(it.instance);
      return {};
    case Sort::Component:
      s.components.push_back(it);
      return {};
    case Sort::CoreModule:
      s.modules.push_back(it.module);
      s.module_types.push_back(it.module_type);
      return {};
    default:
      return make_error(ErrorKind::Unsupported,
                        std::string("unsupported item sort: ") + ast::sort_name(it.sort));
  }
}

// Desc of an item (for exports of the component).
ExternDesc desc_of(const CompItem& it) {
  ExternDesc d;
  switch (it.sort) {
    case Sort::Func:
      d.kind = ExternDesc::Kind::Func;
      if (it.func) d.func = it.func->type;
      break;
    case Sort::Type:
      if (it.type.kind == TypeEntry::Kind::Resource) {
        d.kind = ExternDesc::Kind::Resource;
        d.resource = it.type.res;
      } else {
        d.kind = ExternDesc::Kind::Type;
        d.type = it.type.val;
      }
      break;
    case Sort::Instance: {
      d.kind = ExternDesc::Kind::Instance;
      auto inst = std::make_shared<InstanceTypeDesc>();
      for (auto& [n, sub] : it.instance->exports) inst->exports.push_back({n, desc_of(sub)});
      d.instance = inst;
      break;
    }
    case Sort::Component:
      d.kind = ExternDesc::Kind::Component;
      d.component = it.component_type;
      break;
    default:
      d.kind = ExternDesc::Kind::Module;
      d.module = it.module_type;
      break;
  }
  return d;
}

Result<CompItem> get_item(Scope& s, Sort sort, uint32_t idx) {
  CompItem it;
  it.sort = sort;
  switch (sort) {
    case Sort::Func: {
      TRY(f, at(s.funcs, idx, "func"));
      it.func = f;
      return it;
    }
    case Sort::Type: {
      TRY(t, at(s.types, idx, "type"));
      it.type = t;
      return it;
    }
    case Sort::Instance: {
      TRY(i, at(s.instances, idx, "instance"));
      it.instance = i;
      return it;
    }
    case Sort::Component: {
      TRY(c, at(s.components, idx, "component"));
      return c;
    }
    case Sort::CoreModule: {
      TRY(m, at(s.modules, idx, "core module"));
      it.module = m;
      it.module_type = s.module_types[idx];
      return it;
    }
    default:
      return make_error(ErrorKind::Unsupported,
                        std::string("unsupported sort: ") + ast::sort_name(sort));
  }
}

bool mentions_free_resource(const TypeEntry& e);

Result<void> push_alias(Scope& s, const ast::AliasDef& a) {
  switch (a.kind) {
    case ast::AliasDef::Kind::Export: {
      AT(inst, s.instances, a.instance, "instance");
      const CompItem* it = inst->find(a.name);
      if (!it)
        return invalid("instance " + std::to_string(a.instance) + " has no export named `" +
                       a.name + "`");
      if (it->sort != a.sort) {
        return invalid("export `" + a.name + "` is a " + ast::sort_name(it->sort) + ", not a " +
                       ast::sort_name(a.sort));
      }
      return push_item(s, *it);
    }
    case ast::AliasDef::Kind::CoreExport: {
      AT(ci, s.core_instances, a.instance, "core instance");
      const size_t seq = s.walk ? s.walk->core_alias_seq++ : SIZE_MAX;
      if (!s.runtime) {
        if (PreMemo* r = s.walk ? s.walk->record : nullptr) {
          if (r->core_aliases.size() <= seq) r->core_aliases.resize(seq + 1, -1);
          r->core_aliases[seq] = ci.position(a.name);
        }
        std::optional<engine::ExternType> t;
        if (ci.types) {
          for (auto& e : *ci.types) {
            if (e.name == a.name) t = e.type;
          }
          if (!t) {
            return invalid("core instance " + std::to_string(a.instance) +
                           " has no export named `" + a.name + "`");
          }
        } else if (ci.inline_) {
          bool found = false;
          for (auto& [n, x] : ci.items) found = found || n == a.name;
          if (!found) {
            return invalid("core instance " + std::to_string(a.instance) +
                           " has no export named `" + a.name + "`");
          }
        }
        auto kind_is = [&](engine::ExternKind k, const char* what) -> Result<void> {
          if (t && t->kind != k) return not_a(a, what);
          return {};
        };
        switch (a.sort) {
          case Sort::CoreFunc:
            CHECK(kind_is(engine::ExternKind::Func, "function"));
            s.core_funcs.emplace_back();
            s.core_func_types.push_back(t ? std::optional(t->func) : std::nullopt);
            return {};
          case Sort::CoreTable:
            CHECK(kind_is(engine::ExternKind::Table, "table"));
            s.core_tables.emplace_back();
            s.core_table_types.push_back(t);
            return {};
          case Sort::CoreMemory:
            CHECK(kind_is(engine::ExternKind::Memory, "memory"));
            s.core_memories.emplace_back();
            s.core_memory_types.push_back(t);
            return {};
          case Sort::CoreGlobal:
            CHECK(kind_is(engine::ExternKind::Global, "global"));
            s.core_globals.emplace_back();
            s.core_global_types.push_back(t);
            return {};
          case Sort::CoreTag:
            CHECK(kind_is(engine::ExternKind::Tag, "tag"));
            s.core_tags.emplace_back();
            s.core_tag_types.push_back(t);
            return {};
          default:
            return invalid("unsupported core export alias sort");
        }
      }
      const PreMemo* memo = s.walk ? s.walk->memo : nullptr;
      std::optional<engine::Extern> found;
      if (memo && seq < memo->core_aliases.size() && memo->core_aliases[seq] >= 0) {
        found = ci.at(static_cast<uint32_t>(memo->core_aliases[seq]));
      } else {
        found = ci.find(a.name);
      }
      if (!found)
        return invalid("core instance " + std::to_string(a.instance) + " has no export named `" +
                       a.name + "`");
      const engine::Extern& x = *found;
      switch (a.sort) {
        case Sort::CoreFunc:
          if (x.kind != engine::ExternKind::Func) return not_a(a, "function");
          s.core_funcs.push_back(x.func);
          return {};
        case Sort::CoreTable:
          if (x.kind != engine::ExternKind::Table) return not_a(a, "table");
          s.core_tables.push_back(x.table);
          return {};
        case Sort::CoreMemory:
          if (x.kind != engine::ExternKind::Memory) return not_a(a, "memory");
          s.core_memories.push_back(x.memory);
          return {};
        case Sort::CoreGlobal:
          if (x.kind != engine::ExternKind::Global) return not_a(a, "global");
          s.core_globals.push_back(x.global);
          return {};
        case Sort::CoreTag:
          if (x.kind != engine::ExternKind::Tag) return not_a(a, "tag");
          s.core_tags.push_back(x.tag);
          return {};
        default:
          return invalid("unsupported core export alias sort");
      }
    }
    case ast::AliasDef::Kind::Outer: {
      Scope* target = &s;
      for (uint32_t i = 0; i < a.count; i++) {
        if (!target->parent)
          return invalid("outer alias count " + std::to_string(a.count) + " is out of bounds");
        target = target->parent;
      }
      switch (a.sort) {
        case Sort::Type: {
          TRY(t, at(target->types, a.index, "type"));
          if (s.checks) {
            // Across a component boundary only types without free resources may be aliased
            // (resource types are generative).
            bool boundary = false;
            for (Scope* p = &s; p != target; p = p->parent) {
              boundary = boundary || p->kind == Scope::Kind::Component;
            }
            if (boundary && mentions_free_resource(t)) {
              return invalid("outer alias of type " + std::to_string(a.index) +
                             " transitively refers to resources not defined in the current "
                             "component");
            }
          }
          s.types.push_back(t);
          return {};
        }
        case Sort::CoreType: {
          TRY(t, at(target->core_types, a.index, "core type"));
          s.core_types.push_back(std::move(t));
          return {};
        }
        case Sort::CoreModule: {
          TRY(m, at(target->modules, a.index, "core module"));
          s.modules.push_back(m);
          s.module_types.push_back(target->module_types[a.index]);
          return {};
        }
        case Sort::Component: {
          TRY(c, at(target->components, a.index, "component"));
          s.components.push_back(c);
          return {};
        }
        default:
          return invalid("invalid outer alias sort");
      }
    }
  }
  return {};
}

// The export of a resource type under `name`, during validation: the same type with a new
// identity (Explainer.md: an export introduces a new type index the naming rules refer to).
ResourceTypePtr alias_resource(const ResourceTypePtr& r, const std::string& name) {
  auto a = std::make_shared<ResourceTypeImpl>(name);
  a->alias_of = r;
  if (auto* ri = impl_of(r)) {
    a->placeholder = ri->placeholder;
    a->host = ri->host;
  }
  return a;
}

// ---- outer aliases
// -------------------------------------------------------------------------------

using ResSet = std::set<const ResourceType*>;

bool free_in(const Type& t, const ResSet& bound) {
  switch (t.kind) {
    case TypeKind::Own:
    case TypeKind::Borrow:
      return !bound.count(t.resource.get());
    case TypeKind::List:
    case TypeKind::Option:
      return free_in(*t.elem, bound);
    case TypeKind::Stream:
    case TypeKind::Future:
      return t.elem && free_in(*t.elem, bound);
    case TypeKind::Result:
      return (t.ok && free_in(*t.ok, bound)) || (t.err && free_in(*t.err, bound));
    case TypeKind::Record:
      for (auto& f : t.fields) {
        if (free_in(*f.type, bound)) return true;
      }
      return false;
    case TypeKind::Tuple:
      for (auto& f : t.items) {
        if (free_in(*f, bound)) return true;
      }
      return false;
    case TypeKind::Variant:
      for (auto& c : t.cases) {
        if (c.type && free_in(*c.type, bound)) return true;
      }
      return false;
    default:
      return false;
  }
}

bool free_in(const std::vector<NamedExtern>& v, const ResSet& bound);

bool free_in(const ExternDesc& d, const ResSet& bound) {
  switch (d.kind) {
    case ExternDesc::Kind::Func:
      for (auto& p : d.func.params) {
        if (free_in(*p.second, bound)) return true;
      }
      for (auto& r : d.func.results) {
        if (free_in(*r.second, bound)) return true;
      }
      return false;
    case ExternDesc::Kind::Type:
      return d.type && free_in(*d.type, bound);
    case ExternDesc::Kind::Resource:
      return !bound.count(d.resource.get());
    case ExternDesc::Kind::Instance:
      return d.instance && free_in(d.instance->exports, bound);
    case ExternDesc::Kind::Component:
      return d.component &&
             (free_in(d.component->imports, bound) || free_in(d.component->exports, bound));
    default:
      return false;
  }
}

bool free_in(const std::vector<NamedExtern>& v, const ResSet& bound) {
  for (auto& e : v) {
    if (free_in(e.desc, bound)) return true;
  }
  return false;
}

// Whether a type mentions a resource type it does not itself declare.
bool mentions_free_resource(const TypeEntry& e) {
  ResSet bound;
  for (auto& r : e.defined) bound.insert(r.get());
  switch (e.kind) {
    case TypeEntry::Kind::Resource:
      return true;
    case TypeEntry::Kind::Val:
      return has_handles(*e.val);
    case TypeEntry::Kind::Func: {
      ExternDesc d;
      d.func = *e.func;
      return free_in(d, bound);
    }
    case TypeEntry::Kind::Instance:
      return free_in(e.inst->exports, bound);
    case TypeEntry::Kind::Component:
      return free_in(e.comp->imports, bound) || free_in(e.comp->exports, bound);
  }
  return false;
}

// ---- external visibility of types ---------------------------------------------------------------

using NameSet = std::set<const void*>;

// A value type used by an imported or exported item: records, variants, enums and flags must
// be named (imported or exported before), structural types only through their parts, handles
// through their resource.
bool named_valtype(const Type& t, const NameSet& set) {
  switch (t.kind) {
    case TypeKind::Record:
    case TypeKind::Variant:
    case TypeKind::Enum:
    case TypeKind::Flags:
      return set.count(&t) > 0;
    case TypeKind::Tuple:
      for (auto& i : t.items) {
        if (!named_valtype(*i, set)) return false;
      }
      return true;
    case TypeKind::List:
    case TypeKind::Option:
      return named_valtype(*t.elem, set);
    case TypeKind::Stream:
    case TypeKind::Future:
      return !t.elem || named_valtype(*t.elem, set);
    case TypeKind::Result:
      return (!t.ok || named_valtype(*t.ok, set)) && (!t.err || named_valtype(*t.err, set));
    case TypeKind::Own:
    case TypeKind::Borrow:
      return set.count(t.resource.get()) > 0;
    default:
      return true;
  }
}

// The parts of a defined type that is itself imported or exported.
bool named_parts(const Type& t, const NameSet& set) {
  switch (t.kind) {
    case TypeKind::Record:
      for (auto& f : t.fields) {
        if (!named_valtype(*f.type, set)) return false;
      }
      return true;
    case TypeKind::Variant:
      for (auto& c : t.cases) {
        if (c.type && !named_valtype(*c.type, set)) return false;
      }
      return true;
    case TypeKind::Enum:
    case TypeKind::Flags:
      return true;
    default:
      return named_valtype(t, set);
  }
}

bool named_func(const FuncType& f, const NameSet& set) {
  for (auto& p : f.params) {
    if (!named_valtype(*p.second, set)) return false;
  }
  for (auto& r : f.results) {
    if (!named_valtype(*r.second, set)) return false;
  }
  return true;
}

// Checks that an import (or export) of type `d` only refers to named types, and names the
// types it introduces (for an instance, its exported types, in order).
bool register_named(Scope& s, bool import, const ExternDesc& d) {
  if (s.kind == Scope::Kind::InstanceType) return true;
  NameSet& set = import ? s.imported_named : s.exported_named;
  switch (d.kind) {
    case ExternDesc::Kind::Type:
      if (!d.type) return true;
      if (!named_parts(*d.type, set)) return false;
      if (import) s.imported_named.insert(d.type.get());
      s.exported_named.insert(d.type.get());
      return true;
    case ExternDesc::Kind::Resource:
      if (import) s.imported_named.insert(d.resource.get());
      s.exported_named.insert(d.resource.get());
      return true;
    case ExternDesc::Kind::Instance:
      if (!d.instance) return true;
      for (auto& e : d.instance->exports) {
        if (!register_named(s, import, e.desc)) return false;
      }
      return true;
    case ExternDesc::Kind::Func:
      return named_func(d.func, set);
    default:
      return true;
  }
}

// An exported instance type: what its exports refer to must be named.
bool named_instance_type(const InstanceTypeDesc& d, const NameSet& set) {
  for (auto& e : d.exports) {
    switch (e.desc.kind) {
      case ExternDesc::Kind::Func:
        if (!named_func(e.desc.func, set)) return false;
        break;
      case ExternDesc::Kind::Type:
        if (e.desc.type && !named_parts(*e.desc.type, set)) return false;
        break;
      case ExternDesc::Kind::Instance:
        if (e.desc.instance && !named_instance_type(*e.desc.instance, set)) return false;
        break;
      default:
        break;
    }
  }
  return true;
}

const char* desc_kind_name(ExternDesc::Kind k) {
  switch (k) {
    case ExternDesc::Kind::Func:
      return "func";
    case ExternDesc::Kind::Instance:
      return "instance";
    case ExternDesc::Kind::Type:
    case ExternDesc::Kind::Resource:
      return "type";
    case ExternDesc::Kind::Module:
      return "module";
    case ExternDesc::Kind::Component:
      return "component";
    case ExternDesc::Kind::Value:
      return "value";
  }
  return "item";
}

Result<void> check_named(Scope& s, bool import, const ExternDesc& d) {
  if (!register_named(s, import, d)) {
    return invalid(std::string(desc_kind_name(d.kind)) + " not valid to be used as " +
                   (import ? "import" : "export"));
  }
  return {};
}

// Checks an import or export name: its syntax, strong uniqueness within `list`, and the rules
// of [constructor]/[method]/[static] names (a preceding resource of that name in the same
// scope, the self parameter, the constructor's result).
Result<void> check_name(const Scope::ResourceNames& resources, const std::vector<NamedExtern>& list,
                        const std::string& name, const ExternDesc& desc, const char* what) {
  std::string why;
  if (!names::is_extern_name(name, &why)) {
    return invalid(std::string(what) + " name `" + name + "` is not valid: " + why);
  }
  std::string key = names::unique_key(name);
  for (auto& e : list) {
    if (names::unique_key(e.name) == key) {
      return invalid(std::string(what) + " name `" + name + "` conflicts with previous name `" +
                     e.name + "`");
    }
  }
  auto a = names::parse_annotation(name);
  if (a.kind == names::Annotated::Kind::None) return {};
  if (desc.kind != ExternDesc::Kind::Func) {
    return invalid("`" + name + "`: annotated names are only for functions");
  }
  const ResourceType* rt = nullptr;
  if (auto it = resources.find(a.resource); it != resources.end()) rt = it->second;
  if (!rt) return invalid("`" + name + "`: no preceding resource named `" + a.resource + "`");
  const FuncType& f = desc.func;
  if (a.kind == names::Annotated::Kind::Method) {
    if (f.params.empty() || f.params[0].first != "self" ||
        f.params[0].second->kind != TypeKind::Borrow || f.params[0].second->resource.get() != rt) {
      return invalid("`" + name + "`: a method's first parameter must be `self: borrow<" +
                     a.resource + ">`");
    }
  } else if (a.kind == names::Annotated::Kind::Constructor) {
    const Type* r = f.results.size() == 1 ? f.results[0].second.get() : nullptr;
    if (r && r->kind == TypeKind::Result && r->ok) r = r->ok.get();
    if (!r || r->kind != TypeKind::Own || r->resource.get() != rt) {
      return invalid("`" + name + "`: a constructor must return `own<" + a.resource + ">`");
    }
  }
  return {};
}

Result<void> run_decls(Scope& s, const std::vector<ast::Decl>& decls) {
  for (const auto& d : decls) {
    switch (d.kind) {
      case ast::Decl::Kind::CoreType: {
        TRY(t, resolve_core_type(s, *d.core_type));
        s.core_types.push_back(std::move(t));
        break;
      }
      case ast::Decl::Kind::Type: {
        TRY(e, resolve_type(s, *d.type));
        s.types.push_back(e);
        break;
      }
      case ast::Decl::Kind::Alias:
        if (d.alias.kind == ast::AliasDef::Kind::CoreExport)
          return invalid("core export alias in a type");
        if ((d.alias.kind == ast::AliasDef::Kind::Export && d.alias.sort != Sort::Type &&
             d.alias.sort != Sort::Instance) ||
            (d.alias.kind == ast::AliasDef::Kind::Outer && d.alias.sort != Sort::Type &&
             d.alias.sort != Sort::CoreType)) {
          return invalid("aliases in a type declaration may only refer to types or instances");
        }
        CHECK(push_alias(s, d.alias));
        break;
      case ast::Decl::Kind::Import:
      case ast::Decl::Kind::Export: {
        TRY(desc, extern_desc(s, d.extern_type, d.name));
        bool is_import = d.kind == ast::Decl::Kind::Import;
        auto& list = is_import ? s.imports : s.export_descs;
        auto& resources = is_import ? s.import_resources : s.export_resources;
        if (s.checks)
          CHECK(check_name(resources, list, d.name, desc, is_import ? "import" : "export"));
        if (s.checks) CHECK(check_named(s, is_import, desc));
        list.push_back({d.name, desc});
        if (desc.kind == ExternDesc::Kind::Resource) resources[d.name] = desc.resource.get();
        CHECK(push_item(s, item_from_desc(d.name, desc, /*callable=*/false)));
        break;
      }
    }
  }
  return {};
}

// ---- canonical options --------------------------------------------------------------------------

Result<CanonContext> canon_context(Scope& s, const ast::CanonOpts& o) {
  CanonContext cx;
  cx.inst = s.state.get();
  cx.encoding = o.encoding;
  if (o.memory) {
    TRY(m, at(s.core_memories, *o.memory, "core memory"));
    cx.memory = m;
  }
  if (o.realloc) {
    TRY(f, at(s.core_funcs, *o.realloc, "core func"));
    cx.realloc = f;
  }
  if (o.post_return) {
    TRY(f, at(s.core_funcs, *o.post_return, "core func"));
    cx.post_return = f;
  }
  cx.async = o.async;
  if (o.callback) {
    TRY(f, at(s.core_funcs, *o.callback, "core func"));
    cx.callback = f;
  }
  return cx;
}

bool needs_memory(const Type& t) {
  switch (t.kind) {
    case TypeKind::String:
      return true;
    case TypeKind::List:  // a fixed-size list is stored inline
      return !t.length || needs_memory(*t.elem);
    case TypeKind::Record:
      for (auto& f : t.fields) {
        if (needs_memory(*f.type)) return true;
      }
      return false;
    case TypeKind::Tuple:
      for (auto& f : t.items) {
        if (needs_memory(*f)) return true;
      }
      return false;
    case TypeKind::Variant:
      for (auto& c : t.cases) {
        if (c.type && needs_memory(*c.type)) return true;
      }
      return false;
    case TypeKind::Option:
      return needs_memory(*t.elem);
    case TypeKind::Result:
      return (t.ok && needs_memory(*t.ok)) || (t.err && needs_memory(*t.err));
    default:
      return false;
  }
}

// ---- subtyping of instantiation arguments ----------------------------------------------------

Sort sort_of(ExternDesc::Kind k) {
  switch (k) {
    case ExternDesc::Kind::Func:
      return Sort::Func;
    case ExternDesc::Kind::Instance:
      return Sort::Instance;
    case ExternDesc::Kind::Type:
    case ExternDesc::Kind::Resource:
      return Sort::Type;
    case ExternDesc::Kind::Module:
      return Sort::CoreModule;
    case ExternDesc::Kind::Component:
      return Sort::Component;
    case ExternDesc::Kind::Value:
      return Sort::Value;
  }
  return Sort::Value;
}

// Checks that a value of type `actual` may stand for one of type `expected` (value types are
// equal: same structure, names and resources, `expected` read through `m`).
Result<void> check_valtype(const TypePtr& actual, const TypePtr& expected, const Subst& m,
                           const std::string& what) {
  TypePtr e = subst(expected, m);
  if (!same_type(*actual, *e)) {
    return invalid(what + ": type mismatch: expected `" + expected->to_string() + "`, found `" +
                   actual->to_string() + "`");
  }
  return {};
}

Result<void> check_functype(const FuncType& actual, const FuncType& expected, const Subst& m,
                            const std::string& what) {
  auto fail = [&](const std::string& why) {
    return invalid(what + ": " + why + " (expected `" + expected.to_string() + "`, found `" +
                   actual.to_string() + "`)");
  };
  if (actual.async != expected.async) return fail("one is async, the other is not");
  if (actual.params.size() != expected.params.size()) return fail("parameter count differs");
  for (size_t i = 0; i < actual.params.size(); i++) {
    if (actual.params[i].first != expected.params[i].first) return fail("parameter names differ");
    CHECK(check_valtype(actual.params[i].second, expected.params[i].second, m, what));
  }
  if (actual.results.size() != expected.results.size()) return fail("result count differs");
  for (size_t i = 0; i < actual.results.size(); i++) {
    if (actual.results[i].first != expected.results[i].first) return fail("result names differ");
    CHECK(check_valtype(actual.results[i].second, expected.results[i].second, m, what));
  }
  return {};
}

// Checks that an item described by `actual` may be supplied where `expected` is imported.
// The abstract resources in `free` (those the expected type declares) are bound in `m` to the
// actual ones as they are met; any other resource must be the same.
Result<void> check_subtype(const ExternDesc& actual, const ExternDesc& expected, Subst& m,
                           const std::set<const ResourceType*>& free, const std::string& what) {
  if (sort_of(actual.kind) != sort_of(expected.kind)) {
    return invalid(what + ": expected " + ast::sort_name(sort_of(expected.kind)) + ", found " +
                   ast::sort_name(sort_of(actual.kind)));
  }
  switch (expected.kind) {
    case ExternDesc::Kind::Func:
      return check_functype(actual.func, expected.func, m, what);
    case ExternDesc::Kind::Type:
      if (actual.kind != ExternDesc::Kind::Type)
        return invalid(what + ": expected a defined type, found a resource");
      if (!actual.type || !expected.type) return {};
      return check_valtype(actual.type, expected.type, m, what);
    case ExternDesc::Kind::Resource: {
      if (actual.kind != ExternDesc::Kind::Resource)
        return invalid(what + ": expected a resource, found a defined type");
      const ResourceType* want = expected.resource.get();
      if (auto it = m.find(want); it != m.end()) {
        want = it->second.get();
      } else if (free.count(want)) {
        m[want] = actual.resource;
        return {};
      }
      if (want->canonical() != actual.resource->canonical())
        return invalid(what + ": resource types are not the same");
      return {};
    }
    case ExternDesc::Kind::Instance: {
      if (!actual.instance || !expected.instance) return {};
      for (auto& e : expected.instance->exports) {
        const ExternDesc* found = nullptr;
        for (auto& x : actual.instance->exports) {
          if (x.name == e.name) {
            found = &x.desc;
            break;
          }
        }
        if (!found) return invalid(what + ": missing expected export `" + e.name + "`");
        CHECK(check_subtype(*found, e.desc, m, free, what + ", export `" + e.name + "`"));
      }
      return {};
    }
    case ExternDesc::Kind::Module:
      if (actual.module && expected.module)
        return check_module_type(*actual.module, *expected.module, what);
      return {};
    default:
      return {};
  }
}

// The canonical options of a lift or lower of `f`: memory and realloc where the ABI needs
// them, and the core types of realloc and post-return.
Result<void> check_canon_opts(const Scope& s, const ast::CanonOpts& o, const Func::Data& f,
                              bool lift) {
  if (!s.checks) return {};
  if (o.async && !f.type.async)
    return invalid("canonical option `async` requires an async function type");
  if (o.async && o.post_return)
    return invalid("canonical option `post-return` cannot be used with `async`");
  if (o.callback && !o.async) return invalid("canonical option `callback` requires `async`");
  if (o.callback && !lift)
    return invalid("canonical option `callback` cannot be specified for lowerings");
  if (o.callback && !s.runtime) {
    auto t = opt_at(s.core_func_types, *o.callback);
    const std::vector<engine::ValType> i32x3(3, engine::ValType::I32);
    if (t && !(t->params == i32x3 && t->results == std::vector{engine::ValType::I32})) {
      return invalid(
          "canonical option `callback` uses a core function with an incorrect signature");
    }
  }
  if (o.async && !lift && !o.memory) return invalid("canonical option `memory` is required");
  bool params_mem = false, results_mem = false;
  for (auto& p : f.type.params) params_mem = params_mem || needs_memory(*p.second);
  for (auto& r : f.type.results) results_mem = results_mem || needs_memory(*r.second);
  const size_t max_params = o.async && !lift ? 4 : 16;
  const size_t max_results = o.async ? (lift ? 16 : 0) : 1;
  bool spill_params = f.flat_params.size() > max_params,
       spill_results = f.flat_results.size() > max_results;
  bool need_memory = params_mem || results_mem || spill_params || spill_results;
  bool need_realloc = lift ? (params_mem || spill_params) : results_mem;
  if (need_memory && !o.memory) return invalid("canonical option `memory` is required");
  if (need_realloc && !o.realloc) return invalid("canonical option `realloc` is required");
  if (o.realloc && !o.memory)
    return invalid("canonical option `realloc` requires `memory` to also be specified");
  if (o.realloc && !s.runtime) {
    auto t = opt_at(s.core_func_types, *o.realloc);
    const std::vector<engine::ValType> i32x4(4, engine::ValType::I32);
    if (t && !(t->params == i32x4 && t->results == std::vector{engine::ValType::I32})) {
      return invalid("canonical option `realloc` uses a core function with an incorrect signature");
    }
  }
  if (o.post_return) {
    if (!lift) return invalid("canonical option `post-return` cannot be specified for lowerings");
    if (!s.runtime) {
      auto t = opt_at(s.core_func_types, *o.post_return);
      if (t && !(t->params == f.lift_sig.results && t->results.empty())) {
        return invalid(
            "canonical option `post-return` uses a core function with an incorrect signature");
      }
    }
  }
  return {};
}

// ---- async and thread built-ins -----------------------------------------------------------------

// Validates a `canon` built-in other than lift, lower and resource.* (CanonicalABI.md,
// "Canonical definitions") and adds its core function: its type when walking statically, the
// built-in itself at run time.
Result<void> canon_builtin(Scope& s, const ast::CanonDef& cd) {
  using K = ast::CanonDef::Kind;
  auto b = std::make_shared<Builtin>();
  b->kind = cd.kind;
  b->flag = cd.flag;
  b->index = cd.index;
  const std::string what = std::string("canon ") + ast::canon_name(cd.kind);
  const auto& o = cd.opts;
  if (o.memory) CHECK(at(s.core_memories, *o.memory, "core memory"));
  if (o.realloc) CHECK(at(s.core_funcs, *o.realloc, "core func"));
  if (o.post_return) CHECK(at(s.core_funcs, *o.post_return, "core func"));
  if (o.callback) CHECK(at(s.core_funcs, *o.callback, "core func"));
  TRY(cx, canon_context(s, o));
  b->cx = cx;
  auto no_opts = [&](bool memory_ok, bool realloc_ok, bool encoding_ok, bool async_ok) {
    if (!s.checks) return Result<void>{};
    if ((o.memory && !memory_ok) || (o.realloc && !realloc_ok) || o.post_return || o.callback ||
        (o.async && !async_ok) || (o.encoding != ast::CanonOpts::Encoding::Utf8 && !encoding_ok)) {
      return Result<void>(invalid(what + ": canonical option not allowed here"));
    }
    if (o.realloc && !o.memory)
      return Result<void>(
          invalid("canonical option `realloc` requires `memory` to also be specified"));
    if (o.realloc && !s.runtime) {
      auto t = opt_at(s.core_func_types, *o.realloc);
      const std::vector<engine::ValType> i32x4(4, engine::ValType::I32);
      if (t && !(t->params == i32x4 && t->results == std::vector{engine::ValType::I32})) {
        return Result<void>(
            invalid("canonical option `realloc` uses a core function with an incorrect signature"));
      }
    }
    return Result<void>{};
  };
  switch (cd.kind) {
    case K::TaskReturn: {
      CHECK(no_opts(true, false, true, false));
      for (auto& r : cd.results) {
        TRY(t, valtype(s, *r.type));
        if (s.checks && contains_borrow(*t))
          return invalid("function result cannot contain a `borrow` type");
        b->results.emplace_back(r.label, t);
      }
      b->results_tuple = [&] {
        auto t = std::make_shared<Type>();
        t->kind = TypeKind::Tuple;
        for (auto& [n, ty] : b->results) t->items.push_back(ty);
        return t;
      }();
      builtin_sig(*b);
      if (s.checks && !o.memory) {
        bool need = false;
        for (auto& [n, t] : b->results) need = need || needs_memory(*t);
        Func::Data probe;
        probe.type.params = b->results;
        prepare(probe);
        need = need || probe.flat_params.size() > 16;
        if (need) return invalid("canonical option `memory` is required");
      }
      break;
    }
    case K::ContextGet:
    case K::ContextSet:
      if (cd.core_type != engine::ValType::I32)
        return invalid(what + ": only i32 context slots are supported");
      if (cd.index >= 2) return invalid(what + ": context slot index must be less than 2");
      break;
    case K::StreamNew:
    case K::StreamRead:
    case K::StreamWrite:
    case K::StreamCancelRead:
    case K::StreamCancelWrite:
    case K::StreamDropReadable:
    case K::StreamDropWritable:
    case K::FutureNew:
    case K::FutureRead:
    case K::FutureWrite:
    case K::FutureCancelRead:
    case K::FutureCancelWrite:
    case K::FutureDropReadable:
    case K::FutureDropWritable: {
      const bool stream = cd.kind <= K::StreamDropWritable;
      AT(te, s.types, cd.type, "type");
      const TypeKind want = stream ? TypeKind::Stream : TypeKind::Future;
      if (te.kind != TypeEntry::Kind::Val || !te.val || te.val->kind != want) {
        return invalid(what + ": type index " + std::to_string(cd.type) + " is not a " +
                       (stream ? "stream" : "future") + " type");
      }
      b->type = te.val;
      const bool copy = cd.kind == K::StreamRead || cd.kind == K::StreamWrite ||
                        cd.kind == K::FutureRead || cd.kind == K::FutureWrite;
      if (copy) {
        const bool read = cd.kind == K::StreamRead || cd.kind == K::FutureRead;
        CHECK(no_opts(true, true, true, true));
        if (s.checks && b->type->elem) {
          if (!o.memory) return invalid("canonical option `memory` is required");
          if (read && needs_memory(*b->type->elem) && !o.realloc)
            return invalid("canonical option `realloc` is required");
        }
      }
      break;
    }
    case K::ErrorContextNew:
    case K::ErrorContextDebugMessage: {
      const bool debug = cd.kind == K::ErrorContextDebugMessage;
      CHECK(no_opts(true, debug, true, false));
      if (s.checks && !o.memory) return invalid("canonical option `memory` is required");
      if (s.checks && debug && !o.realloc) return invalid("canonical option `realloc` is required");
      break;
    }
    case K::WaitableSetWait:
    case K::WaitableSetPoll:
      break;  // memory index checked above
    case K::ThreadNewIndirect:
    case K::ThreadSpawnIndirect:
    case K::ThreadSpawnRef: {
      AT(ct, s.core_types, cd.type, "core type");
      if (s.checks && (ct.module || !(ct.func.params == std::vector{engine::ValType::I32} &&
                                      ct.func.results.empty()))) {
        return invalid(what + ": the function type must be (func (param i32))");
      }
      if (cd.kind != K::ThreadSpawnRef) {
        if (cd.index >= s.core_tables.size()) return out_of_bounds("core table", cd.index);
        if (!s.runtime) {
          auto t = opt_at(s.core_table_types, cd.index);
          if (t && t->table.element != engine::ValType::FuncRef)
            return invalid(what + ": the table must be a table of funcref");
        }
      }
      if (cd.kind != K::ThreadNewIndirect) {
        return make_error(ErrorKind::Unsupported,
                          what + " (shared-everything threads) is not supported");
      }
      break;
    }
    case K::ThreadAvailableParallelism:
      return make_error(ErrorKind::Unsupported,
                        what + " (shared-everything threads) is not supported");
    default:
      break;
  }
  builtin_sig(*b);
  if (s.runtime) {
    TRY(core, make_builtin(*s.store, b));
    s.core_funcs.push_back(core);
  } else {
    s.core_funcs.emplace_back();
    s.core_func_types.push_back(b->sig);
  }
  return {};
}

// ---- the walk ----------------------------------------------------------------------------------

Result<std::shared_ptr<InstanceValue>> instantiate_nested(Scope& s, const CompItem& comp,
                                                          std::map<std::string, CompItem> args);

Result<void> run_items(Scope& s, const ast::Component& c) {
  if (s.record) {
    s.record->types.assign(c.items.size(), std::nullopt);
    s.record->imports.assign(c.items.size(), std::nullopt);
    s.record->imports_ok = true;
  }
  for (size_t idx = 0; idx < c.items.size(); idx++) {
    const ast::Item& item = c.items[idx];
    switch (item.kind) {
      case ast::Item::Kind::CoreModule: {
        s.modules.push_back(&item);
        std::shared_ptr<const CoreModuleType> mt;
        if (s.comp) {
          if (auto m = s.comp->module_types.find(&item); m != s.comp->module_types.end())
            mt = m->second;
        }
        s.module_types.push_back(std::move(mt));
        break;
      }
      case ast::Item::Kind::CoreType: {
        TRY(t, resolve_core_type(s, *item.core_type));
        s.core_types.push_back(std::move(t));
        break;
      }
      case ast::Item::Kind::CoreInstance: {
        const auto& ci = item.core_instance;
        CoreExports exports;
        if (ci.instantiate) {
          TRY(mod_item, at(s.modules, ci.module, "core module"));
          std::vector<std::pair<std::string_view, const CoreExports*>> args;
          args.reserve(ci.args.size());
          for (auto& [name, idx] : ci.args) {
            if (idx >= s.core_instances.size())
              return invalid("unknown core instance " + std::to_string(idx));
            if (s.checks) {
              for (auto& prev : args) {
                if (prev.first == name)
                  return invalid("duplicate module instantiation argument named `" + name + "`");
              }
            }
            args.emplace_back(name, &s.core_instances[idx]);
          }
          const size_t seq = s.walk ? s.walk->core_inst_seq++ : SIZE_MAX;
          if (!s.runtime) {
            const auto& mt = s.module_types[ci.module];
            if (mt && s.checks) CHECK(check_core_args(*mt, args));
            if (mt) {
              exports.types =
                  std::shared_ptr<const std::vector<engine::ExportType>>(mt, &mt->exports);
            }
            if (PreMemo* r = s.walk ? s.walk->record : nullptr; r && mt) {
              std::vector<PreMemo::CoreLink> links;
              for (const auto& imp : mt->imports) {
                int64_t pos = -1;
                uint32_t from = 0;
                for (size_t k = ci.args.size(); k-- > 0;) {  // the last argument of that name
                  if (ci.args[k].first == imp.module) {
                    from = ci.args[k].second;
                    pos = s.core_instances[from].position(imp.name);
                    break;
                  }
                }
                if (pos < 0) {
                  links.clear();
                  break;
                }
                links.push_back({from, static_cast<uint32_t>(pos)});
              }
              if (r->core_links.size() <= seq) r->core_links.resize(seq + 1);
              if (links.size() == mt->imports.size()) r->core_links[seq] = std::move(links);
            }
          } else {
            if (!mod_item)
              return make_error(ErrorKind::Unsupported, "imported core modules are not supported");
            auto mit = s.comp->modules.find(mod_item);
            if (mit == s.comp->modules.end())
              return make_error(ErrorKind::Compile, "core module was not compiled");
            const engine::Module& m = mit->second;
            std::vector<engine::Extern> imports;
            imports.reserve(m.imports().size());
            const PreMemo* memo = s.walk ? s.walk->memo : nullptr;
            if (memo && seq < memo->core_links.size() && !memo->core_links[seq].empty() &&
                memo->core_links[seq].size() == m.imports().size()) {
              for (const auto& l : memo->core_links[seq]) {
                std::optional<engine::Extern> x;
                if (l.instance < s.core_instances.size())
                  x = s.core_instances[l.instance].at(l.position);
                if (!x) return link_error("core module import: the linked export is missing");
                imports.push_back(*x);
              }
            }
            const CoreExports* arg = nullptr;  // of the previous import (usually the same)
            std::string_view arg_name;
            for (const auto& imp : m.imports()) {
              if (imports.size() == m.imports().size()) break;  // linked from the memo
              if (!arg || arg_name != imp.module) {
                arg = nullptr;
                for (size_t k = args.size(); k-- > 0;) {  // the last argument of that name
                  if (args[k].first == imp.module) {
                    arg = args[k].second;
                    arg_name = args[k].first;
                    break;
                  }
                }
              }
              if (!arg) {
                return link_error("core module import `" + imp.module + "` `" + imp.name +
                                  "`: no instantiation argument named `" + imp.module + "`");
              }
              auto x = arg->find(imp.name);
              if (!x) {
                return link_error("core module import `" + imp.module + "` `" + imp.name +
                                  "` is not provided by the argument instance");
              }
              imports.push_back(*x);
            }
            auto inst = engine::Instance::create(*s.store, m, imports);
            if (!inst) return Unexpected(inst.error());
            exports.inst = *inst;
          }
        } else {
          exports.items.reserve(ci.exports.size());
          std::shared_ptr<std::vector<engine::ExportType>> types;
          if (!s.runtime) types = std::make_shared<std::vector<engine::ExportType>>();
          for (const auto& e : ci.exports) {
            if (types) {
              std::optional<engine::ExternType> t;
              switch (e.sort) {
                case Sort::CoreFunc:
                  if (auto f = opt_at(s.core_func_types, e.index)) {
                    t.emplace();
                    t->kind = engine::ExternKind::Func;
                    t->func = *f;
                  }
                  break;
                case Sort::CoreTable:
                  t = opt_at(s.core_table_types, e.index);
                  break;
                case Sort::CoreMemory:
                  t = opt_at(s.core_memory_types, e.index);
                  break;
                case Sort::CoreGlobal:
                  t = opt_at(s.core_global_types, e.index);
                  break;
                case Sort::CoreTag:
                  t = opt_at(s.core_tag_types, e.index);
                  break;
                default:
                  break;
              }
              if (t) {
                types->push_back({e.name, *t});
              } else {
                types.reset();
              }
            }
            engine::Extern x;
            switch (e.sort) {
              case Sort::CoreFunc: {
                TRY(f, at(s.core_funcs, e.index, "core func"));
                x = engine::Extern(f);
                break;
              }
              case Sort::CoreTable: {
                TRY(t, at(s.core_tables, e.index, "core table"));
                x = engine::Extern(t);
                break;
              }
              case Sort::CoreMemory: {
                TRY(m, at(s.core_memories, e.index, "core memory"));
                x = engine::Extern(m);
                break;
              }
              case Sort::CoreGlobal: {
                TRY(g, at(s.core_globals, e.index, "core global"));
                x = engine::Extern(g);
                break;
              }
              case Sort::CoreTag: {
                if (e.index >= s.core_tags.size())  // (the message of the reference tests)
                  return invalid("unknown tag " + std::to_string(e.index) +
                                 ": tag index out of bounds");
                x = engine::Extern(s.core_tags[e.index]);
                break;
              }
              default:
                return invalid("unsupported core export sort");
            }
            if (s.checks) {
              for (auto& [n, prev] : exports.items) {
                if (n == e.name) return invalid("duplicate core export `" + e.name + "`");
              }
            }
            exports.items.emplace_back(e.name, x);
          }
          exports.types = std::move(types);
          exports.inline_ = true;
        }
        s.core_instances.push_back(std::move(exports));
        break;
      }
      case ast::Item::Kind::Component: {
        if (s.checks && !s.runtime && !s.binder) {
          // Validated where it is defined, its imports standing for themselves (it may never
          // be instantiated; an instantiation walks it again with the arguments).
          Scope def;
          def.parent = &s;
          def.arena = s.arena;
          def.comp = s.comp;
          CHECK(run_items(def, *item.component));
        }
        CompItem it;
        it.sort = Sort::Component;
        it.component = item.component;
        it.component_scope = &s;
        s.components.push_back(std::move(it));
        break;
      }
      case ast::Item::Kind::Instance: {
        const auto& id = item.instance;
        if (id.instantiate) {
          TRY(comp, at(s.components, id.component, "component"));
          std::map<std::string, CompItem> args;
          for (auto& a : id.args) {
            TRY(x, get_item(s, a.sort, a.index));
            if (s.checks && args.count(a.name))
              return invalid("instantiation argument `" + a.name +
                             "` conflicts with previous argument");
            args[a.name] = x;
          }
          TRY(v, instantiate_nested(s, comp, std::move(args)));
          s.instances.push_back(v);
        } else {
          auto v = std::make_shared<InstanceValue>();
          Scope::ResourceNames resources;
          std::vector<NamedExtern> seen;
          for (auto& e : id.exports) {
            TRY(x, get_item(s, e.sort, e.index));
            if (v->find(e.name)) return invalid("duplicate instance export `" + e.name + "`");
            if (s.checks && !s.runtime) {
              if (x.sort == Sort::Type && x.type.kind == TypeEntry::Kind::Resource)
                x.type.res = alias_resource(x.type.res, e.name);
              ExternDesc d = desc_of(x);
              CHECK(check_name(resources, seen, e.name, d, "export"));
              if (d.kind == ExternDesc::Kind::Resource) resources[e.name] = d.resource.get();
              seen.push_back({e.name, std::move(d)});
            }
            v->exports.emplace_back(e.name, x);
          }
          s.instances.push_back(v);
        }
        break;
      }
      case ast::Item::Kind::Alias:
        CHECK(push_alias(s, item.alias));
        break;
      case ast::Item::Kind::Type: {
        if (s.memo && s.memo->types[idx]) {
          s.types.push_back(*s.memo->types[idx]);
          break;
        }
        if (s.parent && s.walk) {  // a nested instantiation's type
          size_t seq = s.walk->type_seq++;
          const PreMemo* m = s.walk->memo;
          if (m && seq < m->nested_types.size() && m->nested_types[seq]) {
            s.types.push_back(*m->nested_types[seq]);
            break;
          }
          TRY(e, resolve_type(s, *item.type));
          if (PreMemo* r = s.walk->record; r && stable(e)) {
            if (r->nested_types.size() <= seq) r->nested_types.resize(seq + 1);
            r->nested_types[seq] = e;
          }
          s.types.push_back(std::move(e));
          break;
        }
        TRY(e, resolve_type(s, *item.type));
        if (s.record && stable(e)) s.record->types[idx] = e;
        s.types.push_back(std::move(e));
        break;
      }
      case ast::Item::Kind::Canon: {
        const auto& cd = item.canon;
        switch (cd.kind) {
          case ast::CanonDef::Kind::Lift: {
            TRY(core, at(s.core_funcs, cd.func, "core func"));
            AT(te, s.types, cd.type, "type");
            if (te.kind != TypeEntry::Kind::Func)
              return invalid("canon lift type is not a function type");
            TRY(cx, canon_context(s, cd.opts));
            auto f = std::make_shared<Func::Data>();
            f->type = *te.func;
            f->kind = Func::Data::Kind::Lifted;
            f->core = core;
            f->cx = cx;
            prepare(*f);
            if (cd.opts.async)
              f->lift_sig = async_core_sig(*f, /*lower=*/false, cd.opts.callback.has_value());
            CHECK(check_canon_opts(s, cd.opts, *f, /*lift=*/true));
            if (!s.runtime && s.checks) {
              if (auto have = opt_at(s.core_func_types, cd.func); have && !(*have == f->lift_sig)) {
                return invalid("lowered function type `" + have->to_string() +
                               "` does not match the expected `" + f->lift_sig.to_string() +
                               "` for " + f->type.to_string());
              }
            }
            if (s.runtime && cx.callback) {
              auto cb = cx.callback.type();
              const std::vector<engine::ValType> i32x3(3, engine::ValType::I32);
              if (!(cb.params == i32x3 && cb.results == std::vector{engine::ValType::I32})) {
                return invalid(
                    "canonical option `callback` uses a core function with an incorrect "
                    "signature");
              }
            }
            if (s.runtime) {
              const auto& want = f->lift_sig;
              auto have = core.type();
              if (!(want == have)) {
                return invalid("lowered function type `" + have.to_string() +
                               "` does not match the expected `" + want.to_string() + "` for " +
                               f->type.to_string());
              }
              s.state->funcs.push_back(f);
            }
            s.funcs.push_back(f);
            break;
          }
          case ast::CanonDef::Kind::Lower: {
            TRY(callee, at(s.funcs, cd.func, "func"));
            TRY(cx, canon_context(s, cd.opts));
            if (callee) CHECK(check_canon_opts(s, cd.opts, *callee, /*lift=*/false));
            if (s.runtime) {
              TRY(core, make_lowered(*s.store, callee, cx));
              s.core_funcs.push_back(core);
            } else {
              s.core_funcs.emplace_back();
              std::optional<engine::FuncType> sig;
              if (callee) {
                sig = cd.opts.async ? async_core_sig(*callee, /*lower=*/true, false)
                                    : callee->lower_sig;
              }
              s.core_func_types.push_back(std::move(sig));
            }
            break;
          }
          case ast::CanonDef::Kind::ResourceNew:
          case ast::CanonDef::Kind::ResourceDrop:
          case ast::CanonDef::Kind::ResourceRep: {
            AT(te, s.types, cd.type, "type");
            if (te.kind != TypeEntry::Kind::Resource)
              return invalid("canon resource builtin on a non-resource type");
            if (s.checks && cd.kind != ast::CanonDef::Kind::ResourceDrop &&
                !s.local_resources.count(te.res->canonical())) {
              return invalid("canon resource.new and resource.rep need a local resource type, " +
                             std::string("not a local resource"));
            }
            if (s.runtime) {
              TRY(core, make_resource_builtin(*s.store, cd.kind, te.res, s.state.get()));
              s.core_funcs.push_back(core);
            } else {
              s.core_funcs.emplace_back();
              engine::FuncType sig;
              sig.params = {engine::ValType::I32};
              if (cd.kind != ast::CanonDef::Kind::ResourceDrop)
                sig.results = {engine::ValType::I32};
              s.core_func_types.push_back(sig);
            }
            break;
          }
          default:
            CHECK(canon_builtin(s, cd));
            break;
        }
        break;
      }
      case ast::Item::Kind::Start:
        return make_error(ErrorKind::Unsupported, "start definitions are not supported");
      case ast::Item::Kind::Import: {
        if (s.memo && s.memo->imports_ok) {
          CHECK(push_item(s, *s.memo->imports[idx]));
          break;
        }
        if (s.runtime && !s.checks && s.binder && s.binder->args) {
          auto a = s.binder->args->find(item.import.name);
          if (a == s.binder->args->end())
            return invalid("missing instantiation argument named `" + item.import.name + "`");
          static constexpr Sort kSortOfKind[] = {Sort::CoreModule, Sort::Func,      Sort::Value,
                                                 Sort::Type,       Sort::Component, Sort::Instance};
          const uint8_t k = item.import.type.kind;
          if (k >= std::size(kSortOfKind) || a->second.sort != kSortOfKind[k]) {
            return invalid("argument `" + item.import.name + "` is not a " +
                           (k < std::size(kSortOfKind) ? ast::sort_name(kSortOfKind[k]) : "value"));
          }
          CHECK(push_item(s, a->second));
          break;
        }
        std::vector<ResourceTypePtr> fresh;
        TRY(desc, extern_desc(s, item.import.type, item.import.name, &fresh));
        if (s.checks)
          CHECK(check_name(s.import_resources, s.imports, item.import.name, desc, "import"));
        // Visibility is a property of the definition: checked when validating it, not when
        // instantiating it (its types then refer to the arguments).
        const bool visibility = s.checks && !s.runtime && !s.binder;
        if (visibility) CHECK(check_named(s, true, desc));
        CompItem it;
        if (s.binder) {
          TRY(b, s.binder->bind(item.import.name, desc, fresh));
          it = b;
        } else {
          it = item_from_desc(item.import.name, desc);
          if (it.sort == Sort::Component) it.type.defined = fresh;
        }
        if (s.record) {
          if (stable(desc)) {
            s.record->imports[idx] = it;
          } else {
            s.record->imports_ok = false;
          }
        }
        if (!s.runtime) s.imports.push_back({item.import.name, std::move(desc)});
        if (s.checks && it.sort == Sort::Type && it.type.kind == TypeEntry::Kind::Resource) {
          s.import_resources[item.import.name] = it.type.res.get();
        }
        CHECK(push_item(s, it));
        break;
      }
      case ast::Item::Kind::Export: {
        const auto& ed = item.export_;
        TRY(x, get_item(s, ed.sort, ed.index));
        if (ed.type && s.checks && !s.runtime) {
          // Ascription: the item must be a subtype of the ascribed type, which it then has.
          std::vector<ResourceTypePtr> fresh;
          TRY(adesc, extern_desc(s, *ed.type, ed.name, &fresh));
          Subst m;
          std::set<const ResourceType*> free;
          for (auto& r : fresh) free.insert(r.get());
          auto ok = check_subtype(desc_of(x), adesc, m, free, "export `" + ed.name + "`");
          if (!ok) {
            return invalid("ascribed type of export is not compatible with item type: " +
                           ok.error().message);
          }
          ExternDesc as = subst_desc(adesc, m);
          if (adesc.kind == ExternDesc::Kind::Resource && free.count(adesc.resource.get())) {
            // `(sub resource)`: the export is a new abstract type (statically).
            x.type.res = adesc.resource;
          } else if (as.kind == ExternDesc::Kind::Type && x.sort == Sort::Type) {
            x.type.val = as.type;
          } else if (as.kind == ExternDesc::Kind::Func && x.func) {
            auto f = std::make_shared<Func::Data>(*x.func);
            f->type = as.func;
            prepare(*f);
            x.func = f;
          } else if (as.kind == ExternDesc::Kind::Instance && x.instance) {
            x.instance = value_from_desc(*as.instance, ed.name, true);
          }
        }
        if (s.checks)
          CHECK(check_name(s.export_resources, s.export_descs, ed.name, desc_of(x), "export"));
        if (x.sort == Sort::Type && x.type.kind == TypeEntry::Kind::Resource) {
          auto* r = const_cast<ResourceTypeImpl*>(impl_of(x.type.res));
          if (r && r->name.empty()) r->name = ed.name;
          if (s.checks && !s.runtime) x.type.res = alias_resource(x.type.res, ed.name);
          if (s.checks) s.export_resources[ed.name] = x.type.res.get();
        } else if (x.sort == Sort::Type && x.type.kind == TypeEntry::Kind::Val) {
          auto named = std::make_shared<Type>(*x.type.val);
          named->name = ed.name;
          x.type.val = named;
        } else if (x.sort == Sort::Func && x.func && x.func->name.empty()) {
          x.func->name = ed.name;
        } else if (x.sort == Sort::Instance) {
          for (auto& [n, sub] : x.instance->exports) {
            if (sub.sort == Sort::Func && sub.func && sub.func->name.empty())
              sub.func->name = ed.name + "#" + n;
            if (sub.sort == Sort::Type && sub.type.kind == TypeEntry::Kind::Resource) {
              auto* r = const_cast<ResourceTypeImpl*>(impl_of(sub.type.res));
              if (r && r->name.empty()) r->name = n;
            }
          }
        }
        if (!s.runtime) {
          ExternDesc d = desc_of(x);
          if (s.checks && !s.binder) {
            CHECK(check_named(s, false, d));
            bool ok = true;
            if (x.sort == Sort::Type && x.type.kind == TypeEntry::Kind::Func) {
              ok = named_func(*x.type.func, s.exported_named);
            } else if (x.sort == Sort::Type && x.type.kind == TypeEntry::Kind::Instance) {
              ok = named_instance_type(*x.type.inst, s.exported_named);
            }
            if (!ok) return invalid("type not valid to be used as export");
          }
          s.export_descs.push_back({ed.name, std::move(d)});
        }
        CHECK(push_item(s, x));
        s.exports->exports.emplace_back(ed.name, std::move(x));
        break;
      }
    }
  }
  return {};
}

// Binding for a nested component's imports: from the instantiation arguments, with the
// argument's resource types substituted for the import's abstract ones.
Result<std::shared_ptr<InstanceValue>> instantiate_nested(Scope& s, const CompItem& comp,
                                                          std::map<std::string, CompItem> args) {
  if (!comp.component && !s.runtime && comp.component_type) {
    // An imported component, statically: the arguments are checked against its imports and
    // the instance has the exports of its type, with fresh abstract resources.
    const ComponentTypeDesc& ct = *comp.component_type;
    Subst m;
    std::set<const ResourceType*> free;
    for (auto& r : comp.type.defined) free.insert(r.get());
    for (auto& imp : ct.imports) {
      auto a = args.find(imp.name);
      if (a == args.end())
        return invalid("missing instantiation argument named `" + imp.name + "`");
      if (s.checks) {
        CHECK(check_subtype(desc_of(a->second), imp.desc, m, free, "argument `" + imp.name + "`"));
      }
    }
    for (auto& r : comp.type.defined) {
      if (!m.count(r.get())) m[r.get()] = fresh_resource(r->name, true);
    }
    InstanceTypeDesc exports;
    exports.exports = Substituter{m, {}}.list(ct.exports);
    return value_from_desc(exports, "", true);
  }
  if (!comp.component)
    return make_error(ErrorKind::Unsupported,
                      "instantiating an imported component is not supported");
  auto* defining = static_cast<Scope*>(comp.component_scope);
  auto owned = std::make_unique<Scope>();
  Scope& child = *owned;
  if (s.arena) s.arena->push_back(std::move(owned));
  child.parent = defining;
  child.arena = s.arena;
  child.runtime = s.runtime;
  child.checks = s.checks;
  child.store = s.store;
  child.comp = s.comp;
  child.walk = s.walk;
  if (s.runtime) {
    child.state = std::make_shared<InstanceState>();
    child.state->store = s.store;
    s.state->children.push_back(child.state);
  }
  Binder binder;
  binder.args = &args;
  const bool checks = s.checks;
  binder.bind = [&args, checks](const std::string& name, const ExternDesc& desc,
                                const std::vector<ResourceTypePtr>& fresh) -> Result<CompItem> {
    auto a = args.find(name);
    if (a == args.end()) return invalid("missing instantiation argument named `" + name + "`");
    const CompItem& arg = a->second;
    if (arg.sort != sort_of(desc.kind)) {
      return invalid("argument `" + name + "`: expected " + ast::sort_name(sort_of(desc.kind)) +
                     ", found " + ast::sort_name(arg.sort));
    }
    if (checks && arg.sort != Sort::Component && (arg.sort != Sort::Func || arg.func)) {
      Subst m;
      std::set<const ResourceType*> free;
      for (auto& r : fresh) free.insert(r.get());
      CHECK(check_subtype(desc_of(arg), desc, m, free, "argument `" + name + "`"));
    } else if (desc.kind == ExternDesc::Kind::Instance) {
      for (auto& e : desc.instance->exports) {
        if (!arg.instance->find(e.name)) {
          return invalid("argument `" + name + "` is missing export `" + e.name + "`");
        }
      }
    }
    return arg;
  };
  child.binder = &binder;
  auto r = run_items(child, *comp.component);
  child.binder = nullptr;
  if (!r) return Unexpected(r.error());
  return child.exports;
}

}  // namespace

Result<void> resolve_static(ComponentImpl& c) {
  ScopeArena arena;
  Scope s;
  s.arena = &arena;
  s.comp = &c;
  CHECK(run_items(s, *c.ast));
  c.imports = std::move(s.imports);
  c.exports = std::move(s.export_descs);
  return {};
}

struct InstancePre::Impl {
  std::shared_ptr<ComponentImpl> component;
  const Linker::Impl* linker = nullptr;
  PreMemo memo;
  // Host resource types made up for unknown imports (define_unknown_imports_as_traps): one
  // per InstancePre, shared by its instances (as if defined in the linker).
  std::vector<ResourceTypePtr> resources;
};

namespace {

// Binds the root component's imports to the linker's definitions. `m` maps the abstract
// resource types of the imports to the host's resource types; it is shared by all imports:
// an interface that re-exports a resource of an earlier import (`use`,
// `(export "r" (type (eq N)))`) refers to the same abstract type. Resources made up for
// unknown imports are kept alive by `st`.
Binder linker_binder(const Linker::Impl& li, InstanceState* st, Subst& m) {
  Binder binder;
  binder.bind = [&li, st, &m](const std::string& name, const ExternDesc& desc,
                              const std::vector<ResourceTypePtr>&) -> Result<CompItem> {
    CompItem it;
    switch (desc.kind) {
      case ExternDesc::Kind::Instance: {
        const Linker::Impl::Iface* iface = li.find(name);
        if (!iface && !li.unknown_as_traps)
          return link_error("import `" + name + "` has not been defined in the linker");
        auto v = std::make_shared<InstanceValue>();
        for (auto& e : desc.instance->exports) {
          CompItem sub;
          switch (e.desc.kind) {
            case ExternDesc::Kind::Resource: {
              ResourceTypePtr rt;
              if (auto* ri = impl_of(e.desc.resource); ri && !ri->placeholder) {
                rt = e.desc.resource;  // a concrete type reached through an alias
              } else if (auto known = m.find(e.desc.resource.get()); known != m.end()) {
                rt = known->second;  // an alias of a resource bound by an earlier import
              } else if (iface) {
                auto r = iface->resources.find(e.name);
                if (r != iface->resources.end()) rt = r->second;
              }
              if (!rt) {
                if (!li.unknown_as_traps)
                  return link_error("import `" + name + "`: resource `" + e.name +
                                    "` has not been defined");
                auto fresh = std::make_shared<ResourceTypeImpl>(e.name);
                fresh->host = true;
                rt = fresh;
                st->resources.push_back(rt);
              }
              m[e.desc.resource.get()] = rt;
              sub.sort = Sort::Type;
              sub.type.kind = TypeEntry::Kind::Resource;
              sub.type.res = rt;
              break;
            }
            case ExternDesc::Kind::Type:
              sub.sort = Sort::Type;
              sub.type.kind = TypeEntry::Kind::Val;
              sub.type.val = subst(e.desc.type, m);
              break;
            case ExternDesc::Kind::Func: {
              auto f = std::make_shared<Func::Data>();
              f->name = name + "#" + e.name;
              f->type = subst(e.desc.func, m);
              const HostFunc* hf = nullptr;
              if (iface) {
                auto h = iface->funcs.find(e.name);
                if (h == iface->funcs.end()) h = iface->funcs.find("*");  // catch-all
                if (h != iface->funcs.end()) hf = &h->second;
              }
              if (hf) {
                f->kind = Func::Data::Kind::Host;
                f->host = *hf;
              } else if (li.unknown_as_traps) {
                f->kind = Func::Data::Kind::Trap;
              } else {
                return link_error("import `" + name + "`: function `" + e.name +
                                  "` has not been defined");
              }
              prepare(*f);
              sub.sort = Sort::Func;
              sub.func = f;
              break;
            }
            default:
              return make_error(ErrorKind::Unsupported, "import `" + name + "`: nested item `" +
                                                            e.name +
                                                            "` of this kind is not supported");
          }
          v->exports.emplace_back(e.name, sub);
        }
        it.sort = Sort::Instance;
        it.instance = v;
        return it;
      }
      case ExternDesc::Kind::Func: {
        const Linker::Impl::Iface* root = li.find("");
        auto f = std::make_shared<Func::Data>();
        f->name = name;
        f->type = subst(desc.func, m);
        const HostFunc* hf = nullptr;
        if (root) {
          auto h = root->funcs.find(name);
          if (h != root->funcs.end()) hf = &h->second;
        }
        if (hf) {
          f->kind = Func::Data::Kind::Host;
          f->host = *hf;
        } else if (!li.unknown_as_traps) {
          return link_error("import `" + name + "` has not been defined in the linker");
        }
        prepare(*f);
        it.sort = Sort::Func;
        it.func = f;
        return it;
      }
      case ExternDesc::Kind::Resource: {
        const Linker::Impl::Iface* root = li.find("");
        ResourceTypePtr rt;
        if (auto* ri = impl_of(desc.resource); ri && !ri->placeholder) {
          rt = desc.resource;
        } else if (auto known = m.find(desc.resource.get()); known != m.end()) {
          rt = known->second;
        } else if (root) {
          auto r = root->resources.find(name);
          if (r != root->resources.end()) rt = r->second;
        }
        if (!rt) {
          if (!li.unknown_as_traps)
            return link_error("import `" + name + "` (resource) has not been defined");
          auto fresh = std::make_shared<ResourceTypeImpl>(name);
          fresh->host = true;
          rt = fresh;
          st->resources.push_back(rt);
        }
        m[desc.resource.get()] = rt;
        it.sort = Sort::Type;
        it.type.kind = TypeEntry::Kind::Resource;
        it.type.res = rt;
        return it;
      }
      case ExternDesc::Kind::Type:
        it.sort = Sort::Type;
        it.type.kind = TypeEntry::Kind::Val;
        it.type.val = subst(desc.type, m);
        return it;
      default:
        return make_error(ErrorKind::Unsupported,
                          "import `" + name + "`: imports of this kind are not supported");
    }
  };
  return binder;
}

// The runtime walk: instantiates `impl` in `store`, using what `memo` (may be null) resolved
// beforehand.
Result<Instance> run_instantiate(engine::Store& store, const Linker::Impl& li,
                                 const std::shared_ptr<ComponentImpl>& impl, const PreMemo* memo) {
  ScopeArena arena;
  Scope s;
  s.arena = &arena;
  s.runtime = true;
  s.checks = false;
  s.store = &store;
  s.comp = impl.get();
  s.state = std::make_shared<InstanceState>();
  s.state->store = &store;
  s.state->component = impl;
  if (memo && memo->types.size() == impl->ast->items.size()) {
    s.memo = memo;
    s.types.reserve(memo->n_types);
    s.funcs.reserve(memo->n_funcs);
    s.instances.reserve(memo->n_instances);
    s.core_instances.reserve(memo->n_core_instances);
    s.core_funcs.reserve(memo->n_core_funcs);
  }
  Scope::Walk walk;
  walk.memo = memo;
  s.walk = &walk;
  Subst m;
  Binder binder = linker_binder(li, s.state.get(), m);
  s.binder = &binder;
  CHECK(run_items(s, *impl->ast));
  s.state->exports = s.exports;
  return Instance(s.state);
}

}  // namespace

Result<Instance> instantiate(engine::Store& store, const Linker& linker,
                             const Component& component) {
  return run_instantiate(store, linker.impl(), component.impl(), nullptr);
}

Result<InstancePre> Linker::instantiate_pre(const Component& component) const {
  auto pre = std::make_shared<InstancePre::Impl>();
  pre->component = component.impl();
  pre->linker = impl_.get();
  // The static walk (no store), with imports bound through this linker: records the types and
  // import bindings every instantiation would compute alike. Names were validated when the
  // component was compiled.
  ScopeArena arena;
  Scope s;
  s.arena = &arena;
  s.checks = false;
  s.comp = pre->component.get();
  s.record = &pre->memo;
  Scope::Walk walk;
  walk.record = &pre->memo;
  s.walk = &walk;
  InstanceState keep;
  Subst m;
  Binder binder = linker_binder(*impl_, &keep, m);
  s.binder = &binder;
  CHECK(run_items(s, *pre->component->ast));
  pre->resources = std::move(keep.resources);
  pre->memo.n_types = s.types.size();
  pre->memo.n_funcs = s.funcs.size();
  pre->memo.n_instances = s.instances.size();
  pre->memo.n_core_instances = s.core_instances.size();
  pre->memo.n_core_funcs = s.core_funcs.size();
  return InstancePre(std::move(pre));
}

namespace {
void reset_state(InstanceState& st) {
  st.handles.clear();
  st.free_handles.clear();
  st.may_leave = true;
  st.may_enter = true;
  st.task = nullptr;
  st.threads = 0;
  st.backpressure = 0;
  for (const auto& c : st.children) reset_state(*c);
}
}  // namespace

Result<void> Instance::reset(engine::Store& store) const {
  if (!state_) return make_error(ErrorKind::Usage, "reset of an empty component instance");
  if (state_->store != &store)
    return make_error(ErrorKind::Usage, "reset with a store the instance does not live in");
  if (state_->task)
    return make_error(ErrorKind::Usage, "reset of a component instance while it is called");
  // Handles first: start functions that run again during the core reset may make new ones.
  reset_state(*state_);
  return store.reset_instances();
}

InstancePre::InstancePre(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Result<Instance> InstancePre::instantiate(engine::Store& store) const {
  if (!impl_) return make_error(ErrorKind::Usage, "instantiate of an empty InstancePre");
  return run_instantiate(store, *impl_->linker, impl_->component, &impl_->memo);
}

}  // namespace flotilla::component
