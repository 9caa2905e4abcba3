"""Sphinx configuration of fastgd's documentation.

Build (warnings are errors, as in CI's tests/test_docs.py):

    python -m pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages are MyST Markdown (myst-parser); the API reference is autodoc over the
numpydoc docstrings (numpydoc), with autosummary tables. The tables between
``<!-- name:start -->`` / ``<!-- name:end -->`` markers are written by the
developer tools in benches/ (``python -m benches.update_docs``,
``python -m benches.accuracy --update-docs``, ``python -m benches.loop_cost
--update-docs``), never by hand.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import fastgd  # noqa: E402  (after the path: the installed package, as autodoc sees it)

project = "fastgd"
author = "the fastgd developers"
copyright = "fastgd developers, BSD-3-Clause"
version = release = fastgd.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "modulemap",  # docs/_ext/modulemap.py: the design page's module map, from the sources
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_data", "_ext"]
root_doc = "index"

# Markdown: "#anchor" links to headings (GitHub's slugs, so the pages read the same on
# GitHub), and ::: fences for directives.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "dollarmath"]

# autodoc / autosummary: no stub pages are generated (the API page lists what it
# documents), members in source order.
autosummary_generate = False
autodoc_member_order = "bysource"
autodoc_default_options = {"members": False}
# numpydoc: class pages list their methods through autodoc's :members:, not through
# autosummary stubs that would have to be generated.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"fastgd {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


# A bare name ending in "_" is reST's syntax for a link ("coef_" links to a target
# named "coef"), so GDRegressor's docstring, which names its attributes as scikit-learn
# does ("Regularisation of coef_ (never of intercept_)", "shape (n_iter_,)"), would
# fail the build with "Unknown target name". Escape such names before numpydoc reads
# the docstring, outside literals and outside a section's "name : type" lines (which
# numpydoc itself handles). A Sphinx-side fix: fastgd/_estimator.py is left as it is.
import re  # noqa: E402

_TRAILING_UNDERSCORE = re.compile(r"(?<![\w`\\*])([A-Za-z]\w*?)_(?![\w`])")
_LITERAL = re.compile(r"(``.*?``)")


def _escape_attribute_names(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if re.match(r"\s*[A-Za-z]\w*_\s*:", line):  # "coef_ : ndarray ..." (the name)
            head, _, tail = line.partition(":")
            lines[i] = head + ":" + _escape(tail)
        else:
            lines[i] = _escape(line)


def _escape(text):
    parts = _LITERAL.split(text)  # odd parts are ``literals``: left alone
    return "".join(
        part if k % 2 else _TRAILING_UNDERSCORE.sub(r"\1\\_", part) for k, part in enumerate(parts)
    )


def setup(app):
    app.connect("autodoc-process-docstring", _escape_attribute_names, priority=400)
