;; An active element segment outside its table: instantiation traps (out of bounds).
(module (table 1 funcref) (func $f) (elem (i32.const 5) $f) (func (export "f") (result i32) (i32.const 1)))
