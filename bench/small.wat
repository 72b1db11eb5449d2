;; The module of the instantiation benchmark: one page of memory, a data segment, a global.
(module
  (memory 1)
  (global $g (mut i32) (i32.const 7))
  (data (i32.const 16) "hello from flotilla")
  (func (export "f") (param i32) (result i32)
    (i32.add (i32.add (local.get 0) (global.get $g)) (i32.load8_u (i32.const 16)))))
