// The module interface (ModuleMeta) stored beside an optimized-cache entry, so that loading a
// cached module needs neither wabt's decoder nor the C writer. Format: a magic line, then
// little-endian fixed-width integers and length-prefixed strings. Unreadable or foreign files
// are ignored (the caller decodes the module instead and rewrites the file).
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "internal.h"

namespace flotilla::engine {

namespace {

constexpr char kMagic[] = "flotilla-meta 3\n";

struct Writer {
  std::string out;
  void u8(uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
  void u64(uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    out += s;
  }
  void limits(const Limits& l) {
    u64(l.min);
    u8(l.max ? 1 : 0);
    u64(l.max.value_or(0));
  }
  void func(const FuncType& f) {
    u32(static_cast<uint32_t>(f.params.size()));
    for (auto t : f.params) u8(static_cast<uint8_t>(t));
    u32(static_cast<uint32_t>(f.results.size()));
    for (auto t : f.results) u8(static_cast<uint8_t>(t));
  }
  void type(const ExternType& t) {
    u8(static_cast<uint8_t>(t.kind));
    switch (t.kind) {
      case ExternKind::Func:
        func(t.func);
        break;
      case ExternKind::Table:
        u8(static_cast<uint8_t>(t.table.element));
        limits(t.table.limits);
        break;
      case ExternKind::Memory:
        limits(t.memory.limits);
        break;
      case ExternKind::Global:
        u8(static_cast<uint8_t>(t.global.content));
        u8(t.global.mutable_ ? 1 : 0);
        break;
      case ExternKind::Tag:
        func(t.tag);
        break;
    }
  }
};

struct Reader {
  const std::string& in;
  size_t at = 0;
  bool ok = true;
  bool take(void* p, size_t n) {
    if (!ok || in.size() - at < n) return ok = false;
    std::memcpy(p, in.data() + at, n);
    at += n;
    return true;
  }
  uint8_t u8() {
    uint8_t v = 0;
    take(&v, 1);
    return v;
  }
  uint32_t u32() {
    uint32_t v = 0;
    take(&v, 4);
    return v;
  }
  uint64_t u64() {
    uint64_t v = 0;
    take(&v, 8);
    return v;
  }
  // A count of items each at least `min_bytes` long: never more than the bytes left allow.
  uint32_t count(size_t min_bytes) {
    uint32_t n = u32();
    if (ok && n > (in.size() - at) / min_bytes) ok = false;
    return ok ? n : 0;
  }
  std::string str() {
    uint32_t n = count(1);
    std::string s;
    if (ok) {
      s.assign(in.data() + at, n);
      at += n;
    }
    return s;
  }
  ValType val() {
    uint8_t v = u8();
    if (v > static_cast<uint8_t>(ValType::ExternRef)) ok = false;
    return static_cast<ValType>(v);
  }
  Limits limits() {
    Limits l;
    l.min = u64();
    bool has = u8() != 0;
    uint64_t max = u64();
    if (has) l.max = max;
    return l;
  }
  FuncType func() {
    FuncType f;
    for (uint32_t i = 0, n = count(1); i < n; ++i) f.params.push_back(val());
    for (uint32_t i = 0, n = count(1); i < n; ++i) f.results.push_back(val());
    return f;
  }
  ExternType type() {
    ExternType t;
    uint8_t k = u8();
    if (k > static_cast<uint8_t>(ExternKind::Tag)) {
      ok = false;
      return t;
    }
    t.kind = static_cast<ExternKind>(k);
    switch (t.kind) {
      case ExternKind::Func:
        t.func = func();
        break;
      case ExternKind::Table:
        t.table.element = val();
        t.table.limits = limits();
        break;
      case ExternKind::Memory:
        t.memory.limits = limits();
        break;
      case ExternKind::Global:
        t.global.content = val();
        t.global.mutable_ = u8() != 0;
        break;
      case ExternKind::Tag:
        t.tag = func();
        break;
    }
    return t;
  }
};

}  // namespace

void write_meta_file(const std::filesystem::path& path, const ModuleMeta& meta) {
  Writer w;
  w.out = kMagic;
  w.u32(static_cast<uint32_t>(meta.imports.size()));
  for (const auto& i : meta.imports) {
    w.str(i.module);
    w.str(i.name);
    w.type(i.type);
  }
  w.u32(static_cast<uint32_t>(meta.exports.size()));
  for (const auto& e : meta.exports) {
    w.str(e.name);
    w.type(e.type);
  }
  w.u32(static_cast<uint32_t>(meta.export_sig.size()));
  for (auto s : meta.export_sig) w.u32(s);
  w.u32(static_cast<uint32_t>(meta.sigs.size()));
  for (const auto& s : meta.sigs) w.func(s);
  w.u32(static_cast<uint32_t>(meta.tags.size()));
  for (const auto& t : meta.tags) w.func(t);
  w.u64(meta.max_frame_bytes);
  std::filesystem::path tmp = path;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream o(tmp, std::ios::binary);
    o.write(w.out.data(), static_cast<std::streamsize>(w.out.size()));
    if (!o) return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);  // atomic: a reader sees all of it or nothing
  if (ec) std::filesystem::remove(tmp, ec);
}

std::optional<ModuleMeta> read_meta_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::string in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t magic = sizeof kMagic - 1;
  if (in.compare(0, magic, kMagic) != 0) return std::nullopt;
  Reader r{in, magic};
  ModuleMeta m;
  for (uint32_t i = 0, n = r.count(9); i < n && r.ok; ++i) {
    ImportType it;
    it.module = r.str();
    it.name = r.str();
    it.type = r.type();
    m.imports.push_back(std::move(it));
  }
  for (uint32_t i = 0, n = r.count(5); i < n && r.ok; ++i) {
    ExportType et;
    et.name = r.str();
    et.type = r.type();
    m.export_index.emplace(et.name, static_cast<uint32_t>(m.exports.size()));
    m.exports.push_back(std::move(et));
  }
  for (uint32_t i = 0, n = r.count(4); i < n && r.ok; ++i) m.export_sig.push_back(r.u32());
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok; ++i) m.sigs.push_back(r.func());
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok; ++i) m.tags.push_back(r.func());
  m.max_frame_bytes = r.u64();
  if (!r.ok || r.at != in.size()) return std::nullopt;
  return m;
}

}  // namespace flotilla::engine
