"""Developer tools next to the shipped benchmark suite (fastgd/bench, ``fastgd bench``):
exact.py (problems with exact solutions, for tests/test_exact.py and accuracy.py),
accuracy.py (the README's Accuracy tables) and test_bench.py (pytest-benchmark)."""
