"""Posterior: summary, ArviZ conversion, diagnostics (on draws built by hand, no sampler)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from ppgraph.inference import Posterior

from . import inference_models as M

RNG = np.random.default_rng(11)


@pytest.fixture
def post():
    return Posterior(
        {"mu": RNG.normal(1.0, 2.0, (2, 400)), "theta": RNG.normal(0.0, 1.0, (2, 400, 3)),
         "mean": RNG.normal(0.0, 1.0, (2, 400))},
        {"diverging": np.zeros((2, 400), bool), "num_steps": np.full((2, 400), 7),
         "acceptance_rate": np.full((2, 400), 0.8)},
        model=M.regression, observed={"y": np.arange(3.0)}, args={"x": np.ones(3)}, kernel="nuts",
    )


def test_summary_columns_and_values(post):
    table = post.summary()
    assert list(table.columns) == ["mean", "sd", "5%", "50%", "95%", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]
    assert list(table.index) == ["mu", "theta[0]", "theta[1]", "theta[2]", "mean"]
    mu = post.samples["mu"]
    np.testing.assert_allclose(table.loc["mu", "mean"], mu.mean(), atol=1e-3)
    np.testing.assert_allclose(table.loc["mu", "sd"], mu.std(ddof=1), atol=1e-3)
    np.testing.assert_allclose(table.loc["theta[2]", "95%"], np.quantile(post.samples["theta"][..., 2], 0.95),
                               atol=1e-3)
    np.testing.assert_allclose(table.loc["mu", "r_hat"], float(az.rhat(mu)), atol=1e-3)
    np.testing.assert_allclose(table.loc["mu", "ess_bulk"], float(az.ess(mu)), atol=1)
    text = str(table)
    assert "..." not in text and "ess_tail" in text and "theta[1]" in text
    assert post.summary(var_names=["mu"]).index.tolist() == ["mu"]


def test_to_arviz_groups(post):
    idata = post.to_arviz()
    assert set(idata.groups()) >= {"posterior", "sample_stats", "observed_data"}
    assert idata.posterior["theta"].shape == (2, 400, 3)
    assert set(idata.sample_stats.data_vars) == {"diverging", "n_steps", "acceptance_rate"}
    np.testing.assert_array_equal(idata.observed_data["y"], np.arange(3.0))


def test_no_warnings_for_good_chains(post):
    assert post.warnings() == []


def test_divergence_and_r_hat_warnings(post):
    post.stats["diverging"][0, :3] = True
    post.samples["mu"][1] += 5.0  # the second chain sits elsewhere
    post.samples["mean"][1] += 5.0  # a deterministic: not reported
    messages = post.warnings()
    assert len(messages) == 2
    assert messages[0].startswith("3 of 800 transitions after warmup were divergent")
    assert "r_hat above 1.01 for mu (" in messages[1] and "mean" not in messages[1]


def test_repr(post):
    assert repr(post) == ("<Posterior of 'regression': 2 chains x 400 draws (nuts); "
                          "variables: mu, theta, mean>")
