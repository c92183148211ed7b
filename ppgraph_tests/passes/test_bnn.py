"""The bnn_to_trainable pass: layers become trainable Parameter nodes (prior kept or dropped)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from scipy import stats

import ppgraph as pg
from ppgraph import dist, nn
from ppgraph.ir import Layer, Parameter
from ppgraph.passes import bnn_to_trainable, get_pass, observe
from ppgraph.passes.bnn import INFO_KEY, TrainableLayer, is_trainable_layer


@pg.model
def two_layers(x):
    scale <~ dist.HalfNormal(1.0)
    encoder <~ nn.Dense(3, dist.Normal(0.0, 1.0))
    head <~ nn.Dense(1, dist.Normal(0.0, scale))
    h = jnp.tanh(encoder(x))
    y <~ dist.Normal(head(h)[:, 0], 0.5)
    return y


@pg.model
def regression(x):
    net <~ nn.Dense(1, dist.Normal(0.0, 2.0))
    y <~ dist.Normal(net(x)[:, 0], 0.5)
    return y


X = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
Y = np.random.default_rng(1).normal(size=7).astype(np.float32)
W = {"kernel": jnp.array([[0.5], [-1.5]]), "bias": jnp.array([0.25])}


def _state(graph):
    return (list(graph.nodes), [graph.nodes[n]["node"] for n in graph.nodes], sorted(graph.edges(data="slots")),
            dict(graph.env))


class TestRewrite:
    def test_layers_become_parameters(self):
        g = bnn_to_trainable(two_layers)
        for name in ("encoder", "head"):
            node = g.obj(name)
            assert isinstance(node, Parameter) and is_trainable_layer(node)
            assert node.get_info(INFO_KEY) == "map"
            assert node.prior == two_layers.graph.obj(name).spec
            assert node.location == two_layers.graph.obj(name).location
        assert g.obj("head").init == "TrainableLayer(nn.Dense(1, dist.Normal(0.0, scale)), h)"
        assert g.env["TrainableLayer"] is TrainableLayer
        # the edges still follow the expressions: the prior's latent scale and the input feed the parameter
        assert set(g.predecessors("head")) == {"scale", "h"}
        assert nx.is_directed_acyclic_graph(g)

    def test_keep_prior_false_drops_the_prior(self):
        g = bnn_to_trainable(two_layers, keep_prior=False)
        assert g.obj("head").prior is None and g.obj("head").get_info(INFO_KEY) == "ml"
        assert set(g.predecessors("head")) == {"scale", "h"}  # the architecture is still read from the spec

    def test_selected_layers_only(self):
        g = bnn_to_trainable(two_layers, layers=["encoder"])
        assert isinstance(g.obj("encoder"), Parameter)
        assert isinstance(g.obj("head"), Layer)
        assert isinstance(bnn_to_trainable(two_layers, layers="head").obj("head"), Parameter)

    def test_pure_and_idempotent(self):
        before = _state(two_layers.graph)
        once = bnn_to_trainable(two_layers)
        assert _state(two_layers.graph) == before
        snap = _state(once)
        twice = bnn_to_trainable(once)
        assert _state(once) == snap
        assert _state(twice) == snap
        # naming a converted layer again is no error either
        assert _state(bnn_to_trainable(once, layers=["head"])) == snap

    def test_registered(self):
        assert get_pass("bnn_to_trainable") is bnn_to_trainable

    def test_no_layers_is_a_copy(self):
        g = bnn_to_trainable(bnn_to_trainable(regression))
        assert g is not regression.graph and isinstance(g.obj("net"), Parameter)

    @pytest.mark.parametrize(
        "layers, message",
        [(["nett"], "no node named 'nett'"), (["y"], "'y' is a random node, not a layer")],
    )
    def test_bad_names(self, layers, message):
        with pytest.raises(pg.ModelError, match=message):
            bnn_to_trainable(regression, layers=layers)

    def test_observed_layer_refused(self):
        g = observe(regression, net=W)
        with pytest.raises(pg.ModelError, match="observed"):
            bnn_to_trainable(g, layers=["net"])
        assert isinstance(bnn_to_trainable(g).obj("net"), Layer)  # default: only latent layers


class TestCodegen:
    def _expected(self, with_prior: bool) -> float:
        mean = X @ np.asarray(W["kernel"])[:, 0] + float(W["bias"][0])
        lp = stats.norm.logpdf(Y, mean, 0.5).sum()
        if with_prior:
            lp += stats.norm.logpdf(np.asarray(W["kernel"]), 0.0, 2.0).sum()
            lp += stats.norm.logpdf(np.asarray(W["bias"]), 0.0, 2.0).sum()
        return float(lp)

    @pytest.mark.parametrize("keep_prior", [True, False])
    def test_logpdf_against_scipy(self, keep_prior):
        lp = pg.logpdf(bnn_to_trainable(regression, keep_prior=keep_prior))
        assert float(lp(X, y=Y, net=W)) == pytest.approx(self._expected(keep_prior), rel=1e-5)

    def test_map_logpdf_equals_the_layer_model(self):
        trained = pg.logpdf(bnn_to_trainable(regression))(X, y=Y, net=W)
        bayes = pg.logpdf(regression)(X, y=Y, net=W)
        assert float(trained) == pytest.approx(float(bayes), rel=1e-6)

    def test_network_object_as_value(self):
        net = nn.Dense(1, dist.Normal(0.0, 2.0)).network(W)
        lp = pg.logpdf(bnn_to_trainable(regression))
        assert float(lp(X, y=Y, net=net)) == pytest.approx(self._expected(True), rel=1e-5)

    def test_gradient_through_the_weights(self):
        lp = pg.logpdf(bnn_to_trainable(regression, keep_prior=False))
        grad = jax.grad(lambda w: lp(X, y=Y, net=w))(W)
        resid = Y - (X @ np.asarray(W["kernel"])[:, 0] + float(W["bias"][0]))
        np.testing.assert_allclose(grad["kernel"][:, 0], X.T @ resid / 0.25, rtol=1e-4)
        np.testing.assert_allclose(grad["bias"], [resid.sum() / 0.25], rtol=1e-4)

    def test_sample_forward_gives_an_initialised_network(self):
        draw = pg.sample_forward(bnn_to_trainable(regression), jax.random.key(0), X)
        net = draw["net"]
        assert isinstance(net, nn.Network)
        assert net.weights["kernel"].shape == (2, 1)
        np.testing.assert_array_equal(net.weights["bias"], [0.0])  # the layer's initialiser, not a prior draw
        np.testing.assert_allclose(draw["y"].shape, (7,))

    def test_source_binds_the_network(self):
        source = pg.source(bnn_to_trainable(regression), "logpdf")
        assert "lp += jnp.sum(nn.Dense(1, dist.Normal(0.0, 2.0)).log_prob(net))" in source
        assert "net = TrainableLayer(nn.Dense(1, dist.Normal(0.0, 2.0)), x).network(net, name='net')" in source

    def test_wrong_weight_shape_names_the_node(self):
        bad = {"kernel": jnp.ones((3, 1)), "bias": jnp.zeros(1)}
        needs = r"weight 'kernel' has shape \(3, 1\), but an input of shape \(7, 2\) needs \(2, 1\)"
        with pytest.raises(pg.ShapeError, match=needs) as info:
            pg.logpdf(bnn_to_trainable(regression))(X, y=Y, net=bad)
        assert info.value.node == "net"


def test_trainable_layer_needs_an_input():
    t = TrainableLayer(nn.Dense(2, dist.Normal(0.0, 1.0)))
    with pytest.raises(pg.ModelError, match="input shape"):
        t.init(jax.random.key(0), name="net")
    with pytest.raises(pg.ModelError, match="needs a layer object"):
        TrainableLayer(dist.Normal(0.0, 1.0))


def test_save_load_round_trip(tmp_path):
    g = bnn_to_trainable(regression)
    path = tmp_path / "trainable.json"
    pg.save(g, str(path))
    loaded = pg.load(str(path))
    assert float(pg.logpdf(loaded)(X, y=Y, net=W)) == pytest.approx(float(pg.logpdf(g)(X, y=Y, net=W)), rel=1e-6)
    assert is_trainable_layer(loaded.graph.obj("net"))
