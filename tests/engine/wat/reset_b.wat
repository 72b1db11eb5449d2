;; Store::reset_instances: imports reset_a's memory and table and puts its own segments in
;; them, so a reset must apply them after reset_a's own.
(module
  (import "a" "mem" (memory 1 4))
  (import "a" "tab" (table 2 funcref))
  (data (i32.const 100) "from b")
  (elem (i32.const 1) $three)
  (func $three (result i32) (i32.const 3))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))
