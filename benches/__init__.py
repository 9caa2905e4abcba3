"""fastgd's benchmark suite: one registry (cases.py) drives correctness and timing."""
