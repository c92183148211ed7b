"""The user-facing compile API: ``pg.source``, ``pg.logpdf``, ``pg.sample_forward``.

These choose the codegen target (and, for ``logpdf_unconstrained``, the pass),
cache the generated function on the model, check the inputs a user passes and
run the result under ``jax.jit`` (Python ``int``/``bool``/``str`` arguments are
static, so they can be used as sizes).  Arrays are inputs of the compiled
function, which is cached per shapes (``pg.clear_cache()`` empties the cache).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .cache import ProgramCache
from .codegen import Compiled, call_mapped, generate
from .datachecks import check_data
from .errors import ModelError
from .ir import Argument, Factor, Graph, Layer, Parameter, RandomVariable
from .ir.expr import ident
from .keys import as_key
from .model import Model, as_model, weights_of

__all__ = [
    "source",
    "logpdf",
    "sample_forward",
    "compiled",
    "value_inputs",
    "latent_names",
    "observed_names",
    "TARGET_NAMES",
    "jit_call",
]

TARGET_NAMES = (
    "sample_forward",
    "logpdf",
    "logpdf_terms",
    "logpdf_unconstrained",
    "deterministics",
    "sample_predictive",
)


def value_inputs(graph: Graph) -> list[str]:
    """Nodes whose values the log density takes: unobserved random variables and layers, parameters."""
    out = []
    for name, node in graph.nodes(data="node"):
        if isinstance(node, (RandomVariable, Layer)) and node.observed is None:
            out.append(name)
        elif isinstance(node, Parameter):
            out.append(name)
    return out


def latent_names(graph: Graph) -> list[str]:
    """Unobserved random-variable and layer nodes (not parameters)."""
    return [n for n in value_inputs(graph) if not isinstance(graph.nodes[n]["node"], Parameter)]


def observed_names(graph: Graph) -> list[str]:
    """Random-variable and layer nodes bound to a value."""
    return [
        n
        for n, node in graph.nodes(data="node")
        if isinstance(node, (RandomVariable, Layer)) and node.observed is not None
    ]


def compiled(
    model: Model | Graph,
    target: str,
    *,
    given: Iterable[str] | None = None,
) -> Compiled:
    """The generated function for a public target name (cached on the model).

    ``target`` is one of :data:`TARGET_NAMES`.  ``given`` (for
    ``sample_predictive``) names the nodes whose values are inputs; by default
    the latent random variables.
    """
    model = as_model(model)
    graph = model.graph
    if target not in TARGET_NAMES:
        raise ModelError(
            f"unknown target '{target}'",
            model=model.name,
            hint=f"targets are {', '.join(TARGET_NAMES)}",
        )
    if target == "sample_predictive" and given is None:
        given = latent_names(graph)
    given_key = tuple(sorted(given)) if given is not None else None
    key = (target, given_key)
    if key in model._cache:
        return model._cache[key]
    if target == "sample_forward":
        result = generate(graph, "sample", label=target, doc="Draw one joint sample of {model} (one fresh key per random variable).")
    elif target == "sample_predictive":
        result = generate(graph, "sample", given=given_key or (), label=target,
                          doc="Draw every node of {model} that is not given, from its values given the inputs.")
    elif target == "deterministics":
        result = generate(graph, "sample", given=value_inputs(graph), label=target, takes_key=False,
                          doc="Compute the deterministic nodes of {model} from the values of its random variables.")
    elif target == "logpdf":
        result = generate(graph, "logpdf", given=value_inputs(graph))
    elif target == "logpdf_terms":
        result = generate(graph, "logpdf", given=value_inputs(graph), terms=True, label=target,
                          doc="Log-density terms of {model}, one per node.")
    else:  # logpdf_unconstrained
        from .passes import to_unconstrained

        ugraph = to_unconstrained(graph)
        result = generate(ugraph, "logpdf", given=value_inputs(ugraph), label=target,
                          doc="Joint log density of {model} in unconstrained space (log-det-Jacobians included).")
    model._cache[key] = result
    return result


def source(model: Model | Graph, target: str = "logpdf", *, graph: Graph | None = None) -> str:
    """Python source of a generated function.

    Parameters
    ----------
    model
        A model (or graph).
    target
        One of ``"sample_forward"``, ``"logpdf"``, ``"logpdf_terms"``,
        ``"logpdf_unconstrained"``, ``"deterministics"``, ``"sample_predictive"``.
    graph
        Compile this (e.g. transformed) graph instead of the model's own.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m():
    ...     x <~ dist.Normal(0.0, 1.0)
    ...     y = 2 * x
    ...     return y
    >>> print(pg.source(m, "logpdf"))
    def m_logpdf(*, x):
        \"\"\"Joint log density of m.\"\"\"
        lp = 0.0
        lp += jnp.sum(dist.Normal(0.0, 1.0).log_prob(x))
        y = 2 * x
        return lp
    <BLANKLINE>
    """
    return compiled(graph if graph is not None else model, target).source


def _is_static(value: Any) -> bool:
    if isinstance(value, (bool, int, str, type(None))) and not isinstance(value, float):
        return True
    return isinstance(value, tuple) and all(_is_static(v) for v in value)


def _as_array(value: Any) -> Any:
    if isinstance(value, (list, np.ndarray)) or (isinstance(value, float)):
        return jnp.asarray(value)
    return value


_JITTED = ProgramCache("compiled_targets", maxsize=512)


def _jitted(fn: Any, static: tuple, mode: str) -> Any:
    """The compiled ``fn`` (data are its inputs: one compile per shapes, see :mod:`ppgraph.cache`)."""

    def build() -> Any:
        bound = functools.partial(fn, **dict(static))
        if mode == "plain":
            return jax.jit(lambda dynamic: bound(**dynamic))
        if mode == "key":
            return jax.jit(lambda key, dynamic: bound(key, **dynamic))
        return jax.jit(jax.vmap(lambda key, dynamic: bound(key, **dynamic), in_axes=(0, None)))

    return _JITTED.get((fn, static, mode), build)


def jit_call(fn: Compiled, inputs: dict[str, Any], *, keys: Any = None, key: Any = None) -> Any:
    """Call a generated function under ``jax.jit`` (static Python scalars), mapping errors to nodes.

    ``keys`` (a batch of PRNG keys) vectorises with ``vmap``; ``key`` passes one key.
    """
    static = tuple(sorted((k, v) for k, v in inputs.items() if _is_static(v)))
    dynamic = {k: _as_array(v) for k, v in inputs.items() if not _is_static(v)}

    def run() -> Any:
        if keys is not None:
            return _jitted(fn.fn, static, "keys")(keys, dynamic)
        if key is not None:
            return _jitted(fn.fn, static, "key")(key, dynamic)
        return _jitted(fn.fn, static, "plain")(dynamic)

    return call_mapped(fn._replace(fn=run))


def _check_arguments(model: Model, bound: dict[str, Any]) -> None:
    graph = model.graph
    missing = [
        n for n in graph.arguments() if n not in bound and graph.nodes[n]["node"].default is None
    ]
    if missing:
        raise ModelError(
            f"missing argument(s) {', '.join(repr(m) for m in missing)}",
            node=missing[0],
            model=model.name,
            location=graph.nodes[missing[0]]["node"].location,
            hint=f"call with {', '.join(f'{m}=...' for m in missing)}",
        )


def _inputs(bound: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {ident(k): v for k, v in {**bound, **values}.items()}


class LogDensity:
    """The compiled joint log density of a model (see :func:`logpdf`)."""

    def __init__(self, model: Model, target: str = "logpdf") -> None:
        self.model = model
        self.target = target
        self.compiled = compiled(model, target)
        self.__doc__ = f"Joint log density of {model.name}; keyword arguments: " + ", ".join(
            [*model.graph.arguments(), *self.compiled.inputs]
        )

    @property
    def source(self) -> str:
        """The generated source."""
        return self.compiled.source

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound, values = self.model.bind(args, kwargs)
        _check_arguments(self.model, bound)
        needed = set(self.compiled.inputs)
        graph = self.compiled.graph
        missing = [n for n in self.compiled.inputs if n not in values]
        if missing:
            raise ModelError(
                f"missing value(s) for {', '.join(repr(m) for m in missing)}",
                node=missing[0],
                model=self.model.name,
                location=graph.nodes[missing[0]]["node"].location,
                hint="the log density takes a value for every random variable that is not observed",
            )
        extra = [n for n in values if n not in needed]
        if extra:
            kind = graph.nodes[extra[0]]["node"].kind if extra[0] in graph.nodes else "unknown"
            raise ModelError(
                f"'{extra[0]}' is a {kind} node: its value is computed, not given",
                node=extra[0],
                model=self.model.name,
                hint="pass values only for unobserved random variables",
            )
        inputs = _inputs(bound, {k: weights_of(v) for k, v in values.items()})
        return jit_call(self.compiled, inputs)




def logpdf(model: Model | Graph, *, terms: bool = False) -> LogDensity:
    """The joint log density of ``model`` as a function of keyword arguments.

    The returned function takes the model's arguments (positionally or by name)
    and one value per unobserved random variable, and returns the scalar joint
    log density; it is jit-compiled and differentiable (``jax.grad`` works).

    Parameters
    ----------
    model
        A model (or graph).
    terms
        Return a dict ``{node: log-density term}`` instead of the sum.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m(s):
    ...     x <~ dist.Normal(0.0, s)
    ...     return x
    >>> lp = pg.logpdf(m)
    >>> round(float(lp(s=1.0, x=0.0)), 4)
    -0.9189
    """
    return LogDensity(as_model(model), "logpdf_terms" if terms else "logpdf")


def sample_forward(
    model: Model | Graph,
    rng_key: Any,
    *args: Any,
    num_samples: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Draw from the model's joint (prior predictive) distribution.

    Parameters
    ----------
    model
        A model (or graph).
    rng_key
        A ``jax.random`` key or an ``int`` seed; every random variable gets its own
        key split from it.
    *args, **kwargs
        The model's arguments.  A keyword naming a random variable fixes its
        value (the rest is drawn given it).
    num_samples
        Draw this many joint samples (vectorised with ``vmap``); each value then
        has a leading axis of that size.

    Returns
    -------
    dict
        Node name -> value, for every random variable, layer and deterministic.

    Examples
    --------
    >>> import jax, ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m():
    ...     x <~ dist.Normal(0.0, 1.0).expand([3])
    ...     return x
    >>> pg.sample_forward(m, jax.random.key(0), num_samples=5)["x"].shape
    (5, 3)
    """
    model = as_model(model)
    bound, values = model.bind(args, kwargs)
    _check_arguments(model, bound)
    check_data(model.graph, {**bound, **values})
    rng_key = as_key(rng_key)
    fn = compiled(model, "sample_predictive", given=values) if values else compiled(model, "sample_forward")
    inputs = _inputs(bound, values)
    if num_samples is None:
        out = jit_call(fn, inputs, key=rng_key)
    else:
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ModelError(f"num_samples must be a positive int, got {num_samples!r}", model=model.name)
        out = jit_call(fn, inputs, keys=jax.random.split(rng_key, num_samples))
    return dict(out)
