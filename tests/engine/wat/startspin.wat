;; A start function that never returns: instantiation under a deadline is interrupted.
(module (func $s (loop $l (br $l))) (start $s) (func (export "f") (result i32) (i32.const 1)))
