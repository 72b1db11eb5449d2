;; Memory images with several memories: memory 0 imported (its segment is always applied),
;; memories 1 and 3 defined and larger than the pool (each gets its own image), memory 2 small
;; (its segments are replayed).
(module
  (import "env" "mem" (memory $imp 1))
  (memory $a (export "a") 20)
  (memory $s (export "s") 1)
  (memory $b (export "b") 24 30)
  (data (memory $imp) (i32.const 8) "I")
  (data (memory $a) (i32.const 0) "alpha")
  (data (memory $s) (i32.const 0) "small")
  (data (memory $b) (i32.const 1572860) "beta")
  (data (memory $a) (i32.const 0) "A")
  (func (export "load_a") (param i32) (result i32) (i32.load8_u $a (local.get 0)))
  (func (export "load_s") (param i32) (result i32) (i32.load8_u $s (local.get 0)))
  (func (export "load_b") (param i32) (result i32) (i32.load8_u $b (local.get 0)))
  (func (export "store_a") (param i32 i32) (i32.store8 $a (local.get 0) (local.get 1)))
  (func (export "store_b") (param i32 i32) (i32.store8 $b (local.get 0) (local.get 1)))
  (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0))))
