// Calls on every tier: integer and float arithmetic, multi-value, wide signatures, bit-exact NaN
// payloads, host functions (all value types, errors, re-entry) and imports of every extern kind.
#include <cmath>
#include <cstring>
#include <limits>

#include "test_util.h"

namespace flotilla::engine::test {
namespace {

using V = fe::Val;

class Calls : public TierTest {};

TEST_P(Calls, I64Arithmetic) {
  auto inst = instantiate_stubbed("numeric");
  const int64_t min = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(ok(inst, "add64", {V::i64(INT64_MAX), V::i64(1)})[0].i64(), min);  // wraps
  EXPECT_EQ(ok(inst, "mul64", {V::i64(0x100000001LL), V::i64(0x100000001LL)})[0].i64(),
            0x200000001LL);  // high bits drop off
  EXPECT_EQ(ok(inst, "div_u64", {V::i64(-1), V::i64(2)})[0].u64(), 0x7fffffffffffffffULL);
  EXPECT_EQ(ok(inst, "div_s64", {V::i64(-7), V::i64(2)})[0].i64(), -3);
  EXPECT_EQ(ok(inst, "rem_s64", {V::i64(-7), V::i64(2)})[0].i64(), -1);
  EXPECT_EQ(ok(inst, "rem_s64", {V::i64(min), V::i64(-1)})[0].i64(), 0);  // no trap
  EXPECT_EQ(ok(inst, "rem_u64", {V::i64(-1), V::i64(10)})[0].u64(), 5u);
  EXPECT_EQ(ok(inst, "shr_s64", {V::i64(min), V::i64(63)})[0].i64(), -1);
  EXPECT_EQ(ok(inst, "shr_u64", {V::i64(min), V::i64(127)})[0].i64(), 1);  // count mod 64
  EXPECT_EQ(ok(inst, "rotl64", {V::i64(min + 1), V::i64(1)})[0].i64(), 3);
  auto bits = ok(inst, "bits64", {V::i64(0x00f0000000000100LL)});
  ASSERT_EQ(bits.size(), 3u);
  EXPECT_EQ(bits[0].i64(), 8);
  EXPECT_EQ(bits[1].i64(), 8);
  EXPECT_EQ(bits[2].i64(), 5);
  bits = ok(inst, "bits64", {V::i64(0)});
  EXPECT_EQ(bits[0].i64(), 64);
  EXPECT_EQ(bits[1].i64(), 64);
  EXPECT_EQ(bits[2].i64(), 0);
  auto ext = ok(inst, "extend", {V::i32(-128)});
  ASSERT_EQ(ext.size(), 3u);
  EXPECT_EQ(ext[0].i64(), -128);
  EXPECT_EQ(ext[1].i64(), 0xffffff80LL);
  EXPECT_EQ(ext[2].i64(), -128);
  EXPECT_EQ(ok(inst, "wrap", {V::i64(0x123456789abcdef0LL)})[0].u32(), 0x9abcdef0u);
  EXPECT_EQ(ok(inst, "rem_s32", {V::i32(INT32_MIN), V::i32(-1)})[0].i32(), 0);
  EXPECT_EQ(ok(inst, "shl32", {V::i32(1), V::i32(33)})[0].i32(), 2);
}

TEST_P(Calls, MultiValue) {
  auto inst = instantiate_stubbed("numeric");
  auto r = ok(inst, "reverse", {V::i32(-5), V::i64(-6000000000LL), V::f32(1.25f), V::f64(-2.5)});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].type(), VT::F64);
  EXPECT_EQ(r[0].f64(), -2.5);
  EXPECT_EQ(r[1].type(), VT::F32);
  EXPECT_EQ(r[1].f32(), 1.25f);
  EXPECT_EQ(r[2].type(), VT::I64);
  EXPECT_EQ(r[2].i64(), -6000000000LL);
  EXPECT_EQ(r[3].type(), VT::I32);
  EXPECT_EQ(r[3].i32(), -5);
  r = ok(inst, "divmod", {V::i32(47), V::i32(5)});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].i32(), 9);
  EXPECT_EQ(r[1].i32(), 2);
  r = ok(inst, "block_swap", {V::i32(1), V::i32(2)});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].i32(), 2);
  EXPECT_EQ(r[1].i32(), 1);
  EXPECT_EQ(ok(inst, "sum_divmod", {V::i32(47), V::i32(5)})[0].i32(), 11);

  // The span-based call with caller-provided results.
  auto f = inst.get_func("divmod");
  ASSERT_TRUE(f);
  std::vector<V> args{V::i32(100), V::i32(7)};
  std::vector<V> out(2);
  auto cr = f->call(store_, args, out);
  ASSERT_TRUE(cr) << cr.error().to_string();
  EXPECT_EQ(out[0].i32(), 14);
  EXPECT_EQ(out[1].i32(), 2);
  std::vector<V> wrong(1);
  cr = f->call(store_, args, wrong);
  ASSERT_FALSE(cr);
  EXPECT_EQ(cr.error().kind, fe::ErrorKind::Usage);
}

TEST_P(Calls, MoreThanSixteenParamsAndResults) {
  auto inst = instantiate_stubbed("numeric");
  std::vector<V> args;
  for (int i = 0; i < 5; ++i) {
    args.push_back(V::i32(1 + 100 * i));
    args.push_back(V::i64(2 + 100 * i));
    args.push_back(V::f32(0.5f + 100 * i));
    args.push_back(V::f64(0.25 + 100 * i));
  }
  auto f = inst.get_func("many_params");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type().params.size(), 20u);
  auto r = ok(inst, "many_params", args);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].f64(), (1 + 2 + 0.5 + 0.25) + (401 + 402 + 400.5 + 400.25));
  r = ok(inst, "many_results", {V::i32(10)});
  ASSERT_EQ(r.size(), 19u);
  for (int i = 0; i < 17; ++i) EXPECT_EQ(r[i].i32(), 10 + i) << i;
  EXPECT_EQ(r[17].i64(), -1);
  EXPECT_EQ(r[18].f64(), 0.5);
}

TEST_P(Calls, FloatArithmetic) {
  auto inst = instantiate_stubbed("numeric");
  auto r = ok(inst, "f64_ops", {V::f64(-0.0), V::f64(0.0)});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_TRUE(std::signbit(r[0].f64()));   // min(-0, +0) = -0
  EXPECT_FALSE(std::signbit(r[1].f64()));  // max(-0, +0) = +0
  r = ok(inst, "f64_ops", {V::f64(2.0), V::f64(2.5)});
  EXPECT_EQ(r[2].f64(), std::sqrt(2.0));
  EXPECT_EQ(r[3].f64(), 2.0);  // nearest rounds half to even
  r = ok(inst, "f64_ops", {V::f64(1.0), V::f64(-3.5)});
  EXPECT_EQ(r[3].f64(), -4.0);
  r = ok(inst, "f64_ops", {V::f64(std::nan("")), V::f64(1.0)});
  EXPECT_TRUE(std::isnan(r[0].f64()));  // min/max propagate NaN
  EXPECT_TRUE(std::isnan(r[1].f64()));
  EXPECT_EQ(ok(inst, "f32_div", {V::f32(1.0f), V::f32(0.0f)})[0].f32(),
            std::numeric_limits<float>::infinity());
  r = ok(inst, "trunc_sat", {V::f64(std::nan(""))});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].i32(), 0);
  EXPECT_EQ(r[1].i64(), 0);
  r = ok(inst, "trunc_sat", {V::f64(1e300)});
  EXPECT_EQ(r[0].i32(), INT32_MAX);
  EXPECT_EQ(r[1].u64(), UINT64_MAX);
  EXPECT_EQ(r[2].u32(), UINT32_MAX);
  r = ok(inst, "trunc_sat", {V::f64(-1e300)});
  EXPECT_EQ(r[0].i32(), INT32_MIN);
  EXPECT_EQ(r[1].u64(), 0u);
  EXPECT_EQ(r[2].u32(), 0u);
  r = ok(inst, "convert", {V::i64(-1)});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].f32(), 18446744073709551616.0f);  // unsigned
  EXPECT_EQ(r[1].f64(), -1.0);
}

// ---------------------------------------------------------------------------------------------
// NaN payloads

struct NanHost {
  fe::Linker linker;
  NanHost(fe::Store& store) {
    EXPECT_TRUE(linker.define_func(
        store, "host", "id_f32", {{VT::F32}, {VT::F32}},
        [](fe::Caller&, std::span<const V> p, std::span<V> r) -> fe::Result<void> {
          r[0] = p[0];
          return {};
        }));
    EXPECT_TRUE(linker.define_func(
        store, "host", "id_f64", {{VT::F64}, {VT::F64}},
        [](fe::Caller&, std::span<const V> p, std::span<V> r) -> fe::Result<void> {
          r[0] = V::f64_bits(p[0].f64_bits());
          return {};
        }));
  }
};

class NanPayloads : public TierTest {
 protected:
  fe::Instance nan_instance() {
    NanHost host(store_);
    auto m = compile("nan");
    auto inst = host.linker.instantiate(store_, m);
    EXPECT_TRUE(inst) << inst.error().to_string();
    return inst ? *inst : fe::Instance();
  }
};

constexpr uint32_t kSNan32 = 0x7fa00001u;  // signaling (quiet bit clear), payload 0x200001
constexpr uint32_t kQNan32 = 0xffc12345u;  // quiet, negative
constexpr uint64_t kSNan64 = 0x7ff4000000000001ull;
constexpr uint64_t kQNan64 = 0xfff8000000abcdefull;

TEST_P(NanPayloads, IdentityAndCalls) {
  auto inst = nan_instance();
  for (uint32_t bits : {kSNan32, kQNan32, 0x7f800001u, 0xff800001u}) {
    SCOPED_TRACE(bits);
    EXPECT_EQ(ok(inst, "id_f32", {V::f32_bits(bits)})[0].f32_bits(), bits);
    EXPECT_EQ(ok(inst, "call_id_f32", {V::f32_bits(bits)})[0].f32_bits(), bits);
    EXPECT_EQ(ok(inst, "mem_f32", {V::f32_bits(bits)})[0].f32_bits(), bits);
    EXPECT_EQ(ok(inst, "bits_f32", {V::f32_bits(bits)})[0].u32(), bits);
    EXPECT_EQ(ok(inst, "from_bits_f32", {V::i32(static_cast<int32_t>(bits))})[0].f32_bits(), bits);
    EXPECT_EQ(ok(inst, "global_f32", {V::f32_bits(bits)})[0].f32_bits(), bits);
    EXPECT_EQ(ok(inst, "via_host_f32", {V::f32_bits(bits)})[0].f32_bits(), bits);
  }
  for (uint64_t bits : {kSNan64, kQNan64, uint64_t{0x7ff0000000000001ull}}) {
    SCOPED_TRACE(bits);
    EXPECT_EQ(ok(inst, "id_f64", {V::f64_bits(bits)})[0].f64_bits(), bits);
    EXPECT_EQ(ok(inst, "call_id_f64", {V::f64_bits(bits)})[0].f64_bits(), bits);
    EXPECT_EQ(ok(inst, "mem_f64", {V::f64_bits(bits)})[0].f64_bits(), bits);
    EXPECT_EQ(ok(inst, "bits_f64", {V::f64_bits(bits)})[0].u64(), bits);
    EXPECT_EQ(ok(inst, "from_bits_f64", {V::i64(static_cast<int64_t>(bits))})[0].f64_bits(), bits);
    EXPECT_EQ(ok(inst, "select_f64", {V::f64_bits(bits), V::f64(1), V::i32(1)})[0].f64_bits(),
              bits);
    EXPECT_EQ(ok(inst, "select_f64", {V::f64(1), V::f64_bits(bits), V::i32(0)})[0].f64_bits(),
              bits);
    EXPECT_EQ(ok(inst, "via_host_f64", {V::f64_bits(bits)})[0].f64_bits(), bits);
  }
  auto r = ok(inst, "multi_nan", {V::f32_bits(kSNan32), V::f64_bits(kSNan64)});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].f64_bits(), kSNan64);
  EXPECT_EQ(r[1].f32_bits(), kSNan32);
}

TEST_P(NanPayloads, SignOperationsKeepPayload) {
  auto inst = nan_instance();
  EXPECT_EQ(ok(inst, "neg_f32", {V::f32_bits(kSNan32)})[0].f32_bits(), kSNan32 | 0x80000000u);
  EXPECT_EQ(ok(inst, "abs_f32", {V::f32_bits(kQNan32)})[0].f32_bits(), kQNan32 & 0x7fffffffu);
  EXPECT_EQ(ok(inst, "copysign_f32", {V::f32_bits(kSNan32), V::f32(-1)})[0].f32_bits(),
            kSNan32 | 0x80000000u);
  EXPECT_EQ(ok(inst, "neg_f64", {V::f64_bits(kSNan64)})[0].f64_bits(),
            kSNan64 | 0x8000000000000000ull);
  EXPECT_EQ(ok(inst, "abs_f64", {V::f64_bits(kQNan64)})[0].f64_bits(),
            kQNan64 & 0x7fffffffffffffffull);
  EXPECT_EQ(ok(inst, "copysign_f64", {V::f64_bits(kQNan64), V::f64(1)})[0].f64_bits(),
            kQNan64 & 0x7fffffffffffffffull);
  // -0.0 and +0.0 are distinct bit patterns too.
  EXPECT_EQ(ok(inst, "neg_f64", {V::f64(0.0)})[0].f64_bits(), 0x8000000000000000ull);
}

TEST_P(NanPayloads, ConstantsAndGlobals) {
  auto inst = nan_instance();
  EXPECT_EQ(ok(inst, "const_f32", {})[0].f32_bits(), 0x7fa00001u);
  EXPECT_EQ(ok(inst, "const_f64", {})[0].f64_bits(), 0xfff4000000000001ull);
  auto g32 = inst.get_global("g32");
  auto g64 = inst.get_global("g64");
  ASSERT_TRUE(g32 && g64);
  EXPECT_EQ(g64->get().f64_bits(), 0x7ff4000000000001ull);
  EXPECT_EQ(g32->get().f32_bits(), 0x7fa00001u);  // initial value from the module
  ASSERT_TRUE(g64->set(V::f64_bits(0x7ff0000000000123ull)));
  EXPECT_EQ(ok(inst, "get_g64", {})[0].f64_bits(), 0x7ff0000000000123ull);
  // Memory written by the host keeps the bits too.
  auto mem = inst.get_memory("mem");
  ASSERT_TRUE(mem);
  ok(inst, "mem_f32", {V::f32_bits(kSNan32)});
  uint32_t raw = 0;
  ASSERT_TRUE(mem->read(16, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&raw), 4)));
  EXPECT_EQ(raw, kSNan32);
}

// ---------------------------------------------------------------------------------------------
// Host functions

class HostFunctions : public TierTest {
 protected:
  // Defines host.wat's imports. `reenter` calls the guest's "mutual" export.
  fe::Instance host_instance(fe::Linker& linker) {
    EXPECT_TRUE(linker.define_func(
        store_, "host", "all",
        {{VT::I32, VT::I64, VT::F32, VT::F64}, {VT::F64, VT::F32, VT::I64, VT::I32}},
        [this](fe::Caller& caller, std::span<const V> p, std::span<V> r) -> fe::Result<void> {
          all_calls++;
          all_from_guest = static_cast<bool>(caller.instance());
          r[0] = V::f64(p[3].f64() * 2);
          r[1] = V::f32(p[2].f32() * 2);
          r[2] = V::i64(p[1].i64() * 2);
          r[3] = V::i32(p[0].i32() * 2);
          return {};
        }));
    EXPECT_TRUE(
        linker.define_func(store_, "host", "fail", {},
                           [](fe::Caller&, std::span<const V>, std::span<V>) -> fe::Result<void> {
                             return fe::make_error(fe::ErrorKind::Usage, "the host said no");
                           }));
    EXPECT_TRUE(linker.define_func(
        store_, "host", "fail_i32", {{VT::I32}, {VT::I32}},
        [](fe::Caller&, std::span<const V> p, std::span<V> r) -> fe::Result<void> {
          if (p[0].i32() == 0) return fe::make_error(fe::ErrorKind::Io, "zero is not allowed");
          if (p[0].i32() == 1) throw std::runtime_error("an exception from the host");
          if (p[0].i32() == 2) {
            r[0] = V::i64(1);  // wrong result type
            return {};
          }
          r[0] = V::i32(p[0].i32() * 10);
          return {};
        }));
    EXPECT_TRUE(linker.define_func(
        store_, "host", "reenter", {{VT::I32}, {VT::I32}},
        [](fe::Caller& caller, std::span<const V> p, std::span<V> r) -> fe::Result<void> {
          auto f = caller.get_export("mutual");
          if (!f) return fe::make_error(fe::ErrorKind::Usage, "no export mutual");
          std::vector<V> args{p[0]};
          auto res = f->func.call(caller.store(), args);
          if (!res) return flotilla::Unexpected(res.error());
          r[0] = (*res)[0];
          return {};
        }));
    EXPECT_TRUE(linker.define_func(
        store_, "host", "read_mem", {{VT::I32, VT::I32}, {VT::I32}},
        [](fe::Caller& caller, std::span<const V> p, std::span<V> r) -> fe::Result<void> {
          auto mem = caller.get_export("memory");
          if (!mem || mem->kind != fe::ExternKind::Memory)
            return fe::make_error(fe::ErrorKind::Usage, "no memory");
          std::vector<uint8_t> buf(static_cast<uint32_t>(p[1].i32()));
          auto rd = mem->memory.read(static_cast<uint32_t>(p[0].i32()), buf);
          if (!rd) return rd;
          int sum = 0;
          for (auto b : buf) sum += b;
          r[0] = V::i32(sum);
          return {};
        }));
    EXPECT_TRUE(linker.define_func(store_, "host", "nothing", {}, zero_results()));
    auto m = compile("host");
    auto inst = linker.instantiate(store_, m);
    EXPECT_TRUE(inst) << inst.error().to_string();
    return inst ? *inst : fe::Instance();
  }
  int all_calls = 0;
  bool all_from_guest = false;

  void expect_host_error(const fe::Instance& inst, const std::string& fn, std::vector<V> args,
                         const std::string& message) {
    auto r = call(inst, fn, std::move(args));
    ASSERT_FALSE(r) << fn << " did not fail";
    EXPECT_EQ(r.error().kind, fe::ErrorKind::Trap);
    ASSERT_TRUE(r.error().trap);
    EXPECT_EQ(*r.error().trap, fe::TrapKind::HostError) << r.error().to_string();
    EXPECT_NE(r.error().to_string().find(message), std::string::npos) << r.error().to_string();
    EXPECT_EQ(ok(inst, "ok", {})[0].i32(), 42);  // the instance stays usable
  }
};

TEST_P(HostFunctions, AllValueTypes) {
  fe::Linker linker;
  auto inst = host_instance(linker);
  auto r = ok(inst, "call_all", {V::i32(-21), V::i64(1LL << 40), V::f32(1.5f), V::f64(-0.25)});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].f64(), -0.5);
  EXPECT_EQ(r[1].f32(), 3.0f);
  EXPECT_EQ(r[2].i64(), 1LL << 41);
  EXPECT_EQ(r[3].i32(), -42);
  EXPECT_EQ(all_calls, 1);
  EXPECT_TRUE(all_from_guest);  // the Caller names the calling instance
  // The host function can read the caller's memory.
  int sum = 0;
  for (char c : std::string("hello, host")) sum += static_cast<uint8_t>(c);
  EXPECT_EQ(ok(inst, "sum_host_mem", {})[0].i32(), sum);
  // A host Func called directly from the host (no calling instance).
  auto hf = linker.get("host", "all");
  ASSERT_TRUE(hf);
  std::vector<V> args{V::i32(1), V::i64(2), V::f32(3), V::f64(4)};
  auto direct = hf->func.call(store_, args);
  ASSERT_TRUE(direct) << direct.error().to_string();
  EXPECT_EQ((*direct)[3].i32(), 2);
  EXPECT_FALSE(all_from_guest);
}

TEST_P(HostFunctions, ErrorsBecomeHostErrorTraps) {
  fe::Linker linker;
  auto inst = host_instance(linker);
  expect_host_error(inst, "call_fail", {}, "the host said no");
  expect_host_error(inst, "call_fail_i32", {V::i32(0)}, "zero is not allowed");
  expect_host_error(inst, "call_fail_i32", {V::i32(1)}, "an exception from the host");
  expect_host_error(inst, "call_fail_i32", {V::i32(2)}, "wrong type");
  EXPECT_EQ(ok(inst, "call_fail_i32", {V::i32(4)})[0].i32(), 41);
}

TEST_P(HostFunctions, HostCallsBackIntoGuest) {
  fe::Linker linker;
  auto inst = host_instance(linker);
  EXPECT_EQ(ok(inst, "mutual", {V::i32(50)})[0].i32(), 50);
  EXPECT_EQ(inst.get_global("calls")->get().i32(), 51);
}

TEST_P(HostFunctions, UnboundedReentryIsExhaustionNotACrash) {
  fe::Linker linker;
  auto inst = host_instance(linker);
  // guest -> host -> guest -> ... without end: each level also uses host stack frames.
  auto r = call(inst, "mutual", {V::i32(1 << 30)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Trap);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::CallStackExhausted) << r.error().to_string();
  EXPECT_EQ(ok(inst, "mutual", {V::i32(10)})[0].i32(), 10);
}

TEST_P(HostFunctions, TrapInsideCallbackPropagates) {
  fe::Linker linker;
  fe::Instance guest;
  ASSERT_TRUE(linker.define_func(
      store_, "host", "all",
      {{VT::I32, VT::I64, VT::F32, VT::F64}, {VT::F64, VT::F32, VT::I64, VT::I32}},
      [&guest](fe::Caller& caller, std::span<const V> p, std::span<V>) -> fe::Result<void> {
        // Calls the guest's "div" with a zero divisor: the inner call traps.
        auto div = guest.get_func("div");
        if (!div) return fe::make_error(fe::ErrorKind::Usage, "no div");
        std::vector<V> args{p[0], V::i32(0)};
        auto res = div->call(caller.store(), args);
        if (res) return fe::make_error(fe::ErrorKind::Usage, "div by zero did not trap");
        EXPECT_EQ(*res.error().trap, fe::TrapKind::IntegerDivideByZero);
        return flotilla::Unexpected(res.error());
      }));
  for (const char* name : {"fail", "nothing"})
    ASSERT_TRUE(linker.define_func(store_, "host", name, {}, zero_results()));
  ASSERT_TRUE(
      linker.define_func(store_, "host", "fail_i32", {{VT::I32}, {VT::I32}}, zero_results()));
  ASSERT_TRUE(
      linker.define_func(store_, "host", "reenter", {{VT::I32}, {VT::I32}}, zero_results()));
  ASSERT_TRUE(linker.define_func(store_, "host", "read_mem", {{VT::I32, VT::I32}, {VT::I32}},
                                 zero_results()));
  auto m = compile("host");
  auto inst = linker.instantiate(store_, m);
  ASSERT_TRUE(inst) << inst.error().to_string();
  guest = *inst;
  auto r = call(guest, "call_all", {V::i32(1), V::i64(0), V::f32(0), V::f64(0)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, fe::ErrorKind::Trap);
  ASSERT_TRUE(r.error().trap);
  // The inner trap is what the host returned: its kind is kept.
  EXPECT_EQ(*r.error().trap, fe::TrapKind::IntegerDivideByZero) << r.error().to_string();
  EXPECT_EQ(ok(guest, "ok", {})[0].i32(), 42);
  EXPECT_EQ(ok(guest, "div", {V::i32(84), V::i32(2)})[0].i32(), 42);
}

TEST_P(HostFunctions, InterruptWhileCallingHostInALoop) {
  fe::Linker linker;
  auto inst = host_instance(linker);
  store_.set_timeout(std::chrono::milliseconds(50));
  auto r = call(inst, "spin_with_host", {});
  ASSERT_FALSE(r);
  ASSERT_TRUE(r.error().trap);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::Interrupted) << r.error().to_string();
  store_.clear_deadline();
  EXPECT_EQ(ok(inst, "ok", {})[0].i32(), 42);
}

// ---------------------------------------------------------------------------------------------
// Imports of memories, tables and globals

class Imports : public TierTest {};

TEST_P(Imports, HostCreatedExterns) {
  auto mem = fe::Memory::create(store_, {{1, 4}});
  ASSERT_TRUE(mem) << mem.error().to_string();
  auto tab = fe::Table::create(store_, {VT::FuncRef, {2, std::nullopt}}, V::null_funcref());
  ASSERT_TRUE(tab) << tab.error().to_string();
  auto gi = fe::Global::create(store_, {VT::I32, false}, V::i32(7));
  auto gf = fe::Global::create(store_, {VT::F64, true}, V::f64(1.0));
  auto gl = fe::Global::create(store_, {VT::I64, true}, V::i64(-1));
  ASSERT_TRUE(gi && gf && gl);
  fe::Linker linker;
  ASSERT_TRUE(linker.define("env", "mem", *mem));
  ASSERT_TRUE(linker.define("env", "tab", *tab));
  ASSERT_TRUE(linker.define("env", "g_i32", *gi));
  ASSERT_TRUE(linker.define("env", "g_f64", *gf));
  ASSERT_TRUE(linker.define("env", "g_i64", *gl));
  ASSERT_TRUE(
      linker.define_func(store_, "env", "twice", {{VT::I32}, {VT::I32}},
                         [](fe::Caller&, std::span<const V> p, std::span<V> r) -> fe::Result<void> {
                           r[0] = V::i32(p[0].i32() * 2);
                           return {};
                         }));
  auto m = compile("imports");
  auto inst = linker.instantiate(store_, m);
  ASSERT_TRUE(inst) << inst.error().to_string();

  // Memory shared both ways, also after growing from the guest and from the host.
  uint8_t b = 99;
  ASSERT_TRUE(mem->write(1000, std::span<const uint8_t>(&b, 1)));
  EXPECT_EQ(ok(*inst, "peek", {V::i32(1000)})[0].i32(), 99);
  ok(*inst, "poke", {V::i32(2000), V::i32(5)});
  EXPECT_EQ(mem->data()[2000], 5);
  EXPECT_EQ(ok(*inst, "grow", {V::i32(1)})[0].i32(), 1);
  EXPECT_EQ(mem->pages(), 2u);
  ok(*inst, "poke", {V::i32(65536 + 10), V::i32(6)});
  EXPECT_EQ(mem->data()[65536 + 10], 6);
  auto g = mem->grow(1);
  ASSERT_TRUE(g);
  EXPECT_EQ(*g, 2u);
  EXPECT_EQ(ok(*inst, "peek", {V::i32(65536 + 10)})[0].i32(), 6);
  ok(*inst, "poke", {V::i32(3 * 65536 - 1), V::i32(8)});
  EXPECT_EQ(ok(*inst, "grow", {V::i32(2)})[0].i32(), -1);  // declared maximum is 4
  EXPECT_FALSE(mem->grow(2));
  EXPECT_EQ(ok(*inst, "grow", {V::i32(1)})[0].i32(), 3);

  // Globals.
  EXPECT_EQ(ok(*inst, "get_gi", {})[0].i32(), 7);
  EXPECT_FALSE(gi->set(V::i32(8)));  // immutable
  EXPECT_EQ(ok(*inst, "bump_gf", {})[0].f64(), 2.5);
  EXPECT_EQ(gf->get().f64(), 2.5);
  ASSERT_TRUE(gl->set(V::i64(41)));
  EXPECT_EQ(ok(*inst, "bump_gl", {})[0].i64(), 42);

  // Table: slot 1 was filled by the module's element segment; slot 0 is null.
  EXPECT_EQ(ok(*inst, "call_slot", {V::i32(1), V::i32(21)})[0].i32(), 42);
  auto r = call(*inst, "call_slot", {V::i32(0), V::i32(21)});
  ASSERT_FALSE(r);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::IndirectCall);
  auto slot1 = tab->get(1);
  ASSERT_TRUE(slot1);
  ASSERT_TRUE(tab->set(0, *slot1));  // the host copies a guest funcref into slot 0
  EXPECT_EQ(ok(*inst, "call_slot", {V::i32(0), V::i32(4)})[0].i32(), 8);
  auto grown = tab->grow(3, V::null_funcref());
  ASSERT_TRUE(grown);
  EXPECT_EQ(*grown, 2u);
  r = call(*inst, "call_slot", {V::i32(4), V::i32(1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(*r.error().trap, fe::TrapKind::IndirectCall);
  EXPECT_EQ(ok(*inst, "call_twice", {V::i32(50)})[0].i32(), 100);
}

TEST_P(Imports, MismatchedImportsAreLinkErrors) {
  auto m = compile("imports");
  auto define_all = [&](fe::Linker& l, fe::MemoryType mt, fe::GlobalType gf_type) {
    auto mem = fe::Memory::create(store_, mt);
    ASSERT_TRUE(mem) << mem.error().to_string();
    ASSERT_TRUE(l.define("env", "mem", *mem));
    ASSERT_TRUE(l.define("env", "tab",
                         *fe::Table::create(store_, {VT::FuncRef, {2, {}}}, V::null_funcref())));
    ASSERT_TRUE(l.define("env", "g_i32", *fe::Global::create(store_, {VT::I32, false}, V::i32(0))));
    ASSERT_TRUE(l.define("env", "g_f64",
                         *fe::Global::create(store_, gf_type, V::default_for(gf_type.content))));
    ASSERT_TRUE(l.define("env", "g_i64", *fe::Global::create(store_, {VT::I64, true}, V::i64(0))));
    ASSERT_TRUE(l.define_func(store_, "env", "twice", {{VT::I32}, {VT::I32}}, zero_results()));
  };
  {
    fe::Linker l;  // memory without a maximum where the import declares 4
    define_all(l, {{1, std::nullopt}}, {VT::F64, true});
    auto inst = l.instantiate(store_, m);
    ASSERT_FALSE(inst);
    EXPECT_EQ(inst.error().kind, fe::ErrorKind::Link);
    EXPECT_NE(inst.error().message.find("mem"), std::string::npos) << inst.error().message;
  }
  {
    fe::Linker l;  // immutable global where a mutable one is imported
    define_all(l, {{1, 4}}, {VT::F64, false});
    auto inst = l.instantiate(store_, m);
    ASSERT_FALSE(inst);
    EXPECT_EQ(inst.error().kind, fe::ErrorKind::Link);
  }
  {
    fe::Linker l;  // a global of the wrong type
    define_all(l, {{1, 4}}, {VT::F32, true});
    auto inst = l.instantiate(store_, m);
    ASSERT_FALSE(inst);
    EXPECT_EQ(inst.error().kind, fe::ErrorKind::Link);
  }
  {
    fe::Linker l;  // a memory smaller than the import's minimum
    define_all(l, {{0, 4}}, {VT::F64, true});
    auto inst = l.instantiate(store_, m);
    ASSERT_FALSE(inst);
    EXPECT_EQ(inst.error().kind, fe::ErrorKind::Link);
  }
  {
    fe::Linker l;  // positional imports: wrong count
    std::vector<fe::Extern> none;
    auto inst = fe::Instance::create(store_, m, none);
    ASSERT_FALSE(inst);
    EXPECT_EQ(inst.error().kind, fe::ErrorKind::Link);
  }
  {
    fe::Linker l;  // a function where a memory is expected
    l.allow_shadowing(true);
    define_all(l, {{1, 4}}, {VT::F64, true});
    ASSERT_TRUE(l.define_func(store_, "env", "mem", {}, zero_results()));
    auto inst = l.instantiate(store_, m);
    ASSERT_FALSE(inst);
    EXPECT_EQ(inst.error().kind, fe::ErrorKind::Link);
  }
  {
    fe::Linker l;  // duplicate definitions are refused without shadowing
    ASSERT_TRUE(l.define_func(store_, "env", "twice", {{VT::I32}, {VT::I32}}, zero_results()));
    EXPECT_FALSE(l.define_func(store_, "env", "twice", {{VT::I32}, {VT::I32}}, zero_results()));
  }
}

TEST_P(Imports, InstanceExportsIntoAnotherInstance) {
  // imports.wat takes its memory, table and globals from another instance's exports.
  auto provider_m = compile("limits");  // exports mem (1 page, no max) and tab
  auto provider = fe::Linker().instantiate(store_, provider_m);
  ASSERT_TRUE(provider) << provider.error().to_string();
  fe::Linker l;
  // limits.wat's memory has no maximum, imports.wat wants max 4: a link error.
  ASSERT_TRUE(l.define("env", "mem", *provider->get_memory("mem")));
  auto tab = provider->get_table("tab");
  ASSERT_TRUE(tab);
  ASSERT_TRUE(tab->grow(1, V::null_funcref()));
  ASSERT_TRUE(l.define("env", "tab", *tab));
  ASSERT_TRUE(l.define("env", "g_i32", *fe::Global::create(store_, {VT::I32, false}, V::i32(3))));
  ASSERT_TRUE(l.define("env", "g_f64", *fe::Global::create(store_, {VT::F64, true}, V::f64(0))));
  ASSERT_TRUE(l.define("env", "g_i64", *fe::Global::create(store_, {VT::I64, true}, V::i64(0))));
  ASSERT_TRUE(l.define_func(store_, "env", "twice", {{VT::I32}, {VT::I32}}, zero_results()));
  auto m = compile("imports");
  auto bad = l.instantiate(store_, m);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, fe::ErrorKind::Link);
  // With a fitting memory the table of the other instance is shared.
  l.allow_shadowing(true);
  ASSERT_TRUE(l.define("env", "mem", *fe::Memory::create(store_, {{1, 2}})));
  auto inst = l.instantiate(store_, m);
  ASSERT_TRUE(inst) << inst.error().to_string();
  EXPECT_EQ(ok(*provider, "table_size", {})[0].i32(), 2);
  auto e = tab->get(1);  // imports.wat's element segment wrote its function here
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->is_null_ref());
  auto f = fe::Func::from_ref(store_, e->funcref());
  ASSERT_TRUE(f);
  std::vector<V> args{V::i32(9)};
  auto r = f->call(store_, args);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ((*r)[0].i32(), 18);
}

INSTANTIATE_TEST_SUITE_P(Tiers, Calls, FLOTILLA_ALL_TIERS, variant_name);
INSTANTIATE_TEST_SUITE_P(Tiers, NanPayloads, FLOTILLA_ALL_TIERS, variant_name);
INSTANTIATE_TEST_SUITE_P(Tiers, HostFunctions, FLOTILLA_ALL_TIERS, variant_name);
INSTANTIATE_TEST_SUITE_P(Tiers, Imports, FLOTILLA_ALL_TIERS, variant_name);

}  // namespace
}  // namespace flotilla::engine::test
