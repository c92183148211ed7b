"""Post-parse step: find the input of each layer node from the first call of the layer.

A ``Layer`` node's weight shapes come from its input's shape.  Both front ends
call :func:`infer_layer_inputs` on the finished graph: for every layer without an
``input``, the argument of the first expression calling it (``net(x)``) becomes
its ``input``, which adds the edges ``x -> net`` (the layer is ordered after its
input).  Calls whose argument depends on the layer itself (``net(net(x))``'s
outer call) are skipped.

Examples
--------
>>> from ppgraph.ir import Graph, Argument, Layer, Deterministic
>>> g = Graph(name="m", env={})
>>> g.add(Argument("x"))
>>> g.add(Layer("net", spec="nn.Dense(3, p)"))
>>> g.add(Deterministic("h", expr="net(net(x * 2))"))
>>> infer_layer_inputs(g).obj("net").input
'x * 2'
>>> g.obj("net").input is None  # the input graph is not modified
True
"""

from __future__ import annotations

import ast

import networkx as nx

from ..ir import Graph, Layer
from ..ir.expr import free_names, ident, parse_expr, unparse

__all__ = ["infer_layer_inputs"]


def infer_layer_inputs(graph: Graph) -> Graph:
    """A graph where every layer node applied somewhere has its ``input`` set (a copy if anything changes)."""
    pending = [n for n in graph.order() if isinstance(graph.nodes[n]["node"], Layer) and graph.nodes[n]["node"].input is None]
    if not pending:
        return graph
    out = graph.copy()
    for layer_name in pending:
        source = _first_input(out, layer_name)
        if source is not None:
            out.set(out.obj(layer_name).replace(input=source))
    return out


def _first_input(graph: Graph, layer_name: str) -> str | None:
    layer_id = ident(layer_name)
    banned = {ident(n) for n in nx.descendants(graph, layer_name)} | {layer_id}
    for name in graph.order():
        if name == layer_name:
            continue
        for source in graph.nodes[name]["node"].expressions().values():
            if layer_id not in free_names(source):
                continue
            for call in ast.walk(parse_expr(source)):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id == layer_id
                    and call.args
                    and not isinstance(call.args[0], ast.Starred)
                ):
                    arg = unparse(call.args[0])
                    if not banned.intersection(free_names(arg)):
                        return arg
    return None
