"""Discrete latent variables in ``pg.sample``: summed out for NUTS, then recovered exactly.

``pg.sample`` calls :func:`plan` on every model.  When the model has
unobserved discrete random variables, the plan adds the
:func:`~ppgraph.passes.marginalize` pass (so NUTS / HMC run on the continuous
latents alone, on the exact marginal density) and, after sampling,
:meth:`Recovery.recover` draws the discrete values: for every posterior draw of
the continuous variables, one exact draw of the discrete ones from their
conditional distribution (per element for independent elements, by backward
sampling through the eliminated variables for groups, forward filtering
backward sampling for Markov chains).  The deterministic nodes that depend on
them are computed from the recovered values.

Examples
--------
>>> import jax.numpy as jnp, ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def mixture(n):
...     mu <~ dist.Normal(0.0, 5.0)
...     z <~ dist.Bernoulli(0.5).expand([n])
...     y <~ dist.Normal(jnp.where(z == 1, mu, -mu), 1.0)
...     return y
>>> y = jnp.array([-3.1, 2.9, 3.2, -2.8])
>>> post = pg.sample(mixture, 0, 4, y=y, num_warmup=200, num_samples=100, num_chains=1, progress=False)
>>> post.samples["z"].shape
(1, 100, 4)
>>> agree = (post.samples["z"] == (y > 0)).mean(axis=(0, 1))    # labels up to the sign of mu
>>> bool(jnp.all(agree > 0.9) or jnp.all(agree < 0.1))
True
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from ..codegen import call_mapped, generate
from ..compile import latent_names, value_inputs
from ..enumeration import support_values
from ..errors import ModelError, SupportError
from ..ir import Deterministic, Marginalized, RandomVariable
from ..ir.expr import ident
from ..model import Model, as_model, weights_of
from ..passes import rebuild
from ..passes.marginalize import discrete_latents, marginalize
from .problem import Problem, _check_observed

__all__ = ["Recovery", "plan", "recover"]


class Recovery:
    """What ``pg.sample`` does for a model with discrete latents ``names``.

    Attributes
    ----------
    names
        The unobserved discrete random variables (summed out, then recovered).
    passes
        The passes to run before the evaluator's (``("marginalize",)``).
    """

    passes = ("marginalize",)

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.all_names: tuple[str, ...] = ()

    def attach(self, problem: Problem) -> None:
        """Restrict ``problem``'s outputs to what the continuous draws determine (the rest is recovered)."""
        absorbed = {n for node in problem.graph.objs(Marginalized) for n in node.absorbed()}
        check_observed(problem, absorbed)
        self.all_names = problem.names
        problem.names = tuple(n for n in problem.names if n not in absorbed)
        problem.constrain_at = functools.partial(problem._core.constrain_at, names=problem.names)

    def exact_posterior(self, problem: Problem, rng_key: Any, num_chains: int, num_samples: int) -> Any:
        """The posterior when no continuous latent is left: independent exact draws (no sampler)."""
        from .posterior import Posterior

        samples = recover(problem, {}, rng_key, names=self.all_names or problem.names,
                          shape=(num_chains, num_samples))
        return Posterior(samples, {}, model=problem.model, args=problem.args, observed=problem.observed,
                         kernel="exact", info={"exact": True})

    def recover(self, problem: Problem, samples: dict[str, Any], rng_key: Any, batch_size: int = 256) -> dict[str, Any]:
        """``samples`` plus exact conditional draws of the discrete latents and the nodes depending on them."""
        return recover(problem, samples, rng_key, names=self.all_names or problem.names, batch_size=batch_size)


_FIRST, _ZEROS, _CHECK = "_ppgraph_first_value", "_ppgraph_zeros", "_ppgraph_check_observed"


def check_observed(problem: Problem, absorbed: set[str]) -> None:
    """The observed-data checks of ``pg.sample`` for observed nodes inside summed-out blocks.

    The problem's own probe no longer sees them; here the model runs once with every
    discrete latent at its first value and the continuous ones at zero.

    Raises
    ------
    SupportError
        An observed value of a wrong dtype or outside its distribution's support.
    """
    graph = problem.conditioned
    if not any(isinstance(graph.nodes[n]["node"], RandomVariable) and graph.nodes[n]["node"].observed is not None
               for n in absorbed if n in graph.nodes):
        return
    discrete = set(discrete_latents(graph))

    def first(d: Any) -> Any:
        values, chain = support_values("", d)
        return jnp.broadcast_to(values[0], d.shape())

    def check(d: Any, value: Any, name: str) -> Any:
        _check_observed(graph, name, d, value, True)
        return value

    replacements = {}
    for name in graph.nodes:
        node = graph.nodes[name]["node"]
        if not isinstance(node, RandomVariable):
            continue
        if node.observed is not None:
            expr = f"{_CHECK}({node.dist}, {node.observed}, {name!r})" if name in absorbed else node.observed
        else:
            expr = f"{_FIRST if name in discrete else _ZEROS}({node.dist})"
        replacements[name] = [Deterministic(name, expr=expr, location=node.location, info=node.info)]
    env = {_FIRST: first, _ZEROS: lambda d: jnp.zeros(d.shape()), _CHECK: check}
    fn = generate(rebuild(graph, replacements, env=env), "sample", label="check_observed", takes_key=False)
    try:
        call_mapped(fn, **{ident(k): v for k, v in problem.args.items()})
    except SupportError:
        raise
    except ModelError:  # a problem the sampler's own checks report better (e.g. non-finite density)
        pass


def plan(model: Model | Any, args: tuple, kwargs: dict[str, Any]) -> Recovery | None:
    """The recovery plan of a call ``pg.sample(model, key, *args, **kwargs)``; ``None`` without discrete latents."""
    model = as_model(model)
    _, observed = model.bind(args, kwargs)
    names = tuple(n for n in discrete_latents(model.graph) if n not in observed)
    return Recovery(names) if names else None


def recover(problem: Problem, samples: dict[str, Any], rng_key: Any, *, names: tuple[str, ...] | None = None,
            batch_size: int = 256, shape: tuple[int, int] | None = None) -> dict[str, Any]:
    """Exact conditional draws of the summed-out variables, one per draw of the continuous ones.

    Parameters
    ----------
    problem
        The problem NUTS sampled (its ``conditioned`` graph is the model with the data bound).
    samples
        Draws of the continuous latents (name -> array ``(chains, draws, ...)``).
    rng_key
        A ``jax.random`` key.
    names
        The names to return, in order (default: every latent and deterministic node).
    batch_size
        Draws recovered at once (bounds memory).
    shape
        ``(chains, draws)`` when ``samples`` holds no continuous draws (then the draws are independent).

    Returns
    -------
    dict
        ``samples`` with the discrete latents and the deterministic nodes depending on them added.
    """
    conditioned = problem.conditioned
    mgraph = marginalize(conditioned)
    continuous = tuple(value_inputs(mgraph))
    latents = tuple(latent_names(conditioned))
    drawer = generate(mgraph, "recover", given=continuous, label="recover")
    determ = generate(conditioned, "sample", given=latents, label="deterministics", takes_key=False,
                      doc="Compute the deterministic nodes of {model} from the values of its random variables.")
    argkw = {ident(k): v for k, v in problem.args.items()}
    chains, draws = shape if shape is not None else jnp.shape(samples[continuous[0]])[:2]
    flat = {k: jnp.reshape(samples[k], (chains * draws, *jnp.shape(samples[k])[2:])) for k in continuous}
    keys = jax.random.split(rng_key, chains * draws)

    def one(args: tuple[Any, dict[str, Any]]) -> dict[str, Any]:
        key, values = args
        drawn = call_mapped(drawer, key, **argkw, **{ident(k): weights_of(v) for k, v in values.items()})
        every = {**values, **drawn}
        computed = call_mapped(determ, **argkw, **{ident(k): weights_of(every[k]) for k in latents})
        return {**computed, **drawn}

    out = jax.jit(lambda k, f: jax.lax.map(one, (k, f), batch_size=min(batch_size, chains * draws)))(keys, flat)
    names = names if names is not None else tuple(out)
    result = {}
    for name in names:
        if name in samples:
            result[name] = samples[name]
        elif name in out:
            result[name] = jnp.reshape(out[name], (chains, draws, *jnp.shape(out[name])[1:]))
    return result
