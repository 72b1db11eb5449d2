;; A preview1 guest that blocks: `read` reads stdin (fd 0), `sleep` waits on a relative clock
;; with poll_oneoff, `trap` traps.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; Reads up to 100 bytes into offset 64; returns the count, or -errno.
  (func (export "read") (result i32)
    (local $err i32)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 100))
    (local.set $err (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (result i32) (local.get $err)
      (then (i32.sub (i32.const 0) (local.get $err)))
      (else (i32.load (i32.const 8)))))
  ;; The byte at offset 64 + i.
  (func (export "byte") (param $i i32) (result i32)
    (i32.load8_u offset=64 (local.get $i)))
  ;; Sleeps `ns` nanoseconds (monotonic clock); returns the errno.
  (func (export "sleep") (param $ns i64) (result i32)
    ;; subscription at 256: userdata 0, tag 0 (clock), id 1 (monotonic), timeout, precision 0, flags 0
    (i64.store (i32.const 256) (i64.const 7))
    (i32.store8 (i32.const 264) (i32.const 0))
    (i32.store (i32.const 272) (i32.const 1))
    (i64.store (i32.const 280) (local.get $ns))
    (i64.store (i32.const 288) (i64.const 0))
    (i32.store16 (i32.const 296) (i32.const 0))
    (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600)))
  (func (export "trap") (unreachable)))
