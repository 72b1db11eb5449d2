;; Throws the tag it imports.
(module
  (import "env" "t" (tag $t (param i32)))
  (func (export "throw") (param i32) (throw $t (local.get 0))))
