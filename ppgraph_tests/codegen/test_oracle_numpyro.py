"""Oracle: ``pg.logpdf`` of random models equals NumPyro's log density of the same model.

The models are random DAGs of 1-15 random variables over the distributions of issue 2
(Normal ... LKJCholesky, Flat / HalfFlat, ``.expand``), with deterministic nodes between
them (``ppgraph_tests.strategies``).  Each is built with ``pg.GraphBuilder`` and, in
parallel, written as a NumPyro model with ``numpyro.sample`` sites.
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
    """One prior draw of every random variable, by NumPyro (improper priors: arbitrary valid values)."""
    improper = spec.improper_values(np.random.default_rng(seed))
    model = handlers.seed(handlers.substitute(spec.numpyro_model, data=improper), seed)
    trace = handlers.trace(model).get_trace()
    return {name: site["value"] for name, site in trace.items() if site["type"] == "sample"}


def numpyro_logp(spec, values: dict) -> float:
    logp, _ = log_density(spec.numpyro_model, (), {}, values)
    return float(logp)


@settings(max_examples=20, **SETTINGS)
@given(model_specs(min_random=1, max_random=15))
def test_logpdf_equals_numpyro_log_density(spec):
    model = spec.build()
    values = numpyro_point(spec, seed=len(spec.nodes))
    assert set(values) == set(spec.random_names())
    expected = numpyro_logp(spec, values)
    got = float(pg.logpdf(model)(**values))
    assert np.isfinite(expected), spec
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
@settings(max_examples=8, **SETTINGS)
@given(model_specs(min_random=2, max_random=8, family_names=CHEAP_TO_SAMPLE))
def test_logpdf_equals_numpyro_at_ppgraph_draws(spec):
    """Points drawn by pg.sample_forward (improper priors fixed by keyword) agree as well."""
    model = spec.build()
    improper = spec.improper_values(np.random.default_rng(1))
    draws = pg.sample_forward(model, jax.random.key(3), **improper)
    values = {name: improper.get(name, draws.get(name)) for name in spec.random_names()}
    # the deterministic nodes sample_forward returns are those of the NumPyro model at the same values
    with handlers.trace() as trace, handlers.substitute(data=values):
        numpyro_values = spec.numpyro_model()
    for name, value in numpyro_values.items():
        if name in draws:
            np.testing.assert_allclose(draws[name], value, rtol=1e-5, atol=1e-5)
    assert set(trace) == set(spec.random_names())
    np.testing.assert_allclose(float(pg.logpdf(model)(**values)), numpyro_logp(spec, values), rtol=1e-4, atol=1e-3)


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
