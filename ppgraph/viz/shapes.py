"""Shapes, batch shapes and supports of a model's nodes, for tables and drawings.

Shapes need data.  :func:`node_shapes` traces the model's ``sample`` code with
:func:`jax.eval_shape` (nothing is computed, nothing is drawn):

* with the model's arguments given, every node gets its shape;
* without them, the nodes that do not depend on a required argument still get
  theirs (``dist.Normal(0., 1.).expand([8])`` is known to be ``(8,)``), the rest
  stay unknown (``None``, shown as ``"?"``).

For a random variable the distribution's ``batch_shape`` and ``event_shape``
and its ``support`` are recorded too; for a layer the shapes of its weights.

Examples
--------
>>> from ppgraph.ir import Graph, RandomVariable
>>> from ppgraph import dist
>>> g = Graph(name="m", env={"dist": dist})
>>> g.add(RandomVariable("x", dist="dist.Exponential(1.0).expand([3, 2])"))
>>> info = node_shapes(g)["x"]
>>> info.shape, info.batch_shape, info.support
((3, 2), (3, 2), 'positive')
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import jax
import numpy as np

from ..errors import ModelError
from ..ir import Graph, Layer, RandomVariable
from ..ir.expr import ident

__all__ = ["NodeShape", "node_shapes", "constraint_name", "static_support", "format_shape"]


class NodeShape(NamedTuple):
    """What is known about one node's value without computing it (``None``: unknown)."""

    shape: tuple[int, ...] | None = None
    batch_shape: tuple[int, ...] | None = None
    event_shape: tuple[int, ...] | None = None
    support: str | None = None
    weights: tuple[tuple[str, tuple[int, ...]], ...] | None = None


def format_shape(shape: tuple[int, ...] | None) -> str:
    """``(8, 3)`` -> ``"(8, 3)"``; ``()`` -> ``"()"``; unknown -> ``"?"``."""
    if shape is None:
        return "?"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def constraint_name(constraint: Any) -> str | None:
    """A short name for a numpyro constraint (``Positive()`` -> ``"positive"``); ``None`` if unknown.

    Examples
    --------
    >>> from numpyro.distributions import constraints
    >>> constraint_name(constraints.unit_interval), constraint_name(constraints.simplex)
    ('unit_interval', 'simplex')
    >>> constraint_name(constraints.independent(constraints.real, 1))
    'real'
    """
    from numpyro.distributions import constraints as c

    if constraint is None or isinstance(constraint, (property, c._Dependent)):  # depends on parameters
        return None
    while isinstance(constraint, c.independent):
        constraint = constraint.base_constraint
    if not isinstance(constraint, c.Constraint):
        return None
    name = type(constraint).__name__.lstrip("_")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def static_support(node: RandomVariable, graph: Graph) -> str | None:
    """The support of ``node`` known from its distribution class alone (no data)."""
    from ..supports import support_of

    try:
        return constraint_name(support_of(node, graph))
    except Exception:  # a support that cannot be read statically is simply unknown
        return None


def _shape_of(value: Any) -> tuple[int, ...] | None:
    if hasattr(value, "shape") and isinstance(getattr(value, "shape"), tuple):
        return tuple(int(d) for d in value.shape)
    if isinstance(value, (bool, int, float, complex, np.number)):
        return ()
    if isinstance(value, (list, tuple)):
        try:
            return tuple(np.shape(np.asarray(value)))
        except Exception:
            return None
    return None


def weights_of(value: Any) -> tuple[tuple[str, tuple[int, ...]], ...] | None:
    from ..model import weights_of as network_weights

    # a network's weights by the network-value protocol (lifted modules have no .weights), else .weights
    weights = network_weights(value) if hasattr(value, "__ppgraph_weights__") else getattr(value, "weights", None)
    if weights is None:
        return None
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(weights):
        key = ".".join(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))) for p in path)
        shape = _shape_of(leaf)
        if shape is not None:
            out.append((key, shape))
    return tuple(out)


def _is_static(value: Any) -> bool:
    if isinstance(value, (bool, int, str, type(None))):
        return True
    return isinstance(value, tuple) and all(_is_static(v) for v in value)


def _trace(graph: Graph, inputs: dict[str, Any], given: tuple[str, ...]) -> dict[str, NodeShape]:
    """Trace the ``sample`` code of ``graph`` abstractly and record every node's shape."""
    from ..codegen import generate
    from ..codegen.base import call_mapped

    compiled = generate(graph, "sample", given=given, label="shapes")
    static = {k: v for k, v in inputs.items() if _is_static(v)}
    dynamic = {k: v for k, v in inputs.items() if not _is_static(v)}
    found: dict[str, NodeShape] = {}

    def run(key: Any, dyn: dict[str, Any]) -> int:
        out = dict(call_mapped(compiled, key, **static, **dyn))
        namespace = {**graph.env, **_defaults(graph, inputs), **static, **dyn, **{ident(k): v for k, v in out.items()}}
        for name in graph.order():
            node = graph.nodes[name]["node"]
            value = namespace.get(ident(name))
            if isinstance(node, RandomVariable):
                try:
                    d = eval(node.dist, namespace)  # noqa: S307 - the model's own expression
                    batch, event = tuple(d.batch_shape), tuple(d.event_shape)
                    support = constraint_name(d.support)
                except Exception:  # a distribution that cannot report its shapes: unknown
                    batch = event = support = None
                found[name] = NodeShape(_shape_of(value), batch, event, support)
            elif isinstance(node, Layer):
                found[name] = NodeShape(_shape_of(value) if hasattr(value, "shape") else None, weights=weights_of(value))
            elif ident(name) in namespace:
                found[name] = NodeShape(_shape_of(value))
        return 0

    jax.eval_shape(run, jax.random.key(0), dynamic)
    return found


def _defaults(graph: Graph, inputs: dict[str, Any]) -> dict[str, Any]:
    """Values of the arguments not given that have a default (evaluated in the graph's env)."""
    out = {}
    for name in graph.arguments():
        default = graph.nodes[name]["node"].default
        if default is not None and ident(name) not in inputs:
            try:
                out[ident(name)] = eval(default, dict(graph.env))  # noqa: S307 - the model's own default
            except Exception:  # an unevaluable default stays unknown
                continue
    return out


def _static_subgraph(graph: Graph, failed: set[str] = frozenset()) -> Graph:
    """The nodes that depend neither on a required argument nor on a node in ``failed``."""
    import networkx as nx

    blocked: set[str] = set()
    roots = [n for n in graph.arguments() if graph.nodes[n]["node"].default is None] + sorted(failed)
    for name in roots:
        blocked.add(name)
        blocked |= nx.descendants(graph, name)
    sub = Graph(name=graph.name, env=dict(graph.env))
    for name in graph.nodes:
        if name not in blocked:
            sub.add_node(name, node=graph.nodes[name]["node"])
    sub.link()
    return sub


def node_shapes(model: Any, *args: Any, **kwargs: Any) -> dict[str, NodeShape]:
    """Shapes (and supports, weight shapes) of every node of a model or graph.

    Parameters
    ----------
    model
        A :class:`~ppgraph.Model` or :class:`~ppgraph.Graph`.
    *args, **kwargs
        The model's arguments, and values of random variables (treated as given).
        Without them only what is static is known.

    Returns
    -------
    dict
        Node name -> :class:`NodeShape`; fields left ``None`` are unknown.

    Raises
    ------
    ModelError
        When data are given and the model fails on them (e.g. shapes that do
        not broadcast; the error names the node).
    """
    from ..model import as_model

    model = as_model(model)
    graph = model.graph
    result: dict[str, NodeShape] = {name: NodeShape() for name in graph.nodes}
    for name in graph.nodes:
        node = graph.nodes[name]["node"]
        if isinstance(node, RandomVariable):
            result[name] = NodeShape(support=static_support(node, graph))
    if args or kwargs:
        bound, values = model.bind(args, kwargs)
        missing = [n for n in graph.arguments() if n not in bound and graph.nodes[n]["node"].default is None]
        if missing:
            raise ModelError(
                f"shapes need every argument; missing {', '.join(repr(m) for m in missing)}",
                node=missing[0],
                model=model.name,
                hint="pass all the model's arguments, or none to see the static shapes",
            )
        inputs = {ident(k): v for k, v in {**bound, **values}.items()}
        traced = _trace_mapped(graph, inputs, tuple(sorted(values)))
        for name, value in {**bound, **values}.items():
            prior = result[name]
            traced[name] = NodeShape(_shape_of(value), *(traced.get(name, prior)[1:]))
        for name, shape in traced.items():
            result[name] = shape._replace(support=shape.support or result[name].support)
        _default_shapes(graph, inputs, result)
        return result
    key = ("viz", "static_shapes")
    if key not in model._cache:
        model._cache[key] = _static_trace(graph)
    for name, shape in model._cache[key].items():
        result[name] = shape._replace(support=shape.support or result[name].support)
    _default_shapes(graph, {}, result)
    _observed_shapes(graph, result)
    return result


def _observed_shapes(graph: Graph, result: dict[str, NodeShape]) -> None:
    """Shapes of observed variables from their bound values (data constants of the graph)."""
    for name in graph.nodes:
        node = graph.nodes[name]["node"]
        observed = getattr(node, "observed", None)
        if isinstance(node, RandomVariable) and observed is not None and result[name].shape is None:
            try:
                value = eval(observed, dict(graph.env))  # noqa: S307 - the graph's own constant
            except Exception:  # depends on other nodes: unknown without data
                continue
            result[name] = result[name]._replace(shape=_shape_of(value))


def _static_trace(graph: Graph) -> dict[str, NodeShape]:
    """Shapes of the nodes that need no data; a node that cannot be traced alone (an improper
    prior cannot be sampled, ...) is left out with what depends on it, and the rest retried."""
    failed: set[str] = set()
    for _ in range(len(graph) + 1):
        try:
            return _trace(_static_subgraph(graph, failed), {}, ())
        except ModelError as err:
            if err.node is None or err.node not in graph.nodes or err.node in failed:
                return {}
            failed.add(err.node)
        except Exception:  # e.g. a node kind without codegen rules: everything stays unknown
            return {}
    return {}


def _default_shapes(graph: Graph, inputs: dict[str, Any], result: dict[str, NodeShape]) -> None:
    for name, value in _defaults(graph, inputs).items():
        name = graph.node_of(name) or name
        if result.get(name, NodeShape()).shape is None:
            result[name] = NodeShape(_shape_of(value))


def _trace_mapped(graph: Graph, inputs: dict[str, Any], given: tuple[str, ...]) -> dict[str, NodeShape]:
    """:func:`_trace`; an error not inside one node's code becomes a ModelError about the data."""
    try:
        return _trace(graph, inputs, given)
    except ModelError:
        raise
    except Exception as err:
        raise ModelError(
            f"the model fails on the given data: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}",
            model=graph.name,
            hint="check the arguments' types and shapes",
        ) from None
