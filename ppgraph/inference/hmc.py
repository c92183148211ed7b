"""NUTS and HMC through BlackJAX: the built-in evaluators of ``pg.sample``.

Both apply ``to_unconstrained`` and run, per chain, Stan's window adaptation
built from BlackJAX's parts (``build_schedule``, ``dual_averaging_adaptation``
for the step size, ``mass_matrix_adaptation`` for a diagonal or dense inverse
mass matrix: the algorithm of ``blackjax.window_adaptation``) followed by the
kept draws, in ONE ``jax.lax.scan``: the BlackJAX kernel is traced and compiled
once for warmup and sampling together (``blackjax.window_adaptation`` runs its
own scan, which doubles the compile time of NUTS).  Chains are vectorised with
``jax.vmap`` and the whole run (warmup, sampling, mapping each draw back to
constrained space) is one ``jax.jit`` call; draws are written into
preallocated buffers, so warmup draws are not stored.

Examples
--------
>>> nuts = NUTS(target_accept=0.9)
>>> nuts.passes, nuts.name
(('to_unconstrained',), 'nuts')
>>> HMC().num_integration_steps
16
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.mass_matrix import mass_matrix_adaptation
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.adaptation.window_adaptation import build_schedule
from jax.flatten_util import ravel_pytree

from ..errors import ModelError
from .evaluator import Draws
from .problem import Problem
from .progress import ProgressBar

__all__ = ["NUTS", "HMC", "KERNELS", "get_kernel"]


@dataclass(frozen=True)
class _BlackJAXHMC:
    """Shared warmup + sampling loop of the HMC family."""

    target_accept: float = 0.8
    dense_mass: bool = False
    initial_step_size: float = 1.0
    passes: tuple = ("to_unconstrained",)
    name = "hmc-family"

    def _algorithm(self) -> tuple[Any, dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _stats(self, info: Any, state: Any) -> dict[str, Any]:
        return {
            "diverging": info.is_divergent,
            "acceptance_rate": info.acceptance_rate,
            "num_steps": info.num_integration_steps,
            "energy": info.energy,
            "lp": state.logdensity,
        }

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
        """Warm up and sample every chain (see :class:`~ppgraph.inference.evaluator.Evaluator`)."""
        if not 0.0 < self.target_accept < 1.0:
            raise ModelError(f"target_accept must lie in (0, 1), got {self.target_accept}")
        algorithm, extra = self._algorithm()
        kernel = algorithm.build_kernel()
        logdensity = problem.logdensity
        num_chains = jax.tree.leaves(initial_position)[0].shape[0]
        total = num_warmup + num_samples
        schedule = _schedule(num_warmup, total)
        da_init, da_update, da_final = dual_averaging_adaptation(self.target_accept)
        mm_init, mm_update, mm_final = mass_matrix_adaptation(not self.dense_mass)
        bar = ProgressBar(total, desc=f"{self.name} ({num_chains} chains)", enabled=progress)

        def one_chain(key: Any, position: dict[str, Any]) -> tuple[dict, dict, dict]:
            dtype = jnp.result_type(float)
            state = algorithm.init(position, logdensity)
            dim = ravel_pytree(position)[0].size
            step_size = jnp.asarray(self.initial_step_size, dtype)
            adapt = (da_init(step_size), mm_init(dim), step_size, mm_init(dim).inverse_mass_matrix)
            draw, stats = self._record(problem, state, None, step_size)
            buffers = jax.tree.map(lambda v: jnp.zeros((num_samples, *jnp.shape(v)), jnp.result_type(v)),
                                   (draw, stats))

            def adapt_step(adapt: tuple, slow: Any, window_end: Any, last: Any, position: Any,
                           acceptance: Any) -> tuple:
                ss, mm, step_size, imm = adapt
                ss = da_update(ss, acceptance)
                mm = jax.lax.cond(slow, lambda m: mm_update(m, ravel_pytree(position)[0]), lambda m: m, mm)
                step_size = jnp.exp(ss.log_step_size).astype(dtype)

                def end_window(args: tuple) -> tuple:
                    ss, mm = args
                    mm = mm_final(mm)
                    ss = da_init(jnp.exp(ss.log_step_size_avg).astype(dtype))
                    return ss, mm, jnp.exp(ss.log_step_size).astype(dtype), mm.inverse_mass_matrix

                ss, mm, step_size, imm = jax.lax.cond(
                    window_end, end_window, lambda args: (*args, step_size, imm), (ss, mm)
                )
                step_size = jnp.where(last, jnp.exp(ss.log_step_size_avg), step_size).astype(dtype)
                return ss, mm, step_size, imm

            def step(carry: tuple, xs: tuple) -> tuple[tuple, None]:
                state, adapt, buffers = carry
                i, key, (slow, window_end) = xs
                step_size, imm = adapt[2], adapt[3]
                state, info = kernel(key, state, logdensity, step_size, imm, **extra)
                adapt = jax.lax.cond(
                    i < num_warmup,
                    lambda a: adapt_step(a, slow == 1, window_end == 1, i == num_warmup - 1, state.position,
                                         info.acceptance_rate),
                    lambda a: a,
                    adapt,
                )
                record = self._record(problem, state, info, step_size)
                j = jnp.maximum(i - num_warmup, 0)
                buffers = jax.tree.map(lambda b, v: jax.lax.dynamic_update_index_in_dim(b, jnp.asarray(v, b.dtype), j, 0),
                                       buffers, record)  # int64 stats under jax_enable_x64
                bar.tick()
                return (state, adapt, buffers), None

            xs = (jnp.arange(total), jax.random.split(key, total), (schedule[:, 0], schedule[:, 1]))
            (_, adapt, (samples, stats)), _ = jax.lax.scan(step, (state, adapt, buffers), xs)
            return samples, stats, {"step_size": adapt[2], "inverse_mass_matrix": adapt[3]}

        with bar:
            samples, stats, params = jax.jit(jax.vmap(one_chain))(jax.random.split(rng_key, num_chains),
                                                                   initial_position)
            jax.block_until_ready(samples)
        return Draws(samples=samples, stats=stats, info={"adaptation": params, "kernel": self})

    def _record(self, problem: Problem, state: Any, info: Any, step_size: Any) -> tuple[dict, dict]:
        """One kept draw: constrained values and statistics (``info=None``: zeros of the right shapes)."""
        if info is None:
            stats = {k: jnp.zeros((), v) for k, v in self._stat_dtypes().items()}
        else:
            stats = self._stats(info, state)
        stats["step_size"] = jnp.asarray(step_size)
        return problem.constrain(state.position), stats

    def _stat_dtypes(self) -> dict[str, Any]:
        f = jnp.result_type(float)
        return {"diverging": jnp.bool_, "acceptance_rate": f, "num_steps": jnp.int32, "energy": f, "lp": f}

@dataclass(frozen=True)
class NUTS(_BlackJAXHMC):
    """The No-U-Turn sampler (``blackjax.nuts``) with Stan's window adaptation.

    Parameters
    ----------
    target_accept
        Target mean acceptance probability of the step-size adaptation (0.8;
        raise towards 0.95 when there are divergences).
    max_tree_depth
        At most ``2**max_tree_depth`` leapfrog steps per draw.
    dense_mass
        Adapt a dense (instead of diagonal) inverse mass matrix.
    initial_step_size
        Where the step-size adaptation starts.
    """

    max_tree_depth: int = 10
    name = "nuts"

    def _algorithm(self) -> tuple[Any, dict[str, Any]]:
        return blackjax.nuts, {"max_num_doublings": int(self.max_tree_depth)}

    def _stats(self, info: Any, state: Any) -> dict[str, Any]:
        out = super()._stats(info, state)
        out["tree_depth"] = info.num_trajectory_expansions
        return out

    def _stat_dtypes(self) -> dict[str, Any]:
        return {**super()._stat_dtypes(), "tree_depth": jnp.int32}


@dataclass(frozen=True)
class HMC(_BlackJAXHMC):
    """Static-path Hamiltonian Monte Carlo (``blackjax.hmc``) with window adaptation.

    Parameters
    ----------
    num_integration_steps
        Leapfrog steps per draw (16).
    target_accept, dense_mass, initial_step_size
        As for :class:`NUTS`.
    """

    num_integration_steps: int = 16
    name = "hmc"

    def _algorithm(self) -> tuple[Any, dict[str, Any]]:
        if int(self.num_integration_steps) < 1:
            raise ModelError(f"num_integration_steps must be at least 1, got {self.num_integration_steps}")
        return blackjax.hmc, {"num_integration_steps": int(self.num_integration_steps)}


from .sgmcmc import SGHMC, SGLD  # noqa: E402  (stochastic-gradient kernels: ppgraph/inference/sgmcmc.py)

KERNELS = {"nuts": NUTS, "hmc": HMC, "sgld": SGLD, "sghmc": SGHMC}


def _schedule(num_warmup: int, total: int) -> jax.Array:
    """Stan's warmup windows (``build_schedule``: stage 0 fast / 1 slow, window end), padded to ``total``."""
    rows = jnp.zeros((total, 2), dtype=jnp.int32)
    if num_warmup > 0:
        rows = rows.at[:num_warmup].set(jnp.asarray(build_schedule(num_warmup), dtype=jnp.int32))
    return rows


def get_kernel(kernel: Any) -> Any:
    """An evaluator for ``"nuts"``, ``"hmc"`` or an evaluator object (returned as is)."""
    if isinstance(kernel, str):
        try:
            return KERNELS[kernel.lower()]()
        except KeyError:
            raise ModelError(
                f"unknown kernel '{kernel}'",
                hint=f"use one of {', '.join(repr(k) for k in KERNELS)} or an Evaluator object "
                "(see docs/evaluators.md)",
            ) from None
    if not (hasattr(kernel, "run") and hasattr(kernel, "passes")):
        raise ModelError(
            f"kernel must be 'nuts', 'hmc' or an Evaluator (with .passes and .run), got {type(kernel).__name__}",
            hint="see docs/evaluators.md",
        )
    return kernel
