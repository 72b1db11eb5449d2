;; Fixed-size lists in the canonical ABI: flat params and results, a return pointer, lists
;; spilled to memory (more than 16 flat params), and a fixed-size list inside a record.
(component
  (core module $m
    (memory (export "mem") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $r i32)
      (local.set $r (i32.and (i32.add (global.get $next) (i32.const 7)) (i32.const -8)))
      (global.set $next (i32.add (local.get $r) (local.get 3)))
      (local.get $r))
    ;; list<u32, 4> as four flat i32 params
    (func (export "sum4") (param i32 i32 i32 i32) (result i32)
      (i32.add (i32.add (local.get 0) (local.get 1)) (i32.add (local.get 2) (local.get 3))))
    ;; list<u16, 3> result: three flat values, so returned through a pointer
    (func (export "make3") (param i32) (result i32)
      (i32.store16 (i32.const 64) (local.get 0))
      (i32.store16 (i32.const 66) (i32.add (local.get 0) (i32.const 1)))
      (i32.store16 (i32.const 68) (i32.add (local.get 0) (i32.const 2)))
      (i32.const 64))
    ;; list<u8, 20> param: 20 flat values, so all params go to memory (one pointer)
    (func (export "sum20") (param $p i32) (result i32)
      (local $i i32) (local $s i32)
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (i32.const 20)))
          (local.set $s (i32.add (local.get $s)
            (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
      (local.get $s))
    ;; record { a: u8, b: list<u32, 2> } result: a at 0, b at 4 and 8
    (func (export "rec") (param i32) (result i32)
      (i32.store8 (i32.const 128) (local.get 0))
      (i32.store (i32.const 132) (i32.mul (local.get 0) (i32.const 10)))
      (i32.store (i32.const 136) (i32.mul (local.get 0) (i32.const 100)))
      (i32.const 128)))
  (core instance $i (instantiate $m))
  (type $rec (record (field "a" u8) (field "b" (list u32 2))))
  (export $rect "rec-t" (type $rec))
  (func (export "sum4") (param "l" (list u32 4)) (result u32)
    (canon lift (core func $i "sum4")))
  (func (export "make3") (param "x" u16) (result (list u16 3))
    (canon lift (core func $i "make3") (memory (core memory $i "mem"))))
  (func (export "sum20") (param "l" (list u8 20)) (result u32)
    (canon lift (core func $i "sum20") (memory (core memory $i "mem"))
      (realloc (core func $i "realloc"))))
  (func (export "rec") (param "x" u8) (result $rect)
    (canon lift (core func $i "rec") (memory (core memory $i "mem")))))
