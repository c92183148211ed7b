"""``to_unconstrained``: the unconstrained log density against independent oracles.

* ``logpdf_unconstrained(u) == logpdf(T(u)) + log|J(u)|`` with ``T`` from NumPyro's
  ``biject_to`` applied by the test, on random models;
* ``logpdf_unconstrained == -numpyro.infer.util.potential_energy`` (random models and
  one small model per support);
* 1-D densities integrate to 1 over R after the transform (``scipy.integrate.quad``).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from hypothesis import given, settings
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import potential_energy
from scipy import integrate

import ppgraph as pg
from ppgraph import dist
from ppgraph.compile import compiled
from ppgraph.passes import to_unconstrained
from ppgraph_tests.passes.spec_tools import CONTINUOUS, node_dist
from ppgraph_tests.strategies import model_specs

jax.config.update("jax_enable_x64", False)


def _close(a, b, tol=2e-4):
    a, b = float(a), float(b)
    assert np.isfinite(a) and np.isfinite(b), (a, b)
    assert abs(a - b) <= tol * (1.0 + abs(b)), (a, b)


# -- random models -------------------------------------------------------------------------------------
@settings(derandomize=True, max_examples=10, deadline=None, database=None)
@given(model_specs(max_random=6, family_names=CONTINUOUS, layers=False))
def test_random_models_match_biject_to_and_potential_energy(spec):
    """Test points: u ~ N(0, 1) in unconstrained space, x = T(u) node by node (T from biject_to).

    The models have arguments (NumPyro's model takes the same data by default) and factors.
    """
    model = spec.build()
    data = spec.argument_values()
    ugraph = to_unconstrained(model)
    rng = np.random.default_rng(0)
    values, inputs, params, log_jac = {}, {}, {}, 0.0
    for name in spec.random_names():
        d = node_dist(spec, name, values)
        transform = biject_to(d.support)
        shape = transform.inverse_shape(d.batch_shape + d.event_shape)
        u = jnp.asarray(rng.normal(size=shape), dtype=jnp.float32)
        params[name] = u
        values[name] = transform(u)
        if name + "_unconstrained" in ugraph.nodes:
            inputs[name + "_unconstrained"] = u
            log_jac += jnp.sum(transform.log_abs_det_jacobian(u, values[name]))
        else:
            assert d.support in (constraints.real, constraints.real_vector) or isinstance(d.support, constraints.independent)
            inputs[name] = u
    lp_u = pg.logpdf(ugraph)(**data, **inputs)
    reference = pg.logpdf(model)(**data, **{n: values[n] for n in spec.random_names()}) + log_jac
    _close(lp_u, reference)
    _close(lp_u, -jax.jit(lambda p: potential_energy(spec.numpyro_model, (), {}, p))(params))


# -- one model per support ------------------------------------------------------------------------------
@pg.model
def positive():
    x <~ dist.HalfNormal(2.0).expand([2])
    return x


@pg.model
def unit_interval():
    x <~ dist.Beta(2.0, 3.0)
    return x


@pg.model
def interval():
    x <~ dist.Uniform(-1.0, 2.0)
    return x


@pg.model
def dependent_interval():
    a <~ dist.Beta(2.0, 2.0)
    b <~ dist.Uniform(0.0, 1.0 - a)
    return b


@pg.model
def simplex():
    x <~ dist.Dirichlet(jnp.array([1.0, 2.0, 3.0]))
    return x


@pg.model
def ordered_improper():
    x <~ dist.ImproperUniform(dist.constraints.ordered_vector, (), (3,))
    return x


@pg.model
def ordered_transformed():
    x <~ dist.TransformedDistribution(dist.Normal(0.0, 1.0).expand([3]).to_event(1), dist.transforms.OrderedTransform())
    return x


@pg.model
def positive_ordered():
    x <~ dist.ImproperUniform(dist.constraints.positive_ordered_vector, (), (3,))
    return x


@pg.model
def lkj_cholesky():
    L <~ dist.LKJCholesky(3, 2.0)
    z <~ dist.MultivariateNormal(jnp.zeros(3), scale_tril=L)
    return z


def _np_dependent_interval():
    a = numpyro.sample("a", dist.Beta(2.0, 2.0))
    numpyro.sample("b", dist.Uniform(0.0, 1.0 - a))


def _single(name, d):
    return lambda: numpyro.sample(name, d)


def _np_lkj():
    L = numpyro.sample("L", dist.LKJCholesky(3, 2.0))
    numpyro.sample("z", dist.MultivariateNormal(jnp.zeros(3), scale_tril=L))


SUPPORTS = {
    "positive": (positive, _single("x", dist.HalfNormal(2.0).expand([2])), {"x": constraints.positive}),
    "unit_interval": (unit_interval, _single("x", dist.Beta(2.0, 3.0)), {"x": constraints.unit_interval}),
    "interval": (interval, _single("x", dist.Uniform(-1.0, 2.0)), {"x": constraints.interval(-1.0, 2.0)}),
    "dependent_interval": (dependent_interval, _np_dependent_interval, {"a": constraints.unit_interval, "b": None}),
    "simplex": (simplex, _single("x", dist.Dirichlet(jnp.array([1.0, 2.0, 3.0]))), {"x": constraints.simplex}),
    "ordered": (ordered_improper, _single("x", dist.ImproperUniform(constraints.ordered_vector, (), (3,))),
                {"x": constraints.ordered_vector}),
    "ordered_transformed": (
        ordered_transformed,
        _single("x", dist.TransformedDistribution(dist.Normal(0.0, 1.0).expand([3]).to_event(1),
                                                  dist.transforms.OrderedTransform())),
        {"x": constraints.ordered_vector},
    ),
    "positive_ordered": (positive_ordered,
                         _single("x", dist.ImproperUniform(constraints.positive_ordered_vector, (), (3,))),
                         {"x": constraints.positive_ordered_vector}),
    "lkj_cholesky": (lkj_cholesky, _np_lkj, {"L": constraints.corr_cholesky, "z": constraints.real_vector}),
}
SHAPES = {"positive": (2,), "simplex": (2,), "ordered": (3,), "ordered_transformed": (3,),
          "positive_ordered": (3,), "lkj_cholesky": (3,)}


@pytest.mark.parametrize("case", sorted(SUPPORTS))
def test_support_matches_potential_energy(case):
    model, np_model, supports = SUPPORTS[case]
    ugraph = to_unconstrained(model)
    rng = np.random.default_rng(sorted(SUPPORTS).index(case))
    inputs, params, constrained, log_jac = {}, {}, {}, 0.0
    for name, support in supports.items():
        if support is None:  # b ~ Uniform(0, 1 - a): the bound depends on a's value
            support = constraints.interval(0.0, 1.0 - constrained["a"])
        shape = (3,) if name == "z" else SHAPES.get(case, ())
        u = jnp.asarray(rng.normal(size=shape), dtype=jnp.float32)
        params[name] = u
        if support is constraints.real_vector:
            inputs[name] = u
            constrained[name] = u
            continue
        assert name + "_unconstrained" in ugraph.nodes, f"{case}: {name} was not transformed"
        transform = biject_to(support)
        inputs[name + "_unconstrained"] = u
        constrained[name] = transform(u)
        log_jac += jnp.sum(transform.log_abs_det_jacobian(u, constrained[name]))
    lp_u = pg.logpdf(ugraph)(**inputs)
    _close(lp_u, -potential_energy(np_model, (), {}, params))
    _close(lp_u, pg.logpdf(model)(**constrained) + log_jac)
    # the map back: the deterministic x of the transformed graph is T(u)
    back = compiled(ugraph, "deterministics").fn(**inputs)
    for name in supports:
        if name + "_unconstrained" in ugraph.nodes:
            np.testing.assert_allclose(back[name], constrained[name], rtol=1e-5, atol=1e-6)


# -- normalisation after the transform ---------------------------------------------------------------------
@pg.model
def gamma():
    x <~ dist.Gamma(2.0, 1.5)
    return x


@pg.model
def dirichlet2():
    x <~ dist.Dirichlet(jnp.array([2.0, 3.0]))
    return x


def _integral(log_density) -> float:
    """Integral over R; every density here has exponential tails, so (-40, 40) holds all but ~1e-17 of it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", integrate.IntegrationWarning)
        value, err = integrate.quad(lambda u: float(np.exp(log_density(u))), -40.0, 40.0, limit=200, points=[0.0])
    assert err < 1e-5
    return value


@pytest.mark.parametrize("model", [gamma, unit_interval, dirichlet2], ids=["positive", "unit", "simplex"])
def test_unconstrained_density_integrates_to_one(model):
    lp = jax.jit(compiled(model, "logpdf_unconstrained").fn)
    shape = (1,) if model is dirichlet2 else ()
    assert _integral(lambda u: lp(x_unconstrained=jnp.full(shape, u, dtype=jnp.float32))) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("a", [0.1, 0.5, 0.9])
def test_dependent_interval_integrates_to_one(a):
    """b ~ Uniform(0, 1 - a): for each a, the unconstrained conditional density of b integrates to 1."""
    terms = jax.jit(compiled(to_unconstrained(dependent_interval), "logpdf_terms").fn)
    a_u = float(biject_to(constraints.unit_interval).inv(a))
    value = _integral(lambda u: terms(a_unconstrained=jnp.float32(a_u), b_unconstrained=jnp.float32(u))["b_unconstrained"])
    assert value == pytest.approx(1.0, abs=1e-4)


def test_leaves_real_discrete_and_observed_alone():
    g = to_unconstrained(lkj_cholesky)
    assert g.obj("z").kind == "random"  # real vector
    from ppgraph.passes import observe

    obs = to_unconstrained(observe(dependent_interval, b=0.2))
    assert obs.obj("b").kind == "random" and obs.obj("b").observed is not None
    assert "b_unconstrained" not in obs.nodes
