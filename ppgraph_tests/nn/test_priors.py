"""Prior broadcasting, sampling of weights, and every error case of layer priors and shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppgraph as pg
from ppgraph import ModelError, ShapeError, dist, nn
from ppgraph_tests.conftest import line_of

from . import models

KEY = jax.random.key(0)


def test_one_prior_applies_elementwise_to_kernel_and_bias():
    layer = nn.Dense(50, dist.Normal(1.0, 2.0))
    draws = jax.vmap(lambda k: layer.sample(k, (1, 40)).weights)(jax.random.split(KEY, 20))
    for leaf in (draws["kernel"], draws["bias"]):
        result = stats.kstest(np.asarray(leaf).ravel(), stats.norm(1.0, 2.0).cdf)
        assert result.pvalue > 1e-3
    assert draws["kernel"].shape == (20, 40, 50) and draws["bias"].shape == (20, 50)


def test_per_input_scale_broadcasts_against_the_kernel():
    s = jnp.array([[0.01], [1.0], [100.0]])
    layer = nn.Dense(400, kernel_prior=dist.Normal(0.0, s), bias_prior=dist.Normal(0.0, 1.0))
    kernel = layer.sample(KEY, (2, 3)).weights["kernel"]
    np.testing.assert_allclose(np.std(np.asarray(kernel), axis=1), [0.01, 1.0, 100.0], rtol=0.15)


def test_kernel_and_bias_priors_are_separate():
    layer = nn.Dense(2000, kernel_prior=dist.Normal(5.0, 0.1), bias_prior=dist.Uniform(-1.0, 0.0))
    w = layer.sample(KEY, (1, 1)).weights
    assert abs(float(w["kernel"].mean()) - 5.0) < 0.02
    assert float(w["bias"].max()) <= 0.0 and float(w["bias"].min()) >= -1.0
    expected = dist.Normal(5.0, 0.1).log_prob(w["kernel"]).sum() + dist.Uniform(-1.0, 0.0).log_prob(w["bias"]).sum()
    np.testing.assert_allclose(layer.log_prob(w), expected, rtol=1e-5)


def test_keys_are_never_reused():
    draw = pg.sample_forward(models.two_layers, KEY, jnp.ones((2, 1)))
    first, second = draw["first"].weights, draw["second"].weights
    assert not np.allclose(first["kernel"], second["kernel"])
    # kernel (1, 3) and bias (3,) of one layer have equal sizes: different keys give different values
    assert not np.allclose(first["kernel"].ravel(), first["bias"])


def test_missing_prior_is_an_error_naming_the_weight():
    with pytest.raises(ModelError, match="weight 'kernel' has no prior") as info:
        nn.Dense(3)
    assert "nn.TRAINABLE" in str(info.value)
    with pytest.raises(ModelError, match="weight 'bias' has no prior"):
        nn.Dense(3, kernel_prior=dist.Normal(0.0, 1.0))


def test_missing_prior_inside_a_model_names_the_node():
    with pytest.raises(ModelError, match="weight 'kernel' has no prior") as info:
        pg.sample_forward(models.no_prior, KEY, jnp.ones((2, 3)))
    line = line_of(models.__file__, "net <~ nn.Dense(3)", after="def no_prior(")
    assert info.value.node == "net" and info.value.location == f"models.py:{line}"


def test_prior_that_is_not_a_distribution():
    with pytest.raises(ModelError, match="not a distribution"):
        nn.Dense(3, 1.0)


def test_shape_mismatch_names_layer_weight_and_both_shapes():
    with pytest.raises(ShapeError, match="does not broadcast to the weight's shape") as info:
        pg.sample_forward(models.bad_broadcast, KEY, jnp.ones((4, 3)))
    message = str(info.value)
    assert info.value.node == "net"
    assert "Dense(2)" in message and "'kernel'" in message and "(5,)" in message and "(3, 2)" in message


def test_per_input_prior_on_the_bias_is_a_shape_error():
    layer = nn.Dense(4, dist.Normal(0.0, jnp.ones((3, 1))))
    with pytest.raises(ShapeError, match=r"'bias'.*\(3, 1\).*\(4,\)"):
        layer.sample(KEY, (2, 3))


def test_event_shaped_prior_must_match_trailing_axes():
    ok = nn.Dense(2, dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2)))
    w = ok.sample(KEY, (1, 3)).weights
    expected = dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2)).log_prob(w["kernel"]).sum() + \
        dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2)).log_prob(w["bias"])
    np.testing.assert_allclose(ok.log_prob(w), expected, rtol=1e-5)
    bad = nn.Dense(4, dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2)))
    with pytest.raises(ShapeError, match="event shape"):
        bad.sample(KEY, (1, 3))


def test_trainable_weights_have_no_prior_term_and_start_at_zero():
    layer = nn.Dense(3, dist.Normal(0.0, 1.0), bias_prior=nn.TRAINABLE)
    w = layer.sample(KEY, (2, 4)).weights
    assert np.all(np.asarray(w["bias"]) == 0.0)
    np.testing.assert_allclose(layer.log_prob(w), dist.Normal(0.0, 1.0).log_prob(w["kernel"]).sum(), rtol=1e-6)
    assert layer.trainable(layer.shapes((2, 4))[0]) == {"kernel": False, "bias": True}


def test_weights_of_the_wrong_shape_for_the_input():
    lp = pg.logpdf(models.regression)
    w = {"0": {"kernel": jnp.zeros((4, 4)), "bias": jnp.zeros(4)}, "2": {"kernel": jnp.zeros((4, 1)), "bias": jnp.zeros(1)}}
    with pytest.raises(ShapeError, match=r"weight '0/kernel' has shape \(4, 4\).*needs \(3, 4\)") as info:
        lp(x=jnp.ones((5, 3)), net=w, y=jnp.zeros(5))
    assert info.value.node == "net"


def test_missing_and_unexpected_weights():
    lp = pg.logpdf(models.regression)
    w = {"0": {"kernel": jnp.zeros((3, 4))}, "2": {"kernel": jnp.zeros((4, 1)), "bias": jnp.zeros(1)}}
    with pytest.raises(ShapeError, match="'0/bias' is missing"):
        lp(x=jnp.ones((5, 3)), net=w, y=jnp.zeros(5))
    w = {"0": {"kernel": jnp.zeros((3, 4)), "bias": jnp.zeros(4), "extra": jnp.zeros(2)},
         "2": {"kernel": jnp.zeros((4, 1)), "bias": jnp.zeros(1)}}
    with pytest.raises(ShapeError, match="unexpected weight '0/extra'"):
        lp(x=jnp.ones((5, 3)), net=w, y=jnp.zeros(5))


def test_network_applied_to_two_feature_sizes_is_an_error_naming_the_layer():
    with pytest.raises(ShapeError, match=r"layer 'net' \(Dense\(2\)\).*input of shape \(4, 5\) needs \(5, 2\)"):
        pg.sample_forward(models.two_inputs, KEY, jnp.ones((4, 3)), jnp.ones((4, 5)))
    # same feature size, other batch size: fine
    out = pg.sample_forward(models.two_inputs, KEY, jnp.ones((4, 3)), jnp.ones((9, 3)))
    assert out["v"].shape == (9, 2)


def test_layer_never_applied_cannot_be_sampled():
    with pytest.raises(ModelError, match="never applied") as info:
        pg.sample_forward(models.unused_layer, KEY)
    assert info.value.node == "net"


def test_serial_items_must_be_layers():
    with pytest.raises(ModelError, match=r"nn.Relu\(\)"):
        nn.Serial(nn.Dense(2, dist.Normal(0.0, 1.0)), nn.Relu)
    with pytest.raises(ModelError, match="not a ppgraph layer"):
        nn.Serial(jnp.tanh)


def test_noncentred_needs_loc_scale_priors():
    layer = nn.NonCentered(nn.Dense(2, dist.Exponential(1.0)))
    with pytest.raises(ModelError, match="no non-centred form"):
        layer.sample(KEY, (1, 3))
