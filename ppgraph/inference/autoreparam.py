"""``reparam="auto"``: choose centred or non-centred per variable from a short pilot.

Whether a hierarchical variable ``theta ~ Normal(mu, tau)`` samples better
centred or non-centred depends on the data: with little data per group the
posterior of ``theta`` follows its prior and the centred form is a funnel
(non-centre it); with much data per group the likelihood pins ``theta`` down and
the non-centred form is a funnel instead (keep it centred).  The graph shows
which variables are concerned (:func:`~ppgraph.passes.reparam.centeredness_candidates`);
the data decide.

The rule
--------
Write ``x ~ Normal(m, s)`` in the partially centred form of Gorinova, Moore &
Hoffman (2020, "Automatic Reparameterisation of Probabilistic Programs"; VIP)
with centredness ``c`` (:func:`~ppgraph.passes.reparam.learnable_centeredness`:
``c = 1`` centred, ``c = 0`` non-centred).  If the likelihood carries
information ``I`` about ``x``, the conditional posterior variance of the
sampled coordinate is ``s ** (2 c) / (1 + s**2 I)``; it stops depending on the
scale ``s`` (no funnel) exactly at::

    c* = s**2 I / (1 + s**2 I) = 1 - Var(z | rest),     z = (x - m) / s

so VIP's best centredness is one minus the conditional posterior variance of
the *non-centred* coordinate ``z`` (its prior variance is 1).  Mean-field
variational inference estimates conditional variances (for a Gaussian target
it recovers them exactly), so the pilot fits a mean-field Gaussian ``q`` to the
posterior in the non-centred form (reparameterised gradients, Adam, a few
hundred steps, one particle per chain, stopping early in clear cases) and
keeps a variable centred when the mean of ``1 - Var_q(z)`` over its elements
exceeds 1/2, as VIP rounds its learned ``c``.  (For the heavier-tailed loc-scale families the same rule is
applied; it is exact for Normal and LogNormal.)

What it costs
-------------
The pilot evaluates the gradient the sampler needs anyway: it runs on the
problem ``pg.sample`` would sample if every candidate were non-centred, through
that problem's compiled, chain-vectorised ``value_and_grad`` (the one that
checks initial positions).  When the choice is "all non-centred" the sampler
reuses that problem and nothing extra is compiled; otherwise the pilot cost
one small compile (the gradient) beside the sampler's.  Its steps run from the
host (a device call and a NumPy Adam update each): milliseconds on small
models.  Models without candidates skip it.

:func:`~ppgraph.passes.reparam.learnable_centeredness` is the full VIP form
(``c`` trainable with ``pg.fit``), for users who want partial centring.

Examples
--------
>>> import jax.numpy as jnp, ppgraph as pg
>>> from ppgraph import dist
>>> from ppgraph.inference.problem import prepare
>>> @pg.model
... def schools(sigma):
...     mu <~ dist.Normal(0.0, 5.0)
...     tau <~ dist.HalfCauchy(5.0)
...     theta <~ dist.Normal(mu, tau).expand([8])
...     y <~ dist.Normal(theta, sigma)
...     return y
>>> y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
>>> sigma = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
>>> names = candidates(schools, (sigma,), {"y": y})
>>> names
['theta']
>>> problem = prepare(schools, (sigma,), {"y": y}, passes=(noncentering(tuple(names)), "to_unconstrained"))
>>> choice = choose(problem, names, 0, num_chains=4)
>>> choice.noncentered
('theta',)
>>> choice.centeredness["theta"] < 0.5
True
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from ..errors import ModelError
from ..ir import Graph
from ..keys import as_key
from ..model import Model, as_model
from ..passes import observe
from ..passes.reparam import SUFFIX, centeredness_candidates, reparameterize
from ..passes.vectorize import vectorize

__all__ = ["Pilot", "PILOT", "Choice", "choose", "candidates", "noncentering"]


@dataclass(frozen=True)
class Pilot:
    """Settings of the pilot of ``reparam="auto"``.

    Attributes
    ----------
    num_steps
        Adam steps of the mean-field fit.
    learning_rate
        Adam's learning rate (on the means and the log standard deviations).
    init_scale
        Initial standard deviation of every factor of ``q``.
    average
        The last ``average`` steps' variances are averaged (the estimate is noisy).
    threshold
        A variable is non-centred when its centredness is below this.
    check_every
        From ``min_steps`` on, every ``check_every`` steps the pilot compares the
        estimate over the last ``2 * check_every`` steps with the one a block
        earlier; it stops early when both make the same choice and every
        candidate's centredness is at least ``margin`` from ``threshold``
        (a clear case needs no more steps; ``min_steps = num_steps`` turns this off).
    min_steps
        The fewest steps before the pilot may stop early.
    margin
        How far from ``threshold`` every estimate must be to stop early.
    """

    num_steps: int = 400
    learning_rate: float = 0.05
    init_scale: float = 0.5
    average: int = 150
    threshold: float = 0.5
    check_every: int = 50
    min_steps: int = 200
    margin: float = 0.2


PILOT = Pilot()
"""The default settings of ``pg.sample(reparam="auto")``."""


@dataclass(frozen=True)
class Choice:
    """The parameterisation ``reparam="auto"`` chose.

    Attributes
    ----------
    noncentered
        The variables to non-centre (in graph order).
    centeredness
        Each candidate's estimated best centredness ``c*`` (``1``: centred, ``0``: non-centred).
    seconds
        Wall time of the pilot (``0`` when there was no candidate).
    steps
        The pilot's optimisation steps (fewer than ``Pilot.num_steps`` when a
        clear case stopped it early).
    """

    noncentered: tuple[str, ...] = ()
    centeredness: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0

    def info(self) -> dict[str, Any]:
        """What ``post.info["reparam"]`` reports besides the mode."""
        return {"noncentered": list(self.noncentered),
                "centeredness": {k: round(v, 4) for k, v in self.centeredness.items()},
                "pilot_seconds": round(self.seconds, 3), "pilot_steps": self.steps}


def candidates(model: Model | Graph, args: tuple, kwargs: dict[str, Any], *, vectorized: bool = True) -> list[str]:
    """The variables whose parameterisation the pilot chooses, for a call ``(model, *args, **kwargs)``.

    :func:`~ppgraph.passes.reparam.centeredness_candidates` of the conditioned
    graph (after :func:`~ppgraph.passes.vectorize` with ``vectorized``: merged
    nodes are not candidates, so a graph of 10,000 repeated nodes needs no
    pilot over 10,000 variables).
    """
    model = as_model(model)
    _, values = model.bind(args, kwargs)
    graph = observe(model.graph, **values) if values else model.graph
    if vectorized:
        graph = vectorize(graph)
    return centeredness_candidates(graph)


@functools.lru_cache(maxsize=256)
def noncentering(names: tuple[str, ...]) -> Any:
    """The pass non-centring ``names`` (one object per tuple of names: the compile cache keys on it).

    Examples
    --------
    >>> noncentering(("theta",)) is noncentering(("theta",))
    True
    >>> noncentering(("theta",)).pass_name
    'reparameterize[theta]'
    """

    def noncenter(graph: Any) -> Any:
        return reparameterize(graph, names=list(names))

    noncenter.pass_name = f"reparameterize[{','.join(names)}]"  # type: ignore[attr-defined]
    return noncenter


def _flatten(tree: dict[str, Any], names: tuple[str, ...], rows: int) -> np.ndarray:
    return np.concatenate([np.asarray(tree[n], np.float64).reshape(rows, -1) for n in names], axis=1)


def choose(problem: Any, names: list[str], rng_key: Any, *, num_chains: int = 4,
           settings: Pilot = PILOT) -> Choice:
    """Estimate each candidate's best centredness and choose centred or non-centred (see module docstring).

    Parameters
    ----------
    problem
        The prepared problem (:func:`ppgraph.inference.problem.prepare`) with
        every name in ``names`` non-centred (:func:`noncentering`) and in
        unconstrained space.
    names
        The candidates (:func:`candidates`).
    rng_key
        A ``jax.random`` key or an ``int`` seed (the start and the noise).
    num_chains
        Particles per step: the batch of the problem's compiled, chain-vectorised
        gradient (``pg.sample``'s number of chains, so the sampler reuses it).
    settings
        The pilot's settings (:data:`PILOT`).

    Returns
    -------
    Choice
        The variables to non-centre and every candidate's centredness.
    """
    if not names:
        return Choice()
    start = time.perf_counter()
    leaves = tuple(problem.latents)
    missing = [n for n in names if n + SUFFIX not in leaves]
    if missing:
        raise ModelError(f"the pilot of reparam='auto' needs {missing} non-centred in the problem it is given",
                         hint="prepare the problem with ppgraph.inference.autoreparam.noncentering(names)")
    shapes = [tuple(problem.shapes[n].shape) for n in leaves]
    sizes = [int(np.prod(s)) for s in shapes]
    offsets = np.cumsum([0, *sizes])
    slots = {n: slice(offsets[leaves.index(n + SUFFIX)], offsets[leaves.index(n + SUFFIX) + 1]) for n in names}
    dtype = problem.shapes[leaves[0]].dtype
    check = problem.batched_value_and_grad()
    init_key, noise_key = jax.random.split(as_key(rng_key))
    first = problem.initial_positions(init_key, num_chains)
    loc = _flatten(first, leaves, num_chains)[0]
    log_scale = np.full_like(loc, np.log(settings.init_scale))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(noise_key)).ravel().astype(np.uint32))
    m = np.zeros((2, loc.size))
    v = np.zeros((2, loc.size))
    b1, b2, lr = 0.9, 0.999, settings.learning_rate
    variances = np.zeros(loc.size)
    kept = 0
    block = np.zeros(loc.size)  # the variances summed over the current block of check_every steps
    blocks: list[np.ndarray] = []  # each finished block's mean

    def estimate(var: np.ndarray) -> dict[str, float]:
        return {n: float(np.clip(1.0 - var[slots[n]], 0.0, 1.0).mean()) for n in names}

    def clear(now: dict[str, float], before: dict[str, float]) -> bool:
        return all((now[n] < settings.threshold) == (before[n] < settings.threshold)
                   and abs(now[n] - settings.threshold) >= settings.margin for n in names)

    def unflatten(flat: np.ndarray) -> dict[str, Any]:
        return {n: flat[:, offsets[i]:offsets[i + 1]].reshape((num_chains, *shapes[i])).astype(dtype)
                for i, n in enumerate(leaves)}

    for step in range(1, settings.num_steps + 1):
        eps = rng.standard_normal((num_chains, loc.size))
        scale = np.exp(log_scale)
        lp, grad = check(unflatten(loc + scale * eps), problem.data)
        lp, grad = np.asarray(lp, np.float64), _flatten(grad, leaves, num_chains)
        ok = np.isfinite(lp) & np.all(np.isfinite(grad), axis=1)
        if ok.any():  # the evidence lower bound's reparameterised gradient (ascent), finite particles only
            g_loc = grad[ok].mean(axis=0)
            g_log_scale = (grad[ok] * eps[ok]).mean(axis=0) * scale + 1.0
            for i, g in enumerate((g_loc, g_log_scale)):
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
            update = lr * (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + 1e-8)
            loc = loc + update[0]
            log_scale = np.clip(log_scale + update[1], -20.0, 5.0)
        if step > settings.num_steps - settings.average:
            variances += np.exp(2 * log_scale)
            kept += 1
        block += np.exp(2 * log_scale)
        if step % settings.check_every == 0:
            blocks.append(block / settings.check_every)
            block = np.zeros(loc.size)
            if step >= settings.min_steps and step < settings.num_steps and len(blocks) >= 3:
                now = estimate((blocks[-1] + blocks[-2]) / 2)
                if clear(now, estimate((blocks[-2] + blocks[-3]) / 2)):
                    variances, kept = (blocks[-1] + blocks[-2]) / 2, 1
                    break
    else:
        variances /= max(kept, 1)
    centeredness = estimate(variances)
    chosen = tuple(n for n in names if centeredness[n] < settings.threshold)
    return Choice(noncentered=chosen, centeredness=centeredness, seconds=time.perf_counter() - start,
                  steps=step)
