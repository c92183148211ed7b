"""The objective of ``pg.fit``: :class:`FitProblem`, the compiled negative ELBO of a model and data set.

Building it prepares the graph (data observed, layers turned trainable,
latents unconstrained), checks that the objective is bounded
(:func:`check_bounded`) and the latents continuous, decides the minibatching,
and generates the log-density terms; its methods give the initial state, the
loss of a state on a (mini)batch, and the results (variational posterior,
trained networks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from ..cache import ProgramCache, spec
from ..codegen import Compiled, call_mapped, generate
from ..compile import _check_arguments, jit_call
from ..datachecks import check_data
from ..errors import ModelError
from ..ir import Deterministic, Factor, Graph, Layer, Parameter, RandomVariable
from ..ir.expr import free_names, ident
from ..model import Model, as_model
from ..passes import observe, to_unconstrained
from ..supports import support_of
from .variational import MeanFieldPosterior

__all__ = ["FitProblem", "check_bounded", "INIT_SCALE", "NUM_INIT_DRAWS"]

_PROBLEMS = ProgramCache("fit_problems", maxsize=32)

INIT_SCALE = 0.1
"""Initial standard deviation of every variational factor (as NumPyro's ``AutoNormal``)."""

NUM_INIT_DRAWS = 15
"""Prior draws whose median (in unconstrained space) initialises the variational means."""

_LOG_2PI_E = math.log(2 * math.pi) + 1.0


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


def _inputs(bound: dict[str, Any], values: dict[str, Any], given_observed: list[str]) -> tuple[dict, dict]:
    """Static Python-scalar arguments and data (arrays) by identifier."""
    static: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for name, value in [*bound.items(), *((n, values[n]) for n in given_observed)]:
        if _is_static(value):
            static[ident(name)] = value
        else:
            data[ident(name)] = jnp.asarray(value) if isinstance(value, (list, float, np.ndarray, np.generic)) else value
    return static, data


def _is_input(problem: "FitProblem", name: str) -> bool:
    """Whether the observed value of ``name`` is an input of every generated function of ``problem``
    (not a constant: the initial-value sampler reads observed values upstream of a latent as constants)."""
    return (isinstance(problem.trainable.obj(name), RandomVariable) and ident(name) not in problem.static
            and problem.init_fn.graph.node_of(name) is None)


def _same_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        leaves_a, tree_a = jax.tree.flatten(a)
        leaves_b, tree_b = jax.tree.flatten(b)
        return tree_a == tree_b and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(leaves_a, leaves_b))
    except Exception:
        return False


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
    temperature: float = 1.0
    programs: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    """Compiled programs of this problem (training loops, value maps), shared by every
    data set of the same shapes (:meth:`cached`)."""

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        model: Model | Graph,
        args: tuple = (),
        observed: dict[str, Any] | None = None,
        batch_size: int | None = None,
        *,
        bounded: bool = True,
        temperature: float = 1.0,
    ) -> "FitProblem":
        """Prepare the objective of ``model`` on the data ``args`` / ``observed`` (see :func:`fit`).

        ``bounded=False`` skips :func:`check_bounded` (for samplers, which treat the
        weights as random: ``ppgraph.inference.sgmcmc``); ``temperature`` divides the
        log joint density in :meth:`loss` (a tempered posterior).
        """
        from ..passes.bnn import bnn_to_trainable

        model = as_model(model)
        bound, values = model.bind(tuple(args), dict(observed or {}))
        _check_arguments(model, bound)
        check_data(model.graph, {**bound, **values})
        graph = observe(model.graph, **values) if values else model.graph.copy()
        graph = bnn_to_trainable(graph, keep_prior=True)
        if bounded:
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

        static, data = _inputs(bound, values, given_observed)

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
            temperature=float(temperature),
        )

    @classmethod
    def cached(
        cls,
        model: Model | Graph,
        args: tuple = (),
        observed: dict[str, Any] | None = None,
        batch_size: int | None = None,
        *,
        temperature: float = 1.0,
    ) -> "FitProblem":
        """:meth:`build`, once per model, settings and data *shapes* (``pg.fit``'s compile once per shape).

        A call with new data of the shapes of an earlier call returns that
        problem with the new data: its generated functions and compiled
        programs (:attr:`programs`) are reused.  The data are checked on every
        call.  Observed values the generated code holds as constants (a fixed
        layer, an observed variable a latent's prior reads) must be the same
        values for a hit.  ``pg.clear_cache()`` empties the cache.
        """
        model = as_model(model)
        bound, values = model.bind(tuple(args), dict(observed or {}))
        if not (batch_size is None or type(batch_size) is int):  # build names what is wrong
            return cls.build(model, args, observed, batch_size, temperature=temperature)
        key = (id(model.graph), batch_size, float(temperature), jax.config.jax_enable_x64,
               tuple(sorted((k, spec(v)) for k, v in bound.items())),
               tuple(sorted((k, spec(np.asarray(v) if isinstance(v, (int, float)) else v)) for k, v in values.items())))
        built: list[FitProblem] = []

        def build() -> tuple[FitProblem, dict[str, Any], Any]:
            problem = cls.build(model, args, observed, batch_size, temperature=temperature)
            built.append(problem)
            pinned = {n: values[n] for n in values if not _is_input(problem, n)}
            keep = (model.graph, [v for v in (*bound.values(), *values.values()) if spec(v)[0] == "object"])
            return dataclasses.replace(problem, data={}), pinned, keep

        template, pinned, _ = _PROBLEMS.get(key, build)
        if built:
            return built[0]
        if not all(_same_value(values[n], v) for n, v in pinned.items()):  # a constant of the code changed
            return cls.build(model, args, observed, batch_size, temperature=temperature)
        _check_arguments(model, bound)
        check_data(model.graph, {**bound, **values})
        given_observed = [n for n in values if isinstance(template.trainable.obj(n), RandomVariable)]
        _, data = _inputs(bound, values, given_observed)
        return dataclasses.replace(template, data=data)

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
            return -self.log_joint(dict(state["params"]), data) / self.temperature
        scale = self.scales(state)
        keys = jax.random.split(rng_key, len(self.latents))
        z, entropy = {}, 0.0
        for k, name in zip(keys, self.latents):
            loc = state["loc"][name]
            z[name] = loc + scale[name] * jax.random.normal(k, jnp.shape(loc), dtype=jnp.result_type(loc))
            entropy = entropy + jnp.sum(jnp.log(scale[name])) + 0.5 * _LOG_2PI_E * np.size(loc)
        return -(self.log_joint({**z, **state["params"]}, data) / self.temperature + entropy)

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
        """A function of the unconstrained latents computing the nodes ``targets`` (parameters fixed).

        Generated and compiled once per problem and targets (:attr:`programs`); the
        returned function reads this problem's data.
        """
        key = ("values", targets)
        if key not in self.programs:
            self.programs[key] = self._value_program(targets)
        fn, run, latents, data_names, param_names = self.programs[key]
        data = {k: self.data[k] for k in data_names}
        fixed = {ident(n): params[n] for n in param_names}

        def evaluate(values: dict[str, jax.Array]) -> dict[str, Any]:
            return call_mapped(fn._replace(fn=run), {k: values[k] for k in latents}, data, fixed)

        return evaluate

    def _value_program(self, targets: tuple[str, ...]) -> tuple:
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
        data_names = tuple(k for k in self.data if sub.node_of(k) is not None)
        param_names = tuple(n for n in given if n in self.parameters)
        latents = [n for n in given if n in self.latents]

        @jax.jit
        def run(values: dict[str, jax.Array], data: dict[str, Any], fixed: dict[str, Any]) -> dict[str, Any]:
            out = fn.fn(**static, **data, **fixed, **{ident(k): values[k] for k in latents})
            return {n: out[outputs[n]] for n in targets}

        return fn, run, latents, data_names, param_names

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

