// WAVE: the WebAssembly Value Encoding, the text form of component values used by
// `wasmtime run --invoke` and `flotilla run --invoke`.
//
// Printing needs no type (Vals carry their case and field names). Parsing is typed: the
// expected Type decides how `1` or `{a, b}` reads. Errors: Usage errors with the column.
#pragma once

#include <flotilla/component/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace flotilla::component::wave {

// `42`, `-7`, `2.5`, `nan`, `inf`, `'x'`, `"hi\n"`, `[1, 2]`, `(1, "a")`, `{x: 4, y: 6}`,
// `some(1)`, `none`, `ok(3)`, `err("e")`, `ok`, `red`, `circle(2.0)`, `{read, write}`.
// Resources print as `<resource NAME#REP>` (not parseable).
std::string print(const Val& v);

// Parses one value of type `t` (surrounding whitespace allowed).
Result<Val> parse(std::string_view text, const Type& t);

// A call `name(arg, arg, ...)`: splits the function name (which may contain `:`, `/`, `@`,
// `#`, `.`, `[`, `]`) from the argument text.
struct CallText {
  std::string name;
  std::string args;  // the text between the outer parentheses
};
Result<CallText> split_call(std::string_view text);

// Parses comma-separated arguments against the parameter types.
Result<std::vector<Val>> parse_args(std::string_view args, const FuncType& type);

}  // namespace flotilla::component::wave
