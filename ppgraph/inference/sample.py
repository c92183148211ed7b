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

import inspect
import warnings
from typing import Any

import jax

from ..errors import ModelError
from ..passes.reparam import reparameterize
from ..passes.vectorize import NotVectorizable, unstack
from ..ir import Graph
from ..keys import as_key
from ..model import Model
from . import discrete
from . import autoreparam
from .autoreparam import Choice, noncentering
from .evaluator import Evaluator
from .hmc import _BlackJAXHMC as _HMCFamily, get_kernel
from .sgmcmc import with_options
from .posterior import Posterior, SamplingWarning
from .problem import prepare


__all__ = ["sample"]


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _takes_devices(evaluator: Any) -> bool:
    try:
        return "devices" in inspect.signature(evaluator.run).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


REPARAM_MODES = ("auto", "noncentered", None)


def _reparam_passes(reparam: str | None, choice: Choice | None = None) -> tuple[Any, ...]:
    """The passes of a ``reparam=`` mode (``None``: the model as written; ``"auto"``: ``choice``)."""
    if reparam is None:
        return ()
    if reparam == "noncentered":
        return ("reparameterize",)
    if reparam == "auto":
        return (noncentering(choice.noncentered),) if choice is not None and choice.noncentered else ()
    raise ModelError(f"unknown reparam mode {reparam!r}", hint="use 'auto' (the default), 'noncentered' or None")


def _reparam_info(reparam: str | None, problem: Any, choice: Choice | None) -> dict[str, Any]:
    """``post.info["reparam"]``: the mode, the non-centred variables, the pilot's findings, the graph sampled.

    ``graph`` is the model's graph with the chosen rewrite (before the
    sampler's own passes): ``pg.draw_diff(model, post.info["reparam"]["graph"], path)``
    draws the choice.
    """
    noncentered = sorted({node.get_info("decentered_of") for _, node in problem.graph.nodes(data="node")
                          if node.get_info("decentered_of")})
    out: dict[str, Any] = {"mode": reparam, "noncentered": noncentered}
    if choice is not None:
        out.update({k: v for k, v in choice.info().items() if k != "noncentered"})
    graph = problem.model.graph
    if not noncentered:
        out["graph"] = graph
        return out
    return _ReparamInfo(out, lambda: reparameterize(graph, names=noncentered))


class _ReparamInfo(dict):
    """``post.info["reparam"]`` whose ``"graph"`` (the model rewritten as chosen) is built on first use.

    Rewriting a 10,000-node graph only to report it took longer than the data checks.
    """

    def __init__(self, items: dict[str, Any], graph: Any) -> None:
        super().__init__(items)
        self._graph = graph

    def _built(self) -> None:
        if self._graph is not None:
            build, self._graph = self._graph, None
            self["graph"] = build()

    def __missing__(self, key: str) -> Any:
        if key == "graph" and self._graph is not None:
            self._built()
            return self["graph"]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[key] if key == "graph" and self._graph is not None else super().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key == "graph" and self._graph is not None or super().__contains__(key)

    def __eq__(self, other: object) -> bool:
        self._built()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Any:
        self._built()
        return super().__iter__()

    def keys(self) -> Any:  # type: ignore[override]
        self._built()
        return super().keys()

    def items(self) -> Any:  # type: ignore[override]
        self._built()
        return super().items()

    def values(self) -> Any:  # type: ignore[override]
        self._built()
        return super().values()

    def __repr__(self) -> str:
        self._built()
        return super().__repr__()

    def __reduce__(self) -> Any:  # pickled and copied as the plain dict it stands for
        self._built()
        return dict, (dict(super().items()),)


def _prepare_vectorized(model: Any, args: tuple, kwargs: dict, passes: tuple) -> Any:
    """``prepare`` with ``vectorize`` before the evaluator's passes; ``None`` when that fails.

    Merged members that turn out not to be scalars (:class:`NotVectorizable`) or
    any other error: the caller prepares the graph as written, whose errors name
    the model's own variables rather than merged nodes.
    """
    try:
        return prepare(model, args, kwargs, passes=("vectorize", *passes))
    except (ModelError, NotVectorizable):
        return None


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
    marginalize: bool = True,
    vectorize: bool = True,
    devices: Any = None,
    reparam: str | None = "auto",
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
    vectorize
        Merge repeated random variables into batched nodes and lift first-order
        chains (:func:`ppgraph.passes.vectorize`) before sampling; the draws keep
        every variable's own name.  ``False``: sample the graph as written.
    marginalize
        Sum unobserved discrete latent variables out of the density for the
        sampler, then draw them exactly from their conditional distribution for
        every posterior draw (``ppgraph.inference.discrete``); ``False``: a
        discrete latent variable is an error.
    devices
        Where the chains run: ``None`` (default) splits them over every device
        (a 1-D ``jax.sharding`` mesh over the chain axis, chains vectorised
        with ``vmap`` on each device; with ``jax.distributed.initialize``, over
        every host, see ``docs/scaling.md``); an ``int`` n uses the first n; or
        a list of ``jax.Device``.  ``post.info["devices"]`` lists those used.
    reparam
        ``"auto"`` (default): for NUTS and HMC, each hierarchical loc-scale
        latent (``theta ~ Normal(mu, tau)``: its loc or scale depends on a
        latent) is kept centred or non-centred, whichever a short pilot finds
        the data favour (:mod:`ppgraph.inference.autoreparam`: the conditional
        posterior variance of the non-centred variable, VIP's criterion);
        models without such a variable run as written, with no pilot.
        ``"noncentered"``: every loc-scale latent non-centred
        (:func:`ppgraph.passes.reparameterize`; vectorisation is then skipped).
        ``None``: the model as written.  The draws keep the variables' names.
        ``post.info["reparam"]`` reports the mode, the non-centred variables,
        the pilot's estimate of each candidate's centredness (1 centred, 0
        non-centred) and ``graph``, the graph with the rewrite:
        ``pg.draw_diff(model, post.info["reparam"]["graph"], "choice.svg")``.

    The compiled sampler takes the data, observed values and array arguments
    as inputs and is cached (:func:`ppgraph.clear_cache`): a second call with
    data of the same shapes and the same settings does not compile again.

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
    _reparam_passes(reparam)  # validates the mode before anything runs
    recovery = discrete.plan(model, args, kwargs) if marginalize else None
    base = (*recovery.passes, *evaluator.passes) if recovery else tuple(evaluator.passes)
    # "noncentered" rewrites every loc-scale node, which merged nodes are not: one or the other.  "auto"
    # names unmerged nodes (its candidates come from the vectorised graph), so vectorize runs first.
    vectorize = vectorize and reparam != "noncentered" and not recovery

    def build(reparam_passes: tuple) -> tuple[bool, Any, tuple]:
        passes = (*reparam_passes, *base)
        problem = _prepare_vectorized(model, args, kwargs, passes) if vectorize else None
        return problem is not None, problem or prepare(model, args, kwargs, passes=passes), passes

    choice, built = None, None
    if reparam == "auto" and isinstance(evaluator, _HMCFamily):  # NUTS / HMC: the pilot decides per variable
        names = autoreparam.candidates(model, args, kwargs, vectorized=vectorize)
        choice = Choice()
        if names:  # the pilot runs on the likelier problem (autoreparam.guess), which is then sampled if it agrees
            prepared: dict[tuple[str, ...], tuple] = {}

            def prepare_with(noncentred: tuple[str, ...]) -> Any:
                prepared[noncentred] = build(_reparam_passes(reparam, Choice(noncentered=noncentred)))
                return prepared[noncentred][1]

            try:
                choice, _ = autoreparam.pilot(prepare_with, names, jax.random.fold_in(as_key(rng_key), 2),
                                              num_chains=num_chains)
            except ModelError:  # no finite start for the pilot: sample as written; its errors name the variable
                choice = Choice()
            built = prepared.get(choice.noncentered)
    vectorized, problem, passes = built or build(_reparam_passes(reparam, choice))
    if recovery:
        recovery.attach(problem)
        if not problem.latents:  # only discrete latents: their posterior is drawn exactly, no sampler
            return recovery.exact_posterior(problem, as_key(rng_key), num_chains, num_samples)
    init_key, run_key = jax.random.split(as_key(rng_key))
    try:
        initial = problem.initial_positions(init_key, num_chains)
    except ModelError:
        if not vectorized:
            raise
        problem = prepare(model, args, kwargs, passes=passes)  # the error then names the model's own variable
        initial = problem.initial_positions(init_key, num_chains)
    placement = {"devices": devices} if _takes_devices(evaluator) else {}
    if devices is not None and not placement:
        raise ModelError(f"the evaluator {getattr(evaluator, 'name', evaluator)!r} does not place chains on devices",
                         hint="leave devices=None, or give its run method a `devices` keyword")
    draws = evaluator.run(problem, run_key, initial, num_warmup=num_warmup, num_samples=num_samples,
                          progress=progress, **placement)
    samples = unstack(problem.graph, draws.samples)  # merged nodes' draws -> the members' names (host)
    if recovery:
        samples = recovery.recover(problem, samples, jax.random.fold_in(run_key, 1))
    post = Posterior(
        samples,
        draws.stats,
        model=problem.model,
        args=problem.args,
        observed=problem.observed,
        kernel=getattr(evaluator, "name", type(evaluator).__name__),
        info={"devices": [jax.devices()[0]], **draws.info,
              "reparam": _reparam_info(reparam, problem, choice)},
    )
    for message in post.warnings():
        warnings.warn(message, SamplingWarning, stacklevel=2)
    return post
