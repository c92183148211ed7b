"""The pass framework: registry, composition and the local-rewrite driver.

A *pass* is a pure function ``Graph -> Graph``: it never mutates its input, and
running it twice gives the same graph as running it once.  Passes are
registered by name (:func:`register_pass`) so evaluators and users select them
with one call (``compose("to_unconstrained", "reparameterize")``).

A *local rewrite* is a function ``(node, graph) -> list[Node] | None`` that
replaces one node by zero or more nodes (``None``: leave it alone); it may
return a :class:`Rewrite` to also add names to the graph's environment.
:func:`rewrite_nodes` runs one over a graph, keeping the node order readable;
:func:`node_rewrite` turns one into a pass.  A *whole-graph pass* is a function
decorated with :func:`graph_pass`: it receives a copy of the graph to change.

Examples
--------
>>> from ppgraph import dist
>>> from ppgraph.ir import Graph, RandomVariable
>>> g = Graph(name="m", env={"dist": dist})
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

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import ModelError
from ..ir import Graph, Node, validate

__all__ = [
    "Pass",
    "Rewrite",
    "register_pass",
    "get_pass",
    "PASSES",
    "compose",
    "rewrite_nodes",
    "rebuild",
    "graph_pass",
    "node_rewrite",
    "graph_of",
]

Pass = Callable[[Graph], Graph]
PASSES: dict[str, Pass] = {}


class Rewrite(NamedTuple):
    """What a local rewrite may return instead of a plain node list.

    ``nodes`` replace the rewritten node; ``env`` adds names (functions, modules,
    constants) the new nodes' expressions use.
    """

    nodes: list[Node]
    env: dict[str, Any]


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

    The wrapped function receives a *copy* of the input graph (its node objects
    are shared but immutable; containers and the environment are fresh) that it
    may change freely with ``Graph.set``, ``Graph.add``, ``remove_node``...;
    edges are recomputed from the node objects before validation.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @graph_pass
    ... def drop_factors(graph):
    ...     graph.remove_nodes_from([n.name for n in graph.objs(pg.ir.Factor)])
    ...     return graph
    >>> @pg.model
    ... def m():
    ...     x <~ dist.Normal(0.0, 1.0)
    ...     return x
    >>> sorted(drop_factors(m).nodes)
    ['x']
    """

    @functools.wraps(fn)
    def wrapper(graph: Any, *args: Any, **kwargs: Any) -> Graph:
        work = graph_of(graph).copy()
        out = fn(work, *args, **kwargs)
        out.link()
        return validate(out)

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
    rewrite: Callable[..., "list[Node] | Rewrite | None"],
    env: dict[str, Any] | None = None,
    **options: Any,
) -> Graph:
    """Apply a local rewrite to every node of ``graph`` (a Model or Graph); return a new graph.

    Parameters
    ----------
    graph
        A model or graph (not modified).
    rewrite
        ``rewrite(node, graph, **options)`` returning the replacement nodes, a
        :class:`Rewrite` (nodes plus environment names), or ``None`` to keep the node.
        It sees the *input* graph (nodes in topological order).
    env
        Names to add to the environment of the result.
    **options
        Passed on to ``rewrite``.
    """
    graph = graph_of(graph)
    replacements: dict[str, list[Node]] = {}
    extra_env: dict[str, Any] = dict(env or {})
    for name in graph.order():
        out = rewrite(graph.nodes[name]["node"], graph, **options)
        if out is None:
            continue
        if isinstance(out, Rewrite):
            for key, value in out.env.items():
                if key in extra_env and extra_env[key] is not value:
                    raise ModelError(f"two rewrites bind the environment name '{key}' to different objects")
                extra_env[key] = value
            out = out.nodes
        replacements[name] = list(out)
    if not replacements:
        return graph.copy()
    return rebuild(graph, replacements, extra_env)


def node_rewrite(
    kinds: type[Node] | tuple[type[Node], ...] = Node,
) -> Callable[[Callable[..., "list[Node] | Rewrite | None"]], Pass]:
    """Turn a local rewrite ``fn(node, graph, **options)`` into a pass (decorator).

    The pass calls ``fn`` on every node of the given ``kinds`` (others are kept)
    and returns a new graph; keyword arguments of the pass go to ``fn``.
    Register it with :func:`register_pass` to select it by name.  Make the rule
    idempotent: mark the nodes it writes (``node.with_info(...)``) and leave
    marked nodes alone.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> from ppgraph.ir import RandomVariable
    >>> @node_rewrite(kinds=RandomVariable)
    ... def widen(node, graph, factor=2.0):
    ...     if node.get_info("widened") or node.observed is not None:
    ...         return None
    ...     return [node.replace(dist=f"{node.dist}.expand([1])").with_info(widened=str(factor))]
    >>> @pg.model
    ... def m():
    ...     x <~ dist.Normal(0.0, 1.0)
    ...     return x
    >>> widen(m).obj("x").dist
    'dist.Normal(0.0, 1.0).expand([1])'
    >>> widen(widen(m)).obj("x").dist  # idempotent
    'dist.Normal(0.0, 1.0).expand([1])'
    """

    def decorate(fn: Callable[..., "list[Node] | Rewrite | None"]) -> Pass:
        @functools.wraps(fn)
        def pass_(graph: Any, **options: Any) -> Graph:
            def local(node: Node, g: Graph, **opts: Any) -> "list[Node] | Rewrite | None":
                return fn(node, g, **opts) if isinstance(node, kinds) else None

            return rewrite_nodes(graph, local, **options)

        pass_.rewrite = fn  # type: ignore[attr-defined]
        return pass_

    return decorate
