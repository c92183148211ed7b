"""Sampled networks: pytrees through jit / vmap, batching, graphs of layer models."""

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

import ppgraph as pg
from ppgraph import dist, nn
from ppgraph.ir import Layer

from . import models

KEY = jax.random.key(4)
IMAGES = jax.random.normal(jax.random.key(11), (7, 5))


def test_layer_model_is_one_layer_node_with_edges_from_its_prior_parameters_and_input():
    g = models.hierarchical.graph
    node = g.obj("net")
    assert isinstance(node, Layer) and node.input == "images"
    assert set(g.predecessors("net")) == {"scale", "images"}
    assert list(g.successors("net")) == ["logits"]


def test_graph_builder_gives_the_same_graph():
    built = models.built_hierarchical().graph
    parsed = models.hierarchical.graph
    assert nx.utils.graphs_equal(built, parsed)
    assert all(built.obj(n) == parsed.obj(n) for n in parsed)


def test_graph_builder_explicit_input():
    g = pg.GraphBuilder("m")
    x = g.argument("x")
    g.layer("net", g.call(nn.Dense, 2, g.call(dist.Normal, 0.0, 1.0)), input=x)
    model = g.build()
    assert model.graph.obj("net").input == "x"
    assert pg.sample_forward(model, KEY, jnp.ones((3, 4)))["net"].weights["kernel"].shape == (4, 2)


def test_input_is_the_innermost_call_that_does_not_depend_on_the_layer():
    assert models.nested_call.graph.obj("net").input == "x"
    # Dense(3) applied to its own output needs 3 input features
    out = pg.sample_forward(models.nested_call, KEY, jnp.ones((2, 3)))
    assert out["h"].shape == (2, 3)


def test_sampled_network_is_a_jittable_pytree():
    net = pg.sample_forward(models.hierarchical, KEY, IMAGES)["net"]
    assert isinstance(net, nn.Network) and net.name == "net"
    leaves, treedef = jax.tree_util.tree_flatten(net)
    assert len(leaves) == 4
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    np.testing.assert_array_equal(rebuilt(IMAGES), net(IMAGES))
    traces = []

    @jax.jit
    def apply(n, x):
        traces.append(1)
        return n(x)

    w = net.weights  # hierarchical's network, written by hand: Dense(6), Relu, Dense(3), LogSoftmax
    by_hand = jax.nn.log_softmax(jax.nn.relu(IMAGES @ w["0"]["kernel"] + w["0"]["bias"]) @ w["2"]["kernel"]
                                 + w["2"]["bias"])
    np.testing.assert_allclose(net(IMAGES), by_hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(apply(net, IMAGES), by_hand, rtol=1e-5, atol=1e-6)
    other = pg.sample_forward(models.hierarchical, jax.random.key(99), IMAGES)["net"]
    apply(other, IMAGES)
    assert len(traces) == 1  # a new sample of the same architecture does not retrace
    doubled = jax.tree_util.tree_map(lambda w: 2 * w, net)
    np.testing.assert_allclose(doubled.weights["2"]["bias"], 2 * net.weights["2"]["bias"])


def test_weights_layout():
    net = pg.sample_forward(models.hierarchical, KEY, IMAGES)["net"]
    shapes = jax.tree_util.tree_map(jnp.shape, net.weights)
    assert shapes == {"0": {"kernel": (5, 6), "bias": (6,)}, "2": {"kernel": (6, 3), "bias": (3,)}}


def test_batched_networks_map_over_samples():
    draws = pg.sample_forward(models.hierarchical, KEY, IMAGES, num_samples=5)
    net = draws["net"]
    assert net.batch_shape == (5,) and len(net) == 5
    out = net(IMAGES)
    assert out.shape == (5, 7, 3)
    for i in (0, 3):
        np.testing.assert_allclose(out[i], net[i](IMAGES), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(draws["logits"][i], net.unbatch(i)(IMAGES), rtol=1e-5, atol=1e-6)
    assert net[0].batch_shape == ()
    with pytest.raises(IndexError, match="this network is not batched"):
        net[0][0]
    assert "batch_shape=(5,)" in repr(net)


def test_sample_predictive_with_given_weights():
    draw = pg.sample_forward(models.regression, KEY, jnp.ones((3, 2)))
    again = pg.sample_forward(models.regression, jax.random.key(1), jnp.ones((3, 2)), net=draw["net"])
    np.testing.assert_allclose(again["mu"], draw["mu"], rtol=1e-6)


def test_prior_predictive_of_a_custom_layer_model():
    draws = pg.sample_forward(models.custom, KEY, jnp.ones((2, 3)), num_samples=400)
    w = draws["net"].weights["0"]["w"]
    assert w.shape == (400, 3)
    assert float(jnp.mean(w)) == pytest.approx(1.0, abs=0.02)
    assert float(jnp.std(w)) == pytest.approx(0.1, rel=0.1)


def test_conv_model_end_to_end():
    images = jax.random.normal(KEY, (3, 4, 4, 1))
    draw = pg.sample_forward(models.conv, KEY, images)
    lp = pg.logpdf(models.conv)(images=images, net=draw["net"], label=draw["label"])
    w = draw["net"].weights
    expected = sum(dist.Normal(0.0, 1.0).log_prob(leaf).sum() for layer in w.values() for leaf in layer.values())
    expected += dist.Categorical(probs=draw["probs"]).log_prob(draw["label"]).sum()
    np.testing.assert_allclose(lp, expected, rtol=1e-5)


def test_do_fixes_a_network():
    draw = pg.sample_forward(models.hierarchical, KEY, IMAGES)
    g = pg.passes.do(models.hierarchical, net=draw["net"])
    out = pg.sample_forward(g, jax.random.key(8), IMAGES)
    np.testing.assert_allclose(out["logits"], draw["logits"], rtol=1e-6)


def test_do_with_a_weights_pytree():
    draw = pg.sample_forward(models.hierarchical, KEY, IMAGES)
    g = pg.passes.do(models.hierarchical, net=draw["net"].weights)
    out = pg.sample_forward(g, jax.random.key(8), IMAGES)
    np.testing.assert_allclose(out["logits"], draw["logits"], rtol=1e-6)
    assert "net" not in pg.logpdf(g, terms=True)(images=IMAGES, scale=1.0, label=draw["label"])
