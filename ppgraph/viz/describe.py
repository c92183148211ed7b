"""Node tables: ``pg.describe(model)`` (a list of dicts) and ``print(model)`` (aligned text).

Examples
--------
>>> from ppgraph.ir import Graph, RandomVariable, Deterministic
>>> from ppgraph import dist
>>> g = Graph(name="m", env={"dist": dist})
>>> g.add(RandomVariable("tau", dist="dist.HalfNormal(1.0).expand([3])"))
>>> g.add(Deterministic("s", expr="2 * tau"))
>>> rows = describe(g)
>>> [(r["name"], r["kind"], r["shape"], r["support"], r["parents"]) for r in rows]
[('tau', 'random', (3,), 'positive', []), ('s', 'deterministic', (3,), None, ['tau'])]
>>> print(format_table(g))
model 'm': 2 nodes
name  kind           distribution / expression          parents  shape  support   observed
----  -------------  --------------------------------  -------  -----  --------  --------
tau   random         dist.HalfNormal(1.0).expand([3])            (3,)   positive  no
s     deterministic  2 * tau                            tau      (3,)             -
"""

from __future__ import annotations

from typing import Any

from ..ir import Argument, Factor, Layer, Parameter, RandomVariable
from .labels import layer_stack, node_source, parents_of
from .shapes import format_shape, node_shapes

__all__ = ["describe", "format_table", "COLUMNS"]

COLUMNS = ("name", "kind", "distribution", "parents", "shape", "support", "observed")
"""Keys of every row of :func:`describe` (plus ``"location"``, ``"info"``, ``"batch_shape"``,
``"event_shape"`` and ``"weights"``)."""


def describe(model: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """One dict per node of a model (or graph), in topological order.

    Parameters
    ----------
    model
        A :class:`~ppgraph.Model` or :class:`~ppgraph.Graph`.
    *args, **kwargs
        Optionally the model's arguments (and values of random variables, which
        count as observed): then every shape is known.  Without them only
        static shapes are (``.expand([8])``, constants); the others are ``None``.

    Returns
    -------
    list of dict
        Keys: ``name``; ``kind`` (``argument``, ``random``, ``deterministic``,
        ``factor``, ``layer``, ``parameter``); ``distribution`` (the source of
        the distribution, expression, layer spec, initial value or default);
        ``parents`` (list of node names); ``shape`` (tuple or ``None``);
        ``batch_shape`` / ``event_shape`` (random variables); ``support`` (e.g.
        ``"positive"``, or ``None``); ``observed`` (bool); ``layers`` (a layer's
        stack, e.g. ``"Dense 64 → Tanh → Dense 10"``); ``weights`` (a layer's
        weight shapes by path, when known); ``info`` (dict of what passes
        recorded); ``location`` (``"file.py:LINE"``).

    Raises
    ------
    ModelError
        If data are given and the model fails on them (naming the node).
    """
    from ..model import as_model

    model = as_model(model)
    graph = model.graph
    given_values: set[str] = set()
    if args or kwargs:
        _, values = model.bind(args, kwargs)
        given_values = set(values)
    shapes = node_shapes(model, *args, **kwargs)
    rows = []
    for name in graph.order():
        node = graph.nodes[name]["node"]
        known = shapes.get(name)
        observed = name in given_values or (
            isinstance(node, (RandomVariable, Layer)) and node.observed is not None
        )
        row: dict[str, Any] = {
            "name": name,
            "kind": node.kind,
            "distribution": node_source(node),
            "parents": parents_of(graph, name),
            "shape": known.shape if known else None,
            "support": known.support if known else None,
            "observed": bool(observed),
            "batch_shape": known.batch_shape if known else None,
            "event_shape": known.event_shape if known else None,
            "info": dict(node.info),
            "location": node.location,
        }
        if isinstance(node, Layer):
            row["layers"] = layer_stack(node.spec)
            row["weights"] = dict(known.weights) if known and known.weights is not None else None
        if isinstance(node, Parameter) and node.prior is not None:
            row["prior"] = node.prior
        rows.append(row)
    return rows


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _observed_cell(row: dict[str, Any], node: Any) -> str:
    if isinstance(node, (RandomVariable, Layer)):
        return "yes" if row["observed"] else "no"
    return "-"


def format_table(model: Any, *args: Any, width: int = 36, **kwargs: Any) -> str:
    """The rows of :func:`describe` as an aligned plain-text table (what ``print(model)`` shows).

    ``width`` limits the source column; longer sources end in ``...``.
    """
    from ..model import as_graph

    graph = as_graph(model)
    rows = describe(model, *args, **kwargs)
    header = ("name", "kind", "distribution / expression", "parents", "shape", "support", "observed")
    table = [header]
    for row in rows:
        node = graph.nodes[row["name"]]["node"]
        source = row["distribution"]
        if isinstance(node, Layer):
            source = f"{row['layers']}: {source}"
        elif isinstance(node, Parameter):
            source = f"init {source}" + (f", prior {row['prior']}" if "prior" in row else "")
        elif isinstance(node, Argument) and source:
            source = f"default {source}"
        shape = format_shape(row["shape"])
        if isinstance(node, Factor):
            shape = "()"
        elif isinstance(node, Layer):
            shape = "-"  # its value is a function; its weights' shapes are in the drawing and in "weights"
        table.append(
            (
                row["name"],
                node.kind,
                _cut(source, width),
                _cut(", ".join(row["parents"]), width),
                shape,
                row["support"] or "",
                _observed_cell(row, node),
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [f"model '{graph.name}': {len(rows)} node{'s' if len(rows) != 1 else ''}"]
    for i, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)

