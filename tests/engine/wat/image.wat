;; A module whose memory is initialised from a prepared image: one own memory larger than the
;; small-memory pool (20 pages = 1.25 MiB), active segments at i32.const offsets (overlapping:
;; the later one wins; one ending at the last byte), a passive segment for memory.init.
(module
  (memory (export "mem") 20 40)
  (data (i32.const 0) "first")
  (data (i32.const 0) "F")
  (data (i32.const 100000) "\01\02\03\04")
  (data (i32.const 1310716) "\aa\bb\cc\dd")
  (data $p "passive!")
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "init") (param i32 i32 i32)
    (memory.init $p (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (data.drop $p))
  ;; Active segments are dropped once instantiated: a non-empty memory.init of one traps.
  (func (export "init_active") (param i32) (memory.init 0 (local.get 0) (i32.const 0) (i32.const 1))))
