"""The import layers of `tdlm` (docs/architecture.md, "Import layers"): every import points down or sideways
within a layer, the families of one layer are independent, and no module imports itself back through others.

The graph is grimp's (every `import` and `from ... import`, also inside functions and under TYPE_CHECKING),
plus one edge for every string literal that names a `tdlm` module other than a package (what
`importlib.import_module` or a handler table would import by name; a package's name is also a logger's):
an import through a string is an import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = "tdlm"  # the package's __init__ only (as an entry, not a prefix of every module)
# top -> bottom; a module belongs to the layer of its longest listed prefix. A layer of several entries is
# "independent" when its entries may not import each other.
LAYERS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("tdlm.cli",), False),
    # the commands of each family: they parse, call the family and save; only tdlm.cli collects them
    (("tdlm.md.cli", "tdlm.sweep.cli", "tdlm.binarynet.cli", "tdlm.paper.cli"), True),
    # the workflow config of every family (its schema and checks, `tdlm sweep-check`)
    (("tdlm.workflow_config",), False),
    # the paper's figure files (drawn with tdlm.plot, saved with tdlm.figure_files) and what paper.smk reads of them
    (("tdlm.paper.render", "tdlm.paper.workflow", "tdlm.figure_files"), False),
    # every figure, drawn from the families' datasets with their reading helpers (no files, no backend)
    (("tdlm.plot",), False),
    # the paper's analyses of a sweep
    (("tdlm.paper",), False),
    # the two model families' sweeps: independent
    (("tdlm.sweep", "tdlm.binarynet"), True),
    # one MD job
    (("tdlm.md",), False),
    # shared by all: command registration, files, atomic writes, fields, devices, data, output metadata
    (
        (
            "tdlm.commands",
            "tdlm.io",
            "tdlm.io_log",
            "tdlm.files",
            "tdlm.fields",
            "tdlm.device",
            "tdlm.data",
            "tdlm.idx",
            "tdlm.storage",
            "tdlm.progress",
            "tdlm.results",
            "tdlm.variables",
            ROOT,
        ),
        False,
    ),
)
SRC = Path(__file__).resolve().parents[1] / "src"


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the listed prefix it belongs to) by the longest listed prefix."""
    found = [
        (len(e), i, e)
        for i, (entries, _) in enumerate(LAYERS)
        for e in entries
        if module == e or (e != ROOT and module.startswith(e + "."))
    ]
    if not found:
        raise AssertionError(f"{module}: in no layer of tests/test_imports.py LAYERS (add it where it belongs)")
    _, index, entry = max(found)
    return index, entry


def named_in(source: str, modules: set[str]) -> set[str]:
    """The modules of `modules` that `source` names in a string literal (importlib strings, handler tables)."""
    return {node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Constant) and node.value in modules}


def string_imports(module: str, modules: set[str]) -> set[str]:
    """The other tdlm modules that `module` names in string literals."""
    path = SRC / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return named_in(path.read_text(), modules) - {module}


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    graph = grimp.build_graph("tdlm", cache_dir=None)
    modules = set(graph.modules)
    # the modules a string may name: not the packages, whose names are also the loggers' ("tdlm.binarynet")
    leaves = {m for m in modules if not graph.find_children(m)}
    return {m: set(graph.find_modules_directly_imported_by(m)) | string_imports(m, leaves) for m in sorted(modules)}


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import that points up, or across the entries of an independent layer."""
    found = []
    for importer, imported in sorted((a, b) for a, targets in edges.items() for b in targets):
        (low, low_entry), (high, high_entry) = layer_of(importer), layer_of(imported)
        if high < low:
            found.append(f"{importer} -> {imported}: up from {low_entry} to {high_entry}")
        elif high == low and low_entry != high_entry and LAYERS[low][1]:
            found.append(f"{importer} -> {imported}: across the independent {low_entry} and {high_entry}")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_every_import_points_down(edges):
    found = violations(edges)
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_no_import_cycle(edges):
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_only_tdlm_cli_collects_the_family_commands(edges):
    """Nothing imports tdlm.cli, and a family's CLI is imported by tdlm.cli only (its families() list)."""
    importers = {b: sorted(a for a, targets in edges.items() if b in targets) for b in edges}
    assert importers["tdlm.cli"] == []
    for family in ("md", "sweep", "binarynet", "paper"):
        assert importers[f"tdlm.{family}.cli"] == ["tdlm.cli"]


def test_the_checks_see_what_they_check():
    """The checker itself: an upward import, a sideways one between independent families, a cycle and an
    import through a string are each found."""
    fake = {
        "tdlm.md.run": {"tdlm.sweep.gather"},
        "tdlm.sweep.gather": {"tdlm.binarynet.sweep"},
        "tdlm.io": {"tdlm.files"},
        "tdlm.files": {"tdlm.io"},
    }
    assert violations(fake) == [
        "tdlm.md.run -> tdlm.sweep.gather: up from tdlm.md to tdlm.sweep",
        "tdlm.sweep.gather -> tdlm.binarynet.sweep: across the independent tdlm.sweep and tdlm.binarynet",
    ]
    assert cycles(fake) == [["tdlm.files", "tdlm.io"]]
    source = 'handler = combining("tdlm.sweep.gather", "gather_point")\nimportlib.import_module("tdlm.md.cli")'
    assert named_in(source, {"tdlm.sweep.gather", "tdlm.md.cli", "tdlm.io"}) == {"tdlm.sweep.gather", "tdlm.md.cli"}
