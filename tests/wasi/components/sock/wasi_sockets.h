// wasi:sockets, wasi:io/streams and wasi:io/poll (0.2.12) for a C guest, declared by hand with
// their canonical-ABI signatures (wasi-libc only knows preview1). The component type comes from
// wit/sock.wit through `jco embed`; the preview1 imports are adapted by `jco new`.
//
// Flattening used below (CanonicalABI.md): resources and enums are i32; an ip-socket-address
// is a variant of two records, flattened to a case i32 followed by the 11 i32 of the longer
// (ipv6) record, the ipv4 record using the first 5; option<T> adds a leading case i32. Results
// that flatten to more than one value are written to memory at the last (pointer) parameter;
// the layouts are read with the `at_*` helpers at the offsets noted per function.
#pragma once
#include <stdint.h>
#include <stdlib.h>

#define IMPORT(module, name) __attribute__((import_module(module), import_name(name)))
#define NET "wasi:sockets/network@0.2.12"
#define TCP "wasi:sockets/tcp@0.2.12"
#define UDP "wasi:sockets/udp@0.2.12"
#define STREAMS "wasi:io/streams@0.2.12"
#define POLL "wasi:io/poll@0.2.12"

// The host allocates lists it returns (blocking-read, receive) through this export.
__attribute__((export_name("cabi_realloc"))) void* cabi_realloc(void* old, size_t old_size,
                                                                size_t align, size_t size) {
  (void)old_size;
  (void)align;
  return realloc(old, size ? size : 1);
}

// Flattened ip-socket-address: case, then 11 payload slots.
#define ADDR_ARGS                                                                           \
  int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, \
      int32_t, int32_t

IMPORT("wasi:sockets/instance-network@0.2.12", "instance-network") int32_t instance_network(void);
IMPORT(NET, "[resource-drop]network") void drop_network(int32_t);
// network-error-code(borrow<error>) -> option<error-code>: case +0, code +1.
IMPORT(NET, "network-error-code") void network_error_code(int32_t err, void* ret);

// result<own<tcp-socket>, error-code>: case at +0, handle or code at +4.
IMPORT("wasi:sockets/tcp-create-socket@0.2.12", "create-tcp-socket")
void create_tcp_socket(int32_t family, void* ret);
// result<_, error-code>: case at +0, code at +1.
IMPORT(TCP, "[method]tcp-socket.start-bind")
void tcp_start_bind(int32_t self, int32_t net, ADDR_ARGS, void* ret);
IMPORT(TCP, "[method]tcp-socket.finish-bind") void tcp_finish_bind(int32_t self, void* ret);
IMPORT(TCP, "[method]tcp-socket.start-connect")
void tcp_start_connect(int32_t self, int32_t net, ADDR_ARGS, void* ret);
// result<tuple<input-stream, output-stream>, error-code>: case +0, input +4, output +8.
IMPORT(TCP, "[method]tcp-socket.finish-connect") void tcp_finish_connect(int32_t self, void* ret);
IMPORT(TCP, "[method]tcp-socket.start-listen") void tcp_start_listen(int32_t self, void* ret);
IMPORT(TCP, "[method]tcp-socket.finish-listen") void tcp_finish_listen(int32_t self, void* ret);
// result<tuple<tcp-socket, input-stream, output-stream>, error-code>: +0, +4, +8, +12.
IMPORT(TCP, "[method]tcp-socket.accept") void tcp_accept(int32_t self, void* ret);
// result<ip-socket-address, error-code>: case +0; address case +4, port +8, ipv4 octets
// +10..+13; ipv6: flow-info +12, eight u16 +16, scope-id +32.
IMPORT(TCP, "[method]tcp-socket.local-address") void tcp_local_address(int32_t self, void* ret);
IMPORT(TCP, "[method]tcp-socket.remote-address") void tcp_remote_address(int32_t self, void* ret);
IMPORT(TCP, "[method]tcp-socket.is-listening") int32_t tcp_is_listening(int32_t self);
IMPORT(TCP, "[method]tcp-socket.address-family") int32_t tcp_address_family(int32_t self);
IMPORT(TCP, "[method]tcp-socket.set-listen-backlog-size")
void tcp_set_listen_backlog_size(int32_t self, int64_t n, void* ret);
// result<u64, error-code>: case +0, value +8.
IMPORT(TCP, "[method]tcp-socket.keep-alive-idle-time")
void tcp_keep_alive_idle_time(int32_t self, void* ret);
IMPORT(TCP, "[method]tcp-socket.set-keep-alive-idle-time")
void tcp_set_keep_alive_idle_time(int32_t self, int64_t ns, void* ret);
// result<u8, error-code>: case +0, value +1.
IMPORT(TCP, "[method]tcp-socket.hop-limit") void tcp_hop_limit(int32_t self, void* ret);
IMPORT(TCP, "[method]tcp-socket.set-hop-limit")
void tcp_set_hop_limit(int32_t self, int32_t v, void* ret);
IMPORT(TCP, "[method]tcp-socket.subscribe") int32_t tcp_subscribe(int32_t self);
IMPORT(TCP, "[method]tcp-socket.shutdown") void tcp_shutdown(int32_t self, int32_t how, void* ret);
IMPORT(TCP, "[resource-drop]tcp-socket") void drop_tcp_socket(int32_t);

IMPORT("wasi:sockets/udp-create-socket@0.2.12", "create-udp-socket")
void create_udp_socket(int32_t family, void* ret);
IMPORT(UDP, "[method]udp-socket.start-bind")
void udp_start_bind(int32_t self, int32_t net, ADDR_ARGS, void* ret);
IMPORT(UDP, "[method]udp-socket.finish-bind") void udp_finish_bind(int32_t self, void* ret);
// stream(option<ip-socket-address>): option case, then the address.
// result<tuple<incoming, outgoing>, error-code>: case +0, incoming +4, outgoing +8.
IMPORT(UDP, "[method]udp-socket.stream")
void udp_stream(int32_t self, int32_t some, ADDR_ARGS, void* ret);
IMPORT(UDP, "[method]udp-socket.local-address") void udp_local_address(int32_t self, void* ret);
IMPORT(UDP, "[resource-drop]udp-socket") void drop_udp_socket(int32_t);
// result<list<incoming-datagram>, error-code>: case +0, pointer +4, count +8. An
// incoming-datagram is 40 bytes: data pointer +0, length +4, ip-socket-address +8 (case +8,
// port +12, ipv4 octets +14..+17).
IMPORT(UDP, "[method]incoming-datagram-stream.receive")
void udp_receive(int32_t self, int64_t max, void* ret);
IMPORT(UDP, "[method]incoming-datagram-stream.subscribe") int32_t udp_incoming_subscribe(int32_t);
IMPORT(UDP, "[resource-drop]incoming-datagram-stream") void drop_incoming(int32_t);
// result<u64, error-code>: case +0, value +8.
IMPORT(UDP, "[method]outgoing-datagram-stream.check-send") void udp_check_send(int32_t, void*);
// send(list<outgoing-datagram>): each 44 bytes: data pointer +0, length +4, option case +8,
// ip-socket-address +12 (case +12, port +16, ipv4 octets +18..+21).
IMPORT(UDP, "[method]outgoing-datagram-stream.send")
void udp_send(int32_t self, void* list, int32_t n, void* ret);
IMPORT(UDP, "[method]outgoing-datagram-stream.subscribe") int32_t udp_outgoing_subscribe(int32_t);
IMPORT(UDP, "[resource-drop]outgoing-datagram-stream") void drop_outgoing(int32_t);

// result<own<resolve-address-stream>, error-code>: case +0, handle or code +4.
IMPORT("wasi:sockets/ip-name-lookup@0.2.12", "resolve-addresses")
void resolve_addresses(int32_t net, const char* name, int32_t len, void* ret);
// result<option<ip-address>, error-code>: case +0, code +2 | option case +2, address case +4,
// ipv4 octets +6..+9, ipv6 eight u16 +6..+21.
IMPORT("wasi:sockets/ip-name-lookup@0.2.12", "[method]resolve-address-stream.resolve-next-address")
void resolve_next_address(int32_t self, void* ret);
IMPORT("wasi:sockets/ip-name-lookup@0.2.12", "[resource-drop]resolve-address-stream")
void drop_resolve(int32_t);

// result<list<u8>, stream-error>: case +0; ok: pointer +4, length +8; error: stream-error case
// +4 (0 last-operation-failed with the error handle at +8, 1 closed).
IMPORT(STREAMS, "[method]input-stream.blocking-read")
void input_blocking_read(int32_t self, int64_t len, void* ret);
// result<_, stream-error>: case +0, stream-error case +4, error handle +8.
IMPORT(STREAMS, "[method]output-stream.blocking-write-and-flush")
void output_blocking_write_and_flush(int32_t self, const void* data, int32_t len, void* ret);
IMPORT(STREAMS, "[resource-drop]input-stream") void drop_input(int32_t);
IMPORT(STREAMS, "[resource-drop]output-stream") void drop_output(int32_t);
IMPORT("wasi:io/error@0.2.12", "[resource-drop]error") void drop_error(int32_t);
// string: pointer +0, length +4.
IMPORT("wasi:io/error@0.2.12", "[method]error.to-debug-string")
void error_to_debug_string(int32_t self, void* ret);

IMPORT(POLL, "[method]pollable.block") void pollable_block(int32_t self);
IMPORT(POLL, "[resource-drop]pollable") void drop_pollable(int32_t);

static const char* const kErrorCodes[] = {
    "unknown",
    "access-denied",
    "not-supported",
    "invalid-argument",
    "out-of-memory",
    "timeout",
    "concurrency-conflict",
    "not-in-progress",
    "would-block",
    "invalid-state",
    "new-socket-limit",
    "address-not-bindable",
    "address-in-use",
    "remote-unreachable",
    "connection-refused",
    "connection-reset",
    "connection-aborted",
    "datagram-too-large",
    "name-unresolvable",
    "temporary-resolver-failure",
    "permanent-resolver-failure",
};

static inline const char* code_name(uint8_t c) {
  return c < sizeof kErrorCodes / sizeof kErrorCodes[0] ? kErrorCodes[c] : "?";
}

// Result buffers: 8-aligned, larger than every layout above.
typedef struct {
  _Alignas(8) uint8_t b[64];
} Ret;

static inline uint8_t at_u8(const Ret* r, int off) { return r->b[off]; }
static inline uint16_t at_u16(const Ret* r, int off) {
  return (uint16_t)(r->b[off] | r->b[off + 1] << 8);
}
static inline uint32_t at_u32(const Ret* r, int off) {
  return (uint32_t)r->b[off] | (uint32_t)r->b[off + 1] << 8 | (uint32_t)r->b[off + 2] << 16 |
         (uint32_t)r->b[off + 3] << 24;
}
static inline uint64_t at_u64(const Ret* r, int off) {
  return (uint64_t)at_u32(r, off) | (uint64_t)at_u32(r, off + 4) << 32;
}
static inline Ret fresh(void) {
  Ret r;
  for (int i = 0; i < 64; ++i) r.b[i] = 0xee;  // no stale answer can pass for the host's
  return r;
}
