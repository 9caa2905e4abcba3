"""fastgd's benchmark suite, shipped with the package: ``fastgd bench``.

cases.py   the registry: kinds, shapes, dtypes, data, contenders, assessments, targets
timer.py   the plain timer: rounds, their median and spread, whether they agree
run.py     selects and runs the cases, writes bench.json
report.py  tables and plot, named by the registry (benches/update_docs.py
           writes them into the documentation)
probes.py  measurements outside a fastgd call: read bandwidth, fresh processes
exact.py   problems whose least-squares solution is known exactly: the oracle of the
           tests and of the accuracy tables (benches/accuracy.py)
quiet.py   the libraries' warnings and logging kept out of the output while it runs

Importing it needs neither scikit-learn nor matplotlib: the contenders that need
scikit-learn import it when they run (and are skipped with a note without it), and
the plot is skipped with a note without matplotlib.
"""
