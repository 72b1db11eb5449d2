// Decoding, validation and C generation with libwabt, plus the glue that connects generated
// code to the engine (import trampolines, host adapters, per-signature call adapters and the
// module descriptor returned by flot_get_module).
#include <wabt/apply-names.h>
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader-nop.h>
#include <wabt/binary-reader.h>
#include <wabt/c-writer.h>
#include <wabt/error-formatter.h>
#include <wabt/feature.h>
#include <wabt/generate-names.h>
#include <wabt/ir.h>
#include <wabt/stream.h>
#include <wabt/validator.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>

#include "internal.h"

namespace flotilla::engine {
namespace {

// The name given to the C writer for the module itself. It needs an escape in wabt's name
// mangling, so it cannot collide with ordinary import module names.
constexpr std::string_view kModName = "$flot";

std::string mangle(std::string_view name) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = "Z_";
  for (unsigned char c : name) {
    if ((isalnum(c) && c != 'Z') || c == '_') {
      out += static_cast<char>(c);
    } else {
      out += 'Z';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Result<ValType> to_val_type(wabt::Type t) {
  switch (t) {
    case wabt::Type::I32:
      return ValType::I32;
    case wabt::Type::I64:
      return ValType::I64;
    case wabt::Type::F32:
      return ValType::F32;
    case wabt::Type::F64:
      return ValType::F64;
    case wabt::Type::V128:
      return ValType::V128;
    case wabt::Type::FuncRef:
      return ValType::FuncRef;
    case wabt::Type::ExternRef:
      return ValType::ExternRef;
    default:
      return make_error(ErrorKind::Unsupported, "unsupported value type");
  }
}

Result<FuncType> to_func_type(const wabt::FuncSignature& sig) {
  FuncType ft;
  for (auto t : sig.param_types) {
    auto v = to_val_type(t);
    if (!v) return Unexpected(v.error());
    ft.params.push_back(*v);
  }
  for (auto t : sig.result_types) {
    auto v = to_val_type(t);
    if (!v) return Unexpected(v.error());
    ft.results.push_back(*v);
  }
  return ft;
}

Limits to_limits(const wabt::Limits& l) {
  Limits out;
  out.min = l.initial;
  if (l.has_max) out.max = l.max;
  return out;
}

const char* c_type(ValType t) {
  switch (t) {
    case ValType::I32:
      return "u32";
    case ValType::I64:
      return "u64";
    case ValType::F32:
      return "f32";
    case ValType::F64:
      return "f64";
    case ValType::FuncRef:
      return "wasm_rt_funcref_t";
    case ValType::ExternRef:
      return "wasm_rt_externref_t";
    case ValType::V128:
      return "v128";
  }
  return "void";
}

// Member of flot_val_t holding a value of type t (named like the type).
const char* io_field(ValType t) { return val_type_name(t); }

char multi_char(ValType t) {
  switch (t) {
    case ValType::I32:
      return 'i';
    case ValType::I64:
      return 'j';
    case ValType::F32:
      return 'f';
    case ValType::F64:
      return 'd';
    case ValType::FuncRef:
      return 'r';
    case ValType::ExternRef:
      return 'e';
    case ValType::V128:
      return 'o';
  }
  return '?';
}

std::string multi_name(const std::vector<ValType>& results) {
  std::string s = "wasm_multi_";
  for (auto t : results) s += multi_char(t);
  return s;
}

std::string ret_type(const std::vector<ValType>& results) {
  if (results.empty()) return "void";
  if (results.size() == 1) return c_type(results[0]);
  return "struct " + multi_name(results);
}

std::string multi_field(const std::vector<ValType>& results, size_t i) {
  return std::string(1, multi_char(results[i])) + std::to_string(i);
}

// "(void*, u32, u64)" style parameter list for a function pointer cast.
std::string fn_ptr_type(const FuncType& ft) {
  std::string s = ret_type(ft.results) + " (*)(void*";
  for (auto p : ft.params) s += std::string(", ") + c_type(p);
  return s + ")";
}

std::string errors_text(const wabt::Errors& errors, std::optional<uint64_t>* offset) {
  std::string out;
  for (const auto& e : errors) {
    if (e.error_level != wabt::ErrorLevel::Error) continue;
    if (!out.empty()) out += "; ";
    out += e.message;
    // Errors from wabt's IR-building callbacks carry no location (kInvalidOffset): no offset
    // is better than a wrong one.
    if (offset && !offset->has_value() && e.loc.offset != wabt::kInvalidOffset) {
      *offset = e.loc.offset;
      out += " (at byte offset " + std::to_string(e.loc.offset) + ")";
    }
  }
  if (out.empty()) out = "unknown error";
  return out;
}

wabt::Features engine_features(bool simd, CodegenFeatures features) {
  wabt::Features f;  // defaults: Wasm 2.0 (mutable globals, sat conv, sign-ext, multi-value,
                     // bulk memory, reference types, SIMD)
  f.set_simd_enabled(simd);
  // memory indices on loads, stores, memory.*
  f.set_multi_memory_enabled(features.multi_memory);
  // tags, throw, and the legacy try/catch that try_table is lowered to (try_table.cc)
  f.set_exceptions_enabled(features.exceptions);
  return f;
}

// Deepest block/loop/if nesting accepted. Decoding, C generation and the C compilers all
// recurse on nesting, so deeper input would exhaust the host's stack; real toolchains stay far
// below this.
constexpr int kMaxNesting = 1000;

// Structural pre-pass over every instruction sequence, run before wabt's IR reader. That reader
// (1.0.32) keeps a label stack that it only unwinds on `end`: a function body whose last `end`
// closes an inner block, an `end` followed by more code, or a block inside a constant
// expression leaves stale labels behind, and a later `end` then reads past them and aborts the
// process on an assertion. This pass refuses such input first, with the byte offset.
//
// It also refuses the legacy exception opcodes unless the module is the output of
// lower_try_tables (`lowered`), whose try/catch/catch_all are well formed by construction.
class StructureCheck : public wabt::BinaryReaderNop {
 public:
  explicit StructureCheck(bool lowered) : lowered_(lowered) {}
  wabt::Result BeginFunctionBody(wabt::Index, wabt::Offset) override {
    depth_ = 0;
    in_body_ = true;
    body_ended_ = false;
    if_stack_.clear();
    return wabt::Result::Ok;
  }
  wabt::Result EndFunctionBody(wabt::Index) override {
    in_body_ = false;
    if (!body_ended_) return fail(ErrorKind::Malformed, "END opcode expected: unclosed block");
    return wabt::Result::Ok;
  }
  wabt::Result OnOpcode(wabt::Opcode op) override {
    last_ = op;
    if (in_body_ && body_ended_) {
      return fail(ErrorKind::Malformed, "instruction after the function's final END");
    }
    return wabt::Result::Ok;
  }
  wabt::Result BeginGlobalInitExpr(wabt::Index) override { return begin_init(); }
  wabt::Result EndGlobalInitExpr(wabt::Index) override { return end_init(); }
  wabt::Result BeginElemSegmentInitExpr(wabt::Index) override { return begin_init(); }
  wabt::Result EndElemSegmentInitExpr(wabt::Index) override { return end_init(); }
  wabt::Result BeginDataSegmentInitExpr(wabt::Index) override { return begin_init(); }
  wabt::Result EndDataSegmentInitExpr(wabt::Index) override { return end_init(); }
  wabt::Result OnBlockExpr(wabt::Type) override { return push(false); }
  wabt::Result OnLoopExpr(wabt::Type) override { return push(false); }
  wabt::Result OnIfExpr(wabt::Type) override { return push(true); }
  wabt::Result OnTryExpr(wabt::Type) override {
    if (!lowered_) return legacy();
    return push(false);
  }
  wabt::Result OnCatchExpr(wabt::Index) override {
    return lowered_ ? wabt::Result(wabt::Result::Ok) : legacy();
  }
  wabt::Result OnCatchAllExpr() override {
    return lowered_ ? wabt::Result(wabt::Result::Ok) : legacy();
  }
  wabt::Result OnRethrowExpr(wabt::Index) override { return legacy(); }
  wabt::Result OnDelegateExpr(wabt::Index) override { return legacy(); }
  wabt::Result OnElseExpr() override {
    if (in_init_)
      return fail(ErrorKind::Invalid,
                  std::string("constant expression required: ") + last_.GetName());
    if (if_stack_.empty() || !if_stack_.back()) {
      return fail(ErrorKind::Malformed, "else without a matching if");
    }
    if_stack_.back() = false;  // a second else is malformed too
    return wabt::Result::Ok;
  }
  wabt::Result OnEndExpr() override {
    if (in_init_) return wabt::Result::Ok;  // the reader stops on the expression's own end
    if (depth_ > 0) {
      depth_--;
      if_stack_.pop_back();
    } else {
      body_ended_ = true;
    }
    return wabt::Result::Ok;
  }
  bool OnError(const wabt::Error&) override { return true; }  // reported by the real decode

  std::optional<Error> error;

 private:
  wabt::Result begin_init() {
    in_init_ = true;
    return wabt::Result::Ok;
  }
  wabt::Result end_init() {
    in_init_ = false;
    return wabt::Result::Ok;
  }
  wabt::Result legacy() {
    return fail(ErrorKind::Unsupported,
                "module uses legacy exception handling (try/catch/rethrow/delegate; try_table is "
                "supported), which this engine does not execute");
  }
  wabt::Result push(bool is_if) {
    if (in_init_)
      return fail(ErrorKind::Invalid,
                  std::string("constant expression required: ") + last_.GetName());
    if (++depth_ > kMaxNesting) {
      return fail(ErrorKind::Limit, "module nests blocks deeper than " +
                                        std::to_string(kMaxNesting) +
                                        " levels, the engine's limit");
    }
    if_stack_.push_back(is_if);
    return wabt::Result::Ok;
  }
  wabt::Result fail(ErrorKind kind, std::string what) {
    if (!error) {
      Error e{kind, {}, {}, {}, {}};
      e.offset = state ? std::optional<uint64_t>(state->offset) : std::nullopt;
      std::string prefix = kind == ErrorKind::Malformed ? "malformed module: "
                           : kind == ErrorKind::Invalid ? "invalid module: "
                                                        : "";
      e.message = prefix + what;
      if (e.offset) e.message += " (at byte offset " + std::to_string(*e.offset) + ")";
      error = std::move(e);
    }
    return wabt::Result::Error;
  }
  bool lowered_ = false;
  wabt::Opcode last_ = wabt::Opcode::Nop;
  int depth_ = 0;
  bool in_body_ = false;
  bool body_ended_ = false;
  bool in_init_ = false;
  std::vector<bool> if_stack_;  // per open block: an `if` still waiting for its `else`
};

Result<void> decode(std::span<const uint8_t> bytes, wabt::Module& module, bool simd, bool validate,
                    CodegenFeatures features) {
  wabt::Errors errors;
  wabt::ReadBinaryOptions opts(engine_features(simd, features), nullptr,
                               /*read_debug_names=*/false,
                               /*stop_on_first_error=*/true,
                               /*fail_on_custom_section_error=*/true);
  if (bytes.empty()) {
    Error e{ErrorKind::Malformed,
            "empty input: not a WebAssembly module (at byte offset 0)",
            {},
            0,
            {}};
    return Unexpected(std::move(e));
  }
  LoweredModule lowered;
  if (features.exceptions) {
    auto l = lower_try_tables(bytes);
    if (!l) return Unexpected(l.error());
    lowered = std::move(*l);
    if (lowered.status == LoweredModule::Status::Lowered) bytes = lowered.bytes;
  }
  if (validate) {  // known-valid bytes (an optimized-cache hit) skip this extra pass
    StructureCheck check(lowered.status == LoweredModule::Status::Lowered);
    wabt::ReadBinaryOptions copts = opts;
    copts.skip_function_bodies = false;
    if (wabt::Failed(wabt::ReadBinary(bytes.data(), bytes.size(), &check, copts)) && check.error) {
      return Unexpected(std::move(*check.error));
    }
  }
  if (wabt::Failed(
          wabt::ReadBinaryIr("module", bytes.data(), bytes.size(), opts, &errors, &module))) {
    Error e{ErrorKind::Malformed, {}, {}, {}, {}};
    e.message = "malformed module: " + errors_text(errors, &e.offset);
    return Unexpected(std::move(e));
  }
  if (validate) {
    wabt::ValidateOptions vopts(engine_features(simd, features));
    if (wabt::Failed(wabt::ValidateModule(&module, &errors, vopts))) {
      Error e{ErrorKind::Invalid, {}, {}, {}, {}};
      e.message = "invalid module: " + errors_text(errors, &e.offset);
      return Unexpected(std::move(e));
    }
  }
  return {};
}

// A tag's type: its parameters (validation has checked that it has no results). The thrown
// values travel through a per-thread buffer of the runtime, so their number is bounded.
constexpr size_t kMaxTagParams = 1000;
Result<FuncType> tag_type(const wabt::Tag& t) {
  auto ft = to_func_type(t.decl.sig);
  if (!ft) return Unexpected(ft.error());
  if (ft->params.size() > kMaxTagParams)
    return make_error(ErrorKind::Limit, "tag has " + std::to_string(ft->params.size()) +
                                            " parameters; the limit is " +
                                            std::to_string(kMaxTagParams));
  ft->results.clear();
  return ft;
}

Result<ModuleMeta> build_meta(const wabt::Module& m) {
  ModuleMeta meta;
  if (m.memories.size() > kMaxMemories) {
    return make_error(ErrorKind::Limit, "module has " + std::to_string(m.memories.size()) +
                                            " memories; the limit is " +
                                            std::to_string(kMaxMemories));
  }
  for (size_t i = m.num_func_imports; i < m.funcs.size(); ++i) {
    uint64_t n = m.funcs[i]->GetNumParamsAndLocals();
    if (n > kMaxFunctionLocals) {
      return make_error(ErrorKind::Limit, "function " + std::to_string(i) + " declares " +
                                              std::to_string(n) +
                                              " params and locals; the limit is " +
                                              std::to_string(kMaxFunctionLocals));
    }
    meta.max_frame_bytes =
        std::max(meta.max_frame_bytes, kFrameBytesFixed + n * kFrameBytesPerLocal);
  }
  for (const wabt::Import* imp : m.imports) {
    ImportType it;
    it.module = imp->module_name;
    it.name = imp->field_name;
    switch (imp->kind()) {
      case wabt::ExternalKind::Func: {
        auto* fi = static_cast<const wabt::FuncImport*>(imp);
        auto ft = to_func_type(fi->func.decl.sig);
        if (!ft) return Unexpected(ft.error());
        it.type.kind = ExternKind::Func;
        it.type.func = *ft;
        break;
      }
      case wabt::ExternalKind::Table: {
        auto* ti = static_cast<const wabt::TableImport*>(imp);
        auto et = to_val_type(ti->table.elem_type);
        if (!et) return Unexpected(et.error());
        it.type.kind = ExternKind::Table;
        it.type.table = TableType{*et, to_limits(ti->table.elem_limits)};
        break;
      }
      case wabt::ExternalKind::Memory: {
        auto* mi = static_cast<const wabt::MemoryImport*>(imp);
        it.type.kind = ExternKind::Memory;
        it.type.memory = MemoryType{to_limits(mi->memory.page_limits)};
        break;
      }
      case wabt::ExternalKind::Global: {
        auto* gi = static_cast<const wabt::GlobalImport*>(imp);
        auto vt = to_val_type(gi->global.type);
        if (!vt) return Unexpected(vt.error());
        it.type.kind = ExternKind::Global;
        it.type.global = GlobalType{*vt, gi->global.mutable_};
        break;
      }
      case wabt::ExternalKind::Tag: {
        auto* ti = static_cast<const wabt::TagImport*>(imp);
        auto ft = tag_type(ti->tag);
        if (!ft) return Unexpected(ft.error());
        it.type.kind = ExternKind::Tag;
        it.type.tag = std::move(*ft);
        break;
      }
    }
    meta.imports.push_back(std::move(it));
  }
  std::map<std::string, uint32_t> sig_ids;  // FuncType::to_string -> sig index
  auto sig_index = [&](const FuncType& ft) {
    auto key = ft.to_string();
    auto [it, inserted] = sig_ids.emplace(key, static_cast<uint32_t>(meta.sigs.size()));
    if (inserted) meta.sigs.push_back(ft);
    return it->second;
  };
  for (const wabt::Export* ex : m.exports) {
    ExportType et;
    et.name = ex->name;
    uint32_t sig = 0;
    switch (ex->kind) {
      case wabt::ExternalKind::Func: {
        const wabt::Func* f = m.GetFunc(ex->var);
        if (!f) return make_error(ErrorKind::Invalid, "export of unknown function");
        auto ft = to_func_type(f->decl.sig);
        if (!ft) return Unexpected(ft.error());
        et.type.kind = ExternKind::Func;
        et.type.func = *ft;
        sig = sig_index(*ft);
        break;
      }
      case wabt::ExternalKind::Table: {
        const wabt::Table* t = m.GetTable(ex->var);
        if (!t) return make_error(ErrorKind::Invalid, "export of unknown table");
        auto vt = to_val_type(t->elem_type);
        if (!vt) return Unexpected(vt.error());
        et.type.kind = ExternKind::Table;
        et.type.table = TableType{*vt, to_limits(t->elem_limits)};
        break;
      }
      case wabt::ExternalKind::Memory: {
        const wabt::Memory* mem = m.GetMemory(ex->var);
        if (!mem) return make_error(ErrorKind::Invalid, "export of unknown memory");
        et.type.kind = ExternKind::Memory;
        et.type.memory = MemoryType{to_limits(mem->page_limits)};
        break;
      }
      case wabt::ExternalKind::Global: {
        const wabt::Global* g = m.GetGlobal(ex->var);
        if (!g) return make_error(ErrorKind::Invalid, "export of unknown global");
        auto vt = to_val_type(g->type);
        if (!vt) return Unexpected(vt.error());
        et.type.kind = ExternKind::Global;
        et.type.global = GlobalType{*vt, g->mutable_};
        break;
      }
      case wabt::ExternalKind::Tag: {
        const wabt::Tag* t = m.GetTag(ex->var);
        if (!t) return make_error(ErrorKind::Invalid, "export of unknown tag");
        auto ft = tag_type(*t);
        if (!ft) return Unexpected(ft.error());
        et.type.kind = ExternKind::Tag;
        et.type.tag = std::move(*ft);
        sig = m.GetTagIndex(ex->var);  // the runtime finds the instance's tag by its index
        break;
      }
    }
    meta.export_index.emplace(et.name, static_cast<uint32_t>(meta.exports.size()));
    meta.exports.push_back(std::move(et));
    meta.export_sig.push_back(sig);
  }
  for (size_t i = m.num_tag_imports; i < m.tags.size(); ++i) {
    auto ft = tag_type(*m.tags[i]);
    if (!ft) return Unexpected(ft.error());
    meta.tags.push_back(std::move(*ft));
  }
  // Every declared function type gets an adapter too, so funcrefs taken from tables can be
  // called from the host.
  for (const wabt::TypeEntry* te : m.types) {
    if (te->kind() != wabt::TypeEntryKind::Func) continue;
    auto ft = to_func_type(static_cast<const wabt::FuncType*>(te)->sig);
    if (!ft) return Unexpected(ft.error());
    sig_index(*ft);
  }
  return meta;
}

bool uses_v128(const ModuleMeta& meta) {
  auto has = [](const FuncType& ft) {
    return std::count(ft.params.begin(), ft.params.end(), ValType::V128) ||
           std::count(ft.results.begin(), ft.results.end(), ValType::V128);
  };
  for (const auto& s : meta.sigs)
    if (has(s)) return true;
  for (const auto& i : meta.imports)
    if ((i.type.kind == ExternKind::Func && has(i.type.func)) ||
        (i.type.kind == ExternKind::Global && i.type.global.content == ValType::V128))
      return true;
  for (const auto& e : meta.exports)
    if (e.type.kind == ExternKind::Global && e.type.global.content == ValType::V128) return true;
  auto tag_has = [](const FuncType& ft) {
    return std::count(ft.params.begin(), ft.params.end(), ValType::V128) > 0;
  };
  for (const auto& t : meta.tags)
    if (tag_has(t)) return true;
  for (const auto& i : meta.imports)
    if (i.type.kind == ExternKind::Tag && tag_has(i.type.tag)) return true;
  return false;
}

bool type_ok(wabt::Type t) { return t != wabt::Type::V128; }

bool types_ok(const wabt::TypeVector& v) {
  return std::all_of(v.begin(), v.end(), [](wabt::Type t) { return type_ok(t); });
}

// Returns a description of the first construct the C writer of wabt 1.0.32 cannot translate
// (SIMD, atomics, exceptions, tail calls, ...), or an empty string. Anything not on this list
// is refused rather than handed to the C writer, which aborts the process on what it lacks.
std::string unsupported_in(const wabt::ExprList& exprs) {
  using ET = wabt::ExprType;
  for (const wabt::Expr& e : exprs) {
    switch (e.type()) {
      case ET::Binary:
      case ET::Compare:
      case ET::Convert:
      case ET::Unary:
      case ET::Ternary: {
        wabt::Opcode op =
            e.type() == ET::Binary    ? static_cast<const wabt::BinaryExpr&>(e).opcode
            : e.type() == ET::Compare ? static_cast<const wabt::CompareExpr&>(e).opcode
            : e.type() == ET::Convert ? static_cast<const wabt::ConvertExpr&>(e).opcode
            : e.type() == ET::Unary   ? static_cast<const wabt::UnaryExpr&>(e).opcode
                                      : static_cast<const wabt::TernaryExpr&>(e).opcode;
        if (op.GetPrefix() == 0xfd) return "SIMD (v128)";
        if (op.GetPrefix() == 0xfe) return "atomics";
        break;
      }
      case ET::Load:
      case ET::Store: {
        wabt::Opcode op = e.type() == ET::Load ? static_cast<const wabt::LoadExpr&>(e).opcode
                                               : static_cast<const wabt::StoreExpr&>(e).opcode;
        if (op.GetPrefix() == 0xfd) return "SIMD (v128)";
        break;
      }
      case ET::Const:
        if (!type_ok(static_cast<const wabt::ConstExpr&>(e).const_.type())) return "SIMD (v128)";
        break;
      case ET::Select:
        if (!types_ok(static_cast<const wabt::SelectExpr&>(e).result_type)) return "SIMD (v128)";
        break;
      case ET::Block:
      case ET::Loop: {
        const auto& b = e.type() == ET::Block ? static_cast<const wabt::BlockExpr&>(e).block
                                              : static_cast<const wabt::LoopExpr&>(e).block;
        if (!types_ok(b.decl.sig.param_types) || !types_ok(b.decl.sig.result_types))
          return "SIMD (v128)";
        if (auto r = unsupported_in(b.exprs); !r.empty()) return r;
        break;
      }
      case ET::If: {
        const auto& i = static_cast<const wabt::IfExpr&>(e);
        if (!types_ok(i.true_.decl.sig.param_types) || !types_ok(i.true_.decl.sig.result_types))
          return "SIMD (v128)";
        if (auto r = unsupported_in(i.true_.exprs); !r.empty()) return r;
        if (auto r = unsupported_in(i.false_); !r.empty()) return r;
        break;
      }
      case ET::Try: {  // only as lower_try_tables writes it: catches, no delegate
        const auto& t = static_cast<const wabt::TryExpr&>(e);
        if (t.kind == wabt::TryKind::Delegate) return "legacy exception handling (delegate)";
        if (!types_ok(t.block.decl.sig.param_types) || !types_ok(t.block.decl.sig.result_types))
          return "SIMD (v128)";
        if (auto r = unsupported_in(t.block.exprs); !r.empty()) return r;
        for (const wabt::Catch& c : t.catches)
          if (auto r = unsupported_in(c.exprs); !r.empty()) return r;
        break;
      }
      case ET::Throw:
      case ET::Br:
      case ET::BrIf:
      case ET::BrTable:
      case ET::Call:
      case ET::CallIndirect:
      case ET::Drop:
      case ET::GlobalGet:
      case ET::GlobalSet:
      case ET::LocalGet:
      case ET::LocalSet:
      case ET::LocalTee:
      case ET::MemoryGrow:
      case ET::MemorySize:
      case ET::MemoryFill:
      case ET::MemoryCopy:
      case ET::MemoryInit:
      case ET::DataDrop:
      case ET::ElemDrop:
      case ET::Nop:
      case ET::Return:
      case ET::Unreachable:
      case ET::RefFunc:
      case ET::RefNull:
      case ET::RefIsNull:
      case ET::TableGet:
      case ET::TableSet:
      case ET::TableGrow:
      case ET::TableSize:
      case ET::TableFill:
      case ET::TableInit:
      case ET::TableCopy:
        break;
      case ET::SimdLaneOp:
      case ET::SimdLoadLane:
      case ET::SimdStoreLane:
      case ET::SimdShuffleOp:
      case ET::LoadSplat:
      case ET::LoadZero:
        return "SIMD (v128)";
      default:
        return "an instruction outside the Wasm 2.0 set this engine compiles";
    }
  }
  return {};
}

std::string unsupported_in(const wabt::Module& m) {
  for (const wabt::Func* f : m.funcs) {
    for (const auto& d : f->local_types.decls())
      if (!type_ok(d.first)) return "SIMD (v128)";
    if (!types_ok(f->decl.sig.param_types) || !types_ok(f->decl.sig.result_types))
      return "SIMD (v128)";
    if (auto r = unsupported_in(f->exprs); !r.empty()) return r;
  }
  for (const wabt::Global* g : m.globals) {
    if (!type_ok(g->type)) return "SIMD (v128)";
    if (auto r = unsupported_in(g->init_expr); !r.empty()) return r;
  }
  for (const wabt::TypeEntry* te : m.types) {
    if (te->kind() != wabt::TypeEntryKind::Func) continue;
    const auto& sig = static_cast<const wabt::FuncType*>(te)->sig;
    if (!types_ok(sig.param_types) || !types_ok(sig.result_types)) return "SIMD (v128)";
  }
  for (const wabt::ElemSegment* es : m.elem_segments)
    if (auto r = unsupported_in(es->offset); !r.empty()) return r;
  for (const wabt::DataSegment* ds : m.data_segments)
    if (auto r = unsupported_in(ds->offset); !r.empty()) return r;
  return {};
}

// libwabt 1.0.32 reads memory.copy's first immediate (the destination memory) into
// `srcmemidx` and the second into `destmemidx` (its binary writer swaps them back), while its C
// writer takes the fields by their names: with two memories the copy would run backwards.
// Swaps them so the C writer copies from the source into the destination.
void fix_memory_copy_order(wabt::ExprList& exprs) {
  using ET = wabt::ExprType;
  for (wabt::Expr& e : exprs) {
    switch (e.type()) {
      case ET::MemoryCopy: {
        auto& copy = static_cast<wabt::MemoryCopyExpr&>(e);
        std::swap(copy.srcmemidx, copy.destmemidx);
        break;
      }
      case ET::Block:
        fix_memory_copy_order(static_cast<wabt::BlockExpr&>(e).block.exprs);
        break;
      case ET::Loop:
        fix_memory_copy_order(static_cast<wabt::LoopExpr&>(e).block.exprs);
        break;
      case ET::If: {
        auto& i = static_cast<wabt::IfExpr&>(e);
        fix_memory_copy_order(i.true_.exprs);
        fix_memory_copy_order(i.false_);
        break;
      }
      case ET::Try: {
        auto& t = static_cast<wabt::TryExpr&>(e);
        fix_memory_copy_order(t.block.exprs);
        for (wabt::Catch& c : t.catches) fix_memory_copy_order(c.exprs);
        break;
      }
      default:
        break;
    }
  }
}

// Gives every import and export a plain generated name before C generation. The C writer puts
// names into C comments and symbols; plain names keep arbitrary (valid) Wasm names from breaking
// the C, and make every import its own symbol even when two imports share a name.
std::string numbered(char prefix, size_t i) {
  std::string s(1, prefix);
  s += std::to_string(i);
  return s;
}

void rename_for_c(wabt::Module& m) {
  for (size_t i = 0; i < m.imports.size(); ++i) {
    m.imports[i]->module_name = "m";
    m.imports[i]->field_name = numbered('i', i);
  }
  for (size_t i = 0; i < m.exports.size(); ++i) m.exports[i]->name = numbered('e', i);
  m.export_bindings.clear();
}

std::string stream_text(wabt::MemoryStream& s) {
  const auto& buf = s.output_buffer().data;
  return std::string(buf.begin(), buf.end());
}

void remove_line(std::string& text, std::string_view line) {
  auto pos = text.find(line);
  if (pos != std::string::npos) text.erase(pos, line.size());
}

// Loops are interrupted by a signal (runtime.cc), so no per-iteration check is inserted. The
// check remains available for platforms without that mechanism.
constexpr bool kLoopChecks = false;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// Makes the active data segments of a module's own memories conditional: init_memories
// creates each defined memory through flot_allocate_memory_image, which says whether that
// memory came from the module's prepared image (memory_image.cc) with its segments already in
// it. Consecutive segments of one memory share one `if` (a single-memory module has one, however
// many segments it has); segments of imported memories are left as they are.
void make_data_conditional(std::string& c) {
  size_t fn = c.find("\nstatic void init_memories(");
  if (fn == std::string::npos) return;
  size_t end = c.find("\n}\n", fn);
  if (end == std::string::npos) return;
  constexpr std::string_view kAlloc = "  wasm_rt_allocate_memory(&instance->";
  constexpr std::string_view kLoad = "  LOAD_DATA(instance->";
  std::vector<std::string> defined;  // the memories init_memories creates, in order
  std::string out;
  out.reserve(end - fn + 256);
  size_t open = SIZE_MAX;  // the memory whose `if` block is open
  auto close = [&] {
    if (open != SIZE_MAX) out += "  }\n";
    open = SIZE_MAX;
  };
  for (size_t pos = fn + 1; pos <= end;) {
    size_t eol = c.find('\n', pos);
    std::string_view line(c.data() + pos, eol - pos);
    pos = eol + 1;
    size_t comma = line.find(',');
    size_t mem = SIZE_MAX;  // the defined memory this line loads into
    if (line.starts_with(kLoad) && comma != std::string_view::npos) {
      auto it = std::find(defined.begin(), defined.end(),
                          line.substr(kLoad.size(), comma - kLoad.size()));
      if (it != defined.end()) mem = static_cast<size_t>(it - defined.begin());
    }
    if (mem != open) close();
    if (line.starts_with(kAlloc) && line.ends_with(");") && comma != std::string_view::npos) {
      std::string k = std::to_string(defined.size());
      defined.emplace_back(line.substr(kAlloc.size(), comma - kAlloc.size()));
      out += "  const u32 flot_image_" + k + " = flot_allocate_memory_image(";
      out += line.substr(kAlloc.size() - std::string_view("&instance->").size());
      out += " (void)flot_image_" + k + ";\n";
      continue;
    }
    if (mem != SIZE_MAX && mem != open) {
      out += "  if (!flot_image_" + std::to_string(mem) + ") {\n";
      open = mem;
    }
    out += line;
    out += '\n';
  }
  close();
  c.replace(fn + 1, end + 1 - (fn + 1), out);
}

// Tags belong to instances, not to the module: the C writer (1.0.32) keeps a defined tag in a
// static variable registered once per module by init_tags, and an imported tag in a global
// extern variable. Every tag is made an entry of the instance's tag array instead
// (FLOT_TAG(instance, index), filled by the engine at instantiation: the instance's own tags
// and the imported ones; see wasm-rt.h). The tag statics, their registration and the export
// variables go; each tag name becomes a macro for its entry, defined in the module header
// so that every translation unit of a split module sees it, and so do the structs that carry
// the values of tags with several parameters. Exported tags are found through flot_exports
// by index. Returns false if the output is not shaped as expected.
bool localize_tags(std::string& h, std::string& c, const ModuleMeta& meta) {
  size_t tag_imports = 0;
  std::string defines;
  for (size_t at = c.find("\n#ifndef wasm_tag_"); at != std::string::npos;
       at = c.find("\n#ifndef wasm_tag_", at)) {
    size_t end = c.find("\n#endif", at + 1);
    if (end == std::string::npos) return false;
    size_t eol = c.find('\n', end + 1);
    if (eol == std::string::npos) return false;
    defines.append(c, at + 1, eol - at);
    c.erase(at + 1, eol - at);
  }
  for (size_t k = 0; k < meta.imports.size(); ++k) {
    if (meta.imports[k].type.kind != ExternKind::Tag) continue;
    std::string sym = mangle("m") + mangle(numbered('i', k));
    remove_line(h, "extern const u32 *" + sym + ";\n");
    defines += "#define " + sym + " (&FLOT_TAG(instance, " + std::to_string(tag_imports++) + "))\n";
  }
  const std::string pref = mangle(kModName);
  for (size_t e = 0; e < meta.exports.size(); ++e) {
    if (meta.exports[e].type.kind != ExternKind::Tag) continue;
    std::string sym = pref + mangle(numbered('e', e));
    remove_line(h, "extern const u32 *" + sym + ";\n");
    size_t at = c.find("\nconst u32 *" + sym + " = &");
    if (at == std::string::npos) return false;
    size_t eol = c.find('\n', at + 1);
    if (eol == std::string::npos) return false;
    c.erase(at + 1, eol - at);
  }
  if (!meta.tags.empty()) {
    constexpr std::string_view kInit = "\nstatic void init_tags(void) {\n";
    size_t fn = c.find(kInit);
    if (fn == std::string::npos) return false;
    size_t body = fn + kInit.size();
    size_t end = c.find("\n}\n", body - 1);
    if (end == std::string::npos) return false;
    std::string_view lines(c.data() + body, end + 1 - body);
    std::vector<std::string> names;
    for (size_t pos = 0; pos < lines.size();) {
      size_t eol = lines.find('\n', pos);
      std::string_view line = lines.substr(pos, eol - pos);
      pos = eol + 1;
      size_t eq = line.find(" = wasm_rt_register_tag(");
      if (!line.starts_with("  w2c_") || eq == std::string_view::npos) return false;
      names.emplace_back(line.substr(2, eq - 2));
    }
    if (names.size() != meta.tags.size()) return false;
    c.erase(body, end + 1 - body);  // init_tags stays, empty
    for (size_t j = 0; j < names.size(); ++j) {
      size_t at = c.find("\nstatic u32 " + names[j] + ";\n");
      if (at == std::string::npos || at > fn) return false;
      c.erase(at + 1, names[j].size() + 13);
      defines +=
          "#define " + names[j] + " FLOT_TAG(instance, " + std::to_string(tag_imports + j) + ")\n";
    }
  }
  h += defines;
  return true;
}

// Functions with a try block (lowered try_tables) unwind into it with longjmp: the locals and
// parameters they change between the setjmp and the longjmp must be volatile, or the
// optimizer may keep them in registers that longjmp restores to older values. (Stack
// temporaries need not be: those live across the try are not written inside it.) Each try
// also records the call depth it starts at, restored when an exception lands there (the
// frames unwound skip their epilogues).
void protect_try_functions(std::string& c) {
  if (c.find("wasm_rt_try(") == std::string::npos) return;
  std::string out;
  out.reserve(c.size() + c.size() / 16);
  static const char* const kTypes[] = {
      "u32 ", "u64 ", "f32 ", "f64 ", "wasm_rt_funcref_t ", "wasm_rt_externref_t "};
  size_t pos = 0;
  while (pos < c.size()) {
    size_t eol = c.find('\n', pos);
    if (eol == std::string::npos) eol = c.size();
    std::string_view line(c.data() + pos, eol - pos);
    bool definition = line.starts_with("static ") && line.find(" w2c_") != std::string_view::npos &&
                      line.find('(') != std::string_view::npos &&
                      line.find('=') == std::string_view::npos;
    size_t sig_end = definition ? c.find(") {\n", pos) : std::string::npos;
    size_t semi = definition ? c.find(");\n", pos) : std::string::npos;
    if (sig_end == std::string::npos || (semi != std::string::npos && semi < sig_end)) {
      out.append(line);
      if (eol < c.size()) out += '\n';
      pos = eol + 1;
      continue;
    }
    // A function definition: its signature up to ") {", its body up to the line "}".
    size_t body_end = c.find("\n}\n", sig_end);
    if (body_end == std::string::npos) body_end = c.size();
    std::string_view body(c.data() + sig_end, body_end - sig_end);
    if (body.find("wasm_rt_try(") == std::string_view::npos) {
      out.append(c, pos, body_end - pos);
      pos = body_end;
      continue;
    }
    std::string sig(c, pos, sig_end - pos);
    for (const char* t : kTypes) {  // "T w2c_pN" anywhere in the (possibly wrapped) list
      std::string param = std::string(t) + "w2c_p";
      for (size_t at = sig.find(param); at != std::string::npos;
           at = sig.find(param, at + param.size() + 9)) {
        sig.insert(at, "volatile ");
      }
    }
    out += sig;
    size_t p = sig_end;
    while (p < body_end) {
      size_t e = c.find('\n', p);
      if (e == std::string::npos || e > body_end) e = body_end;
      std::string_view l(c.data() + p, e - p);
      for (const char* t : kTypes) {
        std::string decl = std::string("  ") + t + "w2c_l";
        if (l.starts_with(decl)) {
          out += "  volatile ";
          l.remove_prefix(2);
          break;
        }
      }
      out.append(l);
      constexpr std::string_view kTarget = "WASM_RT_UNWIND_TARGET w2c_T";
      size_t t = l.find(kTarget);
      if (t != std::string_view::npos && l.ends_with("_unwind_target;")) {
        std::string_view name = l.substr(t + kTarget.size() - 5);
        name.remove_suffix(1);
        out += " FLOT_UNWIND_INIT(";
        out += name;
        out += ");";
      }
      if (e < body_end) out += '\n';
      p = e + 1;
    }
    pos = body_end;
  }
  c = std::move(out);
}

// The C writer (1.0.32) moves the values of a tag with several parameters in reverse order
// between the stack and the tag's struct: `throw` initialises the struct fields (i0, j1, d2)
// from the stack top down ({w2c_d2, w2c_j1, w2c_i0}), converting each value to the wrong
// field's type, and a catch assigns the fields to the stack variables top down as well. Both
// lists are reversed here, so each value goes to its own field and back.
void fix_tag_value_order(std::string& c) {
  if (c.find("struct wasm_tag_") == std::string::npos) return;
  std::string out;
  out.reserve(c.size());
  size_t pos = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= c.size()) return false;
    size_t eol = c.find('\n', pos);
    if (eol == std::string::npos) eol = c.size();
    line = std::string_view(c.data() + pos, eol - pos);
    pos = eol + 1;
    return true;
  };
  std::string_view line;
  while (next_line(line)) {
    size_t indent = line.find_first_not_of(' ');
    std::string_view rest = indent == std::string_view::npos ? line : line.substr(indent);
    if (rest.starts_with("struct wasm_tag_") && rest.ends_with(", };")) {
      size_t open = rest.find(" tmp = {");
      if (open != std::string_view::npos) {
        std::string_view items = rest.substr(open + 8, rest.size() - open - 8 - 4);
        std::vector<std::string_view> list;
        for (size_t p = 0; p <= items.size();) {
          size_t comma = items.find(", ", p);
          if (comma == std::string_view::npos) comma = items.size();
          list.push_back(items.substr(p, comma - p));
          p = comma + 2;
        }
        out.append(line.substr(0, (indent == std::string_view::npos ? 0 : indent) + open + 8));
        for (size_t i = list.size(); i-- > 0;) (out += list[i]) += ", ";
        out += "};\n";
        continue;
      }
    }
    out.append(line);
    out += '\n';
    if (rest == "wasm_rt_memcpy(&tmp, wasm_rt_exception(), sizeof(tmp));") {
      // The assignments "  w2c_x = tmp.f;" that follow: reverse their left-hand sides.
      std::vector<std::string_view> lines, vars;
      size_t save = pos;
      std::string_view l;
      while (next_line(l)) {
        size_t eq = l.find(" = tmp.");
        if (eq == std::string_view::npos || !l.ends_with(";")) {
          pos = save;
          break;
        }
        size_t v = l.find_first_not_of(' ');
        lines.push_back(l);
        vars.push_back(l.substr(v, eq - v));
        save = pos;
      }
      for (size_t i = 0; i < lines.size(); ++i) {
        std::string_view l2 = lines[i];
        size_t v = l2.find_first_not_of(' ');
        size_t eq = l2.find(" = tmp.");
        out.append(l2.substr(0, v));
        out += vars[vars.size() - 1 - i];
        out.append(l2.substr(eq));
        out += '\n';
      }
    }
  }
  if (!c.ends_with('\n') && !out.empty()) out.pop_back();
  c = std::move(out);
}

// Rewrites of the C writer's output:
//  - active data segments applied only when the memory is not image-backed (see above);
//  - funcref table initialisation without struct assignment (for tcc);
//  - optionally (kLoopChecks) an interruption check at every loop header ("w2c_L<n>:" labels);
//  - float negation as a sign-bit flip: tcc compiles `-(x)` as a subtraction, which loses the
//    sign of NaNs (f32 stack temporaries are w2c_f<n>, f64 ones w2c_d<n>).
std::string postprocess_c(std::string c) {
  make_data_conditional(c);
  protect_try_functions(c);
  fix_tag_value_order(c);
  // A module without a type section has no func_types array, but the C writer still passes it
  // to funcref_table_init for element segments, which then hold only null references: pass a
  // one-element array of type id 0 instead (what a null entry reads; found by the fuzzer).
  if (c.find("static u32 func_types[") == std::string::npos)
    replace_all(c, ", instance, func_types);", ", instance, (const u32[1]){0});");
  // Table initialisation stores each funcref field by field: tcc compiles the C writer's
  // compound-literal assignment as a call to memmove per element (a third of the instantiation
  // of a module with a table of 8k functions, once its memory comes from an image).
  replace_all(
      c,
      "    dest->data[dest_addr + i] = (wasm_rt_funcref_t){\n"
      "        func_types[src_expr->func_type_index], src_expr->func,\n"
      "        (char*)module_instance + src_expr->module_offset};\n",
      "    wasm_rt_funcref_t* dest_val = &dest->data[dest_addr + i];\n"
      "    dest_val->func_type = func_types[src_expr->func_type_index];\n"
      "    dest_val->func = src_expr->func;\n"
      "    dest_val->module_instance = (char*)module_instance + src_expr->module_offset;\n");
  replace_all(c, "= -(w2c_f", "= flot_negf(w2c_f");
  replace_all(c, "= -(w2c_d", "= flot_neg(w2c_d");
  std::string out;
  out.reserve(c.size() + c.size() / 32);
  size_t pos = 0;
  // wabt writes a function's locals (zero-initialised) before FUNC_PROLOGUE, whose depth and
  // native-stack check must come first: a frame too large for the stack would be written
  // before the check could trap. Move the prologue to just after the opening brace.
  size_t body_start = std::string::npos;
  while (pos < c.size()) {
    size_t eol = c.find('\n', pos);
    if (eol == std::string::npos) eol = c.size();
    std::string_view line(c.data() + pos, eol - pos);
    if (line == "  FUNC_PROLOGUE;" && body_start != std::string::npos) {
      out.insert(body_start, "  FUNC_PROLOGUE;\n");
      body_start = std::string::npos;
      pos = eol + 1;
      continue;
    }
    out.append(line);
    if (line.starts_with("static ") && line.ends_with(") {")) {
      body_start = out.size() + 1;  // after this line's newline
    } else if (line == "}") {
      body_start = std::string::npos;
    }
    size_t i = 0;
    while (i < line.size() && line[i] == ' ') ++i;
    if (kLoopChecks && line.substr(i).starts_with("w2c_L")) {
      size_t j = i + 5;
      size_t digits = 0;
      while (j < line.size() && isdigit(static_cast<unsigned char>(line[j]))) ++j, ++digits;
      if (digits && j < line.size() && line[j] == ':' &&
          line.find_first_not_of(' ', j + 1) == std::string_view::npos) {
        out += " FLOT_LOOP_CHECK;";
      }
    }
    if (eol < c.size()) out += '\n';
    pos = eol + 1;
  }
  return out;
}

std::string write_glue(const ModuleMeta& meta) {
  std::ostringstream g;
  const std::string pref = mangle(kModName);
  g << "\n/* ---- flotilla glue ---- */\n";
  // Multi-value result structs for every signature we adapt (wasm2c only defines the ones it
  // uses).
  std::set<std::string> multis;
  auto need_multi = [&](const std::vector<ValType>& r) {
    if (r.size() < 2 || !multis.insert(multi_name(r)).second) return;
    std::string n = multi_name(r);
    g << "#ifndef " << n << "\n#define " << n << " " << n << "\nstruct " << n << " {\n";
    for (size_t i = 0; i < r.size(); ++i)
      g << "  " << c_type(r[i]) << " " << multi_field(r, i) << ";\n";
    g << "};\n#endif\n";
  };
  for (const auto& s : meta.sigs) need_multi(s.results);
  for (const auto& i : meta.imports)
    if (i.type.kind == ExternKind::Func) need_multi(i.type.func.results);

  // Import trampolines / accessors, one per import (imports are renamed m::i<k> for C).
  for (size_t k = 0; k < meta.imports.size(); ++k) {
    const auto& imp = meta.imports[k];
    std::string sym = mangle("m") + mangle(numbered('i', k));
    std::string inst = "struct " + mangle("m") + "_instance_t";
    switch (imp.type.kind) {
      case ExternKind::Func: {
        const FuncType& ft = imp.type.func;
        g << ret_type(ft.results) << " " << sym << "(" << inst << "* b";
        for (size_t i = 0; i < ft.params.size(); ++i)
          g << ", " << c_type(ft.params[i]) << " a" << i;
        g << ") {\n  flot_binding_t* s = FLOT_SLOT(b, " << k << ");\n  ";
        if (!ft.results.empty()) g << "return ";
        g << "((" << fn_ptr_type(ft) << ")s->fn)(s->env";
        for (size_t i = 0; i < ft.params.size(); ++i) g << ", a" << i;
        g << ");\n}\n";
        break;
      }
      case ExternKind::Memory:
        g << "wasm_rt_memory_t* " << sym << "(" << inst
          << "* b) { return (wasm_rt_memory_t*)FLOT_SLOT(b, " << k << ")->env; }\n";
        break;
      case ExternKind::Table: {
        const char* tt = imp.type.table.element == ValType::FuncRef ? "wasm_rt_funcref_table_t"
                                                                    : "wasm_rt_externref_table_t";
        g << tt << "* " << sym << "(" << inst << "* b) { return (" << tt << "*)FLOT_SLOT(b, " << k
          << ")->env; }\n";
        break;
      }
      case ExternKind::Global: {
        const char* ct = c_type(imp.type.global.content);
        g << ct << "* " << sym << "(" << inst << "* b) { return (" << ct << "*)FLOT_SLOT(b, " << k
          << ")->env; }\n";
        break;
      }
      case ExternKind::Tag:  // an entry of the instance's tags (localize_tags)
        break;
    }
  }
  // Host adapters: typed C entry points that forward to the engine's generic host call.
  for (size_t k = 0; k < meta.imports.size(); ++k) {
    const auto& imp = meta.imports[k];
    if (imp.type.kind != ExternKind::Func) continue;
    const FuncType& ft = imp.type.func;
    size_t n = std::max<size_t>({ft.params.size(), ft.results.size(), 1});
    g << "static " << ret_type(ft.results) << " flot_host_" << k << "(void* env";
    for (size_t i = 0; i < ft.params.size(); ++i) g << ", " << c_type(ft.params[i]) << " a" << i;
    g << ") {\n  flot_val_t io[" << n << "];\n  int t;\n";
    for (size_t i = 0; i < ft.params.size(); ++i)
      g << "  io[" << i << "]." << io_field(ft.params[i]) << " = a" << i << ";\n";
    g << "  t = flot_rt->call_host(env, io);\n  if (t) wasm_rt_trap((wasm_rt_trap_t)t);\n";
    if (ft.results.size() == 1) {
      g << "  return io[0]." << io_field(ft.results[0]) << ";\n";
    } else if (ft.results.size() > 1) {
      g << "  {\n    " << ret_type(ft.results) << " r;\n";
      for (size_t i = 0; i < ft.results.size(); ++i)
        g << "    r." << multi_field(ft.results, i) << " = io[" << i << "]."
          << io_field(ft.results[i]) << ";\n";
      g << "    return r;\n  }\n";
    }
    g << "}\n";
  }
  // Per-signature call adapters.
  for (size_t s = 0; s < meta.sigs.size(); ++s) {
    const FuncType& ft = meta.sigs[s];
    g << "static void flot_sig_" << s
      << "(wasm_rt_function_ptr_t f, void* env, flot_val_t* io) {\n  ";
    if (!ft.results.empty()) g << ret_type(ft.results) << " r = ";
    g << "((" << fn_ptr_type(ft) << ")f)(env";
    for (size_t i = 0; i < ft.params.size(); ++i)
      g << ", io[" << i << "]." << io_field(ft.params[i]);
    g << ");\n";
    if (ft.results.size() == 1) {
      g << "  io[0]." << io_field(ft.results[0]) << " = r;\n";
    } else {
      for (size_t i = 0; i < ft.results.size(); ++i)
        g << "  io[" << i << "]." << io_field(ft.results[i]) << " = r."
          << multi_field(ft.results, i) << ";\n";
    }
    g << "}\n";
  }
  g << "static const flot_sig_call_t flot_sigs[] = {";
  for (size_t s = 0; s < meta.sigs.size(); ++s) g << "flot_sig_" << s << ", ";
  g << "NULL};\n";
  g << "static void* const flot_host_adapters[] = {";
  for (size_t k = 0; k < meta.imports.size(); ++k) {
    if (meta.imports[k].type.kind == ExternKind::Func)
      g << "(void*)flot_host_" << k << ", ";
    else
      g << "NULL, ";
  }
  g << "NULL};\n";
  g << "static const flot_export_t flot_exports[] = {\n";
  for (size_t e = 0; e < meta.exports.size(); ++e) {
    const auto& ex = meta.exports[e];
    std::string sym = pref + mangle(numbered('e', e));
    int kind = ex.type.kind == ExternKind::Func     ? 0
               : ex.type.kind == ExternKind::Table  ? 1
               : ex.type.kind == ExternKind::Memory ? 2
               : ex.type.kind == ExternKind::Global ? 3
                                                    : 4;
    if (kind == 4) sym = "NULL";
    g << "  {" << kind << ", (void*)" << sym << ", "
      << (kind == 0 || kind == 4 ? meta.export_sig[e] : 0) << "},\n";
  }
  g << "  {0, NULL, 0}};\n";
  // Instantiation: every import module pointer is the same binding table.
  std::set<std::string> modules;
  if (!meta.imports.empty()) modules.insert("m");
  g << "static void flot_instantiate(void* inst, flot_binding_t* b) {\n  (void)b;\n  " << pref
    << "_instantiate((" << pref << "_instance_t*)inst";
  for (const auto& m : modules) g << ", (struct " << mangle(m) << "_instance_t*)b";
  g << ");\n}\n";
  g << "static void flot_free(void* inst) { " << pref << "_free((" << pref
    << "_instance_t*)inst); }\n";
  g << "static const flot_module_t flot_module = {FLOT_ABI_VERSION, sizeof(" << pref
    << "_instance_t), " << pref << "_init_module, flot_instantiate, flot_free, "
    << meta.exports.size() << ", flot_exports, " << meta.imports.size() << ", flot_host_adapters, "
    << meta.sigs.size() << ", flot_sigs};\n";
  g << "__attribute__((visibility(\"default\"))) const flot_module_t* flot_get_module(const "
       "flot_rt_api_t* rt) {\n  flot_rt = rt;\n  return &flot_module;\n}\n";
  return g.str();
}

// Does this line start a function declaration or definition of the C writer
// ("static RET w2c_NAME(ARGS...", possibly continued on following lines)?
bool starts_function(std::string_view line) {
  if (!line.starts_with("static ")) return false;
  auto w = line.find(" w2c_");
  auto paren = line.find('(');
  return w != std::string_view::npos && paren != std::string_view::npos && w < paren &&
         line.find('=') == std::string_view::npos;
}

}  // namespace

std::vector<std::string> split_translation_unit(const std::string& src, size_t parts) {
  // Lines of the unit: [prelude: runtime header, module header, macros, inline helpers]
  // [module state and initialisers, function declarations] [function definitions] [exports,
  // instantiation, glue]. The prelude is repeated in every unit; function definitions are
  // distributed; everything else stays in unit 0. Functions and the arrays that function bodies
  // reference lose `static` (they stay hidden in the shared object).
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < src.size();) {
    size_t eol = src.find('\n', pos);
    if (eol == std::string::npos) eol = src.size();
    lines.emplace_back(src.data() + pos, eol - pos);
    pos = eol + 1;
  }
  size_t body = 0;
  while (body < lines.size() && lines[body] != "static bool s_module_initialized = false;") ++body;
  if (body == lines.size() || parts < 2) return {src};

  std::string prelude;
  for (size_t i = 0; i < body; ++i) (prelude += lines[i]) += '\n';
  std::string unit0 = prelude, shared_decls;
  struct Chunk {
    size_t begin, end, bytes;
  };
  std::vector<Chunk> functions;
  auto unstatic = [](std::string_view l) { return std::string(l.substr(7)); };  // drop "static "
  for (size_t i = body; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (starts_function(l)) {
      // The signature may continue over several lines; it ends with ") {" or ");".
      size_t k = i;
      while (k < lines.size() && !lines[k].ends_with(") {") && !lines[k].ends_with(");")) ++k;
      if (k == lines.size()) return {src};  // unexpected shape: do not split
      if (lines[k].ends_with(");")) {
        std::string decl = unstatic(l);
        for (size_t j = i + 1; j <= k; ++j) (decl += '\n') += lines[j];
        unit0 += decl + '\n';
        shared_decls += decl + '\n';
        i = k;
        continue;
      }
      size_t j = k;
      size_t bytes = 0;
      while (j < lines.size() && lines[j] != "}") bytes += lines[j++].size() + 1;
      if (j == lines.size()) return {src};
      functions.push_back({i, j + 1, bytes});
      i = j;
      continue;
    }
    if (l.starts_with("static u32 func_types[")) {
      std::string def = unstatic(l);
      unit0 += def + '\n';
      shared_decls += "extern " + def + '\n';
    } else if (l.starts_with("static const u8 data_segment_data_") ||
               l.starts_with("static const wasm_elem_segment_expr_t elem_segment_exprs_")) {
      std::string def = unstatic(l);  // "const T name[] = {"
      unit0 += def + '\n';
      shared_decls += "extern " + def.substr(0, def.find(" = {")) + ";\n";
    } else {
      (unit0 += l) += '\n';
    }
  }
  // Balance function bytes across the units (largest first onto the lightest unit).
  std::vector<size_t> order(functions.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return functions[a].bytes > functions[b].bytes; });
  std::vector<size_t> load(parts, 0);
  std::vector<std::vector<size_t>> assigned(parts);
  load[0] = unit0.size() - prelude.size();
  for (size_t f : order) {
    size_t u = std::min_element(load.begin(), load.end()) - load.begin();
    assigned[u].push_back(f);
    load[u] += functions[f].bytes;
  }
  std::vector<std::string> units(parts);
  for (size_t u = 0; u < parts; ++u) {
    std::string& out = units[u];
    if (u == 0) {
      out = "#define FLOT_SPLIT_MAIN 1\n" + unit0;
      unit0.clear();
    } else {
      out = "#define FLOT_SPLIT_UNIT 1\n" + prelude + shared_decls;
    }
    std::sort(assigned[u].begin(), assigned[u].end());
    for (size_t f : assigned[u]) {
      out += unstatic(lines[functions[f].begin]) + '\n';
      for (size_t i = functions[f].begin + 1; i < functions[f].end; ++i) (out += lines[i]) += '\n';
    }
  }
  return units;
}

Result<Generated> generate_c(std::span<const uint8_t> bytes, bool generate, bool validate,
                             CodegenFeatures features) {
  if (!validate && generate) return make_error(ErrorKind::Usage, "C needs validated input");
  wabt::Module module;
  auto decoded = decode(bytes, module, /*simd=*/false, validate, features);
  if (!decoded) {
    // Distinguish "uses SIMD" from "broken": retry with SIMD enabled.
    wabt::Module with_simd;
    auto again = decode(bytes, with_simd, /*simd=*/true, /*validate=*/true, features);
    if (again) {
      return make_error(ErrorKind::Unsupported,
                        "module uses SIMD (v128), which this engine does not execute yet");
    }
    return Unexpected(again.error());
  }
  // Checks libwabt 1.0.32 misses: constant expressions must produce a value.
  for (const wabt::DataSegment* ds : module.data_segments) {
    if (ds->kind == wabt::SegmentKind::Active && ds->offset.empty())
      return make_error(ErrorKind::Invalid,
                        "invalid module: type mismatch: empty data segment offset expression");
  }
  for (const wabt::ElemSegment* es : module.elem_segments) {
    if (es->kind == wabt::SegmentKind::Active && es->offset.empty())
      return make_error(ErrorKind::Invalid,
                        "invalid module: type mismatch: empty element segment offset expression");
  }
  for (size_t i = module.num_global_imports; i < module.globals.size(); ++i) {
    if (module.globals[i]->init_expr.empty())
      return make_error(ErrorKind::Invalid,
                        "invalid module: type mismatch: empty global initializer");
  }
  auto meta = build_meta(module);
  if (!meta) return Unexpected(meta.error());
  if (uses_v128(*meta)) {
    return make_error(ErrorKind::Unsupported,
                      "module uses SIMD (v128), which this engine does not execute yet");
  }
  if (auto what = unsupported_in(module); !what.empty()) {
    return make_error(ErrorKind::Unsupported,
                      "module uses " + what + ", which this engine does not execute yet");
  }
  Generated out;
  out.meta = std::move(*meta);
  if (!generate) return out;

  if (module.memories.size() > 1)
    for (wabt::Func* f : module.funcs) fix_memory_copy_order(f->exprs);
  rename_for_c(module);
  wabt::GenerateNames(&module);
  (void)wabt::ApplyNames(&module);
  wabt::MemoryStream c_stream, h_stream;
  wabt::WriteCOptions wopts;
  wopts.module_name = kModName;
  if (wabt::Failed(wabt::WriteC(&c_stream, &h_stream, "flotmod.h", &module, wopts))) {
    return make_error(ErrorKind::Compile, "C code generation failed");
  }
  std::string h = stream_text(h_stream);
  std::string c = stream_text(c_stream);
  remove_line(h, "#include \"wasm-rt.h\"");
  if (!localize_tags(h, c, out.meta))
    return make_error(ErrorKind::Compile, "C code generation failed: unexpected shape of tags");
  remove_line(c, "#include \"flotmod.h\"");
  std::string& src = out.c_source;
  src.reserve(c.size() + h.size() + 64 * 1024);
  src += detail::kRuntimeHeader;
  src += "\n";
  src += h;
  src += postprocess_c(std::move(c));
  src += write_glue(out.meta);
  return out;
}

}  // namespace flotilla::engine
