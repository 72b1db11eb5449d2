// wasi:http/types and wasi:http/outgoing-handler for guests in stores bound with wasi::bind,
// and Host::handle, which hands a guest one incoming request.
#include <flotilla/wasi/http.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "http_client.h"
#include "p2.h"

namespace flotilla::wasi::http {

namespace p2 = flotilla::wasi::p2;
namespace fc = flotilla::component;
using fc::HostContext;
using fc::Val;
using p2::own;
using p2::Params;
using p2::rep_of;
using p2::Results;
using p2::Table;

namespace {

constexpr const char* kTypes = "wasi:http/types@0.2.0";
constexpr const char* kOutgoing = "wasi:http/outgoing-handler@0.2.0";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool token_char(unsigned char c) {
  if (std::isalnum(c)) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return token_char(static_cast<unsigned char>(c)); });
}

bool valid_value(const std::string& v) {
  for (unsigned char c : v)
    if (c == '\r' || c == '\n' || c == 0) return false;
  return true;
}

std::string bytes_string(const Val& v) { return v.bytes_copy(); }

Val string_bytes(const std::string& s) {
  return p2::bytes_val(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

Val header_error(const char* which) { return Val::err(Val::variant(which, std::nullopt)); }

struct Fields {
  std::vector<Header> entries;
  bool immutable = false;
};

struct IncomingRequest {
  std::shared_ptr<Exchange> ex;
  bool consumed = false;
};

struct OutgoingRequest {
  std::string method = "GET";
  std::optional<std::string> scheme, authority, path;
  std::vector<Header> headers;
  std::shared_ptr<Pipe> body;
  bool body_taken = false;
};

struct RequestOptions {
  std::optional<uint64_t> connect, first_byte, between;
};

struct ResponseOutparam {
  std::shared_ptr<Exchange> ex;
};

struct IncomingResponse {
  uint16_t status = 0;
  std::vector<Header> headers;
  std::shared_ptr<Pipe> body;
  bool consumed = false;
};

struct IncomingBody {
  std::shared_ptr<Pipe> pipe;
  bool stream_taken = false;
};

// An outgoing body the guest drops without finish() breaks its stream (the receiver sees an
// incomplete body, never a silently truncated one).
struct OutgoingBody {
  std::shared_ptr<Pipe> pipe;
  bool stream_taken = false;
  bool finished = false;
  OutgoingBody() = default;
  OutgoingBody(OutgoingBody&& o) noexcept
      : pipe(std::move(o.pipe)), stream_taken(o.stream_taken), finished(o.finished) {}
  OutgoingBody& operator=(OutgoingBody&&) = delete;
  ~OutgoingBody() {
    if (pipe && !finished) pipe->close("the guest dropped the body without finishing it");
  }
};

struct OutgoingResponse {
  uint16_t status = 200;
  std::vector<Header> headers;
  std::shared_ptr<Pipe> body;
  bool body_taken = false;
};

// The trailers of an incoming body: ready once the body's pipe has ended (what the guest did
// not read of the body is skipped).
struct FutureTrailers {
  std::shared_ptr<Pipe> pipe;
  bool taken = false;
};

class TrailersSource final : public p2::PollSource {
 public:
  explicit TrailersSource(std::shared_ptr<Pipe> pipe) : pipe_(std::move(pipe)) {}
  bool ready() override {
    for (;;) {
      pipe_->take();
      auto d = pipe_->driver();
      if (pipe_->closed() || !d) break;
      d->ready();
      if (pipe_->size() == 0) break;
    }
    return pipe_->closed();
  }
  pollfd watch() override {
    if (auto d = pipe_->driver()) {
      pollfd w = d->watch();
      if (w.fd >= 0) return w;
    }
    return {pipe_->readable_fd(), POLLIN, 0};
  }
  pollfd watch_also() override {
    if (auto d = pipe_->driver(); d && d->watch().fd >= 0) return {pipe_->readable_fd(), POLLIN, 0};
    return {-1, 0, 0};
  }
  std::optional<uint64_t> deadline_ns() override {
    if (auto d = pipe_->driver()) return d->deadline_ns();
    return std::nullopt;
  }

 private:
  std::shared_ptr<Pipe> pipe_;
};

struct FutureResponse {
  std::shared_ptr<ClientCall> call;
  bool taken = false;
};

// One guest's wasi:http objects.
struct State {
  Table<Fields> fields;
  Table<IncomingRequest> incoming_requests;
  Table<OutgoingRequest> outgoing_requests;
  Table<RequestOptions> options;
  Table<ResponseOutparam> outparams;
  Table<IncomingResponse> incoming_responses;
  Table<IncomingBody> incoming_bodies;
  Table<FutureTrailers> future_trailers;
  Table<OutgoingResponse> outgoing_responses;
  Table<OutgoingBody> outgoing_bodies;
  Table<FutureResponse> futures;
};

struct Types {
  fc::ResourceTypePtr fields, incoming_request, outgoing_request, options, outparam,
      incoming_response, incoming_body, future_trailers, outgoing_response, outgoing_body,
      future_response;
};

Val method_val(const std::string& m) {
  static const char* known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (const char* k : known)
    if (m == k) return Val::variant(lower(k), std::nullopt);
  return Val::variant("other", Val::string(m));
}

// The method a guest gave, or nullopt if it is not a valid token.
std::optional<std::string> method_of(const Val& v) {
  if (v.str == "other") {
    const Val* p = v.payload();
    if (!p || !valid_name(p->str)) return std::nullopt;
    return p->str;
  }
  std::string up = v.str;
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return up;
}

Val scheme_val(const std::string& s) {
  if (s == "http") return Val::variant("HTTP", std::nullopt);
  if (s == "https") return Val::variant("HTTPS", std::nullopt);
  return Val::variant("other", Val::string(s));
}

std::string scheme_of(const Val& v) {
  if (v.str == "HTTP") return "http";
  if (v.str == "HTTPS") return "https";
  const Val* p = v.payload();
  return p ? p->str : "";
}

Val opt_string(const std::optional<std::string>& s) {
  return s ? Val::option(Val::string(*s)) : Val::option(std::nullopt);
}

std::optional<std::string> string_of(const Val& opt) {
  if (!opt.is_some() || !opt.payload()) return std::nullopt;
  return opt.payload()->str;
}

Val internal_error(const std::string& why) {
  return Val::variant("internal-error", Val::option(Val::string(why)));
}

}  // namespace

struct HostImpl {
  p2::BindingPtr wasi;
  Types t;
  Policy policy;

  State* state(engine::Store& store) const {
    StoreData* d = store_data(store);
    if (!d) return nullptr;
    if (!d->http) d->http = std::make_shared<State>();
    return static_cast<State*>(d->http.get());
  }

  Val new_fields(State& s, std::vector<Header> entries, bool immutable) const {
    return own(t.fields, s.fields.add(Fields{std::move(entries), immutable}));
  }
};

// Every resource type with a destructor that erases the guest's table entry.
#define HTTP_RESOURCE(slot, name, table)                                                       \
  if (auto r = linker.resource(kTypes, name,                                                   \
                               [weak](HostContext& hc, uint32_t rep) -> engine::Result<void> { \
                                 auto h = weak.lock();                                         \
                                 if (State* s = h ? h->state(hc.store()) : nullptr)            \
                                   s->table.erase(rep);                                        \
                                 return {};                                                    \
                               });                                                             \
      !r)                                                                                      \
    return Unexpected(r.error());                                                              \
  else                                                                                         \
    hp->t.slot = *r;

namespace {
using VoidResult = engine::Result<void>;
}

engine::Result<std::shared_ptr<Host>> Host::define(component::Linker& linker, Policy policy) {
  auto impl = std::make_unique<HostImpl>();
  auto wasi = p2::define_all(linker);
  if (!wasi) return Unexpected(wasi.error());
  impl->wasi = *wasi;
  impl->policy = std::move(policy);
  auto host = std::make_shared<Host>(std::move(impl));
  // The functions hold the implementation shared; Host itself only owns it too.
  std::shared_ptr<HostImpl> hp(host, host->impl_.get());
  // A shared_ptr aliasing the Host keeps it alive as long as the linker's functions.
  // Resource destructors hold it weakly: the Host owns the resource types, which own them.
  std::weak_ptr<HostImpl> weak = hp;
  HTTP_RESOURCE(fields, "fields", fields)
  HTTP_RESOURCE(incoming_request, "incoming-request", incoming_requests)
  HTTP_RESOURCE(outgoing_request, "outgoing-request", outgoing_requests)
  HTTP_RESOURCE(options, "request-options", options)
  HTTP_RESOURCE(outparam, "response-outparam", outparams)
  HTTP_RESOURCE(incoming_response, "incoming-response", incoming_responses)
  HTTP_RESOURCE(incoming_body, "incoming-body", incoming_bodies)
  HTTP_RESOURCE(future_trailers, "future-trailers", future_trailers)
  HTTP_RESOURCE(outgoing_response, "outgoing-response", outgoing_responses)
  HTTP_RESOURCE(outgoing_body, "outgoing-body", outgoing_bodies)
  HTTP_RESOURCE(future_response, "future-incoming-response", futures)

  VoidResult r;
#define DEF(iface, name, ...)                                                          \
  if (r = linker.func_new(iface, name,                                                 \
                          [hp](HostContext& hc, Params p, Results out) -> VoidResult { \
                            State* s = hp->state(hc.store());                          \
                            if (!s) return p2::no_context();                           \
                            (void)p;                                                   \
                            (void)out;                                                 \
                            __VA_ARGS__                                                \
                          });                                                          \
      !r)                                                                              \
    return Unexpected(r.error());
#define GET(var, table, v, what)       \
  auto* var = s->table.get(rep_of(v)); \
  if (!var) return p2::host_trap(std::string("wasi:http: unknown ") + what);

  DEF(kTypes, "http-error-code", {
    out[0] = Val::option(std::nullopt);
    return {};
  })

  // ---- fields
  DEF(kTypes, "[constructor]fields", {
    out[0] = hp->new_fields(*s, {}, false);
    return {};
  })
  DEF(kTypes, "[static]fields.from-list", {
    std::vector<Header> entries;
    for (const auto& e : p[0].items) {
      if (e.items.size() != 2) return p2::host_trap("wasi:http: bad field entry");
      std::string name = e.items[0].str;
      std::string value = bytes_string(e.items[1]);
      if (!valid_name(name) || !valid_value(value)) {
        out[0] = header_error("invalid-syntax");
        return {};
      }
      if (forbidden_header(lower(name))) {
        out[0] = header_error("forbidden");
        return {};
      }
      entries.push_back({std::move(name), std::move(value)});
    }
    out[0] = Val::ok(hp->new_fields(*s, std::move(entries), false));
    return {};
  })
  DEF(kTypes, "[method]fields.get", {
    GET(f, fields, p[0], "fields")
    std::string name = lower(p[1].str);
    std::vector<Val> values;
    for (const auto& h : f->entries)
      if (lower(h.name) == name) values.push_back(string_bytes(h.value));
    out[0] = Val::list(std::move(values));
    return {};
  })
  DEF(kTypes, "[method]fields.has", {
    GET(f, fields, p[0], "fields")
    std::string name = lower(p[1].str);
    bool has = std::any_of(f->entries.begin(), f->entries.end(),
                           [&](const Header& h) { return lower(h.name) == name; });
    out[0] = Val::boolean(has);
    return {};
  })
  // set, delete and append share their checks.
  auto edit = [hp](HostContext& hc, Params p, Results out, int op) -> VoidResult {
    State* s = hp->state(hc.store());
    if (!s) return p2::no_context();
    GET(f, fields, p[0], "fields")
    const std::string& name = p[1].str;
    if (f->immutable) {
      out[0] = header_error("immutable");
      return {};
    }
    if (!valid_name(name)) {
      out[0] = header_error("invalid-syntax");
      return {};
    }
    std::string key = lower(name);
    if (forbidden_header(key)) {
      out[0] = header_error("forbidden");
      return {};
    }
    std::vector<std::string> values;
    if (op == 0)
      for (const auto& v : p[2].items) values.push_back(bytes_string(v));
    if (op == 2) values.push_back(bytes_string(p[2]));
    for (const auto& v : values)
      if (!valid_value(v)) {
        out[0] = header_error("invalid-syntax");
        return {};
      }
    if (op != 2) std::erase_if(f->entries, [&](const Header& h) { return lower(h.name) == key; });
    for (auto& v : values) f->entries.push_back({name, std::move(v)});
    out[0] = Val::ok(std::nullopt);
    return {};
  };
  const std::pair<const char*, int> edits[] = {
      {"[method]fields.set", 0}, {"[method]fields.delete", 1}, {"[method]fields.append", 2}};
  for (const auto& [name, op] : edits) {
    int o = op;
    if (r = linker.func_new(
            kTypes, name,
            [edit, o](HostContext& hc, Params p, Results out) { return edit(hc, p, out, o); });
        !r)
      return Unexpected(r.error());
  }
  DEF(kTypes, "[method]fields.entries", {
    GET(f, fields, p[0], "fields")
    std::vector<Val> items;
    items.reserve(f->entries.size());
    for (const auto& h : f->entries)
      items.push_back(Val::tuple({Val::string(h.name), string_bytes(h.value)}));
    out[0] = Val::list(std::move(items));
    return {};
  })
  DEF(kTypes, "[method]fields.clone", {
    GET(f, fields, p[0], "fields")
    out[0] = hp->new_fields(*s, f->entries, false);
    return {};
  })

  // ---- incoming-request
  DEF(kTypes, "[method]incoming-request.method", {
    GET(q, incoming_requests, p[0], "incoming-request")
    out[0] = method_val(q->ex->request.method);
    return {};
  })
  DEF(kTypes, "[method]incoming-request.path-with-query", {
    GET(q, incoming_requests, p[0], "incoming-request")
    out[0] = Val::option(Val::string(q->ex->request.path_with_query));
    return {};
  })
  DEF(kTypes, "[method]incoming-request.scheme", {
    GET(q, incoming_requests, p[0], "incoming-request")
    out[0] = Val::option(scheme_val(q->ex->request.scheme));
    return {};
  })
  DEF(kTypes, "[method]incoming-request.authority", {
    GET(q, incoming_requests, p[0], "incoming-request")
    const std::string& a = q->ex->request.authority;
    out[0] = a.empty() ? Val::option(std::nullopt) : Val::option(Val::string(a));
    return {};
  })
  DEF(kTypes, "[method]incoming-request.headers", {
    GET(q, incoming_requests, p[0], "incoming-request")
    out[0] = hp->new_fields(*s, q->ex->request.headers, true);
    return {};
  })
  DEF(kTypes, "[method]incoming-request.consume", {
    GET(q, incoming_requests, p[0], "incoming-request")
    if (q->consumed) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    q->consumed = true;
    out[0] = Val::ok(
        own(hp->t.incoming_body, s->incoming_bodies.add(IncomingBody{q->ex->request.body, false})));
    return {};
  })

  // ---- incoming-body, future-trailers
  DEF(kTypes, "[method]incoming-body.stream", {
    GET(b, incoming_bodies, p[0], "incoming-body")
    p2::State* w = hp->wasi->get(hc);
    if (!w) return p2::no_context();
    if (b->stream_taken) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    b->stream_taken = true;
    p2::InputStream in;
    in.kind = p2::InputStream::Kind::Pipe;
    in.pipe = b->pipe;
    out[0] = Val::ok(own(w->rt_input, w->inputs.add(std::move(in))));
    return {};
  })
  DEF(kTypes, "[static]incoming-body.finish", {
    GET(b, incoming_bodies, p[0], "incoming-body")
    std::shared_ptr<Pipe> pipe = b->pipe;
    s->incoming_bodies.erase(rep_of(p[0]));
    out[0] = own(hp->t.future_trailers, s->future_trailers.add(FutureTrailers{pipe, false}));
    return {};
  })
  DEF(kTypes, "[method]future-trailers.subscribe", {
    GET(ft, future_trailers, p[0], "future-trailers")
    p2::State* w = hp->wasi->get(hc);
    if (!w) return p2::no_context();
    p2::Pollable pl;
    pl.kind = p2::Pollable::Kind::Source;
    pl.source = std::make_shared<TrailersSource>(ft->pipe);
    out[0] = own(w->rt_pollable, w->pollables.add(std::move(pl)));
    return {};
  })
  DEF(kTypes, "[method]future-trailers.get", {
    GET(ft, future_trailers, p[0], "future-trailers")
    if (ft->taken) {
      out[0] = Val::option(Val::err(std::nullopt));
      return {};
    }
    if (!TrailersSource(ft->pipe).ready()) {
      out[0] = Val::option(std::nullopt);
      return {};
    }
    ft->taken = true;
    if (ft->pipe->error()) {
      out[0] = Val::option(Val::ok(Val::err(internal_error(*ft->pipe->error()))));
      return {};
    }
    const auto& t = ft->pipe->trailers();
    if (!t) {
      out[0] = Val::option(Val::ok(Val::ok(Val::option(std::nullopt))));
      return {};
    }
    out[0] = Val::option(Val::ok(Val::ok(Val::option(hp->new_fields(*s, *t, true)))));
    return {};
  })

  // ---- outgoing-response
  DEF(kTypes, "[constructor]outgoing-response", {
    GET(f, fields, p[0], "fields")
    OutgoingResponse resp;
    resp.headers = std::move(f->entries);
    s->fields.erase(rep_of(p[0]));
    out[0] = own(hp->t.outgoing_response, s->outgoing_responses.add(std::move(resp)));
    return {};
  })
  DEF(kTypes, "[method]outgoing-response.status-code", {
    GET(o, outgoing_responses, p[0], "outgoing-response")
    out[0] = Val::u16(o->status);
    return {};
  })
  DEF(kTypes, "[method]outgoing-response.set-status-code", {
    GET(o, outgoing_responses, p[0], "outgoing-response")
    uint64_t code = p[1].bits;
    if (code < 100 || code > 999) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    o->status = static_cast<uint16_t>(code);
    out[0] = Val::ok(std::nullopt);
    return {};
  })
  DEF(kTypes, "[method]outgoing-response.headers", {
    GET(o, outgoing_responses, p[0], "outgoing-response")
    out[0] = hp->new_fields(*s, o->headers, true);
    return {};
  })
  DEF(kTypes, "[method]outgoing-response.body", {
    GET(o, outgoing_responses, p[0], "outgoing-response")
    if (o->body_taken) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    o->body_taken = true;
    o->body = std::make_shared<Pipe>();
    OutgoingBody body;
    body.pipe = o->body;
    out[0] = Val::ok(own(hp->t.outgoing_body, s->outgoing_bodies.add(std::move(body))));
    return {};
  })

  // ---- outgoing-body
  DEF(kTypes, "[method]outgoing-body.write", {
    GET(b, outgoing_bodies, p[0], "outgoing-body")
    p2::State* w = hp->wasi->get(hc);
    if (!w) return p2::no_context();
    if (b->stream_taken) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    b->stream_taken = true;
    p2::OutputStream os;
    os.kind = p2::OutputStream::Kind::Pipe;
    os.pipe = b->pipe;
    out[0] = Val::ok(own(w->rt_output, w->outputs.add(std::move(os))));
    return {};
  })
  DEF(kTypes, "[static]outgoing-body.finish", {
    GET(b, outgoing_bodies, p[0], "outgoing-body")
    if (p[1].is_some() && p[1].payload()) {
      // The trailers (fields checked their names and values when they were set).
      const Val& fv = *p[1].payload();
      GET(f, fields, fv, "fields")
      if (!f->entries.empty()) b->pipe->set_trailers(std::move(f->entries));
      s->fields.erase(rep_of(fv));
    }
    b->finished = true;
    std::shared_ptr<Pipe> pipe = b->pipe;
    pipe->close();
    s->outgoing_bodies.erase(rep_of(p[0]));
    if (auto d = pipe->driver()) d->ready();  // an outgoing request: its end goes out now
    out[0] = Val::ok(std::nullopt);
    return {};
  })

  // ---- response-outparam
  DEF(kTypes, "[static]response-outparam.set", {
    GET(o, outparams, p[0], "response-outparam")
    std::shared_ptr<Exchange> ex = o->ex;
    s->outparams.erase(rep_of(p[0]));
    const Val& res = p[1];
    if (ex->response || ex->error) return p2::host_trap("wasi:http: response set twice");
    if (res.is_ok()) {
      GET(resp, outgoing_responses, *res.payload(), "outgoing-response")
      Response out_resp;
      out_resp.status = resp->status;
      for (auto& h : resp->headers)
        if (!forbidden_header(lower(h.name))) out_resp.headers.push_back(std::move(h));
      if (resp->body) {
        out_resp.body = resp->body;
      } else {  // the guest never asked for the body: an empty one
        out_resp.body = std::make_shared<Pipe>();
        out_resp.body->close();
      }
      s->outgoing_responses.erase(rep_of(*res.payload()));
      ex->response = std::move(out_resp);
    } else {
      const Val* e = res.payload();
      std::string why = e ? e->str : "error";
      if (e && e->payload() && e->payload()->is_some() && e->payload()->payload() &&
          e->payload()->payload()->kind == fc::TypeKind::String)
        why += ": " + e->payload()->payload()->str;
      ex->error = why;
    }
    if (ex->on_response) ex->on_response();
    return {};
  })
  DEF(kTypes, "[method]response-outparam.send-informational", {
    out[0] = Val::err(internal_error("informational responses are not supported"));
    return {};
  })

  // ---- outgoing-request
  DEF(kTypes, "[constructor]outgoing-request", {
    GET(f, fields, p[0], "fields")
    OutgoingRequest q;
    q.headers = std::move(f->entries);
    s->fields.erase(rep_of(p[0]));
    out[0] = own(hp->t.outgoing_request, s->outgoing_requests.add(std::move(q)));
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.body", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    if (q->body_taken) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    q->body_taken = true;
    // What the guest writes before outgoing-handler.handle waits here (room for a large
    // body); from handle on, the body streams through a bounded pipe.
    q->body = std::make_shared<Pipe>(hp->policy.max_response_body);
    OutgoingBody body;
    body.pipe = q->body;
    out[0] = Val::ok(own(hp->t.outgoing_body, s->outgoing_bodies.add(std::move(body))));
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.method", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    out[0] = method_val(q->method);
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.set-method", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    auto m = method_of(p[1]);
    if (!m) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    q->method = *m;
    out[0] = Val::ok(std::nullopt);
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.path-with-query", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    out[0] = opt_string(q->path);
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.set-path-with-query", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    auto v = string_of(p[1]);
    if (v && !valid_value(*v)) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    q->path = v;
    out[0] = Val::ok(std::nullopt);
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.scheme", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    out[0] = q->scheme ? Val::option(scheme_val(*q->scheme)) : Val::option(std::nullopt);
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.set-scheme", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    if (p[1].is_some() && p[1].payload())
      q->scheme = scheme_of(*p[1].payload());
    else
      q->scheme.reset();
    out[0] = Val::ok(std::nullopt);
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.authority", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    out[0] = opt_string(q->authority);
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.set-authority", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    auto v = string_of(p[1]);
    if (v && (!valid_value(*v) || v->find_first_of("/ ") != std::string::npos)) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    q->authority = v;
    out[0] = Val::ok(std::nullopt);
    return {};
  })
  DEF(kTypes, "[method]outgoing-request.headers", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    out[0] = hp->new_fields(*s, q->headers, true);
    return {};
  })

  // ---- request-options (timeouts are kept, and the client applies connect-timeout and
  // first-byte-timeout)
  DEF(kTypes, "[constructor]request-options", {
    out[0] = own(hp->t.options, s->options.add(RequestOptions{}));
    return {};
  })
  struct Opt {
    const char* get;
    const char* set;
    std::optional<uint64_t> RequestOptions::*field;
  };
  const Opt opts[] = {
      {"[method]request-options.connect-timeout", "[method]request-options.set-connect-timeout",
       &RequestOptions::connect},
      {"[method]request-options.first-byte-timeout",
       "[method]request-options.set-first-byte-timeout", &RequestOptions::first_byte},
      {"[method]request-options.between-bytes-timeout",
       "[method]request-options.set-between-bytes-timeout", &RequestOptions::between},
  };
  for (const auto& o : opts) {
    auto field = o.field;
    if (r = linker.func_new(kTypes, o.get,
                            [hp, field](HostContext& hc, Params p, Results out) -> VoidResult {
                              State* s = hp->state(hc.store());
                              if (!s) return p2::no_context();
                              GET(ro, options, p[0], "request-options")
                              const auto& v = (*ro).*field;
                              out[0] = v ? Val::option(Val::u64(*v)) : Val::option(std::nullopt);
                              return {};
                            });
        !r)
      return Unexpected(r.error());
    if (r = linker.func_new(kTypes, o.set,
                            [hp, field](HostContext& hc, Params p, Results out) -> VoidResult {
                              State* s = hp->state(hc.store());
                              if (!s) return p2::no_context();
                              GET(ro, options, p[0], "request-options")
                              if (p[1].is_some() && p[1].payload())
                                (*ro).*field = p[1].payload()->bits;
                              else
                                ((*ro).*field).reset();
                              out[0] = Val::ok(std::nullopt);
                              return {};
                            });
        !r)
      return Unexpected(r.error());
  }

  // ---- outgoing-handler
  DEF(kOutgoing, "handle", {
    GET(q, outgoing_requests, p[0], "outgoing-request")
    OutgoingRequest req = std::move(*q);
    s->outgoing_requests.erase(rep_of(p[0]));
    ClientRequest cr;
    cr.method = req.method;
    cr.scheme = req.scheme.value_or("http");
    cr.authority = req.authority.value_or("");
    cr.path = req.path.value_or("/");
    cr.headers = std::move(req.headers);
    cr.body = req.body;
    if (p[1].is_some() && p[1].payload()) {
      if (RequestOptions* ro = s->options.get(rep_of(*p[1].payload()))) {
        cr.connect_timeout_ns = ro->connect;
        cr.first_byte_timeout_ns = ro->first_byte;
        cr.between_bytes_timeout_ns = ro->between;
      }
      s->options.erase(rep_of(*p[1].payload()));
    }
    if (cr.scheme != "http" && cr.scheme != "https") {
      out[0] = Val::err(Val::variant("HTTP-protocol-error", std::nullopt));
      return {};
    }
    auto dest = split_authority(cr.authority, cr.scheme == "https" ? 443 : 80);
    if (!dest) {
      out[0] = Val::err(Val::variant("HTTP-request-URI-invalid", std::nullopt));
      return {};
    }
    if (!allowed(hp->policy, dest->first, dest->second)) {
      out[0] = Val::err(Val::variant("HTTP-request-denied", std::nullopt));
      return {};
    }
    cr.host = dest->first;
    cr.port = dest->second;
    auto call = std::make_shared<ClientCall>(std::move(cr), hp->policy.stream_buffer);
    // The call moves on whenever this guest waits, whatever it waits for.
    if (p2::State* w = hp->wasi->get(hc)) w->background.push_back(call->driver());
    out[0] = Val::ok(own(hp->t.future_response, s->futures.add(FutureResponse{call, false})));
    return {};
  })
  DEF(kTypes, "[method]future-incoming-response.subscribe", {
    GET(f, futures, p[0], "future-incoming-response")
    p2::State* w = hp->wasi->get(hc);
    if (!w) return p2::no_context();
    p2::Pollable pl;
    pl.kind = p2::Pollable::Kind::Source;
    pl.source = f->call;
    out[0] = own(w->rt_pollable, w->pollables.add(std::move(pl)));
    return {};
  })
  DEF(kTypes, "[method]future-incoming-response.get", {
    GET(f, futures, p[0], "future-incoming-response")
    if (f->taken) {
      out[0] = Val::option(Val::err(std::nullopt));
      return {};
    }
    if (!f->call->ready()) {
      out[0] = Val::option(std::nullopt);
      return {};
    }
    f->taken = true;
    ClientResult& cres = f->call->result();
    if (cres.error) {
      out[0] = Val::option(Val::ok(Val::err(error_code_val(*cres.error))));
      return {};
    }
    IncomingResponse ir;
    ir.status = cres.status;
    ir.headers = std::move(cres.headers);
    // The body streams: reading it moves the connection on (and keeps it alive).
    ir.body = std::move(cres.body);
    ir.body->set_driver(f->call->driver());
    out[0] = Val::option(
        Val::ok(Val::ok(own(hp->t.incoming_response, s->incoming_responses.add(std::move(ir))))));
    return {};
  })

  // ---- incoming-response
  DEF(kTypes, "[method]incoming-response.status", {
    GET(ir, incoming_responses, p[0], "incoming-response")
    out[0] = Val::u16(ir->status);
    return {};
  })
  DEF(kTypes, "[method]incoming-response.headers", {
    GET(ir, incoming_responses, p[0], "incoming-response")
    out[0] = hp->new_fields(*s, ir->headers, true);
    return {};
  })
  DEF(kTypes, "[method]incoming-response.consume", {
    GET(ir, incoming_responses, p[0], "incoming-response")
    if (ir->consumed) {
      out[0] = Val::err(std::nullopt);
      return {};
    }
    ir->consumed = true;
    out[0] =
        Val::ok(own(hp->t.incoming_body, s->incoming_bodies.add(IncomingBody{ir->body, false})));
    return {};
  })
#undef DEF
#undef GET
  return host;
}

#undef HTTP_RESOURCE

Host::Host(std::unique_ptr<HostImpl> impl) : impl_(std::move(impl)) {}
Host::~Host() = default;

engine::Result<void> Host::handle(engine::Store& store, const component::Func& handler,
                                  const std::shared_ptr<Exchange>& exchange) const {
  State* s = impl_->state(store);
  if (!s) return p2::no_context();
  Val req = own(impl_->t.incoming_request, s->incoming_requests.add(IncomingRequest{exchange}));
  Val out = own(impl_->t.outparam, s->outparams.add(ResponseOutparam{exchange}));
  std::vector<Val> args;
  args.push_back(std::move(req));
  args.push_back(std::move(out));
  auto r = handler.call(store, args);
  if (!r) return Unexpected(r.error());
  return {};
}

void Host::abort(engine::Store& store, const std::string& why) const {
  StoreData* d = store_data(store);
  if (!d) return;
  if (d->http) {
    auto* s = static_cast<State*>(d->http.get());
    for (auto& [rep, b] : s->incoming_bodies.items)
      if (b.pipe) b.pipe->close(why);
    for (auto& [rep, b] : s->outgoing_bodies.items)
      if (b.pipe) b.pipe->drop_reader();
    for (auto& [rep, r] : s->outgoing_responses.items)
      if (r.body) r.body->drop_reader();
  }
  if (p2::State* w = impl_->wasi->get(store)) {
    for (auto& [rep, in] : w->inputs.items)
      if (in.kind == p2::InputStream::Kind::Pipe && in.pipe) in.pipe->close(why);
    for (auto& [rep, out] : w->outputs.items)
      if (out.kind == p2::OutputStream::Kind::Pipe && out.pipe) out.pipe->drop_reader();
  }
}

bool allowed(const Policy& policy, const std::string& host, uint16_t port) {
  std::string h = lower(host);
  for (const auto& a : policy.allow) {
    std::string rule = lower(a);
    auto dest = split_authority(rule, 0);
    if (!dest) continue;
    if (dest->first == h && (dest->second == 0 || dest->second == port)) return true;
  }
  return false;
}

bool forbidden_header(std::string_view n) {
  static const char* forbidden[] = {"connection",
                                    "keep-alive",
                                    "proxy-authenticate",
                                    "proxy-authorization",
                                    "proxy-connection",
                                    "transfer-encoding",
                                    "upgrade",
                                    "host",
                                    "http2-settings",
                                    "te"};
  return std::any_of(std::begin(forbidden), std::end(forbidden),
                     [&](const char* f) { return n == f; });
}

const char* reason_phrase(unsigned status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 418:
      return "I'm a teapot";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

}  // namespace flotilla::wasi::http
