// Component name syntax checks (see names.h).
#include "names.h"

#include <cctype>

namespace flotilla::component::names {

namespace {

bool lower(char c) { return c >= 'a' && c <= 'z'; }
bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

// words ::= first-word ('-' word)*, first-word ::= [a-z][0-9a-z]*
bool is_words(std::string_view s) {
  if (s.empty() || !lower(s[0])) return false;
  bool dash = false;
  for (char c : s) {
    if (c == '-') {
      if (dash) return false;
      dash = true;
    } else if (lower(c) || digit(c)) {
      dash = false;
    } else {
      return false;
    }
  }
  return !dash;
}

bool numeric_id(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!digit(c)) return false;
  }
  return s.size() == 1 || s[0] != '0';
}

bool dotted_ids(std::string_view s, bool numeric_no_leading_zero) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view id = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (id.empty()) return false;
    bool all_digits = true;
    for (char c : id) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) return false;
      all_digits = all_digits && digit(c);
    }
    if (numeric_no_leading_zero && all_digits && id.size() > 1 && id[0] == '0') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

bool is_label(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  bool first = true;
  while (true) {
    size_t dash = s.find('-', start);
    std::string_view frag = s.substr(start, dash == std::string_view::npos ? s.npos : dash - start);
    if (frag.empty()) return false;
    bool is_word = true, is_acronym = true;
    for (char c : frag) {
      is_word = is_word && (lower(c) || digit(c));
      is_acronym = is_acronym && (upper(c) || digit(c));
    }
    if (first && !(lower(frag[0]) || upper(frag[0]))) return false;
    if (!is_word && !is_acronym) return false;
    first = false;
    if (dash == std::string_view::npos) return true;
    start = dash + 1;
  }
}

bool is_semver(std::string_view s) {
  size_t plus = s.find('+');
  std::string_view core_pre = s.substr(0, plus);
  if (plus != std::string_view::npos && !dotted_ids(s.substr(plus + 1), false)) return false;
  size_t dash = core_pre.find('-');
  std::string_view core = core_pre.substr(0, dash);
  if (dash != std::string_view::npos && !dotted_ids(core_pre.substr(dash + 1), true)) return false;
  size_t d1 = core.find('.');
  if (d1 == std::string_view::npos) return false;
  size_t d2 = core.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  return numeric_id(core.substr(0, d1)) && numeric_id(core.substr(d1 + 1, d2 - d1 - 1)) &&
         numeric_id(core.substr(d2 + 1));
}

Annotated parse_annotation(std::string_view s) {
  Annotated a;
  auto take = [&](std::string_view prefix, Annotated::Kind k) {
    if (s.substr(0, prefix.size()) != prefix) return false;
    a.kind = k;
    std::string_view rest = s.substr(prefix.size());
    if (k == Annotated::Kind::Constructor) {
      a.resource = std::string(rest);
      a.name = std::string(rest);
    } else {
      size_t dot = rest.find('.');
      a.resource = std::string(rest.substr(0, dot));
      a.name = dot == std::string_view::npos ? std::string() : std::string(rest.substr(dot + 1));
    }
    return true;
  };
  if (!take("[constructor]", Annotated::Kind::Constructor) &&
      !take("[method]", Annotated::Kind::Method) && !take("[static]", Annotated::Kind::Static)) {
    a.name = std::string(s);
  }
  return a;
}

bool is_extern_name(std::string_view s, std::string* why) {
  auto no = [&](const char* w) {
    if (why) *why = w;
    return false;
  };
  if (s.empty()) return no("name cannot be empty");
  if (s[0] == '[') {
    Annotated a = parse_annotation(s);
    if (a.kind == Annotated::Kind::None) return no("unknown name annotation");
    if (!is_label(a.resource)) return no("annotated name is not a kebab-case label");
    if (a.kind != Annotated::Kind::Constructor) {
      if (s.find('.') == std::string_view::npos) return no("expected `.` in annotated name");
      if (!is_label(a.name)) return no("annotated name is not a kebab-case label");
    }
    return true;
  }
  if (s.find(':') == std::string_view::npos) {
    if (!is_label(s)) return no("name is not in kebab case");
    return true;
  }
  // interface name: (words ':')+ words ('/' label)+ ('@' version)?
  std::string_view body = s;
  size_t at = s.find('@');
  if (at != std::string_view::npos) {
    if (!is_semver(s.substr(at + 1))) return no("invalid version in interface name");
    body = s.substr(0, at);
  }
  size_t slash = body.find('/');
  if (slash == std::string_view::npos) return no("interface name needs a `/` projection");
  std::string_view pkg = body.substr(0, slash);
  size_t colon = pkg.rfind(':');
  if (colon == std::string_view::npos) return no("interface name needs a `ns:` namespace");
  // One namespace and one projection: nested namespaces and packages are not part of the
  // format yet (Explainer.md, gated).
  if (pkg.find(':') != colon) return no("expected `/` after package name");
  if (!is_words(pkg.substr(0, colon))) return no("invalid namespace in interface name");
  if (!is_words(pkg.substr(colon + 1))) return no("invalid package name in interface name");
  std::string_view proj = body.substr(slash + 1);
  if (proj.find('/') != std::string_view::npos) return no("trailing characters after interface");
  if (!is_label(proj)) return no("invalid interface name after `/`");
  return true;
}

std::string unique_key(std::string_view s) {
  std::string n(s);
  for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Annotated a = parse_annotation(n);
  switch (a.kind) {
    case Annotated::Kind::Constructor:
      return n;  // keeps its prefix
    case Annotated::Kind::Method:
    case Annotated::Kind::Static:
      return a.resource == a.name ? a.name : a.resource + "." + a.name;
    default:
      return n;
  }
}

}  // namespace flotilla::component::names
