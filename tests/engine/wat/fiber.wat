;; Calls a host import in the middle of its work: the host switches fibers there.
(module
  (import "host" "yield" (func $yield (param i32) (result i32)))
  (func (export "work") (param i32) (result i32)
    (i32.add (call $yield (local.get 0)) (i32.const 1000)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $rec (export "recurse") (param i32) (result i32) (i32.add (call $rec (local.get 0)) (i32.const 1))))
