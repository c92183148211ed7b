"""NUTS on a tiny Bayesian network with a hierarchical weight prior (pg.sample, pg.sample_predictive)."""

import warnings

import jax
import jax.numpy as jnp
import pytest

import ppgraph as pg
from ppgraph.passes import reparameterize

from . import models

X = jnp.linspace(-2.0, 2.0, 30)[:, None]
Y = jnp.sin(X[:, 0])


@pytest.mark.slow
@pytest.mark.parametrize("noncentred", [False, True], ids=["centred", "noncentred"])
def test_nuts_fits_a_tiny_bnn_and_predicts(noncentred):
    model = pg.Model(reparameterize(models.tiny_bnn)) if noncentred else models.tiny_bnn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few divergences are fine for this check
        post = pg.sample(model, jax.random.key(0), X, y=Y, num_warmup=250, num_samples=100, num_chains=2,
                         progress=False)
    latent = "net_decentered" if noncentred else "net"
    kernel = post.samples[latent].weights["0"]["kernel"]
    assert kernel.shape == (2, 100, 1, 3)
    net = post.samples["net"]  # a batched network: callable, one network per (chain, draw)
    assert isinstance(net, pg.nn.Network)
    out = net(X)
    assert out.shape[:3] == (2, 100, 30)
    assert jnp.allclose(net[1, 7](X), out[1, 7], atol=1e-5)
    pred = pg.sample_predictive(model, jax.random.key(1), post, X)
    assert pred["y"].shape == (2, 100, 30)
    mse = float(jnp.mean((pred["mu"].reshape(-1, 30).mean(0) - Y) ** 2))
    prior_mse = float(jnp.mean(Y**2))  # predicting zero
    assert mse < 0.05 * prior_mse
