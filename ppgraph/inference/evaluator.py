"""The ``Evaluator`` protocol: how an inference algorithm plugs into ``pg.sample``.

An evaluator says two things:

1. **which passes** it needs (``passes``: names or functions, applied in order
   to the conditioned graph; NUTS asks for ``"to_unconstrained"``), and
2. **how it runs** the compiled functions of the resulting
   :class:`~ppgraph.inference.problem.Problem` (``run``): the log density of a
   flat dict of latent values, the map back to the model's variables
   (``problem.constrain``) and a progress bar.

``pg.sample`` does everything else: binds arguments and observed values,
checks them, applies the passes, compiles, draws initial positions
(uniform in (-2, 2), as NumPyro's ``init_to_uniform``), calls ``run`` and wraps
the result in a :class:`~ppgraph.inference.posterior.Posterior`.  See
``docs/evaluators.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from ..passes.base import Pass
    from .problem import Problem

__all__ = ["Evaluator", "Draws"]


class Draws(NamedTuple):
    """What :meth:`Evaluator.run` returns.

    Attributes
    ----------
    samples
        Name -> array shaped ``(chains, draws, ...)``: the values of
        ``problem.constrain(position)`` for every kept position.
    stats
        Name -> array shaped ``(chains, draws)``: sampler statistics
        (conventional names: ``diverging``, ``acceptance_rate``, ``step_size``,
        ``num_steps``, ``tree_depth``, ``energy``, ``lp``); may be empty.
    info
        Anything else worth keeping (e.g. adapted step sizes and mass matrices).
    """

    samples: dict[str, Any]
    stats: dict[str, Any]
    info: dict[str, Any] = {}


@runtime_checkable
class Evaluator(Protocol):
    """An inference algorithm usable as ``pg.sample(..., kernel=evaluator)``.

    Attributes
    ----------
    name
        Short label (shown in progress bars and ``repr(posterior)``).
    passes
        Passes (registered names or functions ``Graph -> Graph``) applied to
        the conditioned graph before compiling, in order.
    """

    name: str
    passes: Sequence["str | Pass"]

    def run(
        self,
        problem: "Problem",
        rng_key: Any,
        initial_position: dict[str, Any],
        *,
        num_warmup: int,
        num_samples: int,
        progress: bool,
    ) -> Draws:
        """Draw ``num_samples`` values per chain.

        Parameters
        ----------
        problem
            The compiled, conditioned model: ``problem.logdensity(position)``,
            ``problem.constrain(position)``, ``problem.latents``...
        rng_key
            A ``jax.random`` key.
        initial_position
            Name -> array with a leading chain axis (one start per chain), in the
            space of ``problem.logdensity``; finite log density and gradient.
        num_warmup, num_samples
            Tuning steps (discarded) and kept draws per chain.
        progress
            Show a progress bar (:class:`~ppgraph.inference.progress.ProgressBar`).
        """
        ...
