// Linker: name resolution of imports, and Wasm import type matching.
#include "internal.h"

namespace flotilla::engine {

namespace {
bool limits_match(const Limits& expected, const Limits& actual) {
  if (actual.min < expected.min) return false;
  if (expected.max) {
    if (!actual.max || *actual.max > *expected.max) return false;
  }
  return true;
}
}  // namespace

Result<void> check_import_type(const ExternType& expected, const ExternType& actual) {
  if (expected.kind != actual.kind) {
    return make_error(ErrorKind::Link, std::string("expected a ") +
                                           extern_kind_name(expected.kind) + ", got a " +
                                           extern_kind_name(actual.kind));
  }
  switch (expected.kind) {
    case ExternKind::Func:
      if (!(expected.func == actual.func)) {
        return make_error(ErrorKind::Link, "expected " + expected.func.to_string() + ", got " +
                                               actual.func.to_string());
      }
      break;
    case ExternKind::Table:
      if (expected.table.element != actual.table.element ||
          !limits_match(expected.table.limits, actual.table.limits)) {
        return make_error(ErrorKind::Link,
                          "expected " + expected.to_string() + ", got " + actual.to_string());
      }
      break;
    case ExternKind::Memory:
      if (!limits_match(expected.memory.limits, actual.memory.limits)) {
        return make_error(ErrorKind::Link,
                          "expected " + expected.to_string() + ", got " + actual.to_string());
      }
      break;
    case ExternKind::Global:
      if (expected.global.content != actual.global.content ||
          expected.global.mutable_ != actual.global.mutable_) {
        return make_error(ErrorKind::Link,
                          "expected " + expected.to_string() + ", got " + actual.to_string());
      }
      break;
    case ExternKind::Tag:  // tag types match exactly
      if (expected.tag.params != actual.tag.params) {
        return make_error(ErrorKind::Link,
                          "expected " + expected.to_string() + ", got " + actual.to_string());
      }
      break;
  }
  return {};
}

Result<void> Linker::define(std::string_view module, std::string_view name, Extern item) {
  auto key = std::make_pair(std::string(module), std::string(name));
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (!allow_shadowing_) {
      return make_error(ErrorKind::Link,
                        "import " + key.first + "::" + key.second + " defined twice");
    }
    it->second = item;
    return {};
  }
  entries_.emplace(std::move(key), item);
  return {};
}

Result<void> Linker::define_func(Store& store, std::string_view module, std::string_view name,
                                 FuncType type, HostFn fn) {
  return define(module, name, Func::host(store, std::move(type), std::move(fn)));
}

Result<void> Linker::define_instance(std::string_view name, const Instance& instance) {
  for (auto& [export_name, item] : instance.exports()) {
    auto r = define(name, export_name, item);
    if (!r) return r;
  }
  return {};
}

std::optional<Extern> Linker::get(std::string_view module, std::string_view name) const {
  auto it = entries_.find(std::make_pair(std::string(module), std::string(name)));
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

Result<Instance> Linker::instantiate(Store& store, const Module& module) const {
  std::vector<Extern> resolved;
  resolved.reserve(module.imports().size());
  for (const auto& imp : module.imports()) {
    auto item = get(imp.module, imp.name);
    if (!item) {
      return make_error(ErrorKind::Link, "unknown import: " + imp.module + "::" + imp.name +
                                             " has not been defined");
    }
    resolved.push_back(*item);
  }
  return Instance::create(store, module, resolved);
}

}  // namespace flotilla::engine
