"""``prune``: keep only what some outputs depend on.

Examples
--------
>>> import ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def m(s):
...     a <~ dist.Normal(0.0, 1.0)
...     b <~ dist.Normal(a, s)
...     c <~ dist.Normal(0.0, 1.0)
...     return b, c
>>> sorted(prune(m, "b").nodes)
['a', 'b', 's']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from ..errors import ModelError
from ..ir import Graph
from ..ir.graph import _close_names
from .base import graph_of, rebuild, register_pass

__all__ = ["prune"]


@register_pass("prune")
def prune(graph: Any, outputs: str | Iterable[str] | None = None) -> Graph:
    """Keep the ``outputs`` and their ancestors; drop every other node.

    Parameters
    ----------
    graph
        A model or graph (not modified).
    outputs
        A node name or names.  ``None``: the model's return values.

    Returns
    -------
    Graph
        A new graph of the outputs and everything they depend on, arguments
        included (arguments nothing kept depends on are dropped too); it returns
        ``outputs``.  Likelihood terms of observed nodes that no output depends
        on are dropped with them, so prune for prediction, not before inference.

    Raises
    ------
    ModelError
        An unknown output name, or no outputs and no return value.
    """
    graph = graph_of(graph)
    returns_tuple = None
    if outputs is None:
        outputs = graph.returns()
        returns_tuple = graph.graph.get("returns_tuple", len(outputs) > 1)
        if not outputs:
            raise ModelError(
                "prune needs outputs: the model returns nothing",
                model=graph.name,
                hint="call prune(graph, outputs=[...]) with the node names to keep",
            )
    elif isinstance(outputs, str):
        outputs = [outputs]
    names: list[str] = []
    for key in outputs:
        name = graph.node_of(key) if key not in graph.nodes else key
        if name is None:
            close = _close_names(key, graph.nodes)
            raise ModelError(
                f"cannot prune to '{key}': no such node",
                model=graph.name,
                hint=f"did you mean {close}?" if close else f"the nodes are {sorted(graph.nodes)}",
            )
        if name not in names:
            names.append(name)
    keep = set(names)
    for name in names:
        keep |= nx.ancestors(graph, name)
    source = graph.copy()
    source.graph["returns"] = tuple(names)
    source.graph["returns_tuple"] = len(names) > 1 if returns_tuple is None else returns_tuple
    return rebuild(source, {n: [] for n in graph.nodes if n not in keep})
