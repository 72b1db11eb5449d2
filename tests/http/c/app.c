// The routing test component in C (wasi:http@0.2.0, hand-written canonical ABI, wasi_http.h):
//   GET  /             200 "hello"
//   POST /echo         200, the request body streamed back: blocking-read up to 64 KiB, then
//                      blocking-write-and-flush in pieces of at most 4096 bytes
//   *    /headers      200 "headers", every request header echoed back as x-echo-<name>
//   *    /status/NNN   status NNN, empty body
//   *    /trap         __builtin_trap() (a wasm `unreachable` trap)
//   *    /spin         endless loop on a volatile counter
//   *    /sleep        blocks 60 s in wasi:io/poll (a monotonic-clock pollable), then 200 "slept"
//   *    /state        200 "count=N heap=fresh|reused": N counts the requests this instance
//                      has seen (a global) and the heap note says whether a buffer this
//                      instance allocated earlier is still there; a fresh instance per request
//                      always answers "count=1 heap=fresh"
//   POST /trailers     200, the request body echoed, then the request's trailers (incoming-body
//                      .finish -> future-trailers) as the response's trailers
//   GET  /proxy?port=P&path=X[&scheme=https][&host=H]
//                      GET http://127.0.0.1:P X (outgoing-handler; scheme and host as given):
//                      the upstream status and
//                      body streamed back as it arrives (blocking-read, write), then the
//                      upstream's trailers as the response's; 502 "upstream error N" (N the
//                      error-code tag) if the call fails
//   GET  /upload?port=P&size=N[&drop=1][&scheme=https][&host=H]
//                      POST http://127.0.0.1:P/upload (scheme and host as given), chunked: 64 KiB
//                      written, then 1.5 s asleep, then the rest of N bytes ('x'), finished with
//                      the trailer `x-upload-trailer: done`; the upstream's answer streamed back
//                      like /proxy. drop=1: the body is dropped after the first 64 KiB, unfinished
//   anything else      404 "not found"
// (No /fetch: that is app.js's.)
#include <stdlib.h>
#include <string.h>

#include "wasi_http.h"

__attribute__((export_name("cabi_realloc"))) void* cabi_realloc(void* old, size_t old_size,
                                                                size_t align, size_t new_size) {
  (void)old_size;
  (void)align;  // malloc's 16-byte alignment covers every canonical-ABI alignment
  if (new_size == 0) return (void*)align;  // placeholder, never freed
  void* p = realloc(old, new_size);
  if (!p) __builtin_trap();
  return p;
}

static void free_list(void* p, size_t len) {
  if (len) free(p);
}

static handle_t plain_headers(void) {
  ret_area r;
  handle_t h = fields_new();
  fields_append(h, "content-type", 12, (const uint8_t*)"text/plain", 10, r.bytes);
  return h;
}

// Sets the response on the outparam and returns its body's output stream (body in *body).
static handle_t start_response(handle_t outparam, handle_t headers, int status, handle_t* body) {
  ret_area r;
  handle_t response = response_new(headers);
  if (response_set_status(response, status) != 0) response_set_status(response, 500);
  response_body(response, &r);
  *body = ret_i32(&r, 4);
  outparam_set(outparam, 0, response, 0, 0, 0, 0, 0, 0);
  outgoing_body_write(*body, &r);
  return ret_i32(&r, 4);
}

// Writes all of buf in pieces of at most 4096 bytes; 0 when the stream failed.
static int write_all(handle_t stream, const uint8_t* buf, size_t len) {
  ret_area r;
  while (len) {
    size_t n = len < 4096 ? len : 4096;
    output_blocking_write_and_flush(stream, buf, n, &r);
    if (ret_u8(&r, 0)) {
      if (ret_u8(&r, 4) == 0) io_error_drop(ret_i32(&r, 8));
      return 0;
    }
    buf += n;
    len -= n;
  }
  return 1;
}

static void finish(handle_t stream, handle_t body) {
  ret_area r;
  output_stream_drop(stream);
  outgoing_body_finish(body, 0, 0, &r);
}

static void respond(handle_t outparam, handle_t headers, int status, const char* text) {
  handle_t body;
  handle_t stream = start_response(outparam, headers, status, &body);
  if (text) write_all(stream, (const uint8_t*)text, strlen(text));
  finish(stream, body);
}

static void echo(handle_t request, handle_t outparam) {
  ret_area r;
  request_consume(request, &r);
  if (ret_u8(&r, 0)) {
    respond(outparam, plain_headers(), 500, "consume failed");
    return;
  }
  handle_t in_body = ret_i32(&r, 4);
  incoming_body_stream(in_body, &r);
  if (ret_u8(&r, 0)) {
    incoming_body_drop(in_body);
    respond(outparam, plain_headers(), 500, "stream failed");
    return;
  }
  handle_t in = ret_i32(&r, 4);
  handle_t body;
  handle_t out = start_response(outparam, fields_new(), 200, &body);
  for (;;) {
    input_blocking_read(in, 65536, &r);
    if (ret_u8(&r, 0)) {  // closed (end of body) or failed
      if (ret_u8(&r, 4) == 0) io_error_drop(ret_i32(&r, 8));
      break;
    }
    uint8_t* p = (uint8_t*)ret_i32(&r, 4);
    size_t n = (size_t)ret_i32(&r, 8);
    int ok = write_all(out, p, n);
    free_list(p, n);
    if (!ok) break;
  }
  input_stream_drop(in);
  incoming_body_drop(in_body);
  finish(out, body);
}

struct entry {
  const char* name;
  size_t name_len;
  const uint8_t* value;
  size_t value_len;
};

static void echo_headers(handle_t request, handle_t outparam) {
  ret_area r;
  handle_t in = request_headers(request);
  fields_entries(in, &r);
  struct entry* e = (struct entry*)ret_i32(&r, 0);
  size_t n = (size_t)ret_i32(&r, 4);
  handle_t out = plain_headers();
  for (size_t i = 0; i < n; i++) {
    char name[512];
    if (e[i].name_len + 7 <= sizeof name) {
      memcpy(name, "x-echo-", 7);
      memcpy(name + 7, e[i].name, e[i].name_len);
      fields_append(out, name, 7 + e[i].name_len, e[i].value, e[i].value_len, r.bytes);
    }
    free_list((void*)e[i].name, e[i].name_len);
    free_list((void*)e[i].value, e[i].value_len);
  }
  free_list(e, n);
  fields_drop(in);
  respond(outparam, out, 200, "headers");
}

// Waits for a pollable and drops it.
static void block_on(handle_t pollable) {
  pollable_block(pollable);
  pollable_drop(pollable);
}

// The trailers of a finished incoming body (0: none, or the body failed).
static handle_t trailers_of(handle_t in_body) {
  ret_area r;
  handle_t ft = incoming_body_finish(in_body);
  block_on(future_trailers_subscribe(ft));
  future_trailers_get(ft, &r);
  handle_t t = 0;
  if (ret_u8(&r, 0) && !ret_u8(&r, 8) && !ret_u8(&r, 16) && ret_u8(&r, 24)) t = ret_i32(&r, 28);
  future_trailers_drop(ft);
  return t;
}

// Copies an input stream to an output stream as it comes; 0 if the input failed.
static int pump(handle_t in, handle_t out) {
  ret_area r;
  for (;;) {
    input_blocking_read(in, 65536, &r);
    if (ret_u8(&r, 0)) {  // closed (end of body) or failed
      int failed = ret_u8(&r, 4) == 0;
      if (failed) io_error_drop(ret_i32(&r, 8));
      return !failed;
    }
    uint8_t* p = (uint8_t*)ret_i32(&r, 4);
    size_t n = (size_t)ret_i32(&r, 8);
    int ok = write_all(out, p, n);
    free_list(p, n);
    if (!ok) return 1;
  }
}

static void echo_trailers(handle_t request, handle_t outparam) {
  ret_area r;
  request_consume(request, &r);
  handle_t in_body = ret_i32(&r, 4);
  incoming_body_stream(in_body, &r);
  handle_t in = ret_i32(&r, 4);
  handle_t body;
  handle_t out = start_response(outparam, fields_new(), 200, &body);
  pump(in, out);
  input_stream_drop(in);
  handle_t t = trailers_of(in_body);
  output_stream_drop(out);
  outgoing_body_finish(body, t != 0, t, &r);
}

// The value of `key` in a query string ("a=1&b=2"), copied into buf; 0 if absent.
static const char* query_value(const char* query, const char* key, char* buf, size_t size) {
  size_t klen = strlen(key);
  const char* p = query;
  while (p && *p) {
    if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
      const char* v = p + klen + 1;
      size_t n = strcspn(v, "&");
      if (n >= size) n = size - 1;
      memcpy(buf, v, n);
      buf[n] = 0;
      return buf;
    }
    p = strchr(p, '&');
    if (p) p++;
  }
  return 0;
}

// A request to SCHEME://HOST:PORT/path, from the query's scheme (http or https; default http),
// host (default 127.0.0.1) and port.
static handle_t upstream_request(const char* query, const char* path) {
  char port[16], host[64], scheme[8];
  if (!query_value(query, "port", port, sizeof port)) port[0] = 0;
  if (!query_value(query, "host", host, sizeof host)) strcpy(host, "127.0.0.1");
  if (!query_value(query, "scheme", scheme, sizeof scheme)) strcpy(scheme, "http");
  char authority[96];
  strcpy(authority, host);
  strcat(authority, ":");
  strcat(authority, port);
  handle_t req = outgoing_request_new(fields_new());
  outgoing_request_set_scheme(req, 1, strcmp(scheme, "https") == 0 ? 1 : 0, 0, 0);
  outgoing_request_set_authority(req, 1, authority, strlen(authority));
  outgoing_request_set_path(req, 1, path, strlen(path));
  return req;
}

// Waits for the upstream response and streams it back (status, body, trailers).
static void relay(handle_t future, handle_t outparam) {
  ret_area r;
  block_on(future_response_subscribe(future));
  future_response_get(future, &r);
  future_response_drop(future);
  if (!ret_u8(&r, 0) || ret_u8(&r, 8) || ret_u8(&r, 16)) {
    char text[32] = "upstream error ";
    int tag = ret_u8(&r, 0) && !ret_u8(&r, 8) ? ret_u8(&r, 24) : 255;
    size_t len = strlen(text);
    if (tag >= 100) text[len++] = (char)('0' + tag / 100);
    if (tag >= 10) text[len++] = (char)('0' + tag / 10 % 10);
    text[len++] = (char)('0' + tag % 10);
    text[len] = 0;
    respond(outparam, plain_headers(), 502, text);
    return;
  }
  handle_t resp = ret_i32(&r, 24);
  int status = incoming_response_status(resp);
  incoming_response_consume(resp, &r);
  handle_t in_body = ret_i32(&r, 4);
  incoming_body_stream(in_body, &r);
  handle_t in = ret_i32(&r, 4);
  handle_t body;
  handle_t out = start_response(outparam, fields_new(), status, &body);
  int ok = pump(in, out);
  input_stream_drop(in);
  handle_t t = ok ? trailers_of(in_body) : 0;
  if (!ok) incoming_body_drop(in_body);
  incoming_response_drop(resp);
  output_stream_drop(out);
  if (ok)
    outgoing_body_finish(body, t != 0, t, &r);
  else
    outgoing_body_drop(body);  // the client sees a broken body, as the guest did
}

static void proxy(const char* query, handle_t outparam) {
  char path[256];
  if (!query_value(query, "path", path, sizeof path)) strcpy(path, "/");
  ret_area r;
  handle_t req = upstream_request(query, path);
  outgoing_handle(req, 0, 0, &r);
  if (ret_u8(&r, 0)) {
    respond(outparam, plain_headers(), 502, "upstream refused");
    return;
  }
  relay(ret_i32(&r, 8), outparam);
}

static void upload(const char* query, handle_t outparam) {
  char size_s[24], drop[8];
  size_t size = query_value(query, "size", size_s, sizeof size_s) ? (size_t)atol(size_s) : 0;
  int drop_body = query_value(query, "drop", drop, sizeof drop) != 0;
  ret_area r;
  handle_t req = upstream_request(query, "/upload");
  outgoing_request_set_method(req, 2, 0, 0);  // POST
  outgoing_request_body(req, &r);
  handle_t ob = ret_i32(&r, 4);
  outgoing_body_write(ob, &r);
  handle_t os = ret_i32(&r, 4);
  outgoing_handle(req, 0, 0, &r);
  if (ret_u8(&r, 0)) {
    respond(outparam, plain_headers(), 502, "upstream refused");
    return;
  }
  handle_t future = ret_i32(&r, 8);
  static uint8_t piece[65536];
  memset(piece, 'x', sizeof piece);
  size_t sent = 0;
  size_t first = size < sizeof piece ? size : sizeof piece;
  write_all(os, piece, first);
  sent += first;
  block_on(clock_subscribe_duration(1500ll * 1000 * 1000));
  if (drop_body) {
    output_stream_drop(os);
    outgoing_body_drop(ob);
  } else {
    while (sent < size) {
      size_t n = size - sent < sizeof piece ? size - sent : sizeof piece;
      if (!write_all(os, piece, n)) break;
      sent += n;
    }
    output_stream_drop(os);
    handle_t t = fields_new();
    fields_append(t, "x-upload-trailer", 16, (const uint8_t*)"done", 4, r.bytes);
    outgoing_body_finish(ob, 1, t, &r);
  }
  relay(future, outparam);
}

static volatile unsigned long spin_counter;
static unsigned long requests_seen;
static char* heap_note;

static void state(handle_t outparam) {
  requests_seen++;
  const char* heap = "reused";
  if (!heap_note) {
    heap_note = malloc(64);
    if (!heap_note) __builtin_trap();
    heap = "fresh";
  }
  char text[64] = "count=";
  unsigned long n = requests_seen;
  char digits[24];
  int k = 0;
  do {
    digits[k++] = (char)('0' + n % 10);
    n /= 10;
  } while (n);
  size_t len = strlen(text);
  while (k) text[len++] = digits[--k];
  text[len] = 0;
  strcat(text, " heap=");
  strcat(text, heap);
  respond(outparam, plain_headers(), 200, text);
}

EXPORT_HANDLE void handle(handle_t request, handle_t outparam) {
  ret_area r;
  request_method(request, &r);
  int method = ret_u8(&r, 0);  // 0 get, 1 head, 2 post, ..., 9 other(string)
  if (method == 9) free_list((void*)ret_i32(&r, 4), (size_t)ret_i32(&r, 8));
  request_path_with_query(request, &r);
  char path[1024] = "/";
  if (ret_u8(&r, 0)) {
    char* p = (char*)ret_i32(&r, 4);
    size_t n = (size_t)ret_i32(&r, 8);
    size_t m = n < sizeof path - 1 ? n : sizeof path - 1;
    memcpy(path, p, m);
    path[m] = 0;
    free_list(p, n);
  }
  char* q = strchr(path, '?');
  if (q) *q++ = 0;
  const char* query = q ? q : "";

  if (strcmp(path, "/") == 0) {
    respond(outparam, plain_headers(), 200, "hello");
  } else if (strcmp(path, "/echo") == 0 && method == 2) {
    echo(request, outparam);
  } else if (strcmp(path, "/headers") == 0) {
    echo_headers(request, outparam);
  } else if (strncmp(path, "/status/", 8) == 0) {
    respond(outparam, fields_new(), atoi(path + 8), NULL);
  } else if (strcmp(path, "/trap") == 0) {
    __builtin_trap();
  } else if (strcmp(path, "/trailers") == 0 && method == 2) {
    echo_trailers(request, outparam);
  } else if (strcmp(path, "/proxy") == 0) {
    proxy(query, outparam);
  } else if (strcmp(path, "/upload") == 0) {
    upload(query, outparam);
  } else if (strcmp(path, "/state") == 0) {
    state(outparam);
  } else if (strcmp(path, "/sleep") == 0) {
    handle_t p = clock_subscribe_duration(60ll * 1000 * 1000 * 1000);
    pollable_block(p);
    pollable_drop(p);
    respond(outparam, plain_headers(), 200, "slept");
  } else if (strcmp(path, "/spin") == 0) {
    for (;;) spin_counter++;
  } else {
    respond(outparam, plain_headers(), 404, "not found");
  }
  request_drop(request);
}
