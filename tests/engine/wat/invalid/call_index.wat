(module (func (call 5)))
