"""The import graph of ``ppgraph`` flows one way (the developers' guide's layering).

Front ends build the IR; passes rewrite it; codegen reads it; evaluators
(``compile``, ``inference``) use passes and codegen; ``viz`` inspects.  The IR
imports none of them.  Every ``import`` statement of every module counts,
including imports inside functions (a function-level import is still a
dependency; it only hides a cycle from the interpreter).

The graph is read from the source with :mod:`ast`, not by importing, so the test
is fast and sees imports that only run on first use.
"""

from __future__ import annotations

import ast
import pathlib

import networkx as nx
import pytest

import ppgraph

ROOT = pathlib.Path(ppgraph.__file__).parent

# the layers above the IR: front ends, passes, codegen, evaluators, inspection, saving, command line
ABOVE_IR = ("ppgraph.frontend", "ppgraph.passes", "ppgraph.codegen", "ppgraph.compile", "ppgraph.inference",
            "ppgraph.viz", "ppgraph.nn", "ppgraph.io", "ppgraph.cli")

# module prefix -> module prefixes it must not import (a prefix matches itself and its submodules)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the bottom: plain data and errors
    "ppgraph.errors": ("ppgraph",),
    "ppgraph._version": ("ppgraph",),
    "ppgraph._lazy": ("ppgraph",),
    "ppgraph.dist": ("ppgraph",),
    # helpers below every layer that uses them (keys, data checks, the compile cache, the
    # enumeration runtime that generated code calls, metrics)
    "ppgraph.keys": ABOVE_IR,
    "ppgraph.datachecks": ABOVE_IR,
    "ppgraph.rangecheck": ABOVE_IR,
    "ppgraph.cache": ABOVE_IR,
    "ppgraph.enumeration": ABOVE_IR,
    "ppgraph.metrics": ABOVE_IR,
    # the IR imports no other ppgraph subpackage
    "ppgraph.ir": (
        "ppgraph.model", "ppgraph.supports", "ppgraph.frontend", "ppgraph.passes", "ppgraph.codegen",
        "ppgraph.compile", "ppgraph.inference", "ppgraph.viz", "ppgraph.nn", "ppgraph.io", "ppgraph.cli",
        "ppgraph.dist",
    ),
    "ppgraph.model": (
        "ppgraph.frontend", "ppgraph.passes", "ppgraph.codegen", "ppgraph.compile", "ppgraph.inference",
        "ppgraph.viz", "ppgraph.nn", "ppgraph.io", "ppgraph.cli",
    ),
    "ppgraph.supports": (
        "ppgraph.model", "ppgraph.frontend", "ppgraph.passes", "ppgraph.codegen", "ppgraph.compile",
        "ppgraph.inference", "ppgraph.viz", "ppgraph.nn", "ppgraph.io", "ppgraph.cli",
    ),
    # front ends build the IR
    "ppgraph.frontend": (
        "ppgraph.passes", "ppgraph.codegen", "ppgraph.compile", "ppgraph.inference", "ppgraph.viz",
        "ppgraph.io", "ppgraph.cli",
    ),
    # passes rewrite it
    "ppgraph.passes": (
        "ppgraph.frontend", "ppgraph.codegen", "ppgraph.compile", "ppgraph.inference", "ppgraph.viz",
        "ppgraph.nn", "ppgraph.io", "ppgraph.cli",
    ),
    # codegen reads it
    "ppgraph.codegen": (
        "ppgraph.frontend", "ppgraph.passes", "ppgraph.compile", "ppgraph.inference", "ppgraph.viz",
        "ppgraph.nn", "ppgraph.io", "ppgraph.cli",
    ),
    # layers: a node family with its codegen and reparameterisation rules
    "ppgraph.nn": ("ppgraph.compile", "ppgraph.inference", "ppgraph.viz", "ppgraph.io", "ppgraph.cli"),
    # inspection reads the IR (and traces shapes with codegen)
    "ppgraph.viz": ("ppgraph.passes", "ppgraph.compile", "ppgraph.inference", "ppgraph.io", "ppgraph.cli"),
    # evaluators use passes and codegen
    "ppgraph.compile": ("ppgraph.inference", "ppgraph.viz", "ppgraph.cli"),
    "ppgraph.inference": ("ppgraph.viz", "ppgraph.cli"),
    # data checks read the IR and distributions; compile and inference call them
    "ppgraph.datachecks": ("ppgraph.frontend", "ppgraph.passes", "ppgraph.codegen", "ppgraph.compile",
                           "ppgraph.inference", "ppgraph.viz", "ppgraph.nn", "ppgraph.io", "ppgraph.cli"),
    "ppgraph.io": ("ppgraph.passes", "ppgraph.codegen", "ppgraph.compile", "ppgraph.inference", "ppgraph.viz",
                   "ppgraph.cli"),
}


# Known exceptions, each with its reason; an entry here is debt to pay, not a rule.
ALLOWED: set[tuple[str, str]] = set()


def module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_lazy_table(node: ast.AST) -> bool:
    """A call ``attach(name, {...})`` of :mod:`ppgraph._lazy` (lazy names: their modules count as imports)."""
    return (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "attach"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Dict)
    )


def import_graph(root: pathlib.Path) -> nx.DiGraph:
    """Module -> module it imports (edges carry the ``line`` of the import), for the package at ``root``.

    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else
    to ``pkg``; relative imports are resolved; imports of other packages are dropped.
    The modules of lazily imported names (``attach`` tables) count as imports.
    """
    package = root.name
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = nx.DiGraph()
    for module, path in files.items():
        graph.add_node(module, path=path)
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for stmt in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(stmt, ast.Import):
                targets = [alias.name for alias in stmt.names]
            elif isinstance(stmt, ast.ImportFrom):
                if stmt.level:
                    base = here.split(".")[: len(here.split(".")) - (stmt.level - 1)]
                    source = ".".join(base + ([stmt.module] if stmt.module else []))
                else:
                    source = stmt.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in files else source for a in stmt.names]
            elif _is_lazy_table(stmt):  # attach(__name__, {"name": "ppgraph.x.y", ...}): imports on first use
                targets = [v.value for v in stmt.args[1].values if isinstance(v, ast.Constant)]
            else:
                continue
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                while target not in files and "." in target:  # `import pkg.mod.name` -> pkg.mod
                    target = target.rpartition(".")[0]
                if target != module:
                    graph.add_edge(module, target, line=stmt.lineno)
    return graph


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layering_violations(
    graph: nx.DiGraph, forbidden: dict[str, tuple[str, ...]] = FORBIDDEN, allowed: set[tuple[str, str]] = ALLOWED
) -> list[str]:
    """``"a (line n) imports b"`` for every edge that goes against ``forbidden``."""
    found = []
    for source, target, data in graph.edges(data=True):
        if (source, target) in allowed:
            continue
        for layer, banned in forbidden.items():
            if not _matches(source, layer):
                continue
            inside = _matches(target, layer)  # a layer may import its own modules
            if not inside and any(_matches(target, prefix) for prefix in banned):
                found.append(f"{source} (line {data['line']}) imports {target}")
    return sorted(set(found))


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    return sorted(nx.simple_cycles(graph), key=len)


def _describe_cycle(graph: nx.DiGraph, cycle: list[str]) -> str:
    steps = zip(cycle, cycle[1:] + cycle[:1])
    return " -> ".join(f"{a} (line {graph.edges[a, b]['line']})" for a, b in steps) + f" -> {cycle[0]}"


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return import_graph(ROOT)


def test_the_graph_is_read(graph):
    # a few known edges, module-level and function-level, so that an empty graph cannot pass
    assert graph.has_edge("ppgraph.passes.unconstrained", "ppgraph.supports")
    assert graph.has_edge("ppgraph.viz.shapes", "ppgraph.codegen")  # imported inside a function
    assert graph.has_edge("ppgraph", "ppgraph.inference.fit")  # a lazy name
    assert graph.has_edge("ppgraph.inference", "ppgraph.inference.hmc")
    assert len(graph) >= 50


def test_no_import_cycles(graph):
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(_describe_cycle(graph, c) for c in found[:10])


def test_layering(graph):
    found = layering_violations(graph)
    assert not found, "imports against the layering:\n" + "\n".join(found)


def test_allowed_exceptions_are_still_needed(graph):
    stale = [edge for edge in ALLOWED if not graph.has_edge(*edge)]
    assert not stale, f"remove these from ALLOWED, the imports are gone: {stale}"


def test_the_checks_catch_a_bad_import(tmp_path):
    # a copy of the package with one bad function-level import inserted: IR -> viz (which imports IR)
    fake = tmp_path / "ppgraph"
    for path in ROOT.rglob("*.py"):
        target = fake / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    nodes = fake / "ir" / "nodes.py"
    nodes.write_text(nodes.read_text() + "\n\ndef _bad():\n    from ..viz.describe import format_table\n")
    bad = import_graph(fake)
    assert bad.has_edge("ppgraph.ir.nodes", "ppgraph.viz.describe")
    assert any(v.startswith("ppgraph.ir.nodes (line ") and v.endswith("imports ppgraph.viz.describe")
               for v in layering_violations(bad))
    assert any("ppgraph.ir.nodes" in c and "ppgraph.viz.describe" in c for c in cycles(bad))


def test_the_checks_see_absolute_and_plain_imports(tmp_path):
    pkg = tmp_path / "ppgraph"
    (pkg / "ir").mkdir(parents=True)
    (pkg / "viz").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "ir" / "__init__.py").write_text("import ppgraph.viz.draw as d\n")
    (pkg / "viz" / "__init__.py").write_text("")
    (pkg / "viz" / "draw.py").write_text("from ppgraph import ir\n")
    bad = import_graph(pkg)
    assert set(bad.edges) == {("ppgraph.ir", "ppgraph.viz.draw"), ("ppgraph.viz.draw", "ppgraph.ir")}
    assert layering_violations(bad) == ["ppgraph.ir (line 1) imports ppgraph.viz.draw"]
    assert cycles(bad) == [["ppgraph.ir", "ppgraph.viz.draw"]] or cycles(bad) == [["ppgraph.viz.draw", "ppgraph.ir"]]
