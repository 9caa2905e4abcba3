"""``{fastgd-module-map}``: the design page's map of fastgd's source files, generated.

One row per file of the ``fastgd`` package (Python, Cython, C header) and of the
developer tools in ``benches/``, with the first
sentence of its own docstring or leading comment: the map cannot drift from the
sources, and a new module joins it by having a docstring.
"""

import ast
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
DIRECTORIES = ("fastgd", "benches")  # the package, and the developer tools beside it
SUFFIXES = (".py", ".pyx", ".pxd", ".h")


def _comment_text(text, prefix):
    """The leading comment block of a .pxd / .pyx (``#``) or .h (``/* */``) file."""
    if prefix == "#":
        block = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            if not line.startswith("# cython:"):
                block.append(line.lstrip("# "))
        return " ".join(block)
    match = re.match(r"\s*/\*(.*?)\*/", text, re.DOTALL)
    return " ".join(line.strip(" *") for line in match.group(1).splitlines()) if match else ""


def summary(path):
    """The first sentence (or paragraph) that the file says about itself."""
    text = path.read_text()
    if path.suffix == ".h":
        about = _comment_text(text, "/*")
    else:
        body = re.sub(r"\A(?:#[^\n]*\n)+", "", text) if path.suffix == ".pyx" else text
        try:
            about = ast.get_docstring(ast.parse(body)) or ""
        except SyntaxError:  # Cython syntax: the docstring is the first string literal
            match = re.match(r'\s*"""(.*?)"""', body, re.DOTALL)
            about = match.group(1) if match else ""
        if not about:
            about = _comment_text(text, "#")
    paragraph = " ".join(about.strip().split("\n\n")[0].split())
    depth = 0
    for k, char in enumerate(paragraph):  # up to the first full stop outside brackets
        depth += (char == "(") - (char == ")")
        if (
            char == "."
            and depth == 0
            and paragraph[k + 1 : k + 2] in ("", " ")
            and not paragraph[: k + 1].endswith(("e.g.", "i.e.", ".."))
        ):
            return paragraph[:k]
    return paragraph.rstrip(".")


def rows():
    for directory in DIRECTORIES:
        for path in sorted((ROOT / directory).rglob("*")):
            if path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), summary(path)


class ModuleMap(SphinxDirective):
    has_content = False

    def run(self):
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 30 70",
            "",
            "   * - file",
            "     - what it says it is",
        ]
        for name, about in rows():
            lines += [f"   * - ``{name}``", f"     - {about or '(no docstring)'}"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("fastgd-module-map", ModuleMap)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
