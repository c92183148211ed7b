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
module implements it (``adaptation="fisher"``, the default of NUTS and HMC
for a diagonal mass matrix) with BlackJAX's pieces: the Welford moments of positions and
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

Not implemented: nutpie's low-rank correction (``M^{-1} = diag(s) (I + U (L - I) U^T)
diag(s)``, BlackJAX's ``window_adaptation_low_rank``); this module is diagonal only.

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

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.mass_matrix import FisherMassMatrixAdaptationState, mass_matrix_adaptation
from blackjax.adaptation.metric_estimators import fisher_score_diagonal_from_moments
from jax.flatten_util import ravel_pytree

__all__ = ["FisherAdaptationState", "fisher_adaptation", "fisher_schedule", "gradient_init", "ADAPTATIONS"]

ADAPTATIONS = ("auto", "fisher", "window")
"""The mass-matrix adaptations of :class:`~ppgraph.inference.NUTS` and :class:`~ppgraph.inference.HMC`
(``"auto"``, the default: ``"fisher"``, or ``"window"`` for a dense mass matrix)."""

MIN_DRAWS = 3  # nutpie's ``adapt``: no estimate from fewer draws in the foreground


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

    def update(state: FisherAdaptationState, position: Any, grad: Any, keep: Any = True) -> FisherAdaptationState:
        x, g = ravel_pytree(position)[0], ravel_pytree(grad)[0]
        add = lambda m: mm_update(m, x, g)  # noqa: E731
        fg, bg = jax.lax.cond(keep, lambda pair: (add(pair[0]), add(pair[1])), lambda pair: pair,
                              (state.foreground, state.background))
        return estimate(state._replace(foreground=fg, background=bg))

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
