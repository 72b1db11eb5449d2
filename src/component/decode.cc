// Decoder for the component binary format (Binary.md): sections, definitions and types into
// the ast:: structures. Structural checks only; type resolution and validation of index uses
// happen in the resolver.
#include <iterator>
#include <string>

#include "ast.h"
#include "names.h"
#include "try.h"
#include "unicode.h"

namespace flotilla::component::ast {

const char* sort_name(Sort s) {
  switch (s) {
    case Sort::CoreFunc:
      return "core func";
    case Sort::CoreTable:
      return "core table";
    case Sort::CoreMemory:
      return "core memory";
    case Sort::CoreGlobal:
      return "core global";
    case Sort::CoreTag:
      return "core tag";
    case Sort::CoreType:
      return "core type";
    case Sort::CoreModule:
      return "core module";
    case Sort::CoreInstance:
      return "core instance";
    case Sort::Func:
      return "func";
    case Sort::Value:
      return "value";
    case Sort::Type:
      return "type";
    case Sort::Component:
      return "component";
    case Sort::Instance:
      return "instance";
  }
  return "?";
}

const char* canon_name(CanonDef::Kind k) {
  static constexpr const char* kNames[] = {"lift",
                                           "lower",
                                           "resource.new",
                                           "resource.drop",
                                           "resource.rep",
                                           "backpressure.inc",
                                           "backpressure.dec",
                                           "task.return",
                                           "task.cancel",
                                           "context.get",
                                           "context.set",
                                           "subtask.cancel",
                                           "subtask.drop",
                                           "stream.new",
                                           "stream.read",
                                           "stream.write",
                                           "stream.cancel-read",
                                           "stream.cancel-write",
                                           "stream.drop-readable",
                                           "stream.drop-writable",
                                           "future.new",
                                           "future.read",
                                           "future.write",
                                           "future.cancel-read",
                                           "future.cancel-write",
                                           "future.drop-readable",
                                           "future.drop-writable",
                                           "error-context.new",
                                           "error-context.debug-message",
                                           "error-context.drop",
                                           "waitable-set.new",
                                           "waitable-set.wait",
                                           "waitable-set.poll",
                                           "waitable-set.drop",
                                           "waitable.join",
                                           "thread.index",
                                           "thread.new-indirect",
                                           "thread.resume-later",
                                           "thread.suspend",
                                           "thread.yield",
                                           "thread.suspend-then-resume",
                                           "thread.yield-then-resume",
                                           "thread.suspend-then-promote",
                                           "thread.yield-then-promote",
                                           "thread.spawn-ref",
                                           "thread.spawn-indirect",
                                           "thread.available-parallelism"};
  static_assert(std::size(kNames) == size_t(CanonDef::Kind::ThreadAvailableParallelism) + 1);
  return kNames[static_cast<size_t>(k)];
}

namespace {

constexpr int kMaxNesting = 100;  // nested components / types
constexpr uint32_t kMaxFixedListLength = (1u << 28) - 1;

class Reader {
 public:
  Reader(std::span<const uint8_t> b, size_t base) : b_(b), base_(base) {}

  size_t pos() const { return pos_; }
  size_t abs() const { return base_ + pos_; }
  bool done() const { return pos_ >= b_.size(); }
  size_t remaining() const { return b_.size() - pos_; }

  Unexpected<Error> fail(const std::string& what) const {
    Error e{ErrorKind::Malformed, {}, {}, {}, {}};
    e.offset = abs();
    e.message = "malformed component: " + what + " (at byte offset " + std::to_string(abs()) + ")";
    return Unexpected<Error>(std::move(e));
  }

  Result<uint8_t> byte() {
    if (pos_ >= b_.size()) return fail("unexpected end");
    return b_[pos_++];
  }
  Result<uint8_t> peek() const {
    if (pos_ >= b_.size()) return fail("unexpected end");
    return b_[pos_];
  }
  Result<uint32_t> u32() {
    uint64_t result = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      auto b = byte();
      if (!b) return Unexpected(b.error());
      result |= uint64_t(*b & 0x7f) << shift;
      if (!(*b & 0x80)) {
        if (result > 0xffffffffu) return fail("integer too large");
        return static_cast<uint32_t>(result);
      }
    }
    return fail("integer representation too long");
  }
  Result<int64_t> s33() {
    int64_t result = 0;
    int shift = 0;
    uint8_t b = 0;
    do {
      auto r = byte();
      if (!r) return Unexpected(r.error());
      b = *r;
      result |= int64_t(b & 0x7f) << shift;
      shift += 7;
      if (shift > 35 && (b & 0x80)) return fail("integer representation too long");
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) result |= -(int64_t(1) << shift);
    return result;
  }
  Result<std::string> name() {
    auto len = u32();
    if (!len) return Unexpected(len.error());
    if (*len > remaining()) return fail("name extends past the end");
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), *len);
    if (!unicode::valid_utf8(s)) return fail("name is not valid UTF-8");
    pos_ += *len;
    return s;
  }
  Result<std::span<const uint8_t>> bytes(size_t n) {
    if (n > remaining()) return fail("section extends past the end");
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::span<const uint8_t> b_;
  size_t base_;
  size_t pos_ = 0;
};

std::optional<TypeKind> prim_of(int64_t code) {
  switch (code) {
    case -1:
      return TypeKind::Bool;
    case -2:
      return TypeKind::S8;
    case -3:
      return TypeKind::U8;
    case -4:
      return TypeKind::S16;
    case -5:
      return TypeKind::U16;
    case -6:
      return TypeKind::S32;
    case -7:
      return TypeKind::U32;
    case -8:
      return TypeKind::S64;
    case -9:
      return TypeKind::U64;
    case -10:
      return TypeKind::F32;
    case -11:
      return TypeKind::F64;
    case -12:
      return TypeKind::Char;
    case -13:
      return TypeKind::String;
    case -0x1c:  // 0x64 error-context
      return TypeKind::ErrorContext;
    default:
      return std::nullopt;
  }
}

Result<ValTypeRef> read_valtype(Reader& r) {
  TRY(v, r.s33());
  if (v >= 0) {
    ValTypeRef t;
    t.primitive = false;
    t.index = static_cast<uint32_t>(v);
    return t;
  }
  auto p = prim_of(v);
  if (!p) {
    if (v == -28) return r.fail("error-context types are not supported");
    return r.fail("invalid value type");
  }
  ValTypeRef t;
  t.prim = *p;
  return t;
}

Result<std::optional<ValTypeRef>> read_opt_valtype(Reader& r) {
  TRY(flag, r.byte());
  if (flag == 0) return std::optional<ValTypeRef>{};
  if (flag != 1) return r.fail("invalid optional flag");
  TRY(t, read_valtype(r));
  return std::optional<ValTypeRef>(t);
}

Result<Sort> read_core_sort(Reader& r) {
  TRY(b, r.byte());
  switch (b) {
    case 0x00:
      return Sort::CoreFunc;
    case 0x01:
      return Sort::CoreTable;
    case 0x02:
      return Sort::CoreMemory;
    case 0x03:
      return Sort::CoreGlobal;
    case 0x04:
      return Sort::CoreTag;
    case 0x10:
      return Sort::CoreType;
    case 0x11:
      return Sort::CoreModule;
    case 0x12:
      return Sort::CoreInstance;
    default:
      return r.fail("invalid core sort");
  }
}

Result<Sort> read_sort(Reader& r) {
  TRY(b, r.byte());
  switch (b) {
    case 0x00:
      return read_core_sort(r);
    case 0x01:
      return Sort::Func;
    case 0x02:
      return Sort::Value;
    case 0x03:
      return Sort::Type;
    case 0x04:
      return Sort::Component;
    case 0x05:
      return Sort::Instance;
    default:
      return r.fail("invalid sort");
  }
}

// An extern name and its attributes: 0x00 name | 0x01 name | 0x02 name vec(attribute), an
// attribute being 0x00 implements | 0x01 (reserved) | 0x02 external-id, each at most once.
struct ExternName {
  std::string name;
  std::optional<std::string> implements;
};

Result<ExternName> read_extern_name(Reader& r) {
  ExternName out;
  TRY(tag, r.byte());
  if (tag > 2) return r.fail("invalid name prefix");
  TRY(n, r.name());
  out.name = std::move(n);
  if (tag == 2) {
    TRY(count, r.u32());
    bool seen[3] = {false, false, false};
    for (uint32_t i = 0; i < count; i++) {
      TRY(kind, r.byte());
      if (kind > 2) return r.fail("invalid name attribute");
      if (seen[kind]) {
        return r.fail(kind == 0 ? "duplicate 'implements' option in name"
                                : "duplicate option in name");
      }
      seen[kind] = true;
      TRY(s, r.name());
      if (kind == 0) out.implements = std::move(s);
    }
  }
  return out;
}

// `implements` names the interface a plainly named instance implements.
Result<void> check_implements(const ExternName& n, bool instance) {
  if (!n.implements) return {};
  auto bad = [](const std::string& why) {
    return make_error(ErrorKind::Invalid, "invalid component: " + why);
  };
  if (!instance) return bad("only instances can have an `implements` attribute");
  if (!names::is_label(n.name)) return bad("name `" + n.name + "` is not valid with `implements`");
  const std::string& v = *n.implements;
  if (!names::is_extern_name(v)) return bad("`implements` value `" + v + "` is not a valid name");
  if (v.find(':') == std::string::npos || v[0] == '[')
    return bad("`implements` value `" + v + "` must be an interface name");
  return {};
}

Result<ExternTypeDef> read_externtype(Reader& r) {
  ExternTypeDef et;
  TRY(k, r.byte());
  et.kind = k;
  switch (k) {
    case 0x00: {
      TRY(b, r.byte());
      if (b != 0x11) return r.fail("invalid core module extern type");
      TRY(i, r.u32());
      et.index = i;
      return et;
    }
    case 0x01:
    case 0x04:
    case 0x05: {
      TRY(i, r.u32());
      et.index = i;
      return et;
    }
    case 0x02: {
      TRY(b, r.byte());
      if (b == 0) {
        TRY(i, r.u32());
        et.index = i;
      } else if (b == 1) {
        TRY(t, read_valtype(r));
        et.value = t;
      } else {
        return r.fail("invalid value bound");
      }
      return et;
    }
    case 0x03: {
      TRY(b, r.byte());
      if (b == 0) {
        TRY(i, r.u32());
        et.index = i;
      } else if (b == 1) {
        et.sub_resource = true;
      } else {
        return r.fail("invalid type bound");
      }
      return et;
    }
    default:
      return r.fail("invalid extern type");
  }
}

// --- core types: function types and module types (GC types are not supported)
Result<engine::ValType> read_core_valtype(Reader& r) {
  TRY(b, r.byte());
  switch (b) {
    case 0x7f:
      return engine::ValType::I32;
    case 0x7e:
      return engine::ValType::I64;
    case 0x7d:
      return engine::ValType::F32;
    case 0x7c:
      return engine::ValType::F64;
    case 0x7b:
      return engine::ValType::V128;
    case 0x70:
      return engine::ValType::FuncRef;
    case 0x6f:
      return engine::ValType::ExternRef;
    default:
      return r.fail("unsupported core value type");
  }
}
Result<void> read_limits(Reader& r, engine::Limits& l, bool* shared, bool* is64) {
  TRY(flags, r.byte());
  if (flags > 7) return r.fail("invalid limits flags");
  if (shared) *shared = (flags & 2) != 0;
  if (is64) *is64 = (flags & 4) != 0;
  TRY(a, r.u32());
  l.min = a;
  if (flags & 1) {
    TRY(b, r.u32());
    l.max = b;
  }
  return {};
}
Result<CoreExternDef> read_core_externtype(Reader& r) {
  CoreExternDef d;
  TRY(k, r.byte());
  switch (k) {
    case 0x00: {
      d.kind = engine::ExternKind::Func;
      TRY(i, r.u32());
      d.type_index = i;
      return d;
    }
    case 0x01: {
      d.kind = engine::ExternKind::Table;
      TRY(t, read_core_valtype(r));
      if (t != engine::ValType::FuncRef && t != engine::ValType::ExternRef)
        return r.fail("invalid table element type");
      d.table.element = t;
      CHECK(read_limits(r, d.table.limits, nullptr, nullptr));
      return d;
    }
    case 0x02:
      d.kind = engine::ExternKind::Memory;
      CHECK(read_limits(r, d.memory.limits, &d.shared, &d.memory64));
      return d;
    case 0x03: {
      d.kind = engine::ExternKind::Global;
      TRY(t, read_core_valtype(r));
      d.global.content = t;
      TRY(m, r.byte());
      if (m > 1) return r.fail("invalid global mutability");
      d.global.mutable_ = m == 1;
      return d;
    }
    case 0x04: {
      d.kind = engine::ExternKind::Tag;
      TRY(z, r.byte());
      if (z != 0) return r.fail("invalid tag attribute");
      TRY(i, r.u32());
      d.type_index = i;
      return d;
    }
    default:
      return r.fail("invalid core extern type");
  }
}
std::string hex_byte(uint8_t b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  if (b >= 16) s += kDigits[b >> 4];
  s += kDigits[b & 15];
  return s;
}

// The composite type of a core (GC) subtype: only function types (0x60) are modelled.
Result<void> read_core_comptype(Reader& r, CoreTypeDef& t) {
  TRY(b, r.byte());
  if (b == 0x5e || b == 0x5f) return r.fail("unsupported core type (GC types are not supported)");
  if (b != 0x60) return r.fail("invalid leading byte (0x" + hex_byte(b) + ") for core type");
  for (int side = 0; side < 2; side++) {
    TRY(n, r.u32());
    if (n > r.remaining()) return r.fail("vector length too large");
    for (uint32_t i = 0; i < n; i++) {
      TRY(v, read_core_valtype(r));
      (side == 0 ? t.func.params : t.func.results).push_back(v);
    }
  }
  return {};
}

// A core type. `in_module_type`: a declaration of a core module type, where 0x50 starts a
// non-final subtype (GC); elsewhere 0x50 starts a module type and a non-final subtype takes a
// 0x00 prefix (Binary.md). A subtype without supertypes is its function type.
Result<std::shared_ptr<CoreTypeDef>> read_core_type(Reader& r, int depth,
                                                    bool in_module_type = false) {
  if (depth > kMaxNesting) return r.fail("types nested too deeply");
  auto t = std::make_shared<CoreTypeDef>();
  TRY(b, r.peek());
  if (b == 0x60 || b == 0x5e || b == 0x5f) {
    CHECK(read_core_comptype(r, *t));
    return t;
  }
  CHECK(r.byte());
  bool sub = b == 0x4f || (in_module_type && b == 0x50);
  if (!in_module_type && b == 0x00) {
    TRY(b2, r.byte());
    if (b2 != 0x50) return r.fail("invalid leading byte (0x" + hex_byte(b2) + ") for core type");
    sub = true;
  }
  if (sub) {
    TRY(n, r.u32());
    if (n > 1) return r.fail("a core subtype has at most one supertype");
    if (n == 1) return r.fail("unsupported core type (GC supertypes are not supported)");
    CHECK(read_core_comptype(r, *t));
    return t;
  }
  if (b == 0x4e) return r.fail("unsupported core type (GC recursion groups are not supported)");
  if (b == 0x50) {
    t->module = true;
    TRY(n, r.u32());
    if (n > r.remaining()) return r.fail("vector length too large");
    for (uint32_t i = 0; i < n; i++) {
      CoreModuleDecl d;
      TRY(k, r.byte());
      switch (k) {
        case 0x00: {
          d.kind = CoreModuleDecl::Kind::Import;
          TRY(m, r.name());
          TRY(f, r.name());
          d.module = std::move(m);
          d.name = std::move(f);
          TRY(e, read_core_externtype(r));
          d.ext = e;
          break;
        }
        case 0x01: {
          d.kind = CoreModuleDecl::Kind::Type;
          TRY(sub, read_core_type(r, depth + 1, /*in_module_type=*/true));
          if (sub->module) return r.fail("module types cannot be nested in module types");
          d.type = std::move(sub);
          break;
        }
        case 0x02: {
          d.kind = CoreModuleDecl::Kind::Alias;
          TRY(s, r.byte());
          TRY(o, r.byte());
          if (s != 0x10 || o != 0x01) return r.fail("invalid core alias in module type");
          TRY(ct, r.u32());
          TRY(idx, r.u32());
          d.count = ct;
          d.index = idx;
          break;
        }
        case 0x03: {
          d.kind = CoreModuleDecl::Kind::Export;
          TRY(nm, r.name());
          d.name = std::move(nm);
          TRY(e, read_core_externtype(r));
          d.ext = e;
          break;
        }
        default:
          return r.fail("invalid module type declaration");
      }
      t->decls.push_back(std::move(d));
    }
    return t;
  }
  return r.fail("unsupported core type (GC types are not supported)");
}

Result<AliasDef> read_alias(Reader& r) {
  AliasDef a;
  TRY(sort, read_sort(r));
  a.sort = sort;
  TRY(tag, r.byte());
  switch (tag) {
    case 0x00: {
      a.kind = AliasDef::Kind::Export;
      TRY(i, r.u32());
      TRY(n, r.name());
      a.instance = i;
      a.name = std::move(n);
      break;
    }
    case 0x01: {
      a.kind = AliasDef::Kind::CoreExport;
      TRY(i, r.u32());
      TRY(n, r.name());
      a.instance = i;
      a.name = std::move(n);
      break;
    }
    case 0x02: {
      a.kind = AliasDef::Kind::Outer;
      TRY(ct, r.u32());
      TRY(idx, r.u32());
      a.count = ct;
      a.index = idx;
      if (sort != Sort::Type && sort != Sort::CoreType && sort != Sort::CoreModule &&
          sort != Sort::Component) {
        return r.fail("invalid outer alias sort");
      }
      break;
    }
    default:
      return r.fail("invalid alias target");
  }
  return a;
}

Result<std::vector<Labeled>> read_labeled(Reader& r, bool optional_type) {
  TRY(n, r.u32());
  if (n > r.remaining()) return r.fail("vector length too large");
  std::vector<Labeled> out;
  for (uint32_t i = 0; i < n; i++) {
    Labeled l;
    TRY(label, r.name());
    l.label = std::move(label);
    if (optional_type) {
      TRY(t, read_opt_valtype(r));
      l.type = t;
      TRY(z, r.byte());
      if (z != 0) return r.fail("invalid variant case refinement");
    } else {
      TRY(t, read_valtype(r));
      l.type = t;
    }
    out.push_back(std::move(l));
  }
  return out;
}

Result<std::vector<std::string>> read_names(Reader& r) {
  TRY(n, r.u32());
  if (n > r.remaining()) return r.fail("vector length too large");
  std::vector<std::string> out;
  for (uint32_t i = 0; i < n; i++) {
    TRY(s, r.name());
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::shared_ptr<TypeDef>> read_type(Reader& r, int depth);

Result<std::vector<Decl>> read_decls(Reader& r, bool component, int depth) {
  TRY(n, r.u32());
  if (n > r.remaining()) return r.fail("vector length too large");
  std::vector<Decl> out;
  for (uint32_t i = 0; i < n; i++) {
    Decl d;
    TRY(k, r.byte());
    switch (k) {
      case 0x00: {
        d.kind = Decl::Kind::CoreType;
        TRY(ct, read_core_type(r, depth + 1));
        d.core_type = std::move(ct);
        break;
      }
      case 0x01: {
        d.kind = Decl::Kind::Type;
        TRY(t, read_type(r, depth + 1));
        if (t->kind == TypeDef::Kind::Resource) {
          return r.fail("resource type definitions are not allowed in type declarations");
        }
        d.type = std::move(t);
        break;
      }
      case 0x02: {
        d.kind = Decl::Kind::Alias;
        TRY(a, read_alias(r));
        d.alias = std::move(a);
        break;
      }
      case 0x03: {
        if (!component) return r.fail("import declaration in an instance type");
        d.kind = Decl::Kind::Import;
        TRY(nm, read_extern_name(r));
        TRY(et, read_externtype(r));
        CHECK(check_implements(nm, et.kind == 0x05));
        d.name = std::move(nm.name);
        d.extern_type = et;
        break;
      }
      case 0x04: {
        d.kind = Decl::Kind::Export;
        TRY(nm, read_extern_name(r));
        TRY(et, read_externtype(r));
        CHECK(check_implements(nm, et.kind == 0x05));
        d.name = std::move(nm.name);
        d.extern_type = et;
        break;
      }
      default:
        return r.fail("invalid type declaration");
    }
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<Labeled>> read_resultlist(Reader& r) {
  TRY(tag, r.byte());
  if (tag == 0x00) {
    TRY(rt, read_valtype(r));
    return std::vector<Labeled>{Labeled{"", rt}};
  }
  if (tag == 0x01) return read_labeled(r, false);
  return r.fail("invalid result list");
}

Result<std::shared_ptr<TypeDef>> read_type(Reader& r, int depth) {
  if (depth > kMaxNesting) return r.fail("types nested too deeply");
  auto t = std::make_shared<TypeDef>();
  TRY(first, r.peek());
  if (first == 0x3f) {  // resource (0x3f is not a negative SLEB128, so read it as a byte)
    CHECK(r.byte());
    t->kind = TypeDef::Kind::Resource;
    TRY(rep, r.byte());
    if (rep != 0x7f) return r.fail("resource representation must be i32");
    TRY(flag, r.byte());
    if (flag == 1) {
      TRY(f, r.u32());
      t->dtor = f;
    } else if (flag != 0) {
      return r.fail("invalid resource destructor flag");
    }
    return t;
  }
  TRY(code, r.s33());
  if (auto p = prim_of(code)) {
    t->val.kind = *p;
    return t;
  }
  switch (code) {
    case -0x0e: {  // 0x72 record
      t->val.kind = TypeKind::Record;
      TRY(f, read_labeled(r, false));
      if (f.empty()) return r.fail("record type must have at least one field");
      t->val.fields = std::move(f);
      return t;
    }
    case -0x0f: {  // 0x71 variant
      t->val.kind = TypeKind::Variant;
      TRY(c, read_labeled(r, true));
      if (c.empty()) return r.fail("variant type must have at least one case");
      t->val.fields = std::move(c);
      return t;
    }
    case -0x10: {  // 0x70 list
      t->val.kind = TypeKind::List;
      TRY(e, read_valtype(r));
      t->val.a = e;
      return t;
    }
    case -0x19: {  // 0x67 fixed-size list
      t->val.kind = TypeKind::List;
      TRY(e, read_valtype(r));
      TRY(n, r.u32());
      if (n == 0) return r.fail("fixed-size list length must be at least 1");
      if (n > kMaxFixedListLength) return r.fail("fixed-size list length is too large");
      t->val.a = e;
      t->val.length = n;
      return t;
    }
    case -0x11: {  // 0x6f tuple
      t->val.kind = TypeKind::Tuple;
      TRY(n, r.u32());
      if (n > r.remaining()) return r.fail("vector length too large");
      if (n == 0) return r.fail("tuple type must have at least one element");
      for (uint32_t i = 0; i < n; i++) {
        TRY(e, read_valtype(r));
        t->val.items.push_back(e);
      }
      return t;
    }
    case -0x12: {  // 0x6e flags
      t->val.kind = TypeKind::Flags;
      TRY(n, read_names(r));
      if (n.empty()) return r.fail("flags type must have at least one flag");
      if (n.size() > 32) return r.fail("cannot have more than 32 flags");
      t->val.names = std::move(n);
      return t;
    }
    case -0x13: {  // 0x6d enum
      t->val.kind = TypeKind::Enum;
      TRY(n, read_names(r));
      if (n.empty()) return r.fail("enum type must have at least one case");
      t->val.names = std::move(n);
      return t;
    }
    case -0x15: {  // 0x6b option
      t->val.kind = TypeKind::Option;
      TRY(e, read_valtype(r));
      t->val.a = e;
      return t;
    }
    case -0x16: {  // 0x6a result
      t->val.kind = TypeKind::Result;
      TRY(a, read_opt_valtype(r));
      TRY(b, read_opt_valtype(r));
      t->val.a = a;
      t->val.b = b;
      return t;
    }
    case -0x17:    // 0x69 own
    case -0x18: {  // 0x68 borrow
      t->val.kind = code == -0x17 ? TypeKind::Own : TypeKind::Borrow;
      TRY(i, r.u32());
      t->val.index = i;
      return t;
    }
    case -0x1a:    // 0x66 stream
    case -0x1b: {  // 0x65 future
      t->val.kind = code == -0x1a ? TypeKind::Stream : TypeKind::Future;
      TRY(e, read_opt_valtype(r));
      t->val.a = e;
      return t;
    }
    case -0x1d: {  // 0x63 map
      t->val.kind = TypeKind::List;
      t->val.map = true;
      TRY(k, read_valtype(r));
      TRY(v, read_valtype(r));
      t->val.a = k;
      t->val.b = v;
      return t;
    }
    case -0x40:    // 0x40 func
    case -0x3d: {  // 0x43 async func
      t->kind = TypeDef::Kind::Func;
      t->func.async = code == -0x3d;
      TRY(ps, read_labeled(r, false));
      t->func.params = std::move(ps);
      TRY(rs, read_resultlist(r));
      t->func.results = std::move(rs);
      return t;
    }
    case -0x3f:    // 0x41 component
    case -0x3e: {  // 0x42 instance
      bool comp = code == -0x3f;
      t->kind = comp ? TypeDef::Kind::Component : TypeDef::Kind::Instance;
      TRY(d, read_decls(r, comp, depth));
      t->decls = std::move(d);
      return t;
    }
    default:
      return r.fail("invalid type");
  }
}

Result<CanonOpts> read_opts(Reader& r) {
  CanonOpts o;
  TRY(n, r.u32());
  bool seen_enc = false;
  for (uint32_t i = 0; i < n; i++) {
    TRY(k, r.byte());
    switch (k) {
      case 0x00:
      case 0x01:
      case 0x02:
        if (seen_enc) return r.fail("canonical encoding option conflicts");
        seen_enc = true;
        o.encoding = static_cast<CanonOpts::Encoding>(k);
        break;
      case 0x03: {
        if (o.memory) return r.fail("canonical option `memory` is specified more than once");
        TRY(m, r.u32());
        o.memory = m;
        break;
      }
      case 0x04: {
        if (o.realloc) return r.fail("canonical option `realloc` is specified more than once");
        TRY(f, r.u32());
        o.realloc = f;
        break;
      }
      case 0x05: {
        if (o.post_return) {
          return r.fail("canonical option `post-return` is specified more than once");
        }
        TRY(f, r.u32());
        o.post_return = f;
        break;
      }
      case 0x06:
        if (o.async) return r.fail("canonical option `async` is specified more than once");
        o.async = true;
        break;
      case 0x07: {
        if (o.callback) return r.fail("canonical option `callback` is specified more than once");
        TRY(f, r.u32());
        o.callback = f;
        break;
      }
      default:
        return r.fail("invalid canonical option");
    }
  }
  return o;
}

Result<bool> read_flag(Reader& r, const char* what) {
  TRY(b, r.byte());
  if (b > 1) return r.fail(std::string("invalid ") + what + " immediate");
  return b == 1;
}

// The built-ins of Binary.md `canon` other than lift, lower and resource.* (opcode `k`).
Result<void> read_builtin(Reader& r, uint8_t k, CanonDef& c) {
  using K = CanonDef::Kind;
  // Built-ins with a stream or future type immediate, by opcode.
  static constexpr K kTyped[] = {K::StreamNew,          K::StreamRead,        K::StreamWrite,
                                 K::StreamCancelRead,   K::StreamCancelWrite, K::StreamDropReadable,
                                 K::StreamDropWritable, K::FutureNew,         K::FutureRead,
                                 K::FutureWrite,        K::FutureCancelRead,  K::FutureCancelWrite,
                                 K::FutureDropReadable, K::FutureDropWritable};
  if (k >= 0x0e && k <= 0x1b) {
    c.kind = kTyped[k - 0x0e];
    TRY(t, r.u32());
    c.type = t;
    switch (c.kind) {
      case K::StreamRead:
      case K::StreamWrite:
      case K::FutureRead:
      case K::FutureWrite: {
        TRY(o, read_opts(r));
        c.opts = o;
        break;
      }
      case K::StreamCancelRead:
      case K::StreamCancelWrite:
      case K::FutureCancelRead:
      case K::FutureCancelWrite: {
        TRY(f, read_flag(r, "async"));
        c.flag = f;
        break;
      }
      default:
        break;
    }
    return {};
  }
  switch (k) {
    case 0x05:
      c.kind = K::TaskCancel;
      return {};
    case 0x06: {
      c.kind = K::SubtaskCancel;
      TRY(f, read_flag(r, "async"));
      c.flag = f;
      return {};
    }
    case 0x09: {
      c.kind = K::TaskReturn;
      TRY(rs, read_resultlist(r));
      c.results = std::move(rs);
      TRY(o, read_opts(r));
      c.opts = o;
      return {};
    }
    case 0x0a:
    case 0x0b: {
      c.kind = k == 0x0a ? K::ContextGet : K::ContextSet;
      TRY(t, r.byte());
      if (t == 0x7f) {
        c.core_type = engine::ValType::I32;
      } else if (t == 0x7e) {
        c.core_type = engine::ValType::I64;
      } else {
        return r.fail("invalid context value type");
      }
      TRY(i, r.u32());
      c.index = i;
      return {};
    }
    case 0x0c: {
      c.kind = K::ThreadYield;
      TRY(f, read_flag(r, "cancel"));
      c.flag = f;
      return {};
    }
    case 0x0d:
      c.kind = K::SubtaskDrop;
      return {};
    case 0x1c:
    case 0x1d: {
      c.kind = k == 0x1c ? K::ErrorContextNew : K::ErrorContextDebugMessage;
      TRY(o, read_opts(r));
      c.opts = o;
      return {};
    }
    case 0x1e:
      c.kind = K::ErrorContextDrop;
      return {};
    case 0x1f:
      c.kind = K::WaitableSetNew;
      return {};
    case 0x20:
    case 0x21: {
      c.kind = k == 0x20 ? K::WaitableSetWait : K::WaitableSetPoll;
      TRY(f, read_flag(r, "cancel"));
      c.flag = f;
      TRY(m, r.u32());
      c.opts.memory = m;
      return {};
    }
    case 0x22:
      c.kind = K::WaitableSetDrop;
      return {};
    case 0x23:
      c.kind = K::WaitableJoin;
      return {};
    case 0x24:
      c.kind = K::BackpressureInc;
      return {};
    case 0x25:
      c.kind = K::BackpressureDec;
      return {};
    case 0x26:
      c.kind = K::ThreadIndex;
      return {};
    case 0x27: {
      c.kind = K::ThreadNewIndirect;
      TRY(t, r.u32());
      c.type = t;
      TRY(tbl, r.u32());
      c.index = tbl;
      return {};
    }
    case 0x28:
      c.kind = K::ThreadResumeLater;
      return {};
    case 0x29:
    case 0x2a:
    case 0x2b:
    case 0x2c:
    case 0x2d: {
      static constexpr K kThread[] = {K::ThreadSuspend, K::ThreadSuspendThenResume,
                                      K::ThreadYieldThenResume, K::ThreadSuspendThenPromote,
                                      K::ThreadYieldThenPromote};
      c.kind = kThread[k - 0x29];
      TRY(f, read_flag(r, "cancel"));
      c.flag = f;
      return {};
    }
    case 0x40:
    case 0x41: {
      c.kind = k == 0x40 ? K::ThreadSpawnRef : K::ThreadSpawnIndirect;
      TRY(f, read_flag(r, "shared"));
      c.flag = f;
      TRY(t, r.u32());
      c.type = t;
      if (k == 0x41) {
        TRY(tbl, r.u32());
        c.index = tbl;
      }
      return {};
    }
    case 0x42: {
      c.kind = K::ThreadAvailableParallelism;
      TRY(f, read_flag(r, "shared"));
      c.flag = f;
      return {};
    }
    default:
      return r.fail("invalid canonical function opcode " + std::to_string(k));
  }
}

Result<std::vector<CoreExportRef>> read_inline_exports(Reader& r, bool core) {
  TRY(n, r.u32());
  if (n > r.remaining()) return r.fail("vector length too large");
  std::vector<CoreExportRef> out;
  for (uint32_t i = 0; i < n; i++) {
    CoreExportRef e;
    if (core) {
      TRY(nm, r.name());
      e.name = std::move(nm);
      TRY(s, read_core_sort(r));
      e.sort = s;
    } else {
      TRY(nm, read_extern_name(r));
      TRY(s, read_sort(r));
      CHECK(check_implements(nm, s == Sort::Instance));
      e.name = std::move(nm.name);
      e.sort = s;
    }
    TRY(idx, r.u32());
    e.index = idx;
    out.push_back(std::move(e));
  }
  return out;
}

Result<void> read_section(Reader& r, uint8_t id, Component& c, int depth) {
  auto vec_items = [&](auto&& one) -> Result<void> {
    TRY(n, r.u32());
    if (n > r.remaining()) return r.fail("vector length too large");
    for (uint32_t i = 0; i < n; i++) {
      Item it;
      it.offset = r.abs();
      CHECK(one(it));
      c.items.push_back(std::move(it));
    }
    return {};
  };
  switch (id) {
    case 0: {  // custom
      TRY(nm, r.name());
      (void)nm;
      return {};  // remaining bytes skipped by the caller
    }
    case 1: {  // core module
      Item it;
      it.kind = Item::Kind::CoreModule;
      it.offset = r.abs();
      it.module.offset = r.abs();
      TRY(all, r.bytes(r.remaining()));
      it.module.bytes = all;
      c.items.push_back(std::move(it));
      return {};
    }
    case 2:
      return vec_items([&](Item& it) -> Result<void> {
        it.kind = Item::Kind::CoreInstance;
        TRY(tag, r.byte());
        if (tag == 0x00) {
          it.core_instance.instantiate = true;
          TRY(m, r.u32());
          it.core_instance.module = m;
          TRY(n, r.u32());
          if (n > r.remaining()) return r.fail("vector length too large");
          for (uint32_t i = 0; i < n; i++) {
            TRY(nm, r.name());
            TRY(s, r.byte());
            if (s != 0x12) return r.fail("core instantiation arguments must be instances");
            TRY(idx, r.u32());
            it.core_instance.args.emplace_back(std::move(nm), idx);
          }
        } else if (tag == 0x01) {
          it.core_instance.instantiate = false;
          TRY(e, read_inline_exports(r, true));
          it.core_instance.exports = std::move(e);
        } else {
          return r.fail("invalid core instance");
        }
        return {};
      });
    case 3:
      return vec_items([&](Item& it) -> Result<void> {
        it.kind = Item::Kind::CoreType;
        TRY(ct, read_core_type(r, depth));
        it.core_type = std::move(ct);
        return {};
      });
    case 4: {
      Item it;
      it.kind = Item::Kind::Component;
      it.offset = r.abs();
      TRY(all, r.bytes(r.remaining()));
      TRY(sub, decode(all, it.offset, depth + 1));
      it.component = std::move(sub);
      c.items.push_back(std::move(it));
      return {};
    }
    case 5:
      return vec_items([&](Item& it) -> Result<void> {
        it.kind = Item::Kind::Instance;
        TRY(tag, r.byte());
        if (tag == 0x00) {
          it.instance.instantiate = true;
          TRY(ci, r.u32());
          it.instance.component = ci;
          TRY(n, r.u32());
          if (n > r.remaining()) return r.fail("vector length too large");
          for (uint32_t i = 0; i < n; i++) {
            CoreExportRef a;
            TRY(nm, r.name());
            a.name = std::move(nm);
            TRY(s, read_sort(r));
            a.sort = s;
            TRY(idx, r.u32());
            a.index = idx;
            it.instance.args.push_back(std::move(a));
          }
        } else if (tag == 0x01) {
          it.instance.instantiate = false;
          TRY(e, read_inline_exports(r, false));
          it.instance.exports = std::move(e);
        } else {
          return r.fail("invalid instance");
        }
        return {};
      });
    case 6:
      return vec_items([&](Item& it) -> Result<void> {
        it.kind = Item::Kind::Alias;
        TRY(a, read_alias(r));
        it.alias = std::move(a);
        return {};
      });
    case 7:
      return vec_items([&](Item& it) -> Result<void> {
        it.kind = Item::Kind::Type;
        TRY(t, read_type(r, depth));
        it.type = std::move(t);
        return {};
      });
    case 8:
      return vec_items([&](Item& it) -> Result<void> {
        it.kind = Item::Kind::Canon;
        TRY(k, r.byte());
        switch (k) {
          case 0x00: {
            TRY(z, r.byte());
            if (z != 0x00) return r.fail("invalid canon lift");
            it.canon.kind = CanonDef::Kind::Lift;
            TRY(f, r.u32());
            it.canon.func = f;
            TRY(o, read_opts(r));
            it.canon.opts = o;
            TRY(t, r.u32());
            it.canon.type = t;
            return {};
          }
          case 0x01: {
            TRY(z, r.byte());
            if (z != 0x00) return r.fail("invalid canon lower");
            it.canon.kind = CanonDef::Kind::Lower;
            TRY(f, r.u32());
            it.canon.func = f;
            TRY(o, read_opts(r));
            it.canon.opts = o;
            return {};
          }
          case 0x02:
          case 0x03:
          case 0x04: {
            it.canon.kind = k == 2   ? CanonDef::Kind::ResourceNew
                            : k == 3 ? CanonDef::Kind::ResourceDrop
                                     : CanonDef::Kind::ResourceRep;
            TRY(t, r.u32());
            it.canon.type = t;
            return {};
          }
          default:
            return read_builtin(r, k, it.canon);
        }
      });
    case 9:
      return r.fail("start functions (value imports) are not supported");
    case 10:
      return vec_items([&](Item& it) -> Result<void> {
        it.kind = Item::Kind::Import;
        TRY(nm, read_extern_name(r));
        TRY(et, read_externtype(r));
        CHECK(check_implements(nm, et.kind == 0x05));
        it.import.name = std::move(nm.name);
        it.import.type = et;
        return {};
      });
    case 11:
      return vec_items([&](Item& it) -> Result<void> {
        it.kind = Item::Kind::Export;
        TRY(nm, read_extern_name(r));
        TRY(s, read_sort(r));
        CHECK(check_implements(nm, s == Sort::Instance));
        it.export_.name = std::move(nm.name);
        it.export_.sort = s;
        TRY(idx, r.u32());
        it.export_.index = idx;
        TRY(flag, r.byte());
        if (flag == 1) {
          TRY(et, read_externtype(r));
          it.export_.type = et;
        } else if (flag != 0) {
          return r.fail("invalid export type flag");
        }
        return {};
      });
    case 12:
      return r.fail("value definitions are not supported");
    default:
      return r.fail("unknown section id " + std::to_string(id));
  }
}

}  // namespace

Result<std::shared_ptr<Component>> decode(std::span<const uint8_t> bytes, size_t base, int depth) {
  Reader r(bytes, base);
  if (depth > kMaxNesting) return r.fail("components nested too deeply");
  static constexpr uint8_t kMagic[4] = {0x00, 0x61, 0x73, 0x6d};
  if (bytes.size() < 8) return r.fail("too short for a component header");
  for (int i = 0; i < 4; i++) {
    if (bytes[i] != kMagic[i]) return r.fail("magic header not detected");
  }
  if (bytes[6] != 0x01 || bytes[7] != 0x00) {
    if (bytes[6] == 0 && bytes[7] == 0) return r.fail("this is a core module, not a component");
    return r.fail("unknown binary layer");
  }
  if (bytes[4] != 0x0d || bytes[5] != 0x00) return r.fail("unknown component binary version");
  CHECK(r.bytes(8));
  auto c = std::make_shared<Component>();
  c->offset = base;
  while (!r.done()) {
    TRY(id, r.byte());
    TRY(size, r.u32());
    TRY(body, r.bytes(size));
    Reader sr(body, r.abs() - size);
    CHECK(read_section(sr, id, *c, depth));
    if (id != 0 && !sr.done()) return sr.fail("unexpected content after section");
  }
  return c;
}

}  // namespace flotilla::component::ast
