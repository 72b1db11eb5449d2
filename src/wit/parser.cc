// WIT lexer and recursive-descent parser (grammar: component-model design/mvp/WIT.md).
#include <flotilla/wit/wit.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace flotilla::wit {
namespace {

struct Token {
  enum class Kind { Ident, Punct, Number, Version, End };
  Kind kind = Kind::End;
  std::string text;
  int line = 1, column = 1;
};

class Lexer {
 public:
  Lexer(std::string_view src, std::string file) : src_(src), file_(std::move(file)) {}

  Result<std::vector<Token>> run() {
    std::vector<Token> out;
    for (;;) {
      auto err = skip_space();
      if (err) return Unexpected(*err);
      Token t;
      t.line = line_;
      t.column = col_;
      if (pos_ >= src_.size()) {
        t.kind = Token::Kind::End;
        out.push_back(t);
        return out;
      }
      char c = src_[pos_];
      if (c == '%' || isalpha(static_cast<unsigned char>(c))) {
        size_t start = pos_;
        advance();
        while (pos_ < src_.size() &&
               (isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '-'))
          advance();
        t.kind = Token::Kind::Ident;
        t.text = std::string(src_.substr(start, pos_ - start));
      } else if (isdigit(static_cast<unsigned char>(c))) {
        size_t start = pos_;
        bool version = false;
        // A version may be followed by `.{` (use paths): a '.' belongs to it only before an
        // alphanumeric character.
        auto more = [&] {
          if (pos_ >= src_.size()) return false;
          char ch = src_[pos_];
          if (isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '+') return true;
          return ch == '.' && pos_ + 1 < src_.size() &&
                 isalnum(static_cast<unsigned char>(src_[pos_ + 1]));
        };
        while (more()) {
          if (!isdigit(static_cast<unsigned char>(src_[pos_]))) version = true;
          advance();
        }
        t.kind = version ? Token::Kind::Version : Token::Kind::Number;
        t.text = std::string(src_.substr(start, pos_ - start));
      } else if (c == '-' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '>') {
        advance();
        advance();
        t.kind = Token::Kind::Punct;
        t.text = "->";
      } else if (std::string_view("{}()<>,:;.=/@_*").find(c) != std::string_view::npos) {
        advance();
        t.kind = Token::Kind::Punct;
        t.text = std::string(1, c);
      } else {
        return Unexpected(
            Error{std::string("unexpected character '") + c + "'", file_, line_, col_});
      }
      out.push_back(std::move(t));
    }
  }

 private:
  void advance() {
    if (src_[pos_] == '\n') {
      line_++;
      col_ = 1;
    } else {
      col_++;
    }
    pos_++;
  }
  std::optional<Error> skip_space() {
    for (;;) {
      while (pos_ < src_.size() && isspace(static_cast<unsigned char>(src_[pos_]))) advance();
      if (src_.substr(pos_, 2) == "//") {
        while (pos_ < src_.size() && src_[pos_] != '\n') advance();
      } else if (src_.substr(pos_, 2) == "/*") {
        int depth = 0;
        int l = line_, c = col_;
        do {
          if (pos_ + 1 >= src_.size()) return Error{"unterminated block comment", file_, l, c};
          if (src_.substr(pos_, 2) == "/*") {
            depth++;
            advance();
            advance();
          } else if (src_.substr(pos_, 2) == "*/") {
            depth--;
            advance();
            advance();
          } else {
            advance();
          }
        } while (depth > 0);
      } else {
        return std::nullopt;
      }
    }
  }
  std::string_view src_;
  std::string file_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

class Parser {
 public:
  Parser(std::vector<Token> toks, std::string file) : t_(std::move(toks)), file_(std::move(file)) {}

  Result<std::vector<Package>> file() {
    std::vector<Package> out;
    try {
      Package top;
      bool have_top = false;
      while (!at_end()) {
        if (is("package")) {
          Package p;
          package_decl(p);
          if (accept("{")) {  // nested package
            while (!accept("}")) package_item(p);
            out.push_back(std::move(p));
          } else {
            expect(";");
            if (have_top) fail("a file may declare its package only once");
            top.ns = p.ns;
            top.name = p.name;
            top.version = p.version;
            have_top = true;
          }
        } else {
          package_item(top);
        }
      }
      if (have_top || !top.interfaces.empty() || !top.worlds.empty() || !top.uses.empty())
        out.insert(out.begin(), std::move(top));
    } catch (const Error& e) {
      return Unexpected(e);
    }
    return out;
  }

 private:
  // --- token helpers (errors are thrown inside the parser and returned at its boundary) ---
  const Token& peek(size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool at_end() const { return peek().kind == Token::Kind::End; }
  bool is(std::string_view s, size_t k = 0) const {
    const Token& t = peek(k);
    return (t.kind == Token::Kind::Ident || t.kind == Token::Kind::Punct) && t.text == s;
  }
  bool accept(std::string_view s) {
    if (!is(s)) return false;
    i_++;
    return true;
  }
  [[noreturn]] void fail(const std::string& msg) const {
    const Token& t = peek();
    throw Error{msg, file_, t.line, t.column};
  }
  void expect(std::string_view s) {
    if (!accept(s)) {
      fail("expected '" + std::string(s) + "', found '" +
           (at_end() ? std::string("end of file") : peek().text) + "'");
    }
  }
  std::string ident() {
    const Token& t = peek();
    if (t.kind != Token::Kind::Ident) fail("expected an identifier, found '" + t.text + "'");
    i_++;
    return t.text[0] == '%' ? t.text.substr(1) : t.text;
  }
  std::string version() {
    const Token& t = peek();
    if (t.kind != Token::Kind::Version && t.kind != Token::Kind::Number) fail("expected a version");
    i_++;
    return t.text;
  }
  uint32_t number() {
    const Token& t = peek();
    if (t.kind != Token::Kind::Number) fail("expected a number");
    i_++;
    return static_cast<uint32_t>(std::stoul(t.text));
  }

  // --- grammar ---
  void package_decl(Package& p) {
    expect("package");
    p.ns = ident();
    expect(":");
    p.name = ident();
    while (accept(":")) p.name += ":" + ident();  // nested namespaces
    while (accept("/")) p.name += "/" + ident();
    if (accept("@")) p.version = version();
  }

  Gates gates() {
    Gates g;
    while (is("@")) {
      i_++;
      std::string text = "@" + ident();
      if (accept("(")) {
        text += "(";
        int depth = 1;
        while (depth > 0) {
          if (at_end()) fail("unterminated gate");
          const Token& t = peek();
          i_++;
          if (t.text == "(") depth++;
          if (t.text == ")") depth--;
          if (depth == 0) break;
          if (t.text == "=") {
            text += " = ";
          } else if (t.text == ",") {
            text += ", ";
          } else {
            text += t.text;
          }
        }
        text += ")";
      }
      g.push_back(text);
    }
    return g;
  }

  void package_item(Package& p) {
    Gates g = gates();
    if (accept("use")) {
      Use u;
      u.gates = g;
      u.from = use_path();
      std::string alias;
      if (accept("as")) alias = ident();
      u.names.push_back({u.from.name, alias});
      expect(";");
      p.uses.push_back(std::move(u));
    } else if (accept("interface")) {
      Interface i;
      i.gates = g;
      i.name = ident();
      interface_body(i);
      p.interfaces.push_back(std::move(i));
    } else if (accept("world")) {
      World w;
      w.gates = g;
      w.name = ident();
      expect("{");
      while (!accept("}")) w.items.push_back(world_item());
      p.worlds.push_back(std::move(w));
    } else {
      fail("expected 'interface', 'world', 'use' or 'package', found '" + peek().text + "'");
    }
  }

  UsePath use_path() {
    UsePath u;
    std::string first = ident();
    if (accept(":")) {
      u.ns = first;
      u.package = ident();
      while (accept(":")) u.package += ":" + ident();
      expect("/");
      u.name = ident();
      if (accept("@")) u.version = version();
    } else {
      u.name = first;
    }
    return u;
  }

  void interface_body(Interface& i) {
    expect("{");
    while (!accept("}")) i.items.push_back(interface_item());
  }

  InterfaceItem interface_item() {
    Gates g = gates();
    if (is("use")) return use_item(g);
    if (is("record") || is("variant") || is("enum") || is("flags") || is("resource") ||
        is("type")) {
      TypeDef t = typedef_item();
      t.gates = g;
      return t;
    }
    Function f;
    f.gates = g;
    f.name = ident();
    expect(":");
    func_type(f);
    expect(";");
    return f;
  }

  Use use_item(const Gates& g) {
    expect("use");
    Use u;
    u.gates = g;
    u.from = use_path();
    expect(".");
    expect("{");
    do {
      if (is("}")) break;
      std::string n = ident();
      std::string alias;
      if (accept("as")) alias = ident();
      u.names.push_back({n, alias});
    } while (accept(","));
    expect("}");
    expect(";");
    return u;
  }

  void func_type(Function& f) {
    if (accept("async")) f.async = true;
    expect("func");
    params(f.params);
    if (accept("->")) f.result = type();
  }

  void params(std::vector<Param>& out) {
    expect("(");
    while (!accept(")")) {
      Param p;
      p.name = ident();
      expect(":");
      p.type = type();
      out.push_back(std::move(p));
      if (!accept(",")) {
        expect(")");
        break;
      }
    }
  }

  TypeDef typedef_item() {
    TypeDef t;
    if (accept("record")) {
      t.kind = TypeDef::Kind::Record;
      t.name = ident();
      expect("{");
      while (!accept("}")) {
        Param f;
        f.name = ident();
        expect(":");
        f.type = type();
        t.fields.push_back(std::move(f));
        if (!accept(",")) {
          expect("}");
          break;
        }
      }
    } else if (accept("variant")) {
      t.kind = TypeDef::Kind::Variant;
      t.name = ident();
      expect("{");
      while (!accept("}")) {
        std::string n = ident();
        std::optional<Type> ty;
        if (accept("(")) {
          ty = type();
          expect(")");
        }
        t.cases.push_back({n, ty});
        if (!accept(",")) {
          expect("}");
          break;
        }
      }
    } else if (accept("enum") || accept("flags")) {
      t.kind = t_[i_ - 1].text == "enum" ? TypeDef::Kind::Enum : TypeDef::Kind::Flags;
      t.name = ident();
      expect("{");
      while (!accept("}")) {
        t.names.push_back(ident());
        if (!accept(",")) {
          expect("}");
          break;
        }
      }
    } else if (accept("resource")) {
      t.kind = TypeDef::Kind::Resource;
      t.name = ident();
      if (accept("{")) {
        t.resource_body = true;
        while (!accept("}")) {
          Gates g = gates();
          Function f;
          f.gates = g;
          if (accept("constructor")) {
            f.kind = Function::Kind::Constructor;
            params(f.params);
          } else {
            f.name = ident();
            expect(":");
            f.kind = accept("static") ? Function::Kind::Static : Function::Kind::Method;
            func_type(f);
          }
          expect(";");
          t.methods.push_back(std::move(f));
        }
      } else {
        expect(";");
      }
    } else {
      expect("type");
      t.kind = TypeDef::Kind::Alias;
      t.name = ident();
      expect("=");
      t.alias = type();
      expect(";");
    }
    return t;
  }

  Type type() {
    Type t;
    static const std::pair<const char*, Type::Kind> prims[] = {
        {"bool", Type::Kind::Bool},     {"u8", Type::Kind::U8},
        {"u16", Type::Kind::U16},       {"u32", Type::Kind::U32},
        {"u64", Type::Kind::U64},       {"s8", Type::Kind::S8},
        {"s16", Type::Kind::S16},       {"s32", Type::Kind::S32},
        {"s64", Type::Kind::S64},       {"f32", Type::Kind::F32},
        {"f64", Type::Kind::F64},       {"float32", Type::Kind::F32},
        {"float64", Type::Kind::F64},   {"char", Type::Kind::Char},
        {"string", Type::Kind::String}, {"error-context", Type::Kind::ErrorContext},
    };
    for (auto [n, k] : prims) {
      if (accept(n)) {
        t.kind = k;
        return t;
      }
    }
    if (accept("list")) {
      t.kind = Type::Kind::List;
      expect("<");
      t.args.push_back(type());
      if (accept(",")) t.length = number();
      expect(">");
    } else if (accept("option")) {
      t.kind = Type::Kind::Option;
      expect("<");
      t.args.push_back(type());
      expect(">");
    } else if (accept("future") || accept("stream")) {
      t.kind = t_[i_ - 1].text == "future" ? Type::Kind::Future : Type::Kind::Stream;
      if (accept("<")) {
        t.args.push_back(type());
        expect(">");
      }
    } else if (accept("result")) {
      t.kind = Type::Kind::Result;
      if (accept("<")) {
        if (accept("_")) {
          expect(",");
          t.result_err = true;
          t.args.push_back(type());
        } else {
          t.result_ok = true;
          t.args.push_back(type());
          if (accept(",")) {
            t.result_err = true;
            t.args.push_back(type());
          }
        }
        expect(">");
      }
    } else if (accept("tuple")) {
      t.kind = Type::Kind::Tuple;
      expect("<");
      while (!accept(">")) {
        t.args.push_back(type());
        if (!accept(",")) {
          expect(">");
          break;
        }
      }
    } else if (accept("own") || accept("borrow")) {
      t.kind = t_[i_ - 1].text == "own" ? Type::Kind::Own : Type::Kind::Borrow;
      expect("<");
      t.name = ident();
      expect(">");
    } else {
      t.kind = Type::Kind::Named;
      t.name = ident();
    }
    return t;
  }

  WorldItem world_item() {
    WorldItem w;
    w.gates = gates();
    if (accept("import") || accept("export")) {
      w.kind = t_[i_ - 1].text == "import" ? WorldItem::Kind::Import : WorldItem::Kind::Export;
      if (peek().kind == Token::Kind::Ident && is(":", 1) &&
          (is("func", 2) || is("async", 2) || is("interface", 2))) {
        w.name = ident();
        expect(":");
        if (accept("interface")) {
          Interface i;
          interface_body(i);
          w.interface = std::move(i);
        } else {
          Function f;
          f.name = w.name;
          func_type(f);
          expect(";");
          w.func = std::move(f);
        }
      } else {
        w.path = use_path();
        expect(";");
      }
    } else if (is("use")) {
      w.kind = WorldItem::Kind::Use;
      w.use = use_item(w.gates);
    } else if (accept("include")) {
      w.kind = WorldItem::Kind::Include;
      w.path = use_path();
      if (accept("with")) {
        expect("{");
        while (!accept("}")) {
          std::string a = ident();
          expect("as");
          w.include_with.push_back({a, ident()});
          if (!accept(",")) {
            expect("}");
            break;
          }
        }
      } else {
        expect(";");
      }
    } else {
      w.kind = WorldItem::Kind::Type;
      w.type = typedef_item();
      w.type->gates = w.gates;
    }
    return w;
  }

  std::vector<Token> t_;
  std::string file_;
  size_t i_ = 0;
};

}  // namespace

std::string Error::to_string() const {
  std::ostringstream s;
  s << file << ":" << line << ":" << column << ": " << message;
  return s.str();
}

std::string UsePath::to_string() const {
  if (is_local()) return name;
  return ns + ":" + package + "/" + name + (version ? "@" + *version : "");
}

std::string Package::id() const { return ns + ":" + name + (version ? "@" + *version : ""); }

const Interface* Package::find_interface(std::string_view n) const {
  for (const auto& i : interfaces)
    if (i.name == n) return &i;
  return nullptr;
}

const World* Package::find_world(std::string_view n) const {
  for (const auto& w : worlds)
    if (w.name == n) return &w;
  return nullptr;
}

Result<std::vector<Package>> parse(std::string_view text, std::string_view file) {
  Lexer lexer(text, std::string(file));
  auto toks = lexer.run();
  if (!toks) return Unexpected(toks.error());
  Parser parser(std::move(*toks), std::string(file));
  return parser.file();
}

Result<Package> parse_dir(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".wit") files.push_back(e.path());
  if (ec) return Unexpected(Error{"cannot read directory: " + ec.message(), dir.string(), 0, 0});
  std::sort(files.begin(), files.end());
  if (files.empty()) return Unexpected(Error{"no .wit files", dir.string(), 0, 0});
  Package merged;
  bool named = false;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    auto pkgs = parse(ss.str(), f.string());
    if (!pkgs) return Unexpected(pkgs.error());
    for (auto& p : *pkgs) {
      if (!p.ns.empty()) {
        if (named && p.id() != merged.id())
          return Unexpected(
              Error{"package " + p.id() + " differs from " + merged.id(), f.string(), 0, 0});
        merged.ns = p.ns;
        merged.name = p.name;
        merged.version = p.version;
        named = true;
      }
      for (auto& u : p.uses) merged.uses.push_back(std::move(u));
      for (auto& i : p.interfaces) merged.interfaces.push_back(std::move(i));
      for (auto& w : p.worlds) merged.worlds.push_back(std::move(w));
    }
  }
  return merged;
}

}  // namespace flotilla::wit
