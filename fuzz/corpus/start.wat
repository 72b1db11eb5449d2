(module
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (func $init (global.set $g (i32.const 42)) (i32.store (i32.const 0) (global.get $g)))
  (start $init)
  (func (export "get") (result i32) (i32.load (i32.const 0))))
