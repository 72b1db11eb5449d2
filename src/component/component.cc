// Component (decode + static resolution + compilation of core modules), Linker, Func and
// Instance.
#include <charconv>
#include <fstream>
#include <iterator>

#include "internal.h"

namespace flotilla::component {

// ---- Component ----------------------------------------------------------------------------

bool Component::is_component(std::span<const uint8_t> bytes) {
  return bytes.size() >= 8 && bytes[0] == 0 && bytes[1] == 'a' && bytes[2] == 's' &&
         bytes[3] == 'm' && bytes[6] == 1 && bytes[7] == 0;
}

namespace {

// Core modules in definition order, nested components included.
void collect_modules(const ast::Component& c, std::vector<const ast::Item*>& out) {
  for (const auto& it : c.items) {
    if (it.kind == ast::Item::Kind::CoreModule) out.push_back(&it);
    if (it.kind == ast::Item::Kind::Component) collect_modules(*it.component, out);
  }
}

Error in_module(Error e, const ast::Item* m) {
  if (e.offset) *e.offset += m->module.offset;
  e.message = "core module at byte offset " + std::to_string(m->module.offset) + ": " + e.message;
  return e;
}

// Records the type of a core module of the component; a module of a component may not import
// the same name twice.
Result<void> add_module_type(ComponentImpl& impl, const ast::Item* m,
                             const std::vector<engine::ImportType>& imports,
                             const std::vector<engine::ExportType>& exports) {
  for (size_t i = 0; i < imports.size(); i++) {
    for (size_t j = 0; j < i; j++) {
      if (imports[j].module == imports[i].module && imports[j].name == imports[i].name) {
        return Unexpected(in_module(
            make_error(ErrorKind::Invalid, "invalid component: duplicate import name `" +
                                               imports[i].module + ":" + imports[i].name + "`")
                .error(),
            m));
      }
    }
  }
  auto t = std::make_shared<CoreModuleType>();
  t->imports = imports;
  t->exports = exports;
  impl.module_types[m] = std::move(t);
  return {};
}

enum class Mode { Static, Validate, Compile };

// Decodes, validates or compiles the core modules (by mode), and resolves the component.
Result<std::shared_ptr<ComponentImpl>> build(std::span<const uint8_t> bytes, Mode mode,
                                             engine::Engine* engine) {
  auto impl = std::make_shared<ComponentImpl>();
  impl->bytes.assign(bytes.begin(), bytes.end());
  auto ast = ast::decode(impl->bytes, 0);
  if (!ast) return Unexpected(ast.error());
  impl->ast = *ast;
  if (mode != Mode::Static) {
    std::vector<const ast::Item*> mods;
    collect_modules(*impl->ast, mods);
    size_t n = 0;
    for (auto* m : mods) {
      if (mode == Mode::Validate) {
        auto info = engine::Module::inspect(m->module.bytes);
        if (!info) return Unexpected(in_module(info.error(), m));
        auto r = add_module_type(*impl, m, info->imports, info->exports);
        if (!r) return Unexpected(r.error());
      } else {
        auto mod = engine::Module::compile(*engine, m->module.bytes, "core" + std::to_string(n++));
        if (!mod) return Unexpected(in_module(mod.error(), m));
        auto r = add_module_type(*impl, m, mod->imports(), mod->exports());
        if (!r) return Unexpected(r.error());
        impl->modules.emplace(m, *mod);
      }
    }
  }
  auto r = resolve_static(*impl);
  if (!r) return Unexpected(r.error());
  return impl;
}

}  // namespace

Result<void> Component::validate(std::span<const uint8_t> bytes) {
  auto impl = build(bytes, Mode::Validate, nullptr);
  if (!impl) return Unexpected(impl.error());
  return {};
}

Result<Component> Component::compile_static(std::span<const uint8_t> bytes) {
  auto impl = build(bytes, Mode::Static, nullptr);
  if (!impl) return Unexpected(impl.error());
  return Component(*impl);
}

Result<Component> Component::compile(engine::Engine& engine, std::span<const uint8_t> bytes) {
  auto impl = build(bytes, Mode::Compile, &engine);
  if (!impl) return Unexpected(impl.error());
  return Component(*impl);
}

Result<Component> Component::from_file(engine::Engine& engine, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::Io, "cannot read " + path.string());
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  return compile(engine, bytes);
}

Result<engine::Module> Component::core_module(size_t i) const {
  std::vector<const ast::Item*> mods;
  collect_modules(*impl_->ast, mods);
  if (i >= mods.size()) return make_error(ErrorKind::Usage, "no core module " + std::to_string(i));
  auto it = impl_->modules.find(mods[i]);
  if (it == impl_->modules.end()) {
    return make_error(ErrorKind::Usage, "component was not compiled (compile_static)");
  }
  return it->second;
}

size_t Component::core_module_count() const {
  std::vector<const ast::Item*> mods;
  collect_modules(*impl_->ast, mods);
  return mods.size();
}

const std::vector<NamedExtern>& Component::imports() const { return impl_->imports; }
const std::vector<NamedExtern>& Component::exports() const { return impl_->exports; }

// ---- Linker -------------------------------------------------------------------------------

namespace {

struct Version {
  std::string_view base;  // name without @version (points into the name)
  int major = -1, minor = 0, patch = 0;
  bool has = false;
};

Version split_version(std::string_view name) {
  Version v;
  auto at = name.find('@');
  v.base = name.substr(0, at);
  if (at == std::string_view::npos) return v;
  std::string_view ver = name.substr(at + 1);
  const char* p = ver.data();
  const char* end = p + ver.size();
  int* parts[] = {&v.major, &v.minor, &v.patch};
  for (int i = 0; i < 3; ++i) {
    auto r = std::from_chars(p, end, *parts[i]);
    if (r.ec != std::errc()) break;
    if (i == 0) v.has = true;
    p = r.ptr;
    if (p == end || *p != '.') break;
    ++p;
  }
  return v;
}

bool compatible(const Version& a, const Version& b) {
  if (a.base != b.base || a.has != b.has) return false;
  if (!a.has) return true;
  if (a.major != b.major) return false;
  if (a.major == 0) return a.minor == b.minor;
  return true;
}

}  // namespace

const Linker::Impl::Iface* Linker::Impl::find(std::string_view name) const {
  auto it = ifaces.find(name);
  if (it != ifaces.end()) return &it->second;
  Version want = split_version(name);
  if (!want.has) return nullptr;
  const Iface* best = nullptr;
  // Candidates share the base name: they sort together, from `base@` on.
  std::string from(want.base);
  from += '@';
  for (auto it = ifaces.lower_bound(from); it != ifaces.end(); ++it) {
    const std::string& n = it->first;
    if (n.compare(0, from.size(), from) != 0) break;
    if (compatible(want, split_version(n))) best = &it->second;  // highest compatible
  }
  return best;
}

Linker::Impl::Iface* Linker::Impl::find_mut(std::string_view name) {
  return const_cast<Iface*>(static_cast<const Impl*>(this)->find(name));
}

Linker::Linker() : impl_(std::make_unique<Impl>()) {}
Linker::~Linker() = default;

Result<void> Linker::func_new(std::string_view instance, std::string_view name, HostFunc fn) {
  auto& iface = impl_->ifaces[std::string(instance)];
  if (iface.funcs.count(name)) {
    return make_error(ErrorKind::Usage, "function `" + std::string(name) +
                                            "` is already defined in `" + std::string(instance) +
                                            "`");
  }
  iface.funcs.emplace(std::string(name), std::move(fn));
  return {};
}

Result<ResourceTypePtr> Linker::resource(std::string_view instance, std::string_view name,
                                         ResourceDtor dtor) {
  auto& iface = impl_->ifaces[std::string(instance)];
  if (iface.resources.count(name)) {
    return make_error(ErrorKind::Usage, "resource `" + std::string(name) +
                                            "` is already defined in `" + std::string(instance) +
                                            "`");
  }
  auto rt = std::make_shared<ResourceTypeImpl>(std::string(name));
  rt->host = true;
  rt->host_dtor = std::move(dtor);
  iface.resources.emplace(std::string(name), rt);
  return ResourceTypePtr(rt);
}

ResourceTypePtr Linker::find_resource(std::string_view instance, std::string_view name) const {
  auto* iface = impl_->find(instance);
  if (!iface) return nullptr;
  auto it = iface->resources.find(name);
  return it == iface->resources.end() ? nullptr : it->second;
}

Result<void> Linker::define_unknown_imports_as_traps(const Component&) {
  impl_->unknown_as_traps = true;
  return {};
}

// ---- Func / Instance ------------------------------------------------------------------------

const FuncType& Func::type() const { return data_->type; }
const std::string& Func::name() const { return data_->name; }

Result<std::vector<Val>> Func::call(engine::Store& store, std::span<const Val> params) const {
  if (!data_) return make_error(ErrorKind::Usage, "call of an empty Func");
  return invoke(store, *data_, params);
}

std::vector<std::pair<std::string, Func>> Instance::funcs() const {
  std::vector<std::pair<std::string, Func>> out;
  if (!state_ || !state_->exports) return out;
  for (auto& [name, it] : state_->exports->exports) {
    if (it.sort == ast::Sort::Func) out.emplace_back(name, Func(it.func));
    if (it.sort == ast::Sort::Instance) {
      for (auto& [n, sub] : it.instance->exports) {
        if (sub.sort == ast::Sort::Func) out.emplace_back(name + "#" + n, Func(sub.func));
      }
    }
  }
  return out;
}

Result<Func> Instance::get_func(std::string_view name) const {
  auto all = funcs();
  for (auto& [n, f] : all) {
    if (n == name) return f;
  }
  // iface#name with a semver-compatible interface version
  auto hash = name.find('#');
  if (hash != std::string_view::npos) {
    Version want = split_version(name.substr(0, hash));
    for (auto& [n, f] : all) {
      auto h = n.find('#');
      if (h == std::string::npos || n.substr(h + 1) != name.substr(hash + 1)) continue;
      if (compatible(want, split_version(std::string_view(n).substr(0, h)))) return f;
    }
  }
  // plain name, unique among exported interfaces
  std::vector<std::string> matches;
  std::optional<Func> found;
  for (auto& [n, f] : all) {
    auto h = n.find('#');
    if (h != std::string::npos && n.substr(h + 1) == name) {
      matches.push_back(n);
      found = f;
    }
  }
  if (matches.size() == 1) return *found;
  if (matches.size() > 1) {
    std::string list;
    for (auto& m : matches) list += "\n  " + m;
    return make_error(ErrorKind::Usage,
                      "function name `" + std::string(name) + "` is ambiguous; use one of:" + list);
  }
  std::string list;
  for (auto& [n, f] : all) list += "\n  " + n;
  return make_error(ErrorKind::Usage, "no exported function named `" + std::string(name) + "`" +
                                          (list.empty() ? "" : "; exported functions:" + list));
}

ResourceTypePtr Instance::get_resource(std::string_view instance, std::string_view name) const {
  if (!state_ || !state_->exports) return nullptr;
  for (auto& [n, it] : state_->exports->exports) {
    if (instance.empty() && n == name && it.sort == ast::Sort::Type) return it.type.res;
    if (n == instance && it.sort == ast::Sort::Instance) {
      if (auto* sub = it.instance->find(name); sub && sub->sort == ast::Sort::Type) {
        return sub->type.res;
      }
    }
  }
  return nullptr;
}

Result<void> resource_drop(engine::Store& store, const Val& handle) {
  if (handle.kind != TypeKind::Own || !handle.resource) {
    return make_error(ErrorKind::Usage, "resource_drop needs an owned resource handle");
  }
  auto* rt = impl_of(handle.resource->type);
  if (!rt) return make_error(ErrorKind::Usage, "resource handle of an unknown resource type");
  return run_dtor(store, *rt, handle.resource->rep);
}

}  // namespace flotilla::component
