"""Oracle: ``pg.logpdf`` of random models equals NumPyro's log density of the same model.

The models are random DAGs of 1-15 random variables over the distributions of issue 2
(Normal ... LKJCholesky, Flat / HalfFlat, ``.expand``, vectors of lengths 1-6), with
deterministic chains, arguments carrying data, ``pg.factor`` terms, Bayesian layers and
observed random variables between them (``ppgraph_tests.strategies``).  Each is built with
``pg.GraphBuilder`` and, in parallel, written as a NumPyro model (``numpyro.sample`` sites,
``obs=``, ``numpyro.factor``, layer weights as sites applied by hand) from the same spec,
never from ppgraph's generated code.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from numpyro import handlers
from numpyro.infer.util import log_density

import ppgraph as pg
from ppgraph_tests.strategies import FAMILIES, model_specs

SETTINGS = dict(derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)

# Samplers with rejection loops (gamma family, Poisson, Binomial, LKJ) take seconds to
# compile; the oracle at points drawn by ppgraph's own sampler uses the others.
CHEAP_TO_SAMPLE = sorted(
    n for n in FAMILIES
    if n not in ("Gamma", "InverseGamma", "Beta", "Dirichlet", "Poisson", "Binomial", "LKJCholesky", "StudentT")
)


def numpyro_point(spec, seed: int) -> dict:
    """One prior draw of every NumPyro sample site (improper priors: arbitrary valid values)."""
    improper = spec.improper_values(np.random.default_rng(seed))
    model = handlers.seed(handlers.substitute(spec.numpyro_model, data=improper), seed)

    def draw():
        trace = handlers.trace(model).get_trace()
        return {name: site["value"] for name, site in trace.items()
                if site["type"] == "sample" and not site["is_observed"]}

    # one compiled program: op by op, NumPyro's samplers compile dozens of small kernels each
    return jax.jit(draw)()


def numpyro_logp(spec, sites: dict, observed: dict | None = None) -> float:
    """NumPyro's joint log density: ``observed`` values as ``obs=`` data, the other ``sites`` as latent values."""
    observed = observed or {}
    latent = {k: v for k, v in sites.items() if k not in observed}
    logp = jax.jit(lambda latent, observed: log_density(spec.numpyro_model, (), observed, latent)[0])(latent, observed)
    return float(logp)


@settings(max_examples=10, **SETTINGS)
@given(model_specs(min_random=1, max_random=10))
def test_logpdf_equals_numpyro_log_density(spec):
    """Observed nodes observed with ``pg.passes.observe`` on ppgraph's side, given as ``obs=`` on NumPyro's."""
    model = spec.build()
    sites = numpyro_point(spec, seed=len(spec.nodes))
    values = spec.values_from_numpyro(sites)
    assert set(values) == set(spec.random_names()) | set(spec.layer_names())
    observed = {name: values.pop(name) for name in spec.observed_names()}
    expected = numpyro_logp(spec, sites, observed)
    got = float(pg.logpdf(spec.observe(model, observed))(**spec.argument_values(), **values))
    assert np.isfinite(expected), spec
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
@settings(max_examples=5, **SETTINGS)
@given(model_specs(min_random=2, max_random=8, family_names=CHEAP_TO_SAMPLE, observed=False))
def test_logpdf_equals_numpyro_at_ppgraph_draws(spec):
    """Points drawn by pg.sample_forward (improper priors fixed by keyword) agree as well."""
    model = spec.build()
    arguments = spec.argument_values()
    improper = spec.improper_values(np.random.default_rng(1))
    draws = pg.sample_forward(model, jax.random.key(3), **arguments, **improper)
    values = {name: improper.get(name, draws.get(name)) for name in spec.random_names()}
    sites = dict(values)
    for name in spec.layer_names():  # a sampled network's weights, as NumPyro's per-weight sites
        weights = draws[name].weights
        for index, leaves in (weights.items() if "kernel" not in weights else [("", weights)]):
            sites.update({f"{name}/{index}/{leaf}": leaf_value for leaf, leaf_value in leaves.items()})
        values[name] = weights
    # the deterministic nodes sample_forward returns are those of the NumPyro model at the same values
    with handlers.trace() as trace, handlers.substitute(data=sites):
        numpyro_values = spec.numpyro_model()
    for name in spec.random_names():
        assert name in draws or name in improper, name
    for name, value in numpyro_values.items():
        if name in draws and name not in spec.layer_names():
            np.testing.assert_allclose(draws[name], value, rtol=1e-5, atol=1e-5)
    assert {k for k, site in trace.items() if site["type"] == "sample" and not site["is_observed"]} == set(sites)
    np.testing.assert_allclose(float(pg.logpdf(model)(**arguments, **values)), numpyro_logp(spec, sites),
                               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_alone_and_as_a_child(family):
    """Each distribution as the child of a scalar and a vector parent, in each of its modes."""
    from ppgraph_tests.strategies import ModelSpec, NodeSpec

    for mode in FAMILIES[family].modes:
        spec = ModelSpec((
            NodeSpec("a", (), 0.3, family="Normal"),
            NodeSpec("b", (), -0.5, family="Normal", mode="expand"),
            NodeSpec("d", ("a", "b"), 0.0, function=3),
            NodeSpec("x", ("a", "d"), 1.0, family=family, mode=mode),
        ))
        values = numpyro_point(spec, seed=7)
        np.testing.assert_allclose(
            float(pg.logpdf(spec.build())(**values)), numpyro_logp(spec, values), rtol=1e-4, atol=1e-3
        )


def test_arguments_factor_layer_and_observed_node():
    """One model with every node kind, by hand: x -> Serial layer with a latent prior scale -> observed y."""
    from ppgraph_tests.strategies import ModelSpec, NodeSpec

    spec = ModelSpec((
        NodeSpec("s", (), 0.3, family="HalfNormal"),
        NodeSpec("c", (), 0.5, kind="argument", size=4, data_shape=(4,), data_seed=1),
        NodeSpec("x", (), 0.0, kind="argument", size=5, data_shape=(5, 3), data_seed=2),
        NodeSpec("net", ("s",), 0.0, kind="layer", units=(2, 3), input="x"),
        NodeSpec("h", ("net", "x"), 0.0, kind="deterministic", size=5, function=-1),
        NodeSpec("f", ("h", "s"), 0.2, kind="factor", size=5, function=0),
        NodeSpec("y", ("h", "c"), 0.0, family="Normal", mode="batch", size=5, observed=True),
        NodeSpec("z", ("c",), 0.0, family="Normal", mode="expand", size=4),
    ))
    sites = numpyro_point(spec, seed=3)
    assert set(sites) == {"s", "y", "z", "net/0/kernel", "net/0/bias", "net/2/kernel", "net/2/bias"}
    values = spec.values_from_numpyro(sites)
    assert values["net"]["0"]["kernel"].shape == (3, 2) and values["net"]["2"]["bias"].shape == (3,)
    y = values.pop("y")
    got = pg.logpdf(spec.observe(spec.build(), {"y": y}))(**spec.argument_values(), **values)
    np.testing.assert_allclose(float(got), numpyro_logp(spec, sites, {"y": y}), rtol=1e-4, atol=1e-3)
