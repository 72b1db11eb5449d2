;; A host function returns a funcref that the guest stores in a table and calls.
(module
  (import "host" "get_ref" (func $get_ref (result funcref)))
  (type $v_i (func (result i32)))
  (table 1 funcref)
  (func (export "call_returned_ref") (result i32)
    (table.set 0 (i32.const 0) (call $get_ref))
    (call_indirect (type $v_i) (i32.const 0))))
