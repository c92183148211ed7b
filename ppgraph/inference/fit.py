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

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import optax

from ..codegen import Compiled, call_mapped, generate
from ..compile import _check_arguments, jit_call
from ..errors import ModelError
from ..ir import Deterministic, Factor, Graph, Layer, Parameter, RandomVariable
from ..ir.expr import free_names, ident
from ..model import Model, as_model
from ..passes import observe, to_unconstrained
from ..passes.base import rebuild
from ..passes.unconstrained import support_of

__all__ = ["fit", "FitResult", "MeanFieldPosterior", "FitProblem", "DEFAULT_LEARNING_RATE"]

DEFAULT_LEARNING_RATE = 1e-3
"""Learning rate of the default optimizer, ``optax.adam(DEFAULT_LEARNING_RATE)``."""

INIT_SCALE = 0.1
"""Initial standard deviation of every variational factor (as NumPyro's ``AutoNormal``)."""

NUM_INIT_DRAWS = 15
"""Prior draws whose median (in unconstrained space) initialises the variational means."""

_LOG_2PI_E = math.log(2 * math.pi) + 1.0


# ------------------------------------------------------------------------------------------------
# the variational posterior
# ------------------------------------------------------------------------------------------------
class MeanFieldPosterior:
    """Mean-field Gaussian variational posterior of the latent variables, in unconstrained space.

    Attributes
    ----------
    loc, scale
        Unconstrained node name -> mean / standard deviation array.
    names
        The model's latent variables, as :meth:`sample` returns them.

    Examples
    --------
    ``result.posterior.sample(jax.random.key(1), 1000)["sigma"]`` draws 1000
    values of ``sigma`` (constrained: positive), shape ``(1000, *sigma.shape)``.
    """

    def __init__(
        self,
        loc: dict[str, jax.Array],
        scale: dict[str, jax.Array],
        constrain: Callable[[dict[str, jax.Array]], dict[str, jax.Array]],
        names: tuple[str, ...],
    ) -> None:
        self.loc = dict(loc)
        self.scale = dict(scale)
        self.names = tuple(names)
        self._constrain = constrain

    def sample_unconstrained(self, rng_key: jax.Array, num_samples: int) -> dict[str, jax.Array]:
        """``num_samples`` draws of the unconstrained latents (leading axis ``num_samples``)."""
        keys = jax.random.split(rng_key, max(len(self.loc), 1))
        return {
            name: self.loc[name] + self.scale[name] * jax.random.normal(k, (num_samples, *jnp.shape(self.loc[name])))
            for k, name in zip(keys, self.loc)
        }

    def sample(self, rng_key: jax.Array, num_samples: int) -> dict[str, jax.Array]:
        """Draw ``num_samples`` joint values of the latent variables (constrained, leading axis ``num_samples``)."""
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ModelError(f"num_samples must be a positive int, got {num_samples!r}")
        if not self.names:
            return {}
        draws = self.sample_unconstrained(rng_key, num_samples)
        return jax.vmap(self._constrain)(draws)

    def median(self) -> dict[str, jax.Array]:
        """The posterior median of every latent (the constrained variational mean)."""
        if not self.names:
            return {}
        return self._constrain(self.loc)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {tuple(jnp.shape(v))}" for n, v in self.loc.items())
        return f"MeanFieldPosterior({shapes})"


# ------------------------------------------------------------------------------------------------
# the result
# ------------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    params
        Parameter name -> trained value; a layer's value is a network object
        (callable on inputs like a sampled network, weights at ``.weights``).
    posterior
        :class:`MeanFieldPosterior` of the other latent variables.
    losses
        The loss (negative ELBO estimate; the negative log joint density when
        there are no latent variables) of every step, a numpy array.
    model
        The model with the trained weights fixed (each layer / parameter a
        constant node holding the trained network / value, as with ``do``):
        ``pg.sample(result.model, key, data...)`` runs NUTS on the remaining
        latent variables.
    weights
        Parameter name -> raw trained value (a layer's weights pytree).
    """

    params: dict[str, Any]
    posterior: MeanFieldPosterior
    losses: np.ndarray
    model: Model
    weights: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        final = float(self.losses[-1]) if len(self.losses) else float("nan")
        return (
            f"FitResult(params={sorted(self.params)}, posterior={self.posterior!r}, "
            f"steps={len(self.losses)}, final_loss={final:.4g})"
        )


# ------------------------------------------------------------------------------------------------
# the objective
# ------------------------------------------------------------------------------------------------
def _upstream(graph: Graph, targets: Iterable[str]) -> Graph:
    """The subgraph of ``targets`` and their ancestors (what computing them needs)."""
    keep: set[str] = set()
    for name in targets:
        keep |= {name, *nx.ancestors(graph, name)}
    sub = graph.subgraph([n for n in graph.nodes if n in keep]).copy()
    sub.graph["returns"] = None
    return sub


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) >= 1


def _is_static(value: Any) -> bool:
    if isinstance(value, (bool, int, str, type(None))):
        return True
    return isinstance(value, tuple) and all(_is_static(v) for v in value)


def _depends_on(graph: Graph, name: str, sources: set[str]) -> bool:
    """Whether ``name`` reads any of ``sources`` (itself or through ancestors; a parameter's value stops the walk)."""
    stack, seen = [name], set()
    while stack:
        current = stack.pop()
        if current in sources:
            return True
        if current in seen:
            continue
        seen.add(current)
        if current != name and isinstance(graph.obj(current), Parameter):
            continue  # a parameter's value is an input of the log density, not computed from data
        stack.extend(graph.predecessors(current))
    return False


def _latent_ancestors(graph: Graph, source: str) -> list[str]:
    """Latent random variables (and latent layers) that an expression reads, directly or through deterministics."""
    found: dict[str, None] = {}
    for ref in free_names(source):
        start = graph.node_of(ref)
        if start is None:
            continue
        for name in [start, *nx.ancestors(graph, start)]:
            node = graph.obj(name)
            if isinstance(node, (RandomVariable, Layer)) and node.observed is None:
                found.setdefault(name, None)
    return [n for n in graph.order() if n in found]


def check_bounded(graph: Graph) -> None:
    """Refuse point estimates whose prior depends on latent variables (an unbounded objective).

    Raises
    ------
    ModelError
        Naming the parameter (layer) and the latent variable, with the three ways out.
    """
    from ..passes.bnn import is_trainable_layer

    for node in graph.objs(Parameter):
        if node.prior is None:
            continue
        latents = _latent_ancestors(graph, node.prior)
        if not latents:
            continue
        what = "layer" if is_trainable_layer(node) else "parameter"
        latent = latents[0]
        raise ModelError(
            f"the {what} '{node.name}' is trained as a point estimate, but its prior depends on the "
            f"latent variable '{latent}': the objective is unbounded (the weights shrink to zero while "
            f"'{latent}' goes to zero, and training collapses)",
            node=node.name,
            model=graph.name,
            location=node.location,
            hint=f"give '{node.name}' a fixed prior (e.g. dist.Normal(0.0, 1.0)), drop the prior with "
            f"pg.fit(pg.passes.bnn_to_trainable(model, keep_prior=False), ...), or observe '{latent}' "
            f"(pg.fit(..., {ident(latent)}=value)), or run full Bayesian inference with pg.sample",
        )


def _check_continuous(graph: Graph) -> None:
    for node in graph.objs(RandomVariable):
        if node.observed is not None:
            continue
        support = support_of(node, graph)
        if support is not None and getattr(support, "is_discrete", False):
            raise ModelError(
                "pg.fit gives latent variables a Gaussian variational posterior, which needs them "
                "continuous; this one is discrete",
                node=node.name,
                model=graph.name,
                location=node.location,
                hint="observe it (pg.fit(..., name=value)), marginalise it out with pg.factor, "
                "or use pg.sample",
            )


@dataclass
class FitProblem:
    """The compiled objective of :func:`fit` for one model and data set.

    Build it with :meth:`build`; :meth:`init` gives the initial state (a pytree
    ``{"params", "loc", "raw_scale"}``), :meth:`loss` the negative ELBO estimate
    of a state on a (mini)batch, :meth:`batch` the minibatch of a step.

    Attributes
    ----------
    graph
        The graph being fitted: layers turned trainable, data observed, latents
        unconstrained.
    latents
        Unconstrained latent node names (the variational factors).
    constrained
        The model's latent variables (constrained names), in order.
    parameters
        Trainable node names.
    static
        Python-scalar arguments (identifier -> value), fixed in the compiled code.
    data
        Array arguments and observed values (identifier -> array), inputs of the loss.
    batched
        Identifiers in ``data`` cut into minibatches.
    scaled
        Nodes whose log-density term is multiplied by ``num_data / batch_size``.
    num_data, batch_size
        ``N`` and the minibatch size (``None``: full batch).
    trainable
        The graph after ``observe`` and ``bnn_to_trainable``, before ``to_unconstrained``.
    """

    model: Model
    graph: Graph
    terms: Compiled
    init_fn: Compiled
    latents: tuple[str, ...]
    constrained: tuple[str, ...]
    parameters: tuple[str, ...]
    static: dict[str, Any]
    data: dict[str, Any]
    batched: tuple[str, ...]
    scaled: frozenset[str]
    num_data: int | None
    batch_size: int | None
    trainable: Graph

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        model: Model | Graph,
        args: tuple = (),
        observed: dict[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> "FitProblem":
        """Prepare the objective of ``model`` on the data ``args`` / ``observed`` (see :func:`fit`)."""
        from ..passes.bnn import bnn_to_trainable

        model = as_model(model)
        bound, values = model.bind(tuple(args), dict(observed or {}))
        _check_arguments(model, bound)
        graph = observe(model.graph, **values) if values else model.graph.copy()
        graph = bnn_to_trainable(graph, keep_prior=True)
        check_bounded(graph)
        _check_continuous(graph)
        trainable = graph
        ugraph = to_unconstrained(graph)

        params = tuple(n for n in ugraph.order() if isinstance(ugraph.obj(n), Parameter))
        latents = tuple(
            n for n in ugraph.order()
            if isinstance(ugraph.obj(n), RandomVariable) and ugraph.obj(n).observed is None
        )
        constrained = tuple(
            n for n in graph.order()
            if isinstance(graph.obj(n), RandomVariable) and graph.obj(n).observed is None
        )
        given_observed = [n for n in values if isinstance(graph.obj(n), RandomVariable)]

        static: dict[str, Any] = {}
        data: dict[str, Any] = {}
        for name, value in [*bound.items(), *((n, values[n]) for n in given_observed)]:
            if _is_static(value):
                static[ident(name)] = value
            else:
                data[ident(name)] = jnp.asarray(value) if isinstance(value, (list, float, np.ndarray, np.generic)) else value

        num_data, batched, scaled = cls._batching(ugraph, bound, values, given_observed, batch_size)
        terms = generate(
            ugraph, "logpdf", given=[*latents, *params, *given_observed], terms=True, label="fit_terms",
            doc="Log-density terms of {model} for pg.fit (trainable weights and unconstrained latents given).",
        )
        init_fn = generate(_upstream(ugraph, [*latents, *params]), "sample", label="fit_init",
                           doc="Initial values of {model} for pg.fit.")
        return cls(
            model=model, graph=ugraph, terms=terms, init_fn=init_fn, latents=latents, constrained=constrained,
            parameters=params, static=static, data=data, batched=batched, scaled=scaled,
            num_data=num_data, batch_size=None if not batched else batch_size, trainable=trainable,
        )

    @staticmethod
    def _batching(
        graph: Graph, bound: dict[str, Any], values: dict[str, Any], given_observed: list[str], batch_size: int | None
    ) -> tuple[int | None, tuple[str, ...], frozenset[str]]:
        if batch_size is None:
            return None, (), frozenset()
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ModelError(f"batch_size must be a positive int, got {batch_size!r}", model=graph.name)
        arrays = [(n, values[n]) for n in given_observed if _is_array(values[n])]
        arrays += [(n, v) for n, v in bound.items() if _is_array(v)]
        if not arrays:
            raise ModelError(
                "batch_size needs data to cut into minibatches, but no observed value or argument is an array",
                model=graph.name,
                hint="pass the data as arrays, or leave batch_size=None",
            )
        num_data = int(np.shape(arrays[0][1])[0])
        batched_names = {n for n, v in arrays if np.shape(v)[0] == num_data}
        if batch_size >= num_data:
            return num_data, (), frozenset()
        for name in graph.order():
            node = graph.obj(name)
            if isinstance(node, RandomVariable) and node.observed is None and _depends_on(graph, name, batched_names):
                raise ModelError(
                    f"the latent variable '{name}' depends on the minibatched data, so it cannot be fitted "
                    "with minibatches (a local latent per data row)",
                    node=name,
                    model=graph.name,
                    location=node.location,
                    hint="use batch_size=None, or marginalise the local variable out",
                )
        scaled = frozenset(
            name for name in graph.order()
            if (isinstance(graph.obj(name), (RandomVariable, Layer)) and graph.obj(name).observed is not None
                or isinstance(graph.obj(name), Factor))
            and _depends_on(graph, name, batched_names)
        )
        batched = tuple(ident(n) for n in [*bound, *given_observed] if n in batched_names)
        return num_data, batched, scaled

    # -- the objective --------------------------------------------------------------------------
    def init(self, rng_key: jax.Array) -> dict[str, dict[str, Any]]:
        """Initial state: parameters from their ``init``, variational means at the prior median, scales 0.1."""
        arguments = {ident(a) for a in self.init_fn.graph.arguments()}
        inputs = {k: v for k, v in {**self.static, **self.data}.items() if k in arguments}
        keys = jax.random.split(rng_key, NUM_INIT_DRAWS)
        draws = jit_call(self.init_fn, inputs, keys=keys)
        from ..model import weights_of

        params = {n: weights_of(jax.tree_util.tree_map(lambda x: x[0], draws[n])) for n in self.parameters}
        loc = {n: jnp.median(draws[n], axis=0) for n in self.latents}
        for name, value in loc.items():
            if not bool(jnp.all(jnp.isfinite(value))):
                raise ModelError(
                    "draws from the prior are not finite in unconstrained space, so the variational "
                    "posterior cannot start there",
                    node=name,
                    model=self.graph.name,
                    hint="check the prior's parameters",
                )
        raw = float(np.log(np.expm1(INIT_SCALE)))  # softplus(raw) = INIT_SCALE
        raw_scale = {n: jnp.full(jnp.shape(loc[n]), raw, dtype=jnp.result_type(float)) for n in self.latents}
        return {"params": params, "loc": loc, "raw_scale": raw_scale}

    def scales(self, state: dict[str, dict[str, Any]]) -> dict[str, jax.Array]:
        """Variational standard deviations of a state."""
        return {n: jax.nn.softplus(r) for n, r in state["raw_scale"].items()}

    def batch(self, data: dict[str, Any], step: jax.Array, rng_key: jax.Array) -> dict[str, Any]:
        """The minibatch of ``step``: epochs over random permutations of the ``num_data`` rows."""
        if not self.batched:
            return data
        size = self.batch_size
        per_epoch = self.num_data // size
        epoch, within = step // per_epoch, step % per_epoch
        perm = jax.random.permutation(jax.random.fold_in(rng_key, epoch), self.num_data)
        index = jax.lax.dynamic_slice_in_dim(perm, within * size, size)
        return {k: (jnp.take(v, index, axis=0) if k in self.batched else v) for k, v in data.items()}

    def log_terms(self, values: dict[str, Any], data: dict[str, Any] | None = None) -> dict[str, jax.Array]:
        """Log-density terms for node values (unconstrained latents and parameter weights) on ``data``."""
        data = self.data if data is None else data
        inputs = {**self.static, **data, **{ident(k): v for k, v in values.items()}}
        return self.terms.fn(**inputs)

    def log_joint(self, values: dict[str, Any], data: dict[str, Any] | None = None) -> jax.Array:
        """The (minibatch-scaled) log joint density of unconstrained latents and parameters."""
        data = self.data if data is None else data
        terms = self.log_terms(values, data)
        factor = 1.0
        if self.batched:
            factor = self.num_data / jnp.shape(data[self.batched[0]])[0]
        return sum(jnp.sum(t) * (factor if name in self.scaled else 1.0) for name, t in terms.items())

    def loss(self, state: dict[str, dict[str, Any]], rng_key: jax.Array, data: dict[str, Any] | None = None) -> jax.Array:
        """One-particle estimate of the negative ELBO at ``state`` on ``data`` (default: all data)."""
        if not self.latents:  # MAP / maximum likelihood: no noise to draw
            return -self.log_joint(dict(state["params"]), data)
        scale = self.scales(state)
        keys = jax.random.split(rng_key, len(self.latents))
        z, entropy = {}, 0.0
        for k, name in zip(keys, self.latents):
            loc = state["loc"][name]
            z[name] = loc + scale[name] * jax.random.normal(k, jnp.shape(loc), dtype=jnp.result_type(loc))
            entropy = entropy + jnp.sum(jnp.log(scale[name])) + 0.5 * _LOG_2PI_E * np.size(loc)
        return -(self.log_joint({**z, **state["params"]}, data) + entropy)

    # -- results ------------------------------------------------------------------------------------
    def posterior(self, state: dict[str, dict[str, Any]]) -> MeanFieldPosterior:
        """The variational posterior of a state, mapping draws back to constrained values."""
        return MeanFieldPosterior(
            loc=state["loc"],
            scale=self.scales(state),
            constrain=self._constrainer(state["params"]),
            names=self.constrained,
        )

    def _evaluator(
        self, targets: tuple[str, ...], params: dict[str, Any]
    ) -> Callable[[dict[str, jax.Array]], dict[str, Any]]:
        """A function of the unconstrained latents computing the nodes ``targets`` (parameters fixed)."""
        sub = _upstream(self.graph, targets)
        outputs = {}
        for name in targets:  # given nodes are not outputs: copy them into fresh deterministic nodes
            if name in self.latents or name in self.parameters:
                copy = f"{ident(name)}__value"
                while sub.node_of(copy) is not None or copy in sub.env:
                    copy += "_"
                sub.add(Deterministic(copy, expr=ident(name)))
                outputs[name] = copy
            else:
                outputs[name] = name
        given = [n for n in sub.order() if n in self.latents or n in self.parameters]
        fn = generate(sub, "sample", given=given, takes_key=False, label="fit_values",
                      doc="Values of nodes of {model} from unconstrained latents and trained parameters.")
        static = {k: v for k, v in self.static.items() if sub.node_of(k) is not None}
        data = {k: v for k, v in self.data.items() if sub.node_of(k) is not None}
        fixed = {ident(n): params[n] for n in given if n in self.parameters}
        latents = [n for n in given if n in self.latents]

        @jax.jit
        def run(values: dict[str, jax.Array], data: dict[str, Any], fixed: dict[str, Any]) -> dict[str, Any]:
            out = fn.fn(**static, **data, **fixed, **{ident(k): values[k] for k in latents})
            return {n: out[outputs[n]] for n in targets}

        def evaluate(values: dict[str, jax.Array]) -> dict[str, Any]:
            return call_mapped(fn._replace(fn=run), {k: values[k] for k in latents}, data, fixed)

        return evaluate

    def _constrainer(self, params: dict[str, Any]) -> Callable[[dict[str, jax.Array]], dict[str, jax.Array]]:
        if not self.constrained:
            return lambda values: {}
        return self._evaluator(self.constrained, params)

    def networks(self, state: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Trained parameter values: a trainable layer's as a network object (latents at their posterior median)."""
        from ..passes.bnn import is_trainable_layer

        layers = tuple(n for n in self.parameters if is_trainable_layer(self.graph.obj(n)))
        out = dict(state["params"])
        if layers:
            out.update(self._evaluator(layers, state["params"])(state["loc"]))
        return out


# ------------------------------------------------------------------------------------------------
# fixing the trained values in the user's model
# ------------------------------------------------------------------------------------------------
def fixed_model(graph: Graph, trained: dict[str, Any]) -> Model:
    """``graph`` with trained values fixed: each layer or parameter becomes a constant node.

    Like ``do``, the node is cut from its parents and its prior term leaves the
    log density; unlike ``do`` on a layer, the constant is the trained *network*
    (callable), so later expressions such as ``net(x)`` work unchanged.
    """
    replacements, env = {}, {}
    for name, value in trained.items():
        if name not in graph.nodes or not isinstance(graph.obj(name), (Layer, Parameter)):
            continue
        node = graph.obj(name)
        const, i = f"{ident(name)}_fitted", 1
        while const in graph.env or graph.node_of(const) is not None or const in env:
            i += 1
            const = f"{ident(name)}_fitted{i}"
        env[const] = value
        info = dict(node.info)
        info.update(fitted=const, intervened=node.kind)
        replacements[name] = [
            Deterministic(name, expr=const, location=node.location, info=tuple(sorted(info.items())))
        ]
    if replacements:
        graph = rebuild(graph, replacements, env=env, replace_env=True)
    return Model(graph)


# ------------------------------------------------------------------------------------------------
# the evaluator
# ------------------------------------------------------------------------------------------------
def fit(
    model: Model | Graph,
    rng_key: jax.Array,
    *args: Any,
    optimizer: optax.GradientTransformation | None = None,
    num_steps: int = 1000,
    batch_size: int | None = None,
    progress: bool = True,
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
        A ``jax.random`` key (initial weights, the ELBO's noise, minibatches).
    *args
        The model's arguments (data, covariates); keywords work too.
    optimizer
        An Optax gradient transformation (default ``optax.adam(1e-3)``).
    num_steps
        Optimisation steps.
    batch_size
        Minibatch size over the data (see the module docstring); ``None``: full batch.
    progress
        Show a tqdm progress bar with the current loss.
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
    problem = FitProblem.build(model, args, observed, batch_size)
    optimizer = optax.adam(DEFAULT_LEARNING_RATE) if optimizer is None else optimizer
    init_key, data_key, run_key = jax.random.split(rng_key, 3)
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

    def one_step(carry: tuple, step: jax.Array, data: dict[str, Any]) -> tuple[tuple, jax.Array]:
        state, opt_state = carry
        batch = problem.batch(data, step, data_key)
        loss, grads = jax.value_and_grad(problem.loss)(state, jax.random.fold_in(run_key, step), batch)
        updates, opt_state = optimizer.update(grads, opt_state, state)
        return (optax.apply_updates(state, updates), opt_state), loss

    @jax.jit
    def run_chunk(carry: tuple, steps: jax.Array, data: dict[str, Any]) -> tuple[tuple, jax.Array]:
        return jax.lax.scan(lambda c, s: one_step(c, s, data), carry, steps)

    initial = state
    carry = (state, optimizer.init(state))
    losses: list[np.ndarray] = []
    bar = _progress(num_steps, progress)
    start = 0
    try:
        for size in _chunks(num_steps, progress):
            steps = jnp.arange(start, start + size)
            if start == 0:  # the first call traces the model: map errors to the node that failed
                carry, chunk_losses = call_mapped(problem.terms._replace(fn=run_chunk), carry, steps, problem.data)
                if not np.isfinite(float(chunk_losses[0])):
                    _explain_nonfinite(problem, initial)
            else:
                carry, chunk_losses = run_chunk(carry, steps, problem.data)
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
