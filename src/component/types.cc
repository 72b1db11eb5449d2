// Component value types and Vals: names, printing, structural equality and type checking.
#include <flotilla/component/types.h>

#include <bit>
#include <cstring>
#include <set>

#include "unicode.h"

namespace flotilla::component {

const char* type_kind_name(TypeKind k) {
  static const char* const names[] = {
      "bool",   "s8",     "u8",    "s16",    "u16",    "s32",           "u32",    "s64",     "u64",
      "f32",    "f64",    "char",  "string", "list",   "record",        "tuple",  "variant", "enum",
      "option", "result", "flags", "own",    "borrow", "error-context", "stream", "future"};
  auto i = static_cast<size_t>(k);
  return i < sizeof(names) / sizeof(names[0]) ? names[i] : "?";
}

TypePtr Type::primitive(TypeKind k) {
  static const std::vector<TypePtr> cache = [] {
    std::vector<TypePtr> v;
    for (int i = 0; i <= static_cast<int>(TypeKind::String); i++) {
      auto t = std::make_shared<Type>();
      t->kind = static_cast<TypeKind>(i);
      v.push_back(t);
    }
    return v;
  }();
  if (k == TypeKind::ErrorContext) {
    static const TypePtr ec = [] {
      auto t = std::make_shared<Type>();
      t->kind = TypeKind::ErrorContext;
      return t;
    }();
    return ec;
  }
  if (!is_primitive(k)) return nullptr;
  return cache[static_cast<size_t>(k)];
}

namespace {
std::string ref(const TypePtr& t) { return t ? t->to_string() : "_"; }
}  // namespace

std::string Type::to_string() const {
  if (is_primitive(kind) || kind == TypeKind::ErrorContext) return type_kind_name(kind);
  if (!name.empty() && kind != TypeKind::Own && kind != TypeKind::Borrow) return name;
  switch (kind) {
    case TypeKind::List:
      if (map && elem && elem->items.size() == 2)
        return "map<" + ref(elem->items[0]) + ", " + ref(elem->items[1]) + ">";
      if (length) return "list<" + ref(elem) + ", " + std::to_string(length) + ">";
      return "list<" + ref(elem) + ">";
    case TypeKind::Stream:
      return elem ? "stream<" + ref(elem) + ">" : "stream";
    case TypeKind::Future:
      return elem ? "future<" + ref(elem) + ">" : "future";
    case TypeKind::Option:
      return "option<" + ref(elem) + ">";
    case TypeKind::Result:
      if (!ok && !err) return "result";
      if (!err) return "result<" + ref(ok) + ">";
      return "result<" + ref(ok) + ", " + ref(err) + ">";
    case TypeKind::Tuple: {
      std::string s = "tuple<";
      for (size_t i = 0; i < items.size(); i++) s += (i ? ", " : "") + ref(items[i]);
      return s + ">";
    }
    case TypeKind::Record: {
      std::string s = "record { ";
      for (size_t i = 0; i < fields.size(); i++) {
        s += (i ? ", " : "") + fields[i].name + ": " + ref(fields[i].type);
      }
      return s + " }";
    }
    case TypeKind::Variant: {
      std::string s = "variant { ";
      for (size_t i = 0; i < cases.size(); i++) {
        s +=
            (i ? ", " : "") + cases[i].name + (cases[i].type ? "(" + ref(cases[i].type) + ")" : "");
      }
      return s + " }";
    }
    case TypeKind::Enum:
    case TypeKind::Flags: {
      std::string s = std::string(kind == TypeKind::Enum ? "enum" : "flags") + " { ";
      for (size_t i = 0; i < names.size(); i++) s += (i ? ", " : "") + names[i];
      return s + " }";
    }
    case TypeKind::Own:
      return resource ? resource->name : "own<?>";
    case TypeKind::Borrow:
      return "borrow<" + (resource ? resource->name : std::string("?")) + ">";
    default:
      return type_kind_name(kind);
  }
}

bool same_type(const Type& a, const Type& b) {
  if (&a == &b) return true;
  if (a.kind != b.kind) return false;
  auto same_ptr = [](const TypePtr& x, const TypePtr& y) {
    if (!x || !y) return !x && !y;
    return same_type(*x, *y);
  };
  switch (a.kind) {
    case TypeKind::List:
      return a.length == b.length && a.map == b.map && same_ptr(a.elem, b.elem);
    case TypeKind::Option:
    case TypeKind::Stream:
    case TypeKind::Future:
      return same_ptr(a.elem, b.elem);
    case TypeKind::Result:
      return same_ptr(a.ok, b.ok) && same_ptr(a.err, b.err);
    case TypeKind::Tuple:
      if (a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); i++) {
        if (!same_ptr(a.items[i], b.items[i])) return false;
      }
      return true;
    case TypeKind::Record:
      if (a.fields.size() != b.fields.size()) return false;
      for (size_t i = 0; i < a.fields.size(); i++) {
        if (a.fields[i].name != b.fields[i].name || !same_ptr(a.fields[i].type, b.fields[i].type)) {
          return false;
        }
      }
      return true;
    case TypeKind::Variant:
      if (a.cases.size() != b.cases.size()) return false;
      for (size_t i = 0; i < a.cases.size(); i++) {
        if (a.cases[i].name != b.cases[i].name || !same_ptr(a.cases[i].type, b.cases[i].type)) {
          return false;
        }
      }
      return true;
    case TypeKind::Enum:
    case TypeKind::Flags:
      return a.names == b.names;
    case TypeKind::Own:
    case TypeKind::Borrow:
      return a.resource.get() == b.resource.get() ||
             (a.resource && b.resource && a.resource->canonical() == b.resource->canonical());
    default:
      return true;
  }
}

std::string FuncType::to_string() const {
  std::string s = async ? "async func(" : "func(";
  for (size_t i = 0; i < params.size(); i++) {
    s += (i ? ", " : "") + params[i].first + ": " + ref(params[i].second);
  }
  s += ")";
  if (results.size() == 1 && results[0].first.empty()) {
    s += " -> " + ref(results[0].second);
  } else if (!results.empty()) {
    s += " -> (";
    for (size_t i = 0; i < results.size(); i++) {
      s += (i ? ", " : "") + results[i].first + ": " + ref(results[i].second);
    }
    s += ")";
  }
  return s;
}

// ---- Val ------------------------------------------------------------------------------------

Val Val::f32(float v) { return f32_bits(std::bit_cast<uint32_t>(v)); }
Val Val::f64(double v) { return f64_bits(std::bit_cast<uint64_t>(v)); }
Val Val::string(std::string s) {
  Val v;
  v.kind = TypeKind::String;
  v.str = std::move(s);
  return v;
}
Val Val::list(std::vector<Val> items) {
  Val v;
  v.kind = TypeKind::List;
  v.items = std::move(items);
  return v;
}
Val Val::bytes(std::string data) {
  Val v;
  v.kind = TypeKind::List;
  v.bits = kBytesForm;
  v.str = std::move(data);
  return v;
}
std::vector<Val> Val::list_items() const {
  if (!is_bytes()) return items;
  std::vector<Val> out;
  out.reserve(str.size());
  for (unsigned char c : str) out.push_back(Val::u8(c));
  return out;
}
std::string Val::bytes_copy() const {
  if (is_bytes()) return str;
  std::string out;
  out.reserve(items.size());
  for (const auto& b : items) out.push_back(static_cast<char>(b.bits));
  return out;
}
Val Val::record(std::vector<std::pair<std::string, Val>> fields) {
  Val v;
  v.kind = TypeKind::Record;
  v.names.reserve(fields.size());
  v.items.reserve(fields.size());
  for (auto& [n, x] : fields) {
    v.names.push_back(std::move(n));
    v.items.push_back(std::move(x));
  }
  return v;
}
Val Val::tuple(std::vector<Val> items) {
  Val v;
  v.kind = TypeKind::Tuple;
  v.items = std::move(items);
  return v;
}
Val Val::variant(std::string name, std::optional<Val> payload, uint32_t index) {
  Val v;
  v.kind = TypeKind::Variant;
  v.str = std::move(name);
  v.bits = index;
  if (payload) v.items.push_back(std::move(*payload));
  return v;
}
Val Val::enumeration(std::string name, uint32_t index) {
  Val v;
  v.kind = TypeKind::Enum;
  v.str = std::move(name);
  v.bits = index;
  return v;
}
Val Val::option(std::optional<Val> payload) {
  Val v;
  v.kind = TypeKind::Option;
  v.bits = payload ? 1 : 0;
  if (payload) v.items.push_back(std::move(*payload));
  return v;
}
Val Val::ok(std::optional<Val> payload) {
  Val v;
  v.kind = TypeKind::Result;
  v.bits = 0;
  if (payload) v.items.push_back(std::move(*payload));
  return v;
}
Val Val::err(std::optional<Val> payload) {
  Val v;
  v.kind = TypeKind::Result;
  v.bits = 1;
  if (payload) v.items.push_back(std::move(*payload));
  return v;
}
Val Val::flags(std::vector<std::string> set) {
  Val v;
  v.kind = TypeKind::Flags;
  v.names = std::move(set);
  return v;
}
Val Val::own(std::shared_ptr<ResourceAny> r) {
  Val v;
  v.kind = TypeKind::Own;
  v.resource = std::move(r);
  return v;
}
Val Val::borrow(std::shared_ptr<ResourceAny> r) {
  Val v;
  v.kind = TypeKind::Borrow;
  v.resource = std::move(r);
  return v;
}

float Val::as_f32() const { return std::bit_cast<float>(static_cast<uint32_t>(bits)); }
double Val::as_f64() const { return std::bit_cast<double>(bits); }

const Val* Val::field(std::string_view name) const {
  for (size_t i = 0; i < names.size() && i < items.size(); i++) {
    if (names[i] == name) return &items[i];
  }
  return nullptr;
}

bool Val::operator==(const Val& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case TypeKind::Variant:
    case TypeKind::Enum:
      return str == o.str && items == o.items;
    case TypeKind::Flags: {
      std::set<std::string> a(names.begin(), names.end()), b(o.names.begin(), o.names.end());
      return a == b;
    }
    case TypeKind::List:
      if (is_bytes() && o.is_bytes()) return str == o.str;
      if (is_bytes() || o.is_bytes()) {
        const Val& b = is_bytes() ? *this : o;
        const Val& l = is_bytes() ? o : *this;
        if (l.items.size() != b.str.size()) return false;
        for (size_t i = 0; i < b.str.size(); i++) {
          if (l.items[i].kind != TypeKind::U8 ||
              l.items[i].bits != static_cast<unsigned char>(b.str[i]))
            return false;
        }
        return true;
      }
      return items == o.items;
    case TypeKind::Own:
    case TypeKind::Borrow:
      if (!resource || !o.resource) return !resource && !o.resource;
      return resource->type.get() == o.resource->type.get() && resource->rep == o.resource->rep &&
             resource->owned == o.resource->owned;
    default:
      return bits == o.bits && str == o.str && items == o.items && names == o.names;
  }
}

// ---- typecheck --------------------------------------------------------------------------------

namespace {

Unexpected<Error> mismatch(const std::string& path, const std::string& what) {
  return make_error(ErrorKind::Usage, path + ": " + what);
}

bool in_range(const Val& v) {
  auto s = static_cast<int64_t>(v.bits);
  switch (v.kind) {
    case TypeKind::Bool:
      return v.bits <= 1;
    case TypeKind::S8:
      return s >= -128 && s <= 127;
    case TypeKind::U8:
      return v.bits <= 0xff;
    case TypeKind::S16:
      return s >= -32768 && s <= 32767;
    case TypeKind::U16:
      return v.bits <= 0xffff;
    case TypeKind::S32:
      return s >= INT32_MIN && s <= INT32_MAX;
    case TypeKind::U32:
      return v.bits <= 0xffffffffu;
    case TypeKind::F32:
      return v.bits <= 0xffffffffu;
    case TypeKind::Char:
      return unicode::is_scalar(static_cast<uint32_t>(v.bits)) && v.bits <= 0x10ffff;
    default:
      return true;
  }
}

}  // namespace

Result<void> typecheck(const Val& v, const Type& t, const std::string& path) {
  // An owned handle may be passed where a borrow is expected (it is lent for the call).
  if (v.kind != t.kind && !(t.kind == TypeKind::Borrow && v.kind == TypeKind::Own)) {
    return mismatch(path, std::string("expected ") + t.to_string() + ", got a " +
                              type_kind_name(v.kind) + " value");
  }
  if (!in_range(v)) {
    return mismatch(path, std::string("value out of range for ") + type_kind_name(t.kind));
  }
  switch (t.kind) {
    case TypeKind::String:
      if (!unicode::valid_utf8(v.str)) return mismatch(path, "string is not valid UTF-8");
      return {};
    case TypeKind::List:
      if (t.length && v.list_size() != t.length) {
        return mismatch(path, "expected " + t.to_string() + ", got a list of " +
                                  std::to_string(v.list_size()) + " elements");
      }
      if (v.is_bytes()) {
        if (t.elem->kind != TypeKind::U8) {
          return mismatch(path, "expected " + t.to_string() + ", got a list of bytes");
        }
        return {};
      }
      for (size_t i = 0; i < v.items.size(); i++) {
        auto r = typecheck(v.items[i], *t.elem, path + "[" + std::to_string(i) + "]");
        if (!r) return r;
      }
      return {};
    case TypeKind::Record:
      if (v.items.size() != t.fields.size()) {
        return mismatch(path, "record has " + std::to_string(v.items.size()) + " fields, " +
                                  t.to_string() + " has " + std::to_string(t.fields.size()));
      }
      for (size_t i = 0; i < t.fields.size(); i++) {
        if (i < v.names.size() && v.names[i] != t.fields[i].name) {
          return mismatch(
              path, "field `" + v.names[i] + "` where `" + t.fields[i].name + "` was expected");
        }
        auto r = typecheck(v.items[i], *t.fields[i].type, path + "." + t.fields[i].name);
        if (!r) return r;
      }
      return {};
    case TypeKind::Tuple:
      if (v.items.size() != t.items.size()) {
        return mismatch(path, "tuple has " + std::to_string(v.items.size()) + " items, " +
                                  t.to_string() + " has " + std::to_string(t.items.size()));
      }
      for (size_t i = 0; i < t.items.size(); i++) {
        auto r = typecheck(v.items[i], *t.items[i], path + "." + std::to_string(i));
        if (!r) return r;
      }
      return {};
    case TypeKind::Variant: {
      for (size_t i = 0; i < t.cases.size(); i++) {
        if (t.cases[i].name != v.str) continue;
        if (t.cases[i].type) {
          if (v.items.size() != 1) return mismatch(path, "case `" + v.str + "` needs a payload");
          return typecheck(v.items[0], *t.cases[i].type, path + "." + v.str);
        }
        if (!v.items.empty()) return mismatch(path, "case `" + v.str + "` has no payload");
        return {};
      }
      return mismatch(path, "`" + v.str + "` is not a case of " + t.to_string());
    }
    case TypeKind::Enum:
      for (auto& n : t.names) {
        if (n == v.str) return {};
      }
      return mismatch(path, "`" + v.str + "` is not a case of " + t.to_string());
    case TypeKind::Option:
      if (v.bits > 1) return mismatch(path, "invalid option value");
      if (v.bits == 1) {
        if (v.items.size() != 1) return mismatch(path, "some(...) without a payload");
        return typecheck(v.items[0], *t.elem, path + ".some");
      }
      if (!v.items.empty()) return mismatch(path, "none with a payload");
      return {};
    case TypeKind::Result: {
      if (v.bits > 1) return mismatch(path, "invalid result value");
      const TypePtr& p = v.bits == 0 ? t.ok : t.err;
      const char* which = v.bits == 0 ? "ok" : "err";
      if (p) {
        if (v.items.size() != 1) return mismatch(path, std::string(which) + " needs a payload");
        return typecheck(v.items[0], *p, path + "." + which);
      }
      if (!v.items.empty()) return mismatch(path, std::string(which) + " has no payload");
      return {};
    }
    case TypeKind::Flags: {
      std::set<std::string> seen;
      for (auto& n : v.names) {
        bool found = false;
        for (auto& m : t.names) found = found || m == n;
        if (!found) return mismatch(path, "`" + n + "` is not a flag of " + t.to_string());
        if (!seen.insert(n).second) return mismatch(path, "flag `" + n + "` given twice");
      }
      return {};
    }
    case TypeKind::Own:
    case TypeKind::Borrow:
      if (!v.resource) return mismatch(path, "handle without a resource");
      if (v.resource->type.get() != t.resource.get()) {
        return mismatch(path, "handle of resource type `" +
                                  (v.resource->type ? v.resource->type->name : std::string("?")) +
                                  "` where `" + (t.resource ? t.resource->name : "?") +
                                  "` was expected");
      }
      return {};
    default:
      return {};
  }
}

}  // namespace flotilla::component
