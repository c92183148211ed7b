"""Inference: evaluators that choose passes, then run the compiled functions.

``pg.sample`` (NUTS / HMC through BlackJAX, or any :class:`Evaluator`),
``pg.sample_predictive`` (posterior predictive), :class:`Posterior`.
``pg.fit`` (Optax) lives in :mod:`ppgraph.inference.fit`.
"""

from .._lazy import attach

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
    "ProgressBar": "ppgraph.inference.progress",
})
