"""The runtime of summed-out discrete variables: what the generated code of a marginalised block calls.

:func:`sum_out` runs a block function (see :mod:`ppgraph.codegen.marginal`)
twice while tracing: once with one value per discrete variable, to learn the
shapes (``jax.eval_shape``, nothing is computed), then with every value of
each variable on its own *enumeration axis*, placed to the left of the deepest
batch shape in the block, so elementwise code broadcasts per element (cost
``n * K``, not ``K ** n``).  Variables are then eliminated one at a time
(``logsumexp`` over their axis), those with the most batch axes first; each
factor is first summed over the batch axes the eliminated variable does not
have.  A :class:`~ppgraph.dist.DiscreteMarkovChain` is eliminated by the
forward algorithm (``jax.lax.scan``, log space, ``O(num_steps * K**2)``).

:func:`draw` eliminates the same way and then draws every discrete variable
from its exact conditional distribution, in reverse order of elimination
(forward filtering, backward sampling for chains).

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from ppgraph import dist
>>> y = jnp.array([-2.0, 2.1, 1.9])
>>> def block(site):
...     z = site("z", dist.Bernoulli(0.5).expand([3]))
...     return {"y": dist.Normal(jnp.where(z == 1, 2.0, -2.0), 1.0).log_prob(y)}
>>> by_hand = jnp.sum(jnp.logaddexp(jnp.log(0.5) + dist.Normal(-2.0, 1.0).log_prob(y),
...                                 jnp.log(0.5) + dist.Normal(2.0, 1.0).log_prob(y)))
>>> bool(jnp.allclose(sum_out(block), by_hand))
True
>>> log_joint(block).shape      # the log density of each element at each value of z
(2, 3)
>>> from jax.scipy.special import logsumexp
>>> bool(jnp.allclose(jnp.sum(logsumexp(log_joint(block), axis=0)), by_hand))
True
>>> draw(block, jax.random.key(0))["z"].tolist()
[0, 1, 1]
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from . import dist as pg_dist
from .errors import ModelError

__all__ = ["sum_out", "log_joint", "draw", "support_values", "MAX_ENUMERATION_BYTES"]

MAX_ENUMERATION_BYTES = 2 * 1024**3
"""Largest array (bytes) the enumeration of one block may need before it is refused."""


class _Site(NamedTuple):
    name: str
    num: int  # number of values
    shape: tuple[int, ...]  # batch shape (event shape (num_steps,) for a chain)
    chain: bool


def _unwrap(d: Any) -> Any:
    from numpyro.distributions import ExpandedDistribution, Independent, MaskedDistribution

    while isinstance(d, (ExpandedDistribution, Independent, MaskedDistribution)):
        d = d.base_dist
    return d


def support_values(name: str, d: Any) -> tuple[jax.Array, bool]:
    """The values of a discrete distribution (1-d), and whether it is a Markov chain.

    Raises
    ------
    ModelError
        ``d`` is continuous, has infinite support or a support that cannot be enumerated.
    """
    base = _unwrap(d)
    kind = type(base).__name__
    if isinstance(base, pg_dist.DiscreteMarkovChain):
        return jnp.arange(base.num_states), True
    if not pg_dist.is_distribution(d) or not pg_dist.is_discrete(d):
        raise ModelError(f"'{name}' is not a discrete random variable ({kind}): it cannot be summed out",
                         node=name, hint="marginalise only discrete latent variables")
    if not getattr(d, "has_enumerate_support", False):
        raise ModelError(
            f"'{name}' ({kind}) has infinite support: its values cannot be summed out",
            node=name,
            hint="observe it, or give it a truncated finite support (e.g. dist.Categorical over 0..K-1 "
            "with the truncated probabilities)",
        )
    if d.event_shape:
        raise ModelError(f"'{name}' ({kind}) has values with event shape {d.event_shape}: only discrete "
                         "variables with scalar values (and DiscreteMarkovChain) can be summed out", node=name,
                         hint="use an integer-valued distribution such as dist.Categorical")
    try:
        values = d.enumerate_support(expand=False)
    except (NotImplementedError, jax.errors.ConcretizationTypeError, TypeError) as err:
        raise ModelError(
            f"the values of '{name}' ({kind}) cannot be listed: {str(err).splitlines()[0]}",
            node=name,
            hint="its support must not depend on other variables (e.g. a Binomial's total count must be a "
            "constant or an argument)",
        ) from None
    return jnp.reshape(values, (-1,)), False


def _probe(fn: Callable) -> tuple[list[_Site], dict[str, tuple[int, ...]]]:
    sites: list[_Site] = []

    def site(name: str, d: Any) -> jax.Array:
        values, chain = support_values(name, d)
        shape = tuple(d.batch_shape) + tuple(d.event_shape)
        if chain and d.batch_shape:
            raise ModelError(f"'{name}' is a batch of Markov chains (batch shape {tuple(d.batch_shape)}): "
                             "only a single chain can be summed out", node=name,
                             hint="write one DiscreteMarkovChain per sequence")
        sites.append(_Site(name, int(values.shape[0]), shape, chain))
        return jnp.broadcast_to(values[0], shape)

    shapes = jax.eval_shape(lambda: fn(site))
    return sites, {k: tuple(v.shape) for k, v in shapes.items()}


def _check_size(sites: list[_Site], depth: int, plates: tuple[int, ...]) -> None:
    shape = tuple(s.num for s in sites) + plates
    size = math.prod(shape) * 4
    if size > MAX_ENUMERATION_BYTES:
        names = ", ".join(f"'{s.name}'" for s in sites)
        raise ModelError(
            f"summing out {names} needs arrays of shape {shape} ({size / 1024**3:.1f} GiB), more than "
            f"the {MAX_ENUMERATION_BYTES / 1024**3:.1f} GiB ppgraph allows",
            node=sites[0].name,
            hint="make the discrete variables depend on each other elementwise (per observation), "
            "reduce their number of values, or observe some of them",
        )


class _Enumeration(NamedTuple):
    sites: list[_Site]
    depth: int
    factors: list[tuple[str, jax.Array]]  # (label, log-density array of ndim len(sites) + depth)
    supports: dict[str, jax.Array]
    chains: dict[str, Any]  # name -> the chain distribution


def _enumerate(fn: Callable) -> _Enumeration:
    sites, term_shapes = _probe(fn)
    m = len(sites)
    depth = max([len(s) for s in term_shapes.values()] + [len(s.shape) for s in sites] + [0])
    index = {s.name: j for j, s in enumerate(sites)}
    lps: dict[str, jax.Array] = {}
    supports: dict[str, jax.Array] = {}
    chains: dict[str, Any] = {}

    def site(name: str, d: Any) -> jax.Array:
        j = index[name]
        s = sites[j]
        values, _ = support_values(name, d)
        supports[name] = values
        axes = (1,) * j + (s.num,) + (1,) * (m - 1 - j)
        value = jnp.broadcast_to(values.reshape(axes + (1,) * depth),
                                 axes + (1,) * (depth - len(s.shape)) + s.shape)
        if s.chain:
            chains[name] = _unwrap(d)
        else:
            lps[name] = d.log_prob(value)
        return value

    terms = fn(site)
    plates: list[int] = [1] * depth
    factors = []
    for label, value in list(lps.items()) + list(terms.items()):
        value = jnp.asarray(value)
        probe = term_shapes.get(label)
        if value.ndim > m + depth or (probe is not None and not _fits(value.shape[value.ndim - len(probe):], probe)):
            raise ModelError(
                f"the log density of '{label}' has shape {value.shape} when {_names(sites)} take all their "
                f"values at once, which does not extend its shape {probe} elementwise: it does not depend on "
                "them elementwise (e.g. an array with extra axes indexed by a scalar discrete variable)",
                node=label,
                hint="index with the discrete variable only along the first axis and let the other "
                "operations broadcast, or sum the variable out by hand with pg.factor",
            )
        value = value.reshape((1,) * (m + depth - value.ndim) + value.shape)
        for p in range(depth):
            plates[p] = max(plates[p], value.shape[m + p])
        factors.append((label, value))
    _check_size(sites, depth, tuple(plates))
    return _Enumeration(sites, depth, factors, supports, chains)


def _fits(shape: tuple[int, ...], probe: tuple[int, ...]) -> bool:
    return all(a == b or a == 1 for a, b in zip(shape, probe))


def _names(sites: list[_Site]) -> str:
    return ", ".join(f"'{s.name}'" for s in sites)


def _padded(site: _Site, depth: int) -> tuple[int, ...]:
    return (1,) * (depth - len(site.shape)) + site.shape


def _eliminate(en: _Enumeration) -> tuple[jax.Array, list[tuple[int, jax.Array]]]:
    """Sum out every site; return the total and, per site in elimination order, its factor."""
    sites, depth = en.sites, en.depth
    m = len(sites)
    batched = {j: {p for p, size in enumerate(_padded(s, depth)) if size > 1} for j, s in enumerate(sites)}
    order = sorted(range(m), key=lambda j: (-len(batched[j]), -j))
    factors = [value for _, value in en.factors]
    remaining = set(range(m))
    kept = []
    for j in order:
        involved = [f for f in factors if f.shape[j] > 1]
        factors = [f for f in factors if f.shape[j] == 1]
        if not involved:
            remaining.discard(j)
            continue
        reduced = []
        for f in involved:  # sum each factor over the batch axes j is not batched along
            for p in range(depth):
                if f.shape[m + p] > 1 and p not in batched[j]:
                    blockers = [i for i in remaining if i != j and p in batched[i] and f.shape[i] > 1]
                    if blockers:
                        raise ModelError(
                            f"'{sites[j].name}' and '{sites[blockers[0]].name}' are coupled across batch axis "
                            f"{p - depth} without a nesting that can be summed exactly per element",
                            node=sites[j].name,
                            hint="make one of them depend on the other elementwise, or observe one of them",
                        )
                    f = jnp.sum(f, axis=m + p, keepdims=True)
            reduced.append(f)
        f = sum(reduced[1:], reduced[0])
        kept.append((j, f))
        factors.append(logsumexp(f, axis=j, keepdims=True))
        remaining.discard(j)
    total = sum((jnp.sum(f) for f in factors), jnp.zeros(()))
    return total, kept


def _emissions(en: _Enumeration) -> jax.Array:
    """Per-state, per-step log likelihood (K, num_steps) of the one chain of a block."""
    (site,) = en.sites
    depth = en.depth
    steps = site.shape[-1]
    e = jnp.zeros((site.num, steps))
    for label, v in en.factors:
        if label == site.name:
            continue
        v = jnp.sum(v, axis=tuple(range(1, depth)))  # other batch axes (replicates of a step)
        v = jnp.broadcast_to(v, (site.num, v.shape[-1]))
        # a term constant along the chain counts once, not once per step
        e = e + v if v.shape[-1] == steps else e.at[:, 0].add(v[:, 0])
    return e


def _chain_params(chain: Any) -> tuple[jax.Array, jax.Array]:
    return jnp.log(chain.initial_probs), jnp.log(chain.transition_probs)


def _forward(log_init: jax.Array, log_trans: jax.Array, e: jax.Array) -> jax.Array:
    """Forward messages alpha (num_steps, K) in log space."""

    def step(alpha: jax.Array, e_t: jax.Array) -> tuple[jax.Array, jax.Array]:
        alpha = logsumexp(alpha[:, None] + log_trans, axis=0) + e_t
        return alpha, alpha

    alpha0 = log_init + e[:, 0]
    _, rest = jax.lax.scan(step, alpha0, e[:, 1:].T)
    return jnp.concatenate([alpha0[None], rest], axis=0)


def _check_chain_group(en: _Enumeration) -> bool:
    if not en.chains:
        return False
    if len(en.sites) > 1:
        raise ModelError(
            f"the Markov chain {_names([s for s in en.sites if s.chain])} shares terms with other discrete "
            f"variables ({_names([s for s in en.sites if not s.chain])}): only a chain on its own can be summed out",
            node=en.sites[0].name,
            hint="observe the other discrete variables, or make the chain's parameters continuous",
        )
    return True


def sum_out(fn: Callable[[Callable], dict[str, jax.Array]]) -> jax.Array:
    """Log of the block's density with its discrete sites summed out (a scalar).

    ``fn(site)`` computes the block: ``site(name, dist)`` returns the value of a
    discrete variable, and ``fn`` returns the log-density terms of the block's
    other nodes (name -> array).
    """
    en = _enumerate(fn)
    if _check_chain_group(en):
        (site,) = en.sites
        log_init, log_trans = _chain_params(en.chains[site.name])
        alpha = _forward(log_init, log_trans, _emissions(en))
        return logsumexp(alpha[-1])
    total, _ = _eliminate(en)
    return total


def log_joint(fn: Callable[[Callable], dict[str, jax.Array]]) -> jax.Array:
    """The block's log density at every value of its one discrete site: shape ``(K, *batch)``.

    Axis 0 runs over the site's values; the other axes are its (padded) batch axes,
    every other axis of the block's terms summed.  ``jnp.sum(logsumexp(log_joint(fn),
    axis=0))`` is :func:`sum_out` of a block with one discrete variable.

    Raises
    ------
    ModelError
        The block has several discrete sites or a Markov chain (use :func:`sum_out`).
    """
    en = _enumerate(fn)
    if len(en.sites) != 1 or en.chains:
        raise ModelError(f"log_joint needs a block with one discrete variable that is not a Markov chain, got "
                         f"{_names(en.sites)}", node=en.sites[0].name if en.sites else None,
                         hint="use ppgraph.enumeration.sum_out")
    total, kept = _eliminate(en)
    site = en.sites[0]
    if not kept:  # one value only
        return jnp.reshape(total, (1,) * (1 + en.depth))
    f = kept[0][1]
    # terms that do not vary with the site (rare): added once, at the first batch element
    rest = sum((jnp.sum(v) for _, v in en.factors if v.shape[0] == 1), jnp.zeros(()))
    return f.at[(slice(None),) + (0,) * en.depth].add(rest)


def draw(fn: Callable[[Callable], dict[str, jax.Array]], rng_key: Any) -> dict[str, jax.Array]:
    """One exact draw of the block's discrete sites from their conditional distribution.

    The other variables are held at the values ``fn`` reads; returns name -> value
    (each of its variable's shape).
    """
    en = _enumerate(fn)
    if _check_chain_group(en):
        (site,) = en.sites
        log_init, log_trans = _chain_params(en.chains[site.name])
        alpha = _forward(log_init, log_trans, _emissions(en))
        return {site.name: _backward_sample(rng_key, alpha, log_trans)}
    _, kept = _eliminate(en)
    m, depth = len(en.sites), en.depth
    drawn: dict[int, jax.Array] = {}
    out = {}
    keys = jax.random.split(rng_key, max(len(kept), 1))
    for key, (j, f) in zip(keys, reversed(kept)):
        for i, idx in drawn.items():
            if f.shape[i] > 1:
                grid = jnp.arange(en.sites[i].num).reshape((1,) * i + (-1,) + (1,) * (m - 1 - i + depth))
                f = jnp.sum(jnp.where(idx == grid, f, 0.0), axis=i, keepdims=True)
        logits = jnp.moveaxis(f, j, -1).reshape(f.shape[m:] + (f.shape[j],))
        index = jax.random.categorical(key, logits)
        site = en.sites[j]
        index = jnp.broadcast_to(index, _padded(site, depth))
        drawn[j] = index.reshape((1,) * m + index.shape)
        out[site.name] = en.supports[site.name][index].reshape(site.shape)
    for j, site in enumerate(en.sites):  # a site no term depends on: its own distribution is gone
        out.setdefault(site.name, jnp.broadcast_to(en.supports[site.name][0], site.shape))
    return out


def _backward_sample(rng_key: Any, alpha: jax.Array, log_trans: jax.Array) -> jax.Array:
    """Backward sampling of a chain's states from forward messages ``alpha`` (num_steps, K)."""
    last_key, key = jax.random.split(rng_key)
    last = jax.random.categorical(last_key, alpha[-1])

    def step(nxt: jax.Array, xs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        alpha_t, k = xs
        state = jax.random.categorical(k, alpha_t + log_trans[:, nxt])
        return state, state

    num_steps = alpha.shape[0]
    keys = jax.random.split(key, max(num_steps - 1, 1))[: num_steps - 1]
    _, states = jax.lax.scan(step, last, (alpha[:-1], keys), reverse=True)
    return jnp.concatenate([states, last[None]])
