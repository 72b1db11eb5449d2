// Canonical WIT printing, and loading/resolving packages.
#include <flotilla/wit/wit.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

namespace flotilla::wit {
namespace {

// Identifiers that are keywords must be written with a leading '%'.
std::string id(const std::string& n) {
  static const std::set<std::string> kKeywords = {
      "use",       "type",   "func",    "u8",       "u16",     "u32",           "u64",
      "s8",        "s16",    "s32",     "s64",      "f32",     "f64",           "char",
      "bool",      "string", "option",  "result",   "list",    "tuple",         "record",
      "flags",     "enum",   "variant", "resource", "own",     "borrow",        "static",
      "interface", "world",  "import",  "export",   "package", "constructor",   "include",
      "with",      "as",     "future",  "stream",   "async",   "error-context", "float32",
      "float64",   "_"};
  return kKeywords.count(n) ? "%" + n : n;
}

void gates(std::ostringstream& o, const Gates& g, const std::string& indent) {
  for (const auto& x : g) o << indent << x << "\n";
}

std::string params(const std::vector<Param>& ps) {
  std::string s = "(";
  for (size_t i = 0; i < ps.size(); ++i) {
    if (i) s += ", ";
    s += id(ps[i].name) + ": " + print(ps[i].type);
  }
  return s + ")";
}

std::string func_sig(const Function& f) {
  std::string s = f.async ? "async func" : "func";
  s += params(f.params);
  if (f.result) s += " -> " + print(*f.result);
  return s;
}

void use_line(std::ostringstream& o, const Use& u, const std::string& indent) {
  gates(o, u.gates, indent);
  o << indent << "use " << u.from.to_string() << ".{";
  for (size_t i = 0; i < u.names.size(); ++i) {
    if (i) o << ", ";
    o << id(u.names[i].first);
    if (!u.names[i].second.empty()) o << " as " << id(u.names[i].second);
  }
  o << "};\n";
}

void typedef_block(std::ostringstream& o, const TypeDef& t, const std::string& in) {
  gates(o, t.gates, in);
  switch (t.kind) {
    case TypeDef::Kind::Record:
      o << in << "record " << id(t.name) << " {\n";
      for (const auto& f : t.fields)
        o << in << "  " << id(f.name) << ": " << print(f.type) << ",\n";
      o << in << "}\n";
      break;
    case TypeDef::Kind::Variant:
      o << in << "variant " << id(t.name) << " {\n";
      for (const auto& [n, ty] : t.cases) {
        o << in << "  " << id(n);
        if (ty) o << "(" << print(*ty) << ")";
        o << ",\n";
      }
      o << in << "}\n";
      break;
    case TypeDef::Kind::Enum:
    case TypeDef::Kind::Flags:
      o << in << (t.kind == TypeDef::Kind::Enum ? "enum " : "flags ") << id(t.name) << " {\n";
      for (const auto& n : t.names) o << in << "  " << id(n) << ",\n";
      o << in << "}\n";
      break;
    case TypeDef::Kind::Resource:
      if (!t.resource_body) {
        o << in << "resource " << id(t.name) << ";\n";
        break;
      }
      o << in << "resource " << id(t.name) << " {\n";
      for (const auto& m : t.methods) {
        gates(o, m.gates, in + "  ");
        if (m.kind == Function::Kind::Constructor) {
          o << in << "  constructor" << params(m.params) << ";\n";
        } else {
          o << in << "  " << id(m.name) << ": "
            << (m.kind == Function::Kind::Static ? "static " : "") << func_sig(m) << ";\n";
        }
      }
      o << in << "}\n";
      break;
    case TypeDef::Kind::Alias:
      o << in << "type " << id(t.name) << " = " << print(t.alias) << ";\n";
      break;
  }
}

void interface_items(std::ostringstream& o, const std::vector<InterfaceItem>& items,
                     const std::string& in) {
  for (const auto& item : items) {
    if (auto* u = std::get_if<Use>(&item)) {
      use_line(o, *u, in);
    } else if (auto* t = std::get_if<TypeDef>(&item)) {
      typedef_block(o, *t, in);
    } else {
      const auto& f = std::get<Function>(item);
      gates(o, f.gates, in);
      o << in << id(f.name) << ": " << func_sig(f) << ";\n";
    }
  }
}

}  // namespace

std::string print(const Type& t) {
  switch (t.kind) {
    case Type::Kind::Bool:
      return "bool";
    case Type::Kind::U8:
      return "u8";
    case Type::Kind::U16:
      return "u16";
    case Type::Kind::U32:
      return "u32";
    case Type::Kind::U64:
      return "u64";
    case Type::Kind::S8:
      return "s8";
    case Type::Kind::S16:
      return "s16";
    case Type::Kind::S32:
      return "s32";
    case Type::Kind::S64:
      return "s64";
    case Type::Kind::F32:
      return "f32";
    case Type::Kind::F64:
      return "f64";
    case Type::Kind::Char:
      return "char";
    case Type::Kind::String:
      return "string";
    case Type::Kind::ErrorContext:
      return "error-context";
    case Type::Kind::List:
      return "list<" + print(t.args[0]) + (t.length ? ", " + std::to_string(*t.length) : "") + ">";
    case Type::Kind::Option:
      return "option<" + print(t.args[0]) + ">";
    case Type::Kind::Future:
    case Type::Kind::Stream: {
      std::string s = t.kind == Type::Kind::Future ? "future" : "stream";
      return t.args.empty() ? s : s + "<" + print(t.args[0]) + ">";
    }
    case Type::Kind::Result:
      if (!t.result_ok && !t.result_err) return "result";
      if (!t.result_ok) return "result<_, " + print(t.args[0]) + ">";
      if (!t.result_err) return "result<" + print(t.args[0]) + ">";
      return "result<" + print(t.args[0]) + ", " + print(t.args[1]) + ">";
    case Type::Kind::Tuple: {
      std::string s = "tuple<";
      for (size_t i = 0; i < t.args.size(); ++i) s += (i ? ", " : "") + print(t.args[i]);
      return s + ">";
    }
    case Type::Kind::Own:
      return "own<" + id(t.name) + ">";
    case Type::Kind::Borrow:
      return "borrow<" + id(t.name) + ">";
    case Type::Kind::Named:
      return id(t.name);
  }
  return "?";
}

std::string print(const Package& p) {
  std::ostringstream o;
  if (!p.ns.empty()) o << "package " << p.id() << ";\n";
  for (const auto& u : p.uses) {
    gates(o, u.gates, "");
    o << "\nuse " << u.from.to_string();
    if (!u.names.empty() && !u.names[0].second.empty()) o << " as " << id(u.names[0].second);
    o << ";\n";
  }
  for (const auto& i : p.interfaces) {
    o << "\n";
    gates(o, i.gates, "");
    o << "interface " << id(i.name) << " {\n";
    interface_items(o, i.items, "  ");
    o << "}\n";
  }
  for (const auto& w : p.worlds) {
    o << "\n";
    gates(o, w.gates, "");
    o << "world " << id(w.name) << " {\n";
    for (const auto& item : w.items) {
      switch (item.kind) {
        case WorldItem::Kind::Import:
        case WorldItem::Kind::Export: {
          gates(o, item.gates, "  ");
          const char* kw = item.kind == WorldItem::Kind::Import ? "import " : "export ";
          if (item.path) {
            o << "  " << kw << item.path->to_string() << ";\n";
          } else if (item.func) {
            o << "  " << kw << id(item.name) << ": " << func_sig(*item.func) << ";\n";
          } else if (item.interface) {
            o << "  " << kw << id(item.name) << ": interface {\n";
            interface_items(o, item.interface->items, "    ");
            o << "  }\n";
          }
          break;
        }
        case WorldItem::Kind::Use:
          use_line(o, *item.use, "  ");
          break;
        case WorldItem::Kind::Type:
          typedef_block(o, *item.type, "  ");
          break;
        case WorldItem::Kind::Include:
          gates(o, item.gates, "  ");
          o << "  include " << item.path->to_string();
          if (!item.include_with.empty()) {
            o << " with {";
            for (size_t i = 0; i < item.include_with.size(); ++i)
              o << (i ? ", " : " ") << id(item.include_with[i].first) << " as "
                << id(item.include_with[i].second);
            o << " }\n";
          } else {
            o << ";\n";
          }
          break;
      }
    }
    o << "}\n";
  }
  return o.str();
}

// ------------------------------------------------------------------------------------------
// Resolution

namespace {

struct SemVer {
  int major = 0, minor = 0, patch = 0;
  std::string pre;
};

std::optional<SemVer> parse_semver(const std::string& s) {
  SemVer v;
  char dash = 0;
  int n = sscanf(s.c_str(), "%d.%d.%d%c", &v.major, &v.minor, &v.patch, &dash);
  if (n < 3) return std::nullopt;
  auto d = s.find('-');
  if (d != std::string::npos) v.pre = s.substr(d + 1);
  return v;
}

// `want` is satisfied by `have` when they are the same version or semver-compatible: same
// major (>0) and have >= want, or for 0.x the same minor and have >= want.
bool compatible(const std::string& want, const std::string& have) {
  if (want == have) return true;
  auto w = parse_semver(want), h = parse_semver(have);
  if (!w || !h || !w->pre.empty() || !h->pre.empty()) return false;
  if (w->major != h->major) return false;
  if (w->major == 0 && w->minor != h->minor) return false;
  return std::tie(h->minor, h->patch) >= std::tie(w->minor, w->patch);
}

bool defines_type(const Interface& i, const std::string& name) {
  for (const auto& item : i.items) {
    if (auto* t = std::get_if<TypeDef>(&item); t && t->name == name) return true;
    if (auto* u = std::get_if<Use>(&item)) {
      for (const auto& [n, alias] : u->names)
        if ((alias.empty() ? n : alias) == name) return true;
    }
  }
  return false;
}

}  // namespace

const Package* Resolve::find(std::string_view ns, std::string_view name,
                             const std::optional<std::string>& version) const {
  const Package* best = nullptr;
  for (const auto& p : packages) {
    if (p.ns != ns || p.name != name) continue;
    if (version && !(p.version && compatible(*version, *p.version))) continue;
    if (!best ||
        (p.version && best->version && parse_semver(*p.version) && parse_semver(*best->version) &&
         std::tie(parse_semver(*p.version)->major, parse_semver(*p.version)->minor,
                  parse_semver(*p.version)->patch) > std::tie(parse_semver(*best->version)->major,
                                                              parse_semver(*best->version)->minor,
                                                              parse_semver(*best->version)->patch)))
      best = &p;
  }
  return best;
}

Result<void> Resolve::check() const {
  for (const auto& p : packages) {
    auto where = [&](const std::string& what) { return Error{what, p.id(), 0, 0}; };
    auto interface_of = [&](const UsePath& u) -> const Interface* {
      if (u.is_local()) return p.find_interface(u.name);
      const Package* dep = find(u.ns, u.package, u.version);
      return dep ? dep->find_interface(u.name) : nullptr;
    };
    auto check_use = [&](const Use& u) -> std::optional<Error> {
      const Interface* i = interface_of(u.from);
      if (!i) return where("use of unknown interface " + u.from.to_string());
      for (const auto& [n, alias] : u.names)
        if (!defines_type(*i, n))
          return where("interface " + u.from.to_string() + " has no type " + n);
      return std::nullopt;
    };
    for (const auto& i : p.interfaces)
      for (const auto& item : i.items)
        if (auto* u = std::get_if<Use>(&item))
          if (auto e = check_use(*u)) return Unexpected(*e);
    for (const auto& w : p.worlds) {
      for (const auto& item : w.items) {
        if (item.use) {
          if (auto e = check_use(*item.use)) return Unexpected(*e);
        }
        if (item.path && item.kind != WorldItem::Kind::Include && !interface_of(*item.path)) {
          return Unexpected(
              where("world " + w.name + ": unknown interface " + item.path->to_string()));
        }
        if (item.kind == WorldItem::Kind::Include) {
          const World* target = nullptr;
          if (item.path->is_local()) {
            target = p.find_world(item.path->name);
          } else if (const Package* dep =
                         find(item.path->ns, item.path->package, item.path->version)) {
            target = dep->find_world(item.path->name);
          }
          if (!target)
            return Unexpected(
                where("world " + w.name + ": unknown world " + item.path->to_string()));
        }
      }
    }
  }
  return {};
}

Result<Resolve> load(const std::filesystem::path& path) {
  Resolve r;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    auto main = parse_dir(path);
    if (!main) return Unexpected(main.error());
    r.packages.push_back(std::move(*main));
    auto deps = path / "deps";
    if (std::filesystem::is_directory(deps, ec)) {
      std::vector<std::filesystem::path> entries;
      for (const auto& e : std::filesystem::directory_iterator(deps)) entries.push_back(e.path());
      std::sort(entries.begin(), entries.end());
      for (const auto& e : entries) {
        if (std::filesystem::is_directory(e)) {
          auto p = parse_dir(e);
          if (!p) return Unexpected(p.error());
          r.packages.push_back(std::move(*p));
        } else if (e.extension() == ".wit") {
          std::ifstream in(e);
          std::stringstream ss;
          ss << in.rdbuf();
          auto ps = parse(ss.str(), e.string());
          if (!ps) return Unexpected(ps.error());
          for (auto& p : *ps) r.packages.push_back(std::move(p));
        }
      }
    }
  } else {
    std::ifstream in(path);
    if (!in) return Unexpected(Error{"cannot open", path.string(), 0, 0});
    std::stringstream ss;
    ss << in.rdbuf();
    auto ps = parse(ss.str(), path.string());
    if (!ps) return Unexpected(ps.error());
    r.packages = std::move(*ps);
  }
  return r;
}

}  // namespace flotilla::wit
