"""``pg.sample_predictive``: posterior predictive draws.

For every posterior draw (chains x draws), every node downstream of the
posterior's latent variables is drawn or computed given their values: the
``sample_predictive`` target with the latents given, vectorised with
``jax.vmap`` and jit-compiled.  Observed variables are drawn afresh.  The
draws and array arguments are inputs of the compiled program, which is cached
(:mod:`ppgraph.cache`): new covariates or another posterior of the same shapes
reuse it.

Examples
--------
>>> import jax, jax.numpy as jnp, ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def m(n):
...     mu <~ dist.Normal(0.0, 10.0)
...     y <~ dist.Normal(mu, 1.0).expand([n])
...     return y
>>> post = pg.sample(m, jax.random.key(0), 3, y=jnp.array([1.0, 2.0, 3.0]), num_warmup=100,
...                  num_samples=50, num_chains=2, progress=False)
>>> pred = pg.sample_predictive(m, jax.random.key(1), post)
>>> pred["y"].shape
(2, 50, 3)
"""

from __future__ import annotations

from typing import Any

import jax
import networkx as nx
import numpy as np

from ..cache import ProgramCache
from ..codegen import call_mapped, generate
from ..compile import _check_arguments, _is_static
from ..datachecks import check_data
from ..errors import ModelError
from ..ir import Graph, Layer, RandomVariable
from ..ir.expr import ident
from ..keys import as_key
from ..model import Model, as_model
from ..passes import rebuild
from .posterior import Posterior
from .problem import as_value

__all__ = ["sample_predictive"]


def _released(graph: Graph, keep: set[str]) -> Graph:
    """``graph`` with observed random variables made random again (except those in ``keep``)."""
    replacements = {
        n: [node.replace(observed=None)]
        for n, node in graph.nodes(data="node")
        if isinstance(node, (RandomVariable, Layer)) and node.observed is not None and n not in keep
    }
    return rebuild(graph, replacements) if replacements else graph


_PROGRAMS = ProgramCache("sample_predictive", maxsize=32)


def _program(graph: Graph, latents: list[str], fixed: dict[str, Any], static: dict[str, Any]) -> tuple:
    """The generated function and its compiled vmapped runner (data and draws are its inputs)."""
    released = _released(graph, set(fixed))
    given = tuple(sorted(set(latents) | set(fixed)))
    fn = generate(released, "sample", given=given, label="sample_predictive",
                  doc="Draw every node of {model} that is not given, from its values given the inputs.")
    downstream = set().union(*(nx.descendants(released, n) for n in latents)) - set(given)

    def one(key: Any, latent: dict[str, Any], dynamic: dict[str, Any]) -> dict[str, Any]:
        out = fn.fn(key, **static, **dynamic, **latent)
        return {n: v for n, v in out.items() if n in downstream}

    return fn, jax.jit(jax.vmap(one, in_axes=(0, 0, None))), graph  # the graph: kept alive with its id


def sample_predictive(
    model: Model | Graph,
    rng_key: Any,
    posterior: Posterior,
    *args: Any,
    **kwargs: Any,
) -> dict[str, Any]:
    """Posterior predictive draws of every node downstream of the posterior's variables.

    Parameters
    ----------
    model
        The model (or graph) that was sampled, or one with the same latent
        variables (e.g. taking new covariates).
    rng_key
        A ``jax.random`` key or an ``int`` seed; one key per posterior draw is split from it.
    posterior
        The result of :func:`ppgraph.sample`.
    *args, **kwargs
        The model's arguments (default: those of the posterior's run; those given
        here replace them, e.g. new covariates).  Keywords naming random
        variables fix their values for every draw.

    Returns
    -------
    dict
        Node name -> array ``(chains, draws, ...)``.
    """
    model = as_model(model)
    graph = model.graph
    if not isinstance(posterior, Posterior):
        raise ModelError(f"expected the Posterior returned by pg.sample, got {type(posterior).__name__}",
                         model=model.name)
    bound, fixed = model.bind(args, kwargs)
    inputs = {**{k: v for k, v in posterior.args.items() if k in graph.nodes}, **bound}
    _check_arguments(model, inputs)
    check_data(graph, {**inputs, **fixed})
    rng_key = as_key(rng_key)
    latents = [
        n for n in posterior.samples
        if n in graph.nodes and isinstance(graph.nodes[n]["node"], (RandomVariable, Layer)) and n not in fixed
    ]
    if not latents:
        raise ModelError(
            "none of the posterior's variables is a random variable of this model",
            model=model.name,
            hint=f"the posterior has {sorted(posterior.samples)}; pass the model that was sampled",
        )
    given = tuple(sorted(set(latents) | set(fixed)))
    shape = np.shape(jax.tree.leaves(posterior.samples[latents[0]])[0])[:2]  # a layer's value is a pytree
    num = int(np.prod(shape))
    flat = {ident(n): jax.tree.map(lambda v: v.reshape((num,) + v.shape[2:]), posterior.samples[n]) for n in latents}
    values = {ident(k): as_value(v) for k, v in {**inputs, **fixed}.items()}
    static = {k: v for k, v in values.items() if _is_static(v)}
    dynamic = {k: v for k, v in values.items() if not _is_static(v)}

    key = (id(graph), tuple(latents), tuple(sorted(fixed)), tuple(sorted(static.items())))
    fn, run, _ = _PROGRAMS.get(key, lambda: _program(graph, latents, fixed, static))
    keys = jax.random.split(rng_key, num)
    out = call_mapped(fn._replace(fn=lambda: run(keys, flat, dynamic)))
    return {n: jax.tree.map(lambda v: v.reshape(shape + v.shape[1:]), v) for n, v in out.items()}
