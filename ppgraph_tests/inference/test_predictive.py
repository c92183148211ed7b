"""pg.sample_predictive: shapes, which nodes, and the predictive distribution of y."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph.inference import Posterior

from . import inference_models as M

KEY = jax.random.key(7)


@pytest.fixture(scope="module")
def fake_posterior():
    """A Posterior with known draws of mu (no sampler needed): mu = chain * 10 + draw / 100."""
    mu = (jnp.arange(2)[:, None] * 10.0 + jnp.arange(500)[None, :] / 100.0).astype(jnp.float32)
    return Posterior({"mu": mu}, model=M.normal_normal,
                     args={"m0": 0.0, "s0": 1.0, "sigma": 0.5, "n": 3}, observed={"y": jnp.zeros(3)})


def test_shapes_and_nodes(fake_posterior):
    pred = pg.sample_predictive(M.normal_normal, KEY, fake_posterior)
    assert set(pred) == {"y"}  # downstream of mu only; mu itself is given
    assert pred["y"].shape == (2, 500, 3)


def test_predictive_y_has_the_right_mean_and_spread(fake_posterior):
    pred = np.asarray(pg.sample_predictive(M.normal_normal, KEY, fake_posterior)["y"])
    mu = np.asarray(fake_posterior.samples["mu"])
    resid = pred - mu[..., None]  # y | mu ~ Normal(mu, sigma=0.5), one draw per posterior draw
    assert abs(resid.mean()) < 4 * 0.5 / np.sqrt(resid.size)
    assert abs(resid.std() - 0.5) < 0.03
    # draws differ across posterior draws and across the vector (independent keys)
    assert len(np.unique(pred)) > 0.99 * pred.size


def test_new_arguments_replace_the_recorded_ones(fake_posterior):
    pred = pg.sample_predictive(M.normal_normal, KEY, fake_posterior, sigma=0.01, n=5)
    assert pred["y"].shape == (2, 500, 5)
    np.testing.assert_allclose(pred["y"], np.broadcast_to(fake_posterior.samples["mu"][..., None], (2, 500, 5)),
                               atol=0.06)


@pytest.mark.filterwarnings("ignore::ppgraph.inference.SamplingWarning")
def test_after_sampling_deterministics_and_observed_are_redrawn():
    x = jnp.linspace(0.0, 1.0, 6)
    y = 2.0 * x + 1.0
    post = pg.sample(M.regression, jax.random.key(1), x, y=y, num_warmup=100, num_samples=40, num_chains=2,
                     progress=False)
    pred = pg.sample_predictive(M.regression, KEY, post)
    assert set(pred) == {"mean", "y"}
    assert pred["y"].shape == (2, 40, 6)
    np.testing.assert_allclose(pred["mean"], post.samples["mean"], rtol=1e-5, atol=1e-5)
    assert not np.allclose(pred["y"], y)  # observed y is drawn afresh
    x_new = jnp.array([10.0, 20.0])
    pred_new = pg.sample_predictive(M.regression, KEY, post, x_new)
    assert pred_new["mean"].shape == (2, 40, 2)


def test_errors(fake_posterior):
    with pytest.raises(pg.ModelError, match="Posterior returned by pg.sample"):
        pg.sample_predictive(M.normal_normal, KEY, {"mu": 1.0})
    with pytest.raises(pg.ModelError, match="none of the posterior's variables"):
        pg.sample_predictive(M.beta_binomial, KEY, fake_posterior, 1.0, 1.0, 3)
