"""A conditioned model compiled for an evaluator: log density, map back, initial values.

:func:`prepare` binds a call's arguments and observed values (keywords naming
random variables are observed, through :func:`ppgraph.passes.observe`), checks
them and applies an evaluator's passes.  The resulting :class:`Problem` holds
the compiled pieces every evaluator needs:

``logdensity(position)``
    the joint log density of the transformed graph (e.g. on R^n after
    ``to_unconstrained``) as a function of a flat dict ``{latent: array}``;
    jit-, grad- and vmap-friendly, traced once per problem;
``constrain(position)``
    the model's own latent random variables and deterministic nodes
    (constrained space) computed from a position;
``logdensity_at(position, data)``, ``constrain_at(position, data)``
    the same functions of the data too: ``problem.data`` holds the array
    arguments and observed values (a dict of arrays), which compiled samplers
    take as *inputs* instead of constants, so that one compiled program serves
    every data set of the same shapes (see :mod:`ppgraph.cache`);
``initial_positions(rng_key, num_chains)``
    starting points uniform in (-2, 2) (NumPyro's ``init_to_uniform``), redrawn
    where the log density or its gradient is not finite; when no start works
    the error names the node whose term is not finite.

Examples
--------
>>> import jax, jax.numpy as jnp, ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def m():
...     tau <~ dist.HalfNormal(1.0)
...     y <~ dist.Normal(0.0, tau)
...     return y
>>> problem = prepare(m, (), {"y": 0.5}, passes=["to_unconstrained"])
>>> problem.latents
('tau_unconstrained',)
>>> float(problem.constrain({"tau_unconstrained": jnp.log(2.0)})["tau"])
2.0
>>> sorted(problem.data)
['y_observed']
>>> again = prepare(m, (), {"y": 1.5}, passes=["to_unconstrained"])   # same shapes: compiled once
>>> again.logdensity_at is problem.logdensity_at
True
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from .. import dist as pg_dist
from ..cache import ProgramCache, is_data, spec
from ..codegen import call_mapped, generate, node_error
from ..compile import _check_arguments, latent_names, value_inputs
from ..datachecks import check_data
from ..errors import ModelError, SupportError
from ..ir import Argument, Deterministic, Factor, Graph, Layer, Marginalized, Parameter, RandomVariable
from ..ir.expr import ident
from ..model import Model, as_model, weights_of
from ..passes import compose, observe
from ..passes.vectorize import user_names as vectorized_names

__all__ = ["Problem", "prepare", "as_value", "user_name"]

SMALL_PROBLEM = 20_000
"""Problems with fewer elements of data and latent variables than this compile
:meth:`Problem.batched_value_and_grad` at XLA's lowest optimisation level."""

_PROBE = "_ppgraph_probe"
_CHECK = "_ppgraph_check_observed"
_CHECK_LAYER = "_ppgraph_check_layer"


def _check_layer(layer: Any, name: str, model: str, location: str | None = None) -> Any:
    """Refuse a layer with trainable parameters (no prior): they are fitted first, then fixed."""
    trainable = getattr(layer, "trainable_paths", None)
    paths = trainable() if callable(trainable) else ()
    if paths:
        shown = ", ".join(paths[:6]) + (", ..." if len(paths) > 6 else "")
        raise ModelError(
            f"the layer '{name}' has trainable parameters without a prior ({shown}): sampling needs a prior "
            "on every unknown",
            node=name,
            model=model,
            location=location,
            hint="fit first: fit = pg.fit(model, key, data...) trains them, then pg.sample(fit.model, key, "
            "data...) samples the parameters that have priors with the trained ones fixed; or give every "
            "parameter a prior",
        )
    return layer


def as_value(value: Any) -> Any:
    """Arrays for array-likes (lists, NumPy arrays, floats); other values unchanged.

    Python ``int``/``bool``/``str`` stay as they are (they may be sizes).
    """
    if isinstance(value, (list, np.ndarray, np.generic, float)):
        return jnp.asarray(value)
    if isinstance(value, tuple) and value and all(isinstance(v, (int, float, np.generic)) for v in value):
        if any(isinstance(v, (float, np.floating)) for v in value):
            return jnp.asarray(value)
    return value


def user_name(graph: Graph, name: str) -> str:
    """The model variable a pass-created node stands for (``x_unconstrained`` -> ``x``)."""
    seen = {name}
    while name in graph.nodes:
        node = graph.nodes[name]["node"]
        origin = next((node.get_info(k) for k in ("unconstrained_of", "decentered_of") if node.get_info(k)), None)
        if origin is None or origin in seen:
            break
        seen.add(origin)
        name = origin
    return name


def prepare(
    model: Model | Graph,
    args: tuple,
    kwargs: dict[str, Any],
    passes: Sequence[Any] = (),
) -> "Problem":
    """Bind a call ``(model, *args, **kwargs)``, condition, check and apply ``passes``.

    Keywords naming a model argument are arguments; keywords naming a random
    variable (or layer) are observed values.

    Raises
    ------
    ModelError
        A missing argument, an unknown keyword, a parameter node (trained with
        ``pg.fit``, not sampled), or no latent variable left to sample.
    """
    model = as_model(model)
    bound, values = model.bind(args, kwargs)
    _check_arguments(model, bound)
    bound = {k: as_value(v) for k, v in bound.items()}
    observed = {k: as_value(v) for k, v in values.items()}
    check_data(model.graph, {**bound, **observed})
    conditioned = observe(model.graph, **observed) if observed else model.graph.copy()
    for node in conditioned.objs(Parameter):
        raise ModelError(
            f"'{node.name}' is a trainable Parameter node: sampling needs a prior on every unknown",
            node=node.name,
            model=model.name,
            location=node.location,
            hint="train parameters with pg.fit, or give the variable a prior with `<~`",
        )
    if not latent_names(conditioned):
        raise ModelError(
            "there is no latent random variable left to sample: every random variable is observed",
            model=model.name,
            hint="use pg.logpdf to evaluate the density of fully observed data",
        )
    graph = compose(*passes)(conditioned) if passes else conditioned
    key = _cache_key(model, passes, bound, observed)
    keep = (model.graph, passes, [v for v in (*bound.values(), *observed.values()) if spec(v)[0] == "object"])
    core = _CORES.get(key, lambda: _Core(graph, bound, keep=keep))
    return Problem(model, conditioned, graph, bound, observed, core=core)


_CORES = ProgramCache("problems", maxsize=32)


def _cache_key(model: Model, passes: Sequence[Any], args: dict[str, Any], observed: dict[str, Any]) -> tuple:
    """What a compiled problem depends on: the graph, the passes, data shapes and dtypes, static values."""
    return (
        id(model.graph),
        tuple(p if isinstance(p, str) else id(p) for p in passes),
        tuple(sorted((k, spec(v)) for k, v in args.items())),
        tuple(sorted((k, spec(np.asarray(v) if isinstance(v, (int, float)) else v)) for k, v in observed.items())),
        jax.config.jax_enable_x64,
    )


_TRACER_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


def _needs_concrete(err: BaseException | None) -> bool:
    while err is not None:
        if isinstance(err, _TRACER_ERRORS):
            return True
        err = err.__cause__
    return False


def _lift_data(graph: Graph, args: dict[str, Any]) -> tuple[Graph, tuple[str, ...], dict[str, Any]]:
    """``graph`` with its observed-value constants made arguments; the data names and static arguments.

    Observed values (``y_observed`` in the environment) become :class:`Argument`
    nodes, so the generated functions take them as inputs; array arguments are
    data as well; other arguments (Python ints used as sizes, objects) stay static.
    """
    consts = {
        node.observed
        for node in graph.objs()
        if isinstance(node, (RandomVariable, Layer)) and node.observed is not None and node.observed in graph.env
    }
    consts |= {  # observed values inside blocks summed out by ppgraph.passes.marginalize
        inner.observed
        for node in graph.objs(Marginalized)
        for inner in node.block
        if isinstance(inner, RandomVariable) and inner.observed is not None and inner.observed in graph.env
    }
    lifted = graph.copy()
    for name in sorted(consts):
        del lifted.graph["env"][name]
        lifted.add_node(name, node=Argument(name))
    lifted.link()
    data_names = tuple(sorted(consts)) + tuple(ident(k) for k, v in args.items() if is_data(v))
    static = {ident(k): v for k, v in args.items() if not is_data(v)}
    return lifted, data_names, static


class _Core:
    """The compiled pieces of a problem, shared by every call with data of the same shapes.

    Holds the generated functions (of positions *and* data), their ``jax.jit``
    wrappers and the evaluators' compiled programs (:meth:`Problem.cached`).
    When the model needs concrete argument values while tracing (e.g.
    ``int(x.max())``), the arguments are baked in as constants instead
    (``baked``: this core then serves one call only).
    """

    def __init__(self, graph: Graph, args: dict[str, Any], *, keep: Any = None, baked: bool = False) -> None:
        self.keep = keep  # keeps the objects whose identity the cache key records alive
        self.baked = baked
        if baked:
            self.graph, self.data_names, self.static = graph, (), {ident(k): v for k, v in args.items()}
        else:
            self.graph, self.data_names, self.static = _lift_data(graph, args)
        self.latents: tuple[str, ...] = tuple(value_inputs(graph))
        self._logpdf = generate(self.graph, "logpdf", given=self.latents)
        self._terms = generate(self.graph, "logpdf", given=self.latents, terms=True, label="logpdf_terms",
                               doc="Log-density terms of {model}, one per node.")
        self._determ = generate(self.graph, "sample", given=self.latents, label="deterministics",
                                takes_key=False,
                                doc="Compute the deterministic nodes of {model} from the values of its random variables.")
        self.logdensity_at = jax.jit(self._logdensity_at)
        self.terms_at = jax.jit(self._terms_at)
        self.programs: dict[Any, Any] = {}
        self.checked = False

    def _values(self, position: dict[str, Any]) -> dict[str, Any]:
        return {ident(k): weights_of(position[k]) for k in self.latents}

    def _logdensity_at(self, position: dict[str, Any], data: dict[str, Any]) -> jax.Array:
        return call_mapped(self._logpdf, **self.static, **data, **self._values(position))

    def _terms_at(self, position: dict[str, Any], data: dict[str, Any]) -> dict[str, jax.Array]:
        return call_mapped(self._terms, **self.static, **data, **self._values(position))

    def constrain_at(self, position: dict[str, Any], data: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
        computed = call_mapped(self._determ, **self.static, **data, **self._values(position))
        return {n: computed[n] if n in computed else position[n] for n in names}


class Problem:
    """A conditioned, transformed model with its compiled functions (see module docstring).

    Attributes
    ----------
    model
        The model as the user gave it.
    conditioned
        Its graph with the observed values bound (before the evaluator's passes).
    graph
        The graph after the evaluator's passes; ``logdensity`` is its density.
    args, observed
        The model's arguments and the observed values (name -> value).
    latents
        The keys of a position: the unobserved random variables of ``graph``.
    data
        The inputs of the compiled functions besides a position: array arguments
        and observed values (identifier -> array or pytree of arrays).
    logdensity_at, constrain_at, terms_at
        ``logdensity``, ``constrain`` and ``logdensity_terms`` as functions of
        ``(position, data)``; they hold no data, so compiled programs that take
        ``data`` as an argument serve every call with data of the same shapes.
    names
        The keys of ``constrain(position)``: the model's latent random variables
        and deterministic nodes.
    """

    def __init__(self, model: Model, conditioned: Graph, graph: Graph, args: dict[str, Any],
                 observed: dict[str, Any], *, core: "_Core | None" = None) -> None:
        self.model = model
        self.conditioned = conditioned
        self.graph = graph
        self.args = args
        self.observed = observed
        latent = set(latent_names(conditioned))
        self.names: tuple[str, ...] = tuple(
            n for n in conditioned.order()
            if n in latent or isinstance(conditioned.nodes[n]["node"], Deterministic)
        )
        self.names = vectorized_names(graph, self.names)  # members of merged nodes: the merged node
        self._argkw = {ident(k): v for k, v in args.items()}
        self.latents: tuple[str, ...] = tuple(value_inputs(graph))
        self.shapes = self._probe()
        self._core = core if core is not None else _Core(graph, args)
        if not self._core.checked:
            self._core = self._traceable(self._core)
        core = self._core
        self.data: dict[str, Any] = {} if core.baked else self._data()
        self._logpdf, self._terms, self._determ = core._logpdf, core._terms, core._determ
        self.logdensity_at = core.logdensity_at
        self.terms_at = core.terms_at
        # bound to the compiled core, not to this problem's data (safe to keep in compiled programs)
        self.constrain_at = functools.partial(core.constrain_at, names=self.names)

    def _data(self) -> dict[str, Any]:
        env = self.graph.env
        return {n: env[n] if n in env else self._argkw[n] for n in self._core.data_names}

    def _traceable(self, core: "_Core") -> "_Core":
        """``core``, or (when tracing needs concrete argument values) a core with them baked in."""
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), self.shapes)
        data = {n: self.graph.env[n] if n in self.graph.env else self._argkw[n] for n in core.data_names}
        try:
            jax.eval_shape(core.logdensity_at, zeros, data)
            jax.eval_shape(lambda p, d: core.constrain_at(p, d, self.names), zeros, data)
        except Exception as err:  # noqa: BLE001 - only tracer errors change anything; others surface later
            if not core.baked and _needs_concrete(err):
                core = _Core(self.graph, self.args, baked=True)
        core.checked = True
        return core

    # -- compiled functions ------------------------------------------------------------------
    def logdensity(self, position: dict[str, Any]) -> jax.Array:
        """The joint log density at ``position`` (this problem's data; jit-, grad- and vmap-friendly)."""
        return self.logdensity_at(position, self.data)

    def logdensity_terms(self, position: dict[str, Any]) -> dict[str, jax.Array]:
        """Per-node log-density terms at ``position`` (diagnostics)."""
        return self.terms_at(position, self.data)

    def constrain(self, position: dict[str, Any]) -> dict[str, Any]:
        """The model's latent variables and deterministic nodes at ``position`` (traceable)."""
        return self.constrain_at(position, self.data)

    def evaluate(self, source: str, position: dict[str, Any]) -> Any:
        """The value of an expression of this graph's names at one (unbatched) ``position``, run eagerly.

        The expression reads the graph's environment, the model's arguments, the
        data and every node's value at ``position`` (the latent variables
        constrained, the deterministic nodes computed), e.g. the scale of a
        random variable's distribution, as :mod:`~ppgraph.inference.autoreparam`
        needs it.  Raises :class:`~ppgraph.errors.ModelError` naming the
        expression when it cannot be evaluated.

        Examples
        --------
        >>> import jax.numpy as jnp, ppgraph as pg
        >>> from ppgraph import dist
        >>> @pg.model
        ... def m():
        ...     tau <~ dist.HalfNormal(1.0)
        ...     x <~ dist.Normal(0.0, 2.0 * tau)
        >>> problem = prepare(m, (), {}, passes=("to_unconstrained",))
        >>> float(problem.evaluate("2.0 * tau", {"tau_unconstrained": jnp.log(3.0), "x": 0.0}))
        6.0
        """
        values = self.constrain_at(position, self.data)
        namespace = {**self.graph.env, **self._argkw, **self.data,
                     **{ident(k): weights_of(v) for k, v in position.items()},
                     **{ident(k): v for k, v in values.items()}}
        try:
            return eval(compile(source, "<ppgraph.evaluate>", "eval"), namespace)  # noqa: S307 - the graph's own source
        except Exception as err:  # noqa: BLE001 - reported with the expression
            raise ModelError(f"cannot evaluate `{source}` at a position of {self.graph.name}: "
                             f"{type(err).__name__}: {err}", model=self.graph.name) from err

    def cached(self, key: Any, build: Any) -> Any:
        """A compiled program kept with this problem's compiled functions: ``build()`` on the first call.

        ``key`` must say everything the program depends on besides the data
        (e.g. sampler settings, number of chains and draws); the program must
        take the data as an argument (``problem.data``) rather than close over it.
        A problem whose arguments had to be baked in as constants keeps nothing.
        """
        if self._core.baked:
            return build()
        if key not in self._core.programs:
            self._core.programs[key] = build()
        return self._core.programs[key]

    def batched_value_and_grad(self) -> Any:
        """``jit(vmap(value_and_grad(logdensity_at)))`` over a leading chain axis, ``(position, data) -> (lp, grad)``.

        What the initial-point search and the pilot of ``reparam="auto"`` evaluate
        (one compiled program for both).  For small problems (fewer than
        :data:`SMALL_PROBLEM` elements of data and latent variables) it is
        compiled at XLA's lowest backend optimisation: it runs a handful of times,
        and its compile is about half as long (eight schools: 0.44 -> 0.23 s) while
        a call costs the same; on large ones a call at that level is ~9x slower
        (30,000 observations), so they get the default.
        """
        logdensity_at = self.logdensity_at
        size = sum(int(np.prod(np.shape(v))) for v in jax.tree.leaves(self.data))
        size += sum(int(np.prod(s.shape)) for s in jax.tree.leaves(self.shapes))
        options = {"xla_backend_optimization_level": 0} if size < SMALL_PROBLEM else None
        return self.cached("initial_positions", lambda: jax.jit(
            jax.vmap(jax.value_and_grad(logdensity_at), in_axes=(0, None)), compiler_options=options))

    def source(self, which: str = "logdensity") -> str:
        """Generated source of ``"logdensity"``, ``"terms"`` or ``"constrain"``."""
        return {"logdensity": self._logpdf, "terms": self._terms, "constrain": self._determ}[which].source

    # -- shapes and data checks ------------------------------------------------------------------
    def _latent_dependent(self, name: str) -> bool:
        graph = self.graph
        return any(
            isinstance(graph.nodes[a]["node"], (RandomVariable, Layer)) and graph.nodes[a]["node"].observed is None
            for a in nx.ancestors(graph, name)
        )

    def _probe(self) -> dict[str, jax.ShapeDtypeStruct]:
        """Run the model once with zeros for the latents: shapes, discreteness, observed-data checks."""
        graph = self.graph
        probed: dict[str, Any] = {}

        def probe(d: Any, name: str) -> jax.Array:
            node = graph.nodes[name]["node"]
            if not pg_dist.is_distribution(d):
                raise ModelError(
                    f"the right side of `<~` is a {type(d).__name__}, not a distribution",
                    node=user_name(graph, name), model=graph.name, location=node.location,
                )
            if pg_dist.is_discrete(d):
                shown = user_name(graph, name)
                raise ModelError(
                    f"'{shown}' is a discrete latent variable ({type(d).__name__}); gradient-based samplers "
                    "such as NUTS need continuous latent variables",
                    node=shown, model=graph.name, location=node.location,
                    hint=f"observe it (pg.sample(..., {ident(shown)}=values)), or let pg.sample sum it out "
                    "(marginalize=True, the default, for finite supports: see docs/discrete.md), or sum "
                    "its values out by hand with jax.scipy.special.logsumexp and pg.factor",
                )
            probed[name] = d
            return jnp.zeros(d.shape(), dtype=jnp.result_type(float))

        def check(d: Any, value: Any, name: str) -> Any:
            _check_observed(graph, name, d, value, self._latent_dependent(name))
            return value

        layers: dict[str, Any] = {}

        def check_layer(layer: Any, name: str, model: str, location: str | None = None) -> Any:
            layers[name] = layer
            return _check_layer(layer, name, model, location)

        replacements = {}
        for name in graph.nodes:
            node = graph.nodes[name]["node"]
            if isinstance(node, RandomVariable):
                if node.observed is None:
                    expr = f"{_PROBE}({node.dist}, {name!r})"
                else:
                    expr = f"{_CHECK}({node.dist}, {node.observed}, {name!r})"
                replacements[name] = [Deterministic(name, expr=expr, location=node.location, info=node.info)]
            elif isinstance(node, Layer) and node.observed is None:
                spec = f"{_CHECK_LAYER}({node.spec}, {name!r}, {graph.name!r}, {node.location!r})"
                replacements[name] = [Layer(name, spec=spec, input=node.input, location=node.location, info=node.info)]
        from ..passes import rebuild

        probe_graph = rebuild(graph, replacements, env={_PROBE: probe, _CHECK: check, _CHECK_LAYER: check_layer})
        fn = generate(probe_graph, "sample", label="probe", takes_key=True)
        try:
            values = call_mapped(fn, jax.random.key(0), **self._argkw)
        except ModelError as err:
            cause = err.__cause__
            if isinstance(err, SupportError) or cause is None or err.node not in graph.nodes:
                raise
            raise node_error(graph, err.node, cause, "logpdf") from cause
        shapes = {}
        for name in self.latents:
            layer = layers.get(name)
            # a layer with parameters fixed after pg.fit: only those with a prior are sampled
            fixed = getattr(layer, "fixed_values", None)
            leaf = layer.canonical(values[name]) if fixed else weights_of(values[name])
            shapes[name] = jax.tree.map(lambda v: jax.ShapeDtypeStruct(jnp.shape(v), jnp.result_type(v)), leaf)
        return shapes

    # -- initial values ------------------------------------------------------------------------------
    def draw_uniform(self, rng_key: Any, num_chains: int, radius: float = 2.0) -> dict[str, Any]:
        """Positions uniform in ``(-radius, radius)``, one per chain (leading axis)."""
        leaves, treedef = jax.tree.flatten(self.shapes)
        keys = jax.random.split(rng_key, len(leaves))
        drawn = [
            jax.random.uniform(k, (num_chains, *s.shape), dtype=s.dtype, minval=-radius, maxval=radius)
            for k, s in zip(keys, leaves)
        ]
        return jax.tree.unflatten(treedef, drawn)

    def initial_positions(self, rng_key: Any, num_chains: int, *, radius: float = 2.0,
                          max_tries: int = 20) -> dict[str, Any]:
        """Starting points with a finite log density and gradient, one per chain.

        Raises
        ------
        ModelError
            No start found; the message names the node whose log-density term
            (or its gradient) is not finite.
        """
        check = self.batched_value_and_grad()
        key, sub = jax.random.split(rng_key)
        position = self.draw_uniform(sub, num_chains, radius)
        for _ in range(max_tries):
            lp, grad = check(position, self.data)
            ok = np.isfinite(np.asarray(lp))  # on the host: no small programs compiled for the checks
            for leaf in jax.tree.leaves(grad):
                ok &= np.all(np.isfinite(np.asarray(leaf).reshape(num_chains, -1)), axis=1)
            if ok.all():
                return position
            key, sub = jax.random.split(key)
            fresh = self.draw_uniform(sub, num_chains, radius)
            position = jax.tree.map(
                lambda old, new: jnp.where(ok.reshape((-1,) + (1,) * (old.ndim - 1)), old, new), position, fresh
            )
        bad = int(np.argmin(np.asarray(ok)))
        raise self.diagnose(jax.tree.map(lambda v: v[bad], position), tries=max_tries, radius=radius)

    def diagnose(self, position: dict[str, Any], *, tries: int = 1, radius: float = 2.0) -> ModelError:
        """The error for a position whose log density or gradient is not finite."""
        graph = self.graph
        terms = {k: float(v) for k, v in self.logdensity_terms(position).items()}
        where = f"at {tries} random initial value(s) uniform in (-{radius:g}, {radius:g}) (unconstrained space)"
        bad = [(n, v) for n, v in terms.items() if not np.isfinite(v)]
        what = "is"
        if not bad:
            for name in terms:
                grad = jax.grad(lambda p, n=name: self.logdensity_terms(p)[n])(position)
                if not all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grad)):
                    bad.append((name, float("nan")))
                    what = "has a gradient that is"
                    break
        if not bad:
            return ModelError(f"the log density is not finite {where}", model=graph.name)
        name, value = bad[0]
        node = graph.nodes[name]["node"]
        shown = user_name(graph, name)
        if isinstance(node, RandomVariable) and node.observed is not None:
            hint = ("check the observed values and the parameters of its distribution (e.g. a scale that "
                    "is not positive, a probability outside [0, 1]); values outside the support have density 0")
        elif isinstance(node, Factor):
            hint = "the factor's expression is -inf or nan there; make it finite wherever the other variables may go"
        else:
            hint = ("check the parameters of its distribution (a scale must be positive, probabilities in "
                    "[0, 1]...) and the model arguments they use")
        others = [user_name(graph, n) for n, _ in bad[1:]]
        also = f" (also not finite: {', '.join(others)})" if others else ""
        return ModelError(
            f"the log density {what} not finite {where}: the term of '{shown}' is {value}{also}",
            node=shown, model=graph.name, location=node.location, hint=hint,
        )




def _unwrap(d: Any) -> Any:
    """The distribution under ``.expand()`` / ``.to_event()`` / ``.mask()`` wrappers."""
    from numpyro.distributions import ExpandedDistribution, Independent, MaskedDistribution

    while isinstance(d, (ExpandedDistribution, Independent, MaskedDistribution)):
        d = d.base_dist
    return d


def _support_is_static(d: Any) -> bool:
    support = inspect.getattr_static(type(_unwrap(d)), "support", None)
    return isinstance(support, pg_dist.constraints.Constraint) and not isinstance(
        support, pg_dist.constraints._Dependent
    )


def _check_observed(graph: Graph, name: str, d: Any, value: Any, latent_dependent: bool) -> None:
    """Raise :class:`SupportError` for an observed value of a wrong dtype or outside the support."""
    node = graph.nodes[name]["node"]
    if not pg_dist.is_distribution(d) or not hasattr(value, "dtype") and not isinstance(value, (int, float, bool)):
        return
    value = jnp.asarray(value)
    dname = type(_unwrap(d)).__name__
    if pg_dist.is_discrete(d) and not (jnp.issubdtype(value.dtype, jnp.integer) or value.dtype == jnp.bool_):
        host = np.asarray(value)
        fractional = ~np.isfinite(host) | (host != np.round(host))
        problem = None
        if bool(np.any(fractional)):
            idx = _first(fractional)
            problem = f"has non-integer values (e.g. {float(value[idx])} at index {idx})"
        else:
            try:
                d.log_prob(value)
            except TypeError as err:
                problem = f"cannot be used as integers here ({str(err).splitlines()[0]})"
        if problem is not None:
            raise SupportError(
                f"the observed value has dtype {value.dtype} and {problem}, but {dname} is a distribution "
                "over integers",
                node=name, model=graph.name, location=node.location,
                hint=f"pass integers, e.g. {ident(name)}=jnp.asarray(data, dtype=jnp.int32)",
            )
    if latent_dependent and not _support_is_static(d):
        return  # the support moves with latent variables: judged by the log density at initialisation
    try:  # NumPy data keep most constraints on the host (no small program compiled per check)
        inside = np.asarray(d.support(np.asarray(value)))
    except Exception:  # a shape problem: reported by the log density with the node named
        return
    if not bool(np.all(inside)):
        idx = _first(~inside)
        shown = value[idx] if inside.ndim and value.ndim >= inside.ndim else value
        raise SupportError(
            f"the observed value lies outside the support of {dname} ({_describe(d.support)}): "
            f"{int(np.size(inside) - np.count_nonzero(np.asarray(inside)))} of {np.size(inside)} value(s), "
            f"e.g. {np.asarray(shown).tolist()} at index {idx}",
            node=name, model=graph.name, location=node.location,
            hint="fix the data, or choose a distribution whose support contains it",
        )


def _first(mask: Any) -> tuple[int, ...]:
    mask = np.asarray(mask)
    if mask.ndim == 0:
        return ()
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _describe(constraint: Any) -> str:
    text = type(constraint).__name__.lstrip("_")
    lower = getattr(constraint, "lower_bound", None)
    upper = getattr(constraint, "upper_bound", None)
    if lower is not None or upper is not None:
        def show(v: Any) -> str:
            return np.array2string(np.asarray(v), threshold=6) if v is not None else "..."

        text += f" [{show(lower)}, {show(upper)}]"
    return text
