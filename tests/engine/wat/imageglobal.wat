;; An active segment whose offset is an imported global: no image (the offset is only known at
;; instantiation); the segments are applied as they were.
(module
  (import "env" "base" (global $base i32))
  (memory (export "mem") 20)
  (data (i32.const 8) "const")
  (data (global.get $base) "global")
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0))))
