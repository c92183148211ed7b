"""``pg.sample``: posterior draws by NUTS (or another evaluator).

Examples
--------
>>> import jax, ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def coin(n):
...     p <~ dist.Beta(2.0, 2.0)
...     heads <~ dist.Binomial(n, p)
...     return heads
>>> post = pg.sample(coin, jax.random.key(0), 10, heads=7, num_warmup=200, num_samples=200,
...                  num_chains=2, progress=False)
>>> post.samples["p"].shape
(2, 200)
>>> 0.5 < float(post.samples["p"].mean()) < 0.75
True
"""

from __future__ import annotations

import warnings
from typing import Any

import jax

from ..errors import ModelError
from ..ir import Graph
from ..keys import as_key
from ..model import Model
from .evaluator import Evaluator
from .hmc import get_kernel
from .sgmcmc import with_options
from .posterior import Posterior, SamplingWarning
from .problem import prepare

__all__ = ["sample"]


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def sample(
    model: Model | Graph,
    rng_key: Any,
    *args: Any,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    num_chains: int = 4,
    kernel: str | Evaluator = "nuts",
    progress: bool = True,
    batch_size: int | None = None,
    step_size: Any = None,
    temperature: float = 1.0,
    thinning: int = 1,
    **kwargs: Any,
) -> Posterior:
    """Draw from the posterior of ``model`` given observed values.

    Parameters
    ----------
    model
        A model (or graph).
    rng_key
        A ``jax.random`` key or an ``int`` seed.
    *args, **kwargs
        The model's arguments; keywords naming random variables are observed
        values (``y=data``).
    num_warmup, num_samples, num_chains
        Adaptation steps (discarded) and kept draws per chain; independent chains.
    kernel
        ``"nuts"`` (default), ``"hmc"``, or an evaluator object such as
        ``ppgraph.inference.NUTS(target_accept=0.9)`` or your own
        (:class:`~ppgraph.inference.evaluator.Evaluator`, see ``docs/evaluators.md``).
    progress
        Show a progress bar.
    batch_size, step_size, temperature, thinning
        Options of the stochastic-gradient kernels ``"sgld"`` / ``"sghmc"``
        (``ppgraph.inference.sgmcmc``): minibatch size over the data (the
        likelihood scaled by N / batch_size; ``None``: full batch), step size
        (BlackJAX's convention; a float, a schedule or ``None``: from the
        curvature), the tempered posterior ``p ** (1 / temperature)``, one draw
        kept every ``thinning`` steps.

    Returns
    -------
    Posterior
        ``.samples[name]`` shaped ``(num_chains, num_samples, ...)`` for every
        latent random variable and deterministic node, ``.stats``,
        ``.summary()``, ``.to_arviz()``.  A :class:`SamplingWarning` is issued
        for divergent transitions and r_hat > 1.01.

    Raises
    ------
    ModelError
        A missing argument; a discrete latent variable; a log density that is not
        finite at the initial values (naming the node).
    SupportError
        An observed value outside its distribution's support or of a wrong dtype.
    """
    num_warmup = _count(num_warmup, "num_warmup", 0)
    num_samples = _count(num_samples, "num_samples", 1)
    num_chains = _count(num_chains, "num_chains", 1)
    evaluator = with_options(get_kernel(kernel), batch_size=batch_size, step_size=step_size,
                             temperature=temperature, thinning=thinning)
    problem = prepare(model, args, kwargs, passes=tuple(evaluator.passes))
    init_key, run_key = jax.random.split(as_key(rng_key))
    initial = problem.initial_positions(init_key, num_chains)
    draws = evaluator.run(problem, run_key, initial, num_warmup=num_warmup, num_samples=num_samples,
                          progress=progress)
    post = Posterior(
        draws.samples,
        draws.stats,
        model=problem.model,
        args=problem.args,
        observed=problem.observed,
        kernel=getattr(evaluator, "name", type(evaluator).__name__),
        info=draws.info,
    )
    for message in post.warnings():
        warnings.warn(message, SamplingWarning, stacklevel=2)
    return post
