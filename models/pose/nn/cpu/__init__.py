"""CPU-only training paths: a cheaper dropout and the joint-mixing MLP's
step in cache-sized blocks. Numerically equivalent stand-ins, used only
in fp32 eager training on a CPU."""
