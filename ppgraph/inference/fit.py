"""``pg.fit``: trainable weights by gradient descent, the other latents by variational inference.

:func:`fit` turns every Bayesian layer of a model into trainable weights
(:func:`ppgraph.passes.bnn_to_trainable`, prior kept as a penalty) and trains
them with Optax.  The model's other latent random variables stay Bayesian: each
gets a mean-field Gaussian variational posterior in unconstrained space
(:func:`ppgraph.passes.to_unconstrained`), trained jointly with the weights by
maximising the evidence lower bound (ELBO) with reparameterised gradients::

    loss(params, loc, scale) = -E_q[ log p(data, z, params) ] - H[q]
    q(z) = Normal(loc, scale)        (unconstrained z, one particle per step)

Without latent variables the loss is the negative log joint density: MAP
(or maximum likelihood when the priors were dropped with
``bnn_to_trainable(model, keep_prior=False)``).

Minibatches
-----------
With ``batch_size``, each step uses ``batch_size`` rows of the *data*: the
observed values and the model arguments whose leading axis has the same length
``N`` as the (first) observed array.  Epochs run over random permutations.  The
log-density terms of observed nodes and factors that depend on the data are
multiplied by ``N / batch_size``, so the minibatch loss is an unbiased estimate
of the full-data loss.

The pieces live in their own modules: the variational family in
:mod:`ppgraph.inference.variational`, the objective in
:mod:`ppgraph.inference.fit_problem`, the result type in
:mod:`ppgraph.inference.fit_result`; this module holds :func:`fit` and its
training loop.

Examples
--------
>>> import jax, jax.numpy as jnp, optax
>>> import ppgraph as pg
>>> from ppgraph import dist
>>> g = pg.GraphBuilder("mean")
>>> mu = g.parameter("mu", 0.0)
>>> y = g.random("y", dist.Normal, mu, 1.0)
>>> result = pg.fit(g.build(), jax.random.key(0), y=jnp.array([1.0, 2.0, 3.0]),
...                 optimizer=optax.adam(0.1), num_steps=300, progress=False)
>>> round(float(result.params["mu"]), 2)
2.0
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..codegen import call_mapped
from ..errors import ModelError
from ..ir import Graph
from ..keys import as_key
from ..model import Model
from .fit_problem import INIT_SCALE, NUM_INIT_DRAWS, FitProblem, check_bounded  # noqa: F401 (re-exported)
from .fit_result import FitResult, fixed_model
from .variational import MeanFieldPosterior

__all__ = ["fit", "FitResult", "MeanFieldPosterior", "FitProblem", "DEFAULT_LEARNING_RATE", "default_optimizer"]

DEFAULT_LEARNING_RATE = 1e-3
"""Learning rate of the default optimizer, ``optax.adam(DEFAULT_LEARNING_RATE)``."""


def fit(
    model: Model | Graph,
    rng_key: jax.Array,
    *args: Any,
    optimizer: optax.GradientTransformation | None = None,
    num_steps: int = 1000,
    batch_size: int | None = None,
    progress: bool = True,
    temperature: float = 1.0,
    **observed: Any,
) -> FitResult:
    """Train network weights (point estimates) and a variational posterior of the other latents.

    Parameters
    ----------
    model
        A model (or graph) with Bayesian layers and/or ``Parameter`` nodes.
        Layers become trainable weights with their prior as a penalty; to drop
        the priors pass ``pg.passes.bnn_to_trainable(model, keep_prior=False)``.
    rng_key
        A ``jax.random`` key or an ``int`` seed (initial weights, the ELBO's noise, minibatches).
    *args
        The model's arguments (data, covariates); keywords work too.
    optimizer
        An Optax gradient transformation (default ``optax.adam(1e-3)``).  The
        compiled training loop is cached per model, data shapes and optimizer
        *object*: pass the same object to later calls to reuse it (see
        ``docs/scaling.md``; ``pg.clear_cache()`` empties the cache).
    num_steps
        Optimisation steps.
    batch_size
        Minibatch size over the data (see the module docstring); ``None``: full batch.
    progress
        Show a tqdm progress bar with the current loss.
    temperature
        Fit the tempered posterior ``p(z | data) ** (1 / temperature)``: the log
        joint density is divided by it (the variational standard deviations of a
        Gaussian posterior grow by ``sqrt(temperature)``; point estimates do not move).
    **observed
        Values of observed random variables (and model arguments by name).

    Returns
    -------
    FitResult
        ``.params``, ``.posterior``, ``.losses``, ``.model`` (see :class:`FitResult`).

    Raises
    ------
    ModelError
        If a trained prior depends on a latent variable (unbounded objective), a
        latent variable is discrete, or the initial loss is not finite.
    """
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
        raise ModelError(f"num_steps must be a positive int, got {num_steps!r}")
    _check_temperature(temperature)
    problem = FitProblem.cached(model, args, observed, batch_size, temperature=temperature)
    optimizer = default_optimizer() if optimizer is None else optimizer
    init_key, data_key, run_key = jax.random.split(as_key(rng_key), 3)
    state = problem.init(init_key)
    state, losses = _train(problem, state, optimizer, num_steps, data_key, run_key, progress)
    params = problem.networks(state)
    return FitResult(
        params=params,
        posterior=problem.posterior(state),
        losses=losses,
        model=fixed_model(problem.model.graph, params),
        weights=dict(state["params"]),
    )


def _train(
    problem: FitProblem,
    state: dict[str, dict[str, Any]],
    optimizer: optax.GradientTransformation,
    num_steps: int,
    data_key: jax.Array,
    run_key: jax.Array,
    progress: bool,
) -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    """Run the optimisation in jit-compiled ``lax.scan`` chunks (one per progress-bar update)."""
    run_chunk = _training_program(problem, optimizer)
    keys = (data_key, run_key)
    initial = state
    carry = (state, optimizer.init(state))
    losses: list[np.ndarray] = []
    bar = _progress(num_steps, progress)
    start = 0
    try:
        for size in _chunks(num_steps, progress):
            steps = jnp.arange(start, start + size)
            if start == 0:  # the first call traces the model: map errors to the node that failed
                carry, chunk_losses = call_mapped(problem.terms._replace(fn=run_chunk), carry, steps, problem.data, keys)
                if not np.isfinite(float(chunk_losses[0])):
                    _explain_nonfinite(problem, initial)
            else:
                carry, chunk_losses = run_chunk(carry, steps, problem.data, keys)
            losses.append(np.asarray(chunk_losses))
            start += size
            if bar is not None:
                bar.update(size)
                bar.set_postfix(loss=f"{float(chunk_losses[-1]):.4g}")
    finally:
        if bar is not None:
            bar.close()
    out = np.concatenate(losses)
    if not np.isfinite(out[-1]):
        first = int(np.argmax(~np.isfinite(out)))
        raise ModelError(
            f"training diverged: the loss is not finite from step {first} on",
            model=problem.graph.name,
            hint="lower the optimizer's learning rate, or check the priors and data",
        )
    return carry[0], out


def _training_program(problem: FitProblem, optimizer: optax.GradientTransformation) -> Any:
    """The compiled training chunk of ``problem`` with ``optimizer``, built once per problem and optimizer
    object (:meth:`FitProblem.cached` shares the problem across data of the same shapes)."""
    key = ("train", id(optimizer))
    if key in problem.programs:
        return problem.programs[key][1]

    def one_step(carry: tuple, step: jax.Array, data: dict[str, Any], keys: tuple) -> tuple[tuple, jax.Array]:
        state, opt_state = carry
        data_key, run_key = keys
        batch = problem.batch(data, step, data_key)
        loss, grads = jax.value_and_grad(problem.loss)(state, jax.random.fold_in(run_key, step), batch)
        updates, opt_state = optimizer.update(grads, opt_state, state)
        return (optax.apply_updates(state, updates), opt_state), loss

    @jax.jit
    def run_chunk(carry: tuple, steps: jax.Array, data: dict[str, Any], keys: tuple) -> tuple[tuple, jax.Array]:
        return jax.lax.scan(lambda c, s: one_step(c, s, data, keys), carry, steps)

    problem.programs[key] = (optimizer, run_chunk)  # the optimizer is kept: its id stays its own
    return run_chunk


@functools.cache
def default_optimizer() -> optax.GradientTransformation:
    """``optax.adam(DEFAULT_LEARNING_RATE)``, one object (so repeated fits reuse the compiled program)."""
    return optax.adam(DEFAULT_LEARNING_RATE)


def _check_temperature(temperature: Any) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not 0 < temperature < math.inf:
        raise ModelError(f"temperature must be a positive number, got {temperature!r}",
                         hint="1.0 is the posterior; below 1 a cold, above 1 a warm posterior")


def _chunks(num_steps: int, progress: bool) -> list[int]:
    """Chunk sizes summing to ``num_steps``: one chunk without a progress bar, about 50 with one."""
    return _split(num_steps, min(50, num_steps)) if progress else [num_steps]


def _split(num_steps: int, parts: int) -> list[int]:
    target = max(1, num_steps // parts)
    for size in range(target, max(1, target // 2) - 1, -1):  # an exact divisor near the target: one compile
        if num_steps % size == 0:
            return [size] * (num_steps // size)
    sizes = [target] * (num_steps // target)
    return sizes + ([num_steps % target] if num_steps % target else [])


def _explain_nonfinite(problem: FitProblem, state: dict[str, dict[str, Any]]) -> None:
    """Raise a ModelError naming the log-density terms that are not finite at the initial state."""
    values = {**state["loc"], **state["params"]}
    terms = jax.jit(problem.log_terms)(values, problem.data)
    bad = [name for name, t in terms.items() if not bool(jnp.all(jnp.isfinite(t)))]
    node = problem.graph.obj(bad[0]) if bad else None
    raise ModelError(
        "the initial loss is not finite"
        + (f" (log-density terms of {', '.join(repr(b) for b in bad)})" if bad else ""),
        node=None if node is None else node.name,
        model=problem.graph.name,
        location=None if node is None else node.location,
        hint="check the data against the distributions' supports and the parameters' initial values",
    )


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="pg.fit", unit="step")
