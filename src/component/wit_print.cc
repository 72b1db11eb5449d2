// Printing a component's world as WIT, in the layout `jco wit` / `wasm-tools component wit`
// use: interfaces named by a package path print as `import ns:pkg/iface;`, plain-named ones
// inline with their types and functions.
#include <map>
#include <set>
#include <sstream>

#include "internal.h"

namespace flotilla::component {

namespace {

bool is_keyword(const std::string& s) {
  static const std::set<std::string> kw = {
      "as",     "async",    "bool",      "borrow",  "char", "constructor", "enum",
      "export", "f32",      "f64",       "flags",   "from", "func",        "future",
      "import", "include",  "interface", "list",    "own",  "option",      "package",
      "record", "resource", "result",    "s16",     "s32",  "s64",         "s8",
      "static", "stream",   "string",    "tuple",   "type", "u16",         "u32",
      "u64",    "u8",       "use",       "variant", "with", "world",       "error-context"};
  return kw.count(s) > 0;
}
std::string id(const std::string& s) { return is_keyword(s) ? "%" + s : s; }

std::string type_ref(const Type& t);

std::string opt_ref(const TypePtr& t) { return t ? type_ref(*t) : "_"; }

std::string type_ref(const Type& t) {
  if (!t.name.empty() && !is_primitive(t.kind)) return id(t.name);
  switch (t.kind) {
    case TypeKind::List:
      if (t.map && t.elem->items.size() == 2)
        return "map<" + type_ref(*t.elem->items[0]) + ", " + type_ref(*t.elem->items[1]) + ">";
      if (t.length) return "list<" + type_ref(*t.elem) + ", " + std::to_string(t.length) + ">";
      return "list<" + type_ref(*t.elem) + ">";
    case TypeKind::Option:
      return "option<" + type_ref(*t.elem) + ">";
    case TypeKind::Result:
      if (!t.ok && !t.err) return "result";
      if (!t.err) return "result<" + type_ref(*t.ok) + ">";
      return "result<" + opt_ref(t.ok) + ", " + type_ref(*t.err) + ">";
    case TypeKind::Tuple: {
      std::string s = "tuple<";
      for (size_t i = 0; i < t.items.size(); i++) s += (i ? ", " : "") + type_ref(*t.items[i]);
      return s + ">";
    }
    case TypeKind::Own:
      return id(t.resource ? t.resource->name : "?");
    case TypeKind::Borrow:
      return "borrow<" + id(t.resource ? t.resource->name : "?") + ">";
    case TypeKind::Stream:
    case TypeKind::Future:
      return std::string(type_kind_name(t.kind)) + (t.elem ? "<" + type_ref(*t.elem) + ">" : "");
    default:
      if (!t.name.empty()) return id(t.name);
      return t.to_string();
  }
}

std::string params_text(const FuncType& f, size_t skip) {
  std::string s = "(";
  for (size_t i = skip; i < f.params.size(); i++) {
    s += (i > skip ? ", " : "") + id(f.params[i].first) + ": " + type_ref(*f.params[i].second);
  }
  s += ")";
  return s;
}

std::string results_text(const FuncType& f) {
  if (f.results.empty()) return "";
  if (f.results.size() == 1 && f.results[0].first.empty()) {
    return " -> " + type_ref(*f.results[0].second);
  }
  std::string s = " -> (";
  for (size_t i = 0; i < f.results.size(); i++) {
    s += (i ? ", " : "") + id(f.results[i].first) + ": " + type_ref(*f.results[i].second);
  }
  return s + ")";
}

std::string func_text(const std::string& name, const FuncType& f) {
  return id(name) + (f.async ? ": async func" : ": func") + params_text(f, 0) + results_text(f);
}

// Where each named type / resource was first exported (interface name), for `use`.
struct Origins {
  std::map<const void*, std::string> iface;
};

const void* identity(const ExternDesc& d) {
  if (d.kind == ExternDesc::Kind::Resource) return d.resource ? d.resource->canonical() : nullptr;
  if (d.kind == ExternDesc::Kind::Type) return d.type.get();
  return nullptr;
}

std::string type_def(const std::string& name, const Type& t, const std::string& ind) {
  std::ostringstream o;
  auto body = [&](const char* kw, const std::vector<std::string>& lines) {
    o << ind << kw << " " << id(name) << " {\n";
    for (auto& l : lines) o << ind << "  " << l << ",\n";
    o << ind << "}\n";
  };
  switch (t.kind) {
    case TypeKind::Record: {
      std::vector<std::string> lines;
      for (auto& f : t.fields) lines.push_back(id(f.name) + ": " + type_ref(*f.type));
      body("record", lines);
      break;
    }
    case TypeKind::Variant: {
      std::vector<std::string> lines;
      for (auto& c : t.cases)
        lines.push_back(id(c.name) + (c.type ? "(" + type_ref(*c.type) + ")" : ""));
      body("variant", lines);
      break;
    }
    case TypeKind::Enum: {
      std::vector<std::string> lines;
      for (auto& n : t.names) lines.push_back(id(n));
      body("enum", lines);
      break;
    }
    case TypeKind::Flags: {
      std::vector<std::string> lines;
      for (auto& n : t.names) lines.push_back(id(n));
      body("flags", lines);
      break;
    }
    default: {
      Type anon = t;
      anon.name.clear();
      o << ind << "type " << id(name) << " = " << type_ref(anon) << ";\n";
    }
  }
  return o.str();
}

std::string resource_block(const std::string& name, const std::vector<NamedExtern>& items,
                           const std::string& ind) {
  std::vector<std::string> members;
  for (auto& f : items) {
    if (f.desc.kind != ExternDesc::Kind::Func) continue;
    const std::string& n = f.name;
    if (n == "[constructor]" + name) {
      members.push_back("constructor" + params_text(f.desc.func, 0) + ";");
    } else if (n.rfind("[method]" + name + ".", 0) == 0) {
      std::string m = n.substr(9 + name.size());
      members.push_back(id(m) + (f.desc.func.async ? ": async func" : ": func") +
                        params_text(f.desc.func, 1) + results_text(f.desc.func) + ";");
    } else if (n.rfind("[static]" + name + ".", 0) == 0) {
      std::string m = n.substr(9 + name.size());
      members.push_back(id(m) + (f.desc.func.async ? ": static async func" : ": static func") +
                        params_text(f.desc.func, 0) + results_text(f.desc.func) + ";");
    }
  }
  if (members.empty()) return ind + "resource " + id(name) + ";\n";
  std::string s = ind + "resource " + id(name) + " {\n";
  for (auto& m : members) s += ind + "  " + m + "\n";
  return s + ind + "}\n";
}

std::string interface_body(const InstanceTypeDesc& d, const Origins& origins,
                           const std::string& self, const std::string& ind) {
  std::vector<std::string> blocks;
  // use statements, grouped by interface
  std::map<std::string, std::vector<std::string>> uses;
  std::vector<std::string> use_order;
  std::set<std::string> resources;
  for (auto& e : d.exports) {
    const void* key = identity(e.desc);
    if (!key) continue;
    auto it = origins.iface.find(key);
    if (it != origins.iface.end() && it->second != self) {
      if (!uses.count(it->second)) use_order.push_back(it->second);
      uses[it->second].push_back(id(e.name));
    }
  }
  for (auto& u : use_order) {
    std::string s = ind + "use " + u + ".{";
    for (size_t i = 0; i < uses[u].size(); i++) s += (i ? ", " : "") + uses[u][i];
    blocks.push_back(s + "};\n");
  }
  std::string use_block;
  for (auto& b : blocks) use_block += b;
  blocks.clear();
  if (!use_block.empty()) blocks.push_back(use_block);
  for (auto& e : d.exports) {
    const void* key = identity(e.desc);
    if (key) {
      auto it = origins.iface.find(key);
      if (it != origins.iface.end() && it->second != self) continue;
    }
    if (e.desc.kind == ExternDesc::Kind::Type) {
      if (e.desc.type) blocks.push_back(type_def(e.name, *e.desc.type, ind));
    } else if (e.desc.kind == ExternDesc::Kind::Resource) {
      blocks.push_back(resource_block(e.name, d.exports, ind));
    }
  }
  for (auto& e : d.exports) {
    if (e.desc.kind != ExternDesc::Kind::Func || e.name.rfind("[", 0) == 0) continue;
    blocks.push_back(ind + func_text(e.name, e.desc.func) + ";\n");
  }
  std::string out;
  for (size_t i = 0; i < blocks.size(); i++) out += (i ? "\n" : "") + blocks[i];
  return out;
}

void record_origins(const NamedExtern& e, Origins& o) {
  if (e.desc.kind != ExternDesc::Kind::Instance || !e.desc.instance) return;
  for (auto& x : e.desc.instance->exports) {
    const void* key = identity(x.desc);
    if (key && !o.iface.count(key)) o.iface[key] = e.name;
  }
}

std::string item_text(const char* kw, const NamedExtern& e, const std::vector<NamedExtern>& all,
                      const Origins& origins) {
  if (const void* key = identity(e.desc)) {
    auto it = origins.iface.find(key);
    if (it != origins.iface.end()) return "  use " + it->second + ".{" + id(e.name) + "};\n";
  }
  switch (e.desc.kind) {
    case ExternDesc::Kind::Instance:
      if (e.name.find(':') != std::string::npos || !e.desc.instance)
        return std::string("  ") + kw + " " + e.name + ";\n";
      return std::string("  ") + kw + " " + id(e.name) + ": interface {\n" +
             interface_body(*e.desc.instance, origins, e.name, "    ") + "  }\n";
    case ExternDesc::Kind::Func:
      if (e.name.rfind("[", 0) == 0) return "";  // printed inside its resource
      return std::string("  ") + kw + " " + func_text(e.name, e.desc.func) + ";\n";
    case ExternDesc::Kind::Type:
      if (!e.desc.type) return "  // type " + id(e.name) + ": unknown\n";
      return type_def(e.name, *e.desc.type, "  ");
    case ExternDesc::Kind::Resource:
      return resource_block(e.name, all, "  ");
    default:
      return std::string("  ") + kw + " " + id(e.name) + "; // unsupported item kind\n";
  }
}

}  // namespace

std::string Component::wit() const {
  Origins origins;
  std::string imports, exports;
  for (auto& e : impl_->imports) {
    imports += item_text("import", e, impl_->imports, origins);
    record_origins(e, origins);
  }
  for (auto& e : impl_->exports) {
    exports += item_text("export", e, impl_->exports, origins);
    record_origins(e, origins);
  }
  std::string out = "package root:component;\n\nworld root {\n" + imports;
  if (!imports.empty() && !exports.empty()) out += "\n";
  out += exports + "}\n";
  return out;
}

}  // namespace flotilla::component
