"""Inference: evaluators that choose passes, then run the compiled functions.

``pg.sample`` (NUTS / HMC through BlackJAX, SGLD / SGHMC on minibatches, or any
:class:`Evaluator`), ``pg.laplace`` (Laplace approximations),
``pg.sample_predictive`` (posterior predictive), :class:`Posterior`.
``pg.fit`` (Optax) lives in :mod:`ppgraph.inference.fit`.
"""

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:  # the names imported on first use (see the end), for type checkers and editors
    from .evaluator import Draws, Evaluator
    from .hmc import HMC, NUTS
    from .laplace import Laplace, laplace
    from .posterior import Posterior, SamplingWarning, Summary
    from .predictive import sample_predictive
    from .problem import Problem, prepare
    from .progress import ProgressBar
    from .sample import sample
    from .sgmcmc import SGHMC, SGLD

__all__ = [
    "sample",
    "sample_predictive",
    "Posterior",
    "Summary",
    "SamplingWarning",
    "Evaluator",
    "Draws",
    "Problem",
    "prepare",
    "NUTS",
    "HMC",
    "SGLD",
    "SGHMC",
    "laplace",
    "Laplace",
    "ProgressBar",
]


# Each name is imported from its module on first use (the modules load BlackJAX and pandas).
__getattr__, __dir__ = attach(__name__, {
    "sample": "ppgraph.inference.sample",
    "sample_predictive": "ppgraph.inference.predictive",
    "Posterior": "ppgraph.inference.posterior",
    "Summary": "ppgraph.inference.posterior",
    "SamplingWarning": "ppgraph.inference.posterior",
    "Evaluator": "ppgraph.inference.evaluator",
    "Draws": "ppgraph.inference.evaluator",
    "Problem": "ppgraph.inference.problem",
    "prepare": "ppgraph.inference.problem",
    "NUTS": "ppgraph.inference.hmc",
    "HMC": "ppgraph.inference.hmc",
    "SGLD": "ppgraph.inference.sgmcmc",
    "SGHMC": "ppgraph.inference.sgmcmc",
    "laplace": "ppgraph.inference.laplace",
    "Laplace": "ppgraph.inference.laplace",
    "ProgressBar": "ppgraph.inference.progress",
})
