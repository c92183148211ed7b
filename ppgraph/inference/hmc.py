"""NUTS and HMC through BlackJAX: the built-in evaluators of ``pg.sample``.

Both apply ``to_unconstrained`` and run, per chain, a warmup that adapts the
step size (BlackJAX's ``dual_averaging_adaptation``) and the inverse mass matrix:
by default nutpie's low-rank modified diagonal adaptation from draws and gradients
(``adaptation="low_rank"``; its diagonal alone, ``"fisher"``, beyond 1,000 coordinates;
:mod:`ppgraph.inference.adaptation`), or Stan's window
adaptation built from BlackJAX's parts (``adaptation="window"``:
``build_schedule``, ``mass_matrix_adaptation`` for a diagonal or dense inverse
mass matrix, the algorithm of ``blackjax.window_adaptation``; what
``dense_mass=True`` uses), followed by the
kept draws, in ONE ``jax.lax.scan``: the BlackJAX kernel is traced and compiled
once for warmup and sampling together (``blackjax.window_adaptation`` runs its
own scan, which doubles the compile time of NUTS).  The kernel moves one flat
vector (a leapfrog step updates one array, not one per latent variable).  Chains
are split over devices with ``jax.shard_map``; on a device they run one after
another on CPU (``jax.lax.map``: a vmapped NUTS loop waits for the longest tree
and selects its whole carry at every step) and vectorised with ``jax.vmap`` on
accelerators (:mod:`ppgraph.inference.chains`); warmup, sampling and mapping each draw back to
constrained space are one compiled step function, run in about 32 chunks of
steps from the host, so the loop body makes no host callback and the progress
bar moves between chunks.  Draws are written into preallocated buffers (warmup
draws are not stored).  The data are arguments of the compiled functions,
which are kept with the problem (:meth:`~ppgraph.inference.problem.Problem.cached`):
a later call with data of the same shapes and the same settings reuses them.

Examples
--------
>>> nuts = NUTS(target_accept=0.9)
>>> nuts.passes, nuts.name
(('to_unconstrained',), 'nuts')
>>> HMC().num_integration_steps
16
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.mass_matrix import mass_matrix_adaptation
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.adaptation.window_adaptation import build_schedule
from jax.flatten_util import ravel_pytree

from ..errors import ModelError
from .adaptation import (ADAPTATIONS, fisher_adaptation, fisher_schedule, identity_metric, low_rank_adaptation,
                         low_rank_buffer_size)
from .chains import ChainProgram, chain_devices, gather
from .evaluator import Draws
from .problem import Problem
from .progress import ProgressBar

__all__ = ["NUTS", "HMC", "KERNELS", "get_kernel", "LOW_RANK_MAX_DIM"]

LOW_RANK_MAX_DIM = 1000
"""Up to this many sampler coordinates ``adaptation="auto"`` adapts a low-rank modified mass matrix
(``"low_rank"``); beyond, the diagonal (``"fisher"``): see :meth:`NUTS.mass_adaptation`."""


@dataclass(frozen=True)
class _BlackJAXHMC:
    """Shared warmup + sampling loop of the HMC family."""

    target_accept: float = 0.8
    dense_mass: bool = False
    initial_step_size: float = 1.0
    passes: tuple = ("to_unconstrained",)
    adaptation: str = field(default="auto", kw_only=True)  # keyword-only: the positional order stays
    name = "hmc-family"

    def __post_init__(self) -> None:
        self._check_adaptation()

    def _check_adaptation(self) -> None:
        if self.adaptation not in ADAPTATIONS:
            raise ModelError(
                f"unknown adaptation {self.adaptation!r} of {type(self).__name__}",
                hint=f"use one of {', '.join(repr(a) for a in ADAPTATIONS)} (see docs/evaluators.md)",
            )
        if self.adaptation in ("fisher", "low_rank") and self.dense_mass:  # "auto" is "window" for a dense matrix
            raise ModelError(
                f"adaptation={self.adaptation!r} adapts a diagonal (or low-rank modified diagonal) mass matrix; "
                f"{type(self).__name__}(dense_mass=True) asks for a dense one",
                hint=f"use dense_mass=False with adaptation={self.adaptation!r}, or adaptation='window' for a "
                "dense matrix",
            )

    def mass_adaptation(self, dim: int) -> str:
        """The adaptation the warmup runs for ``dim`` sampler coordinates (``"auto"`` resolved).

        ``"auto"``: Stan's ``"window"`` for a dense matrix; otherwise nutpie's
        ``"low_rank"`` up to 1,000 coordinates and its diagonal ``"fisher"``
        beyond.  ``"low_rank"`` had more min-ESS per gradient than ``"fisher"`` on
        every benchmark model (7 of 7, median 5.7x) and more min-ESS per second on
        most (docs/benchmarks.md, section 11).  Its price: a sampler program that
        compiles ~0.6 s longer (the low-rank kinetic energy in every leapfrog step
        and U-turn check, and the metric's eigendecompositions), so on cheap small
        models sampled once (eight schools) ``"fisher"`` can be faster end to end;
        and ``O(d * 10)`` work per leapfrog step plus ``O(n d)`` per recomputation,
        which on a 10,000-coordinate model with a cheap gradient (the 10,000-node
        graphs of section 7) made a run 2.1x slower (3.2 -> 6.7 s) where no
        correlation was there to find: hence the cap.  With the chains split over
        devices its draws agree with one device's to rounding, which its
        eigendecompositions amplify more than ``"fisher"`` does over a long
        warmup (docs/scaling.md).

        >>> NUTS().mass_adaptation(10), NUTS().mass_adaptation(10_000), NUTS(adaptation="fisher").mass_adaptation(10)
        ('low_rank', 'fisher', 'fisher')
        >>> NUTS(dense_mass=True).mass_adaptation(10), NUTS(adaptation="low_rank").mass_adaptation(10_000)
        ('window', 'low_rank')
        """
        if self.adaptation != "auto":
            return self.adaptation
        if self.dense_mass:
            return "window"
        return "low_rank" if dim <= LOW_RANK_MAX_DIM else "fisher"

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
        devices: Any = None,
    ) -> Draws:
        """Warm up and sample every chain (see :class:`~ppgraph.inference.evaluator.Evaluator`).

        ``devices``: where the chains run (``None``: all devices, see
        :func:`chain_devices`); chains are split over them along a 1-D mesh
        (``jax.shard_map``) and run one after another (CPU) or vectorised with
        ``jax.vmap`` (accelerators) on each.
        """
        if not 0.0 < self.target_accept < 1.0:
            raise ModelError(f"target_accept must lie in (0, 1), got {self.target_accept}")
        self._algorithm()  # validates the settings before anything is compiled
        num_chains = jax.tree.leaves(initial_position)[0].shape[0]
        used = chain_devices(devices, num_chains)
        key = ("blackjax-hmc", self, num_warmup, num_samples, num_chains, tuple(d.id for d in used))
        program = problem.cached(key, lambda: self._program(problem, num_warmup, num_samples, num_chains, used))
        keys = jax.random.split(rng_key, num_chains)  # the program splits each into one key per step
        bar = ProgressBar(program.total, desc=f"{self.name} ({num_chains} chains)", enabled=progress)
        keys, position = program.place_chains((keys, initial_position))
        data = program.place_data(problem.data)
        with bar:
            carry = program.empty(keys, position, data)
            for first in range(0, program.total, program.chunk):
                carry = program.advance(carry, keys, position, data, program.place_data(np.int32(first)))
                if progress:  # wait for a chunk only to show it: the compiled loop never calls the host
                    jax.block_until_ready(carry)
                bar.update(min(program.chunk, program.total - first))
            _, adapt, (samples, stats) = gather(jax.block_until_ready(carry))
        return Draws(samples=samples, stats=stats, info={
            "adaptation": {"step_size": adapt[2], "inverse_mass_matrix": adapt[3]},
            "kernel": self,
            "devices": list(used),
        })

    def _program(self, problem: Problem, num_warmup: int, num_samples: int, num_chains: int,
                 devices: list[Any]) -> ChainProgram:
        """The compiled sampler: chunks of steps, the first starting the chains (data and keys are arguments)."""
        algorithm, extra = self._algorithm()
        kernel = algorithm.build_kernel()
        logdensity_at, constrain_at = problem.logdensity_at, problem.constrain_at
        total = num_warmup + num_samples
        chunk = -(-total // _CHUNKS)
        mode = self.mass_adaptation(sum(int(np.prod(s.shape)) for s in jax.tree.leaves(problem.shapes)))
        fisher = mode in ("fisher", "low_rank")
        schedule = _schedule(num_warmup, total, fisher_schedule if fisher else build_schedule)
        da_init, da_update, da_final = dual_averaging_adaptation(self.target_accept)
        if mode == "low_rank":
            # nutpie recomputes after every draw; here after every draw of the first 10% of the warmup (where
            # the metric moves most), then every 10 draws and at every switch: a fifth of the eigendecompositions
            # (eight schools, 4 chains of 500 + 500: 0.80 s -> 0.35 s), min-ESS per gradient unchanged
            mm_init, mm_update, mm_final = low_rank_adaptation(low_rank_buffer_size(schedule[:num_warmup]),
                                                               recompute_every=10,
                                                               every_draw_until=int(0.1 * num_warmup))
        elif fisher:
            mm_init, mm_update, mm_final = fisher_adaptation()
        else:
            mm_init, mm_update, mm_final = mass_matrix_adaptation(not self.dense_mass)
        dtype = jnp.result_type(float)
        # the kernel moves one flat vector: a leapfrog step updates one array, not one per latent variable
        unravel = _unraveler(problem.shapes)

        def record(state: Any, info: Any, step_size: Any, data: Any) -> tuple[dict, dict]:
            return self._record(lambda x: constrain_at(unravel(x), data), state, info, step_size)

        def start(key: Any, position: dict[str, Any], data: dict[str, Any]) -> tuple:
            flat = ravel_pytree(position)[0]
            state = algorithm.init(flat, lambda x: logdensity_at(unravel(x), data))
            dim = flat.size
            step_size = jnp.asarray(self.initial_step_size, dtype)
            mm = mm_init(flat, state.logdensity_grad) if fisher else mm_init(dim)
            if fisher and num_warmup == 0:  # no warmup, no adaptation: the identity, as with "window"
                mm = mm._replace(inverse_mass_matrix=identity_metric(mm.inverse_mass_matrix))
            adapt = (da_init(step_size), mm, step_size, mm.inverse_mass_matrix)
            draw, stats = record(state, None, step_size, data)
            buffers = jax.tree.map(lambda v: jnp.zeros((num_samples, *jnp.shape(v)), jnp.result_type(v)),
                                   (draw, stats))
            return state, adapt, buffers

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

        def fisher_step(adapt: tuple, slow: Any, switch: Any, last: Any, state: Any, moved: Any,
                        acceptance: Any) -> tuple:
            # nutpie: the metric follows every draw (adaptation.py); the step size adapts throughout and
            # restarts once, when the metric first leaves its gradient initialisation
            ss, mm, step_size, imm = adapt
            ss = da_update(ss, acceptance)
            before = mm.num_estimates
            # add the draw, switch, recompute in one call (low_rank then compiles its metric once)
            mm = jax.lax.cond(slow, lambda m: mm_update(m, state.position, state.logdensity_grad, moved,
                                                        switch=switch), lambda m: m, mm)
            restart = (before == 0) & (mm.num_estimates > 0)
            ss = jax.lax.cond(restart, lambda s: da_init(jnp.exp(s.log_step_size).astype(dtype)), lambda s: s, ss)
            step_size = jnp.where(last, jnp.exp(ss.log_step_size_avg), jnp.exp(ss.log_step_size)).astype(dtype)
            return ss, mm, step_size, mm.inverse_mass_matrix

        def advance(carry: tuple, key: Any, data: dict[str, Any], first: Any) -> tuple:
            logdensity = lambda x: logdensity_at(unravel(x), data)  # noqa: E731
            # one key per chain and step, as jax.random.split(chain_key, steps) (the streams of earlier versions)
            steps = jax.random.split(key, total)

            windows = jnp.asarray(schedule)

            def step(carry: tuple) -> tuple:
                state, adapt, buffers, i = carry
                slow, window_end = windows[i, 0], windows[i, 1]
                step_size, imm = adapt[2], adapt[3]
                previous = state.position
                state, info = kernel(steps[i], state, logdensity, step_size, imm, **extra)
                if fisher:  # draws that did not move are not added to the estimators (nutpie)
                    moved = jnp.any(state.position != previous)
                    warm = lambda a: fisher_step(a, slow == 1, window_end == 1, i == num_warmup - 1, state,  # noqa: E731
                                                 moved, info.acceptance_rate)
                else:
                    warm = lambda a: adapt_step(a, slow == 1, window_end == 1, i == num_warmup - 1,  # noqa: E731
                                                state.position, info.acceptance_rate)
                adapt = jax.lax.cond(i < num_warmup, warm, lambda a: a, adapt)
                draw = record(state, info, step_size, data)
                j = jnp.maximum(i - num_warmup, 0)
                buffers = jax.tree.map(lambda b, v: jax.lax.dynamic_update_index_in_dim(b, jnp.asarray(v, b.dtype), j, 0),
                                       buffers, draw)  # int64 stats under jax_enable_x64
                return state, adapt, buffers, i

            def body(carry: tuple, i: Any) -> tuple[tuple, None]:
                # the last chunk may run past the end: those steps do nothing (`i` is the same for every chain)
                out = jax.lax.cond(i < total, step, lambda c: c, (*carry, i))
                return out[:3], None

            carry, _ = jax.lax.scan(body, carry, first + jnp.arange(chunk, dtype=jnp.int32))
            return carry

        return ChainProgram.build(start, advance, total=total, chunk=chunk, devices=devices)

    def _record(self, constrain: Any, state: Any, info: Any, step_size: Any) -> tuple[dict, dict]:
        """One kept draw: constrained values and statistics (``info=None``: zeros of the right shapes)."""
        if info is None:
            stats = {k: jnp.zeros((), v) for k, v in self._stat_dtypes().items()}
        else:
            stats = self._stats(info, state)
        stats["step_size"] = jnp.asarray(step_size)
        return constrain(state.position), stats

    def _stat_dtypes(self) -> dict[str, Any]:
        f = jnp.result_type(float)
        return {"diverging": jnp.bool_, "acceptance_rate": f, "num_steps": jnp.int32, "energy": f, "lp": f}

@dataclass(frozen=True)
class NUTS(_BlackJAXHMC):
    """The No-U-Turn sampler (``blackjax.nuts``) with nutpie's (or Stan's) warmup adaptation.

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
    adaptation
        How the warmup adapts the mass matrix (keyword only): ``"fisher"``
        (nutpie's: the diagonal ``sqrt(Var[draws] / Var[gradients])``, initialised
        from the first gradient and updated after every warmup draw; see
        :mod:`ppgraph.inference.adaptation`), ``"low_rank"`` (nutpie's low-rank
        modified diagonal: the same schedule, plus up to 10 directions of posterior
        correlation learnt from the draws and gradients of the window), ``"window"``
        (Stan's windows: the variance of the draws, diagonal or dense) or ``"auto"``
        (the default: ``"low_rank"`` up to 1,000 coordinates, ``"fisher"`` beyond,
        ``"window"`` with ``dense_mass=True``; see :meth:`mass_adaptation`).
        ``"low_rank"`` had 1.3-26x the min-ESS per gradient of ``"fisher"`` on 7 of
        7 benchmark models (docs/benchmarks.md, section 11); ``"fisher"`` compiles
        ~0.6 s faster, which can pay on cheap small models.

    Examples
    --------
    >>> NUTS().adaptation, NUTS(adaptation="window").adaptation
    ('auto', 'window')
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
    """Static-path Hamiltonian Monte Carlo (``blackjax.hmc``) with the warmup adaptation of :class:`NUTS`.

    Parameters
    ----------
    num_integration_steps
        Leapfrog steps per draw (16).
    target_accept, dense_mass, initial_step_size, adaptation
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


_CHUNKS = 32  # calls of the compiled loop per run: how often the progress bar moves


def _schedule(num_warmup: int, total: int, build: Any = build_schedule) -> np.ndarray:
    """The warmup windows (``build``: Stan's ``build_schedule`` or nutpie's ``fisher_schedule``; stage 0 fast /
    1 slow, window end), padded to ``total`` (NumPy: a constant of the compiled loop, nothing compiled eagerly)."""
    rows = np.zeros((total, 2), dtype=np.int32)
    if num_warmup > 0:
        rows[:num_warmup] = np.asarray(build(num_warmup), dtype=np.int32)
    return rows


def _unraveler(shapes: Any) -> Any:
    """``ravel_pytree``'s ``unravel`` for a tree of ``jax.ShapeDtypeStruct`` (traced abstractly: nothing runs)."""
    found = []

    def flat(tree: Any) -> Any:
        vector, unravel = ravel_pytree(tree)
        found.append(unravel)
        return vector

    jax.eval_shape(flat, shapes)
    return found[0]


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
