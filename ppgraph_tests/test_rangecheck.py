"""Latent-fed parameters that can leave their constraint (ppgraph/rangecheck.py, via ppgraph.datachecks).

Oracles: the intervals are checked against the expression evaluated with NumPy
at many points of the latent's support (hypothesis builds the expressions: the
computed interval must contain every value); models NumPyro gives NaN log
densities for are refused with the node and the parameter named; models whose
parameters stay inside their constraint (transformed latents, positive
supports, data of the right sign) are accepted.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpyro.distributions import constraints

import ppgraph as pg
from ppgraph import dist
from ppgraph.errors import SupportError
import jax
from ppgraph.datachecks import _Data, check_parameter_ranges
from ppgraph.ir import Argument, Graph, RandomVariable
from ppgraph.rangecheck import _Ranges, support_interval

_ENV = {"dist": dist, "jnp": jnp, "jax": jax, "some_function": lambda v: jnp.abs(v) + 1.0}


def _graph(scale_expr: str, prior: str = "dist.Normal(0.0, 1.0)", arguments: tuple[str, ...] = ()) -> Graph:
    g = Graph(name="m", env=dict(_ENV))
    for name in arguments:
        g.add(Argument(name))
    g.add(RandomVariable("s", dist=prior))
    g.add(RandomVariable("y", dist=f"dist.Normal(0.0, {scale_expr})"))
    g.graph["returns"] = ("y",)
    return g


@pytest.mark.parametrize("expr, prior", [
    ("s", "dist.Normal(0.0, 1.0)"),
    ("s + 1.0", "dist.Normal(0.0, 1.0)"),
    ("-s", "dist.HalfNormal(1.0)"),
    ("s - 0.5", "dist.Beta(2.0, 2.0)"),
    ("1.0 - s", "dist.Exponential(1.0)"),
    ("jnp.log(s)", "dist.Gamma(2.0, 1.0)"),
])
def test_a_scale_that_can_be_negative_is_refused(expr, prior):
    with pytest.raises(SupportError) as err:
        check_parameter_ranges(_graph(expr, prior), {"y": 1.0})
    assert f"node 'y'" in str(err.value) and f"parameter 'scale' (`{expr}`) must be positive" in str(err.value)


@pytest.mark.parametrize("expr, prior", [
    ("s", "dist.HalfNormal(1.0)"),
    ("jnp.exp(s)", "dist.Normal(0.0, 1.0)"),
    ("jax.nn.softplus(s) + 0.1", "dist.Normal(0.0, 1.0)"),
    ("jnp.abs(s) + 1e-3", "dist.Normal(0.0, 1.0)"),
    ("jnp.square(s) + 1e-3", "dist.Normal(0.0, 1.0)"),
    ("s ** 2 + 1.0", "dist.Normal(0.0, 1.0)"),
    ("s * s + 1.0", "dist.Normal(0.0, 1.0)"),        # s twice: interval arithmetic is not exact, not judged
    ("2.0 * s + 0.1", "dist.Beta(2.0, 2.0)"),
    ("1.0 / s", "dist.Gamma(2.0, 1.0)"),
    ("s ** -1", "dist.Gamma(2.0, 1.0)"),
    ("s ** 0.5 + 0.1", "dist.Gamma(2.0, 1.0)"),
    ("s ** -0.5", "dist.Normal(0.0, 1.0)"),          # not worked out for negative bases: not judged
    ("jnp.maximum(s, 0.1)", "dist.Normal(0.0, 1.0)"),
    ("jnp.clip(s, 0.1, 10.0)", "dist.Normal(0.0, 1.0)"),
    ("some_function(s)", "dist.Normal(0.0, 1.0)"),   # unknown: not judged
])
def test_a_scale_that_stays_positive_is_accepted(expr, prior):
    check_parameter_ranges(_graph(expr, prior), {"y": 1.0})


def test_data_enter_with_their_range():
    graph = _graph("s * x", "dist.HalfNormal(1.0)", arguments=("x",))
    check_parameter_ranges(graph, {"x": np.array([0.5, 2.0]), "y": np.zeros(2)})
    with pytest.raises(SupportError, match="must be positive"):
        check_parameter_ranges(graph, {"x": np.array([-0.5, 2.0]), "y": np.zeros(2)})


def test_deterministics_and_indexing_are_followed():
    @pg.model
    def m(idx):
        s <~ dist.Normal(0.0, 1.0).expand([3])
        shifted = s + 0.5
        y <~ dist.Normal(0.0, shifted[idx])
        return y

    with pytest.raises(SupportError, match=r"'s' is a latent Normal variable"):
        pg.sample(m, 0, jnp.array([0, 1, 2]), y=jnp.zeros(3), num_warmup=5, num_samples=5, progress=False)


def test_probabilities_and_a_dependent_support():
    @pg.model
    def coin():
        p <~ dist.Normal(0.5, 0.1)
        k <~ dist.Bernoulli(probs=p)
        return k

    with pytest.raises(SupportError, match=r"parameter 'probs' \(`p`\) must be in \[0, 1\]"):
        pg.sample(coin, 0, k=1, num_warmup=5, num_samples=5, progress=False)

    @pg.model
    def nested():
        hi <~ dist.Exponential(1.0)
        u <~ dist.Uniform(0.0, hi)                       # support depends on hi: not judged
        y <~ dist.Normal(0.0, u)
        return y

    check_parameter_ranges(nested.graph, {"y": 1.0})


def test_the_error_names_the_source_line():
    @pg.model
    def m():
        s <~ dist.Normal(0.0, 1.0)
        y <~ dist.Normal(0.0, s + 1.0)
        return y

    with pytest.raises(SupportError) as err:
        pg.sample(m, 0, y=1.0, num_warmup=5, num_samples=5, progress=False)
    text = str(err.value)
    assert "test_rangecheck.py:" in text and "node 'y'" in text and "jax.nn.softplus" in text


def test_support_intervals():
    assert support_interval(constraints.real) == (-math.inf, math.inf)
    assert support_interval(constraints.positive) == (0.0, math.inf)
    assert support_interval(constraints.interval(-1.0, 2.0)) == (-1.0, 2.0)
    assert support_interval(constraints.greater_than(3.0)) == (3.0, math.inf)
    assert support_interval(constraints.nonnegative_integer) == (0.0, math.inf)
    assert support_interval(constraints.simplex) is None
    assert support_interval(constraints.interval(jnp.zeros(2), 1.0)) is None  # array bounds: unknown


# -- soundness: the interval contains every value of the expression ----------------------------------
_SUPPORTS = {
    "dist.Normal(0.0, 1.0)": np.concatenate([np.linspace(-30, 30, 601), [-300.0, 300.0]]),
    "dist.HalfNormal(1.0)": np.concatenate([np.geomspace(1e-6, 300, 600)]),
    "dist.Beta(2.0, 2.0)": np.linspace(1e-6, 1 - 1e-6, 601),
}
_NP = {"clip": np.clip, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "square": np.square,
       "softplus": lambda v: np.logaddexp(0.0, v), "sigmoid": lambda v: 1 / (1 + np.exp(-v))}


def _expressions():
    leaf = st.just("s")
    constant = st.sampled_from(["0.5", "2.0", "3.0", "-1.5"])

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), constant).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(constant, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(sorted(set(_NP) - {"clip"})), inner).map(lambda t: f"f_{t[0]}({t[1]})"),
            inner.map(lambda e: f"(-{e})"),
            st.tuples(inner, st.sampled_from(["2", "3", "0.5", "-1", "-2", "-0.5"])).map(
                lambda t: f"({t[0]} ** {t[1]})"),
            st.tuples(inner, constant, constant).map(lambda t: f"f_clip({t[0]}, {min(t[1], t[2], key=float)}, "
                                                               f"{max(t[1], t[2], key=float)})"),
        )

    return st.recursive(leaf, extend, max_leaves=4)


@settings(max_examples=60, deadline=None)
@given(expr=_expressions(), prior=st.sampled_from(sorted(_SUPPORTS)))
def test_intervals_contain_every_value(expr, prior):
    graph = Graph(name="m", env=dict(_ENV))
    graph.add(RandomVariable("s", dist=prior))
    ranges = _Ranges(graph, _Data(graph, {}))
    source = expr.replace("f_", "")
    found = ranges.of(source)
    if found is None:
        return
    (low, high), seen = found
    assert seen == {"s": 1}
    with np.errstate(all="ignore"):
        values = eval(expr, {f"f_{k}": v for k, v in _NP.items()}, {"s": _SUPPORTS[prior]})
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    tol = 1e-9 * (1 + np.abs(values))
    assert np.all(values >= low - tol) and np.all(values <= high + tol), (source, low, high,
                                                                          values.min(), values.max())
