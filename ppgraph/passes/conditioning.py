"""``observe`` (condition on data) and ``do`` (intervene).

``observe(graph, y=data)`` binds values to random variables (or layers): they
stay random variables, their log-density terms stay in the joint density, and
their values become constants of the graph (``y_observed`` in the environment).

``do(graph, x=value)`` cuts ``x`` from its parents: the node becomes a
deterministic constant; its prior term leaves the joint density.

Both work after ``reparameterize`` and ``to_unconstrained``: observing a node
those passes turned into a deterministic (``x = loc + scale * x_decentered``)
restores the random variable ``x ~ prior`` (now observed) and drops its
pass-made twin; ``do`` drops the twin too.
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelError
from ..model import weights_of
from ..ir import Argument, Deterministic, Graph, Layer, Node, RandomVariable
from ..ir.expr import free_names, ident, rename
from .base import graph_of, rebuild, register_pass

__all__ = ["observe", "do"]


def _constant_name(graph: Graph, name: str, suffix: str, taken: set[str]) -> str:
    base = f"{ident(name)}_{suffix}"
    candidate, i = base, 1
    while candidate in graph.env or graph.node_of(candidate) is not None or candidate in taken:
        i += 1
        candidate = f"{base}{i}"
    return candidate


def _structure_only(graph: Graph, name: str, spec: str, env: dict[str, Any]) -> str:
    """A layer's spec with the other nodes it reads (its prior's parameters) replaced by a constant 1.0.

    ``spec.network(weights)`` uses the layer's structure and the given weights, never the
    prior: reading latent nodes there would keep edges into a node ``do()`` cuts off.
    Arguments (data, sizes) stay: they may shape the network.
    """
    refs = {n: None for n in free_names(spec)
            if graph.node_of(n) is not None and not isinstance(graph.nodes[graph.node_of(n)]["node"], Argument)}
    if not refs:
        return spec
    placeholder = _constant_name(graph, name, "prior_placeholder", set(env))
    env[placeholder] = 1.0
    return rename(spec, {n: placeholder for n in refs})


_TWIN_KEYS = ("decentered", "constrained_from")


def _twin(graph: Graph, node: Node) -> str | None:
    """The latent twin a pass made for ``node`` (``x_decentered``, ``x_unconstrained``), if any."""
    if not isinstance(node, Deterministic) or (node.get_info("prior") is None and node.get_info("layer_spec") is None):
        return None
    for key in _TWIN_KEYS:
        twin = node.get_info(key)
        if twin is not None and twin in graph.nodes and set(graph.successors(twin)) <= {node.name}:
            return twin
    return None


def _restored(graph: Graph, node: Node) -> RandomVariable | Layer | None:
    """The random variable (or layer) ``node`` was before a pass made it a deterministic of a twin."""
    twin = _twin(graph, node)
    if twin is None:
        return None
    info = {k: v for k, v in node.info if k not in ("prior", "layer_spec", "reparameterized", *_TWIN_KEYS)}
    spec = node.get_info("layer_spec")
    if spec is not None:
        twin_node = graph.nodes[twin]["node"]
        return Layer(node.name, spec=spec, input=getattr(twin_node, "input", None), location=node.location,
                     info=tuple(sorted(info.items())))
    return RandomVariable(
        node.name, dist=node.get_info("prior"), location=node.location, info=tuple(sorted(info.items()))
    )


def _check_names(graph: Graph, values: dict[str, Any], action: str, kinds: tuple[type, ...]) -> dict[str, str]:
    resolved = {}
    for key in values:
        name = graph.node_of(key) if key not in graph.nodes else key
        if name is None:
            from ..ir.graph import _close_names

            close = _close_names(key, graph.nodes)
            raise ModelError(
                f"cannot {action} '{key}': no such node",
                model=graph.name,
                hint=f"did you mean {close}?" if close else f"the nodes are {sorted(graph.nodes)}",
            )
        node = graph.nodes[name]["node"]
        if not isinstance(node, kinds) and _restored(graph, node) is None:
            raise ModelError(
                f"cannot {action} '{name}': it is a {node.kind} node",
                node=name,
                model=graph.name,
                location=node.location,
                hint="observe random variables or layers; use do() to fix deterministic values"
                if action == "observe"
                else "do() fixes random variables, layers and deterministic nodes",
            )
        resolved[key] = name
    return resolved


@register_pass("observe")
def observe(graph: Any, **values: Any) -> Graph:
    """Condition on observed values: bind ``values`` to random variables (or layers).

    Parameters
    ----------
    graph
        A model or graph (not modified).
    **values
        Node name -> observed value (arrays, numbers, or a sampled network for a layer).

    Returns
    -------
    Graph
        A new graph; observing an already observed node replaces its value.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m():
    ...     mu <~ dist.Normal(0.0, 1.0)
    ...     y <~ dist.Normal(mu, 1.0)
    ...     return y
    >>> g = observe(m, y=0.5)
    >>> g.obj("y").observed
    'y_observed'
    """
    graph = graph_of(graph)
    blocks = _absorbing(graph, values)
    if blocks:
        return _observe_inside(graph, blocks, values)
    names = _check_names(graph, values, "observe", (RandomVariable, Layer))
    replacements: dict[str, list[Node]] = {}
    env: dict[str, Any] = {}
    for key, value in values.items():
        name = names[key]
        node = graph.nodes[name]["node"]
        restored = _restored(graph, node)
        if restored is not None:
            replacements[_twin(graph, node)] = []  # type: ignore[index]
            node = restored
        old = node.observed
        const = old if old is not None and old.isidentifier() and old in graph.env else _constant_name(graph, name, "observed", set(env))
        env[const] = weights_of(value)
        replacements[name] = [node.replace(observed=const)]
    return rebuild(graph, replacements, env=env, replace_env=True)


def _absorbing(graph: Graph, values: dict[str, Any]) -> list[Node]:
    """The ``Marginalized`` nodes whose block holds a node named by a key of ``values``."""
    wanted = set(values)
    found: dict[str, Node] = {}
    for name, node in graph.nodes(data="node"):
        inside = getattr(node, "block", None)
        if node.kind != "marginalized" or not inside:
            continue
        if any(b.name in wanted or ident(b.name) in wanted for b in inside):
            found[name] = node
    return list(found.values())


def _observe_inside(graph: Graph, blocks: list[Node], values: dict[str, Any]) -> Graph:
    """Observe nodes summed out by ``marginalize``: expand their blocks, observe, sum out again.

    The result equals observing before marginalising: the block's nodes come back as
    they were written, the values are bound, and the block's latents that are still
    latent are summed out again.
    """
    from .marginalize import marginalize

    expanded = rebuild(graph, {m.name: list(m.block) for m in blocks})
    conditioned = observe(expanded, **values)
    keys = set(values) | {ident(k) for k in values}
    still = [n for m in blocks for n in m.latents if n not in keys and ident(n) not in keys]
    return marginalize(conditioned, names=still) if still else conditioned


@register_pass("do")
def do(graph: Any, **values: Any) -> Graph:
    """Intervene: set nodes to fixed values, cutting their incoming edges.

    The node becomes a ``Deterministic`` constant (``x = x_do``); its prior term
    leaves the joint density; everything downstream sees the value.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m():
    ...     mu <~ dist.Normal(0.0, 1.0)
    ...     y <~ dist.Normal(mu, 1.0)
    ...     return y
    >>> g = do(m, mu=2.0)
    >>> type(g.obj("mu")).__name__, list(g.predecessors("mu"))
    ('Deterministic', [])
    """
    graph = graph_of(graph)
    names = _check_names(graph, values, "do", (RandomVariable, Layer, Deterministic))
    replacements: dict[str, list[Node]] = {}
    env: dict[str, Any] = {}
    for key, value in values.items():
        name = names[key]
        node = graph.nodes[name]["node"]
        twin = _twin(graph, node)
        if twin is not None:
            replacements[twin] = []
        prev = node.get_info("do")
        const = prev if prev is not None and prev in graph.env else _constant_name(graph, name, "do", set(env))
        # a layer keeps a network as it is (later expressions call it); plain weights get wrapped
        network = isinstance(node, Layer) and callable(value) and hasattr(value, "__ppgraph_weights__")
        env[const] = value if network else weights_of(value)
        spec = node.spec if isinstance(node, Layer) else None
        wrapped = f".network({prev})"
        if node.get_info("intervened") == "layer" and isinstance(node, Deterministic) and node.expr.endswith(wrapped):
            spec = node.expr[: -len(wrapped)]  # a layer intervened on before: do() again keeps it a network
        if spec is not None and not network:
            spec = _structure_only(graph, name, spec, env)
        expr = f"{spec}.network({const})" if spec is not None and not network else const
        info = dict(node.info)
        info.setdefault("intervened", node.kind)
        info["do"] = const
        replacements[name] = [
            Deterministic(name, expr=expr, location=node.location, info=tuple(sorted(info.items())))
        ]
    return rebuild(graph, replacements, env=env, replace_env=True)
