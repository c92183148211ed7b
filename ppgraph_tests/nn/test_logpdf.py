"""Log densities of layer models against hand-written JAX and against NumPyro."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.scipy.stats import cauchy, expon, norm
from numpyro.infer.util import log_density

import ppgraph as pg
from ppgraph.compile import compiled
from ppgraph.passes import observe, reparameterize

from . import models

SETTINGS = settings(derandomize=True, max_examples=6, deadline=None)
IMAGES = jax.random.normal(jax.random.key(11), (7, 5))


def _random_weights(seed, shapes):
    keys = iter(jax.random.split(jax.random.key(seed), 16))
    return {k: {w: 0.7 * jax.random.normal(next(keys), s) for w, s in v.items()} for k, v in shapes.items()}


def _hier_numpyro(images, label=None):
    scale = numpyro.sample("scale", nd.Exponential(2.0))
    k0 = numpyro.sample("k0", nd.Normal(0.0, scale).expand([5, 6]).to_event(2))
    b0 = numpyro.sample("b0", nd.Normal(0.0, scale).expand([6]).to_event(1))
    k1 = numpyro.sample("k1", nd.Normal(0.0, scale).expand([6, 3]).to_event(2))
    b1 = numpyro.sample("b1", nd.Normal(0.0, scale).expand([3]).to_event(1))
    logits = jax.nn.log_softmax(jax.nn.relu(images @ k0 + b0) @ k1 + b1)
    numpyro.sample("label", nd.Categorical(logits=logits), obs=label)


@SETTINGS
@given(seed=st.integers(0, 2**20), scale=st.floats(0.2, 3.0))
def test_hierarchical_logpdf_matches_numpyro_and_hand_written(seed, scale):
    w = _random_weights(seed, {"0": {"kernel": (5, 6), "bias": (6,)}, "2": {"kernel": (6, 3), "bias": (3,)}})
    label = jax.random.randint(jax.random.key(seed + 1), (7,), 0, 3)
    ours = pg.logpdf(models.hierarchical)(images=IMAGES, scale=scale, net=w, label=label)

    params = {"scale": scale, "k0": w["0"]["kernel"], "b0": w["0"]["bias"], "k1": w["2"]["kernel"], "b1": w["2"]["bias"]}
    oracle, _ = log_density(_hier_numpyro, (IMAGES,), {"label": label}, params)

    hidden = jax.nn.relu(IMAGES @ w["0"]["kernel"] + w["0"]["bias"])
    logits = jax.nn.log_softmax(hidden @ w["2"]["kernel"] + w["2"]["bias"])
    by_hand = (
        expon.logpdf(scale, scale=0.5)
        + sum(norm.logpdf(leaf, 0.0, scale).sum() for layer in w.values() for leaf in layer.values())
        + jnp.take_along_axis(logits, label[:, None], axis=1).sum()
    )
    np.testing.assert_allclose(ours, oracle, rtol=2e-5)
    np.testing.assert_allclose(ours, by_hand, rtol=2e-5)


@SETTINGS
@given(seed=st.integers(0, 2**20))
def test_per_input_scale_and_separate_bias_prior(seed):
    keys = jax.random.split(jax.random.key(seed), 4)
    s = jnp.abs(jax.random.normal(keys[0], (3, 1))) + 0.1
    w = {"kernel": jax.random.normal(keys[1], (3, 2)), "bias": 3.0 * jax.random.normal(keys[2], (2,))}
    x = jax.random.normal(keys[3], (4, 3))
    y = jnp.ones((4, 2))
    ours = pg.logpdf(models.per_input_scale)(x=x, s=s, net=w, y=y)
    by_hand = (
        (norm.logpdf(s) + jnp.log(2.0)).sum()  # half-normal
        + norm.logpdf(w["kernel"], 0.0, s).sum()  # one scale per input unit (row)
        + cauchy.logpdf(w["bias"], 0.0, 2.0).sum()
        + norm.logpdf(y, x @ w["kernel"] + w["bias"], 1.0).sum()
    )
    np.testing.assert_allclose(ours, by_hand, rtol=2e-5)


def test_logpdf_takes_a_sampled_network_or_its_weights_and_is_differentiable():
    draw = pg.sample_forward(models.hierarchical, jax.random.key(3), IMAGES)
    lp = pg.logpdf(models.hierarchical)
    a = lp(images=IMAGES, scale=draw["scale"], net=draw["net"], label=draw["label"])
    b = lp(images=IMAGES, scale=draw["scale"], net=draw["net"].weights, label=draw["label"])
    assert float(a) == float(b)
    grad = jax.grad(lambda w: lp(images=IMAGES, scale=draw["scale"], net=w, label=draw["label"]))(draw["net"].weights)
    assert grad["0"]["kernel"].shape == (5, 6) and bool(jnp.all(jnp.isfinite(grad["0"]["kernel"])))
    assert float(jnp.abs(grad["0"]["kernel"]).sum()) > 0


def test_trainable_weight_adds_no_prior_term():
    w = {"kernel": jnp.full((3, 2), 0.5), "bias": jnp.array([10.0, -4.0])}
    x = jnp.ones((4, 3))
    y = jnp.zeros((4, 2))
    ours = pg.logpdf(models.trainable_bias)(x=x, net=w, y=y)
    by_hand = norm.logpdf(w["kernel"]).sum() + norm.logpdf(y, x @ w["kernel"] + w["bias"]).sum()
    np.testing.assert_allclose(ours, by_hand, rtol=1e-5)


def test_observed_layer_keeps_its_prior_term():
    draw = pg.sample_forward(models.hierarchical, jax.random.key(5), IMAGES)
    g = observe(models.hierarchical, net=draw["net"])
    full = pg.logpdf(models.hierarchical)(images=IMAGES, scale=0.7, net=draw["net"], label=draw["label"])
    observed = pg.logpdf(g)(images=IMAGES, scale=0.7, label=draw["label"])
    assert float(observed) == pytest.approx(float(full), rel=1e-6)


def test_noncentred_layer_density_is_the_centred_one_times_the_jacobian():
    g = reparameterize(models.hierarchical)
    assert type(g.obj("net")).__name__ == "Deterministic"
    assert g.obj("net_decentered").spec.startswith("nn.NonCentered(")
    z = _random_weights(2, {"0": {"kernel": (5, 6), "bias": (6,)}, "2": {"kernel": (6, 3), "bias": (3,)}})
    scale = 0.6
    w = jax.tree_util.tree_map(lambda leaf: scale * leaf, z)
    label = jnp.arange(7) % 3
    nc = pg.logpdf(g)(images=IMAGES, scale=scale, net_decentered=z, label=label)
    c = pg.logpdf(models.hierarchical)(images=IMAGES, scale=scale, net=w, label=label)
    n_weights = 5 * 6 + 6 + 6 * 3 + 3
    np.testing.assert_allclose(nc, c + n_weights * np.log(scale), rtol=1e-5)
    # the user-facing `net` holds the actual weights
    out = compiled(g, "deterministics")(IMAGES, scale=scale, net_decentered=z, label=label)
    np.testing.assert_allclose(out["net"].weights["0"]["kernel"], w["0"]["kernel"], rtol=1e-6)
    assert pg.passes.reparameterize(g).obj("net_decentered") == g.obj("net_decentered")  # idempotent
