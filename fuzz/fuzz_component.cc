// libFuzzer target for the component layer. The first input byte picks the mode:
//  - even: decode + validate + resolve + print WIT of the remaining bytes as a component;
//  - odd:  lift values out of guest memory: the rest of the input becomes the guest's memory
//          (the return area at address 0, pointers into it), then one export of a fixed
//          component (fuzz/components/lift.wat) is called; or lower host values built from
//          the input into guest memory through realloc.
// Any outcome but a crash (or a sanitizer report) is fine; errors must be Error values.
#include <flotilla/component/component.h>
#include <flotilla/component/wave.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

namespace fc = flotilla::component;
namespace fe = flotilla::engine;

namespace {

struct LiftFixture {
  std::unique_ptr<fe::Engine> engine;
  std::unique_ptr<fc::Component> comp;
};

LiftFixture& fixture() {
  static LiftFixture f = [] {
    LiftFixture x;
    fe::Config cfg;
    cfg.tier = fe::Tier::Baseline;
    cfg.cache_enabled = false;
    x.engine = std::make_unique<fe::Engine>(cfg);
    const char* path = getenv("FLOTILLA_FUZZ_LIFT_COMPONENT");
    std::ifstream in(path ? path : FLOTILLA_FUZZ_LIFT_COMPONENT, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    auto c = fc::Component::compile(*x.engine, bytes);
    if (!c) {
      fprintf(stderr, "fuzz_component: cannot load the lift component: %s\n",
              c.error().to_string().c_str());
      abort();
    }
    x.comp = std::make_unique<fc::Component>(*c);
    return x;
  }();
  return f;
}

const char* kLifts[] = {"string-utf8", "string-utf16", "string-latin1", "list-string",
                        "list-record", "list-variant", "option-result", "tuple-flags"};

// Builds a host value of type t from the input (bounded size).
struct Src {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (!n) return 0;
    n--;
    return *p++;
  }
};

fc::Val make(const fc::Type& t, Src& s, int depth) {
  using K = fc::TypeKind;
  switch (t.kind) {
    case K::Bool:
      return fc::Val::boolean(s.byte() & 1);
    case K::U8:
      return fc::Val::u8(s.byte());
    case K::U16:
      return fc::Val::u16(static_cast<uint16_t>(s.byte() | s.byte() << 8));
    case K::U64:
      return fc::Val::u64(uint64_t(s.byte()) << 40 | s.byte());
    case K::F32:
      return fc::Val::f32_bits(uint32_t(s.byte()) << 24 | s.byte());
    case K::Char: {
      char32_t c = s.byte() * 37 + (s.byte() << 8);
      if (c >= 0xd800 && c <= 0xdfff) c = 'x';
      return fc::Val::chr(c);
    }
    case K::String: {
      std::string out;
      size_t len = s.byte() % 24;
      for (size_t i = 0; i < len; i++) {
        uint8_t b = s.byte();
        if (b < 0x80) {
          out += static_cast<char>(b);
        } else if (b < 0xc0) {  // 2-byte
          out += static_cast<char>(0xc2 + (b & 1));
          out += static_cast<char>(0x80 | (b & 0x3f));
        } else {  // 4-byte
          out += "\xf0\x9f\x98\x80";
        }
      }
      return fc::Val::string(out);
    }
    case K::List: {
      std::vector<fc::Val> items;
      size_t len = depth > 2 ? 0 : s.byte() % 8;
      for (size_t i = 0; i < len; i++) items.push_back(make(*t.elem, s, depth + 1));
      return fc::Val::list(std::move(items));
    }
    case K::Record: {
      std::vector<std::pair<std::string, fc::Val>> f;
      for (auto& x : t.fields) f.emplace_back(x.name, make(*x.type, s, depth + 1));
      return fc::Val::record(std::move(f));
    }
    case K::Tuple: {
      std::vector<fc::Val> items;
      for (auto& x : t.items) items.push_back(make(*x, s, depth + 1));
      return fc::Val::tuple(std::move(items));
    }
    case K::Variant: {
      size_t i = s.byte() % t.cases.size();
      std::optional<fc::Val> p;
      if (t.cases[i].type) p = make(*t.cases[i].type, s, depth + 1);
      return fc::Val::variant(t.cases[i].name, std::move(p), static_cast<uint32_t>(i));
    }
    default:
      return fc::Val::u32(s.byte());
  }
}

void fuzz_decode(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  auto v = fc::Component::validate(bytes);
  auto c = fc::Component::compile_static(bytes);
  if (v && !c) {
    fprintf(stderr, "validate accepted what compile_static rejected: %s\n",
            c.error().to_string().c_str());
    abort();
  }
  if (c) {
    std::string wit = c->wit();
    if (wit.empty()) abort();
  }
}

void fuzz_lift(const uint8_t* data, size_t size) {
  auto& fx = fixture();
  if (size < 1) return;
  uint8_t sel = data[0];
  data++;
  size--;
  fe::Store store(*fx.engine);
  fc::Linker linker;
  auto inst = fc::instantiate(store, linker, *fx.comp);
  if (!inst) abort();
  if (sel & 0x80) {  // lowering
    const char* names[] = {"lower-list-record", "lower-variant-utf16", "lower-latin1"};
    auto f = inst->get_func(names[sel % 3]);
    if (!f) abort();
    Src s{data, size};
    fc::Val arg = make(*f->type().params[0].second, s, 0);
    auto r = f->call(store, std::span<const fc::Val>(&arg, 1));
    (void)r;
    return;
  }
  // Fill the guest's memory with the input (through a lifted list<u8> parameter).
  auto f = inst->get_func(kLifts[sel % (sizeof(kLifts) / sizeof(kLifts[0]))]);
  auto set = inst->get_func("set-memory");
  if (!f || !set) abort();
  std::vector<fc::Val> bytes;
  for (size_t i = 0; i < std::min<size_t>(size, 30000); i++) bytes.push_back(fc::Val::u8(data[i]));
  fc::Val arg = fc::Val::list(std::move(bytes));
  if (!set->call(store, std::span<const fc::Val>(&arg, 1))) abort();
  auto r = f->call(store, {});
  if (r) {
    for (auto& v : *r) (void)fc::wave::print(v);
  } else if (r.error().kind != fe::ErrorKind::Trap) {
    fprintf(stderr, "lift failed without a trap: %s\n", r.error().to_string().c_str());
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1) {
    fuzz_lift(data + 1, size - 1);
  } else {
    fuzz_decode(data + 1, size - 1);
  }
  return 0;
}
