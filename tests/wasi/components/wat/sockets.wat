;; A component that asks the host for sockets through the real wasi:sockets imports and
;; reports what it got. Each export returns "ok" (the resource was granted, then dropped) or the
;; name of the error-code case the host answered with:
;;   try-tcp()    tcp-create-socket.create-tcp-socket(ipv4)
;;   try-udp()    udp-create-socket.create-udp-socket(ipv6)
;;   try-lookup() ip-name-lookup.resolve-addresses(instance-network(), "localhost")
;; The import types follow the wasi:sockets@0.2.0 WIT (only the parts used here).
(component $C
  (import "wasi:sockets/network@0.2.0" (instance $network
    (export "network" (type (sub resource)))
    (type $ec (enum
      "unknown"
      "access-denied"
      "not-supported"
      "invalid-argument"
      "out-of-memory"
      "timeout"
      "concurrency-conflict"
      "not-in-progress"
      "would-block"
      "invalid-state"
      "new-socket-limit"
      "address-not-bindable"
      "address-in-use"
      "remote-unreachable"
      "connection-refused"
      "connection-reset"
      "connection-aborted"
      "datagram-too-large"
      "name-unresolvable"
      "temporary-resolver-failure"
      "permanent-resolver-failure"))
    (export "error-code" (type (eq $ec)))
    (type $family (enum "ipv4" "ipv6"))
    (export "ip-address-family" (type (eq $family)))))
  (alias export $network "network" (type $network-t))
  (alias export $network "error-code" (type $error-code))
  (alias export $network "ip-address-family" (type $family))

  (import "wasi:sockets/instance-network@0.2.0" (instance $instance-network
    (alias outer $C $network-t (type $n))
    (export "network" (type $net (eq $n)))
    (export "instance-network" (func (result (own $net))))))

  (import "wasi:sockets/tcp@0.2.0" (instance $tcp
    (export "tcp-socket" (type (sub resource)))))
  (alias export $tcp "tcp-socket" (type $tcp-socket))
  (import "wasi:sockets/tcp-create-socket@0.2.0" (instance $tcp-create
    (alias outer $C $error-code (type $e))
    (export "error-code" (type $ec (eq $e)))
    (alias outer $C $family (type $f))
    (export "ip-address-family" (type $fam (eq $f)))
    (alias outer $C $tcp-socket (type $s))
    (export "tcp-socket" (type $sock (eq $s)))
    (export "create-tcp-socket"
      (func (param "address-family" $fam) (result (result (own $sock) (error $ec)))))))

  (import "wasi:sockets/udp@0.2.0" (instance $udp
    (export "udp-socket" (type (sub resource)))))
  (alias export $udp "udp-socket" (type $udp-socket))
  (import "wasi:sockets/udp-create-socket@0.2.0" (instance $udp-create
    (alias outer $C $error-code (type $e))
    (export "error-code" (type $ec (eq $e)))
    (alias outer $C $family (type $f))
    (export "ip-address-family" (type $fam (eq $f)))
    (alias outer $C $udp-socket (type $s))
    (export "udp-socket" (type $sock (eq $s)))
    (export "create-udp-socket"
      (func (param "address-family" $fam) (result (result (own $sock) (error $ec)))))))

  (import "wasi:sockets/ip-name-lookup@0.2.0" (instance $lookup
    (alias outer $C $network-t (type $n))
    (export "network" (type $net (eq $n)))
    (alias outer $C $error-code (type $e))
    (export "error-code" (type $ec (eq $e)))
    (export "resolve-address-stream" (type $stream (sub resource)))
    (export "resolve-addresses"
      (func (param "network" (borrow $net)) (param "name" string)
            (result (result (own $stream) (error $ec)))))))
  (alias export $lookup "resolve-address-stream" (type $resolve-stream))

  ;; The memory, shared by the lowered imports (results, the host name) and the lifted exports.
  (core module $libc (memory (export "mem") 1))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))

  (core func $instance-network (canon lower (func $instance-network "instance-network")))
  (core func $create-tcp (canon lower (func $tcp-create "create-tcp-socket") (memory $mem)))
  (core func $create-udp (canon lower (func $udp-create "create-udp-socket") (memory $mem)))
  (core func $resolve (canon lower (func $lookup "resolve-addresses") (memory $mem)))
  (core func $drop-network (canon resource.drop $network-t))
  (core func $drop-tcp (canon resource.drop $tcp-socket))
  (core func $drop-udp (canon resource.drop $udp-socket))
  (core func $drop-stream (canon resource.drop $resolve-stream))

  (core module $m
    (import "libc" "mem" (memory 1))
    (import "sockets" "instance-network" (func $instance-network (result i32)))
    (import "sockets" "create-tcp" (func $create-tcp (param i32 i32)))
    (import "sockets" "create-udp" (func $create-udp (param i32 i32)))
    (import "sockets" "resolve" (func $resolve (param i32 i32 i32 i32)))
    (import "sockets" "drop-network" (func $drop-network (param i32)))
    (import "sockets" "drop-tcp" (func $drop-tcp (param i32)))
    (import "sockets" "drop-udp" (func $drop-udp (param i32)))
    (import "sockets" "drop-stream" (func $drop-stream (param i32)))

    ;; 16: the (pointer, length) of the string an export returns.
    ;; 32: where the host stores a result<own<T>, error-code>: case byte at 32, payload at 36.
    ;; 64: the host name to resolve. 1024 + 32 * i: the name of error-code case i.
    (data (i32.const 64) "localhost")
    (data (i32.const 992) "ok")
    (data (i32.const 1024) "unknown")
    (data (i32.const 1056) "access-denied")
    (data (i32.const 1088) "not-supported")
    (data (i32.const 1120) "invalid-argument")
    (data (i32.const 1152) "out-of-memory")
    (data (i32.const 1184) "timeout")
    (data (i32.const 1216) "concurrency-conflict")
    (data (i32.const 1248) "not-in-progress")
    (data (i32.const 1280) "would-block")
    (data (i32.const 1312) "invalid-state")
    (data (i32.const 1344) "new-socket-limit")
    (data (i32.const 1376) "address-not-bindable")
    (data (i32.const 1408) "address-in-use")
    (data (i32.const 1440) "remote-unreachable")
    (data (i32.const 1472) "connection-refused")
    (data (i32.const 1504) "connection-reset")
    (data (i32.const 1536) "connection-aborted")
    (data (i32.const 1568) "datagram-too-large")
    (data (i32.const 1600) "name-unresolvable")
    (data (i32.const 1632) "temporary-resolver-failure")
    (data (i32.const 1664) "permanent-resolver-failure")

    ;; Returns the NUL-terminated string at $p as a lifted string result.
    (func $string (param $p i32) (result i32)
      (local $n i32)
      (block $end
        (loop $scan
          (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br $scan)))
      (i32.store (i32.const 16) (local.get $p))
      (i32.store (i32.const 20) (local.get $n))
      (i32.const 16))

    ;; Reads the result at 32: drops a granted resource with $drop and answers "ok", or answers
    ;; the error-code name.
    (func $outcome (param $drop i32) (result i32)
      (if (i32.eqz (i32.load8_u (i32.const 32)))
        (then
          (call_indirect (param i32) (i32.load (i32.const 36)) (local.get $drop))
          (return (call $string (i32.const 992)))))
      (call $string
        (i32.add (i32.const 1024) (i32.mul (i32.load8_u (i32.const 36)) (i32.const 32)))))

    (table 3 funcref)
    (elem (i32.const 0) $drop-tcp $drop-udp $drop-stream)

    (func (export "try-tcp") (result i32)
      (i32.store8 (i32.const 32) (i32.const 0xff))
      (call $create-tcp (i32.const 0) (i32.const 32))  ;; ipv4
      (call $outcome (i32.const 0)))
    (func (export "try-udp") (result i32)
      (i32.store8 (i32.const 32) (i32.const 0xff))
      (call $create-udp (i32.const 1) (i32.const 32))  ;; ipv6
      (call $outcome (i32.const 1)))
    (func (export "try-lookup") (result i32)
      (local $net i32)
      (local $r i32)
      (i32.store8 (i32.const 32) (i32.const 0xff))
      (local.set $net (call $instance-network))
      (call $resolve (local.get $net) (i32.const 64) (i32.const 9) (i32.const 32))
      (local.set $r (call $outcome (i32.const 2)))
      (call $drop-network (local.get $net))
      (local.get $r)))

  (core instance $i (instantiate $m
    (with "libc" (instance $libc))
    (with "sockets" (instance
      (export "instance-network" (func $instance-network))
      (export "create-tcp" (func $create-tcp))
      (export "create-udp" (func $create-udp))
      (export "resolve" (func $resolve))
      (export "drop-network" (func $drop-network))
      (export "drop-tcp" (func $drop-tcp))
      (export "drop-udp" (func $drop-udp))
      (export "drop-stream" (func $drop-stream))))))

  (func (export "try-tcp") (result string) (canon lift (core func $i "try-tcp") (memory $mem)))
  (func (export "try-udp") (result string) (canon lift (core func $i "try-udp") (memory $mem)))
  (func (export "try-lookup") (result string)
    (canon lift (core func $i "try-lookup") (memory $mem))))
