"""The graph IR: a ``networkx.DiGraph`` whose nodes carry frozen node objects.

Node id = variable name.  Every node has the attribute ``"node"`` (a
:class:`~ppgraph.ir.nodes.Node`); every edge ``parent -> child`` has the attribute
``"slots"``: the tuple of places in the child where the parent is used
(a distribution parameter name such as ``"loc"``, ``"args[1]"``, a keyword,
``"expr"``, ...).  Graph-level attributes (``graph.graph``):

``name``       the model's name;
``env``        dict of the external names the expressions use (modules,
               functions, constants);
``returns``    the returned node names (a tuple), or ``None``;
``returns_tuple``  whether the model returns a tuple.

Because :class:`Graph` *is* a ``networkx.DiGraph``, every networkx algorithm
works on it directly.

Examples
--------
>>> from ppgraph.ir.nodes import RandomVariable, Deterministic
>>> g = Graph(name="m", env={})
>>> g.add(RandomVariable("a", dist="dist.Normal(0.0, 1.0)"))
>>> g.add(Deterministic("b", expr="2 * a"))
>>> list(g.edges(data="slots"))
[('a', 'b', ('expr',))]
>>> g.order()
['a', 'b']
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Iterator
from typing import Any

import networkx as nx

from ..errors import ModelError
from .expr import ident, parse_expr, split_call, unparse
from .nodes import Node

__all__ = ["Graph"]


class Graph(nx.DiGraph):
    """A model graph (see module docstring)."""

    def __init__(self, incoming_graph_data: Any = None, **attr: Any) -> None:
        super().__init__(incoming_graph_data, **attr)
        self.graph.setdefault("name", "model")
        self.graph.setdefault("env", {})
        self.graph.setdefault("returns", None)
        self.graph.setdefault("returns_tuple", False)

    # -- graph-level attributes -------------------------------------------------
    @property
    def name(self) -> str:
        """The model's name."""
        return self.graph["name"]

    @property
    def env(self) -> dict[str, Any]:
        """External names used by the expressions."""
        return self.graph["env"]

    def copy(self, as_view: bool = False) -> "Graph":  # type: ignore[override]
        """A copy sharing the (immutable) node objects but not the containers."""
        new = super().copy(as_view=as_view)
        if not as_view:
            new.graph["env"] = dict(self.graph["env"])
        return new

    # -- nodes ---------------------------------------------------------------------
    def obj(self, name: str) -> Node:
        """The node object of ``name``; a :class:`ModelError` if there is none."""
        try:
            return self.nodes[name]["node"]
        except KeyError:
            close = _close_names(name, self.nodes)
            raise ModelError(
                f"no node named '{name}'",
                model=self.name,
                hint=f"did you mean {close}?" if close else f"the nodes are {sorted(self.nodes)}",
            ) from None

    def objs(self, kind: type[Node] | tuple[type[Node], ...] = Node) -> Iterator[Node]:
        """Node objects of a kind, in topological order."""
        for name in self.order():
            node = self.nodes[name]["node"]
            if isinstance(node, kind):
                yield node

    def ident_map(self) -> dict[str, str]:
        """Identifier (as used in expressions) -> node name."""
        return {ident(n): n for n in self.nodes}

    def add(self, node: Node) -> None:
        """Add a node object and the edges from the nodes it references.

        References to nodes not in the graph yet are linked by :meth:`link`.
        """
        if node.name in self.nodes:
            raise ModelError(
                f"a node named '{node.name}' exists already",
                node=node.name,
                model=self.name,
                location=node.location,
                hint="give every variable its own name",
            )
        self.add_node(node.name, node=node)
        self._link_node(node)

    def set(self, node: Node) -> None:
        """Replace the node object of ``node.name`` (adding it if new) and relink its parents."""
        if node.name in self.nodes:
            self.remove_edges_from(list(self.in_edges(node.name)))
            self.nodes[node.name]["node"] = node
        else:
            self.add_node(node.name, node=node)
        self._link_node(node)

    def link(self) -> None:
        """Recompute every edge from the node objects' references."""
        self.remove_edges_from(list(self.edges))
        for name in list(self.nodes):
            self._link_node(self.nodes[name]["node"])

    def node_of(self, identifier: str) -> str | None:
        """The node name an expression identifier stands for, or ``None``."""
        if identifier in self.nodes:
            return identifier
        if "__" in identifier:
            dotted = identifier.replace("__", ".")
            if dotted in self.nodes:
                return dotted
        return None

    def _link_node(self, node: Node) -> None:
        for parent_ident, slots in node_slots(node, self.env).items():
            parent = self.node_of(parent_ident)
            if parent is not None and parent != node.name:
                self.add_edge(parent, node.name, slots=slots)

    def order(self) -> list[str]:
        """Node names in a topological order that keeps insertion order where free."""
        position = {n: i for i, n in enumerate(self.nodes)}
        try:
            return list(nx.lexicographical_topological_sort(self, key=position.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = nx.find_cycle(self)
            path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
            raise ModelError(
                f"the graph has a cycle: {path}",
                node=cycle[0][0],
                model=self.name,
                location=self.nodes[cycle[0][0]]["node"].location,
                hint="a variable cannot depend on itself; break the cycle",
            ) from None

    def returns(self) -> tuple[str, ...]:
        """Names of the returned nodes (possibly empty)."""
        return tuple(self.graph.get("returns") or ())

    def arguments(self) -> list[str]:
        """Names of the argument nodes, in insertion order."""
        from .nodes import Argument

        return [n for n, d in self.nodes(data="node") if isinstance(d, Argument)]

    def __repr__(self) -> str:
        return f"<ppgraph.Graph '{self.name}' with {len(self)} nodes>"


@functools.lru_cache(maxsize=1024)
def _param_names(func: Any) -> tuple[str, ...] | None:
    try:
        target = func.__init__ if inspect.isclass(func) else func
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return None
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if inspect.isclass(func) and names and names[0] == "self":
        names = names[1:]
    return tuple(names)


def _resolve(source: str, env: dict[str, Any]) -> Any:
    """Value of a dotted name (``dist.Normal``) in ``env``; ``None`` if it is not one."""
    head, *rest = source.split(".")
    if not head.isidentifier() or head not in env:
        return None
    value = env[head]
    for attr in rest:
        value = getattr(value, attr, None)
        if value is None:
            return None
    return value


def node_slots(node: Node, env: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Free name -> the places in ``node`` where it is used.

    Arguments of a call expression (a distribution or layer constructor) are
    named after the callee's parameters where they can be resolved.
    """
    out: dict[str, list[str]] = {}

    def note(source: str, slot: str) -> None:
        from .expr import free_names

        for name in free_names(source):
            slots = out.setdefault(name, [])
            if slot not in slots:
                slots.append(slot)

    for slot, source in node.expressions().items():
        chain = split_call(source) if slot in ("dist", "spec", "prior") else None
        if chain is None:
            note(source, slot)
            continue
        note(chain.func, slot)
        names = _param_names(_resolve(chain.func, env)) if "(" not in chain.func else None
        for i, arg in enumerate(chain.args):
            label = names[i] if names and i < len(names) else f"args[{i}]"
            note(arg, label)
        for key, arg in chain.kwargs:
            note(arg, key)
        for method, args, kwargs in chain.methods:
            for arg in list(args) + [v for _, v in kwargs]:
                note(arg, method)
    return {k: tuple(v) for k, v in out.items()}


def _close_names(name: str, candidates: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, [str(c) for c in candidates], n=3)
    return " or ".join(f"'{c}'" for c in close)


def normalise(source: str) -> str:
    """Canonical source of an expression (as ``ast.unparse`` writes it)."""
    return unparse(parse_expr(source))
