;; Benchmark component: the same core functions reached directly (core exports) and through
;; the canonical ABI (lifted exports). Allocation is a bump allocator reset by post-return.
(component
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 1024))
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (local.set $p
        (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                 (i32.sub (i32.const 0) (local.get $align))))
      (global.set $bump (i32.add (local.get $p) (local.get $size)))
      (block $ok
        (br_if $ok (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
        (br_if $ok (i32.ne (memory.grow
          (i32.add (i32.shr_u (i32.sub (global.get $bump) (i32.mul (memory.size) (i32.const 65536)))
                              (i32.const 16))
                   (i32.const 1)))
          (i32.const -1)))
        unreachable)
      (local.get $p))
    (func (export "reset") (global.set $bump (i32.const 1024)))
    (func (export "post") (param i32) (global.set $bump (i32.const 1024)))
    (func (export "add") (param i32 i32) (result i32)
      (i32.add (local.get 0) (local.get 1)))
    ;; returns its string argument: (ptr, len) stored in a return area
    (func (export "echo") (param i32 i32) (result i32)
      (i32.store (i32.const 16) (local.get 0))
      (i32.store (i32.const 20) (local.get 1))
      (i32.const 16))
    ;; sum of x + y over a list of {x: u32, y: u32}
    (func (export "sum") (param $p i32) (param $n i32) (result i32)
      (local $s i32) (local $end i32)
      (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 3))))
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
          (local.set $s (i32.add (local.get $s)
            (i32.add (i32.load (local.get $p)) (i32.load offset=4 (local.get $p)))))
          (local.set $p (i32.add (local.get $p) (i32.const 8)))
          (br $l)))
      (local.get $s))
  )
  (core instance $i (instantiate $m))
  (type $point (record (field "x" u32) (field "y" u32)))
  (export $pt "point" (type $point))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $i "add")))
  (func (export "echo") (param "s" string) (result string)
    (canon lift (core func $i "echo") (memory (core memory $i "mem")) (realloc (core func $i "realloc"))
      (post-return (core func $i "post"))))
  (func (export "sum") (param "points" (list $pt)) (result u32)
    (canon lift (core func $i "sum") (memory (core memory $i "mem")) (realloc (core func $i "realloc"))
      (post-return (core func $i "post"))))
)
