// Hand-written canonical-ABI imports of wasi:http/types@0.2.0 and wasi:io/streams@0.2.0 (Debian
// has no wit-bindgen). Each signature is the flattening of the WIT function by the component
// model's Canonical ABI: resource handles are i32; string/list are (ptr, len); a function whose
// flattened results are more than one value gets a trailing return pointer instead; a
// `result`/`option`/`variant` is a discriminant plus the join of its payloads. `jco new` checks
// every import against the WIT, so a wrong signature fails the build.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define HTTP_IMPORT(name) __attribute__((import_module("wasi:http/types@0.2.0"), import_name(name)))
#define IO_IMPORT(name) __attribute__((import_module("wasi:io/streams@0.2.0"), import_name(name)))

// resource handles
typedef int32_t handle_t;

// fields
HTTP_IMPORT("[constructor]fields") handle_t fields_new(void);
// append(name: string, value: list<u8>) -> result<_, header-error>: 2 flat results -> retptr
// {u8 is_err @0, u8 header-error @1}
HTTP_IMPORT("[method]fields.append")
void fields_append(handle_t self, const char* name, size_t name_len, const uint8_t* value,
                   size_t value_len, uint8_t* ret);
// entries() -> list<tuple<string, list<u8>>>: retptr {ptr @0, len @4}; elements 16 bytes
HTTP_IMPORT("[method]fields.entries") void fields_entries(handle_t self, void* ret);
HTTP_IMPORT("[resource-drop]fields") void fields_drop(handle_t self);

// incoming-request
// method() -> method (variant, other(string)): retptr {u8 tag @0, ptr @4, len @8}
HTTP_IMPORT("[method]incoming-request.method") void request_method(handle_t self, void* ret);
// path-with-query() -> option<string>: retptr {u8 some @0, ptr @4, len @8}
HTTP_IMPORT("[method]incoming-request.path-with-query")
void request_path_with_query(handle_t self, void* ret);
HTTP_IMPORT("[method]incoming-request.headers") handle_t request_headers(handle_t self);
// consume() -> result<incoming-body>: retptr {u8 is_err @0, handle @4}
HTTP_IMPORT("[method]incoming-request.consume") void request_consume(handle_t self, void* ret);
HTTP_IMPORT("[resource-drop]incoming-request") void request_drop(handle_t self);

// incoming-body
// stream() -> result<input-stream>: retptr {u8 is_err @0, handle @4}
HTTP_IMPORT("[method]incoming-body.stream") void incoming_body_stream(handle_t self, void* ret);
HTTP_IMPORT("[resource-drop]incoming-body") void incoming_body_drop(handle_t self);

// outgoing-response
HTTP_IMPORT("[constructor]outgoing-response") handle_t response_new(handle_t headers);
// set-status-code(status-code: u16) -> result: one flat result (the discriminant)
HTTP_IMPORT("[method]outgoing-response.set-status-code")
int32_t response_set_status(handle_t self, int32_t status);
// body() -> result<outgoing-body>: retptr {u8 is_err @0, handle @4}
HTTP_IMPORT("[method]outgoing-response.body") void response_body(handle_t self, void* ret);

// response-outparam.set(param: response-outparam, response: result<outgoing-response,
// error-code>): 9 flat params. error-code flattens to 7 values [i32 tag, i32, i64, i32, i32,
// i32, i32] (the i64 from option<u64>, the 6-long tail from option<field-size-payload>); the
// result is its discriminant plus the join of [i32 handle] and those 7:
// [i32 is_err, i32 (handle or error tag), i32, i64, i32, i32, i32, i32].
HTTP_IMPORT("[static]response-outparam.set")
void outparam_set(handle_t param, int32_t is_err, int32_t a, int32_t b, int64_t c, int32_t d,
                  int32_t e, int32_t f, int32_t g);

// outgoing-body
// write() -> result<output-stream>: retptr {u8 is_err @0, handle @4}
HTTP_IMPORT("[method]outgoing-body.write") void outgoing_body_write(handle_t self, void* ret);
// finish(this: outgoing-body, trailers: option<trailers>) -> result<_, error-code>:
// params [i32, i32 some, i32 handle], results via retptr (error-code is 8-aligned, 32 bytes;
// the result 40 bytes: u8 is_err @0, error-code @8)
HTTP_IMPORT("[static]outgoing-body.finish")
void outgoing_body_finish(handle_t self, int32_t has_trailers, handle_t trailers, void* ret);

// wasi:io/streams
// input-stream.blocking-read(len: u64) -> result<list<u8>, stream-error>:
// retptr {u8 is_err @0, ok: ptr @4, len @8 | err: u8 tag @4 (0 last-operation-failed, 1 closed),
// error handle @8}
IO_IMPORT("[method]input-stream.blocking-read")
void input_blocking_read(handle_t self, int64_t len, void* ret);
// output-stream.blocking-write-and-flush(contents: list<u8>) -> result<_, stream-error>
// (at most 4096 bytes): retptr {u8 is_err @0, u8 tag @4, handle @8}
IO_IMPORT("[method]output-stream.blocking-write-and-flush")
void output_blocking_write_and_flush(handle_t self, const uint8_t* buf, size_t len, void* ret);
IO_IMPORT("[resource-drop]input-stream") void input_stream_drop(handle_t self);
IO_IMPORT("[resource-drop]output-stream") void output_stream_drop(handle_t self);
__attribute__((import_module("wasi:io/error@0.2.0"), import_name("[resource-drop]error"))) void
io_error_drop(handle_t self);

// wasi:clocks/monotonic-clock.subscribe-duration(when: duration) -> own<pollable>
__attribute__((import_module("wasi:clocks/monotonic-clock@0.2.0"),
               import_name("subscribe-duration"))) handle_t
clock_subscribe_duration(int64_t ns);
// wasi:io/poll: pollable.block(self), [resource-drop]pollable
__attribute__((import_module("wasi:io/poll@0.2.0"), import_name("[method]pollable.block"))) void
pollable_block(handle_t self);
__attribute__((import_module("wasi:io/poll@0.2.0"), import_name("[resource-drop]pollable"))) void
pollable_drop(handle_t self);

// ---- streaming and trailers (routes /trailers, /proxy, /upload of app.c)
// [static]incoming-body.finish(this: incoming-body) -> future-trailers
HTTP_IMPORT("[static]incoming-body.finish") handle_t incoming_body_finish(handle_t self);
HTTP_IMPORT("[method]future-trailers.subscribe") handle_t future_trailers_subscribe(handle_t self);
// get() -> option<result<result<option<trailers>, error-code>>>: retptr (56 bytes)
// {u8 some @0, u8 outer is_err @8, u8 inner is_err @16, ok: u8 option some @24, handle @28 |
// err: error-code tag @24}
HTTP_IMPORT("[method]future-trailers.get") void future_trailers_get(handle_t self, void* ret);
HTTP_IMPORT("[resource-drop]future-trailers") void future_trailers_drop(handle_t self);

// outgoing-request
HTTP_IMPORT("[constructor]outgoing-request") handle_t outgoing_request_new(handle_t headers);
// set-method(method: method) -> result: method flattens to [i32 tag, i32 ptr, i32 len]
HTTP_IMPORT("[method]outgoing-request.set-method")
int32_t outgoing_request_set_method(handle_t self, int32_t tag, const char* other, size_t len);
// set-scheme(scheme: option<scheme>) -> result: [i32 some, i32 tag, i32 ptr, i32 len]
HTTP_IMPORT("[method]outgoing-request.set-scheme")
int32_t outgoing_request_set_scheme(handle_t self, int32_t some, int32_t tag, const char* other,
                                    size_t len);
// set-authority / set-path-with-query(option<string>) -> result: [i32 some, i32 ptr, i32 len]
HTTP_IMPORT("[method]outgoing-request.set-authority")
int32_t outgoing_request_set_authority(handle_t self, int32_t some, const char* s, size_t len);
HTTP_IMPORT("[method]outgoing-request.set-path-with-query")
int32_t outgoing_request_set_path(handle_t self, int32_t some, const char* s, size_t len);
// body() -> result<outgoing-body>: retptr {u8 is_err @0, handle @4}
HTTP_IMPORT("[method]outgoing-request.body") void outgoing_request_body(handle_t self, void* ret);

// wasi:http/outgoing-handler.handle(request: outgoing-request, options: option<request-options>)
// -> result<future-incoming-response, error-code>: params [i32, i32 some, i32], retptr
// {u8 is_err @0, ok: handle @8 | err: error-code tag @8}
__attribute__((import_module("wasi:http/outgoing-handler@0.2.0"), import_name("handle"))) void
outgoing_handle(handle_t request, int32_t has_options, handle_t options, void* ret);

HTTP_IMPORT("[method]future-incoming-response.subscribe")
handle_t future_response_subscribe(handle_t self);
// get() -> option<result<result<incoming-response, error-code>>>: retptr (56 bytes)
// {u8 some @0, u8 outer is_err @8, u8 inner is_err @16, ok: handle @24 | err: error-code tag @24}
HTTP_IMPORT("[method]future-incoming-response.get")
void future_response_get(handle_t self, void* ret);
HTTP_IMPORT("[resource-drop]future-incoming-response") void future_response_drop(handle_t self);

// incoming-response
HTTP_IMPORT("[method]incoming-response.status") int32_t incoming_response_status(handle_t self);
// consume() -> result<incoming-body>: retptr {u8 is_err @0, handle @4}
HTTP_IMPORT("[method]incoming-response.consume")
void incoming_response_consume(handle_t self, void* ret);
HTTP_IMPORT("[resource-drop]incoming-response") void incoming_response_drop(handle_t self);
HTTP_IMPORT("[resource-drop]outgoing-body") void outgoing_body_drop(handle_t self);

// Return areas: 8-aligned, big enough for every retptr above.
typedef struct {
  _Alignas(8) uint8_t bytes[64];
} ret_area;

static inline uint8_t ret_u8(const ret_area* r, int off) { return r->bytes[off]; }
static inline int32_t ret_i32(const ret_area* r, int off) {
  int32_t v;
  __builtin_memcpy(&v, r->bytes + off, 4);
  return v;
}

#define EXPORT_HANDLE __attribute__((export_name("wasi:http/incoming-handler@0.2.0#handle")))
