(module
  (memory 1)
  (func (export "spin") (local i32)
    (loop $l
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (i32.store (i32.and (local.get 0) (i32.const 0xffc)) (local.get 0))
      (br $l))))
