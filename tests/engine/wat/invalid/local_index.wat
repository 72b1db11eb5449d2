(module (func (local i32) (drop (local.get 3))))
