// WIT (WebAssembly Interface Types) text: syntax tree, parser, printer and package resolution.
//
// Errors are Expected<T, wit::Error> values with the file, line and column; nothing throws.
#pragma once

#include <flotilla/expected.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace flotilla::wit {

struct Error {
  std::string message;
  std::string file;
  int line = 0;
  int column = 0;
  std::string to_string() const;
};

template <typename T>
using Result = Expected<T, Error>;

// Feature gates (`@since(version = 0.2.0)`, `@unstable(feature = x)`, `@deprecated(...)`),
// kept as written.
using Gates = std::vector<std::string>;

struct Type {
  enum class Kind {
    Bool,
    U8,
    U16,
    U32,
    U64,
    S8,
    S16,
    S32,
    S64,
    F32,
    F64,
    Char,
    String,
    List,
    Option,
    Result,
    Tuple,
    Own,
    Borrow,
    Named,
    Future,
    Stream,
    ErrorContext
  };
  Kind kind = Kind::Bool;
  std::vector<Type> args;          // list/option/future/stream: 0..1; result: ok/err; tuple: n
  bool result_ok = false;          // result<T, ...> has an ok type
  bool result_err = false;         // result<..., E> has an error type
  std::string name;                // named type, own<name>, borrow<name>
  std::optional<uint32_t> length;  // list<T, N>
};

struct Param {
  std::string name;
  Type type;
};

struct Function {
  enum class Kind { Freestanding, Method, Static, Constructor };
  Kind kind = Kind::Freestanding;
  std::string name;
  bool async = false;
  std::vector<Param> params;
  std::optional<Type> result;
  Gates gates;
};

struct TypeDef {
  enum class Kind { Record, Variant, Enum, Flags, Resource, Alias };
  Kind kind = Kind::Alias;
  std::string name;
  std::vector<Param> fields;                                       // record
  std::vector<std::pair<std::string, std::optional<Type>>> cases;  // variant
  std::vector<std::string> names;                                  // enum, flags
  std::vector<Function> methods;                                   // resource
  bool resource_body = false;                                      // `resource r { ... }`
  Type alias;                                                      // type x = T
  Gates gates;
};

// `ns:pkg/name@version` or, inside a package, just `name`.
struct UsePath {
  std::string ns, package, name;
  std::optional<std::string> version;
  bool is_local() const { return ns.empty(); }
  std::string to_string() const;
};

struct Use {
  UsePath from;
  std::vector<std::pair<std::string, std::string>> names;  // (name, alias or "")
  Gates gates;
};

using InterfaceItem = std::variant<Use, TypeDef, Function>;

struct Interface {
  std::string name;  // empty for an inline interface in a world
  std::vector<InterfaceItem> items;
  Gates gates;
};

struct WorldItem {
  enum class Kind { Import, Export, Use, Type, Include };
  Kind kind = Kind::Import;
  std::string name;                    // import/export `name: ...`
  std::optional<UsePath> path;         // import/export of an interface, include
  std::optional<Function> func;        // import/export name: func(...)
  std::optional<Interface> interface;  // import/export name: interface { ... }
  std::optional<Use> use;
  std::optional<TypeDef> type;
  std::vector<std::pair<std::string, std::string>> include_with;  // include p with { a as b }
  Gates gates;
};

struct World {
  std::string name;
  std::vector<WorldItem> items;
  Gates gates;
};

struct Package {
  std::string ns, name;
  std::optional<std::string> version;
  std::vector<Use> uses;  // top-level `use a:b/c as d;`
  std::vector<Interface> interfaces;
  std::vector<World> worlds;
  std::string id() const;  // ns:name@version
  const Interface* find_interface(std::string_view n) const;
  const World* find_world(std::string_view n) const;
};

// Parses one WIT file: one package, or several nested `package x:y { ... }` blocks.
Result<std::vector<Package>> parse(std::string_view text, std::string_view file = "<input>");

// Parses every .wit file of a directory into one package (they must agree on the package name).
Result<Package> parse_dir(const std::filesystem::path& dir);

// A set of packages, e.g. a directory and its deps/ folder.
struct Resolve {
  std::vector<Package> packages;
  // Finds a package by namespace and name; with a version, semver-compatible matching
  // (same major, or same minor when the major is 0) picks the highest compatible one.
  const Package* find(std::string_view ns, std::string_view name,
                      const std::optional<std::string>& version) const;
  // Checks that every use, import, export and include names something that exists.
  Result<void> check() const;
};

// Loads `path` (a .wit file or a directory) plus every package under its `deps/` folder.
Result<Resolve> load(const std::filesystem::path& path);

std::string print(const Type& t);
std::string print(const Package& p);

}  // namespace flotilla::wit
