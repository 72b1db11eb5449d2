// Exception handling (Wasm 3.0): `try_table` lowered to the legacy `try`/`catch` form, the only
// one libwabt 1.0.32 decodes. A binary pre-pass, before wabt sees the module:
//
//   try_table bt (catch x l)* (catch_all l)? instr* end
//     => try bt instr* (catch x (br l+1))* (catch_all (br l+1))? end
//
// Catch labels are relative to the try_table's context; inside a legacy catch body the try is
// label 0, hence l+1. Clauses after the first catch_all can never match, but they must still
// validate: each becomes an empty `try (catch x (br l+1)) end` (or catch_all) placed right
// after the lowered try, at the try_table's own nesting level, so the tag and label are
// checked as the clause would be. Everything else is copied byte for byte.
//
// The scan knows the immediates of every opcode wabt decodes with the engine's features
// (Wasm 2.0, multi-memory, SIMD, exceptions). Input it cannot follow (an unknown opcode, a
// truncated body) is handed to wabt unchanged, which then reports the error; the legacy
// opcodes in such input are refused by codegen.cc's structural check.
#include <cstdint>
#include <string>
#include <vector>

#include "internal.h"

namespace flotilla::engine {
namespace {

struct Reader {
  std::span<const uint8_t> b;
  size_t pos = 0;
  size_t end = 0;

  bool byte(uint8_t& out) {
    if (pos >= end) return false;
    out = b[pos++];
    return true;
  }
  bool skip(size_t n) {
    if (end - pos < n) return false;
    pos += n;
    return true;
  }
  // Unsigned LEB128 of at most `max_bytes` bytes.
  bool uleb(uint64_t& out, int max_bytes) {
    out = 0;
    for (int i = 0; i < max_bytes; ++i) {
      uint8_t c;
      if (!byte(c)) return false;
      out |= uint64_t(c & 0x7f) << (7 * i);
      if (!(c & 0x80)) return true;
    }
    return false;
  }
  bool u32(uint32_t& out) {
    uint64_t v;
    if (!uleb(v, 5) || v > UINT32_MAX) return false;
    out = static_cast<uint32_t>(v);
    return true;
  }
  // A signed LEB128 of at most `max_bytes` bytes, skipped.
  bool sleb(int max_bytes) {
    for (int i = 0; i < max_bytes; ++i) {
      uint8_t c;
      if (!byte(c)) return false;
      if (!(c & 0x80)) return true;
    }
    return false;
  }
  bool memarg() {
    uint32_t align, mem, offset;
    if (!u32(align)) return false;
    if ((align & 0x40) && !u32(mem)) return false;  // multi-memory: a memory index follows
    return u32(offset);
  }
};

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    if (v) c |= 0x80;
    out.push_back(c);
  } while (v);
}

enum class Scan { Ok, Unparsed };

bool is_valtype(uint8_t t) { return (t >= 0x7b && t <= 0x7f) || t == 0x70 || t == 0x6f; }

// Value types as their one-byte codes (the only ones wabt 1.0.32 knows).
using Types = std::string;
struct Sig {
  Types params, results;
};

// What a catch clause is checked against: the signatures of the module's types, functions and
// tags (imports first). A legacy catch ending in `br` would accept a label that takes fewer
// values than the tag carries (br drops the rest); a try_table clause must match exactly.
struct ModuleTypes {
  std::vector<Sig> types;
  std::vector<uint32_t> funcs;  // type index per function
  std::vector<uint32_t> tags;   // type index per tag
  uint32_t func_imports = 0;
  const Sig* type(uint32_t i) const { return i < types.size() ? &types[i] : nullptr; }
};

bool read_types(Reader& r, Types& out) {
  uint32_t n;
  if (!r.u32(n)) return false;
  for (uint32_t i = 0; i < n; ++i) {
    uint8_t t;
    if (!r.byte(t) || !is_valtype(t)) return false;
    out += static_cast<char>(t);
  }
  return true;
}

bool read_limits(Reader& r) {
  uint8_t flags;
  uint32_t x;
  if (!r.byte(flags) || flags > 3 || !r.u32(x)) return false;
  return !(flags & 1) || r.u32(x);
}

// Reads the sections that give types to functions and tags; false if one cannot be followed.
bool read_section(Reader& r, uint8_t id, ModuleTypes& m) {
  uint32_t n, x;
  if (id != 1 && id != 2 && id != 3 && id != 13) return true;
  if (!r.u32(n)) return false;
  for (uint32_t i = 0; i < n; ++i) {
    switch (id) {
      case 1: {  // type: 0x60 params results
        uint8_t form;
        Sig sig;
        if (!r.byte(form) || form != 0x60 || !read_types(r, sig.params) ||
            !read_types(r, sig.results))
          return false;
        m.types.push_back(std::move(sig));
        break;
      }
      case 2: {  // import: module name, field name, description
        for (int k = 0; k < 2; ++k)
          if (!r.u32(x) || !r.skip(x)) return false;
        uint8_t kind, b;
        if (!r.byte(kind)) return false;
        switch (kind) {
          case 0:
            if (!r.u32(x)) return false;
            m.funcs.push_back(x);
            m.func_imports++;
            break;
          case 1:
            if (!r.byte(b) || !read_limits(r)) return false;
            break;
          case 2:
            if (!read_limits(r)) return false;
            break;
          case 3:
            if (!r.byte(b) || !r.byte(b)) return false;
            break;
          case 4:
            if (!r.byte(b) || !r.u32(x)) return false;
            m.tags.push_back(x);
            break;
          default:
            return false;
        }
        break;
      }
      case 3:  // function: type index
        if (!r.u32(x)) return false;
        m.funcs.push_back(x);
        break;
      case 13: {  // tag: attribute, type index
        uint8_t attr;
        if (!r.byte(attr) || !r.u32(x)) return false;
        m.tags.push_back(x);
        break;
      }
    }
  }
  return true;
}

std::string types_text(const Types& t) {
  std::string s = "[";
  for (char c : t) {
    if (s.size() > 1) s += ' ';
    switch (static_cast<uint8_t>(c)) {
      case 0x7f:
        s += "i32";
        break;
      case 0x7e:
        s += "i64";
        break;
      case 0x7d:
        s += "f32";
        break;
      case 0x7c:
        s += "f64";
        break;
      case 0x7b:
        s += "v128";
        break;
      case 0x70:
        s += "funcref";
        break;
      default:
        s += "externref";
    }
  }
  return s + "]";
}

struct Clause {
  bool all = false;
  uint32_t tag = 0;
  uint32_t label = 0;
};

Unexpected<Error> eh_error(ErrorKind kind, const std::string& what, size_t offset) {
  std::string prefix = kind == ErrorKind::Malformed ? "malformed module: "
                       : kind == ErrorKind::Invalid ? "invalid module: "
                                                    : "";
  Error e{kind, prefix + what + " (at byte offset " + std::to_string(offset) + ")", {}, offset, {}};
  return Unexpected(std::move(e));
}

Unexpected<Error> unsupported(const std::string& what, size_t offset) {
  return eh_error(ErrorKind::Unsupported, what + ", which this engine does not execute", offset);
}

// Skips the immediates of a 0xFD (SIMD) instruction.
bool skip_simd(Reader& r) {
  uint32_t op;
  if (!r.u32(op)) return false;
  if (op <= 11 || op == 92 || op == 93) return r.memarg();   // loads, store, load_zero
  if (op == 12 || op == 13) return r.skip(16);               // v128.const, i8x16.shuffle
  if (op >= 21 && op <= 34) return r.skip(1);                // extract/replace lane
  if (op >= 84 && op <= 91) return r.memarg() && r.skip(1);  // load/store lane
  return true;                                               // no immediates
}

// Skips the immediates of a 0xFC instruction.
bool skip_misc(Reader& r) {
  uint32_t op, x;
  if (!r.u32(op)) return false;
  switch (op) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
      return true;  // saturating truncations
    case 8:         // memory.init data mem
    case 10:        // memory.copy mem mem
    case 12:        // table.init elem table
    case 14:        // table.copy table table
      return r.u32(x) && r.u32(x);
    case 9:   // data.drop
    case 11:  // memory.fill
    case 13:  // elem.drop
    case 15:  // table.grow
    case 16:  // table.size
    case 17:  // table.fill
      return r.u32(x);
    default:
      return false;
  }
}

// Lowers the try_tables of one function body, r positioned at its locals and r.end at its end.
// Appends the lowered body (without its size) to `out` when it changed (sets `changed`).
Result<Scan> lower_body(Reader& r, const ModuleTypes& m, const Sig& func, std::vector<uint8_t>& out,
                        bool& changed) {
  const size_t body_begin = r.pos;
  uint32_t groups, n;
  if (!r.u32(groups)) return Scan::Unparsed;
  for (uint32_t i = 0; i < groups; ++i) {
    uint8_t t;
    if (!r.u32(n) || !r.byte(t)) return Scan::Unparsed;
    if (t == 0x69) return unsupported("module uses exnref", r.pos - 1);
    // i32 i64 f32 f64 v128 funcref externref; anything else is for wabt to report
    if ((t < 0x7b || t > 0x7f) && t != 0x70 && t != 0x6f) return Scan::Unparsed;
  }
  struct Open {
    bool try_table = false;
    size_t clauses = 0;  // index of its first clause in `clauses`
    size_t count = 0;
    Types label;  // the types a branch to it takes
  };
  // A block type: empty, one value type, or a type index.
  auto block_type = [&](bool loop, Types& label) -> bool {
    const size_t at = r.pos;
    uint8_t b;
    if (!r.byte(b)) return false;
    if (b == 0x40) return true;
    if (is_valtype(b)) {
      if (!loop) label += static_cast<char>(b);
      return true;
    }
    // A type index: a non-negative s33 (the sign bit of its last byte clear).
    r.pos = at;
    uint64_t index;
    if (!r.uleb(index, 5) || (r.b[r.pos - 1] & 0x40) || index > UINT32_MAX) return false;
    const Sig* sig = m.type(static_cast<uint32_t>(index));
    if (!sig) return false;
    label = loop ? sig->params : sig->results;
    return true;
  };
  std::vector<Open> stack;
  std::vector<Clause> clauses;
  std::vector<uint8_t> body;   // the lowered body, once something changed
  size_t copied = body_begin;  // input before this offset is in `body` already
  auto flush = [&](size_t upto) {
    body.insert(body.end(), r.b.begin() + copied, r.b.begin() + upto);
    copied = upto;
  };
  auto emit_clause = [&](const Clause& c) {
    body.push_back(c.all ? 0x19 : 0x07);  // catch_all / catch x
    if (!c.all) put_u32(body, c.tag);
    body.push_back(0x0c);  // br l+1
    put_u32(body, c.label + 1);
  };
  uint32_t x;
  for (;;) {
    const size_t start = r.pos;
    uint8_t op;
    if (!r.byte(op)) return Scan::Unparsed;
    bool ok = true;
    switch (op) {
      case 0x02:    // block
      case 0x03:    // loop
      case 0x04: {  // if
        Open o;
        ok = block_type(op == 0x03, o.label);
        stack.push_back(std::move(o));
        break;
      }
      case 0x0b:  // end
        if (stack.empty()) {
          if (r.pos != r.end) return Scan::Unparsed;  // code after the final end
          if (changed) {
            flush(r.pos);
            out.insert(out.end(), body.begin(), body.end());
          }
          return Scan::Ok;
        }
        if (stack.back().try_table) {
          const Open& o = stack.back();
          flush(start);
          // Clauses up to the first catch_all become catches of the try; the rest follow it.
          size_t k = o.clauses, last = o.clauses + o.count;
          for (; k < last; ++k) {
            emit_clause(clauses[k]);
            if (clauses[k].all) break;
          }
          body.push_back(0x0b);
          for (k = k + 1; k < last; ++k) {
            body.push_back(0x06);  // try (empty block type)
            body.push_back(0x40);
            emit_clause(clauses[k]);
            body.push_back(0x0b);
          }
          copied = r.pos;
          clauses.resize(o.clauses);
        }
        stack.pop_back();
        break;
      case 0x1f: {  // try_table bt vec(catch)
        flush(start);
        changed = true;
        body.push_back(0x06);  // try
        const size_t bt = r.pos;
        Open o{true, clauses.size(), 0, {}};
        if (!block_type(false, o.label)) return Scan::Unparsed;
        body.insert(body.end(), r.b.begin() + bt, r.b.begin() + r.pos);
        uint32_t count;
        if (!r.u32(count)) return Scan::Unparsed;
        // Labels a clause may name: the enclosing blocks and the function body.
        const uint64_t labels = stack.size() + 1;
        for (uint32_t i = 0; i < count; ++i) {
          const size_t at = r.pos;
          uint8_t kind;
          if (!r.byte(kind)) return Scan::Unparsed;
          Clause c;
          switch (kind) {
            case 0x00:  // catch x l
              if (!r.u32(c.tag) || !r.u32(c.label)) return Scan::Unparsed;
              break;
            case 0x02:  // catch_all l
              c.all = true;
              if (!r.u32(c.label)) return Scan::Unparsed;
              break;
            case 0x01:
            case 0x03:
              return unsupported("module uses catch_ref/catch_all_ref (exnref)", at);
            default:
              return eh_error(
                  ErrorKind::Malformed,
                  "malformed try_table: unknown catch clause kind " + std::to_string(kind), at);
          }
          if (c.label >= labels) {
            return eh_error(ErrorKind::Invalid,
                            "try_table catch clause: invalid label " + std::to_string(c.label) +
                                " (" + std::to_string(labels) + " enclosing)",
                            at);
          }
          // The values the clause passes to its label must be what the label takes. (An
          // unknown tag is left for the validator to report.)
          const Types& label =
              c.label < stack.size() ? stack[stack.size() - 1 - c.label].label : func.results;
          const Sig* tag = c.all || c.tag >= m.tags.size() ? nullptr : m.type(m.tags[c.tag]);
          if (c.all ? !label.empty() : tag && tag->params != label) {
            return eh_error(
                ErrorKind::Invalid,
                "type mismatch in try_table catch clause: " +
                    (c.all
                         ? std::string("catch_all passes []")
                         : "tag " + std::to_string(c.tag) + " passes " + types_text(tag->params)) +
                    ", label " + std::to_string(c.label) + " takes " + types_text(label),
                at);
          }
          clauses.push_back(c);
          o.count++;
        }
        copied = r.pos;
        stack.push_back(std::move(o));
        break;
      }
      case 0x06:  // try
      case 0x07:  // catch
      case 0x09:  // rethrow
      case 0x18:  // delegate
      case 0x19:  // catch_all
        return unsupported(
            "module uses legacy exception handling (try/catch/rethrow/delegate; try_table is "
            "supported)",
            start);
      case 0x0a:
        return unsupported("module uses throw_ref (exnref)", start);
      case 0x00:  // unreachable
      case 0x01:  // nop
      case 0x05:  // else
      case 0x0f:  // return
      case 0x1a:  // drop
      case 0x1b:  // select
      case 0xd1:  // ref.is_null
        break;
      case 0x08:  // throw x
      case 0x0c:  // br l
      case 0x0d:  // br_if l
      case 0x10:  // call f
      case 0x20:  // local.get
      case 0x21:  // local.set
      case 0x22:  // local.tee
      case 0x23:  // global.get
      case 0x24:  // global.set
      case 0x25:  // table.get
      case 0x26:  // table.set
      case 0x3f:  // memory.size
      case 0x40:  // memory.grow
      case 0xd2:  // ref.func
        ok = r.u32(x);
        break;
      case 0x0e: {  // br_table vec(l) l
        uint32_t count;
        ok = r.u32(count);
        for (uint64_t i = 0; ok && i <= count; ++i) ok = r.u32(x);
        break;
      }
      case 0x11:  // call_indirect type table
        ok = r.u32(x) && r.u32(x);
        break;
      case 0x1c: {  // select vec(valtype)
        uint32_t count;
        ok = r.u32(count) && r.skip(count);
        break;
      }
      case 0x41:  // i32.const
        ok = r.sleb(5);
        break;
      case 0x42:  // i64.const
        ok = r.sleb(10);
        break;
      case 0x43:  // f32.const
        ok = r.skip(4);
        break;
      case 0x44:  // f64.const
        ok = r.skip(8);
        break;
      case 0xd0:  // ref.null heaptype
        ok = r.sleb(5);
        break;
      case 0xfc:
        ok = skip_misc(r);
        break;
      case 0xfd:
        ok = skip_simd(r);
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) {
          ok = r.memarg();  // loads and stores
        } else if (op >= 0x45 && op <= 0xc4) {
          ok = true;  // numeric instructions without immediates
        } else {
          return Scan::Unparsed;  // wabt reports it
        }
    }
    if (!ok) return Scan::Unparsed;
  }
}

}  // namespace

Result<LoweredModule> lower_try_tables(std::span<const uint8_t> bytes) {
  LoweredModule result;
  auto unparsed = [&]() -> Result<LoweredModule> {
    result.status = LoweredModule::Status::Unparsed;
    result.bytes.clear();
    return std::move(result);
  };
  static const uint8_t kHeader[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  if (bytes.size() < 8 || !std::equal(kHeader, kHeader + 8, bytes.begin())) return unparsed();
  std::vector<uint8_t>& out = result.bytes;  // the lowered module, once something changed
  size_t copied = 0;                         // input before this offset is in `out` already
  ModuleTypes types;
  Reader r{bytes, 8, bytes.size()};
  while (r.pos < r.end) {
    const size_t section = r.pos;
    uint8_t id;
    uint32_t size;
    if (!r.byte(id) || !r.u32(size) || r.end - r.pos < size) return unparsed();
    const size_t contents = r.pos;
    r.pos += size;
    if (id != 10) {
      Reader sr{bytes, contents, contents + size};
      if (!read_section(sr, id, types)) return unparsed();
      continue;
    }
    // The code section: vec(size body).
    Reader c{bytes, contents, contents + size};
    uint32_t count;
    if (!c.u32(count)) return unparsed();
    std::vector<uint8_t> code;  // the lowered section's contents
    put_u32(code, count);
    bool any = false;
    for (uint32_t i = 0; i < count; ++i) {
      const size_t entry = c.pos;
      uint32_t body_size;
      if (!c.u32(body_size) || c.end - c.pos < body_size) return unparsed();
      Reader b{bytes, c.pos, c.pos + body_size};
      std::vector<uint8_t> lowered;
      bool changed = false;
      const uint64_t func = uint64_t(types.func_imports) + i;
      const Sig* sig = func < types.funcs.size() ? types.type(types.funcs[func]) : nullptr;
      if (!sig) return unparsed();  // the validator reports it
      auto scan = lower_body(b, types, *sig, lowered, changed);
      if (!scan) return Unexpected(scan.error());
      if (*scan == Scan::Unparsed) return unparsed();
      c.pos += body_size;
      if (changed) {
        any = true;
        if (lowered.size() > UINT32_MAX)
          return eh_error(ErrorKind::Limit, "function body too large", entry);
        put_u32(code, static_cast<uint32_t>(lowered.size()));
        code.insert(code.end(), lowered.begin(), lowered.end());
      } else {
        code.insert(code.end(), bytes.begin() + entry, bytes.begin() + c.pos);
      }
    }
    if (c.pos != c.end) return unparsed();
    if (!any) continue;
    if (code.size() > UINT32_MAX)
      return eh_error(ErrorKind::Limit, "code section too large", section);
    out.insert(out.end(), bytes.begin() + copied, bytes.begin() + section);
    out.push_back(10);
    put_u32(out, static_cast<uint32_t>(code.size()));
    out.insert(out.end(), code.begin(), code.end());
    copied = r.pos;
  }
  if (copied == 0) return result;  // nothing lowered
  out.insert(out.end(), bytes.begin() + copied, bytes.end());
  result.status = LoweredModule::Status::Lowered;
  return result;
}

}  // namespace flotilla::engine
