;; Catches the tag it imports around a call of an imported function: the thrown value when
;; it is that tag, 77 for any other exception, 99 when nothing is thrown.
(module
  (import "env" "t" (tag $t (param i32)))
  (import "env" "f" (func $f (param i32)))
  (func (export "run") (param i32) (result i32)
    (block $all
      (block $h (result i32)
        (try_table (catch $t $h) (catch_all $all)
          (call $f (local.get 0)))
        (return (i32.const 99)))
      (return))
    (i32.const 77)))
