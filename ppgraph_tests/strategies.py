"""Hypothesis strategies for random models, built three ways from one description.

A :class:`ModelSpec` is a random DAG of 1-15 random variables over the distributions
of issue 2, with, between them, deterministic nodes (chains of them included), model
arguments carrying data, ``pg.factor`` terms, Bayesian layers (``nn.Dense`` or an
``nn.Serial`` of two dense layers, with priors that may depend on latent variables)
and random variables marked as observed.  Vector-valued nodes have lengths 1-6.
From one spec you get

* ``spec.build()``: a :class:`ppgraph.Model` built with :class:`ppgraph.GraphBuilder`;
* ``spec.numpyro_model``: the same model written for NumPyro (``numpyro.sample`` sites,
  ``numpyro.factor``, the layers' kernels and biases as sample sites, the dense layers
  applied by hand), independent of the code ppgraph generates;
* ``spec.source()``: the same model as ``@pg.model`` source text (for the parser);
* ``spec.argument_values()``: the data of the model's arguments (fixed by the spec);
* ``spec.improper_values(rng)``: arbitrary valid values for the improper (flat) priors;
* ``spec.values_from_numpyro(sites)``: ppgraph's values (layer weights as pytrees)
  of a NumPyro trace.

Every parameter is a bounded function of its parents (``tanh`` squashing, then
``softplus`` for scales, ``sigmoid`` for probabilities, ``softmax`` for simplexes),
so every model is well defined at every point of its prior.

Examples
--------
>>> from hypothesis import given, settings
>>> @settings(derandomize=True, max_examples=3, deadline=None)
... @given(model_specs(max_random=4))
... def check(spec):
...     assert 1 <= len(spec.random_names()) <= 4
...     assert set(spec.random_names()) <= set(spec.build().graph.nodes)
>>> check()
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
from hypothesis import strategies as st

import ppgraph as pg
from ppgraph import dist, nn

__all__ = [
    "FAMILIES",
    "SIZE",
    "SIZES",
    "NodeSpec",
    "ModelSpec",
    "NUMPYRO_DIST",
    "model_specs",
    "families",
    "JNP_FUNCTIONS",
]

SIZE = 3
"""Default length of a vector-valued node (a :class:`NodeSpec` built by hand)."""
SIZES = (1, 6)
"""Range of the lengths of vector-valued nodes drawn by :func:`model_specs`."""

JNP_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tanh": jnp.tanh,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "abs": jnp.abs,
    "mean": jnp.mean,
    "eye": jnp.eye,
    "array": jnp.array,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "softmax": jax.nn.softmax,
}
"""The functions expressions may call, by the name specs use for them."""

_OFFSETS = (-0.2, 0.1, 0.4, -0.3, 0.25)
"""Offsets of the elements 2, 3, ... of a vector signal (the first is the node's own offset)."""


class _Direct:
    """Function namespace for the NumPyro side: calls the function."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return JNP_FUNCTIONS[name]

    @staticmethod
    def apply_layer(weights: Any, x: Any, units: tuple[int, ...]) -> Any:
        """The dense layer (or Dense-Tanh-Dense stack) ``units`` applied by hand."""
        if len(units) == 1:
            return x @ weights["kernel"] + weights["bias"]
        hidden = jnp.tanh(x @ weights["0"]["kernel"] + weights["0"]["bias"])
        return hidden @ weights["2"]["kernel"] + weights["2"]["bias"]


class _Symbolic:
    """Function namespace for the GraphBuilder side: builds ``g.call(fn, ...)`` symbols."""

    def __init__(self, builder: pg.GraphBuilder) -> None:
        self._builder = builder

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = JNP_FUNCTIONS[name]
        return lambda *args, **kwargs: self._builder.call(fn, *args, **kwargs)

    @staticmethod
    def apply_layer(layer: Any, x: Any, units: tuple[int, ...]) -> Any:
        return layer(x)


class _NumPyroDist:
    """Distribution namespace for the NumPyro side: ``numpyro.distributions`` itself, not ``ppgraph.dist``.

    ppgraph's improper priors are written out with NumPyro's ``ImproperUniform``.
    """

    @staticmethod
    def Flat(batch_shape: tuple[int, ...] = ()) -> nd.Distribution:
        return nd.ImproperUniform(nd.constraints.real, tuple(batch_shape), ())

    @staticmethod
    def HalfFlat(batch_shape: tuple[int, ...] = ()) -> nd.Distribution:
        return nd.ImproperUniform(nd.constraints.positive, tuple(batch_shape), ())

    def __getattr__(self, name: str) -> Any:
        return getattr(nd, name)


NUMPYRO_DIST = _NumPyroDist()
"""What the NumPyro renderings of specs build their distributions from."""


class _SymbolicDist:
    """``D.Normal(a, b)`` builds the symbol ``dist.Normal(a, b)``."""

    def __init__(self, builder: pg.GraphBuilder) -> None:
        self._builder = builder

    def __getattr__(self, name: str) -> Callable[..., Any]:
        cls = getattr(dist, name)
        return lambda *args, **kwargs: self._builder.call(cls, *args, **kwargs)


# -- parameter transforms: bounded, valid for every input ------------------------------------------
def _pos(F: Any, u: Any) -> Any:
    return F.softplus(2.0 * u) + 0.3


def _unit(F: Any, u: Any) -> Any:
    return F.sigmoid(2.0 * u) * 0.8 + 0.1


@dataclasses.dataclass(frozen=True)
class Family:
    """One distribution family: how its parameters come from the squashed signals.

    ``make(D, F, u, uv, L, n)`` returns the distribution; ``u`` is a scalar (or, in
    ``batch`` mode, a vector) signal in (-1, 1), ``uv`` a vector signal of length
    ``n``, ``L`` an ``n x n`` Cholesky factor among the parents (or ``None``).
    """

    name: str
    make: Callable[..., Any]
    shape: str = "s"  # value shape: "s" scalar, "v" vector (n,), "m" matrix (n, n)
    modes: tuple[str, ...] = ("scalar", "expand", "batch")
    improper: str | None = None  # "real" / "positive": an improper prior
    min_size: int = 1  # smallest vector length that makes sense (simplexes, categories, LKJ)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("Normal", lambda D, F, u, uv, L, n: D.Normal(2.0 * u, _pos(F, -u))),
        Family("HalfNormal", lambda D, F, u, uv, L, n: D.HalfNormal(_pos(F, u))),
        Family("HalfCauchy", lambda D, F, u, uv, L, n: D.HalfCauchy(_pos(F, u))),
        Family("Cauchy", lambda D, F, u, uv, L, n: D.Cauchy(u, _pos(F, u))),
        Family("StudentT", lambda D, F, u, uv, L, n: D.StudentT(_pos(F, u) + 1.0, 2.0 * u, _pos(F, -u))),
        Family("Laplace", lambda D, F, u, uv, L, n: D.Laplace(u, scale=_pos(F, u))),
        Family("LogNormal", lambda D, F, u, uv, L, n: D.LogNormal(u, 0.5 * _pos(F, u))),
        Family("Exponential", lambda D, F, u, uv, L, n: D.Exponential(rate=_pos(F, u))),
        Family("Gamma", lambda D, F, u, uv, L, n: D.Gamma(_pos(F, u), _pos(F, -u))),
        Family("InverseGamma", lambda D, F, u, uv, L, n: D.InverseGamma(_pos(F, u) + 1.0, _pos(F, -u))),
        Family("Beta", lambda D, F, u, uv, L, n: D.Beta(_pos(F, u), _pos(F, -u))),
        Family("Uniform", lambda D, F, u, uv, L, n: D.Uniform(u - 1.0, u + _pos(F, u))),
        Family("BernoulliProbs", lambda D, F, u, uv, L, n: D.Bernoulli(probs=_unit(F, u))),
        Family("BernoulliLogits", lambda D, F, u, uv, L, n: D.Bernoulli(logits=2.0 * u)),
        Family("Binomial", lambda D, F, u, uv, L, n: D.Binomial(5, probs=_unit(F, u))),
        Family("Poisson", lambda D, F, u, uv, L, n: D.Poisson(2.0 * _pos(F, u))),
        Family("CategoricalProbs", lambda D, F, u, uv, L, n: D.Categorical(probs=F.softmax(2.0 * uv)),
               modes=("scalar", "expand"), min_size=2),
        Family("CategoricalLogits", lambda D, F, u, uv, L, n: D.Categorical(logits=2.0 * uv),
               modes=("scalar", "expand"), min_size=2),
        Family("Dirichlet", lambda D, F, u, uv, L, n: D.Dirichlet(_pos(F, uv)), shape="v", modes=("scalar",),
               min_size=2),
        Family(
            "MultivariateNormal",
            lambda D, F, u, uv, L, n: D.MultivariateNormal(
                2.0 * uv, scale_tril=_pos(F, u) * (F.eye(n) if L is None else L)
            ),
            shape="v",
            modes=("scalar",),
        ),
        Family("LKJCholesky", lambda D, F, u, uv, L, n: D.LKJCholesky(n, _pos(F, u)), shape="m", modes=("scalar",),
               min_size=2),
        Family("Flat", lambda D, F, u, uv, L, n: D.Flat(), modes=("scalar",), improper="real"),
        Family("FlatVector", lambda D, F, u, uv, L, n: D.Flat([n]), shape="v", modes=("scalar",), improper="real"),
        Family("HalfFlat", lambda D, F, u, uv, L, n: D.HalfFlat(), modes=("scalar",), improper="positive"),
    ]
}

DETERMINISTIC_FUNCTIONS: tuple[Callable[[Any, Any], Any], ...] = (
    lambda F, s: F.tanh(s) * 1.5,
    lambda F, s: s * 0.5 + 1.0,
    lambda F, s: F.sin(s),
    lambda F, s: s / (1.0 + F.abs(s)),
    lambda F, s: F.softplus(s) - F.cos(s),
)
"""Expressions of deterministic nodes (of their parents' signal)."""

FACTOR_FUNCTIONS: tuple[Callable[[Any, Any], Any], ...] = (
    lambda F, s: -0.5 * F.tanh(s) ** 2,
    lambda F, s: F.sin(s) - 1.0,
    lambda F, s: -F.softplus(s),
)
"""Log-density terms of ``pg.factor`` nodes (of their parents' signal; summed if vectors)."""

KINDS = ("random", "deterministic", "argument", "factor", "layer")


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node of a random model.

    ``kind`` is ``"random"`` (``family``, ``mode``, ``observed``), ``"deterministic"``
    (``function``; ``function=-1`` applies the layer ``parents[0]`` to the argument
    ``parents[1]`` and averages its outputs), ``"argument"`` (data of shape
    ``data_shape`` drawn with ``data_seed``), ``"factor"`` (``function`` indexes
    :data:`FACTOR_FUNCTIONS`) or ``"layer"`` (``units``: one dense layer, or a
    hidden and an output width for Dense-Tanh-Dense; the input is the argument
    ``input``).  ``size`` is the length of a vector-valued node.  Without ``kind``,
    a node with a ``family`` is random and one without is deterministic.
    """

    name: str
    parents: tuple[str, ...]
    offset: float
    family: str | None = None
    mode: str = "scalar"
    function: int = 0
    kind: str = ""
    size: int = SIZE
    observed: bool = False
    data_shape: tuple[int, ...] = ()
    data_seed: int = 0
    units: tuple[int, ...] = ()
    input: str | None = None

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", "random" if self.family is not None else "deterministic")
        if self.kind not in KINDS:
            raise ValueError(f"unknown node kind {self.kind!r}")

    @property
    def is_random(self) -> bool:
        return self.kind == "random"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A random model; see the module docstring."""

    nodes: tuple[NodeSpec, ...]
    name: str = "random_model"

    # -- names and shapes -------------------------------------------------------------------
    def shapes(self) -> dict[str, str]:
        """Node name -> "s" / "v" / "m" / "x" (scalar, (size,), (size, size), layer input or layer)."""
        out: dict[str, str] = {}
        for node in self.nodes:
            if node.kind == "random":
                family = FAMILIES[node.family]
                out[node.name] = family.shape if family.shape != "s" or node.mode == "scalar" else "v"
            elif node.kind == "argument":
                out[node.name] = {0: "s", 1: "v"}.get(len(node.data_shape), "x")
            elif node.kind == "layer":
                out[node.name] = "x"
            elif node.function == -1:
                out[node.name] = "v"
            else:  # deterministic, factor
                out[node.name] = "v" if any(out[p] == "v" for p in node.parents) else "s"
        return out

    def random_names(self) -> list[str]:
        """The random variables (observed ones included), in model order."""
        return [n.name for n in self.nodes if n.is_random]

    def observed_names(self) -> list[str]:
        """The random variables marked as observed."""
        return [n.name for n in self.nodes if n.is_random and n.observed]

    def layer_names(self) -> list[str]:
        return [n.name for n in self.nodes if n.kind == "layer"]

    def argument_names(self) -> list[str]:
        return [n.name for n in self.nodes if n.kind == "argument"]

    def argument_values(self) -> dict[str, np.ndarray]:
        """The data of every argument (float32, drawn with each argument's ``data_seed``)."""
        return {
            n.name: np.random.default_rng(n.data_seed).normal(size=n.data_shape).astype(np.float32)
            for n in self.nodes
            if n.kind == "argument"
        }

    def return_name(self) -> str:
        """The last node that holds a value (not a factor or a layer)."""
        return next(n.name for n in reversed(self.nodes) if n.kind not in ("factor", "layer"))

    # -- evaluation, shared by both sides -----------------------------------------------------
    def _signal(self, node: NodeSpec, values: dict[str, Any], F: Any, vector: bool) -> Any:
        shapes = self.shapes()
        sizes = {n.name: n.size for n in self.nodes}
        signal: Any = F.array([node.offset, *_OFFSETS][: node.size]) if vector else node.offset
        for parent in node.parents:
            value = values[parent]
            if shapes[parent] in ("m", "x") or (shapes[parent] == "v" and (not vector or sizes[parent] != node.size)):
                value = F.mean(value)
            signal = signal + value
        return signal

    def _dist(self, node: NodeSpec, values: dict[str, Any], D: Any, F: Any) -> Any:
        family = FAMILIES[node.family]
        shapes = self.shapes()
        sizes = {n.name: n.size for n in self.nodes}
        u = F.tanh(self._signal(node, values, F, vector=node.mode == "batch"))
        uv = F.tanh(self._signal(node, values, F, vector=True))
        L = next((values[p] for p in node.parents if shapes[p] == "m" and sizes[p] == node.size), None)
        d = family.make(D, F, u, uv, L, node.size)
        if node.mode == "expand":
            d = d.expand([node.size])
        return d

    def _det(self, node: NodeSpec, values: dict[str, Any], F: Any) -> Any:
        if node.function == -1:
            layer, x = node.parents
            units = next(n.units for n in self.nodes if n.name == layer)
            return F.mean(F.apply_layer(values[layer], values[x], units), axis=-1)
        vector = self.shapes()[node.name] == "v"
        return DETERMINISTIC_FUNCTIONS[node.function](F, self._signal(node, values, F, vector))

    def _factor(self, node: NodeSpec, values: dict[str, Any], F: Any) -> Any:
        vector = self.shapes()[node.name] == "v"
        return FACTOR_FUNCTIONS[node.function](F, self._signal(node, values, F, vector))

    def _prior(self, node: NodeSpec, values: dict[str, Any], D: Any, F: Any) -> Any:
        """The prior of every weight of a layer (elementwise; its scale may depend on the parents)."""
        return D.Normal(0.0, _pos(F, F.tanh(self._signal(node, values, F, vector=False))))

    def _weight_shapes(self, node: NodeSpec) -> dict[str, dict[str, tuple[int, ...]]]:
        """``{"": {"kernel": (in, out), "bias": (out,)}}`` for a Dense, ``{"0": ..., "2": ...}`` for a stack."""
        width = next(n.data_shape[-1] for n in self.nodes if n.name == node.input)
        out: dict[str, dict[str, tuple[int, ...]]] = {}
        for i, units in enumerate(node.units):
            out["" if len(node.units) == 1 else str(2 * i)] = {"kernel": (width, units), "bias": (units,)}
            width = units
        return out

    # -- the three renderings ------------------------------------------------------------------
    def build(self) -> pg.Model:
        """The model built with :class:`ppgraph.GraphBuilder` (observed nodes are not observed yet: see
        :meth:`observe`)."""
        g = pg.GraphBuilder(self.name)
        D, F = _SymbolicDist(g), _Symbolic(g)
        # arguments first, as the parser adds the parameters of the model function
        values: dict[str, Any] = {name: g.argument(name) for name in self.argument_names()}
        for node in self.nodes:
            if node.kind == "random":
                values[node.name] = g.random(node.name, self._dist(node, values, D, F))
            elif node.kind == "deterministic":
                values[node.name] = g.deterministic(node.name, self._det(node, values, F))
            elif node.kind == "factor":
                g.factor(node.name, self._factor(node, values, F))
            elif node.kind == "layer":
                prior = self._prior(node, values, D, F)
                dense = [g.call(nn.Dense, units, prior) for units in node.units]
                layer = dense[0] if len(dense) == 1 else g.call(nn.Serial, dense[0], g.call(nn.Tanh), dense[1])
                values[node.name] = g.layer(node.name, layer)
        g.returns(values[self.return_name()])
        return g.build()

    def observe(self, graph: Any, values: dict[str, Any]) -> Any:
        """``graph`` with the observed nodes of this spec observed at their ``values``."""
        return pg.passes.observe(graph, **{n: values[n] for n in self.observed_names()})

    def numpyro_model(self, **data: Any) -> dict[str, Any]:
        """The NumPyro model (returns every node's value).

        ``data`` gives argument values (default: :meth:`argument_values`) and the values
        of observed random variables (``obs=``); random variables without one are latent.
        A layer is one sample site per weight, ``"<layer>/<index>/kernel"`` (index ``""``
        for a single Dense), applied by hand.
        """
        F = _Direct()
        arguments = self.argument_values()
        values: dict[str, Any] = {}
        for node in self.nodes:
            if node.kind == "random":
                values[node.name] = numpyro.sample(node.name, self._dist(node, values, NUMPYRO_DIST, F),
                                                   obs=data.get(node.name))
            elif node.kind == "deterministic":
                values[node.name] = self._det(node, values, F)
            elif node.kind == "argument":
                values[node.name] = jnp.asarray(data.get(node.name, arguments[node.name]))
            elif node.kind == "factor":
                numpyro.factor(node.name, self._factor(node, values, F))
            else:
                prior = self._prior(node, values, NUMPYRO_DIST, F)
                weights: dict[str, Any] = {}
                for index, shapes in self._weight_shapes(node).items():
                    weights[index] = {
                        leaf: numpyro.sample(f"{node.name}/{index}/{leaf}", prior.expand(shape).to_event(len(shape)))
                        for leaf, shape in shapes.items()
                    }
                values[node.name] = weights[""] if "" in weights else weights
        return values

    def values_from_numpyro(self, sites: dict[str, Any]) -> dict[str, Any]:
        """ppgraph's values of the random variables and layers (weight pytrees) from NumPyro sample sites."""
        out = {name: sites[name] for name in self.random_names() if name in sites}
        for node in self.nodes:
            if node.kind == "layer":
                weights = {index: {leaf: sites[f"{node.name}/{index}/{leaf}"] for leaf in shapes}
                           for index, shapes in self._weight_shapes(node).items()}
                out[node.name] = weights[""] if "" in weights else weights
        return out

    def source(self) -> str:
        """``@pg.model`` source of the same model (module text with its imports)."""
        graph = self.build().graph
        arguments = [name for name in graph.order() if isinstance(graph.obj(name), pg.ir.Argument)]
        lines = [f"def {self.name}({', '.join(arguments)}):"]
        for name in graph.order():
            node = graph.obj(name)
            if isinstance(node, pg.ir.RandomVariable):
                lines.append(f"    {name} <~ {node.dist}")
            elif isinstance(node, pg.ir.Layer):
                lines.append(f"    {name} <~ {node.spec}")
            elif isinstance(node, pg.ir.Factor):
                lines.append(f"    {name} <~ pg.factor({node.expr})")
            elif isinstance(node, pg.ir.Deterministic):
                lines.append(f"    {name} = {node.expr}")
        lines.append(f"    return {self.return_name()}")
        header = ("import jax\nimport jax.numpy as jnp\nimport ppgraph as pg\nfrom ppgraph import dist, nn\n\n\n"
                  "@pg.model\n")
        return header + "\n".join(lines) + "\n"

    def improper_values(self, rng: np.random.Generator) -> dict[str, Any]:
        """Arbitrary valid values for the improper priors (they cannot be sampled)."""
        shapes = self.shapes()
        out = {}
        for node in self.nodes:
            kind = FAMILIES[node.family].improper if node.is_random else None
            if kind is None:
                continue
            shape = () if shapes[node.name] == "s" else (node.size,)
            low, high = (-2.0, 2.0) if kind == "real" else (0.2, 3.0)
            out[node.name] = jnp.asarray(rng.uniform(low, high, size=shape), dtype=jnp.float32)
        return out

    def __repr__(self) -> str:  # readable hypothesis failure reports
        body = textwrap.indent(self.source().split("@pg.model\n", 1)[1], "  ")
        data = "".join(f"  # {n.name}: shape {n.data_shape}, seed {n.data_seed}\n"
                       for n in self.nodes if n.kind == "argument")
        observed = f"  # observed: {', '.join(self.observed_names())}\n" if self.observed_names() else ""
        return f"ModelSpec(\n{body}{data}{observed})"


def families(names: list[str] | None = None) -> st.SearchStrategy[str]:
    """A family name (of ``names``, default all)."""
    return st.sampled_from(sorted(names or FAMILIES))


@st.composite
def model_specs(
    draw: st.DrawFn,
    min_random: int = 1,
    max_random: int = 15,
    family_names: list[str] | None = None,
    deterministic_probability: float = 0.35,
    *,
    sizes: tuple[int, int] = SIZES,
    arguments: bool = True,
    observed: bool = True,
    factors: bool = True,
    layers: bool = True,
) -> ModelSpec:
    """A random :class:`ModelSpec` with ``min_random``..``max_random`` random variables.

    Vector lengths are drawn from ``sizes`` (inclusive).  The keyword flags allow
    arguments with data, observed random variables, ``pg.factor`` terms and layers
    (each with its data argument and the deterministic node that applies it).
    Deterministic nodes often take the node just before them as a parent, so chains
    of deterministic nodes are common.
    """
    num_random = draw(st.integers(min_random, max_random))
    nodes: list[NodeSpec] = []
    names: list[str] = []  # nodes with a value other nodes may use
    random_count = 0

    def parents_of() -> tuple[str, ...]:
        return tuple(draw(st.lists(st.sampled_from(names), max_size=2, unique=True))) if names else ()

    def vector_size(parents: tuple[str, ...]) -> int:
        shapes, size = ModelSpec(tuple(nodes)).shapes(), {n.name: n.size for n in nodes}
        return next((size[p] for p in parents if shapes[p] == "v"), SIZE)

    while random_count < num_random:
        offset = draw(st.sampled_from([0.0, 0.3, -0.5, 1.0]))
        # choice in [0, p): deterministic; then 0.07 argument, 0.06 factor, 0.07 layer; the rest random.
        # Flipped so that hypothesis' smallest draw (0.0) is a random variable: the minimal example stays small.
        choice = 1.0 - draw(st.floats(0, 1))
        index = len(nodes)
        if names and choice < deterministic_probability:
            parents = parents_of()
            if names[-1] not in parents and draw(st.booleans()):  # a chain: the previous node feeds this one
                parents = (names[-1], *parents[:1])
            parents = parents or (names[-1],)
            nodes.append(NodeSpec(f"d{index}", parents, offset, kind="deterministic", size=vector_size(parents),
                                  function=draw(st.integers(0, len(DETERMINISTIC_FUNCTIONS) - 1))))
            names.append(f"d{index}")
        elif arguments and choice - deterministic_probability < 0.07:
            length = draw(st.sampled_from([0, draw(st.integers(*sizes))]))
            shape = (length,) if length else ()
            nodes.append(NodeSpec(f"a{index}", (), offset, kind="argument", size=length or SIZE, data_shape=shape,
                                  data_seed=draw(st.integers(0, 2**16))))
            names.append(f"a{index}")
        elif factors and names and 0.07 <= choice - deterministic_probability < 0.13:
            parents = parents_of() or (names[-1],)
            nodes.append(NodeSpec(f"f{index}", parents, offset, kind="factor", size=vector_size(parents),
                                  function=draw(st.integers(0, len(FACTOR_FUNCTIONS) - 1))))
        elif layers and 0.13 <= choice - deterministic_probability < 0.2:
            rows, width = draw(st.integers(*sizes)), draw(st.integers(1, 4))
            units = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
            x, net, out = f"a{index}", f"net{index + 1}", f"d{index + 2}"
            nodes.append(NodeSpec(x, (), 0.0, kind="argument", size=rows, data_shape=(rows, width),
                                  data_seed=draw(st.integers(0, 2**16))))
            nodes.append(NodeSpec(net, parents_of(), offset, kind="layer", units=units, input=x))
            nodes.append(NodeSpec(out, (net, x), 0.0, kind="deterministic", size=rows, function=-1))
            names.append(out)
        else:
            family = draw(families(family_names))
            mode = draw(st.sampled_from(FAMILIES[family].modes))
            vector = FAMILIES[family].shape != "s" or mode != "scalar" or family.startswith("Categorical")
            size = draw(st.integers(max(sizes[0], FAMILIES[family].min_size), max(sizes[1], FAMILIES[family].min_size)))
            is_observed = observed and draw(st.floats(0, 1)) < 0.25
            nodes.append(NodeSpec(f"x{index}", parents_of(), offset, family=family, mode=mode,
                                  size=size if vector else SIZE, observed=is_observed))
            names.append(f"x{index}")
            random_count += 1
    return ModelSpec(tuple(nodes))
