// The canonical ABI (CanonicalABI.md): layout, flattening, lifting and lowering of component
// values between Vals and core values / linear memory, string transcoding, handles, and the
// two directions of calls: `canon lift` (invoke) and `canon lower` (make_lowered).
//
// Error handling: inside this file, a trap while lifting or lowering is raised as the private
// exception AbiTrap, which unwinds only C++ frames of this file (guest code is always entered
// through engine::Func::call, which returns a Result). invoke() and the lowered host function
// catch it and turn it into an Error of kind Trap; nothing else throws.
#include <atomic>
#include <bit>
#include <boost/container/small_vector.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

#include "internal.h"
#include "unicode.h"

namespace flotilla::component {

const AbiLayout& AbiLayoutCache::set(AbiLayout l) const {
  static std::mutex m;
  std::lock_guard<std::mutex> g(m);
  if (!owner_) {
    owner_ = std::make_unique<const AbiLayout>(std::move(l));
    fast_.store(owner_.get(), std::memory_order_release);
  }
  return *owner_;
}

Unexpected<Error> trap(std::string message) {
  Error e{ErrorKind::Trap, std::move(message), engine::TrapKind::HostError, {}, {}};
  return Unexpected<Error>(std::move(e));
}

namespace {

struct AbiTrap {
  Error error;
};

[[noreturn]] void fail(std::string msg) {
  throw AbiTrap{Error{ErrorKind::Trap, std::move(msg), engine::TrapKind::HostError, {}, {}}};
}
[[noreturn]] void fail_with(Error e) { throw AbiTrap{std::move(e)}; }

using engine::ValType;
using FlatVec = boost::container::small_vector<engine::Val, 17>;
using Enc = ast::CanonOpts::Encoding;

constexpr size_t kMaxFlatParams = 16;
constexpr size_t kMaxFlatResults = 1;
constexpr size_t kMaxFlatAsyncParams = 4;
constexpr int32_t kSubtaskReturned = 2;  // Subtask.State.RETURNED
constexpr uint32_t kUtf16Tag = 1u << 31;
constexpr uint64_t kMaxStringByteLength = (1u << 31) - 1;
constexpr uint32_t kCanonNan32 = 0x7fc00000;
constexpr uint64_t kCanonNan64 = 0x7ff8000000000000ull;

// ---- layout ------------------------------------------------------------------------------

uint32_t align_to(uint32_t ptr, uint32_t a) { return (ptr + a - 1) / a * a; }

uint32_t disc_size(size_t n) { return n <= 256 ? 1 : n <= 65536 ? 2 : 4; }
uint32_t flags_size(size_t n) { return n <= 8 ? 1 : n <= 16 ? 2 : 4; }

size_t num_cases(const Type& t) {
  switch (t.kind) {
    case TypeKind::Variant:
      return t.cases.size();
    case TypeKind::Enum:
      return t.names.size();
    case TypeKind::Option:
    case TypeKind::Result:
      return 2;
    default:
      return 0;
  }
}
// Payload type of case i of a variant-like type (nullptr: none).
const Type* case_type(const Type& t, size_t i) {
  switch (t.kind) {
    case TypeKind::Variant:
      return t.cases[i].type.get();
    case TypeKind::Option:
      return i == 1 ? t.elem.get() : nullptr;
    case TypeKind::Result:
      return i == 0 ? t.ok.get() : t.err.get();
    default:
      return nullptr;
  }
}

ValType join(ValType a, ValType b) {
  if (a == b) return a;
  if ((a == ValType::I32 && b == ValType::F32) || (a == ValType::F32 && b == ValType::I32)) {
    return ValType::I32;
  }
  return ValType::I64;
}

const AbiLayout& layout(const Type& t);

// Sizes beyond 2 GiB (only fixed-size lists of fixed-size lists reach them) are kept at
// kHugeSize so that adding them up cannot overflow; no value that large is ever in a memory
// that its bounds checks would let through.
constexpr uint32_t kHugeSize = 0x80000000u;
uint32_t clamp_size(uint64_t s) { return s > kHugeSize ? kHugeSize : static_cast<uint32_t>(s); }

// A fixed-size list: its elements inline. The flattening repeats the element's; past
// kMaxFlatParams values only "too many to flatten" matters, so the vector stops there.
AbiLayout fixed_list_layout(const Type& t) {
  const AbiLayout& el = layout(*t.elem);
  AbiLayout l{clamp_size(uint64_t(el.size) * t.length), el.align, 0, {}};
  for (uint32_t i = 0; i < t.length && l.flat.size() <= kMaxFlatParams; i++)
    l.flat.insert(l.flat.end(), el.flat.begin(), el.flat.end());
  return l;
}

AbiLayout scalar(uint32_t size, std::initializer_list<ValType> flat) {
  return AbiLayout{size, size, 0, std::vector<ValType>(flat)};
}

// alignment, elem_size and flatten_type of CanonicalABI.md for one type, from the (cached)
// layouts of its parts.
AbiLayout compute_layout(const Type& t) {
  switch (t.kind) {
    case TypeKind::Bool:
    case TypeKind::S8:
    case TypeKind::U8:
      return scalar(1, {ValType::I32});
    case TypeKind::S16:
    case TypeKind::U16:
      return scalar(2, {ValType::I32});
    case TypeKind::S32:
    case TypeKind::U32:
    case TypeKind::Char:
    case TypeKind::Own:
    case TypeKind::Borrow:
    case TypeKind::ErrorContext:
    case TypeKind::Stream:
    case TypeKind::Future:
      return scalar(4, {ValType::I32});
    case TypeKind::F32:
      return scalar(4, {ValType::F32});
    case TypeKind::S64:
    case TypeKind::U64:
      return scalar(8, {ValType::I64});
    case TypeKind::F64:
      return scalar(8, {ValType::F64});
    case TypeKind::List:
      if (t.length) return fixed_list_layout(t);
      return AbiLayout{8, 4, 0, {ValType::I32, ValType::I32}};
    case TypeKind::String:
      return AbiLayout{8, 4, 0, {ValType::I32, ValType::I32}};
    case TypeKind::Flags: {
      uint32_t n = flags_size(t.names.size());
      return AbiLayout{n, n, 0, {ValType::I32}};
    }
    case TypeKind::Record:
    case TypeKind::Tuple: {
      AbiLayout l{0, 1, 0, {}};
      auto add = [&](const Type& f) {
        const AbiLayout& fl = layout(f);
        l.size = clamp_size(uint64_t(align_to(l.size, fl.align)) + fl.size);
        l.align = std::max(l.align, fl.align);
        l.flat.insert(l.flat.end(), fl.flat.begin(), fl.flat.end());
      };
      if (t.kind == TypeKind::Record) {
        for (auto& f : t.fields) add(*f.type);
      } else {
        for (auto& f : t.items) add(*f);
      }
      l.size = align_to(l.size, l.align);
      return l;
    }
    case TypeKind::Variant:
    case TypeKind::Enum:
    case TypeKind::Option:
    case TypeKind::Result: {
      size_t n = num_cases(t);
      uint32_t disc = disc_size(n);
      uint32_t case_align = 1, case_size = 0;
      std::vector<ValType> joined;
      for (size_t i = 0; i < n; i++) {
        const Type* c = case_type(t, i);
        if (!c) continue;
        const AbiLayout& cl = layout(*c);
        case_align = std::max(case_align, cl.align);
        case_size = std::max(case_size, cl.size);
        for (size_t k = 0; k < cl.flat.size(); k++) {
          if (k < joined.size()) {
            joined[k] = join(joined[k], cl.flat[k]);
          } else {
            joined.push_back(cl.flat[k]);
          }
        }
      }
      AbiLayout l;
      l.align = std::max(disc, case_align);
      l.payload_offset = align_to(disc, case_align);
      l.size = align_to(l.payload_offset + case_size, l.align);
      l.flat.reserve(joined.size() + 1);
      l.flat.push_back(ValType::I32);
      l.flat.insert(l.flat.end(), joined.begin(), joined.end());
      return l;
    }
  }
  return AbiLayout{};
}

const AbiLayout& layout(const Type& t) {
  if (const AbiLayout* l = t.abi.get()) return *l;
  return t.abi.set(compute_layout(t));
}

uint32_t alignment(const Type& t) { return layout(t).align; }
uint32_t elem_size(const Type& t) { return layout(t).size; }

// ---- flattening ----------------------------------------------------------------------------

void flatten(const Type& t, std::vector<ValType>& out) {
  const auto& f = layout(t).flat;
  out.insert(out.end(), f.begin(), f.end());
}

std::vector<ValType> flatten_list(const std::vector<std::pair<std::string, TypePtr>>& ts) {
  std::vector<ValType> out;
  for (auto& [n, t] : ts) flatten(*t, out);
  return out;
}

// ---- call frames (borrow scopes) -------------------------------------------------------------

struct Lend {
  InstanceState* inst;
  uint32_t index;
};

struct CallFrame {
  uint64_t id = 0;
  std::vector<Lend> lends;
};

uint64_t next_frame_id() {
  static std::atomic<uint64_t> n{1};
  return n++;
}

// Live borrow handles per call frame id, for the "no borrows left at the end of a call" rule.
thread_local std::map<uint64_t, int64_t> t_borrows;

// ---- lift/lower context ----------------------------------------------------------------------

struct Cx {
  engine::Store& store;
  const CanonContext& opts;
  CallFrame& frame;
  // Memory base and size, cached: guest code (and so memory.grow) only runs inside realloc,
  // which refreshes them.
  uint8_t* base = nullptr;
  uint64_t size = 0;

  Cx(engine::Store& s, const CanonContext& o, CallFrame& f) : store(s), opts(o), frame(f) {
    refresh();
  }
  void refresh() {
    if (opts.memory) {
      base = opts.memory.data();
      size = opts.memory.size();
    }
  }

  uint8_t* mem(uint64_t ptr, uint64_t len) {
    if (!opts.memory) fail("canonical ABI: no memory option for a value that needs memory");
    if (ptr + len > size || ptr + len < ptr) {
      fail("canonical ABI: pointer out of bounds (" + std::to_string(ptr) + "+" +
           std::to_string(len) + " > " + std::to_string(size) + ")");
    }
    return base + ptr;
  }
  uint32_t realloc(uint32_t old_ptr, uint32_t old_size, uint32_t align, uint32_t new_size) {
    if (!opts.realloc) fail("canonical ABI: no realloc option for a value that needs one");
    engine::Val args[4] = {engine::Val::i32(static_cast<int32_t>(old_ptr)),
                           engine::Val::i32(static_cast<int32_t>(old_size)),
                           engine::Val::i32(static_cast<int32_t>(align)),
                           engine::Val::i32(static_cast<int32_t>(new_size))};
    engine::Val res[1];
    auto r = opts.realloc.call(store, args, res);
    refresh();
    if (!r) fail_with(r.error());
    uint32_t p = res[0].u32();
    if (p != align_to(p, align)) fail("canonical ABI: realloc returned a misaligned pointer");
    mem(p, new_size);
    return p;
  }
};

template <typename T>
T load_int(Cx& cx, uint32_t ptr) {
  T v;
  std::memcpy(&v, cx.mem(ptr, sizeof(T)), sizeof(T));
  return v;
}
template <typename T>
void store_int(Cx& cx, uint32_t ptr, T v) {
  std::memcpy(cx.mem(ptr, sizeof(T)), &v, sizeof(T));
}

uint32_t canon32(uint32_t bits) {
  float f = std::bit_cast<float>(bits);
  return std::isnan(f) ? kCanonNan32 : bits;
}
uint64_t canon64(uint64_t bits) {
  double f = std::bit_cast<double>(bits);
  return std::isnan(f) ? kCanonNan64 : bits;
}

// ---- handles ---------------------------------------------------------------------------------

const ResourceTypeImpl& rt_impl(const Type& t) {
  auto* r = impl_of(t.resource);
  if (!r) fail("canonical ABI: handle of an unknown resource type");
  return *r;
}

Val lift_own(Cx& cx, const Type& t, uint32_t i) {
  auto h = cx.opts.inst->remove_handle(i);
  if (!h) fail_with(h.error());
  if (h->type.get() != t.resource.get()) fail("canonical ABI: handle has the wrong resource type");
  if (h->num_lends != 0) fail("canonical ABI: cannot transfer an owned handle while it is lent");
  if (!h->own) fail("canonical ABI: expected an owned handle, got a borrow");
  auto r = std::make_shared<ResourceAny>();
  r->type = t.resource;
  r->rep = h->rep;
  r->owned = true;
  return Val::own(std::move(r));
}

Val lift_borrow(Cx& cx, const Type& t, uint32_t i) {
  auto h = cx.opts.inst->get_handle(i);
  if (!h) fail_with(h.error());
  if ((*h)->type.get() != t.resource.get()) {
    fail("canonical ABI: handle has the wrong resource type");
  }
  if ((*h)->own) {
    (*h)->num_lends++;
    cx.frame.lends.push_back({cx.opts.inst, i});
  }
  auto r = std::make_shared<ResourceAny>();
  r->type = t.resource;
  r->rep = (*h)->rep;
  r->owned = false;
  return Val::borrow(std::move(r));
}

// Streams, futures and error contexts (async.cc moves the ends between handle tables).
Val lift_async(Cx& cx, const Type& t, uint32_t i) {
  if (!cx.opts.inst) fail("canonical ABI: no instance to lift a `" + t.to_string() + "` from");
  auto v = lift_async_value(cx.opts.inst, t, i);
  if (!v) fail_with(v.error());
  return std::move(*v);
}
uint32_t lower_async(Cx& cx, const Val& v, const Type& t) {
  if (!cx.opts.inst) fail("canonical ABI: no instance to lower a `" + t.to_string() + "` into");
  auto i = lower_async_value(cx.opts.inst, v, t);
  if (!i) fail_with(i.error());
  return *i;
}

uint32_t lower_handle(Cx& cx, const Val& v, const Type& t) {
  if (!v.resource) fail("canonical ABI: handle value without a resource");
  if (v.resource->type.get() != t.resource.get()) {
    fail("canonical ABI: handle of resource type `" +
         (v.resource->type ? v.resource->type->name : std::string("?")) + "` where `" +
         t.resource->name + "` was expected");
  }
  HandleEntry h;
  h.type = t.resource;
  h.rep = v.resource->rep;
  if (t.kind == TypeKind::Own) {
    h.own = true;
  } else {
    if (rt_impl(t).owner == cx.opts.inst) return h.rep;
    h.own = false;
    h.borrow_scope = cx.frame.id;
    t_borrows[cx.frame.id]++;
  }
  auto i = cx.opts.inst->add_handle(std::move(h));
  if (!i) fail_with(i.error());
  return *i;
}

// ---- strings ---------------------------------------------------------------------------------

std::string load_string_range(Cx& cx, uint32_t ptr, uint32_t tagged) {
  uint32_t align = 1;
  uint64_t byte_len = tagged;
  bool utf16 = false;
  switch (cx.opts.encoding) {
    case Enc::Utf8:
      break;
    case Enc::Utf16:
      align = 2;
      byte_len = uint64_t(tagged) * 2;
      utf16 = true;
      break;
    case Enc::Latin1Utf16:
      align = 2;
      if (tagged & kUtf16Tag) {
        byte_len = uint64_t(tagged ^ kUtf16Tag) * 2;
        utf16 = true;
      }
      break;
  }
  if (ptr != align_to(ptr, align)) fail("canonical ABI: misaligned string pointer");
  const uint8_t* p = cx.mem(ptr, byte_len);
  std::string out;
  if (cx.opts.encoding == Enc::Utf8) {
    out.assign(reinterpret_cast<const char*>(p), byte_len);
    if (!unicode::valid_utf8(out)) fail("canonical ABI: string is not valid UTF-8");
    return out;
  }
  if (!utf16) {  // latin-1
    for (uint64_t i = 0; i < byte_len; i++) unicode::append_utf8(out, p[i]);
    return out;
  }
  uint64_t n = byte_len / 2;
  for (uint64_t i = 0; i < n; i++) {
    uint32_t u = p[2 * i] | (p[2 * i + 1] << 8);
    if (u >= 0xd800 && u <= 0xdbff) {
      if (i + 1 >= n) fail("canonical ABI: string is not valid UTF-16 (lone surrogate)");
      uint32_t l = p[2 * i + 2] | (p[2 * i + 3] << 8);
      if (l < 0xdc00 || l > 0xdfff) fail("canonical ABI: string is not valid UTF-16");
      u = 0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00);
      i++;
    } else if (u >= 0xdc00 && u <= 0xdfff) {
      fail("canonical ABI: string is not valid UTF-16 (lone surrogate)");
    }
    unicode::append_utf8(out, u);
  }
  return out;
}

std::u16string to_utf16(const std::string& s) {
  std::u16string out;
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    int n = unicode::decode_utf8(s, i, cp);
    if (n == 0) fail("string value is not valid UTF-8");
    i += n;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xd800 + (cp >> 10));
      out += static_cast<char16_t>(0xdc00 + (cp & 0x3ff));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

void write_utf16(Cx& cx, uint32_t ptr, const std::u16string& u, size_t from = 0) {
  if (u.size() <= from) return;
  uint8_t* p = cx.mem(ptr + 2 * from, 2 * (u.size() - from));
  for (size_t i = from; i < u.size(); i++) {
    p[2 * (i - from)] = static_cast<uint8_t>(u[i] & 0xff);
    p[2 * (i - from) + 1] = static_cast<uint8_t>(u[i] >> 8);
  }
}

std::pair<uint32_t, uint32_t> store_string(Cx& cx, const std::string& s) {
  uint64_t src_units = s.size();  // UTF-8 code units of the host string
  switch (cx.opts.encoding) {
    case Enc::Utf8: {
      if (src_units > kMaxStringByteLength) fail("canonical ABI: string too long");
      uint32_t ptr = cx.realloc(0, 0, 1, static_cast<uint32_t>(src_units));
      if (src_units) std::memcpy(cx.mem(ptr, src_units), s.data(), src_units);
      return {ptr, static_cast<uint32_t>(src_units)};
    }
    case Enc::Utf16: {
      uint64_t worst = 2 * src_units;
      if (worst > kMaxStringByteLength) fail("canonical ABI: string too long");
      uint32_t ptr = cx.realloc(0, 0, 2, static_cast<uint32_t>(worst));
      auto u = to_utf16(s);
      write_utf16(cx, ptr, u);
      uint32_t bytes = static_cast<uint32_t>(u.size() * 2);
      if (bytes < worst) ptr = cx.realloc(ptr, static_cast<uint32_t>(worst), 2, bytes);
      return {ptr, static_cast<uint32_t>(u.size())};
    }
    case Enc::Latin1Utf16: {
      if (src_units > kMaxStringByteLength) fail("canonical ABI: string too long");
      uint32_t n = static_cast<uint32_t>(src_units);
      uint32_t ptr = cx.realloc(0, 0, 2, n);
      uint32_t dst = 0;
      size_t i = 0;
      while (i < s.size()) {
        char32_t cp;
        int k = unicode::decode_utf8(s, i, cp);
        if (k == 0) fail("string value is not valid UTF-8");
        if (cp < 0x100) {
          *cx.mem(ptr + dst, 1) = static_cast<uint8_t>(cp);
          dst++;
          i += k;
          continue;
        }
        uint64_t worst = 2 * src_units;
        if (worst > kMaxStringByteLength) fail("canonical ABI: string too long");
        ptr = cx.realloc(ptr, n, 2, static_cast<uint32_t>(worst));
        uint8_t* p = cx.mem(ptr, worst);
        for (int64_t j = int64_t(dst) - 1; j >= 0; j--) {
          p[2 * j] = p[j];
          p[2 * j + 1] = 0;
        }
        auto u = to_utf16(s);
        write_utf16(cx, ptr, u, dst);
        uint32_t bytes = static_cast<uint32_t>(u.size() * 2);
        if (worst > bytes) ptr = cx.realloc(ptr, static_cast<uint32_t>(worst), 2, bytes);
        return {ptr, static_cast<uint32_t>(u.size()) | kUtf16Tag};
      }
      if (dst < n) ptr = cx.realloc(ptr, n, 2, dst);
      return {ptr, dst};
    }
  }
  return {0, 0};
}

// ---- load / store ----------------------------------------------------------------------------

void check_kind(const Val& v, TypeKind k) {
  if (v.kind != k && !(k == TypeKind::Borrow && v.kind == TypeKind::Own)) {
    fail(std::string("expected a value of kind ") + type_kind_name(k) + ", got " +
         type_kind_name(v.kind));
  }
}

Val load(Cx& cx, uint32_t ptr, const Type& t);
void store(Cx& cx, const Val& v, const Type& t, uint32_t ptr);

size_t case_index(const Val& v, const Type& t) {
  switch (t.kind) {
    case TypeKind::Option:
      return v.bits == 1 ? 1 : 0;
    case TypeKind::Result:
      return v.bits == 0 ? 0 : 1;
    case TypeKind::Variant:
      for (size_t i = 0; i < t.cases.size(); i++) {
        if (t.cases[i].name == v.str) return i;
      }
      fail("variant case `" + v.str + "` is not in the type");
    case TypeKind::Enum:
      for (size_t i = 0; i < t.names.size(); i++) {
        if (t.names[i] == v.str) return i;
      }
      fail("enum case `" + v.str + "` is not in the type");
    default:
      return 0;
  }
}

Val make_case(const Type& t, size_t i, std::optional<Val> payload) {
  switch (t.kind) {
    case TypeKind::Option:
      return Val::option(i == 1 ? std::move(payload) : std::nullopt);
    case TypeKind::Result:
      return i == 0 ? Val::ok(std::move(payload)) : Val::err(std::move(payload));
    case TypeKind::Variant:
      return Val::variant(t.cases[i].name, std::move(payload), static_cast<uint32_t>(i));
    case TypeKind::Enum:
      return Val::enumeration(t.names[i], static_cast<uint32_t>(i));
    default:
      return Val{};
  }
}

// Field offsets of a record or tuple, computed once per list rather than per element.
std::vector<std::pair<uint32_t, const Type*>> field_offsets(const Type& t) {
  std::vector<std::pair<uint32_t, const Type*>> out;
  uint32_t off = 0;
  auto add = [&](const Type& f) {
    off = align_to(off, alignment(f));
    out.emplace_back(off, &f);
    off += elem_size(f);
  };
  if (t.kind == TypeKind::Record) {
    for (auto& f : t.fields) add(*f.type);
  } else {
    for (auto& f : t.items) add(*f);
  }
  return out;
}

Val load_list(Cx& cx, uint32_t ptr, uint32_t len, const Type& elem) {
  uint32_t a = alignment(elem), sz = elem_size(elem);
  if (ptr != align_to(ptr, a)) fail("canonical ABI: misaligned list pointer");
  uint8_t* src = cx.mem(ptr, uint64_t(len) * sz);
  if (elem.kind == TypeKind::U8) return Val::bytes(std::string(reinterpret_cast<char*>(src), len));
  std::vector<Val> items;
  items.reserve(len);
  if (elem.kind == TypeKind::Record || elem.kind == TypeKind::Tuple) {
    auto offs = field_offsets(elem);
    for (uint32_t i = 0; i < len; i++) {
      Val v;
      v.kind = elem.kind;
      v.items.reserve(offs.size());
      for (size_t k = 0; k < offs.size(); k++) {
        v.items.push_back(load(cx, ptr + i * sz + offs[k].first, *offs[k].second));
        if (elem.kind == TypeKind::Record) v.names.push_back(elem.fields[k].name);
      }
      items.push_back(std::move(v));
    }
    return Val::list(std::move(items));
  }
  for (uint32_t i = 0; i < len; i++) items.push_back(load(cx, ptr + i * sz, elem));
  return Val::list(std::move(items));
}

Val load(Cx& cx, uint32_t ptr, const Type& t) {
  switch (t.kind) {
    case TypeKind::Bool:
      return Val::boolean(load_int<uint8_t>(cx, ptr) != 0);
    case TypeKind::U8:
      return Val::u8(load_int<uint8_t>(cx, ptr));
    case TypeKind::S8:
      return Val::s8(load_int<int8_t>(cx, ptr));
    case TypeKind::U16:
      return Val::u16(load_int<uint16_t>(cx, ptr));
    case TypeKind::S16:
      return Val::s16(load_int<int16_t>(cx, ptr));
    case TypeKind::U32:
      return Val::u32(load_int<uint32_t>(cx, ptr));
    case TypeKind::S32:
      return Val::s32(load_int<int32_t>(cx, ptr));
    case TypeKind::U64:
      return Val::u64(load_int<uint64_t>(cx, ptr));
    case TypeKind::S64:
      return Val::s64(load_int<int64_t>(cx, ptr));
    case TypeKind::F32:
      return Val::f32_bits(canon32(load_int<uint32_t>(cx, ptr)));
    case TypeKind::F64:
      return Val::f64_bits(canon64(load_int<uint64_t>(cx, ptr)));
    case TypeKind::Char: {
      uint32_t c = load_int<uint32_t>(cx, ptr);
      if (!unicode::is_scalar(c)) fail("canonical ABI: invalid char value " + std::to_string(c));
      return Val::chr(c);
    }
    case TypeKind::String: {
      uint32_t p = load_int<uint32_t>(cx, ptr), n = load_int<uint32_t>(cx, ptr + 4);
      return Val::string(load_string_range(cx, p, n));
    }
    case TypeKind::List: {
      if (t.length) return load_list(cx, ptr, t.length, *t.elem);
      uint32_t p = load_int<uint32_t>(cx, ptr), n = load_int<uint32_t>(cx, ptr + 4);
      return load_list(cx, p, n, *t.elem);
    }
    case TypeKind::Record: {
      std::vector<std::pair<std::string, Val>> fields;
      for (auto& f : t.fields) {
        ptr = align_to(ptr, alignment(*f.type));
        fields.emplace_back(f.name, load(cx, ptr, *f.type));
        ptr += elem_size(*f.type);
      }
      return Val::record(std::move(fields));
    }
    case TypeKind::Tuple: {
      std::vector<Val> items;
      for (auto& f : t.items) {
        ptr = align_to(ptr, alignment(*f));
        items.push_back(load(cx, ptr, *f));
        ptr += elem_size(*f);
      }
      return Val::tuple(std::move(items));
    }
    case TypeKind::Variant:
    case TypeKind::Enum:
    case TypeKind::Option:
    case TypeKind::Result: {
      size_t n = num_cases(t);
      uint32_t ds = disc_size(n);
      uint32_t d = ds == 1   ? load_int<uint8_t>(cx, ptr)
                   : ds == 2 ? load_int<uint16_t>(cx, ptr)
                             : load_int<uint32_t>(cx, ptr);
      if (d >= n) fail("canonical ABI: invalid discriminant " + std::to_string(d));
      uint32_t off = ptr + layout(t).payload_offset;  // ptr is aligned for t
      std::optional<Val> payload;
      if (auto* c = case_type(t, d)) payload = load(cx, off, *c);
      return make_case(t, d, std::move(payload));
    }
    case TypeKind::Flags: {
      uint32_t sz = flags_size(t.names.size());
      uint32_t bits = sz == 1   ? load_int<uint8_t>(cx, ptr)
                      : sz == 2 ? load_int<uint16_t>(cx, ptr)
                                : load_int<uint32_t>(cx, ptr);
      std::vector<std::string> set;
      for (size_t i = 0; i < t.names.size(); i++) {
        if (bits & (1u << i)) set.push_back(t.names[i]);
      }
      return Val::flags(std::move(set));
    }
    case TypeKind::Own:
      return lift_own(cx, t, load_int<uint32_t>(cx, ptr));
    case TypeKind::Borrow:
      return lift_borrow(cx, t, load_int<uint32_t>(cx, ptr));
    case TypeKind::ErrorContext:
    case TypeKind::Stream:
    case TypeKind::Future:
      return lift_async(cx, t, load_int<uint32_t>(cx, ptr));
  }
  fail("unreachable");
}

uint32_t flags_bits(const Val& v, const Type& t) {
  uint32_t bits = 0;
  for (auto& n : v.names) {
    bool found = false;
    for (size_t i = 0; i < t.names.size(); i++) {
      if (t.names[i] == n) {
        bits |= 1u << i;
        found = true;
      }
    }
    if (!found) fail("flag `" + n + "` is not in the type");
  }
  return bits;
}

std::pair<uint32_t, uint32_t> store_list(Cx& cx, const Val& v, const Type& elem) {
  if (v.is_bytes()) {
    if (elem.kind != TypeKind::U8) fail("a list of bytes where a list of another type is expected");
    if (v.str.size() >= (uint64_t(1) << 32)) fail("canonical ABI: list too long");
    auto n = static_cast<uint32_t>(v.str.size());
    uint32_t ptr = cx.realloc(0, 0, 1, n);
    if (n) std::memcpy(cx.mem(ptr, n), v.str.data(), n);
    return {ptr, n};
  }
  uint64_t sz = elem_size(elem);
  uint64_t bytes = sz * v.items.size();
  if (bytes >= (uint64_t(1) << 32)) fail("canonical ABI: list too long");
  uint32_t ptr = cx.realloc(0, 0, alignment(elem), static_cast<uint32_t>(bytes));
  if (elem.kind == TypeKind::Record || elem.kind == TypeKind::Tuple) {
    auto offs = field_offsets(elem);
    for (size_t i = 0; i < v.items.size(); i++) {
      const Val& e = v.items[i];
      check_kind(e, elem.kind);
      if (e.items.size() != offs.size())
        fail("record or tuple value has the wrong number of fields");
      for (size_t k = 0; k < offs.size(); k++) {
        store(cx, e.items[k], *offs[k].second, static_cast<uint32_t>(ptr + i * sz + offs[k].first));
      }
    }
    return {ptr, static_cast<uint32_t>(v.items.size())};
  }
  for (size_t i = 0; i < v.items.size(); i++) {
    store(cx, v.items[i], elem, static_cast<uint32_t>(ptr + i * sz));
  }
  return {ptr, static_cast<uint32_t>(v.items.size())};
}

void check_fixed_length(const Val& v, const Type& t) {
  check_kind(v, TypeKind::List);
  if (v.list_size() != t.length)
    fail("a list of " + std::to_string(v.list_size()) + " elements where " + t.to_string() +
         " is expected");
  if (v.is_bytes() && t.elem->kind != TypeKind::U8)
    fail("a list of bytes where a list of another type is expected");
}

// A fixed-size list in place: its elements one after the other at `ptr` (no allocation).
void store_fixed_list(Cx& cx, const Val& v, const Type& t, uint32_t ptr) {
  check_fixed_length(v, t);
  uint64_t sz = elem_size(*t.elem);
  uint8_t* dst = cx.mem(ptr, sz * t.length);  // the whole list is in bounds
  if (v.is_bytes()) {
    std::memcpy(dst, v.str.data(), v.str.size());
    return;
  }
  for (uint32_t i = 0; i < t.length; i++)
    store(cx, v.items[i], *t.elem, static_cast<uint32_t>(ptr + i * sz));
}

void store(Cx& cx, const Val& v, const Type& t, uint32_t ptr) {
  check_kind(v, t.kind);
  switch (t.kind) {
    case TypeKind::Bool:
      store_int<uint8_t>(cx, ptr, v.bits ? 1 : 0);
      return;
    case TypeKind::U8:
    case TypeKind::S8:
      store_int<uint8_t>(cx, ptr, static_cast<uint8_t>(v.bits));
      return;
    case TypeKind::U16:
    case TypeKind::S16:
      store_int<uint16_t>(cx, ptr, static_cast<uint16_t>(v.bits));
      return;
    case TypeKind::U32:
    case TypeKind::S32:
    case TypeKind::Char:
      store_int<uint32_t>(cx, ptr, static_cast<uint32_t>(v.bits));
      return;
    case TypeKind::F32:
      store_int<uint32_t>(cx, ptr, canon32(static_cast<uint32_t>(v.bits)));
      return;
    case TypeKind::U64:
    case TypeKind::S64:
      store_int<uint64_t>(cx, ptr, v.bits);
      return;
    case TypeKind::F64:
      store_int<uint64_t>(cx, ptr, canon64(v.bits));
      return;
    case TypeKind::String: {
      auto [p, n] = store_string(cx, v.str);
      store_int<uint32_t>(cx, ptr, p);
      store_int<uint32_t>(cx, ptr + 4, n);
      return;
    }
    case TypeKind::List: {
      if (t.length) {
        store_fixed_list(cx, v, t, ptr);
        return;
      }
      auto [p, n] = store_list(cx, v, *t.elem);
      store_int<uint32_t>(cx, ptr, p);
      store_int<uint32_t>(cx, ptr + 4, n);
      return;
    }
    case TypeKind::Record: {
      if (v.items.size() != t.fields.size()) fail("record value has the wrong number of fields");
      for (size_t i = 0; i < t.fields.size(); i++) {
        auto& f = t.fields[i];
        ptr = align_to(ptr, alignment(*f.type));
        store(cx, v.items[i], *f.type, ptr);
        ptr += elem_size(*f.type);
      }
      return;
    }
    case TypeKind::Tuple: {
      if (v.items.size() != t.items.size()) fail("tuple value has the wrong number of items");
      for (size_t i = 0; i < t.items.size(); i++) {
        auto& f = t.items[i];
        ptr = align_to(ptr, alignment(*f));
        store(cx, v.items[i], *f, ptr);
        ptr += elem_size(*f);
      }
      return;
    }
    case TypeKind::Variant:
    case TypeKind::Enum:
    case TypeKind::Option:
    case TypeKind::Result: {
      size_t d = case_index(v, t);
      uint32_t ds = disc_size(num_cases(t));
      if (ds == 1) {
        store_int<uint8_t>(cx, ptr, static_cast<uint8_t>(d));
      } else if (ds == 2) {
        store_int<uint16_t>(cx, ptr, static_cast<uint16_t>(d));
      } else {
        store_int<uint32_t>(cx, ptr, static_cast<uint32_t>(d));
      }
      uint32_t off = ptr + layout(t).payload_offset;  // ptr is aligned for t
      auto* c = case_type(t, d);
      if (c) {
        if (v.items.empty()) fail("case value is missing its payload");
        store(cx, v.items[0], *c, off);
      }
      return;
    }
    case TypeKind::Flags: {
      uint32_t bits = flags_bits(v, t);
      uint32_t sz = flags_size(t.names.size());
      if (sz == 1) {
        store_int<uint8_t>(cx, ptr, static_cast<uint8_t>(bits));
      } else if (sz == 2) {
        store_int<uint16_t>(cx, ptr, static_cast<uint16_t>(bits));
      } else {
        store_int<uint32_t>(cx, ptr, bits);
      }
      return;
    }
    case TypeKind::Own:
    case TypeKind::Borrow:
      store_int<uint32_t>(cx, ptr, lower_handle(cx, v, t));
      return;
    case TypeKind::ErrorContext:
    case TypeKind::Stream:
    case TypeKind::Future:
      store_int<uint32_t>(cx, ptr, lower_async(cx, v, t));
      return;
  }
}

// ---- flat lift / lower -------------------------------------------------------------------

struct FlatIter {
  std::span<const engine::Val> vals;
  size_t i = 0;
  uint64_t next(ValType want) {
    if (i >= vals.size()) fail("canonical ABI: too few flat values");
    const auto& v = vals[i++];
    uint64_t bits;
    switch (v.type()) {
      case ValType::I32:
        bits = v.u32();
        break;
      case ValType::F32:
        bits = v.f32_bits();
        break;
      case ValType::I64:
        bits = v.u64();
        break;
      case ValType::F64:
        bits = v.f64_bits();
        break;
      default:
        fail("canonical ABI: unexpected core value type");
    }
    (void)want;
    return bits;
  }
};

// Coercion of a joined variant payload slot (CanonicalABI.md: CoerceValueIter).
uint64_t coerce_in(uint64_t bits, ValType have, ValType want) {
  if (have == want) return bits;
  if (have == ValType::I32 && want == ValType::F32) return bits & 0xffffffffu;
  if (have == ValType::I64 && want == ValType::I32) return bits & 0xffffffffu;
  if (have == ValType::I64 && want == ValType::F32) return bits & 0xffffffffu;
  if (have == ValType::I64 && want == ValType::F64) return bits;
  return bits;
}

Val lift_flat(Cx& cx, FlatIter& vi, const Type& t);

Val lift_flat_case_payload(Cx& cx, FlatIter& vi, const Type& c, std::span<const ValType> joined) {
  const std::vector<ValType>& want = layout(c).flat;
  FlatVec coerced;
  for (size_t k = 0; k < want.size(); k++) {
    uint64_t bits = vi.next(joined[k]);
    bits = coerce_in(bits, joined[k], want[k]);
    switch (want[k]) {
      case ValType::I32:
        coerced.push_back(engine::Val::i32(static_cast<int32_t>(bits)));
        break;
      case ValType::I64:
        coerced.push_back(engine::Val::i64(static_cast<int64_t>(bits)));
        break;
      case ValType::F32:
        coerced.push_back(engine::Val::f32_bits(static_cast<uint32_t>(bits)));
        break;
      default:
        coerced.push_back(engine::Val::f64_bits(bits));
        break;
    }
  }
  FlatIter sub{std::span<const engine::Val>(coerced.data(), coerced.size())};
  return lift_flat(cx, sub, c);
}

Val lift_flat(Cx& cx, FlatIter& vi, const Type& t) {
  switch (t.kind) {
    case TypeKind::Bool:
      return Val::boolean(static_cast<uint32_t>(vi.next(ValType::I32)) != 0);
    case TypeKind::U8:
      return Val::u8(static_cast<uint8_t>(vi.next(ValType::I32)));
    case TypeKind::S8:
      return Val::s8(static_cast<int8_t>(vi.next(ValType::I32)));
    case TypeKind::U16:
      return Val::u16(static_cast<uint16_t>(vi.next(ValType::I32)));
    case TypeKind::S16:
      return Val::s16(static_cast<int16_t>(vi.next(ValType::I32)));
    case TypeKind::U32:
      return Val::u32(static_cast<uint32_t>(vi.next(ValType::I32)));
    case TypeKind::S32:
      return Val::s32(static_cast<int32_t>(vi.next(ValType::I32)));
    case TypeKind::U64:
      return Val::u64(vi.next(ValType::I64));
    case TypeKind::S64:
      return Val::s64(static_cast<int64_t>(vi.next(ValType::I64)));
    case TypeKind::F32:
      return Val::f32_bits(canon32(static_cast<uint32_t>(vi.next(ValType::F32))));
    case TypeKind::F64:
      return Val::f64_bits(canon64(vi.next(ValType::F64)));
    case TypeKind::Char: {
      uint32_t c = static_cast<uint32_t>(vi.next(ValType::I32));
      if (!unicode::is_scalar(c)) fail("canonical ABI: invalid char value " + std::to_string(c));
      return Val::chr(c);
    }
    case TypeKind::String: {
      uint32_t p = static_cast<uint32_t>(vi.next(ValType::I32));
      uint32_t n = static_cast<uint32_t>(vi.next(ValType::I32));
      return Val::string(load_string_range(cx, p, n));
    }
    case TypeKind::List: {
      if (t.length) {
        std::vector<Val> items;
        items.reserve(t.length);
        for (uint32_t i = 0; i < t.length; i++) items.push_back(lift_flat(cx, vi, *t.elem));
        return Val::list(std::move(items));
      }
      uint32_t p = static_cast<uint32_t>(vi.next(ValType::I32));
      uint32_t n = static_cast<uint32_t>(vi.next(ValType::I32));
      return load_list(cx, p, n, *t.elem);
    }
    case TypeKind::Record: {
      std::vector<std::pair<std::string, Val>> fields;
      for (auto& f : t.fields) fields.emplace_back(f.name, lift_flat(cx, vi, *f.type));
      return Val::record(std::move(fields));
    }
    case TypeKind::Tuple: {
      std::vector<Val> items;
      for (auto& f : t.items) items.push_back(lift_flat(cx, vi, *f));
      return Val::tuple(std::move(items));
    }
    case TypeKind::Variant:
    case TypeKind::Enum:
    case TypeKind::Option:
    case TypeKind::Result: {
      const std::vector<ValType>& flat = layout(t).flat;
      std::span<const ValType> joined(flat.data() + 1, flat.size() - 1);
      uint32_t d = static_cast<uint32_t>(vi.next(ValType::I32));
      if (d >= num_cases(t)) fail("canonical ABI: invalid discriminant " + std::to_string(d));
      std::optional<Val> payload;
      size_t used = 0;
      if (auto* c = case_type(t, d)) {
        used = layout(*c).flat.size();
        payload = lift_flat_case_payload(cx, vi, *c, joined);
      }
      for (size_t k = used; k < joined.size(); k++) vi.next(joined[k]);
      return make_case(t, d, std::move(payload));
    }
    case TypeKind::Flags: {
      uint32_t bits = static_cast<uint32_t>(vi.next(ValType::I32));
      std::vector<std::string> set;
      for (size_t i = 0; i < t.names.size(); i++) {
        if (bits & (1u << i)) set.push_back(t.names[i]);
      }
      return Val::flags(std::move(set));
    }
    case TypeKind::Own:
      return lift_own(cx, t, static_cast<uint32_t>(vi.next(ValType::I32)));
    case TypeKind::Borrow:
      return lift_borrow(cx, t, static_cast<uint32_t>(vi.next(ValType::I32)));
    case TypeKind::ErrorContext:
    case TypeKind::Stream:
    case TypeKind::Future:
      return lift_async(cx, t, static_cast<uint32_t>(vi.next(ValType::I32)));
  }
  fail("unreachable");
}

engine::Val flat_val(ValType t, uint64_t bits) {
  switch (t) {
    case ValType::I32:
      return engine::Val::i32(static_cast<int32_t>(bits));
    case ValType::I64:
      return engine::Val::i64(static_cast<int64_t>(bits));
    case ValType::F32:
      return engine::Val::f32_bits(static_cast<uint32_t>(bits));
    default:
      return engine::Val::f64_bits(bits);
  }
}

uint64_t flat_bits(const engine::Val& v) {
  switch (v.type()) {
    case ValType::I32:
      return v.u32();
    case ValType::F32:
      return v.f32_bits();
    case ValType::I64:
      return v.u64();
    default:
      return v.f64_bits();
  }
}

void lower_flat(Cx& cx, const Val& v, const Type& t, FlatVec& out) {
  check_kind(v, t.kind);
  switch (t.kind) {
    case TypeKind::Bool:
      out.push_back(engine::Val::i32(v.bits ? 1 : 0));
      return;
    case TypeKind::U8:
    case TypeKind::U16:
    case TypeKind::U32:
    case TypeKind::Char:
      out.push_back(engine::Val::i32(static_cast<int32_t>(v.bits)));
      return;
    case TypeKind::S8:
    case TypeKind::S16:
    case TypeKind::S32:
      out.push_back(engine::Val::i32(static_cast<int32_t>(v.bits)));
      return;
    case TypeKind::U64:
    case TypeKind::S64:
      out.push_back(engine::Val::i64(static_cast<int64_t>(v.bits)));
      return;
    case TypeKind::F32:
      out.push_back(engine::Val::f32_bits(canon32(static_cast<uint32_t>(v.bits))));
      return;
    case TypeKind::F64:
      out.push_back(engine::Val::f64_bits(canon64(v.bits)));
      return;
    case TypeKind::String: {
      auto [p, n] = store_string(cx, v.str);
      out.push_back(engine::Val::i32(static_cast<int32_t>(p)));
      out.push_back(engine::Val::i32(static_cast<int32_t>(n)));
      return;
    }
    case TypeKind::List: {
      if (t.length) {
        check_fixed_length(v, t);
        if (v.is_bytes()) {
          for (unsigned char c : v.str) out.push_back(engine::Val::i32(c));
        } else {
          for (const Val& e : v.items) lower_flat(cx, e, *t.elem, out);
        }
        return;
      }
      auto [p, n] = store_list(cx, v, *t.elem);
      out.push_back(engine::Val::i32(static_cast<int32_t>(p)));
      out.push_back(engine::Val::i32(static_cast<int32_t>(n)));
      return;
    }
    case TypeKind::Record:
      if (v.items.size() != t.fields.size()) fail("record value has the wrong number of fields");
      for (size_t i = 0; i < t.fields.size(); i++)
        lower_flat(cx, v.items[i], *t.fields[i].type, out);
      return;
    case TypeKind::Tuple:
      if (v.items.size() != t.items.size()) fail("tuple value has the wrong number of items");
      for (size_t i = 0; i < t.items.size(); i++) lower_flat(cx, v.items[i], *t.items[i], out);
      return;
    case TypeKind::Variant:
    case TypeKind::Enum:
    case TypeKind::Option:
    case TypeKind::Result: {
      const std::vector<ValType>& flat = layout(t).flat;
      size_t d = case_index(v, t);
      out.push_back(engine::Val::i32(static_cast<int32_t>(d)));
      FlatVec payload;
      if (auto* c = case_type(t, d)) {
        if (v.items.empty()) fail("case value is missing its payload");
        lower_flat(cx, v.items[0], *c, payload);
      }
      for (size_t k = 1; k < flat.size(); k++) {
        ValType want = flat[k];
        if (k - 1 < payload.size()) {
          const auto& pv = payload[k - 1];
          uint64_t bits = flat_bits(pv);
          if (want == ValType::I64 && (pv.type() == ValType::I32 || pv.type() == ValType::F32)) {
            bits &= 0xffffffffu;
          }
          out.push_back(flat_val(want, bits));
        } else {
          out.push_back(flat_val(want, 0));
        }
      }
      return;
    }
    case TypeKind::Flags:
      out.push_back(engine::Val::i32(static_cast<int32_t>(flags_bits(v, t))));
      return;
    case TypeKind::Own:
    case TypeKind::Borrow:
      out.push_back(engine::Val::i32(static_cast<int32_t>(lower_handle(cx, v, t))));
      return;
    case TypeKind::ErrorContext:
    case TypeKind::Stream:
    case TypeKind::Future:
      out.push_back(engine::Val::i32(static_cast<int32_t>(lower_async(cx, v, t))));
      return;
  }
}

std::shared_ptr<Type> tuple_of(const std::vector<std::pair<std::string, TypePtr>>& ts) {
  auto t = std::make_shared<Type>();
  t->kind = TypeKind::Tuple;
  for (auto& [n, ty] : ts) t->items.push_back(ty);
  return t;
}

// `tuple` is the tuple of `ts` (Func::Data keeps it), used when the values are spilled.
std::vector<Val> lift_values(Cx& cx, size_t max_flat, FlatIter& vi,
                             const std::vector<std::pair<std::string, TypePtr>>& ts,
                             const TypePtr& tuple, size_t nflat) {
  std::vector<Val> out;
  if (nflat > max_flat) {
    uint32_t ptr = static_cast<uint32_t>(vi.next(ValType::I32));
    if (ptr != align_to(ptr, alignment(*tuple))) fail("canonical ABI: misaligned pointer");
    cx.mem(ptr, elem_size(*tuple));
    Val v = load(cx, ptr, *tuple);
    return std::move(v.items);
  }
  for (auto& [n, t] : ts) out.push_back(lift_flat(cx, vi, *t));
  return out;
}

// Lowers values; when they do not fit in max_flat, stores them as a tuple in memory at
// `out_ptr` (if given) or at fresh memory from realloc, and returns [ptr] (or nothing).
FlatVec lower_values(Cx& cx, size_t max_flat, std::span<const Val> vs,
                     const std::vector<std::pair<std::string, TypePtr>>& ts, const TypePtr& tuple,
                     std::optional<uint32_t> out_ptr, size_t nflat) {
  FlatVec out;
  if (nflat > max_flat) {
    uint32_t ptr;
    if (out_ptr) {
      ptr = *out_ptr;
    } else {
      ptr = cx.realloc(0, 0, alignment(*tuple), elem_size(*tuple));
      out.push_back(engine::Val::i32(static_cast<int32_t>(ptr)));
    }
    if (ptr != align_to(ptr, alignment(*tuple))) fail("canonical ABI: misaligned pointer");
    cx.mem(ptr, elem_size(*tuple));
    Val tv = Val::tuple(std::vector<Val>(vs.begin(), vs.end()));
    store(cx, tv, *tuple, ptr);
    return out;
  }
  for (size_t i = 0; i < ts.size(); i++) lower_flat(cx, vs[i], *ts[i].second, out);
  return out;
}

void end_frame(CallFrame& frame) {
  for (auto& l : frame.lends) {
    auto h = l.inst->get_handle(l.index);
    if (h && (*h)->num_lends > 0) (*h)->num_lends--;
  }
  frame.lends.clear();
}

}  // namespace

namespace {
engine::FuncType core_sig_of(std::vector<ValType> params, const std::vector<ValType>& results,
                             bool lower) {
  engine::FuncType out;
  if (params.size() > kMaxFlatParams) params = {ValType::I32};
  if (lower) {
    out.params = params;
    if (results.size() > kMaxFlatResults) {
      out.params.push_back(ValType::I32);
    } else {
      out.results = results;
    }
  } else {
    out.params = params;
    out.results = results.size() > kMaxFlatResults ? std::vector<ValType>{ValType::I32} : results;
  }
  return out;
}
}  // namespace

engine::FuncType core_sig(const FuncType& ft, bool lower) {
  return core_sig_of(flatten_list(ft.params), flatten_list(ft.results), lower);
}

Result<std::vector<Val>> invoke(engine::Store& store, const Func::Data& f,
                                std::span<const Val> args, bool check_args) {
  if (args.size() != f.type.params.size()) {
    return make_error(ErrorKind::Usage, "function `" + f.name + "` takes " +
                                            std::to_string(f.type.params.size()) + " arguments, " +
                                            std::to_string(args.size()) + " given");
  }
  for (size_t i = 0; check_args && i < args.size(); i++) {
    auto ok = typecheck(args[i], *f.type.params[i].second, f.type.params[i].first);
    if (!ok) return Unexpected(ok.error());
  }
  switch (f.kind) {
    case Func::Data::Kind::Trap:
      return trap(f.trap_message.empty() ? "called an import the host does not provide: " + f.name
                                         : f.trap_message);
    case Func::Data::Kind::Host: {
      HostContext hc(store, nullptr, &f.type, &f.name);
      std::vector<Val> results(f.type.results.size());
      auto r = f.host(hc, args, results);
      if (!r) return Unexpected(r.error());
      for (size_t i = 0; i < results.size(); i++) {
        auto ok = typecheck(results[i], *f.type.results[i].second, "result");
        if (!ok) return Unexpected(ok.error());
      }
      return results;
    }
    case Func::Data::Kind::Lifted:
      break;
  }
  InstanceState* inst = f.cx.inst;
  if (auto ok = TaskScope::check(f); !ok) return Unexpected(ok.error());
  TaskScope scope(f);
  Task& task = scope.task;
  CallFrame frame{f.has_handles ? next_frame_id() : 0, {}};
  auto finish_frame = [&]() -> bool {
    if (!f.has_handles) return false;
    auto it = t_borrows.find(frame.id);
    bool left = it != t_borrows.end() && it->second > 0;
    if (it != t_borrows.end()) t_borrows.erase(it);
    end_frame(frame);
    return left;
  };
  std::vector<Val> results;
  try {
    Cx cx(store, f.cx, frame);
    inst->may_enter = false;
    auto flat_args = lower_values(cx, kMaxFlatParams, args, f.type.params, f.params_tuple,
                                  std::nullopt, f.flat_params.size());
    FlatVec flat_results(f.cx.async ? (f.cx.callback ? 1 : 0) : f.core_results);
    auto r = f.core.call(store, std::span<const engine::Val>(flat_args.data(), flat_args.size()),
                         std::span<engine::Val>(flat_results.data(), flat_results.size()));
    if (!r) {
      inst->may_enter = true;
      finish_frame();
      Error e = r.error();
      if (e.function.empty()) e.function = f.name;
      return Unexpected(std::move(e));
    }
    cx.refresh();  // guest code ran: its memory may have grown (and moved)
    if (f.cx.async) {
      if (f.cx.callback) {
        auto done = run_callback_loop(store, f, flat_results.empty() ? 0 : flat_results[0].u32());
        if (!done) {
          inst->may_enter = true;
          finish_frame();
          Error e = done.error();
          if (e.function.empty()) e.function = f.name;
          return Unexpected(std::move(e));
        }
      }
      inst->may_enter = true;
      bool left = finish_frame();
      if (!task.returned) {
        return trap("async function `" + f.name + "` finished without calling task.return");
      }
      if (left) return trap("borrow handles still remain at the end of the call");
      return std::move(task.results);
    }
    FlatIter vi{std::span<const engine::Val>(flat_results.data(), flat_results.size())};
    results = lift_values(cx, kMaxFlatResults, vi, f.type.results, f.results_tuple,
                          f.flat_results.size());
    if (f.cx.post_return) {
      std::span<engine::Val> none;
      inst->may_leave = false;  // post-return may not call imports or most built-ins
      auto pr = f.cx.post_return.call(
          store, std::span<const engine::Val>(flat_results.data(), flat_results.size()), none);
      inst->may_leave = true;
      if (!pr) {
        inst->may_enter = true;
        finish_frame();
        return Unexpected(pr.error());
      }
    }
    inst->may_enter = true;
    if (finish_frame()) return trap("borrow handles still remain at the end of the call");
  } catch (AbiTrap& t) {
    inst->may_enter = true;
    inst->may_leave = true;
    finish_frame();
    if (t.error.function.empty()) t.error.function = f.name;
    return Unexpected(std::move(t.error));
  }
  return results;
}

bool has_handles(const Type& t) {
  switch (t.kind) {
    case TypeKind::Own:
    case TypeKind::Borrow:
      return true;
    case TypeKind::List:
    case TypeKind::Option:
      return has_handles(*t.elem);
    case TypeKind::Result:
      return (t.ok && has_handles(*t.ok)) || (t.err && has_handles(*t.err));
    case TypeKind::Record:
      for (auto& f : t.fields) {
        if (has_handles(*f.type)) return true;
      }
      return false;
    case TypeKind::Tuple:
      for (auto& f : t.items) {
        if (has_handles(*f)) return true;
      }
      return false;
    case TypeKind::Variant:
      for (auto& c : t.cases) {
        if (c.type && has_handles(*c.type)) return true;
      }
      return false;
    default:
      return false;
  }
}

void prepare(Func::Data& f) {
  f.flat_params = flatten_list(f.type.params);
  f.flat_results = flatten_list(f.type.results);
  f.core_results = f.flat_results.size() > kMaxFlatResults ? 1 : f.flat_results.size();
  f.lift_sig = core_sig_of(f.flat_params, f.flat_results, /*lower=*/false);
  f.lower_sig = core_sig_of(f.flat_params, f.flat_results, /*lower=*/true);
  f.params_tuple = tuple_of(f.type.params);
  f.results_tuple = tuple_of(f.type.results);
  f.has_handles = false;
  for (auto& p : f.type.params) f.has_handles = f.has_handles || has_handles(*p.second);
  for (auto& r : f.type.results) f.has_handles = f.has_handles || has_handles(*r.second);
}

engine::FuncType async_core_sig(const Func::Data& f, bool lower, bool callback) {
  engine::FuncType out;
  const size_t max_params = lower ? kMaxFlatAsyncParams : kMaxFlatParams;
  out.params = f.flat_params.size() > max_params
                   ? std::vector<ValType>{ValType::I32}
                   : std::vector<ValType>(f.flat_params.begin(), f.flat_params.end());
  if (lower) {
    if (!f.flat_results.empty()) out.params.push_back(ValType::I32);
    out.results = {ValType::I32};
  } else if (callback) {
    out.results = {ValType::I32};
  }
  return out;
}

namespace {
// `canon lower ... async` of `callee`: the callee runs to completion before the call returns
// (calls never block here), so the subtask is always RETURNED and no subtask handle is made.
Result<engine::Func> make_lowered_async(engine::Store& store, std::shared_ptr<Func::Data> callee,
                                        CanonContext cx_opts) {
  engine::FuncType sig = async_core_sig(*callee, /*lower=*/true, false);
  bool has_results = !callee->flat_results.empty();
  auto fn = [callee, cx_opts, has_results](engine::Caller& caller,
                                           std::span<const engine::Val> params,
                                           std::span<engine::Val> results) -> Result<void> {
    engine::Store& st = caller.store();
    InstanceState* inst = cx_opts.inst;
    if (inst && !inst->may_leave) return trap("cannot leave component instance");
    CallFrame frame{next_frame_id(), {}};
    try {
      Cx cx(st, cx_opts, frame);
      FlatIter vi{params};
      auto args = lift_values(cx, kMaxFlatAsyncParams, vi, callee->type.params,
                              callee->params_tuple, callee->flat_params.size());
      std::optional<uint32_t> out_ptr;
      if (has_results) out_ptr = static_cast<uint32_t>(vi.next(ValType::I32));
      auto r = invoke(st, *callee, args, /*check_args=*/false);
      end_frame(frame);
      if (!r) return Unexpected(r.error());
      cx.refresh();
      if (inst) inst->may_leave = false;
      // Async lowers return no flat results: they are always stored at the out pointer.
      lower_values(cx, 0, *r, callee->type.results, callee->results_tuple, out_ptr,
                   callee->flat_results.size());
      if (inst) inst->may_leave = true;
      results[0] = engine::Val::i32(kSubtaskReturned);
      return {};
    } catch (AbiTrap& t) {
      if (inst) inst->may_leave = true;
      end_frame(frame);
      return Unexpected(std::move(t.error));
    }
  };
  return engine::Func::host(store, sig, fn);
}
}  // namespace

Result<std::vector<Val>> lift_flat_values(engine::Store& store, const CanonContext& cx_opts,
                                          const std::vector<std::pair<std::string, TypePtr>>& ts,
                                          const TypePtr& tuple, size_t max_flat,
                                          std::span<const engine::Val> flat) {
  CallFrame frame{next_frame_id(), {}};
  try {
    Cx cx(store, cx_opts, frame);
    FlatIter vi{flat};
    size_t nflat = 0;
    for (auto& [n, t] : ts) nflat += layout(*t).flat.size();
    auto out = lift_values(cx, max_flat, vi, ts, tuple, nflat);
    end_frame(frame);
    return out;
  } catch (AbiTrap& t) {
    end_frame(frame);
    return Unexpected(std::move(t.error));
  }
}

Result<std::string> lift_string_at(engine::Store& store, const CanonContext& cx_opts, uint32_t ptr,
                                   uint32_t units) {
  CallFrame frame{0, {}};
  try {
    Cx cx(store, cx_opts, frame);
    return load_string_range(cx, ptr, units);
  } catch (AbiTrap& t) {
    return Unexpected(std::move(t.error));
  }
}

Result<void> store_string_at(engine::Store& store, const CanonContext& cx_opts,
                             const std::string& str, uint32_t out) {
  CallFrame frame{0, {}};
  try {
    Cx cx(store, cx_opts, frame);
    if (out != align_to(out, 4)) fail("canonical ABI: misaligned pointer");
    cx.mem(out, 8);
    auto [p, n] = store_string(cx, str);
    store_int<uint32_t>(cx, out, p);
    store_int<uint32_t>(cx, out + 4, n);
    return {};
  } catch (AbiTrap& t) {
    return Unexpected(std::move(t.error));
  }
}

uint32_t abi_elem_size(const Type& t) { return elem_size(t); }
uint32_t abi_alignment(const Type& t) { return alignment(t); }

Result<void> copy_elems(engine::Store& st, const CanonContext& src, uint32_t src_ptr,
                        const CanonContext& dst, uint32_t dst_ptr, const TypePtr& t, uint32_t n) {
  CallFrame frame{next_frame_id(), {}};
  InstanceState* dst_inst = dst.inst;
  try {
    const uint32_t size = elem_size(*t);
    std::vector<Val> vals;
    vals.reserve(n);
    {
      Cx scx(st, src, frame);
      for (uint32_t k = 0; k < n; k++) vals.push_back(load(scx, src_ptr + k * size, *t));
    }
    Cx dcx(st, dst, frame);
    if (dst_inst) dst_inst->may_leave = false;  // realloc may not call out
    for (uint32_t k = 0; k < n; k++) {
      store(dcx, vals[k], *t, dst_ptr + k * size);
      dcx.refresh();
    }
    if (dst_inst) dst_inst->may_leave = true;
    end_frame(frame);
    return {};
  } catch (AbiTrap& e) {
    if (dst_inst) dst_inst->may_leave = true;
    end_frame(frame);
    return Unexpected(std::move(e.error));
  }
}

Result<engine::Func> make_lowered(engine::Store& store, std::shared_ptr<Func::Data> callee,
                                  CanonContext cx_opts) {
  if (cx_opts.async) return make_lowered_async(store, std::move(callee), std::move(cx_opts));
  engine::FuncType sig = callee->lower_sig;
  bool spill_results = callee->flat_results.size() > kMaxFlatResults;
  auto fn = [callee, cx_opts, spill_results](engine::Caller& caller,
                                             std::span<const engine::Val> params,
                                             std::span<engine::Val> results) -> Result<void> {
    engine::Store& st = caller.store();
    InstanceState* inst = cx_opts.inst;
    if (inst && !inst->may_leave) return trap("cannot leave component instance");
    CallFrame frame{next_frame_id(), {}};
    try {
      Cx cx(st, cx_opts, frame);
      FlatIter vi{params};
      auto args = lift_values(cx, kMaxFlatParams, vi, callee->type.params, callee->params_tuple,
                              callee->flat_params.size());
      std::optional<uint32_t> out_ptr;
      if (spill_results) out_ptr = static_cast<uint32_t>(vi.next(ValType::I32));
      auto r = invoke(st, *callee, args, /*check_args=*/false);  // lifted from their types
      end_frame(frame);
      if (!r) return Unexpected(r.error());
      cx.refresh();  // the callee may have run guest code that grew this memory
      if (inst) inst->may_leave = false;
      auto flat = lower_values(cx, kMaxFlatResults, *r, callee->type.results, callee->results_tuple,
                               out_ptr, callee->flat_results.size());
      if (inst) inst->may_leave = true;
      for (size_t i = 0; i < results.size() && i < flat.size(); i++) results[i] = flat[i];
      return {};
    } catch (AbiTrap& t) {
      if (inst) inst->may_leave = true;
      end_frame(frame);
      return Unexpected(std::move(t.error));
    }
  };
  return engine::Func::host(store, sig, fn);
}

Result<void> TaskScope::check(const Func::Data& f) {
  if (!f.cx.inst->may_enter) return trap("cannot enter component instance (reentrance)");
  if (f.type.async && f.cx.inst->backpressure > 0) {
    // The spec has the call wait until backpressure is released; calls here run to completion
    // on the caller's stack, so nothing could release it.
    return trap(
        "cannot enter component instance: backpressure is set (waiting for it is not "
        "implemented)");
  }
  return {};
}

Result<void> run_dtor(engine::Store& store, const ResourceTypeImpl& rt, uint32_t rep) {
  if (rt.host) {
    if (!rt.host_dtor) return {};
    HostContext hc(store, nullptr);
    return rt.host_dtor(hc, rep);
  }
  if (!rt.dtor) return {};
  engine::Val args[1] = {engine::Val::i32(static_cast<int32_t>(rep))};
  std::span<engine::Val> none;
  if (!rt.owner) return rt.dtor.call(store, args, none);
  // The destructor runs as a synchronously lifted call of its instance (a task: context
  // storage, thread.index).
  static const Func::Data kDtor = [] {
    Func::Data d;
    d.name = "resource destructor";
    d.kind = Func::Data::Kind::Lifted;
    return d;
  }();
  Task task;
  enter_task(rt.owner, task, kDtor);
  auto r = rt.dtor.call(store, args, none);
  leave_task(rt.owner, task);
  return r;
}

Result<engine::Func> make_resource_builtin(engine::Store& store, ast::CanonDef::Kind kind,
                                           ResourceTypePtr rt, InstanceState* inst) {
  using K = ast::CanonDef::Kind;
  engine::FuncType sig;
  sig.params = {ValType::I32};
  if (kind != K::ResourceDrop) sig.results = {ValType::I32};
  auto fn = [kind, rt, inst](engine::Caller& caller, std::span<const engine::Val> params,
                             std::span<engine::Val> results) -> Result<void> {
    uint32_t arg = params[0].u32();
    if (kind != K::ResourceRep && !inst->may_leave) return trap("cannot leave component instance");
    switch (kind) {
      case K::ResourceNew: {
        HandleEntry h;
        h.type = rt;
        h.rep = arg;
        h.own = true;
        auto i = inst->add_handle(std::move(h));
        if (!i) return Unexpected(i.error());
        results[0] = engine::Val::i32(static_cast<int32_t>(*i));
        return {};
      }
      case K::ResourceRep: {
        auto h = inst->get_handle(arg);
        if (!h) return Unexpected(h.error());
        if ((*h)->type.get() != rt.get()) return trap("resource.rep: handle of the wrong type");
        results[0] = engine::Val::i32(static_cast<int32_t>((*h)->rep));
        return {};
      }
      default: {
        auto h = inst->get_handle(arg);
        if (!h) return Unexpected(h.error());
        if ((*h)->type.get() != rt.get()) return trap("resource.drop: handle of the wrong type");
        if ((*h)->own && (*h)->num_lends != 0) {
          return trap("resource.drop: cannot drop a handle that is lent out");
        }
        auto e = inst->remove_handle(arg);
        if (!e) return Unexpected(e.error());
        if (!e->own) {
          auto it = t_borrows.find(e->borrow_scope);
          if (it != t_borrows.end() && it->second > 0) it->second--;
          return {};
        }
        auto* impl = impl_of(rt);
        if (!impl) return {};
        return run_dtor(caller.store(), *impl, e->rep);
      }
    }
  };
  return engine::Func::host(store, sig, fn);
}

// ---- handle tables ---------------------------------------------------------------------------

Result<uint32_t> InstanceState::add_handle(HandleEntry h) {
  if (handles.empty()) handles.emplace_back();  // index 0 is reserved
  if (!free_handles.empty()) {
    uint32_t i = free_handles.back();
    free_handles.pop_back();
    handles[i] = std::move(h);
    return i;
  }
  if (handles.size() >= (1u << 28)) return trap("handle table is full");
  handles.push_back(std::move(h));
  return static_cast<uint32_t>(handles.size() - 1);
}

Result<HandleEntry*> InstanceState::get_handle(uint32_t i) {
  if (i == 0 || i >= handles.size() || !handles[i]) {
    return trap("unknown handle index " + std::to_string(i));
  }
  return &*handles[i];
}

Result<HandleEntry> InstanceState::remove_handle(uint32_t i) {
  auto h = get_handle(i);
  if (!h) return Unexpected(h.error());
  HandleEntry e = std::move(**h);
  handles[i].reset();
  free_handles.push_back(i);
  return e;
}

}  // namespace flotilla::component

namespace flotilla::component::detail {

Result<void> call_flat(engine::Store& store, const Func::Data& f, std::span<const engine::Val> args,
                       std::span<engine::Val> results) {
  InstanceState* inst = f.cx.inst;
  if (f.cx.async) return make_error(ErrorKind::Usage, "TypedFunc of an async-lifted function");
  if (auto ok = TaskScope::check(f); !ok) return Unexpected(ok.error());
  TaskScope scope(f);
  inst->may_enter = false;
  auto r = f.core.call(store, args, results);
  if (!r) {
    inst->may_enter = true;
    Error e = r.error();
    if (e.function.empty()) e.function = f.name;
    return Unexpected(std::move(e));
  }
  if (f.cx.post_return) {
    std::span<engine::Val> none;
    inst->may_leave = false;
    auto pr = f.cx.post_return.call(store, results, none);
    inst->may_leave = true;
    inst->may_enter = true;
    if (!pr) return Unexpected(pr.error());
    return {};
  }
  inst->may_enter = true;
  return {};
}

Result<void> check_typed(const Func& f, std::span<const TypeKind> params, bool has_result,
                         TypeKind result) {
  if (!f) return make_error(ErrorKind::Usage, "TypedFunc of an empty Func");
  const Func::Data& d = *f.data();
  if (d.kind != Func::Data::Kind::Lifted || d.cx.async) {
    return make_error(ErrorKind::Usage,
                      "TypedFunc needs a synchronously lifted export, `" + d.name + "` is not");
  }
  auto mismatch = [&] {
    return make_error(ErrorKind::Usage,
                      "TypedFunc signature does not match `" + d.name + "`: " + d.type.to_string());
  };
  if (d.type.params.size() != params.size()) return mismatch();
  for (size_t i = 0; i < params.size(); i++) {
    if (d.type.params[i].second->kind != params[i]) return mismatch();
  }
  if (has_result) {
    if (d.type.results.size() != 1 || d.type.results[0].second->kind != result) return mismatch();
  } else if (!d.type.results.empty()) {
    return mismatch();
  }
  return {};
}

}  // namespace flotilla::component::detail
