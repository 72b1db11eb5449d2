// 200, content-type text/plain, body "hello": the smallest wasi:http@0.2.0 handler (no libc
// calls on the request path), the C side of the nginx comparison in bench/http.
#include "wasi_http.h"

// The host only calls cabi_realloc for lists/strings it returns; this handler asks for none,
// but the export must exist. A bump allocator over a static arena is enough.
static _Alignas(16) uint8_t arena[4096];
static size_t arena_used;
__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  (void)old;
  (void)old_size;
  size_t at = (arena_used + align - 1) & ~(align - 1);
  if (at + new_size > sizeof arena) __builtin_trap();
  arena_used = at + new_size;
  return arena + at;
}

EXPORT_HANDLE void handle(handle_t request, handle_t outparam) {
  ret_area r;
  handle_t headers = fields_new();
  fields_append(headers, "content-type", 12, (const uint8_t *)"text/plain", 10, r.bytes);
  handle_t response = response_new(headers);
  response_set_status(response, 200);
  response_body(response, &r);
  handle_t body = ret_i32(&r, 4);
  outparam_set(outparam, 0, response, 0, 0, 0, 0, 0, 0);
  outgoing_body_write(body, &r);
  handle_t stream = ret_i32(&r, 4);
  output_blocking_write_and_flush(stream, (const uint8_t *)"hello", 5, &r);
  output_stream_drop(stream);
  outgoing_body_finish(body, 0, 0, &r);
  request_drop(request);
  arena_used = 0;
}
