"""Render model graphs to SVG, PNG or PDF with Graphviz (matplotlib when ``dot`` is missing).

:func:`draw` writes a file chosen by its extension; :func:`to_svg` returns SVG
text (what notebooks show through ``Model._repr_svg_``); :func:`draw_diff`
draws what a pass changed.  They use the ``graphviz`` Python package and the
``dot`` program (install it with ``apt-get install graphviz``, ``brew install
graphviz`` or ``conda install graphviz``).  Without ``dot`` they fall back to
a matplotlib drawing of the networkx graph (one warning per session).

Examples
--------
>>> from ppgraph.ir import Graph, RandomVariable
>>> from ppgraph import dist
>>> g = Graph(name="m", env={"dist": dist})
>>> g.add(RandomVariable("mu", dist="dist.Normal(0.0, 1.0)"))
>>> to_svg(g).lstrip().startswith(("<?xml", "<svg"))
True
"""

from __future__ import annotations

import io
import pathlib
import shutil
import warnings
from typing import Any

from ..ir import Graph
from .dot import DIFF_COLORS, PASS_COLOR, STYLES, diff_dot, graph_diff, node_class, node_label, to_dot

__all__ = ["draw", "draw_diff", "to_svg", "FORMATS", "dot_available", "draw_matplotlib", "check_format"]

FORMATS = ("svg", "png", "pdf")
"""Output formats by file extension (``.dot`` / ``.gv`` write the DOT source itself)."""

_warned = False


def dot_available() -> bool:
    """Whether the Graphviz ``dot`` program can be run."""
    return shutil.which("dot") is not None


def _format_of(path: pathlib.Path, format: str | None) -> str:
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt in ("dot", "gv") or fmt in FORMATS:
        return fmt
    raise ValueError(
        f"cannot draw to '{path}': unknown format '{fmt or path.suffix}'; "
        f"use a file name ending in .svg, .png, .pdf or .dot (or pass format=...)"
    )


def check_format(path: str | pathlib.Path, format: str | None = None) -> str:
    """The drawing format for ``path`` (``svg``, ``png``, ``pdf``, ``dot``); ValueError if unknown."""
    return _format_of(pathlib.Path(path), format)


def _warn_fallback() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            "the Graphviz 'dot' program was not found, so ppgraph draws with matplotlib instead; "
            "install Graphviz for better drawings (apt-get install graphviz / brew install graphviz / "
            "conda install graphviz)",
            RuntimeWarning,
            stacklevel=4,
        )


def _render(source: str, fmt: str, fallback: Any) -> bytes:
    """Bytes of the drawing: Graphviz when available, else ``fallback(fmt) -> bytes``."""
    if dot_available():
        import graphviz

        try:
            return graphviz.Source(source).pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            pass
    _warn_fallback()
    return fallback(fmt)


def draw(model: Any, path: str | pathlib.Path, *args: Any, format: str | None = None,
         show_shapes: bool = True, **kwargs: Any) -> pathlib.Path:
    """Draw a model's graph (or a graph after passes) to ``path``.

    Parameters
    ----------
    model
        A :class:`~ppgraph.Model` or :class:`~ppgraph.Graph`.
    path
        Output file; ``.svg``, ``.png`` or ``.pdf`` (``.dot`` writes the DOT source).
    *args, **kwargs
        Optionally the model's arguments, so that every shape is shown.
    format
        Overrides the format implied by the extension.
    show_shapes
        Show shapes in the labels.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from ..model import as_graph

    path = pathlib.Path(path)
    fmt = _format_of(path, format)
    source = to_dot(model, *args, show_shapes=show_shapes, **kwargs)
    if fmt in ("dot", "gv"):
        path.write_text(source, encoding="utf-8")
        return path
    graph = as_graph(model)
    shapes = _shapes(model, args, kwargs, show_shapes)
    data = _render(source, fmt, lambda f: draw_matplotlib(graph, f, shapes=shapes))
    path.write_bytes(data)
    return path


def to_svg(model: Any, *args: Any, **kwargs: Any) -> str:
    """SVG text of a model's drawing (Graphviz, or matplotlib without ``dot``)."""
    from ..model import as_graph

    source = to_dot(model, *args, **kwargs)
    graph = as_graph(model)
    data = _render(source, "svg", lambda f: draw_matplotlib(graph, f, shapes=_shapes(model, args, kwargs, True)))
    return data.decode("utf-8")


def draw_diff(before: Any, after: Any, path: str | pathlib.Path, *, format: str | None = None) -> pathlib.Path:
    """Draw ``after`` with what differs from ``before`` highlighted (e.g. what a pass did).

    Added nodes and edges are green, changed nodes orange (their label says what
    they were), removed nodes and edges red and dashed.

    Parameters
    ----------
    before, after
        Models or graphs (typically a graph and the result of a pass on it).
    path
        Output file (``.svg``, ``.png``, ``.pdf`` or ``.dot``).
    """
    from ..model import as_graph

    path = pathlib.Path(path)
    fmt = _format_of(path, format)
    source = diff_dot(before, after)
    if fmt in ("dot", "gv"):
        path.write_text(source, encoding="utf-8")
        return path
    g0, g1 = as_graph(before), as_graph(after)
    diff = graph_diff(g0, g1)
    union = g1.copy()
    for name in diff.removed:
        union.add_node(name, **g0.nodes[name])
    union.add_edges_from(diff.removed_edges)
    status = {n: "added" for n in diff.added} | {n: "changed" for n in diff.changed} | {n: "removed" for n in diff.removed}
    data = _render(source, fmt, lambda f: draw_matplotlib(union, f, status=status))
    path.write_bytes(data)
    return path


def _shapes(model: Any, args: tuple, kwargs: dict, show: bool) -> dict:
    from .shapes import node_shapes

    return node_shapes(model, *args, **kwargs) if show else {}


_BOXES = {
    "argument": "square",
    "latent": "round,pad=0.6",
    "observed": "round,pad=0.6",
    "deterministic": "square,pad=0.4",
    "factor": "sawtooth",
    "layer": "round4",
    "parameter": "roundtooth",
}


def draw_matplotlib(graph: Graph, format: str = "svg", *, shapes: dict | None = None,
                    status: dict[str, str] | None = None) -> bytes:
    """A matplotlib drawing of the graph (the fallback without Graphviz), as bytes.

    Nodes are laid out by topological generation; each node kind has its own box
    style and colour (those of :data:`~ppgraph.viz.dot.STYLES`).  In SVG output
    every node's group has the id ``node:NAME`` and every edge ``edge:PARENT->CHILD``.
    ``status`` maps node names to ``added``/``changed``/``removed`` (diff colours).
    """
    import networkx as nx
    from matplotlib.figure import Figure

    shapes = shapes or {}
    status = status or {}
    generations = [sorted(gen, key=list(graph.nodes).index) for gen in nx.topological_generations(graph)]
    width = max((len(g) for g in generations), default=1)
    pos: dict[str, tuple[float, float]] = {}
    for level, names in enumerate(generations):
        for i, name in enumerate(names):
            pos[name] = ((i + 0.5) * width / len(names), -float(level))
    fig = Figure(figsize=(max(4.0, 3.4 * width), max(3.0, 1.6 * len(generations))))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(-len(generations) + 0.4, 0.6)
    ax.set_title(graph.name)
    texts = {}
    for name, (x, y) in pos.items():
        node = graph.nodes[name]["node"]
        cls = node_class(node)
        style = STYLES[cls]
        edge = DIFF_COLORS.get(status.get(name, ""), PASS_COLOR if node.info else "#333333")
        label = "\n".join(node_label(node, graph, shapes.get(name)))
        text = ax.text(
            x, y, label, ha="center", va="center", fontsize=7,
            bbox={"boxstyle": _BOXES[cls], "fc": style["fillcolor"], "ec": edge,
                  "lw": 2.5 if status.get(name) or node.info else 1.0,
                  "ls": "--" if status.get(name) == "removed" else "-"},
        )
        text.set_gid(f"node:{name}")
        texts[name] = text
    for u, v in graph.edges:
        removed = status.get(u) == "removed" or status.get(v) == "removed"
        arrow = ax.annotate(
            "", xy=pos[v], xytext=pos[u],
            arrowprops={"arrowstyle": "->", "color": DIFF_COLORS["removed"] if removed else "#555555",
                        "patchA": texts[u].get_bbox_patch(), "patchB": texts[v].get_bbox_patch(),
                        "ls": "--" if removed else "-"},
        )
        arrow.arrow_patch.set_gid(f"edge:{u}->{v}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=format, bbox_inches="tight")
    return buffer.getvalue()
