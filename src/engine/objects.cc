// Store, instances and the extern objects (Func, Memory, Table, Global).
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "internal.h"

namespace flotilla::engine {

const char kHostRefTag = 0;

namespace {

Error usage(std::string msg) { return Error{ErrorKind::Usage, std::move(msg), {}, {}, {}}; }

Result<void> check_args(const FuncType& t, std::span<const Val> params, size_t nresults) {
  if (params.size() != t.params.size()) {
    return Unexpected(usage("expected " + std::to_string(t.params.size()) + " argument(s), got " +
                            std::to_string(params.size())));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].type() != t.params[i]) {
      return Unexpected(usage("argument " + std::to_string(i) + ": expected " +
                              val_type_name(t.params[i]) + ", got " +
                              val_type_name(params[i].type())));
    }
    auto ok = check_val_for_wasm(params[i]);
    if (!ok) return ok;
  }
  if (nresults != t.results.size()) {
    return Unexpected(usage("result span has the wrong size"));
  }
  return {};
}

template <typename T>
T* by_ptr(std::unordered_map<void*, T*>& map, void* p) {
  auto it = map.find(p);
  return it == map.end() ? nullptr : it->second;
}

}  // namespace

Result<void> check_val_for_wasm(const Val& v) {
  if (v.type() == ValType::FuncRef && v.funcref().env == &kHostRefTag) {
    return Unexpected(
        usage("host functions cannot be passed to WebAssembly as funcref values yet"));
  }
  return {};
}

// ------------------------------------------------------------------------------------------
// Store

StoreImpl::StoreImpl(Engine& e, StoreLimits l) : engine(&e), engine_impl(e.impl()), limits(l) {
  guard_pages = e.config().guard_pages;
  ctx.max_depth = limits.max_call_depth;
  ctx.interrupt = 0;
}

StoreImpl::~StoreImpl() {
  if (deadline_generation) watchdog_clear(this);
}

Store::Store(Engine& engine, StoreLimits limits)
    : impl_(std::make_unique<StoreImpl>(engine, limits)) {
  impl_->handle = this;
}
Store::~Store() = default;
Store::Store(Store&& o) noexcept : impl_(std::move(o.impl_)) {
  if (impl_) impl_->handle = this;
}
Store& Store::operator=(Store&& o) noexcept {
  impl_ = std::move(o.impl_);
  if (impl_) impl_->handle = this;
  return *this;
}
const StoreLimits& Store::limits() const { return impl_->limits; }
void Store::set_host_data(std::shared_ptr<void> data) { impl_->host_data = std::move(data); }
void* Store::host_data() const { return impl_->host_data.get(); }
void Store::set_deadline(std::chrono::steady_clock::time_point deadline) {
  impl_->deadline_generation++;
  impl_->deadline_ns.store(std::max<int64_t>(1, deadline.time_since_epoch().count()));
  watchdog_set(impl_.get(), deadline);
}
void Store::clear_deadline() {
  impl_->deadline_ns.store(0);
  watchdog_clear(impl_.get());
}
void Store::interrupt() {
  impl_->deadline_generation++;
  auto now = std::chrono::steady_clock::now();
  impl_->deadline_ns.store(std::max<int64_t>(1, now.time_since_epoch().count()));
  watchdog_set(impl_.get(), now);
}
std::optional<std::chrono::steady_clock::time_point> Store::deadline() const {
  int64_t ns = impl_->deadline_ns.load();
  if (ns == 0) return std::nullopt;
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

// ------------------------------------------------------------------------------------------
// Func

Func Func::host(Store& store, FuncType type, HostFn fn) {
  StoreImpl* s = store.impl();
  FuncData& f = s->funcs.emplace_back();
  f.type_id = intern_func_type(type);
  f.type = std::move(type);
  f.is_host = true;
  f.host = std::move(fn);
  f.ref = FuncRef{f.type_id, &f, const_cast<char*>(&kHostRefTag)};
  return Func(&f);
}

FuncType Func::type() const { return data_->type; }
FuncRef Func::as_ref() const { return data_->ref; }

std::optional<Func> Func::from_ref(Store& store, const FuncRef& ref) {
  if (ref.is_null()) return std::nullopt;
  if (ref.env == &kHostRefTag) return Func(static_cast<FuncData*>(ref.fn));
  StoreImpl* s = store.impl();
  auto key = std::make_pair(ref.fn, ref.env);
  if (auto known = s->func_by_ref.find(key); known != s->func_by_ref.end()) {
    if (known->second->type_id == ref.type_id) return Func(known->second);
  }
  auto it = s->sig_by_type.find(ref.type_id);
  if (it == s->sig_by_type.end()) {
    // Any instantiated module with a signature of that type can call it.
    for (const InstanceData& d : s->instances) {
      const auto& ids = d.code->sig_type_ids;
      for (size_t i = 0; i < ids.size() && it == s->sig_by_type.end(); ++i) {
        if (ids[i] == ref.type_id) {
          it = s->sig_by_type
                   .try_emplace(ids[i],
                                StoreImpl::Sig{d.code->desc->sig_calls[i], d.module->meta.sigs[i]})
                   .first;
        }
      }
      if (it != s->sig_by_type.end()) break;
    }
    if (it == s->sig_by_type.end()) return std::nullopt;
  }
  FuncData& f = s->funcs.emplace_back();
  s->func_by_ref[key] = &f;
  f.type = it->second.type;
  f.type_id = ref.type_id;
  f.ref = ref;
  f.sig_call = it->second.call;
  f.name = "funcref";
  return Func(&f);
}

Result<std::vector<Val>> Func::call(Store& store, std::span<const Val> params) const {
  if (!data_) return Unexpected(usage("call of an empty Func"));
  std::vector<Val> results(data_->type.results.size());
  auto r = call(store, params, results);
  if (!r) return Unexpected(r.error());
  return results;
}

Result<void> Func::call(Store& store, std::span<const Val> params, std::span<Val> results) const {
  FuncData* f = data_;
  if (!f) return Unexpected(usage("call of an empty Func"));
  auto ok = check_args(f->type, params, results.size());
  if (!ok) return ok;
  if (f->is_host) {
    Caller caller(store, nullptr);
    for (size_t i = 0; i < results.size(); ++i) results[i] = Val::default_for(f->type.results[i]);
    try {
      return f->host(caller, params, results);
    } catch (const std::exception& e) {
      return make_error(ErrorKind::Trap, std::string("host function threw: ") + e.what());
    }
  }
  size_t n = std::max<size_t>({params.size(), results.size(), 1});
  flot_val_t small[16];
  std::vector<flot_val_t> big;
  flot_val_t* io = small;
  if (n > 16) {
    big.resize(n);
    io = big.data();
  }
  for (size_t i = 0; i < params.size(); ++i) val_to_raw(params[i], io[i]);
  struct Thunk {
    FuncData* f;
    flot_val_t* io;
  } thunk{f, io};
  CallFrame frame;
  int trap = guarded_call(
      store.impl(), frame,
      [](void* a) {
        auto* t = static_cast<Thunk*>(a);
        t->f->sig_call(reinterpret_cast<wasm_rt_function_ptr_t>(t->f->ref.fn), t->f->ref.env,
                       t->io);
      },
      &thunk);
  if (trap) return Unexpected(trap_error(frame, f->name));
  for (size_t i = 0; i < results.size(); ++i) results[i] = raw_to_val(f->type.results[i], io[i]);
  return {};
}

// ------------------------------------------------------------------------------------------
// Memory

MemoryData::~MemoryData() {
  if (owned) memory_free(owned.get());
}

Result<Memory> Memory::create(Store& store, MemoryType type) {
  StoreImpl* s = store.impl();
  auto owned = std::make_unique<wasm_rt_memory_t>();
  auto r = memory_allocate(owned.get(), type.limits.min, type.limits.max.value_or(65536),
                           s->limits.max_memory_pages, s->guard_pages);
  if (!r) return Unexpected(r.error());
  MemoryData& m = s->memories.emplace_back();
  m.store = s;
  m.declared = type;
  m.mem = owned.get();
  m.owned = std::move(owned);
  s->memory_by_ptr[m.mem] = &m;
  return Memory(&m);
}

MemoryType Memory::type() const {
  MemoryType t = data_->declared;
  t.limits.min = data_->mem->pages;
  return t;
}
uint8_t* Memory::data() const { return data_->mem->data; }
uint64_t Memory::size() const { return data_->mem->size; }
uint64_t Memory::pages() const { return data_->mem->pages; }
Result<uint64_t> Memory::grow(uint64_t delta) const {
  if (delta > 65536) return make_error(ErrorKind::Limit, "memory.grow: too many pages");
  uint32_t r =
      memory_grow(data_->mem, static_cast<uint32_t>(delta), data_->store->limits.max_memory_pages);
  if (r == UINT32_MAX)
    return make_error(ErrorKind::Limit, "memory.grow failed: over the maximum or the store limit");
  return static_cast<uint64_t>(r);
}
Result<void> Memory::read(uint64_t offset, std::span<uint8_t> out) const {
  if (offset > size() || out.size() > size() - offset)
    return make_error(ErrorKind::Usage, "memory read out of bounds");
  memcpy(out.data(), data() + offset, out.size());
  return {};
}
Result<void> Memory::write(uint64_t offset, std::span<const uint8_t> in) const {
  if (offset > size() || in.size() > size() - offset)
    return make_error(ErrorKind::Usage, "memory write out of bounds");
  memcpy(data() + offset, in.data(), in.size());
  return {};
}

// ------------------------------------------------------------------------------------------
// Table

TableData::~TableData() {
  if (owned_func) free(owned_func->data);
  if (owned_extern) free(owned_extern->data);
}

Result<Table> Table::create(Store& store, TableType type, Val init) {
  StoreImpl* s = store.impl();
  if (init.type() != type.element)
    return make_error(ErrorKind::Usage, "table init value has the wrong type");
  auto ok = check_val_for_wasm(init);
  if (!ok) return Unexpected(ok.error());
  if (type.limits.min > s->limits.max_table_elements)
    return make_error(ErrorKind::Limit, "table over the store limit");
  TableData& t = s->tables.emplace_back();
  t.store = s;
  t.declared = type;
  uint32_t max =
      static_cast<uint32_t>(std::min<uint64_t>(type.limits.max.value_or(UINT32_MAX), UINT32_MAX));
  size_t n = type.limits.min;
  flot_val_t raw{};
  val_to_raw(init, raw);
  if (type.element == ValType::FuncRef) {
    t.owned_func = std::make_unique<wasm_rt_funcref_table_t>();
    t.owned_func->data =
        static_cast<wasm_rt_funcref_t*>(calloc(std::max<size_t>(n, 1), sizeof(wasm_rt_funcref_t)));
    for (size_t i = 0; i < n; ++i) t.owned_func->data[i] = raw.funcref;
    t.owned_func->size = static_cast<uint32_t>(n);
    t.owned_func->max_size = max;
    t.table = t.owned_func.get();
  } else {
    t.owned_extern = std::make_unique<wasm_rt_externref_table_t>();
    t.owned_extern->data =
        static_cast<wasm_rt_externref_t*>(calloc(std::max<size_t>(n, 1), sizeof(void*)));
    for (size_t i = 0; i < n; ++i) t.owned_extern->data[i] = raw.externref;
    t.owned_extern->size = static_cast<uint32_t>(n);
    t.owned_extern->max_size = max;
    t.table = t.owned_extern.get();
  }
  s->table_by_ptr[t.table] = &t;
  return Table(&t);
}

TableType Table::type() const {
  TableType t = data_->declared;
  t.limits.min = size();
  return t;
}
uint64_t Table::size() const {
  return data_->declared.element == ValType::FuncRef
             ? static_cast<wasm_rt_funcref_table_t*>(data_->table)->size
             : static_cast<wasm_rt_externref_table_t*>(data_->table)->size;
}
Result<Val> Table::get(uint64_t index) const {
  if (index >= size()) return make_error(ErrorKind::Usage, "table index out of bounds");
  flot_val_t raw{};
  if (data_->declared.element == ValType::FuncRef) {
    raw.funcref = static_cast<wasm_rt_funcref_table_t*>(data_->table)->data[index];
  } else {
    raw.externref = static_cast<wasm_rt_externref_table_t*>(data_->table)->data[index];
  }
  return raw_to_val(data_->declared.element, raw);
}
Result<void> Table::set(uint64_t index, const Val& v) const {
  if (index >= size()) return make_error(ErrorKind::Usage, "table index out of bounds");
  if (v.type() != data_->declared.element)
    return make_error(ErrorKind::Usage, "table value has the wrong type");
  auto ok = check_val_for_wasm(v);
  if (!ok) return ok;
  flot_val_t raw{};
  val_to_raw(v, raw);
  if (data_->declared.element == ValType::FuncRef) {
    static_cast<wasm_rt_funcref_table_t*>(data_->table)->data[index] = raw.funcref;
  } else {
    static_cast<wasm_rt_externref_table_t*>(data_->table)->data[index] = raw.externref;
  }
  return {};
}
Result<uint64_t> Table::grow(uint64_t delta, const Val& init) const {
  if (init.type() != data_->declared.element)
    return make_error(ErrorKind::Usage, "table value has the wrong type");
  auto ok = check_val_for_wasm(init);
  if (!ok) return Unexpected(ok.error());
  flot_val_t raw{};
  val_to_raw(init, raw);
  if (delta > UINT32_MAX) return make_error(ErrorKind::Limit, "table.grow: too many elements");
  auto d = static_cast<uint32_t>(delta);
  uint32_t old;
  auto* ft = static_cast<wasm_rt_funcref_table_t*>(data_->table);
  auto* et = static_cast<wasm_rt_externref_table_t*>(data_->table);
  uint64_t n = size() + delta;
  uint64_t max = data_->declared.element == ValType::FuncRef ? ft->max_size : et->max_size;
  if (n > max || n > data_->store->limits.max_table_elements)
    return make_error(ErrorKind::Limit, "table.grow failed");
  if (data_->declared.element == ValType::FuncRef) {
    old = runtime_api()->grow_funcref_table(ft, d, raw.funcref);
  } else {
    old = runtime_api()->grow_externref_table(et, d, raw.externref);
  }
  if (old == UINT32_MAX) return make_error(ErrorKind::Limit, "table.grow failed");
  return static_cast<uint64_t>(old);
}

// ------------------------------------------------------------------------------------------
// Global

Result<Global> Global::create(Store& store, GlobalType type, Val init) {
  if (init.type() != type.content)
    return make_error(ErrorKind::Usage, "global init value has the wrong type");
  auto ok = check_val_for_wasm(init);
  if (!ok) return Unexpected(ok.error());
  StoreImpl* s = store.impl();
  GlobalData& g = s->globals.emplace_back();
  g.type = type;
  g.ptr = &g.owned;
  store_global(g, init);
  s->global_by_ptr[g.ptr] = &g;
  return Global(&g);
}
GlobalType Global::type() const { return data_->type; }
Val Global::get() const { return load_global(*data_); }
Result<void> Global::set(const Val& v) const {
  if (!data_->type.mutable_) return make_error(ErrorKind::Usage, "global is immutable");
  if (v.type() != data_->type.content)
    return make_error(ErrorKind::Usage, "global value has the wrong type");
  auto ok = check_val_for_wasm(v);
  if (!ok) return ok;
  store_global(*data_, v);
  return {};
}

Result<Tag> Tag::create(Store& store, FuncType type) {
  if (!type.results.empty()) return make_error(ErrorKind::Usage, "a tag type has no results");
  TagData& t = store.impl()->tags.emplace_back();
  t.type = std::move(type);
  return Tag(&t);
}
FuncType Tag::type() const { return data_->type; }

ExternType Extern::type() const {
  ExternType t;
  t.kind = kind;
  switch (kind) {
    case ExternKind::Func:
      t.func = func.type();
      break;
    case ExternKind::Table:
      t.table = table.type();
      break;
    case ExternKind::Memory:
      t.memory = memory.type();
      break;
    case ExternKind::Global:
      t.global = global.type();
      break;
    case ExternKind::Tag:
      t.tag = tag.type();
      break;
  }
  return t;
}

// ------------------------------------------------------------------------------------------
// Instance

InstanceData::~InstanceData() {
  if (created && code) code->desc->free_instance(inst);
  free(block);
}

Result<void> run_instantiation(StoreImpl* s, InstanceData& d);

Result<Instance> Instance::create(Store& store, const Module& module,
                                  std::span<const Extern> imports) {
  StoreImpl* s = store.impl();
  const ModuleMeta& meta = module.impl()->meta;
  store.impl()->max_frame_bytes = std::max(store.impl()->max_frame_bytes, meta.max_frame_bytes);
  if (imports.size() != meta.imports.size()) {
    return make_error(ErrorKind::Link, "module expects " + std::to_string(meta.imports.size()) +
                                           " import(s), got " + std::to_string(imports.size()));
  }
  for (size_t i = 0; i < imports.size(); ++i) {
    const auto& imp = meta.imports[i];
    bool empty = (imports[i].kind == ExternKind::Func && !imports[i].func) ||
                 (imports[i].kind == ExternKind::Memory && !imports[i].memory) ||
                 (imports[i].kind == ExternKind::Table && !imports[i].table) ||
                 (imports[i].kind == ExternKind::Global && !imports[i].global) ||
                 (imports[i].kind == ExternKind::Tag && !imports[i].tag);
    if (empty)
      return make_error(ErrorKind::Link,
                        "import " + imp.module + "::" + imp.name + ": empty extern");
    if (imp.type.kind == ExternKind::Func && imports[i].kind == ExternKind::Func &&
        imports[i].func.data()->type == imp.type.func) {
      continue;  // the common case, without copying the function's type
    }
    auto ok = check_import_type(imp.type, imports[i].type());
    if (!ok) {
      return make_error(ErrorKind::Link, "incompatible import type for " + imp.module +
                                             "::" + imp.name + ": " + ok.error().message);
    }
  }
  if (s->live_instances >= s->limits.max_instances)
    return make_error(ErrorKind::Limit, "too many instances in this store");

  std::shared_ptr<Code> code = module.impl()->current();
  const flot_module_t* desc = code->desc;
  if (code->guard_pages) {
    for (size_t i = 0; i < imports.size(); ++i) {
      if (imports[i].kind == ExternKind::Memory &&
          imports[i].memory.raw()->mem->reserved < kGuardReserve) {
        return make_error(ErrorKind::Link,
                          "import " + meta.imports[i].module + "::" + meta.imports[i].name +
                              ": module compiled for guard pages needs a guard-page memory "
                              "(create it in a store of an engine with guard_pages)");
      }
    }
  }
  InstanceData& d = s->instances.emplace_back();
  d.store = s;
  d.module = module.impl();
  d.code = code;
  // Slot 0 holds the table's own address (see FLOT_SLOT in wasm-rt.h); imports follow.
  d.bindings.resize(imports.size() + 1);
  d.bindings[0] = flot_binding_t{d.bindings.data(), nullptr};
  d.host_envs.resize(imports.size());
  for (size_t i = 0; i < imports.size(); ++i) {
    const Extern& x = imports[i];
    switch (x.kind) {
      case ExternKind::Func: {
        FuncData* f = x.func.data();
        if (f->is_host) {
          d.host_envs[i] = HostCallEnv{f, &d};
          d.bindings[i + 1] = flot_binding_t{desc->host_adapters[i], &d.host_envs[i]};
        } else {
          d.bindings[i + 1] = flot_binding_t{f->ref.fn, f->ref.env};
        }
        break;
      }
      case ExternKind::Memory:
        d.bindings[i + 1] = flot_binding_t{nullptr, x.memory.raw()->mem};
        break;
      case ExternKind::Table:
        d.bindings[i + 1] = flot_binding_t{nullptr, x.table.raw()->table};
        break;
      case ExternKind::Global:
        d.bindings[i + 1] = flot_binding_t{nullptr, x.global.raw()->ptr};
        break;
      case ExternKind::Tag:  // in the tag array below, not a binding
        d.tags.push_back(x.tag.raw());
        break;
    }
  }
  // The instance's tags: the imported ones, then one new tag per tag the module defines.
  for (const FuncType& t : meta.tags) {
    TagData& tag = s->tags.emplace_back();
    tag.type = t;
    d.tags.push_back(&tag);
  }
  size_t bytes = (16 + desc->instance_size + 15) & ~size_t(15);
  d.block = aligned_alloc(16, bytes);
  if (!d.block) return make_error(ErrorKind::Limit, "out of memory allocating an instance");
  if (s->codes.empty() || s->codes.back() != code) s->codes.push_back(code);
  if (auto r = run_instantiation(s, d); !r) return Unexpected(r.error());
  d.exports.resize(meta.exports.size());
  d.export_ready.assign(meta.exports.size(), false);
  return Instance(&d);
}

// Runs the module's generated instantiation (globals, memories, tables, segments, start) into
// `d`'s zeroed block, with its bindings.
Result<void> run_instantiation(StoreImpl* s, InstanceData& d) {
  const flot_module_t* desc = d.code->desc;
  size_t bytes = (16 + desc->instance_size + 15) & ~size_t(15);
  memset(d.block, 0, bytes);
  *reinterpret_cast<const void* const**>(d.block) = d.tags.data();  // FLOT_TAGS
  *reinterpret_cast<flot_ctx_t**>(static_cast<char*>(d.block) + 8) = &s->ctx;
  d.inst = static_cast<char*>(d.block) + 16;
  struct Thunk {
    const flot_module_t* desc;
    InstanceData* d;
  } thunk{desc, &d};
  CallFrame frame;
  if (const MemoryImages* images = d.module->images.get()) {
    frame.images = images->memories.data();
    frame.images_left = images->memories.size();
  }
  d.created = true;
  int trap = guarded_call(
      s, frame,
      [](void* a) {
        auto* t = static_cast<Thunk*>(a);
        t->desc->instantiate(t->d->inst, t->d->bindings.data());
      },
      &thunk);
  if (trap) {
    // The instance stays allocated (not live): functions it placed into imported tables before
    // the trap must stay callable, as the spec requires.
    return Unexpected(trap_error(frame, "instantiation of " + d.module->name));
  }
  d.live = true;
  s->live_instances++;
  return {};
}

Result<void> Store::reset_instances() {
  StoreImpl* s = impl_.get();
  if (s->entries > 0 || s->running.load())
    return make_error(ErrorKind::Usage, "cannot reset a store while its guest code runs");
  for (const InstanceData& d : s->instances) {
    if (!d.live)
      return make_error(ErrorKind::Usage,
                        "cannot reset a store holding an instance whose instantiation failed");
  }
  // In creation order, each instance is freed and instantiated again: an instance that
  // imports a memory or table of an earlier one applies its segments after that one's reset.
  for (InstanceData& d : s->instances) {
    d.code->desc->free_instance(d.inst);
    d.created = false;
    d.live = false;
    s->live_instances--;
    if (auto r = run_instantiation(s, d); !r) return r;
  }
  return {};
}

namespace {

Extern materialize(InstanceData& d, uint32_t idx) {
  StoreImpl* s = d.store;
  const ModuleMeta& meta = d.module->meta;
  const ExportType& ex = meta.exports[idx];
  const flot_export_t& fe = d.code->desc->exports[idx];
  switch (ex.type.kind) {
    case ExternKind::Func: {
      FuncData& f = s->funcs.emplace_back();
      f.type = ex.type.func;
      f.type_id = d.code->sig_type_ids[fe.sig];
      f.ref = FuncRef{f.type_id, fe.ptr, d.inst};
      f.sig_call = d.code->desc->sig_calls[fe.sig];
      f.keep = d.code;
      f.name = ex.name;
      return Func(&f);
    }
    case ExternKind::Memory: {
      auto* mem = reinterpret_cast<wasm_rt_memory_t* (*)(void*)>(fe.ptr)(d.inst);
      if (MemoryData* m = by_ptr(s->memory_by_ptr, mem)) return Memory(m);
      MemoryData& m = s->memories.emplace_back();
      m.store = s;
      m.declared = ex.type.memory;
      m.mem = mem;
      s->memory_by_ptr[mem] = &m;
      return Memory(&m);
    }
    case ExternKind::Table: {
      void* tab = reinterpret_cast<void* (*)(void*)>(fe.ptr)(d.inst);
      if (TableData* t = by_ptr(s->table_by_ptr, tab)) return Table(t);
      TableData& t = s->tables.emplace_back();
      t.store = s;
      t.declared = ex.type.table;
      t.table = tab;
      s->table_by_ptr[tab] = &t;
      return Table(&t);
    }
    case ExternKind::Global: {
      void* p = reinterpret_cast<void* (*)(void*)>(fe.ptr)(d.inst);
      if (GlobalData* g = by_ptr(s->global_by_ptr, p)) return Global(g);
      GlobalData& g = s->globals.emplace_back();
      g.type = ex.type.global;
      g.ptr = p;
      s->global_by_ptr[p] = &g;
      return Global(&g);
    }
    case ExternKind::Tag:
      if (fe.sig >= d.tags.size()) return Extern();
      return Tag(static_cast<TagData*>(const_cast<void*>(d.tags[fe.sig])));
  }
  return Extern();
}

}  // namespace

std::optional<Extern> Instance::get_export(std::string_view name) const {
  if (!data_ || !data_->live) return std::nullopt;
  const auto& idx = data_->module->meta.export_index;
  auto it = idx.find(name);
  if (it == idx.end()) return std::nullopt;
  return export_at(it->second);
}

std::optional<Extern> Instance::export_at(uint32_t i) const {
  if (!data_ || !data_->live || i >= data_->exports.size()) return std::nullopt;
  if (!data_->export_ready[i]) {
    data_->exports[i] = materialize(*data_, i);
    data_->export_ready[i] = true;
  }
  return data_->exports[i];
}

std::optional<Func> Instance::get_func(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Func) return std::nullopt;
  return e->func;
}
std::optional<Memory> Instance::get_memory(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Memory) return std::nullopt;
  return e->memory;
}
std::optional<Global> Instance::get_global(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Global) return std::nullopt;
  return e->global;
}
std::optional<Table> Instance::get_table(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Table) return std::nullopt;
  return e->table;
}
std::optional<Tag> Instance::get_tag(std::string_view name) const {
  auto e = get_export(name);
  if (!e || e->kind != ExternKind::Tag) return std::nullopt;
  return e->tag;
}
std::vector<std::pair<std::string, Extern>> Instance::exports() const {
  std::vector<std::pair<std::string, Extern>> out;
  if (!data_) return out;
  for (const auto& ex : data_->module->meta.exports) {
    if (auto e = get_export(ex.name)) out.emplace_back(ex.name, *e);
  }
  return out;
}
Module Instance::module() const { return Module::from_impl(data_->module); }
Tier Instance::tier() const { return data_->code->tier; }

std::optional<Extern> Caller::get_export(std::string_view name) const {
  if (!instance_) return std::nullopt;
  return Instance(instance_).get_export(name);
}

}  // namespace flotilla::engine
