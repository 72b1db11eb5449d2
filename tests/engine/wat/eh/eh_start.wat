;; A start function that throws: instantiation traps with an uncaught exception.
(module
  (tag $t (export "t") (param i32))
  (func $start (throw $t (i32.const 1)))
  (start $start))
