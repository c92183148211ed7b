"""Hypothesis strategies for random models, built three ways from one description.

A :class:`ModelSpec` is a random DAG of 1-15 random variables over the distributions
of issue 2 with deterministic nodes between them.  From one spec you get

* ``spec.build()``: a :class:`ppgraph.Model` built with :class:`ppgraph.GraphBuilder`;
* ``spec.numpyro_model``: the same model as a NumPyro model (``numpyro.sample`` sites);
* ``spec.source()``: the same model as ``@pg.model`` source text (for the parser);
* ``spec.improper_values(rng)``: arbitrary valid values for the improper (flat) priors.

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
from hypothesis import strategies as st

import ppgraph as pg
from ppgraph import dist

__all__ = [
    "FAMILIES",
    "SIZE",
    "NodeSpec",
    "ModelSpec",
    "model_specs",
    "families",
    "JNP_FUNCTIONS",
]

SIZE = 3
"""Length of every vector-valued node (expand size, simplex size, MVN / LKJ dimension)."""

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


class _Direct:
    """Function namespace for the NumPyro side: calls the function."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return JNP_FUNCTIONS[name]


class _Symbolic:
    """Function namespace for the GraphBuilder side: builds ``g.call(fn, ...)`` symbols."""

    def __init__(self, builder: pg.GraphBuilder) -> None:
        self._builder = builder

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = JNP_FUNCTIONS[name]
        return lambda *args, **kwargs: self._builder.call(fn, *args, **kwargs)


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

    ``make(D, F, u, uv, L)`` returns the distribution; ``u`` is a scalar (or, in
    ``batch`` mode, a vector) signal in (-1, 1), ``uv`` a vector signal, ``L`` a
    Cholesky factor among the parents (or ``None``).
    """

    name: str
    make: Callable[..., Any]
    shape: str = "s"  # value shape: "s" scalar, "v" vector (SIZE,), "m" matrix (SIZE, SIZE)
    modes: tuple[str, ...] = ("scalar", "expand", "batch")
    improper: str | None = None  # "real" / "positive": an improper prior


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("Normal", lambda D, F, u, uv, L: D.Normal(2.0 * u, _pos(F, -u))),
        Family("HalfNormal", lambda D, F, u, uv, L: D.HalfNormal(_pos(F, u))),
        Family("HalfCauchy", lambda D, F, u, uv, L: D.HalfCauchy(_pos(F, u))),
        Family("Cauchy", lambda D, F, u, uv, L: D.Cauchy(u, _pos(F, u))),
        Family("StudentT", lambda D, F, u, uv, L: D.StudentT(_pos(F, u) + 1.0, 2.0 * u, _pos(F, -u))),
        Family("Laplace", lambda D, F, u, uv, L: D.Laplace(u, scale=_pos(F, u))),
        Family("LogNormal", lambda D, F, u, uv, L: D.LogNormal(u, 0.5 * _pos(F, u))),
        Family("Exponential", lambda D, F, u, uv, L: D.Exponential(rate=_pos(F, u))),
        Family("Gamma", lambda D, F, u, uv, L: D.Gamma(_pos(F, u), _pos(F, -u))),
        Family("InverseGamma", lambda D, F, u, uv, L: D.InverseGamma(_pos(F, u) + 1.0, _pos(F, -u))),
        Family("Beta", lambda D, F, u, uv, L: D.Beta(_pos(F, u), _pos(F, -u))),
        Family("Uniform", lambda D, F, u, uv, L: D.Uniform(u - 1.0, u + _pos(F, u))),
        Family("BernoulliProbs", lambda D, F, u, uv, L: D.Bernoulli(probs=_unit(F, u))),
        Family("BernoulliLogits", lambda D, F, u, uv, L: D.Bernoulli(logits=2.0 * u)),
        Family("Binomial", lambda D, F, u, uv, L: D.Binomial(5, probs=_unit(F, u))),
        Family("Poisson", lambda D, F, u, uv, L: D.Poisson(2.0 * _pos(F, u))),
        Family("CategoricalProbs", lambda D, F, u, uv, L: D.Categorical(probs=F.softmax(2.0 * uv)),
               modes=("scalar", "expand")),
        Family("CategoricalLogits", lambda D, F, u, uv, L: D.Categorical(logits=2.0 * uv),
               modes=("scalar", "expand")),
        Family("Dirichlet", lambda D, F, u, uv, L: D.Dirichlet(_pos(F, uv)), shape="v", modes=("scalar",)),
        Family(
            "MultivariateNormal",
            lambda D, F, u, uv, L: D.MultivariateNormal(
                2.0 * uv, scale_tril=_pos(F, u) * (F.eye(SIZE) if L is None else L)
            ),
            shape="v",
            modes=("scalar",),
        ),
        Family("LKJCholesky", lambda D, F, u, uv, L: D.LKJCholesky(SIZE, _pos(F, u)), shape="m", modes=("scalar",)),
        Family("Flat", lambda D, F, u, uv, L: D.Flat(), modes=("scalar",), improper="real"),
        Family("FlatVector", lambda D, F, u, uv, L: D.Flat([SIZE]), shape="v", modes=("scalar",), improper="real"),
        Family("HalfFlat", lambda D, F, u, uv, L: D.HalfFlat(), modes=("scalar",), improper="positive"),
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


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node: a random variable (``family``) or a deterministic node (``function``)."""

    name: str
    parents: tuple[str, ...]
    offset: float
    family: str | None = None
    mode: str = "scalar"
    function: int = 0

    @property
    def is_random(self) -> bool:
        return self.family is not None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A random model; see the module docstring."""

    nodes: tuple[NodeSpec, ...]
    name: str = "random_model"

    # -- shapes -----------------------------------------------------------------------------
    def shapes(self) -> dict[str, str]:
        """Node name -> "s" / "v" / "m" (scalar, (SIZE,), (SIZE, SIZE))."""
        out: dict[str, str] = {}
        for node in self.nodes:
            if node.is_random:
                family = FAMILIES[node.family]
                out[node.name] = family.shape if family.shape != "s" or node.mode == "scalar" else "v"
            else:
                out[node.name] = "v" if any(out[p] == "v" for p in node.parents) else "s"
        return out

    def random_names(self) -> list[str]:
        return [n.name for n in self.nodes if n.is_random]

    # -- evaluation, shared by both sides -----------------------------------------------------
    def _signal(self, node: NodeSpec, values: dict[str, Any], F: Any, vector: bool) -> Any:
        shapes = self.shapes()
        signal: Any = F.array([node.offset, -0.2, 0.1]) if vector else node.offset
        for parent in node.parents:
            value = values[parent]
            if shapes[parent] == "m" or (shapes[parent] == "v" and not vector):
                value = F.mean(value)
            signal = signal + value
        return signal

    def _dist(self, node: NodeSpec, values: dict[str, Any], D: Any, F: Any) -> Any:
        family = FAMILIES[node.family]
        shapes = self.shapes()
        u = F.tanh(self._signal(node, values, F, vector=node.mode == "batch"))
        uv = F.tanh(self._signal(node, values, F, vector=True))
        L = next((values[p] for p in node.parents if shapes[p] == "m"), None)
        d = family.make(D, F, u, uv, L)
        if node.mode == "expand":
            d = d.expand([SIZE])
        return d

    def _det(self, node: NodeSpec, values: dict[str, Any], F: Any) -> Any:
        vector = self.shapes()[node.name] == "v"
        return DETERMINISTIC_FUNCTIONS[node.function](F, self._signal(node, values, F, vector))

    # -- the three renderings ------------------------------------------------------------------
    def build(self) -> pg.Model:
        """The model built with :class:`ppgraph.GraphBuilder`."""
        g = pg.GraphBuilder(self.name)
        D, F = _SymbolicDist(g), _Symbolic(g)
        values: dict[str, Any] = {}
        for node in self.nodes:
            if node.is_random:
                values[node.name] = g.random(node.name, self._dist(node, values, D, F))
            else:
                values[node.name] = g.deterministic(node.name, self._det(node, values, F))
        g.returns(values[self.nodes[-1].name])
        return g.build()

    def numpyro_model(self) -> dict[str, Any]:
        """The NumPyro model (returns every node's value)."""
        F = _Direct()
        values: dict[str, Any] = {}
        for node in self.nodes:
            if node.is_random:
                values[node.name] = numpyro.sample(node.name, self._dist(node, values, dist, F))
            else:
                values[node.name] = self._det(node, values, F)
        return values

    def source(self) -> str:
        """``@pg.model`` source of the same model (module text with its imports)."""
        graph = self.build().graph
        lines = [f"def {self.name}():"]
        for name in graph.order():
            node = graph.obj(name)
            if isinstance(node, pg.ir.RandomVariable):
                lines.append(f"    {name} <~ {node.dist}")
            else:
                lines.append(f"    {name} = {node.expr}")
        lines.append(f"    return {self.nodes[-1].name}")
        header = "import jax\nimport jax.numpy as jnp\nimport ppgraph as pg\nfrom ppgraph import dist\n\n\n@pg.model\n"
        return header + "\n".join(lines) + "\n"

    def improper_values(self, rng: np.random.Generator) -> dict[str, Any]:
        """Arbitrary valid values for the improper priors (they cannot be sampled)."""
        shapes = self.shapes()
        out = {}
        for node in self.nodes:
            kind = FAMILIES[node.family].improper if node.is_random else None
            if kind is None:
                continue
            shape = () if shapes[node.name] == "s" else (SIZE,)
            low, high = (-2.0, 2.0) if kind == "real" else (0.2, 3.0)
            out[node.name] = jnp.asarray(rng.uniform(low, high, size=shape), dtype=jnp.float32)
        return out

    def __repr__(self) -> str:  # readable hypothesis failure reports
        body = textwrap.indent(self.source().split("@pg.model\n", 1)[1], "  ")
        return f"ModelSpec(\n{body})"


def families(names: list[str] | None = None) -> st.SearchStrategy[str]:
    """A family name (of ``names``, default all)."""
    return st.sampled_from(sorted(names or FAMILIES))


@st.composite
def model_specs(
    draw: st.DrawFn,
    min_random: int = 1,
    max_random: int = 15,
    family_names: list[str] | None = None,
    deterministic_probability: float = 0.4,
) -> ModelSpec:
    """A random :class:`ModelSpec` with ``min_random``..``max_random`` random variables."""
    num_random = draw(st.integers(min_random, max_random))
    nodes: list[NodeSpec] = []
    names: list[str] = []
    random_count = 0
    while random_count < num_random:
        parents = tuple(draw(st.lists(st.sampled_from(names), max_size=2, unique=True))) if names else ()
        offset = draw(st.sampled_from([0.0, 0.3, -0.5, 1.0]))
        deterministic = names and draw(st.floats(0, 1)) < deterministic_probability
        if deterministic:
            name = f"d{len(nodes)}"
            nodes.append(NodeSpec(name, parents or (names[-1],), offset,
                                  function=draw(st.integers(0, len(DETERMINISTIC_FUNCTIONS) - 1))))
        else:
            family = draw(families(family_names))
            mode = draw(st.sampled_from(FAMILIES[family].modes))
            name = f"x{len(nodes)}"
            nodes.append(NodeSpec(name, parents, offset, family=family, mode=mode))
            random_count += 1
        names.append(name)
    return ModelSpec(tuple(nodes))
