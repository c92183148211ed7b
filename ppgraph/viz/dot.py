"""Graphviz DOT source for model graphs and for the difference of two graphs.

Every node kind has its own look (see :data:`STYLES`): arguments (data) are grey
boxes, latent random variables white ellipses, observed random variables shaded
ellipses, deterministic nodes rounded boxes, factors octagons, layers 3-D boxes,
trainable parameters hexagons, discrete variables summed out by
``marginalize`` dashed double octagons (``Σ z ~ ...``).  Nodes that a pass created or rewrote (they carry
``info``) get a blue border and their ``info`` in the label.  Labels show the
name, the distribution with its parameters (or the expression, the layer stack),
the batch shape in plate notation (``× 8``) and other shapes where known.
Edges are labelled with where the parent is used (``loc``, ``scale``...).

The DOT text is written here (one statement per line, ids always quoted), so it
needs neither the ``graphviz`` package nor the ``dot`` program.

Examples
--------
>>> from ppgraph.ir import Graph, RandomVariable
>>> from ppgraph import dist
>>> g = Graph(name="m", env={"dist": dist})
>>> g.add(RandomVariable("mu", dist="dist.Normal(0.0, 1.0)"))
>>> g.add(RandomVariable("y", dist="dist.Normal(mu, 1.0).expand([3])", observed="y_obs"))
>>> print(to_dot(g, show_shapes=False))  # doctest: +NORMALIZE_WHITESPACE
digraph "m" {
  graph [rankdir=TB, fontname="Helvetica", fontsize=12, label="m", labelloc=t];
  node [fontname="Helvetica", fontsize=11];
  edge [fontname="Helvetica", fontsize=9, color="#555555", fontcolor="#555555"];
  "mu" [label="mu\\n~ Normal(loc=0.0, scale=1.0)", class="random latent", shape="ellipse", style="filled", fillcolor="#ffffff"];
  "y" [label="y\\n~ Normal(loc=mu, scale=1.0)", class="random observed", shape="ellipse", style="filled", fillcolor="#bdbdbd"];
  "mu" -> "y" [label="loc"];
}
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..ir import Argument, Deterministic, Factor, Graph, Layer, Marginalized, Node, Parameter, RandomVariable
from .labels import distribution_text, info_text, layer_stack, plate_text, shorten
from .shapes import NodeShape, format_shape

__all__ = ["to_dot", "diff_dot", "graph_diff", "GraphDiff", "STYLES", "node_class", "node_label"]

STYLES: dict[str, dict[str, str]] = {
    "argument": {"shape": "box", "style": "filled", "fillcolor": "#e6e6e6"},
    "latent": {"shape": "ellipse", "style": "filled", "fillcolor": "#ffffff"},
    "observed": {"shape": "ellipse", "style": "filled", "fillcolor": "#bdbdbd"},
    "deterministic": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff"},
    "factor": {"shape": "octagon", "style": "filled", "fillcolor": "#fff2cc"},
    "layer": {"shape": "box3d", "style": "filled", "fillcolor": "#dae8fc"},
    "parameter": {"shape": "hexagon", "style": "filled", "fillcolor": "#ffe6cc"},
    "marginalized": {"shape": "doubleoctagon", "style": "filled,dashed", "fillcolor": "#e1d5e7"},
}
"""Graphviz attributes per node class (``node_class``)."""

PASS_COLOR = "#1f5fbf"
DIFF_COLORS = {"added": "#2ca02c", "removed": "#d62728", "changed": "#ff7f0e"}


def node_class(node: Node) -> str:
    """The drawing class of a node: a key of :data:`STYLES`."""
    if isinstance(node, (RandomVariable, Layer)) and node.observed is not None:
        return "observed"
    if isinstance(node, RandomVariable):
        return "latent"
    return node.kind


def _shape_line(prefix: str, shape: tuple[int, ...] | None) -> list[str]:
    return [f"{prefix} {format_shape(shape)}"] if shape else []


def node_label(node: Node, graph: Graph, shape: NodeShape | None = None, width: int = 36) -> list[str]:
    """The lines of a node's label."""
    shape = shape or NodeShape()
    lines = [node.name]
    if isinstance(node, RandomVariable):
        lines.append("~ " + distribution_text(node.dist, graph.env))
        plate = plate_text(shape.batch_shape)
        if plate:
            lines.append(plate)
        lines += _shape_line("event", shape.event_shape)
        if shape.batch_shape is None and shape.event_shape is None:
            lines += _shape_line("shape", shape.shape)
    elif isinstance(node, Layer):
        lines.append("~ " + layer_stack(node.spec))
        for path, wshape in (shape.weights or ())[:6]:
            lines.append(f"{path} {format_shape(wshape)}")
        if shape.weights and len(shape.weights) > 6:
            lines.append(f"… {len(shape.weights) - 6} more weights")
    elif isinstance(node, Deterministic):
        lines.append("= " + shorten(node.expr, width))
        lines += _shape_line("shape", shape.shape)
    elif isinstance(node, Factor):
        lines.append("factor " + shorten(node.expr, width))
    elif isinstance(node, Parameter):
        lines.append("trainable, init " + shorten(node.init, width - 16))
        if node.prior is not None:
            lines.append("prior " + shorten(node.prior, width))
        lines += _shape_line("shape", shape.shape)
    elif isinstance(node, Marginalized):  # discrete latents summed out with the nodes depending on them
        for inner in node.block:
            if inner.name in node.latents:
                lines.append(f"Σ {inner.name} ~ " + distribution_text(inner.dist, graph.env))
        others = [n for n in node.absorbed() if n not in node.latents]
        if others:
            lines.append(shorten("with " + ", ".join(others), width))
    elif isinstance(node, Argument):
        if node.default is not None:
            lines.append("= " + shorten(node.default, width))
        lines += _shape_line("shape", shape.shape)
    if isinstance(node, (RandomVariable, Layer)) and node.observed is not None and not node.observed.isidentifier():
        lines.append("observed " + shorten(node.observed, width))
    lines += info_text(node, width + 8)
    return lines


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs: dict[str, str]) -> str:
    return ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def _node_attrs(node: Node, graph: Graph, shape: NodeShape | None, extra_class: str = "") -> dict[str, str]:
    cls = node_class(node)
    attrs = {"label": "\n".join(node_label(node, graph, shape)), "class": f"{node.kind}{'' if cls == node.kind else ' ' + cls}{extra_class}"}
    attrs.update(STYLES[cls])
    if node.info:
        attrs.update({"color": PASS_COLOR, "penwidth": "2"})
    return attrs


def _edge_attrs(graph: Graph, u: str, v: str) -> dict[str, str]:
    slots = [s for s in graph.edges[u, v].get("slots", ()) if s.isidentifier() and s not in ("expr", "dist", "spec")]
    return {"label": ", ".join(slots)} if slots else {}


def _header(name: str, title: str) -> list[str]:
    return [
        f"digraph {_quote(name)} {{",
        f"  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=12, label={_quote(title)}, labelloc=t];",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555", fontcolor="#555555"];',
    ]


def to_dot(model: Any, *args: Any, show_shapes: bool = True, **kwargs: Any) -> str:
    """Graphviz DOT source of a model's graph (or of a graph, e.g. after passes).

    Parameters
    ----------
    model
        A :class:`~ppgraph.Model` or :class:`~ppgraph.Graph`.
    *args, **kwargs
        Optionally the model's arguments: then every shape is known (see
        :func:`ppgraph.describe`).
    show_shapes
        Put shapes (batch shapes as ``× 8``, layer weight shapes) in the labels.

    Returns
    -------
    str
        One statement per line: ``"name" [attributes];`` per node in graph
        order, then ``"parent" -> "child" [label="slot"];`` per edge.
    """
    from ..model import as_graph
    from .shapes import node_shapes

    graph = as_graph(model)
    shapes = node_shapes(model, *args, **kwargs) if show_shapes else {}
    lines = _header(graph.name, graph.name)
    for name in graph.order():
        node = graph.nodes[name]["node"]
        lines.append(f"  {_quote(name)} [{_attrs(_node_attrs(node, graph, shapes.get(name)))}];")
    order = {n: i for i, n in enumerate(graph.order())}
    for u, v in sorted(graph.edges, key=lambda e: (order[e[1]], order[e[0]])):
        attrs = _edge_attrs(graph, u, v)
        lines.append(f"  {_quote(u)} -> {_quote(v)}" + (f" [{_attrs(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphDiff(NamedTuple):
    """What changed between two graphs (node names and edges)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    added_edges: tuple[tuple[str, str], ...]
    removed_edges: tuple[tuple[str, str], ...]


def graph_diff(before: Any, after: Any) -> GraphDiff:
    """Nodes and edges a pass added, removed or changed.

    A node is *changed* when it is in both graphs with a different node object
    (another kind, distribution, expression or ``info``).

    Examples
    --------
    >>> from ppgraph.ir import Graph, RandomVariable, Deterministic
    >>> a = Graph(name="m", env={})
    >>> a.add(RandomVariable("x", dist="D(0.0)"))
    >>> b = Graph(name="m", env={})
    >>> b.add(RandomVariable("x_raw", dist="D(0.0)"))
    >>> b.add(Deterministic("x", expr="2 * x_raw"))
    >>> graph_diff(a, b)
    GraphDiff(added=('x_raw',), removed=(), changed=('x',), added_edges=(('x_raw', 'x'),), removed_edges=())
    """
    from ..model import as_graph

    g0, g1 = as_graph(before), as_graph(after)
    added = tuple(n for n in g1.order() if n not in g0.nodes)
    removed = tuple(n for n in g0.order() if n not in g1.nodes)
    changed = tuple(
        n for n in g1.order() if n in g0.nodes and g0.nodes[n]["node"] != g1.nodes[n]["node"]
    )
    added_edges = tuple(e for e in g1.edges if not g0.has_edge(*e))
    removed_edges = tuple(e for e in g0.edges if not g1.has_edge(*e))
    return GraphDiff(added, removed, changed, added_edges, removed_edges)


def diff_dot(before: Any, after: Any, *, show_shapes: bool = True) -> str:
    """DOT source of ``after`` with what differs from ``before`` highlighted.

    Added nodes and edges are green, changed nodes orange (with their previous
    source in the label), removed nodes and edges red and dashed.  Each node's
    ``class`` attribute ends with ``added``, ``removed``, ``changed`` or ``same``.
    """
    from ..model import as_graph
    from .shapes import node_shapes

    g0, g1 = as_graph(before), as_graph(after)
    diff = graph_diff(g0, g1)
    shapes1 = node_shapes(g1) if show_shapes else {}
    shapes0 = node_shapes(g0) if show_shapes else {}
    title = (
        f"{g1.name}: {len(diff.added)} added (green), {len(diff.changed)} changed (orange), "
        f"{len(diff.removed)} removed (red)"
    )
    lines = _header(g1.name, title)
    for name in g1.order():
        node = g1.nodes[name]["node"]
        status = "added" if name in diff.added else "changed" if name in diff.changed else "same"
        attrs = _node_attrs(node, g1, shapes1.get(name), f" {status}")
        if status != "same":
            attrs.update({"color": DIFF_COLORS[status], "penwidth": "3"})
        if status == "changed":
            old = g0.nodes[name]["node"]
            attrs["label"] += "\nwas: " + shorten(_summary(old, g0), 40)
        lines.append(f"  {_quote(name)} [{_attrs(attrs)}];")
    for name in diff.removed:
        node = g0.nodes[name]["node"]
        attrs = _node_attrs(node, g0, shapes0.get(name), " removed")
        attrs.update({"color": DIFF_COLORS["removed"], "fontcolor": DIFF_COLORS["removed"], "penwidth": "3",
                      "style": "dashed"})
        lines.append(f"  {_quote(name)} [{_attrs(attrs)}];")
    for u, v in g1.edges:
        attrs = _edge_attrs(g1, u, v)
        if (u, v) in diff.added_edges:
            attrs.update({"color": DIFF_COLORS["added"], "penwidth": "2", "class": "added"})
        lines.append(f"  {_quote(u)} -> {_quote(v)}" + (f" [{_attrs(attrs)}]" if attrs else "") + ";")
    for u, v in diff.removed_edges:
        attrs = {"color": DIFF_COLORS["removed"], "style": "dashed", "class": "removed"}
        lines.append(f"  {_quote(u)} -> {_quote(v)} [{_attrs(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _summary(node: Node, graph: Graph) -> str:
    if isinstance(node, RandomVariable):
        return f"{node.kind} ~ {distribution_text(node.dist, graph.env)}"
    from .labels import node_source

    return f"{node.kind} {node_source(node)}".strip()
