"""Inference: evaluators that choose passes, then run the compiled functions.

``pg.sample`` (NUTS / HMC through BlackJAX, or any :class:`Evaluator`),
``pg.sample_predictive`` (posterior predictive), :class:`Posterior`.
``pg.fit`` (Optax) lives in :mod:`ppgraph.inference.fit`.
"""

from .evaluator import Draws, Evaluator
from .hmc import HMC, NUTS
from .posterior import Posterior, SamplingWarning, Summary
from .predictive import sample_predictive
from .problem import Problem, prepare
from .progress import ProgressBar
from .sample import sample

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
