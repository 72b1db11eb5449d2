// Internal: the lexical rules of component names (Explainer.md, "Import and Export
// Definitions"): kebab-case labels, plain names with [constructor]/[method]/[static]
// annotations, interface names with a semver version.
#pragma once

#include <string>
#include <string_view>

namespace flotilla::component::names {

bool is_label(std::string_view s);
bool is_semver(std::string_view s);
// plainname or interfacename; `why` gets a reason when false.
bool is_extern_name(std::string_view s, std::string* why = nullptr);
// For strong uniqueness: names differing only in case (or only in annotation) are equal.
std::string unique_key(std::string_view s);

struct Annotated {
  enum class Kind { None, Constructor, Method, Static } kind = Kind::None;
  std::string resource;  // R of [constructor]R / [method]R.f / [static]R.f
  std::string name;      // f (or R for constructors, the whole name otherwise)
};
Annotated parse_annotation(std::string_view s);

}  // namespace flotilla::component::names
