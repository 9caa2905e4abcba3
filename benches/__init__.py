"""Developer tools next to the shipped benchmark suite (fastgd/bench, ``fastgd bench``),
run from the source checkout: exact.py (problems with exact solutions, for
tests/test_exact.py and accuracy.py), accuracy.py and loop_cost.py (tables of the
docs), update_docs.py (a ``fastgd bench`` run's tables into the docs and the README)
and test_bench.py (pytest-benchmark)."""
