// Component-model value types and values.
//
// `Type` is the resolved shape of a component-level value type (a tree: defined types are
// expanded, names kept for printing). `Val` is a dynamically typed component value in the
// vocabulary of Wasmtime's `component::Val`: records, variants, enums and flags carry their
// names, so a Val can be printed (WAVE) without its type.
//
// Errors: this layer reports failures as engine::Result<T> (Expected<T, engine::Error>) like
// the engine below it; nothing throws across the public API.
#pragma once

#include <flotilla/engine/engine.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flotilla::component {

using engine::Error;
using engine::ErrorKind;
using engine::make_error;
template <typename T>
using Result = engine::Result<T>;

enum class TypeKind : uint8_t {
  Bool,
  S8,
  U8,
  S16,
  U16,
  S32,
  U32,
  S64,
  U64,
  F32,
  F64,
  Char,
  String,
  List,
  Record,
  Tuple,
  Variant,
  Enum,
  Option,
  Result,
  Flags,
  Own,
  Borrow,
  // Async value types (Explainer.md "Async"): handles to a stream or future end, or to an
  // error context. `elem` of Stream and Future is their payload type (null when absent).
  ErrorContext,
  Stream,
  Future,
};
const char* type_kind_name(TypeKind k);
inline bool is_primitive(TypeKind k) { return k <= TypeKind::String; }

// A resource type: an identity. Two handles have the same resource type iff they point at the
// same ResourceType object. `name` is the name it was imported or exported under (for errors
// and WIT printing).
struct ResourceType {
  std::string name;
  explicit ResourceType(std::string n) : name(std::move(n)) {}
  virtual ~ResourceType() = default;
  // The resource type this one stands for: itself, or the original of an alias (validation
  // gives an exported resource a distinct identity for naming, the same for typing).
  virtual const ResourceType* canonical() const { return this; }
};
using ResourceTypePtr = std::shared_ptr<const ResourceType>;

struct Type;
using TypePtr = std::shared_ptr<const Type>;

struct Field {
  std::string name;
  TypePtr type;
};
struct Case {
  std::string name;
  TypePtr type;  // null: the case has no payload
};

// Canonical-ABI facts about a Type (CanonicalABI.md: alignment, elem_size, flatten_type),
// computed by the ABI code on first use and kept with the type. Types are immutable once
// shared, so the cache is filled at most once; copying a Type starts with an empty cache.
struct AbiLayout {
  uint32_t size = 0;
  uint32_t align = 1;
  uint32_t payload_offset = 0;  // variant, enum, option, result: where a case's payload starts
  std::vector<engine::ValType> flat;
};
class AbiLayoutCache {
 public:
  AbiLayoutCache() = default;
  AbiLayoutCache(const AbiLayoutCache&) noexcept {}
  AbiLayoutCache& operator=(const AbiLayoutCache&) = delete;
  const AbiLayout* get() const noexcept { return fast_.load(std::memory_order_acquire); }
  // Keeps `l` unless another thread filled the cache first; returns the kept layout.
  const AbiLayout& set(AbiLayout l) const;

 private:
  mutable std::atomic<const AbiLayout*> fast_{nullptr};
  mutable std::unique_ptr<const AbiLayout> owner_;
};

struct Type {
  TypeKind kind = TypeKind::Bool;
  TypePtr elem;                    // list, option, stream, future (null: no payload)
  std::vector<Field> fields;       // record
  std::vector<TypePtr> items;      // tuple
  std::vector<Case> cases;         // variant
  std::vector<std::string> names;  // enum cases, flags
  TypePtr ok, err;                 // result (either may be null)
  ResourceTypePtr resource;        // own, borrow
  uint32_t length = 0;             // list: fixed-size list<elem, length> when not 0
  // The interface-level name of this type when it was exported under one (`(export "point"
  // (type (eq N)))`), used when printing WIT; empty for anonymous types.
  std::string name;
  // A list that is a `map<K, V>`: `elem` is the tuple<K, V> of its entries (the canonical ABI
  // treats both the same; types and WIT keep them apart).
  bool map = false;
  AbiLayoutCache abi;  // filled by the canonical ABI code; not part of the type's value

  static TypePtr primitive(TypeKind k);  // shared singletons for Bool..String, ErrorContext
  std::string to_string() const;         // WIT-like spelling: list<u8>, result<u32, string>
};

// Structural equality (names of defined types ignored, resources by identity).
bool same_type(const Type& a, const Type& b);

struct FuncType {
  std::vector<std::pair<std::string, TypePtr>> params;
  // Results: either a single unnamed result (name "") or named results.
  std::vector<std::pair<std::string, TypePtr>> results;
  bool async = false;             // `async func` (Explainer.md "Async")
  std::string to_string() const;  // func(a: u32, b: u32) -> u32
};

// A handle to a resource as seen by the host: its type, the representation (the guest's i32
// for guest-defined resources, the host's own index for host-defined ones), and whether this
// Val owns it (own<T>) or borrows it for the duration of a call (borrow<T>).
struct ResourceAny {
  ResourceTypePtr type;
  uint32_t rep = 0;
  bool owned = true;
  // Set for resources defined by a component instance: that instance's state, so the handle
  // can be dropped (running the guest destructor) and lowered back. Opaque.
  std::shared_ptr<void> owner;
};

struct Val {
  TypeKind kind = TypeKind::Bool;
  // bool (0/1); unsigned ints; signed ints sign-extended to 64 bits; char (code point);
  // f32/f64 as raw IEEE bits; option (1 = some); result (0 = ok, 1 = err); variant and enum
  // (case index when known, the name in `str` is authoritative).
  uint64_t bits = 0;
  std::string str;                 // string (UTF-8); variant/enum case name
  std::vector<Val> items;          // list, tuple, record field values; payload (0 or 1 item) of
                                   // option, result and variant
  std::vector<std::string> names;  // record field names (parallel to items); flags that are set
  std::shared_ptr<ResourceAny> resource;  // own, borrow

  static Val boolean(bool v) { return num(TypeKind::Bool, v ? 1 : 0); }
  static Val s8(int8_t v) { return num(TypeKind::S8, static_cast<uint64_t>(int64_t{v})); }
  static Val u8(uint8_t v) { return num(TypeKind::U8, v); }
  static Val s16(int16_t v) { return num(TypeKind::S16, static_cast<uint64_t>(int64_t{v})); }
  static Val u16(uint16_t v) { return num(TypeKind::U16, v); }
  static Val s32(int32_t v) { return num(TypeKind::S32, static_cast<uint64_t>(int64_t{v})); }
  static Val u32(uint32_t v) { return num(TypeKind::U32, v); }
  static Val s64(int64_t v) { return num(TypeKind::S64, static_cast<uint64_t>(v)); }
  static Val u64(uint64_t v) { return num(TypeKind::U64, v); }
  static Val f32(float v);
  static Val f64(double v);
  static Val f32_bits(uint32_t b) { return num(TypeKind::F32, b); }
  static Val f64_bits(uint64_t b) { return num(TypeKind::F64, b); }
  static Val chr(char32_t c) { return num(TypeKind::Char, c); }
  static Val string(std::string s);
  static Val list(std::vector<Val> items);
  // A list<u8> held compactly: the bytes in `str`, `items` empty. The canonical ABI lifts
  // every list<u8> this way; list<u8> values may also be built with list() of u8 Vals. Code
  // that reads a list should use list_size() / list_items() (or bytes_view() for byte lists).
  static Val bytes(std::string data);
  static Val record(std::vector<std::pair<std::string, Val>> fields);
  static Val tuple(std::vector<Val> items);
  static Val variant(std::string name, std::optional<Val> payload, uint32_t index = 0);
  static Val enumeration(std::string name, uint32_t index = 0);
  static Val option(std::optional<Val> payload);
  static Val ok(std::optional<Val> payload);
  static Val err(std::optional<Val> payload);
  static Val flags(std::vector<std::string> set);
  static Val own(std::shared_ptr<ResourceAny> r);
  static Val borrow(std::shared_ptr<ResourceAny> r);

  int64_t as_s64() const { return static_cast<int64_t>(bits); }
  uint64_t as_u64() const { return bits; }
  float as_f32() const;
  double as_f64() const;
  bool as_bool() const { return bits != 0; }
  bool is_some() const { return bits == 1; }
  bool is_ok() const { return bits == 0; }
  const Val* payload() const { return items.empty() ? nullptr : &items[0]; }
  bool is_bytes() const { return kind == TypeKind::List && bits == kBytesForm; }
  size_t list_size() const { return is_bytes() ? str.size() : items.size(); }
  std::vector<Val> list_items() const;  // the elements as Vals, in either form
  // The bytes of a list<u8> in either form (a copy for the list() form).
  std::string bytes_copy() const;
  const Val* field(std::string_view name) const;

  bool operator==(const Val& o) const;       // deep; floats by bits; resources by type+rep; a
                                             // list<u8> equals itself in either form
  static constexpr uint64_t kBytesForm = 1;  // `bits` of a compact list<u8>

 private:
  static Val num(TypeKind k, uint64_t b) {
    Val v;
    v.kind = k;
    v.bits = b;
    return v;
  }
};

// Checks that `v` is a value of type `t` (kinds, case and field names, list element types,
// char ranges). Returns a Usage error naming the path to the first mismatch.
Result<void> typecheck(const Val& v, const Type& t, const std::string& path = "value");

}  // namespace flotilla::component
