"""The trax adapter: lifted trax layers equal the native layers for the same weights."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph import ModelError, ShapeError, dist, nn

X = jax.random.normal(jax.random.key(2), (6, 5))


def test_import_ppgraph_does_not_import_trax_or_tensorflow():
    code = "import sys, ppgraph, ppgraph.nn; print('trax' in sys.modules or 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _mlp(tl):
    return tl.Serial(tl.Dense(8), tl.Relu(), tl.Dense(3), tl.LogSoftmax())


def _native_weights(trax_weights):
    return {"0": {"kernel": trax_weights[0][0], "bias": trax_weights[0][1]},
            "2": {"kernel": trax_weights[2][0], "bias": trax_weights[2][1]}}


@pytest.mark.trax
def test_lifted_mlp_equals_native_layers(trax_layers):
    from ppgraph.nn.trax import lift

    tl = trax_layers
    prior = dist.Normal(0.0, 0.8)
    lifted = lift(_mlp(tl), prior)
    native = nn.Serial(nn.Dense(8, prior), nn.Relu(), nn.Dense(3, prior), nn.LogSoftmax())
    shapes, out = lifted.shapes(X.shape)
    assert out == (6, 3)
    assert [tuple(s.shape) for s in jax.tree_util.tree_leaves(shapes)] == [(5, 8), (8,), (8, 3), (3,)]
    net = lifted.sample(jax.random.key(0), X.shape)
    w = _native_weights(net.weights)
    np.testing.assert_allclose(net(X), native.apply(w, X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lifted.log_prob(net.weights), native.log_prob(w), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda n, x: n(x))(net, X), net(X), rtol=1e-6)


@pytest.mark.trax
def test_forward_samples_are_trax_layers_safe_eagerly_and_under_jit(trax_layers):
    from ppgraph.nn.trax import lift

    tl = trax_layers
    user_layer = _mlp(tl)
    lifted = lift(user_layer, dist.Normal(0.0, 1.0))
    net = lifted.sample(jax.random.key(1), X.shape)
    # the sample itself is a trax layer of the lifted layer's class, callable under jit first, then eagerly
    assert isinstance(net, tl.Layer) and isinstance(net, type(user_layer))
    first = jax.jit(lambda n, x: n(x))(net, X)
    np.testing.assert_allclose(net(X), first, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(lambda x: net(x))(X), first, rtol=1e-5)
    assert [np.shape(w) for w in jax.tree_util.tree_leaves(net)] == [(5, 8), (8,), (8, 3), (3,)]
    assert jax.tree_util.tree_structure(net.weights) == jax.tree_util.tree_structure(lifted.shapes(X.shape)[0])
    layer = net.trax
    assert isinstance(layer, tl.Layer)
    jitted = jax.jit(lambda x: layer(x))(X)  # first call under jit ...
    np.testing.assert_allclose(layer(X), jitted, rtol=1e-5)  # ... then eagerly: no leaked tracer
    np.testing.assert_allclose(layer(X), net(X), rtol=1e-5)
    # the user's layer was not initialised or changed by lifting and sampling
    assert jax.tree_util.tree_leaves(user_layer.weights) == []


@pytest.mark.trax
def test_lifted_layer_in_a_model(trax_layers):
    from ppgraph.nn.trax import lift

    tl = trax_layers
    body = _mlp(tl)

    @pg.model
    def classifier(images):
        scale <~ dist.HalfNormal(1.0)
        net <~ lift(body, dist.Normal(0.0, scale))
        logits = net(images)
        label <~ dist.Categorical(logits=logits)
        return label

    assert type(classifier.graph.obj("net")).__name__ == "Layer"
    assert set(classifier.graph.predecessors("net")) == {"scale", "images"}
    draws = pg.sample_forward(classifier, jax.random.key(3), X, num_samples=3)
    assert draws["net"].batch_shape == (3,)
    np.testing.assert_allclose(draws["net"](X), draws["logits"], rtol=1e-5, atol=1e-6)
    one = draws["net"][1]
    assert isinstance(draws["net"], tl.Layer) and isinstance(one, tl.Layer)
    np.testing.assert_allclose(one.trax(X), draws["logits"][1], rtol=1e-5, atol=1e-6)
    lp = pg.logpdf(classifier)(images=X, scale=0.5, net=one, label=draws["label"][1])
    np.testing.assert_allclose(pg.logpdf(classifier)(images=X, scale=0.5, net=one.weights, label=draws["label"][1]),
                               lp, rtol=1e-6)
    w = _native_weights(one.weights)
    expected = (dist.HalfNormal(1.0).log_prob(0.5)
                + sum(dist.Normal(0.0, 0.5).log_prob(leaf).sum() for layer in w.values() for leaf in layer.values())
                + dist.Categorical(logits=draws["logits"][1]).log_prob(draws["label"][1]).sum())
    np.testing.assert_allclose(lp, expected, rtol=1e-5)


@pytest.mark.trax
def test_kernel_and_bias_priors_by_rank_and_errors(trax_layers):
    from ppgraph.nn.trax import lift

    tl = trax_layers
    s = jnp.array([[0.01], [0.1], [1.0], [10.0], [100.0]])
    layer = lift(tl.Dense(300), kernel_prior=dist.Normal(0.0, s), bias_prior=dist.Uniform(2.0, 3.0))
    kernel, bias = layer.sample(jax.random.key(0), X.shape).weights
    np.testing.assert_allclose(np.std(np.asarray(kernel), axis=1), np.asarray(s[:, 0]), rtol=0.15)
    assert float(bias.min()) >= 2.0 and float(bias.max()) <= 3.0
    with pytest.raises(ModelError, match=r"weight '1' \(a bias, shape \(300,\)\) has no prior"):
        lift(tl.Dense(300), kernel_prior=dist.Normal(0.0, 1.0)).sample(jax.random.key(0), X.shape)
    # one prior for all: fits the kernel (5, 8), not the bias (8,)
    with pytest.raises(ShapeError, match=r"lift\(Dense_8\).*weight '1' has shape \(5, 1\).*shape \(8,\)"):
        lift(tl.Dense(8), dist.Normal(0.0, jnp.ones((5, 1)))).sample(jax.random.key(0), X.shape)
    with pytest.raises(ModelError, match="needs a trax layer"):
        lift(nn.Dense(3, dist.Normal(0.0, 1.0)))
    trainable = lift(tl.Dense(4), dist.Normal(0.0, 1.0), bias_prior=nn.TRAINABLE)
    kernel, bias = trainable.sample(jax.random.key(0), X.shape).weights
    np.testing.assert_allclose(trainable.log_prob((kernel, bias)), dist.Normal(0.0, 1.0).log_prob(kernel).sum(), rtol=1e-6)


@pytest.mark.trax
def test_lifted_layers_compose_with_native_ones_in_serial(trax_layers):
    from ppgraph.nn.trax import lift

    tl = trax_layers
    mixed = nn.Serial(lift(tl.Dense(4), dist.Normal(0.0, 1.0)), nn.Tanh(), nn.Dense(2, dist.Normal(0.0, 1.0)))
    net = mixed.sample(jax.random.key(5), X.shape)
    kernel, bias = net.weights["0"]
    ref = jnp.tanh(X @ kernel + bias) @ net.weights["2"]["kernel"] + net.weights["2"]["bias"]
    np.testing.assert_allclose(net(X), ref, rtol=1e-5, atol=1e-6)
