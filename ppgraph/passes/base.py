"""The pass framework: registry, composition and the local-rewrite driver.

A *pass* is a pure function ``Graph -> Graph``: it never mutates its input, and
running it twice gives the same graph as running it once.  Passes are
registered by name (:func:`register_pass`) so evaluators and users select them
with one call (``compose("to_unconstrained", "reparameterize")``).

A *local rewrite* is a function ``(node, graph) -> list[Node] | None`` that
replaces one node by zero or more nodes (``None``: leave it alone).
:func:`rewrite_nodes` runs one over a graph, keeping the node order readable.

Examples
--------
>>> from ppgraph.ir import Graph, RandomVariable
>>> g = Graph(name="m", env={})
>>> g.add(RandomVariable("x", dist="dist.Normal(0.0, 1.0)"))
>>> def widen(node, graph):
...     if isinstance(node, RandomVariable):
...         return [node.replace(dist=node.dist.replace("1.0", "2.0"))]
>>> rewrite_nodes(g, widen).obj("x").dist
'dist.Normal(0.0, 2.0)'
>>> g.obj("x").dist  # the input is untouched
'dist.Normal(0.0, 1.0)'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ModelError
from ..ir import Graph, Node, validate

__all__ = [
    "Pass",
    "register_pass",
    "get_pass",
    "PASSES",
    "compose",
    "rewrite_nodes",
    "rebuild",
    "graph_pass",
]

Pass = Callable[[Graph], Graph]
PASSES: dict[str, Pass] = {}


def register_pass(name: str) -> Callable[[Pass], Pass]:
    """Register a pass under ``name`` (decorator)."""

    def decorate(fn: Pass) -> Pass:
        PASSES[name] = fn
        fn.pass_name = name  # type: ignore[attr-defined]
        return fn

    return decorate


def get_pass(name_or_fn: str | Pass) -> Pass:
    """A registered pass by name (callables are returned as they are)."""
    if callable(name_or_fn):
        return name_or_fn
    try:
        return PASSES[name_or_fn]
    except KeyError:
        raise ModelError(
            f"no pass named '{name_or_fn}'",
            hint=f"registered passes are {', '.join(sorted(PASSES))}",
        ) from None


def compose(*passes: str | Pass) -> Pass:
    """Chain passes (names or functions) left to right into one pass.

    Examples
    --------
    >>> p = compose("to_unconstrained", "prune")
    >>> callable(p)
    True
    """
    fns = [get_pass(p) for p in passes]

    def composed(graph: Any) -> Graph:
        for fn in fns:
            graph = fn(graph)
        return graph

    composed.pass_name = "+".join(getattr(f, "pass_name", getattr(f, "__name__", "pass")) for f in fns)  # type: ignore[attr-defined]
    return composed


def graph_of(obj: Any) -> Graph:
    """The graph of a model, or the graph itself."""
    from ..model import as_graph

    return as_graph(obj)


def graph_pass(fn: Callable[..., Graph]) -> Callable[..., Graph]:
    """Decorator for whole-graph passes: accept a Model or a Graph, validate the result.

    The wrapped function receives a *copy* of the input graph it may change freely.
    """
    import functools

    @functools.wraps(fn)
    def wrapper(graph: Any, *args: Any, **kwargs: Any) -> Graph:
        work = graph_of(graph).copy()
        return validate(fn(work, *args, **kwargs))

    return wrapper


def rebuild(
    graph: Graph,
    replacements: dict[str, list[Node]],
    env: dict[str, Any] | None = None,
    *,
    replace_env: bool = False,
) -> Graph:
    """A new graph with ``graph``'s nodes in order, each in ``replacements`` swapped for its list.

    ``env`` adds names to the environment; an existing name bound to another
    object is an error unless ``replace_env`` (used for data constants).
    """
    new = Graph(**{k: v for k, v in graph.graph.items() if k != "env"}, env=dict(graph.env))
    if env:
        for key, value in env.items():
            if key in new.env and new.env[key] is not value and not replace_env:
                raise ModelError(f"a pass needs the name '{key}', which the model uses for something else")
            new.env[key] = value
    for name in graph.nodes:
        for node in replacements.get(name, [graph.nodes[name]["node"]]):
            if node.name in new.nodes:
                raise ModelError(
                    f"a pass created a second node named '{node.name}'",
                    node=node.name,
                    model=graph.name,
                    hint="rename the model variable that clashes with the pass's new node",
                )
            new.add_node(node.name, node=node)
    new.link()
    return validate(new)


def rewrite_nodes(
    graph: Any,
    rewrite: Callable[[Node, Graph], list[Node] | None],
    env: dict[str, Any] | None = None,
) -> Graph:
    """Apply a local rewrite to every node of ``graph`` (a Model or Graph); return a new graph."""
    graph = graph_of(graph)
    replacements: dict[str, list[Node]] = {}
    for name in graph.order():
        out = rewrite(graph.nodes[name]["node"], graph)
        if out is not None:
            replacements[name] = list(out)
    if not replacements:
        return graph.copy()
    return rebuild(graph, replacements, env)
