// wasi:sockets: denied by default. Every function answers `access-denied` (the error-code of
// its result) unless the configuration allows that kind of socket; allowed sockets are not
// implemented yet and answer `not-supported`.
#include <algorithm>

#include "p2.h"

namespace flotilla::wasi::p2 {

namespace {

bool has_case(const fc::TypePtr& t, std::string_view name) {
  return t && t->kind == fc::TypeKind::Enum &&
         std::find(t->names.begin(), t->names.end(), name) != t->names.end();
}

}  // namespace

Result<void> add_sockets(fc::Linker& linker, const BindingPtr& b) {
  auto drop = [b](HostContext& hc, uint32_t rep) -> Result<void> {
    if (State* s = b->get(hc)) s->networks.erase(rep);
    return {};
  };
  struct Res {
    const char* iface;
    const char* name;
    fc::ResourceTypePtr Types::*slot;
  };
  const Res resources[] = {
      {"wasi:sockets/network@0.2.0", "network", &State::rt_network},
      {"wasi:sockets/tcp@0.2.0", "tcp-socket", &State::rt_tcp},
      {"wasi:sockets/udp@0.2.0", "udp-socket", &State::rt_udp},
      {"wasi:sockets/udp@0.2.0", "incoming-datagram-stream", &State::rt_incoming_dgram},
      {"wasi:sockets/udp@0.2.0", "outgoing-datagram-stream", &State::rt_outgoing_dgram},
      {"wasi:sockets/ip-name-lookup@0.2.0", "resolve-address-stream", &State::rt_resolve},
  };
  for (const auto& res : resources) {
    auto rt = linker.resource(res.iface, res.name, drop);
    if (!rt) return Unexpected(rt.error());
    (*b).*res.slot = *rt;
  }
  if (auto r = linker.func_new("wasi:sockets/instance-network@0.2.0", "instance-network",
                               [b](HostContext& hc, Params, Results out) -> Result<void> {
                                 State* s = b->get(hc);
                                 if (!s) return no_context();
                                 out[0] = own(s->rt_network, s->networks.add(0));
                                 return {};
                               });
      !r)
    return r;
  if (auto r = linker.func_new("wasi:sockets/network@0.2.0", "network-error-code",
                               [](HostContext&, Params, Results out) -> Result<void> {
                                 out[0] = Val::option(std::nullopt);
                                 return {};
                               });
      !r)
    return r;
  // Everything else: refuse through the function's own error type.
  auto deny = [b](HostContext& hc, Params, Results out) -> Result<void> {
    State* s = b->get(hc);
    if (!s) return no_context();
    const std::string& name = hc.name();
    bool allowed =
        (name.find("/tcp") != std::string::npos && s->c.config.allow_tcp) ||
        (name.find("/udp") != std::string::npos && s->c.config.allow_udp) ||
        (name.find("/ip-name-lookup") != std::string::npos && s->c.config.allow_ip_name_lookup);
    const fc::FuncType* ft = hc.type();
    if (ft && ft->results.size() == 1 && ft->results[0].second &&
        ft->results[0].second->kind == fc::TypeKind::Result &&
        has_case(ft->results[0].second->err, "access-denied")) {
      out[0] = Val::err(Val::enumeration(allowed ? "not-supported" : "access-denied"));
      return {};
    }
    return host_trap(name + ": network access is not available to this guest");
  };
  for (const char* iface :
       {"wasi:sockets/tcp@0.2.0", "wasi:sockets/tcp-create-socket@0.2.0", "wasi:sockets/udp@0.2.0",
        "wasi:sockets/udp-create-socket@0.2.0", "wasi:sockets/ip-name-lookup@0.2.0"}) {
    if (auto r = linker.func_new(iface, "*", deny); !r) return r;
  }
  return {};
}

}  // namespace flotilla::wasi::p2
