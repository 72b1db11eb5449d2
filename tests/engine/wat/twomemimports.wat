;; Two memory imports (multi-memory): one memory may satisfy both.
(module
  (import "env" "x" (memory $x 1))
  (import "env" "y" (memory $y 1))
  (func (export "poke_x") (param i32 i32) (i32.store8 $x (local.get 0) (local.get 1)))
  (func (export "peek_y") (param i32) (result i32) (i32.load8_u $y (local.get 0))))
