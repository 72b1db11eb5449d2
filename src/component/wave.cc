// WAVE (WebAssembly Value Encoding): printing Vals and parsing text against a Type.
#include <flotilla/component/wave.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <set>

#include "unicode.h"

namespace flotilla::component::wave {

namespace {

const std::set<std::string>& keywords() {
  static const std::set<std::string> kw = {"true", "false", "inf", "nan",
                                           "some", "none",  "ok",  "err"};
  return kw;
}

std::string label(const std::string& s) { return keywords().count(s) ? "%" + s : s; }

void escape_char(std::string& out, char32_t c, char quote) {
  switch (c) {
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '"':
      out += quote == '"' ? "\\\"" : "\"";
      return;
    case '\'':
      out += quote == '\'' ? "\\'" : "'";
      return;
    default:
      break;
  }
  if (c < 0x20 || c == 0x7f) {
    char buf[16];
    snprintf(buf, sizeof buf, "\\u{%x}", static_cast<unsigned>(c));
    out += buf;
    return;
  }
  unicode::append_utf8(out, c);
}

std::string float_text(double d, bool is32) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  std::to_chars_result r = is32 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(d))
                                : std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

void print_to(std::string& out, const Val& v) {
  switch (v.kind) {
    case TypeKind::Bool:
      out += v.bits ? "true" : "false";
      return;
    case TypeKind::S8:
    case TypeKind::S16:
    case TypeKind::S32:
    case TypeKind::S64:
      out += std::to_string(static_cast<int64_t>(v.bits));
      return;
    case TypeKind::U8:
    case TypeKind::U16:
    case TypeKind::U32:
    case TypeKind::U64:
      out += std::to_string(v.bits);
      return;
    case TypeKind::F32:
      out += float_text(v.as_f32(), true);
      return;
    case TypeKind::F64:
      out += float_text(v.as_f64(), false);
      return;
    case TypeKind::Char:
      out += '\'';
      escape_char(out, static_cast<char32_t>(v.bits), '\'');
      out += '\'';
      return;
    case TypeKind::String: {
      out += '"';
      size_t i = 0;
      while (i < v.str.size()) {
        char32_t c;
        int n = unicode::decode_utf8(v.str, i, c);
        if (n == 0) {  // not UTF-8: show the byte
          c = 0xfffd;
          n = 1;
        }
        escape_char(out, c, '"');
        i += n;
      }
      out += '"';
      return;
    }
    case TypeKind::List:
      if (v.is_bytes()) {
        out += '[';
        for (size_t i = 0; i < v.str.size(); i++) {
          if (i) out += ", ";
          out += std::to_string(static_cast<unsigned char>(v.str[i]));
        }
        out += ']';
        return;
      }
      [[fallthrough]];
    case TypeKind::Tuple: {
      out += v.kind == TypeKind::List ? '[' : '(';
      for (size_t i = 0; i < v.items.size(); i++) {
        if (i) out += ", ";
        print_to(out, v.items[i]);
      }
      out += v.kind == TypeKind::List ? ']' : ')';
      return;
    }
    case TypeKind::Record: {
      if (v.items.empty()) {
        out += "{:}";
        return;
      }
      out += '{';
      for (size_t i = 0; i < v.items.size(); i++) {
        if (i) out += ", ";
        out += label(i < v.names.size() ? v.names[i] : std::to_string(i));
        out += ": ";
        print_to(out, v.items[i]);
      }
      out += '}';
      return;
    }
    case TypeKind::Variant:
    case TypeKind::Enum:
      out += label(v.str);
      if (!v.items.empty()) {
        out += '(';
        print_to(out, v.items[0]);
        out += ')';
      }
      return;
    case TypeKind::Option:
      if (v.bits == 1 && !v.items.empty()) {
        out += "some(";
        print_to(out, v.items[0]);
        out += ')';
      } else {
        out += "none";
      }
      return;
    case TypeKind::Result:
      out += v.bits == 0 ? "ok" : "err";
      if (!v.items.empty()) {
        out += '(';
        print_to(out, v.items[0]);
        out += ')';
      }
      return;
    case TypeKind::Flags: {
      out += '{';
      for (size_t i = 0; i < v.names.size(); i++) {
        if (i) out += ", ";
        out += label(v.names[i]);
      }
      out += '}';
      return;
    }
    case TypeKind::Own:
    case TypeKind::Borrow:
      out += "<resource ";
      out += v.resource && v.resource->type ? v.resource->type->name : "?";
      out += "#" + std::to_string(v.resource ? v.resource->rep : 0) + ">";
      return;
    case TypeKind::ErrorContext:
    case TypeKind::Stream:
    case TypeKind::Future:
      out += std::string("<") + type_kind_name(v.kind) + ">";
      return;
  }
}

// ---- parser ---------------------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Unexpected<Error> fail(const std::string& what) const {
    return make_error(ErrorKind::Usage, "WAVE: " + what + " at column " + std::to_string(pos_ + 1));
  }
  void ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      pos_++;
    }
  }
  bool eat(char c) {
    ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      pos_++;
      return true;
    }
    return false;
  }
  bool at_end() {
    ws();
    return pos_ >= s_.size();
  }
  char peek() {
    ws();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }

  // A label: [%]kebab-case identifier. Returns the name without `%`.
  Result<std::string> ident() {
    ws();
    bool escaped = false;
    if (pos_ < s_.size() && s_[pos_] == '%') {
      escaped = true;
      pos_++;
    }
    size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-')) {
      pos_++;
    }
    if (pos_ == start) return fail("expected a name");
    std::string id(s_.substr(start, pos_ - start));
    (void)escaped;
    return id;
  }

  // Reads a word (for keywords and numbers) without consuming it.
  std::string word() {
    ws();
    size_t p = pos_;
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) p++;
    while (p < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[p])) || s_[p] == '.' ||
                             s_[p] == '_' || s_[p] == '-' || s_[p] == '+')) {
      // a '-' or '+' only continues a number after an exponent marker
      if ((s_[p] == '-' || s_[p] == '+') && !(s_[p - 1] == 'e' || s_[p - 1] == 'E')) break;
      p++;
    }
    return std::string(s_.substr(pos_, p - pos_));
  }

  Result<char32_t> escape() {
    // after a backslash
    if (pos_ >= s_.size()) return fail("unterminated escape");
    char c = s_[pos_++];
    switch (c) {
      case 'n':
        return U'\n';
      case 'r':
        return U'\r';
      case 't':
        return U'\t';
      case '\\':
        return U'\\';
      case '"':
        return U'"';
      case '\'':
        return U'\'';
      case 'u': {
        if (pos_ >= s_.size() || s_[pos_] != '{') return fail("expected `{` after \\u");
        pos_++;
        size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] != '}') pos_++;
        if (pos_ >= s_.size()) return fail("unterminated \\u{...}");
        uint32_t cp = 0;
        auto sv = s_.substr(start, pos_ - start);
        auto r = std::from_chars(sv.data(), sv.data() + sv.size(), cp, 16);
        if (sv.empty() || r.ec != std::errc() || r.ptr != sv.data() + sv.size()) {
          return fail("invalid \\u{...} escape");
        }
        pos_++;
        if (!unicode::is_scalar(cp)) return fail("\\u{...} is not a Unicode scalar value");
        return static_cast<char32_t>(cp);
      }
      default:
        return fail(std::string("unknown escape \\") + c);
    }
  }

  Result<std::string> string_lit() {
    if (!eat('"')) return fail("expected a string");
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) return fail("unterminated string");
      char c = s_[pos_];
      if (c == '"') {
        pos_++;
        break;
      }
      if (c == '\\') {
        pos_++;
        auto e = escape();
        if (!e) return Unexpected(e.error());
        unicode::append_utf8(out, *e);
        continue;
      }
      char32_t cp;
      int n = unicode::decode_utf8(s_, pos_, cp);
      if (n == 0) return fail("invalid UTF-8 in string");
      out.append(s_.substr(pos_, n));
      pos_ += n;
    }
    return out;
  }

  Result<char32_t> char_lit() {
    if (!eat('\'')) return fail("expected a char like 'x'");
    if (pos_ >= s_.size()) return fail("unterminated char");
    char32_t c;
    if (s_[pos_] == '\\') {
      pos_++;
      auto e = escape();
      if (!e) return Unexpected(e.error());
      c = *e;
    } else {
      int n = unicode::decode_utf8(s_, pos_, c);
      if (n == 0) return fail("invalid UTF-8 in char");
      pos_ += n;
    }
    if (pos_ >= s_.size() || s_[pos_] != '\'') return fail("expected `'` closing the char");
    pos_++;
    return c;
  }

  Result<Val> value(const Type& t, int depth) {
    if (depth > 100) return fail("value nested too deeply");
    switch (t.kind) {
      case TypeKind::Bool: {
        std::string w = word();
        if (w == "true" || w == "false") {
          pos_ += w.size();
          return Val::boolean(w == "true");
        }
        return fail("expected `true` or `false`");
      }
      case TypeKind::S8:
      case TypeKind::S16:
      case TypeKind::S32:
      case TypeKind::S64:
      case TypeKind::U8:
      case TypeKind::U16:
      case TypeKind::U32:
      case TypeKind::U64:
        return integer(t.kind);
      case TypeKind::F32:
      case TypeKind::F64:
        return floating(t.kind);
      case TypeKind::Char: {
        auto c = char_lit();
        if (!c) return Unexpected(c.error());
        return Val::chr(*c);
      }
      case TypeKind::String: {
        auto s = string_lit();
        if (!s) return Unexpected(s.error());
        return Val::string(std::move(*s));
      }
      case TypeKind::List: {
        if (!eat('[')) return fail("expected `[` starting a list");
        std::vector<Val> items;
        if (eat(']')) return Val::list({});
        while (true) {
          auto v = value(*t.elem, depth + 1);
          if (!v) return v;
          items.push_back(std::move(*v));
          if (eat(',')) {
            if (eat(']')) break;
            continue;
          }
          if (eat(']')) break;
          return fail("expected `,` or `]` in a list");
        }
        return Val::list(std::move(items));
      }
      case TypeKind::Tuple: {
        if (!eat('(')) return fail("expected `(` starting a tuple");
        std::vector<Val> items;
        for (size_t i = 0; i < t.items.size(); i++) {
          if (i && !eat(',')) return fail("expected `,` in a tuple");
          auto v = value(*t.items[i], depth + 1);
          if (!v) return v;
          items.push_back(std::move(*v));
        }
        eat(',');
        if (!eat(')'))
          return fail("expected `)` closing a tuple of " + std::to_string(t.items.size()));
        return Val::tuple(std::move(items));
      }
      case TypeKind::Record:
        return record(t, depth);
      case TypeKind::Flags: {
        if (!eat('{')) return fail("expected `{` starting flags");
        std::vector<std::string> set;
        if (eat('}')) return Val::flags({});
        while (true) {
          auto id = ident();
          if (!id) return Unexpected(id.error());
          bool known = false;
          for (auto& n : t.names) known = known || n == *id;
          if (!known) return fail("`" + *id + "` is not a flag of " + t.to_string());
          for (auto& n : set) {
            if (n == *id) return fail("flag `" + *id + "` given twice");
          }
          set.push_back(*id);
          if (eat(',')) {
            if (eat('}')) break;
            continue;
          }
          if (eat('}')) break;
          return fail("expected `,` or `}` in flags");
        }
        return Val::flags(std::move(set));
      }
      case TypeKind::Enum: {
        auto id = ident();
        if (!id) return Unexpected(id.error());
        for (size_t i = 0; i < t.names.size(); i++) {
          if (t.names[i] == *id) return Val::enumeration(*id, static_cast<uint32_t>(i));
        }
        return fail("`" + *id + "` is not a case of " + t.to_string());
      }
      case TypeKind::Variant: {
        auto id = ident();
        if (!id) return Unexpected(id.error());
        for (size_t i = 0; i < t.cases.size(); i++) {
          if (t.cases[i].name != *id) continue;
          if (!t.cases[i].type) return Val::variant(*id, std::nullopt, static_cast<uint32_t>(i));
          if (!eat('(')) return fail("case `" + *id + "` needs a payload in parentheses");
          auto v = value(*t.cases[i].type, depth + 1);
          if (!v) return v;
          if (!eat(')')) return fail("expected `)`");
          return Val::variant(*id, std::move(*v), static_cast<uint32_t>(i));
        }
        return fail("`" + *id + "` is not a case of " + t.to_string());
      }
      case TypeKind::Option: {
        std::string w = word();
        if (w == "none") {
          pos_ += 4;
          return Val::option(std::nullopt);
        }
        if (w == "some") {
          pos_ += 4;
          if (!eat('(')) return fail("expected `(` after some");
          auto v = value(*t.elem, depth + 1);
          if (!v) return v;
          if (!eat(')')) return fail("expected `)`");
          return Val::option(std::move(*v));
        }
        return fail("expected `some(...)` or `none`");
      }
      case TypeKind::Result: {
        std::string w = word();
        if (w != "ok" && w != "err") return fail("expected `ok`, `ok(...)`, `err` or `err(...)`");
        pos_ += w.size();
        bool is_ok = w == "ok";
        const TypePtr& p = is_ok ? t.ok : t.err;
        std::optional<Val> payload;
        if (p) {
          if (!eat('(')) return fail("expected `(` after " + w);
          auto v = value(*p, depth + 1);
          if (!v) return v;
          if (!eat(')')) return fail("expected `)`");
          payload = std::move(*v);
        } else if (peek() == '(') {
          return fail(w + " of " + t.to_string() + " has no payload");
        }
        return is_ok ? Val::ok(std::move(payload)) : Val::err(std::move(payload));
      }
      case TypeKind::Own:
      case TypeKind::Borrow:
        return fail("resource handles cannot be written in WAVE");
      case TypeKind::ErrorContext:
      case TypeKind::Stream:
      case TypeKind::Future:
        return fail(t.to_string() + " values cannot be written in WAVE");
    }
    return fail("unsupported type");
  }

  Result<Val> record(const Type& t, int depth) {
    if (!eat('{')) return fail("expected `{` starting a record");
    std::vector<std::optional<Val>> got(t.fields.size());
    if (eat(':')) {
      if (!eat('}')) return fail("expected `}` after `{:`");
    } else if (!eat('}')) {
      while (true) {
        auto id = ident();
        if (!id) return Unexpected(id.error());
        size_t k = t.fields.size();
        for (size_t i = 0; i < t.fields.size(); i++) {
          if (t.fields[i].name == *id) k = i;
        }
        if (k == t.fields.size()) return fail("`" + *id + "` is not a field of " + t.to_string());
        if (got[k]) return fail("field `" + *id + "` given twice");
        if (!eat(':')) return fail("expected `:` after field name");
        auto v = value(*t.fields[k].type, depth + 1);
        if (!v) return v;
        got[k] = std::move(*v);
        if (eat(',')) {
          if (eat('}')) break;
          continue;
        }
        if (eat('}')) break;
        return fail("expected `,` or `}` in a record");
      }
    }
    std::vector<std::pair<std::string, Val>> fields;
    for (size_t i = 0; i < t.fields.size(); i++) {
      if (!got[i]) {
        if (t.fields[i].type->kind == TypeKind::Option) {
          got[i] = Val::option(std::nullopt);  // optional fields may be left out
        } else {
          return fail("missing field `" + t.fields[i].name + "`");
        }
      }
      fields.emplace_back(t.fields[i].name, std::move(*got[i]));
    }
    return Val::record(std::move(fields));
  }

  Result<Val> integer(TypeKind k) {
    std::string w = word();
    if (w.empty()) return fail(std::string("expected a ") + type_kind_name(k));
    bool neg = w[0] == '-';
    std::string digits = w[0] == '-' || w[0] == '+' ? w.substr(1) : w;
    uint64_t mag = 0;
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), mag);
    if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
      return fail(std::string("expected a ") + type_kind_name(k) + ", got `" + w + "`");
    }
    bool is_signed =
        k == TypeKind::S8 || k == TypeKind::S16 || k == TypeKind::S32 || k == TypeKind::S64;
    int bits = k == TypeKind::S8 || k == TypeKind::U8     ? 8
               : k == TypeKind::S16 || k == TypeKind::U16 ? 16
               : k == TypeKind::S32 || k == TypeKind::U32 ? 32
                                                          : 64;
    Val v;
    v.kind = k;
    if (is_signed) {
      uint64_t limit = uint64_t(1) << (bits - 1);  // |min|
      if ((!neg && mag >= limit) || (neg && mag > limit)) {
        return fail("`" + w + "` is out of range for " + type_kind_name(k));
      }
      v.bits = neg ? static_cast<uint64_t>(-static_cast<int64_t>(mag - 1) - 1) : mag;
    } else {
      if (neg && mag != 0) return fail("`" + w + "` is out of range for " + type_kind_name(k));
      if (bits < 64 && mag >= (uint64_t(1) << bits)) {
        return fail("`" + w + "` is out of range for " + type_kind_name(k));
      }
      v.bits = mag;
    }
    pos_ += w.size();
    return v;
  }

  Result<Val> floating(TypeKind k) {
    std::string w = word();
    double d;
    if (w == "nan") {
      d = std::nan("");
    } else if (w == "inf") {
      d = INFINITY;
    } else if (w == "-inf") {
      d = -INFINITY;
    } else {
      auto r = std::from_chars(w.data(), w.data() + w.size(), d);
      if (w.empty() || r.ec != std::errc() || r.ptr != w.data() + w.size()) {
        return fail(std::string("expected a ") + type_kind_name(k) + ", got `" + w + "`");
      }
    }
    pos_ += w.size();
    if (k == TypeKind::F32) {
      float f = static_cast<float>(d);
      if (std::isnan(f)) return Val::f32_bits(0x7fc00000u);
      if (w != "nan" && w != "inf" && w != "-inf") {
        // parse as float directly for correct rounding
        float ff;
        auto r = std::from_chars(w.data(), w.data() + w.size(), ff);
        if (r.ec == std::errc()) f = ff;
      }
      return Val::f32(f);
    }
    if (std::isnan(d)) return Val::f64_bits(0x7ff8000000000000ull);
    return Val::f64(d);
  }

  size_t pos() const { return pos_; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::string print(const Val& v) {
  std::string out;
  print_to(out, v);
  return out;
}

Result<Val> parse(std::string_view text, const Type& t) {
  Parser p(text);
  auto v = p.value(t, 0);
  if (!v) return v;
  if (!p.at_end()) return p.fail("unexpected text after the value");
  return v;
}

Result<CallText> split_call(std::string_view text) {
  auto open = text.find('(');
  if (open == std::string_view::npos) {
    return make_error(ErrorKind::Usage,
                      "expected a call like `name(args)`, got `" + std::string(text) + "`");
  }
  size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string_view::npos || text[end] != ')') {
    return make_error(ErrorKind::Usage, "a call must end with `)`: `" + std::string(text) + "`");
  }
  CallText c;
  auto name = text.substr(0, open);
  size_t a = name.find_first_not_of(" \t"), b = name.find_last_not_of(" \t");
  if (a == std::string_view::npos) return make_error(ErrorKind::Usage, "missing function name");
  c.name = std::string(name.substr(a, b - a + 1));
  c.args = std::string(text.substr(open + 1, end - open - 1));
  return c;
}

Result<std::vector<Val>> parse_args(std::string_view args, const FuncType& type) {
  Parser p(args);
  std::vector<Val> out;
  for (size_t i = 0; i < type.params.size(); i++) {
    if (i && !p.eat(',')) {
      if (p.at_end()) {
        return make_error(ErrorKind::Usage, "expected " + std::to_string(type.params.size()) +
                                                " arguments, got " + std::to_string(i));
      }
      return p.fail("expected `,` between arguments");
    }
    if (p.at_end()) {
      return make_error(ErrorKind::Usage, "expected " + std::to_string(type.params.size()) +
                                              " arguments, got " + std::to_string(i));
    }
    auto v = p.value(*type.params[i].second, 0);
    if (!v) {
      Error e = v.error();
      e.message = "argument `" + type.params[i].first + "`: " + e.message;
      return Unexpected(std::move(e));
    }
    out.push_back(std::move(*v));
  }
  p.eat(',');
  if (!p.at_end()) {
    return make_error(ErrorKind::Usage,
                      "too many arguments: expected " + std::to_string(type.params.size()));
  }
  return out;
}

}  // namespace flotilla::component::wave
