"""Stochastic-gradient MCMC through BlackJAX: ``pg.sample(..., kernel="sgld" | "sghmc")``.

:class:`SGLD` (``blackjax.sgld``, stochastic gradient Langevin dynamics) and
:class:`SGHMC` (``blackjax.sghmc``, stochastic gradient Hamiltonian Monte
Carlo) are evaluators of :func:`ppgraph.sample` for models too large for NUTS,
Bayesian neural networks above all.  Their gradient is that of the *minibatch*
log density of :class:`~ppgraph.inference.fit_problem.FitProblem` (the
machinery of ``pg.fit``): each step uses ``batch_size`` rows of the data (the
observed values and the arguments sharing their leading axis), epochs over
random permutations, and the log-density terms that read the data are
multiplied by ``N / batch_size``.  Every latent random variable is sampled in
unconstrained space; network weights are sampled as they are.

Step sizes follow BlackJAX's convention: SGLD moves
``x + step_size * grad + sqrt(2 * step_size) * noise``; SGHMC integrates
``x += step_size * p``, ``p += step_size * grad - alpha * step_size * p + noise``
for ``num_integration_steps`` steps from a fresh momentum.  ``step_size`` is a
float, a schedule (any callable of the step number, e.g. an Optax schedule or
:func:`cyclical_schedule`), or ``None``: then it is chosen from the curvature
``lam``, the largest absolute eigenvalue of the Hessian of the full-data log
density (power iteration on Hessian-vector products) at the chain's start, and
chosen again at the end of warmup: ``DEFAULT_SGLD_SCALE / lam`` for SGLD,
``DEFAULT_SGHMC_SCALE / sqrt(lam)`` for SGHMC.  On a Gaussian the stationary
variance of SGLD is inflated by ``1 / (1 - step_size * lam / 2)`` (1 % at the
default), that of BlackJAX's SGHMC by about ``L / (L - 1)`` for short
trajectories of ``L`` steps (its Euler scheme uses the gradient at the old
position), hence the default ``num_integration_steps=50``.

``temperature=T`` samples the tempered posterior ``p(z | data) ** (1 / T)``
(cold posteriors: ``T < 1``): the gradient is divided by ``T``; on a Gaussian
posterior the standard deviations are multiplied by ``sqrt(T)``.

``num_warmup`` steps are run and discarded (burn-in), then ``num_samples``
draws are kept, one every ``thinning`` steps.  Layer weights start at the
layer's own initialiser (as in ``pg.fit``), the other latents at the uniform
starts of ``pg.sample``.

Examples
--------
>>> import jax, jax.numpy as jnp, numpy as np, ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def mean():
...     mu <~ dist.Normal(0.0, 10.0)
...     y <~ dist.Normal(mu, 1.0)         # y's shape comes from the (mini)batch
...     return y
>>> y = jnp.asarray(np.random.default_rng(0).normal(3.0, 1.0, 100), dtype=jnp.float32)
>>> post = pg.sample(mean, jax.random.key(0), y=y, kernel="sghmc", batch_size=20, num_warmup=100,
...                  num_samples=200, num_chains=2, progress=False)
>>> post.samples["mu"].shape
(2, 200)
>>> bool(abs(float(post.samples["mu"].mean()) - float(y.mean())) < 0.1)
True
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..codegen import call_mapped
from ..errors import ModelError
from ..model import Model
from .evaluator import Draws
from .fit_problem import FitProblem
from .problem import Problem
from .progress import ProgressBar

__all__ = [
    "SGLD",
    "SGHMC",
    "cyclical_schedule",
    "largest_curvature",
    "with_options",
    "DEFAULT_SGLD_SCALE",
    "DEFAULT_SGHMC_SCALE",
    "POWER_ITERATIONS",
]

DEFAULT_SGLD_SCALE = 0.02
"""Default SGLD step size times the largest curvature (variance inflated by about 1 %)."""

DEFAULT_SGHMC_SCALE = 0.02
"""Default SGHMC step size times the square root of the largest curvature."""

POWER_ITERATIONS = 30
"""Hessian-vector products of the power iteration that measures the curvature."""


def cyclical_schedule(step_size: float, num_steps: int, num_cycles: int = 4) -> Callable[[jax.Array], jax.Array]:
    """The cyclical cosine step size of cSG-MCMC (Zhang et al., 2020).

    Each of ``num_cycles`` cycles of ``ceil(num_steps / num_cycles)`` steps
    starts at ``step_size`` (exploration) and decays to 0 along half a cosine
    (sampling).

    Examples
    --------
    >>> f = cyclical_schedule(0.1, num_steps=100, num_cycles=2)
    >>> [round(float(f(i)), 3) for i in (0, 25, 50, 99)]
    [0.1, 0.05, 0.1, 0.0]
    """
    if num_cycles < 1 or num_steps < 1:
        raise ModelError(f"cyclical_schedule needs num_steps, num_cycles >= 1, got {num_steps}, {num_cycles}")
    length = math.ceil(num_steps / num_cycles)

    def schedule(step: jax.Array) -> jax.Array:
        phase = jnp.mod(step, length) / length
        return step_size / 2 * (jnp.cos(jnp.pi * phase) + 1)

    return schedule


def largest_curvature(logdensity: Callable[[Any], jax.Array], position: Any, rng_key: jax.Array,
                      num_iterations: int = POWER_ITERATIONS) -> jax.Array:
    """The largest absolute eigenvalue of the Hessian of ``logdensity`` at ``position`` (power iteration).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> f = lambda x: -0.5 * jnp.sum(jnp.array([1.0, 9.0]) * x**2)
    >>> round(float(largest_curvature(f, jnp.zeros(2), jax.random.key(0))), 3)
    9.0
    """
    flat, unravel = ravel_pytree(position)

    def hvp(v: jax.Array) -> jax.Array:
        f = lambda x: jax.grad(lambda y: logdensity(unravel(y)))(x)  # noqa: E731
        return jax.jvp(f, (flat,), (v,))[1]

    v = jax.random.normal(rng_key, flat.shape, flat.dtype)
    v = v / jnp.linalg.norm(v)

    def body(_: int, v: jax.Array) -> jax.Array:
        w = hvp(v)
        return w / jnp.maximum(jnp.linalg.norm(w), jnp.finfo(w.dtype).tiny)

    v = jax.lax.fori_loop(0, num_iterations, body, v)
    return jnp.abs(jnp.vdot(v, hvp(v)))


@dataclass(frozen=True)
class _SGMCMC:
    """Shared loop of the SGMCMC evaluators (minibatches, schedules, thinning, temperature)."""

    step_size: Any = None
    batch_size: int | None = None
    temperature: float = 1.0
    thinning: int = 1
    passes: tuple = ("to_unconstrained",)
    name = "sgmcmc"

    # -- per algorithm ------------------------------------------------------------------------------
    def _algorithm(self, grad_estimator: Callable) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _default_step(self, curvature: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- checks -----------------------------------------------------------------------------------
    def _check(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not t > 0 or not math.isfinite(t):
            raise ModelError(f"temperature must be a positive number, got {t!r}",
                             hint="1.0 is the posterior; below 1 a cold, above 1 a warm posterior")
        if isinstance(self.thinning, bool) or not isinstance(self.thinning, int) or self.thinning < 1:
            raise ModelError(f"thinning must be an int >= 1, got {self.thinning!r}")
        s = self.step_size
        if s is not None and not callable(s):
            if isinstance(s, bool) or not isinstance(s, numbers.Real) or not s > 0 or not math.isfinite(s):
                raise ModelError(
                    f"step_size must be a positive number, a schedule (a callable of the step number) or None, "
                    f"got {s!r}",
                    hint="e.g. step_size=1e-4, step_size=optax.exponential_decay(1e-3, 1000, 0.5), or None "
                    "(chosen from the curvature)",
                )

    # -- the run ----------------------------------------------------------------------------------
    def run(
        self,
        problem: Problem,
        rng_key: Any,
        initial_position: dict[str, Any],
        *,
        num_warmup: int,
        num_samples: int,
        progress: bool,
    ) -> Draws:
        """Burn in and sample every chain (see :class:`~ppgraph.inference.evaluator.Evaluator`)."""
        self._check()
        # the minibatch objective (pg.fit's) of the graph as pg.sample transformed it (marginalised, vectorised)
        observed = {k: v for k, v in problem.observed.items() if k in problem.graph.nodes}
        hidden = sorted(set(problem.observed) - set(observed))
        if hidden and self.batch_size is not None:
            raise ModelError(
                f"minibatches cut the observed values into rows, but {', '.join(map(repr, hidden))} "
                "became part of a marginalised block (discrete latent variables summed out)",
                model=problem.model.name,
                hint="use batch_size=None (full-batch Langevin / Hamiltonian dynamics) or kernel='nuts'",
            )
        fitting = FitProblem.build(Model(problem.graph), (), {**problem.args, **observed}, self.batch_size,
                                   bounded=False)
        names = (*fitting.latents, *fitting.parameters)
        if set(names) != set(problem.latents):  # pragma: no cover - both come from the same passes
            raise ModelError(f"internal: minibatch objective over {sorted(names)}, sampler over "
                             f"{sorted(problem.latents)}", model=problem.model.name)
        temperature = float(self.temperature)
        num_chains = jax.tree.leaves(initial_position)[0].shape[0]
        total = num_warmup + num_samples * self.thinning
        bar = ProgressBar(total, desc=f"{self.name} ({num_chains} chains)", enabled=progress)

        every = max(1, total // 50)

        def build() -> tuple[Callable, dict[str, Any]]:
            holder: dict[str, Any] = {}  # the bar of the current call (the program outlives a call)
            report = (lambda: holder["bar"].update(every)) if progress else None
            return self._program(problem, fitting, num_warmup, num_samples, report, every), holder

        # the compiled run is kept with the problem's compiled functions: one per model, data shapes and settings
        key = ("sgmcmc", self, num_warmup, num_samples, num_chains, progress)
        run, holder = problem.cached(key, build)
        initial = self._initial(fitting, rng_key, initial_position, num_chains)
        with bar:
            holder["bar"] = bar
            # the first call traces the model: an exception in it names the node (as in pg.fit)
            samples, steps, sizes = call_mapped(fitting.terms._replace(fn=run), jax.random.split(rng_key, num_chains),
                                                initial, fitting.data, problem.data)
            jax.block_until_ready(samples)
            jax.effects_barrier()
            bar.update(max(0, total - bar.count))
        self._check_finite(problem, samples, sizes)
        return Draws(samples=samples, stats={"step_size": steps},
                     info={"step_size": sizes, "kernel": self, "batch_size": fitting.batch_size,
                           "num_data": fitting.num_data, "temperature": temperature})

    def _program(self, problem: Problem, fitting: FitProblem, num_warmup: int, num_samples: int,
                 report: Callable[[], None] | None, every: int) -> Callable:
        """The jitted run of every chain: ``(keys, initial positions, fit data, problem data) -> draws``."""
        temperature = float(self.temperature)
        thinning = self.thinning

        def logdensity(position: dict[str, Any], batch: dict[str, Any]) -> jax.Array:
            return fitting.log_joint(position, batch) / temperature

        algorithm = self._algorithm(jax.grad(logdensity))
        schedule = self.step_size if callable(self.step_size) else None

        def chosen(position: dict[str, Any], key: jax.Array, data: dict[str, Any]) -> jax.Array:
            if self.step_size is None:
                return self._default_step(largest_curvature(lambda p: logdensity(p, data), position, key))
            return jnp.asarray(0.0 if schedule is not None else self.step_size, jnp.result_type(float))

        def one_chain(key: jax.Array, position: dict[str, Any], data: dict[str, Any],
                      pdata: dict[str, Any]) -> tuple[Any, Any, Any]:
            curv_key, batch_key, run_key = jax.random.split(key, 3)

            def step(state: Any, i: jax.Array, size: jax.Array) -> Any:
                batch = fitting.batch(data, i, batch_key)
                eps = schedule(i) if schedule is not None else size
                state = algorithm.step(jax.random.fold_in(run_key, i), state, batch, eps)
                if report is not None:  # a host callback every `every` steps (not every step)
                    jax.lax.cond((i + 1) % every == 0, lambda: jax.debug.callback(report), lambda: None)
                return state

            state = algorithm.init(position)
            warm_size = chosen(position, curv_key, data)
            state = jax.lax.fori_loop(0, num_warmup, lambda i, s: step(s, i, warm_size), state)
            size = chosen(state, jax.random.fold_in(curv_key, 1), data) if num_warmup else warm_size

            def draw(state: Any, j: jax.Array) -> tuple[Any, tuple]:
                start = num_warmup + j * thinning
                state = jax.lax.fori_loop(start, start + thinning, lambda i, s: step(s, i, size), state)
                eps = schedule(start + thinning - 1) if schedule is not None else size
                return state, (problem.constrain_at(state, pdata), jnp.asarray(eps, jnp.result_type(float)))

            _, (samples, steps) = jax.lax.scan(draw, state, jnp.arange(num_samples))
            return samples, steps, size

        return jax.jit(jax.vmap(one_chain, in_axes=(0, 0, None, None)))

    @staticmethod
    def _initial(fitting: FitProblem, rng_key: jax.Array, initial: dict[str, Any], num_chains: int) -> dict[str, Any]:
        """Layer weights from the layer's initialiser (one draw per chain), the other latents as given."""
        if not fitting.parameters:
            return initial
        keys = jax.random.split(jax.random.fold_in(rng_key, 7), num_chains)
        params = [fitting.init(k)["params"] for k in keys]
        stacked = {n: jax.tree.map(lambda *v: jnp.stack(v), *[p[n] for p in params]) for n in fitting.parameters}
        return {**initial, **stacked}

    def _check_finite(self, problem: Problem, samples: dict[str, Any], sizes: jax.Array) -> None:
        bad = [n for n in problem.names
               if not all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(samples[n])
                          if jnp.issubdtype(jnp.result_type(v), jnp.inexact))]
        if bad:
            shown = np.array2string(np.asarray(sizes), precision=3, threshold=6)
            raise ModelError(
                f"{self.name} diverged: the draws of {', '.join(repr(b) for b in bad)} are not finite "
                f"(step sizes {shown})",
                node=bad[0],
                model=problem.model.name,
                hint="lower step_size (BlackJAX's convention: SGLD moves step_size * gradient per step), "
                "or check the priors and data",
            )


@dataclass(frozen=True)
class SGLD(_SGMCMC):
    """Stochastic gradient Langevin dynamics (``blackjax.sgld``, Welling & Teh, 2011).

    Parameters
    ----------
    step_size
        A float, a schedule (callable of the step number) or ``None`` (from the
        curvature, see the module docstring).
    batch_size
        Rows of the data per step (``None``: all, i.e. full-batch Langevin).
    temperature
        Sample ``p(z | data) ** (1 / temperature)``.
    thinning
        Keep one draw every ``thinning`` steps.
    """

    name = "sgld"

    def _algorithm(self, grad_estimator: Callable) -> Any:
        return blackjax.sgld(grad_estimator)

    def _default_step(self, curvature: jax.Array) -> jax.Array:
        return DEFAULT_SGLD_SCALE / curvature


@dataclass(frozen=True)
class SGHMC(_SGMCMC):
    """Stochastic gradient Hamiltonian Monte Carlo (``blackjax.sghmc``, Chen et al., 2014).

    Parameters
    ----------
    step_size, batch_size, temperature, thinning
        As for :class:`SGLD`.
    num_integration_steps
        Integration steps per draw (one minibatch each draw), from a fresh momentum.
    alpha, beta
        Friction and gradient-noise estimate of BlackJAX's SGHMC diffusion.
    """

    num_integration_steps: int = 50
    alpha: float = 0.01
    beta: float = 0.0
    name = "sghmc"

    def _algorithm(self, grad_estimator: Callable) -> Any:
        if isinstance(self.num_integration_steps, bool) or int(self.num_integration_steps) < 1:
            raise ModelError(f"num_integration_steps must be at least 1, got {self.num_integration_steps}")
        return blackjax.sghmc(grad_estimator, num_integration_steps=int(self.num_integration_steps),
                              alpha=self.alpha, beta=self.beta)

    def _default_step(self, curvature: jax.Array) -> jax.Array:
        return DEFAULT_SGHMC_SCALE / jnp.sqrt(curvature)


def with_options(evaluator: Any, *, batch_size: int | None = None, step_size: Any = None,
                 temperature: float = 1.0, thinning: int = 1) -> Any:
    """``evaluator`` with the SGMCMC keywords of ``pg.sample`` applied.

    Raises
    ------
    ModelError
        If one is given for an evaluator that is not an SGMCMC one (NUTS, HMC...).

    Examples
    --------
    >>> with_options(SGLD(), batch_size=32).batch_size
    32
    """
    changed: dict[str, Any] = {}
    if batch_size is not None:
        changed["batch_size"] = batch_size
    if step_size is not None:
        changed["step_size"] = step_size
    if isinstance(temperature, bool) or temperature != 1.0:
        changed["temperature"] = temperature
    if isinstance(thinning, bool) or thinning != 1:
        changed["thinning"] = thinning
    if isinstance(evaluator, _SGMCMC):
        return dataclasses.replace(evaluator, **changed) if changed else evaluator
    if changed:
        name = getattr(evaluator, "name", type(evaluator).__name__)
        raise ModelError(
            f"{', '.join(f'{k}=' for k in changed)} {'is an option' if len(changed) == 1 else 'are options'} "
            f"of the stochastic-gradient kernels, not of kernel '{name}'",
            hint="use kernel='sgld' or kernel='sghmc' (minibatches, step size, temperature, thinning)",
        )
    return evaluator
