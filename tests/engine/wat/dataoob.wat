;; An active data segment outside its memory: instantiation traps (out of bounds).
(module (memory 1) (data (i32.const 0xc0000000) "") (func (export "f") (result i32) (i32.const 1)))
