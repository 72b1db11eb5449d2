(module (func (param i32) (result i32) (i32.add (local.get 0) (f32.const 1))))
