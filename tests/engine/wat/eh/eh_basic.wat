;; Exception handling in one module (try_table, throw, catch, catch_all). Converted with jco
;; parse (wasm-tools): wabt 1.0.32's wat2wasm does not know try_table.
(module
  (type $sig (func (param i32)))
  (tag $t (export "t") (param i32))
  (tag $e (export "e"))
  (tag $m (param i32 i64 f64))
  (table funcref (elem $throw_t))

  (func $throw_t (param i32) (throw $t (local.get 0)))
  (func $throw_e (throw $e))
  (func $throw_if (param i32)
    (if (local.get 0) (then (throw $t (local.get 0)))))

  ;; The thrown value, or 99 when nothing was thrown.
  (func (export "catch") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h)
        (call $throw_if (local.get 0)))
      (return (i32.const 99))))

  ;; catch_all: 1 when $e was thrown, 0 when not.
  (func (export "catch_all") (param i32) (result i32)
    (block $h
      (try_table (catch_all $h)
        (if (local.get 0) (then (call $throw_e))))
      (return (i32.const 0)))
    (i32.const 1))

  ;; A local set inside the try before the throw keeps its value after the catch.
  (func (export "locals") (param i32) (result i32) (local $v i32)
    (local.set $v (i32.const 1))
    (block $h (result i32)
      (try_table (catch $t $h)
        (local.set $v (i32.const 5))
        (local.set 0 (i32.add (local.get 0) (i32.const 1000)))
        (call $throw_t (local.get 0))
        (local.set $v (i32.const 7)))
      (i32.const 0))
    (i32.add (local.get $v))
    (i32.add (local.get 0)))

  ;; Several values in one exception: i + j + f.
  (func (export "multi") (param i32) (result f64)
    (local $i i32) (local $j i64) (local $f f64)
    (block $h (result i32 i64 f64)
      (try_table (catch $m $h)
        (throw $m (local.get 0) (i64.const 40) (f64.const 0.5)))
      (unreachable))
    (local.set $f)
    (local.set $j)
    (local.set $i)
    (f64.add (f64.add (f64.convert_i32_s (local.get $i)) (f64.convert_i64_s (local.get $j)))
             (local.get $f)))

  ;; Nested: the inner try catches only $e, so $t goes to the outer one (2), $e stays inside (1).
  (func (export "nested") (param i32) (result i32)
    (block $outer (result i32)
      (try_table (catch $t $outer)
        (block $inner
          (try_table (catch $e $inner)
            (if (i32.eq (local.get 0) (i32.const 1)) (then (call $throw_e)))
            (if (i32.eq (local.get 0) (i32.const 2)) (then (call $throw_t (i32.const 2)))))
          (return (i32.const 0)))
        (return (i32.const 1)))
      (unreachable))
    (drop)
    (i32.const 2))

  ;; Clauses after a catch_all never match (and are still validated).
  (func (export "all_first") (result i32)
    (block $a
      (block $b (result i32)
        (try_table (catch_all $a) (catch $t $b)
          (call $throw_t (i32.const 3)))
        (return (i32.const 0)))
      (return))
    (i32.const 4))

  ;; Throw through call_indirect and catch in a loop: counts n throws.
  (func (export "loop") (param $n i32) (result i32) (local $c i32)
    (loop $l
      (block $h (result i32)
        (try_table (catch $t $h)
          (call_indirect (type $sig) (local.get $c) (i32.const 0)))
        (unreachable))
      (drop)
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $c) (local.get $n))))
    (local.get $c))

  ;; Throws from `depth` frames down and catches at the top, `n` times: the call depth is
  ;; restored on every catch (else the depth limit would be hit).
  (func $deep (param $d i32)
    (if (local.get $d)
      (then (call $deep (i32.sub (local.get $d) (i32.const 1))))
      (else (throw $e))))
  (func (export "deep") (param $n i32) (param $depth i32) (result i32) (local $c i32)
    (loop $l
      (block $h
        (try_table (catch $e $h) (call $deep (local.get $depth))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $c) (local.get $n))))
    (local.get $c))

  ;; Nothing catches it: the call traps.
  (func (export "uncaught") (param i32) (call $throw_t (local.get 0)))
  (func (export "uncaught_in_try") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h) (call $throw_e))
      (i32.const 0)))
)
