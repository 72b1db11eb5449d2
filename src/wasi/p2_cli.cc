// wasi:cli: environment, exit, stdin/stdout/stderr and the terminal interfaces.
#include <unistd.h>

#include "p2.h"

namespace flotilla::wasi::p2 {

Result<void> add_cli(fc::Linker& linker, const BindingPtr& b) {
  // Destructors hold the binding weakly: it owns the resource types, which own them.
  std::weak_ptr<Binding> weak = b;
  auto drop_terminal = [weak](HostContext& hc, uint32_t rep) -> Result<void> {
    auto bl = weak.lock();
    if (State* s = bl ? bl->get(hc) : nullptr) s->terminals.erase(rep);
    return {};
  };
  auto ti = linker.resource("wasi:cli/terminal-input@0.2.0", "terminal-input", drop_terminal);
  if (!ti) return Unexpected(ti.error());
  auto to = linker.resource("wasi:cli/terminal-output@0.2.0", "terminal-output", drop_terminal);
  if (!to) return Unexpected(to.error());
  b->rt_term_in = *ti;
  b->rt_term_out = *to;

  Result<void> r;
#define DEF(iface, name, ...)                                                           \
  if (r = linker.func_new(iface, name,                                                  \
                          [b](HostContext& hc, Params p, Results out) -> Result<void> { \
                            State* s = b->get(hc);                                      \
                            if (!s) return no_context();                                \
                            __VA_ARGS__                                                 \
                          });                                                           \
      !r)                                                                               \
    return r;

  DEF("wasi:cli/environment@0.2.0", "get-environment", {
    (void)p;
    std::vector<Val> items;
    for (const auto& [k, v] : s->c.config.env)
      items.push_back(Val::tuple({Val::string(k), Val::string(v)}));
    out[0] = Val::list(std::move(items));
    return {};
  })
  DEF("wasi:cli/environment@0.2.0", "get-arguments", {
    (void)p;
    std::vector<Val> items;
    for (const auto& a : s->c.config.args) items.push_back(Val::string(a));
    out[0] = Val::list(std::move(items));
    return {};
  })
  DEF("wasi:cli/environment@0.2.0", "initial-cwd", {
    (void)p;
    out[0] = Val::option(std::nullopt);
    return {};
  })
  DEF("wasi:cli/exit@0.2.0", "exit", {
    (void)out;
    return Unexpected(s->c.exit(p[0].is_ok() ? 0 : 1));
  })
  DEF("wasi:cli/exit@0.2.0", "exit-with-code", {
    (void)out;
    return Unexpected(s->c.exit(static_cast<int>(p[0].bits & 0xff)));
  })
  DEF("wasi:cli/stdin@0.2.0", "get-stdin", {
    (void)p;
    InputStream in;
    if (s->c.stdin_fd) {
      in.kind = InputStream::Kind::Fd;
      in.fd = s->c.stdin_fd.get();
    }
    out[0] = own(s->rt_input, s->inputs.add(std::move(in)));
    return {};
  })
  auto output = [](State& st, const sys::Fd& fd) {
    OutputStream o;
    if (fd) {
      o.kind = OutputStream::Kind::Fd;
      o.fd = fd.get();
    }
    return own(st.rt_output, st.outputs.add(std::move(o)));
  };
  if (r = linker.func_new("wasi:cli/stdout@0.2.0", "get-stdout",
                          [b, output](HostContext& hc, Params, Results out) -> Result<void> {
                            State* s = b->get(hc);
                            if (!s) return no_context();
                            out[0] = output(*s, s->c.stdout_fd);
                            return {};
                          });
      !r)
    return r;
  if (r = linker.func_new("wasi:cli/stderr@0.2.0", "get-stderr",
                          [b, output](HostContext& hc, Params, Results out) -> Result<void> {
                            State* s = b->get(hc);
                            if (!s) return no_context();
                            out[0] = output(*s, s->c.stderr_fd);
                            return {};
                          });
      !r)
    return r;
  auto terminal = [](State& st, const sys::Fd& fd, const fc::ResourceTypePtr& rt) {
    if (!fd || !::isatty(fd.get())) return Val::option(std::nullopt);
    return Val::option(own(rt, st.terminals.add(fd.get())));
  };
  if (r = linker.func_new("wasi:cli/terminal-stdin@0.2.0", "get-terminal-stdin",
                          [b, terminal](HostContext& hc, Params, Results out) -> Result<void> {
                            State* s = b->get(hc);
                            if (!s) return no_context();
                            out[0] = terminal(*s, s->c.stdin_fd, s->rt_term_in);
                            return {};
                          });
      !r)
    return r;
  if (r = linker.func_new("wasi:cli/terminal-stdout@0.2.0", "get-terminal-stdout",
                          [b, terminal](HostContext& hc, Params, Results out) -> Result<void> {
                            State* s = b->get(hc);
                            if (!s) return no_context();
                            out[0] = terminal(*s, s->c.stdout_fd, s->rt_term_out);
                            return {};
                          });
      !r)
    return r;
  if (r = linker.func_new("wasi:cli/terminal-stderr@0.2.0", "get-terminal-stderr",
                          [b, terminal](HostContext& hc, Params, Results out) -> Result<void> {
                            State* s = b->get(hc);
                            if (!s) return no_context();
                            out[0] = terminal(*s, s->c.stderr_fd, s->rt_term_out);
                            return {};
                          });
      !r)
    return r;
#undef DEF
  return {};
}

}  // namespace flotilla::wasi::p2
