"""``python -m fastgd.bench [options]``: the same as ``fastgd bench [options]``."""

import sys

from fastgd._cli import main

main(["bench", *sys.argv[1:]])
