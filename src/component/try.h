// Early-return helpers for the component layer's Result<T> (Expected<T, engine::Error>)
// functions: TRY(var, expr) binds the value or returns the error; CHECK(expr) returns the error
// of a Result<void>. Macros because the return must leave the calling function.
#pragma once

#define TRY(var, expr)                              \
  auto var##_r = (expr);                            \
  if (!var##_r) return Unexpected(var##_r.error()); \
  auto var = std::move(*var##_r)
#define CHECK(expr)                                     \
  do {                                                  \
    auto check_r_ = (expr);                             \
    if (!check_r_) return Unexpected(check_r_.error()); \
  } while (0)
