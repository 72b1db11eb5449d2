(module (memory 8))
