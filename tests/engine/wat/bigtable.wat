(module (table 5000 funcref))
