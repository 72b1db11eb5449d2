;; Imports an interface at version 0.2.1 and re-exports its function through the guest.
(component
  (import "test:dep/api@0.2.1" (instance $api (export "f" (func (result u32)))))
  (core func $f (canon lower (func $api "f")))
  (core module $m
    (import "api" "f" (func $f (result i32)))
    (func (export "g") (result i32) (i32.add (call $f) (i32.const 1))))
  (core instance $i (instantiate $m (with "api" (instance (export "f" (func $f))))))
  (func (export "g") (result u32) (canon lift (core func $i "g")))
)
