"""fastgd's modules import downward only: no import cycle anywhere in the package,
deferred imports (inside functions) included, read from the source with ``ast``."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fastgd"


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """``{module: {modules of fastgd it imports}}``, every import statement of the
    module counted, at module level or in a function. ``from . import name`` is an
    edge to the submodule ``name`` if there is one, else to the package."""
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                names = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base
                    for alias in node.names
                ]
            else:
                continue
            edges.update(name for name in names if name in paths and name != module)
        graph[module] = edges
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_deferred_and_relative_imports():
    graph = import_graph()
    assert "fastgd._data" in graph["fastgd._fit"]  # module level, relative
    assert "fastgd.bench.run" in graph["fastgd._cli"]  # deferred, in a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("module", ["fastgd._dask", "fastgd._files"])
def test_blocked_data_sources_know_neither_each_other_nor_the_fit(module):
    """Dask collections and files are each turned into blocked data; the fit works on
    that, and the workers' tasks need nothing of the fit pipeline."""
    imported = import_graph()[module]
    others = {
        "fastgd._dask",
        "fastgd._files",
        "fastgd._fit",
        "fastgd._accelerated",
        "fastgd._api",
        "fastgd._estimator",
    } - {module}
    assert not imported & others
