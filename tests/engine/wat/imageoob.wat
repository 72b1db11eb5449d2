;; Like image.wat, but the last active segment runs one byte past the initial memory: no image,
;; and instantiation traps (out of bounds) after the earlier segments were written.
(module
  (memory (export "mem") 20)
  (data (i32.const 0) "ok")
  (data (i32.const 1310719) "xx")
  (func (export "f") (result i32) (i32.const 1)))
