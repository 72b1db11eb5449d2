// Typed calls: the fast path for exports whose parameters and result are scalars (bool,
// integers, floats, char). No Val is built; C++ arguments become core values directly.
//
//   auto add = TypedFunc<uint32_t(uint32_t, uint32_t)>::from(*instance.get_func("add"));
//   auto sum = add->call(store, 2, 40);  // Result<uint32_t>
//
// from() checks the signature against the component function's type (Usage error if they
// differ or the function is not a lifted export).
#pragma once

#include <flotilla/component/component.h>

#include <bit>
#include <cstdint>
#include <type_traits>

namespace flotilla::component {

namespace detail {

template <typename T>
struct Abi;
template <>
struct Abi<bool> {
  static constexpr TypeKind kind = TypeKind::Bool;
  static engine::Val lower(bool v) { return engine::Val::i32(v ? 1 : 0); }
  static bool lift(const engine::Val& v, bool& out) {
    out = v.i32() != 0;
    return true;
  }
};
#define FLOTILLA_ABI_INT(T, K, CORE, ACCESS)                       \
  template <>                                                      \
  struct Abi<T> {                                                  \
    static constexpr TypeKind kind = TypeKind::K;                  \
    static engine::Val lower(T v) { return engine::Val::CORE(v); } \
    static bool lift(const engine::Val& v, T& out) {               \
      out = static_cast<T>(v.ACCESS());                            \
      return true;                                                 \
    }                                                              \
  };
FLOTILLA_ABI_INT(int8_t, S8, i32, i32)
FLOTILLA_ABI_INT(uint8_t, U8, i32, u32)
FLOTILLA_ABI_INT(int16_t, S16, i32, i32)
FLOTILLA_ABI_INT(uint16_t, U16, i32, u32)
FLOTILLA_ABI_INT(int32_t, S32, i32, i32)
FLOTILLA_ABI_INT(uint32_t, U32, i32, u32)
FLOTILLA_ABI_INT(int64_t, S64, i64, i64)
FLOTILLA_ABI_INT(uint64_t, U64, i64, u64)
#undef FLOTILLA_ABI_INT
template <>
struct Abi<float> {
  static constexpr TypeKind kind = TypeKind::F32;
  static engine::Val lower(float v) {
    uint32_t b = std::bit_cast<uint32_t>(v);
    return engine::Val::f32_bits(v != v ? 0x7fc00000u : b);
  }
  static bool lift(const engine::Val& v, float& out) {
    out = v.f32();
    if (out != out) out = std::bit_cast<float>(0x7fc00000u);
    return true;
  }
};
template <>
struct Abi<double> {
  static constexpr TypeKind kind = TypeKind::F64;
  static engine::Val lower(double v) {
    uint64_t b = std::bit_cast<uint64_t>(v);
    return engine::Val::f64_bits(v != v ? 0x7ff8000000000000ull : b);
  }
  static bool lift(const engine::Val& v, double& out) {
    out = v.f64();
    if (out != out) out = std::bit_cast<double>(0x7ff8000000000000ull);
    return true;
  }
};
template <>
struct Abi<char32_t> {
  static constexpr TypeKind kind = TypeKind::Char;
  static engine::Val lower(char32_t v) { return engine::Val::i32(static_cast<int32_t>(v)); }
  static bool lift(const engine::Val& v, char32_t& out) {
    uint32_t c = v.u32();
    out = static_cast<char32_t>(c);
    return c < 0xd800 || (c > 0xdfff && c <= 0x10ffff);
  }
};

// Calls a lifted function with already-lowered core arguments, then its post-return.
Result<void> call_flat(engine::Store& store, const Func::Data& f, std::span<const engine::Val> args,
                       std::span<engine::Val> results);
// Checks that f is a lifted function whose params have `params` kinds and whose single
// result (if has_result) has kind `result`.
Result<void> check_typed(const Func& f, std::span<const TypeKind> params, bool has_result,
                         TypeKind result);

}  // namespace detail

template <typename Sig>
class TypedFunc;

template <typename R, typename... A>
class TypedFunc<R(A...)> {
 public:
  static Result<TypedFunc> from(const Func& f) {
    constexpr TypeKind kinds[sizeof...(A) + 1] = {detail::Abi<A>::kind..., TypeKind::Bool};
    TypeKind rk = TypeKind::Bool;
    if constexpr (!std::is_void_v<R>) rk = detail::Abi<R>::kind;
    auto ok = detail::check_typed(f, std::span<const TypeKind>(kinds, sizeof...(A)),
                                  !std::is_void_v<R>, rk);
    if (!ok) return Unexpected(ok.error());
    return TypedFunc(f);
  }

  Result<R> call(engine::Store& store, A... args) const {
    engine::Val in[sizeof...(A) + 1] = {detail::Abi<A>::lower(args)..., engine::Val()};
    engine::Val out[1];
    auto r = detail::call_flat(store, *f_.data(), std::span<const engine::Val>(in, sizeof...(A)),
                               std::span<engine::Val>(out, std::is_void_v<R> ? 0 : 1));
    if (!r) return Unexpected(r.error());
    if constexpr (std::is_void_v<R>) {
      return {};
    } else {
      R v{};
      if (!detail::Abi<R>::lift(out[0], v)) {
        return make_error(ErrorKind::Trap, "canonical ABI: invalid char value returned");
      }
      return v;
    }
  }

  const Func& func() const { return f_; }

 private:
  explicit TypedFunc(Func f) : f_(std::move(f)) {}
  Func f_;
};

}  // namespace flotilla::component
