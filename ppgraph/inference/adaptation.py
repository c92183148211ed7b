"""nutpie's diagonal mass-matrix adaptation (Fisher divergence), as an init/update/final triple.

Stan's window adaptation (``blackjax.window_adaptation``, the ``"window"`` option
of :class:`~ppgraph.inference.NUTS`, used for ``dense_mass=True``) sets the diagonal inverse mass matrix to the
variance of the draws of each window.  nutpie (Seyboldt et al., "Preconditioning
Hamiltonian Monte Carlo by minimizing Fisher divergence") uses the gradients of
the log density too: the diagonal that minimises the Fisher divergence between
the target and a Gaussian approximation is

.. math::

    M^{-1}_{ii} = \\sqrt{\\operatorname{Var}[x_i] / \\operatorname{Var}[\\partial_i \\log p(x)]},

exact (``s_i**2``) for any Gaussian target ``N(m, diag(s**2))`` whatever the number
of draws beyond two, while the variance of the draws alone needs many draws.  This
module implements it (``adaptation="fisher"``; the default of NUTS and HMC for a
diagonal mass matrix up to 1,000 coordinates, ``"low_rank"`` below, adds a low-rank
correction to it) with BlackJAX's pieces: the Welford moments of positions and
gradients of ``mass_matrix_adaptation(diagonal_estimator="fisher")`` and the estimator
``fisher_score_diagonal_from_moments`` (population moments, ``Var[grad]`` floored at
``1e-10``, the scale clipped to nutpie's ``[1e-20, 1e20]``).

The schedule is nutpie's (``nuts-rs``, ``adapt_strategy.rs`` and
``transform/adapt/diagonal.rs``), not Stan's, because the estimator is what makes
nutpie's schedule possible: with gradients a handful of draws already give a
useful metric, so it adapts from the first draw instead of after a 75-draw
step-size-only buffer, and refreshes the metric after *every* draw.  In detail
(:func:`fisher_schedule` builds the static part):

* **initial metric** from the gradient at the initial point, ``1 / |grad|`` (a
  diagonal Hessian guess; ``1`` where the gradient is below ``1e-10``, BlackJAX's
  guard against starting at a stationary point);
* **two estimators**, a foreground one whose moments give the metric and a
  background one; every kept draw goes into both.  At a *switch* the background
  becomes the foreground and a fresh background starts, so the metric always
  rests on the recent draws, never on the transient of the first ones.  Switches
  happen every 10 draws in the early phase (the first 30% of the warmup), then
  after windows of 80 draws growing 1.5x each, and never when the next window
  would not end before the final phase (nutpie's ``is_late`` rule);
* **metric update after every draw** from the foreground (once it holds 3 draws);
* **final phase** (the last 15% of the warmup): the metric is frozen and only the
  step size adapts;
* **draws that did not move** (the trajectory returned its start point) are not
  added to the estimators, as nutpie skips index-0 draws.  BlackJAX does not report
  the index in the trajectory, so "did not move" is the test; the schedule counts
  draws, not kept draws (nutpie counts kept draws).

Step size: dual averaging throughout the warmup (the host,
:mod:`ppgraph.inference.hmc`), restarted once when the metric first changes from
its gradient initialisation (nutpie restarts it there too), not at every switch.

Known weakness: on posteriordb's ``gp_pois_regr`` (a latent Gaussian process,
float64, 1000 warmup draws, 4 chains) this adaptation leaves 150 to 190 of 4000
transitions divergent where Stan's has 3 to 23 (seeds 20260 and 1; its step size is
about 5x smaller there); the posterior still matches posteriordb's reference and
the min-ESS per gradient is 1.1-1.2x Stan's.  Restarting the step-size adaptation
at the final phase (as Stan's last window does) cut those divergences to 30-60 but
lowered the min-ESS per gradient on the benchmark models (fisher / window, median
of 3 seeds, 500 warmup draws: arK 1.03x -> 0.78x, blr 2.47x -> 2.0x), so it is not
done.  ``target_accept=0.9`` or ``adaptation="window"`` are the remedies.

nutpie's low-rank correction (``adaptation="low_rank"``, :func:`low_rank_adaptation`)
adapts ``M^{-1} = diag(s) (I + U (L - I) U^T) diag(s)``: the same schedule, the same
foreground/background switches, but the estimator keeps the draws and gradients of
the current window (a buffer, not moments) and recomputes, after every kept draw,
the diagonal scale ``s = (Var[x] / Var[grad])**(1/4)`` (``s**2`` is the Fisher
diagonal above) and the directions in
which the draws and gradients, rescaled by ``s``, disagree most with it: the
eigenvectors of the geometric mean of their covariances (nutpie's ``spd_mean``)
whose eigenvalues lie outside ``[1/cutoff, cutoff]`` (at most ``max_rank`` of them).
BlackJAX provides the estimator (``blackjax.adaptation.metric_recipes``, the
accumulating "nutpie" buffer) and the metric (``LowRankInverseMassMatrix``, whose
leapfrog steps cost ``O(d * max_rank)``); this module wires them to the schedule.

Examples
--------
>>> import jax.numpy as jnp
>>> init, update, final = fisher_adaptation()
>>> s = jnp.array([0.1, 1.0, 10.0])  # N(0, diag(s**2)): the gradient of log p at x is -x / s**2
>>> state = init(jnp.ones(3), -jnp.ones(3) / s**2)
>>> for x in (jnp.array([1.0, -1.0, 2.0]), jnp.array([-0.5, 0.3, 1.0]), jnp.array([0.2, 2.0, -3.0])):
...     state = update(state, s * x, -x / s)
>>> [round(float(v), 4) for v in state.inverse_mass_matrix]  # s**2
[0.01, 1.0, 100.0]
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.mass_matrix import FisherMassMatrixAdaptationState, mass_matrix_adaptation
from blackjax.adaptation.metric_estimators import fisher_score_diagonal_from_moments
from jax.flatten_util import ravel_pytree

__all__ = [
    "FisherAdaptationState", "LowRankAdaptationState", "fisher_adaptation", "low_rank_adaptation",
    "low_rank_buffer_size", "low_rank_metric", "fisher_schedule", "gradient_init", "identity_metric",
    "ADAPTATIONS",
]

ADAPTATIONS = ("auto", "fisher", "low_rank", "window")
"""The mass-matrix adaptations of :class:`~ppgraph.inference.NUTS` and :class:`~ppgraph.inference.HMC`
(``"auto"``, the default: ``"low_rank"`` up to 1,000 coordinates and ``"fisher"`` beyond, or
``"window"`` for a dense mass matrix)."""

MIN_DRAWS = 3  # nutpie's ``adapt``: no estimate from fewer draws in the foreground
_MIN_LOW_RANK_DRAWS = 10  # low_rank_metric's correction needs this many draws (fewer: the diagonal alone)
_OVERSAMPLE = 15  # extra columns of the randomised subspaces of low_rank_metric
_LAM_RANGE = 1e4  # low_rank_metric's eigenvalues are clipped to [1/_LAM_RANGE, _LAM_RANGE]
_WHOLE_SPACE = 64  # up to this dimension low_rank_metric works in the whole space (nutpie's estimate exactly)


class FisherAdaptationState(NamedTuple):
    """State of :func:`fisher_adaptation`.

    Attributes
    ----------
    inverse_mass_matrix
        The current diagonal inverse mass matrix, shape ``(d,)``.
    foreground, background
        BlackJAX ``FisherMassMatrixAdaptationState`` s (Welford moments of the
        flat positions and gradients); the metric comes from the foreground.
    num_estimates
        How many times the metric has been estimated from draws (0 while it is
        still the gradient initialisation): the host restarts the step-size
        adaptation when it becomes 1.
    """

    inverse_mass_matrix: jax.Array
    foreground: FisherMassMatrixAdaptationState
    background: FisherMassMatrixAdaptationState
    num_estimates: jax.Array


def gradient_init(grad: jax.Array) -> jax.Array:
    """nutpie's initial diagonal inverse mass matrix ``1 / |grad|`` (flat ``grad``).

    Clipped to ``[1e-20, 1e20]``; ``1`` where ``|grad| < 1e-10`` (a start at a
    stationary point would otherwise give an enormous scale).

    >>> gradient_init(jnp.array([-4.0, 0.5, 0.0])).tolist()
    [0.25, 2.0, 1.0]
    """
    g = jnp.abs(grad)
    return jnp.where(g < 1e-10, 1.0, 1.0 / jnp.clip(g, 1e-20, 1e20))


def identity_metric(inverse_mass_matrix: Any) -> Any:
    """The identity in the form of ``inverse_mass_matrix`` (an array, or a low-rank ``(sigma, U, lam)``).

    >>> identity_metric(jnp.array([0.5, 2.0])).tolist()
    [1.0, 1.0]
    """
    if isinstance(inverse_mass_matrix, tuple):  # LowRankInverseMassMatrix: sigma = 1, lam = 1
        return inverse_mass_matrix._replace(sigma=jnp.ones_like(inverse_mass_matrix.sigma),
                                            lam=jnp.ones_like(inverse_mass_matrix.lam))
    return jnp.ones_like(inverse_mass_matrix)


def fisher_adaptation() -> tuple[Callable[..., FisherAdaptationState], Callable[..., FisherAdaptationState],
                                 Callable[[FisherAdaptationState], FisherAdaptationState]]:
    """nutpie's diagonal adaptation as ``(init, update, final)``, like BlackJAX's ``mass_matrix_adaptation``.

    * ``init(position, grad)``: the state at the initial point (pytrees or flat
      arrays): metric ``1 / |grad|`` (:func:`gradient_init`), the point in both
      estimators.
    * ``update(state, position, grad, keep=True)``: add a draw and its gradient to
      both estimators (skipped when ``keep`` is false) and re-estimate the metric
      from the foreground, ``sqrt(Var[x] / Var[grad])``, once it holds 3 draws.
    * ``final(state)``: a switch (the host calls it at the window ends of
      :func:`fisher_schedule`): the background becomes the foreground, a fresh
      background starts, and the metric is re-estimated from the new foreground.
      ``update(..., switch=True)`` is ``update`` then ``final``.

    Every function is traceable (``jax.lax.scan``, ``jax.vmap``).

    Returns
    -------
    tuple
        ``(init, update, final)``.
    """
    mm_init, mm_update, mm_final = mass_matrix_adaptation(is_diagonal_matrix=True, diagonal_estimator="fisher")

    def estimate(state: FisherAdaptationState) -> FisherAdaptationState:
        block = state.foreground.fisher_block
        denom = jnp.maximum(block.count - 1.0, 1.0)  # Bessel: cancels in the ratio
        fresh = fisher_score_diagonal_from_moments(block.m2_x / denom, block.m2_g / denom)
        ready = block.count >= MIN_DRAWS
        imm = jnp.where(ready, fresh.astype(state.inverse_mass_matrix.dtype), state.inverse_mass_matrix)
        return state._replace(inverse_mass_matrix=imm, num_estimates=state.num_estimates + ready.astype(jnp.int32))

    def init(position: Any, grad: Any) -> FisherAdaptationState:
        x, g = ravel_pytree(position)[0], ravel_pytree(grad)[0]
        fg = mm_update(mm_init(x.size), x, g)
        return FisherAdaptationState(gradient_init(g).astype(x.dtype), fg, fg, jnp.zeros((), jnp.int32))

    def update(state: FisherAdaptationState, position: Any, grad: Any, keep: Any = True,
               switch: Any = False) -> FisherAdaptationState:
        x, g = ravel_pytree(position)[0], ravel_pytree(grad)[0]
        add = lambda m: mm_update(m, x, g)  # noqa: E731
        fg, bg = jax.lax.cond(keep, lambda pair: (add(pair[0]), add(pair[1])), lambda pair: pair,
                              (state.foreground, state.background))
        state = estimate(state._replace(foreground=fg, background=bg))
        return jax.lax.cond(switch, final, lambda s: s, state)

    def final(state: FisherAdaptationState) -> FisherAdaptationState:
        return estimate(state._replace(foreground=state.background, background=mm_final(state.background)))

    return init, update, final


def fisher_schedule(num_warmup: int, *, early_window: float = 0.3, step_size_window: float = 0.15,
                    early_switch: int = 10, window_size: int = 80, window_growth: float = 1.5) -> np.ndarray:
    """nutpie's warmup schedule in the format of BlackJAX's ``build_schedule``.

    One row ``(stage, switch)`` per warmup draw: stage ``1`` while the mass matrix
    adapts (every draw before the final ``step_size_window`` fraction), ``0`` in the
    final step-size-only phase; ``switch`` ``1`` where the background estimator
    replaces the foreground (after ``early_switch`` draws in the first
    ``early_window`` fraction, then after ``window_size`` draws growing by
    ``window_growth`` per switch), never when the window would end inside the final
    phase.  The defaults are nutpie's.

    Examples
    --------
    >>> rows = fisher_schedule(100)
    >>> int(rows[:, 0].sum()), np.flatnonzero(rows[:, 1]).tolist()  # adapt 85 draws; switches in the first 30
    (85, [8, 18, 28])
    >>> np.flatnonzero(fisher_schedule(500)[:, 1]).tolist()[-3:]  # then one window of 80; 120 would end too late
    [138, 148, 228]
    """
    n = int(num_warmup)
    rows = np.zeros((n, 2), dtype=np.int32)
    final_start = n - int(step_size_window * n)
    early_end = int(early_window * n)
    rows[:final_start, 0] = 1
    background = 1  # the initial point is in both estimators
    size = window_size
    for draw in range(final_start):
        background += 1
        freq = early_switch if draw < early_end else size
        if background >= freq and freq + draw <= final_start:
            rows[draw, 1] = 1
            background = 0
            if draw >= early_end:
                size = max(size + 1, int(round(size * window_growth)))
    return rows


class LowRankAdaptationState(NamedTuple):
    """State of :func:`low_rank_adaptation`.

    Attributes
    ----------
    inverse_mass_matrix
        BlackJAX's ``LowRankInverseMassMatrix(sigma, U, lam)``: ``M^{-1} = diag(sigma)
        (I + U (diag(lam) - I) U^T) diag(sigma)``, shapes ``(d,)``, ``(d, max_rank)``,
        ``(max_rank,)``; BlackJAX's kernels take it in place of an array.
    draws, grads
        The window's draws and gradients, shape ``(buffer_size, d)``; the first
        ``count`` rows hold them.
    count, split
        Rows in use, and how many of them are older than the last switch (nutpie's
        ``background_split``: the next switch drops them).
    since, seen
        Kept draws since the metric was last recomputed, and in all.
    num_estimates
        How many times the metric has been estimated from draws (as in
        :class:`FisherAdaptationState`).
    """

    inverse_mass_matrix: Any
    draws: jax.Array
    grads: jax.Array
    count: jax.Array
    split: jax.Array
    since: jax.Array
    seen: jax.Array
    num_estimates: jax.Array


def low_rank_buffer_size(schedule: np.ndarray) -> int:
    """Rows the draw buffer of :func:`low_rank_adaptation` needs for a :func:`fisher_schedule`.

    The buffer holds the initial point and every adapting draw since the switch
    before the last one (nutpie drops the older part at each switch); the
    largest such count over the warmup, assuming every draw is kept.

    >>> low_rank_buffer_size(fisher_schedule(100))  # 10 after the last early switch, then 56 more
    66
    """
    held, split, most = 1, 0, 1
    for stage, switch in np.asarray(schedule):
        if stage:
            held += 1
            most = max(most, held)
            if switch:
                held, split = held - split, held - split
    return most


def _leading_subspace(rows: jax.Array, width: int, iterations: int = 2) -> jax.Array:
    """An orthonormal basis ``(d, width)`` of the leading right singular subspace of ``rows`` (``(n, d)``).

    A randomised range finder with ``iterations`` power iterations (Halko,
    Martinsson & Tropp 2011), from a fixed Gaussian start: ``O(n d width)`` per
    call, where a full SVD or a ``d x d`` eigendecomposition costs ``O(n d^2)``
    and the metric is recomputed after every warmup draw.  The exact step comes
    after it: :func:`low_rank_metric` solves nutpie's problem exactly inside the
    span, so only the span needs to hold the leading directions.
    """
    start = jax.random.normal(jax.random.key(0), (rows.shape[1], width), rows.dtype)
    basis, _ = jnp.linalg.qr(rows.T @ (rows @ start))
    for _ in range(iterations):
        basis, _ = jnp.linalg.qr(rows.T @ (rows @ basis))
    return basis


def _spd_mean(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a # b^{-1}``: the geometric mean of ``a`` and the inverse of ``b`` (nutpie's ``spd_mean``).

    ``b^{-1/2} (b^{1/2} a b^{1/2})^{1/2} b^{-1/2}``; for commuting matrices ``sqrt(a / b)``.

    >>> mean = _spd_mean(jnp.diag(jnp.array([1.0, 4.0, 8.0])), jnp.diag(jnp.array([1.0, 1.0, 0.5])))
    >>> [round(float(v), 4) for v in mean.diagonal()]
    [1.0, 2.0, 4.0]
    """
    bv, bu = jnp.linalg.eigh(b)
    bv = jnp.maximum(bv, jnp.finfo(bv.dtype).tiny)
    b_half = (bu * jnp.sqrt(bv)) @ bu.T
    b_half_inv = (bu / jnp.sqrt(bv)) @ bu.T
    mv, mu = jnp.linalg.eigh(b_half @ a @ b_half)
    m_half = (mu * jnp.sqrt(jnp.maximum(mv, 0.0))) @ mu.T
    return b_half_inv @ m_half @ b_half_inv


def low_rank_metric(draws: jax.Array, grads: jax.Array, count: Any, *, max_rank: int = 10, gamma: float = 1e-5,
                    cutoff: float = 2.0) -> Any:
    """nutpie's low-rank modified diagonal inverse mass matrix from draws and their gradients.

    The first ``count`` rows of ``draws`` and ``grads`` (``(n, d)``) are used (the
    rest are masked: ``count`` may be traced).  nutpie's estimator (Seyboldt,
    "If only my posterior were normal", Algorithm 1; ``nuts-rs``
    ``low_rank.rs``): the diagonal ``sigma = (Var[x] / Var[grad])**(1/4)``; in
    the space rescaled by it, the span ``Q`` of the leading directions of the
    draws and of the gradients (nutpie takes all of them: the whole space here
    up to ``d = 64``; beyond, ``max_rank + 15`` of each, found by a randomised
    range finder, which keeps a recomputation ``O(n d)`` but is approximate: on a
    Gaussian in 80 dimensions with 3 strong directions, 200 draws, the variance
    along them comes out 0.77-0.98 of the truth, against 1.02-1.11 in the whole
    space and 0.1 for the diagonal alone); there, the geometric mean of
    the regularised covariance of the draws and the inverse covariance of the
    gradients (``C = P P^T / gamma + I``, ``gamma`` at least ``eps**(1/3)`` of the
    largest eigenvalue of ``P P^T``, directions without data left alone: in
    float32 nutpie's ``1e-5`` is below rounding, and directions with less than
    ~0.5% of the largest variance are pulled towards the diagonal);
    its eigenvectors whose eigenvalues lie
    outside ``[1/cutoff, cutoff]`` (the ``max_rank`` furthest from 1 in log
    scale; the others get eigenvalue 1).  Computed in float64 when
    ``jax_enable_x64`` is on.

    Returns
    -------
    blackjax.mcmc.metrics.LowRankInverseMassMatrix
        ``(sigma, U, lam)``, shapes ``(d,)``, ``(d, max_rank)``, ``(max_rank,)``.

    Examples
    --------
    >>> cov = jnp.array([[1.0, 0.9], [0.9, 1.0]])
    >>> def dense(imm):  # diag(sigma) (I + U (L - I) U^T) diag(sigma)
    ...     return imm.sigma[:, None] * (jnp.eye(2) + (imm.U * (imm.lam - 1)) @ imm.U.T) * imm.sigma
    >>> with jax.enable_x64(True):  # exact for a Gaussian, whatever the draws (up to the regularisation)
    ...     c = cov.astype(float)
    ...     x = jax.random.multivariate_normal(jax.random.key(0), jnp.zeros(2), c, (50,))
    ...     imm = low_rank_metric(x, -x @ jnp.linalg.inv(c), 50, max_rank=2)
    ...     print(float(jnp.abs(dense(imm) - c).max()) < 1e-4)
    True
    >>> x = jax.random.multivariate_normal(jax.random.key(0), jnp.zeros(2), cov, (50,))
    >>> imm = low_rank_metric(x, -x @ jnp.linalg.inv(cov), 50, max_rank=2)  # float32: regularised
    >>> float(jnp.abs(dense(imm) - cov).max()) < 0.1
    True
    """
    from blackjax.mcmc.metrics import LowRankInverseMassMatrix

    dtype = draws.dtype
    work = jnp.promote_types(dtype, jnp.result_type(float))  # float64 under x64 (also jax.enable_x64 blocks)
    draws, grads = draws.astype(work), grads.astype(work)
    n, d = draws.shape
    mask = (jnp.arange(n) < count).astype(work)[:, None]
    total = jnp.maximum(jnp.asarray(count, work), 1.0)
    dx = mask * (draws - (mask * draws).sum(0) / total)
    dg = mask * (grads - (mask * grads).sum(0) / total)
    var_x, var_g = (dx**2).sum(0), (dg**2).sum(0)
    sigma = jnp.clip(jnp.sqrt(jnp.sqrt(var_x / jnp.maximum(var_g, 1e-10 * total))), 1e-20, 1e20)
    x, a = dx / sigma, dg * sigma
    k, width = min(int(max_rank), d), int(max_rank) + _OVERSAMPLE
    if d <= max(_WHOLE_SPACE, 2 * width):  # the whole space: nutpie's estimate exactly
        basis = jnp.eye(d, dtype=work)
    else:
        basis, _ = jnp.linalg.qr(jnp.concatenate([_leading_subspace(x, width), _leading_subspace(a, width)], axis=1))
    px, pa = x @ basis, a @ basis  # (n, q)
    sx, sa = px.T @ px, pa.T @ pa
    # nutpie's C = S / gamma + I, scaled by gamma (the geometric mean does not change): S + gamma I.
    # The geometric mean multiplies the eigenvalues of the two (its condition number is the product of
    # theirs), so in float32 nutpie's gamma = 1e-5 next to eigenvalues of ~n is below rounding: directions
    # without data came out with eigenvalue ~1e-9 where the answer is 1, and the step size collapsed.
    # Directions without data (fewer draws than dimensions) get exactly the identity; in the rest gamma is
    # at least eps**(1/3) of each matrix's largest eigenvalue (the product's condition stays below
    # eps**(-2/3)).
    q = basis.shape[1]
    energy, rotation = jnp.linalg.eigh(sx + sa)
    active = energy > 1e3 * jnp.finfo(work).eps * energy[-1]
    keep = jnp.outer(active, active)
    eye = jnp.eye(q, dtype=work)

    def regularised(m: jax.Array) -> jax.Array:
        m = jnp.where(keep, rotation.T @ m @ rotation, 0.0)
        floor = jnp.finfo(work).eps ** (1 / 3) * jnp.linalg.eigvalsh(m)[-1]
        return m + jnp.where(active, jnp.maximum(gamma, floor), 1.0) * eye

    vals, vecs = jnp.linalg.eigh(_spd_mean(regularised(sx), regularised(sa)))
    vecs = rotation @ vecs
    vals = jnp.clip(jnp.where(jnp.isfinite(vals), vals, 1.0), 1.0 / _LAM_RANGE, _LAM_RANGE)
    order = jnp.argsort(-jnp.abs(jnp.log(vals)))[:k]
    lam, u = vals[order], basis @ vecs[:, order]
    lam = jnp.where((lam < 1.0 / cutoff) | (lam > cutoff), lam, 1.0)
    # no correction rather than a NaN metric, nor one from a handful of draws (the diagonal is still used)
    finite = jnp.all(jnp.isfinite(u)) & jnp.all(jnp.isfinite(lam)) & (count >= _MIN_LOW_RANK_DRAWS)
    u, lam = jnp.where(finite, u, 0.0), jnp.where(finite, lam, 1.0)
    if k < max_rank:  # fewer dimensions than the rank: unused columns, eigenvalue 1
        u = jnp.concatenate([u, jnp.zeros((d, max_rank - k), work)], axis=1)
        lam = jnp.concatenate([lam, jnp.ones(max_rank - k, work)])
    return LowRankInverseMassMatrix(sigma=sigma.astype(dtype), U=u.astype(dtype), lam=lam.astype(dtype))


def low_rank_adaptation(buffer_size: int, *, max_rank: int = 10, gamma: float = 1e-5, cutoff: float = 2.0,
                        recompute_every: int = 1, every_draw_until: int = 0,
                        ) -> tuple[Callable[..., LowRankAdaptationState], Callable[..., LowRankAdaptationState],
                                   Callable[[LowRankAdaptationState], LowRankAdaptationState]]:
    """nutpie's low-rank modified diagonal adaptation as ``(init, update, final)`` (see :func:`fisher_adaptation`).

    * ``init(position, grad)``: the diagonal from the gradient at the initial point
      (``sigma**2 = 1 / |grad|``, :func:`gradient_init`), no low-rank correction,
      the point in the buffer.
    * ``update(state, position, grad, keep=True)``: add a draw and its gradient
      (skipped when ``keep`` is false) and, once the buffer holds 3 draws, recompute
      the metric (:func:`low_rank_metric`) after every kept draw until
      ``every_draw_until`` of them, then every ``recompute_every`` kept draws
      (nutpie: after every draw).
    * ``final(state)``: a switch: the draws before the previous switch leave the
      buffer and the metric is recomputed from the rest.  ``update(..., switch=True)``
      is ``update`` then ``final`` with one recomputation: a sampler that calls it
      so compiles the metric's eigendecompositions once, not twice (~0.35 s each).

    Parameters
    ----------
    buffer_size
        Rows of the draw and gradient buffers (:func:`low_rank_buffer_size` of the
        schedule; beyond them a draw replaces the oldest).
    max_rank
        Most eigenvectors in the correction (the metric's arrays have this many
        columns; unused ones have eigenvalue 1).
    gamma, cutoff
        nutpie's regularisation of the projected covariances and its eigenvalue
        cutoff (see :func:`low_rank_metric`).  The defaults are nutpie's.
    recompute_every, every_draw_until
        Kept draws between recomputations of the metric once ``every_draw_until``
        draws were kept (before, after every draw).  A recomputation costs a few
        eigendecompositions of matrices of up to 64 x 64 (~0.1-1 ms on a CPU): on
        models whose gradient costs microseconds it is most of the warmup.

    Examples
    --------
    >>> init, update, final = low_rank_adaptation(16, max_rank=2)
    >>> cov = jnp.array([[1.0, 0.95], [0.95, 1.0]])  # strongly correlated Gaussian
    >>> prec = jnp.linalg.inv(cov)
    >>> xs = jax.random.multivariate_normal(jax.random.key(0), jnp.zeros(2), cov, (15,))
    >>> state = init(xs[0], -prec @ xs[0])
    >>> for x in xs[1:]:
    ...     state = update(state, x, -prec @ x)
    >>> imm = state.inverse_mass_matrix
    >>> dense = imm.sigma[:, None] * (jnp.eye(2) + (imm.U * (imm.lam - 1)) @ imm.U.T) * imm.sigma
    >>> float(jnp.abs(dense - cov).max()) < 0.15, int(state.num_estimates)  # float32: see low_rank_metric
    (True, 13)
    """
    from blackjax.mcmc.metrics import LowRankInverseMassMatrix

    size, every, until = int(buffer_size), int(recompute_every), int(every_draw_until)
    estimate = partial(low_rank_metric, max_rank=int(max_rank), gamma=float(gamma), cutoff=float(cutoff))

    def refresh(state: LowRankAdaptationState, due: Any) -> LowRankAdaptationState:
        due = due & (state.count >= MIN_DRAWS)
        def fresh(s: LowRankAdaptationState) -> Any:  # a non-finite estimate (overflow) keeps the previous one
            new = estimate(s.draws, s.grads, s.count)
            ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in new]))
            return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, s.inverse_mass_matrix)

        imm = jax.lax.cond(due, fresh, lambda s: s.inverse_mass_matrix, state)
        return state._replace(inverse_mass_matrix=imm, since=jnp.where(due, 0, state.since),
                              num_estimates=state.num_estimates + due.astype(jnp.int32))

    def init(position: Any, grad: Any) -> LowRankAdaptationState:
        x, g = ravel_pytree(position)[0], ravel_pytree(grad)[0]
        d, int32 = x.size, jnp.int32
        imm = LowRankInverseMassMatrix(sigma=jnp.sqrt(gradient_init(g)).astype(x.dtype),
                                       U=jnp.zeros((d, int(max_rank)), x.dtype), lam=jnp.ones(int(max_rank), x.dtype))
        buffers = jnp.zeros((size, d), x.dtype)
        zero = jnp.zeros((), int32)
        return LowRankAdaptationState(imm, buffers.at[0].set(x), buffers.at[0].set(g), jnp.ones((), int32), zero,
                                      zero, zero, zero)

    def add(state: LowRankAdaptationState, x: jax.Array, g: jax.Array) -> LowRankAdaptationState:
        full = state.count >= size  # only when the buffer is smaller than the schedule needs: drop the oldest
        draws = jnp.where(full, jnp.roll(state.draws, -1, axis=0), state.draws)
        grads = jnp.where(full, jnp.roll(state.grads, -1, axis=0), state.grads)
        row = jnp.minimum(state.count, size - 1)
        return state._replace(draws=draws.at[row].set(x), grads=grads.at[row].set(g),
                              count=jnp.minimum(state.count + 1, size),
                              split=jnp.where(full, jnp.maximum(state.split - 1, 0), state.split),
                              since=state.since + 1, seen=state.seen + 1)

    def drop(state: LowRankAdaptationState) -> LowRankAdaptationState:  # a switch: the older draws leave
        shift = state.split
        return state._replace(draws=jnp.roll(state.draws, -shift, axis=0), grads=jnp.roll(state.grads, -shift, axis=0),
                              count=state.count - shift, split=state.count - shift)

    def update(state: LowRankAdaptationState, position: Any, grad: Any, keep: Any = True,
               switch: Any = False) -> LowRankAdaptationState:
        x, g = ravel_pytree(position)[0], ravel_pytree(grad)[0]
        state = jax.lax.cond(keep, lambda s: add(s, x, g), lambda s: s, state)
        due = keep & ((state.since >= every) | (state.seen <= until))
        state = jax.lax.cond(switch, drop, lambda s: s, state)
        return refresh(state, due | switch)  # one metric computation in the program: its compile is most of it

    def final(state: LowRankAdaptationState) -> LowRankAdaptationState:
        return refresh(drop(state), jnp.asarray(True))

    return init, update, final
