"""Validation of a graph: well-formed node objects, resolved references, no cycles.

Examples
--------
>>> from ppgraph.ir import Graph, Deterministic
>>> g = Graph(name="m")
>>> g.add(Deterministic("b", expr="a + 1"))
>>> validate(g)
Traceback (most recent call last):
...
ppgraph.errors.ModelError: model 'm', node 'b': unknown name 'a' in expr 'a + 1'. Hint: define 'a' before it is used, or pass it as an argument
"""

from __future__ import annotations

from ..errors import ModelError
from .expr import BUILTINS, free_names, ident
from .graph import Graph, _close_names
from .nodes import Node

__all__ = ["validate"]


def validate(graph: Graph) -> Graph:
    """Check ``graph``; return it unchanged or raise :class:`~ppgraph.ModelError`."""
    model = graph.name
    seen_idents: dict[str, str] = {}
    for name, data in graph.nodes(data=True):
        node = data.get("node")
        if not isinstance(node, Node):
            raise ModelError(
                "the node has no node object",
                node=str(name),
                model=model,
                hint="add nodes with Graph.add(node) or GraphBuilder, not networkx's add_node",
            )
        if node.name != name:
            raise ModelError(
                f"the node object is named '{node.name}' but sits at node id '{name}'",
                node=str(name),
                model=model,
            )
        other = seen_idents.setdefault(ident(name), name)
        if other != name:
            raise ModelError(
                f"the names '{other}' and '{name}' clash in generated code",
                node=name,
                model=model,
                hint="rename one of them",
            )
    known = set(graph.env) | BUILTINS
    for name, node in graph.nodes(data="node"):
        parents = set()
        for slot, source in node.expressions().items():
            for ref in free_names(source):
                parent = graph.node_of(ref)
                if parent is not None:
                    if parent == name:
                        raise ModelError(
                            f"the node uses itself in {slot} '{source}'",
                            node=name,
                            model=model,
                            location=node.location,
                            hint="a variable cannot depend on itself",
                        )
                    parents.add(parent)
                elif ref not in known:
                    close = _close_names(ref, list(graph.nodes) + list(graph.env))
                    raise ModelError(
                        f"unknown name '{ref}' in {slot} '{source}'",
                        node=name,
                        model=model,
                        location=node.location,
                        hint=f"did you mean {close}?"
                        if close
                        else f"define '{ref}' before it is used, or pass it as an argument",
                    )
        actual = set(graph.predecessors(name))
        if actual != parents:
            extra = sorted(actual - parents)
            missing = sorted(parents - actual)
            raise ModelError(
                f"the edges into the node do not match what it uses "
                f"(edges not used: {extra}; uses without edge: {missing})",
                node=name,
                model=model,
                hint="call Graph.link() after changing node objects by hand",
            )
    for ret in graph.returns():
        if ret not in graph.nodes:
            raise ModelError(f"the model returns '{ret}', which is not a node", model=model)
    graph.order()  # raises on cycles
    return graph
