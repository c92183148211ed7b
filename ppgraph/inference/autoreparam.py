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
posterior in the non-centred form (or, for a candidate :func:`guess` deems
likelier centred, in the centred form, where ``Var(z | rest) = Var(x | rest) / s**2``;
reparameterised gradients, Adam, a few
hundred steps, one particle per chain, stopping early in clear cases) and
keeps a variable centred when the mean of ``1 - Var_q(z)`` over its elements
exceeds 1/2, as VIP rounds its learned ``c``.  (For the heavier-tailed loc-scale families the same rule is
applied; it is exact for Normal and LogNormal.)

What it costs
-------------
The pilot evaluates the gradient the sampler needs anyway: it runs on the
problem ``pg.sample`` is likeliest to sample, through that problem's compiled,
chain-vectorised ``value_and_grad`` (the one that checks initial positions).
The graph says which problem is likeliest (:func:`guess`: candidates with
many observations per element are guessed centred).  On a centred coordinate
the estimate is ``1 - Var_q(x) / s**2``, with ``s`` evaluated at the mean of
``q``; a centred candidate whose estimate is not clearly centred is estimated
again in non-centred coordinates (:func:`pilot`).  When the choice equals the
guess, the sampler reuses the pilot's problem and nothing extra is compiled;
otherwise the pilot cost one small compile beside the sampler's.  Its steps
run from the host (a device call and a NumPy Adam update each): milliseconds
on small models.  Models without candidates skip it.

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
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ..errors import ModelError
from ..ir import Deterministic, Graph, RandomVariable
from ..ir.expr import ident
from ..keys import as_key
from ..model import Model, as_model
from ..passes import observe
from ..passes.reparam import (SUFFIX, NotReparameterizable, centeredness_candidates, loc_scale_parameters,
                               reparameterize)
from ..passes.unconstrained import SUFFIX as UNCONSTRAINED
from ..passes.vectorize import vectorize

__all__ = ["Pilot", "PILOT", "Choice", "choose", "pilot", "candidates", "guess", "observations_per_element",
           "noncentering"]


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
    observations
        :func:`guess`: a candidate with at least this many observations per
        element is likelier centred, and the pilot runs on it centred.
    """

    num_steps: int = 400
    learning_rate: float = 0.05
    init_scale: float = 0.5
    average: int = 150
    threshold: float = 0.5
    check_every: int = 50
    min_steps: int = 200
    margin: float = 0.2
    observations: float = 4.0


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
    pilot
        The candidates that were non-centred in the problem the pilot ran on
        (:func:`guess`); when ``noncentered`` equals it, the sampler samples
        that problem and compiles nothing more for it.
    """

    noncentered: tuple[str, ...] = ()
    centeredness: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0
    pilot: tuple[str, ...] = ()

    def info(self) -> dict[str, Any]:
        """What ``post.info["reparam"]`` reports besides the mode."""
        return {"noncentered": list(self.noncentered),
                "centeredness": {k: round(v, 4) for k, v in self.centeredness.items()},
                "pilot_seconds": round(self.seconds, 3), "pilot_steps": self.steps,
                "pilot_noncentered": list(self.pilot)}


def candidates(model: Model | Graph, args: tuple, kwargs: dict[str, Any], *, vectorized: bool = True) -> list[str]:
    """The variables whose parameterisation the pilot chooses, for a call ``(model, *args, **kwargs)``.

    :func:`~ppgraph.passes.reparam.centeredness_candidates` of the conditioned
    graph (after :func:`~ppgraph.passes.vectorize` with ``vectorized``: merged
    nodes are not candidates, so a graph of 10,000 repeated nodes needs no
    pilot over 10,000 variables; a Gaussian random walk lifted into one node is
    one candidate, non-centred whole into its innovations).
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


def _observed_size(problem: Any, name: str) -> int:
    """Elements of the observed value bound to ``name`` (``0`` when it is not found)."""
    for pool in (problem.data, problem.graph.env, problem.observed):
        if ident(name) in pool or name in pool:
            value = pool.get(ident(name), pool.get(name))
            return int(np.size(value)) if not callable(value) else 0
    return 0


def observations_per_element(problem: Any, leaf: str) -> float:
    """Observed elements whose density reads ``leaf`` through deterministic nodes only, per element of ``leaf``.

    ``theta`` of eight schools: 1 (eight observations, eight schools); a group
    effect ``alpha[group]`` with 50 observations per group: 50.  A variable
    whose children are latent (a higher level of a hierarchy) counts 0.
    """
    graph = problem.graph
    size = max(int(np.prod(problem.shapes[leaf].shape)), 1)
    seen, stack, count = {leaf}, [leaf], 0
    while stack:
        for child in graph.successors(stack.pop()):
            if child in seen:
                continue
            seen.add(child)
            node = graph.nodes[child]["node"]
            if isinstance(node, Deterministic):
                stack.append(child)
            elif isinstance(node, RandomVariable) and node.observed is not None:
                count += _observed_size(problem, node.observed)
    return count / size


def guess(problem: Any, names: list[str], settings: Pilot = PILOT) -> tuple[str, ...]:
    """The candidates that are likelier non-centred, from the graph and the data's shapes alone.

    ``problem`` has every candidate non-centred (:func:`noncentering`).  A
    candidate with at least ``settings.observations`` observations per element
    (:func:`observations_per_element`) is guessed centred: the more data per
    element, the larger ``s**2 I`` and the centredness ``c*`` (module
    docstring).  The pilot then runs on the guessed problem, which is what
    ``pg.sample`` samples when the pilot agrees: its compiled gradient serves
    both, and a right guess costs no second compile.  The guess never decides:
    the pilot's estimate does.

    Examples
    --------
    >>> import jax.numpy as jnp, ppgraph as pg
    >>> from ppgraph import dist
    >>> from ppgraph.inference.problem import prepare
    >>> @pg.model
    ... def grouped(group):
    ...     mu <~ dist.Normal(0.0, 5.0)
    ...     tau <~ dist.HalfNormal(2.0)
    ...     alpha <~ dist.Normal(mu, tau).expand([3])
    ...     y <~ dist.Normal(alpha[group], 1.0)
    >>> group = jnp.repeat(jnp.arange(3), 10)
    >>> problem = prepare(grouped, (group,), {"y": jnp.zeros(30)},
    ...                   passes=(noncentering(("alpha",)), "to_unconstrained"))
    >>> guess(problem, ["alpha"])
    ()
    """
    return tuple(n for n in names if observations_per_element(problem, n + SUFFIX) < settings.observations)


class _Unestimable(ModelError):
    """A centred candidate whose scale the pilot cannot evaluate: run the pilot on the non-centred problem."""


def _flatten(tree: dict[str, Any], names: tuple[str, ...], rows: int) -> np.ndarray:
    return np.concatenate([np.asarray(tree[n], np.float64).reshape(rows, -1) for n in names], axis=1)


def choose(problem: Any, names: list[str], rng_key: Any, *, num_chains: int = 4,
           settings: Pilot = PILOT) -> Choice:
    """Estimate each candidate's best centredness and choose centred or non-centred (see module docstring).

    Parameters
    ----------
    problem
        The prepared problem (:func:`ppgraph.inference.problem.prepare`) in
        unconstrained space, each name in ``names`` either non-centred
        (:func:`noncentering`: the estimate is ``1 - Var_q(z)``) or as written
        (centred: ``1 - Var_q(x) / s**2``, the scale ``s`` evaluated at the mean
        of ``q``; :func:`guess` says which is likelier).
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
    coordinate: dict[str, str] = {}  # candidate -> its leaf in the problem
    centred: dict[str, str] = {}  # centred candidate -> the source of its scale
    for n in names:
        if n + SUFFIX in leaves:
            coordinate[n] = n + SUFFIX
        elif n in leaves or n + UNCONSTRAINED in leaves:  # centred: x, or log x of a LogNormal
            coordinate[n] = n if n in leaves else n + UNCONSTRAINED
            try:  # the scale as the model writes it (the passes may have rewritten the node)
                centred[n] = loc_scale_parameters(problem.conditioned, n)["scale"]
            except NotReparameterizable as err:
                raise _Unestimable(f"the pilot finds no loc-scale distribution for '{n}': {err}") from err
    missing = [n for n in names if n not in coordinate]
    if missing:
        raise ModelError(f"the pilot of reparam='auto' does not find {missing} in the problem it is given, "
                         "neither non-centred nor as a loc-scale random variable",
                         hint="prepare the problem with ppgraph.inference.autoreparam.noncentering(names), "
                         "or with the model's own random variables")
    shapes = [tuple(problem.shapes[n].shape) for n in leaves]
    sizes = [int(np.prod(s)) for s in shapes]
    offsets = np.cumsum([0, *sizes])
    slots = {n: slice(offsets[leaves.index(leaf)], offsets[leaves.index(leaf) + 1]) for n, leaf in coordinate.items()}
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

    def squared_scales(at: np.ndarray) -> dict[str, np.ndarray]:
        """Each centred candidate's ``s**2`` per element at the (flat) position ``at``."""
        if not centred:
            return {}
        position = {n: at[offsets[i]:offsets[i + 1]].reshape(shapes[i]).astype(dtype) for i, n in enumerate(leaves)}
        out = {}
        for n, source in centred.items():
            try:
                scale = np.asarray(problem.evaluate(source, position), np.float64)
                out[n] = np.broadcast_to(scale ** 2, shapes[leaves.index(coordinate[n])]).ravel()
            except (ModelError, ValueError) as err:
                raise _Unestimable(f"the pilot cannot evaluate the scale `{source}` of '{n}': {err}") from err
        return out

    def estimate(var: np.ndarray, s2: dict[str, np.ndarray]) -> dict[str, float]:
        out = {}
        for n in names:
            ratio = var[slots[n]]  # Var(z | rest)
            if n in s2:  # = Var(x | rest) / s**2; a vanishing scale: prior-dominated, non-centre
                ok = np.isfinite(s2[n]) & (s2[n] > 0)
                ratio = np.where(ok, ratio / np.where(ok, s2[n], 1.0), 1.0)
            out[n] = float(np.clip(1.0 - ratio, 0.0, 1.0).mean())
        return out

    def clear(now: dict[str, float], before: dict[str, float]) -> bool:
        return all((now[n] < settings.threshold) == (before[n] < settings.threshold)
                   and abs(now[n] - settings.threshold) >= settings.margin for n in names)

    def unflatten(flat: np.ndarray) -> dict[str, Any]:
        return {n: flat[:, offsets[i]:offsets[i + 1]].reshape((num_chains, *shapes[i])).astype(dtype)
                for i, n in enumerate(leaves)}

    squared_scales(loc)  # a scale that cannot be evaluated fails now, before any step
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
                s2 = squared_scales(loc)
                now = estimate((blocks[-1] + blocks[-2]) / 2, s2)
                if clear(now, estimate((blocks[-2] + blocks[-3]) / 2, s2)):
                    variances, kept = (blocks[-1] + blocks[-2]) / 2, 1
                    break
    else:
        variances /= max(kept, 1)
    centeredness = estimate(variances, squared_scales(loc))
    chosen = tuple(n for n in names if centeredness[n] < settings.threshold)
    return Choice(noncentered=chosen, centeredness=centeredness, seconds=time.perf_counter() - start,
                  steps=step, pilot=tuple(n for n in names if n not in centred))


def pilot(prepare_with: Callable[[tuple[str, ...]], Any], names: list[str], rng_key: Any, *,
          num_chains: int = 4, settings: Pilot = PILOT) -> tuple[Choice, Any]:
    """Choose the parameterisation, running the pilot on the likelier problem; ``(choice, problem it ran on)``.

    ``prepare_with(noncentred_names)`` prepares the problem with those
    candidates non-centred (``pg.sample``'s passes after them).  The problem with
    every candidate non-centred comes first: :func:`guess` reads it.  When the
    guess keeps some candidates centred, the pilot runs on that problem, and its
    choice stands if every centred candidate's estimate is clearly centred (at
    least ``threshold + margin``): on a funnel the estimate in centred
    coordinates is biased towards centred (mean-field fits shrink the scale),
    so an unclear one is estimated again in non-centred coordinates, where it
    is exact for Gaussian models.  ``pg.sample`` samples the returned problem
    when ``choice.noncentered == choice.pilot``, compiling nothing more for it.
    """
    everything = prepare_with(tuple(names))
    guessed = guess(everything, names, settings)
    if guessed != tuple(names):
        problem = prepare_with(guessed)
        try:
            choice = choose(problem, names, rng_key, num_chains=num_chains, settings=settings)
        except ModelError:  # a scale it cannot evaluate, no finite start: the non-centred pilot decides
            choice = None
        if choice is not None and all(n in choice.pilot or choice.centeredness[n] >= settings.threshold + settings.margin
                                      for n in names):
            return choice, problem
    return choose(everything, names, rng_key, num_chains=num_chains, settings=settings), everything
