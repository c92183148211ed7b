"""``observe`` and ``do``: semantics checked against NumPyro densities and handlers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro.infer.util import log_density

import ppgraph as pg
import ppgraph.nn  # noqa: F401  (pg.nn)
from ppgraph import dist
from ppgraph.errors import ModelError
from ppgraph.ir.expr import free_names
from ppgraph.model import weights_of
from ppgraph.passes import do, observe, reparameterize, to_unconstrained


@pg.model
def regression(x):
    a <~ dist.Normal(0.0, 1.0)
    b <~ dist.Normal(0.0, 1.0)
    s <~ dist.HalfNormal(1.0)
    mean = a + b * x
    y <~ dist.Normal(mean, s)
    return y


def np_regression(x, y=None):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    b = numpyro.sample("b", dist.Normal(0.0, 1.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(a + b * x, s), obs=y)


X = jnp.linspace(-1.0, 1.0, 5)
Y = jnp.array([0.3, -0.1, 0.5, 1.2, 0.9])


def test_observe_keeps_the_likelihood_term():
    g = observe(regression, y=Y)
    lp = pg.logpdf(g)
    assert set(lp.compiled.inputs) == {"a", "b", "s"}
    value = lp(X, a=0.2, b=-0.4, s=0.7)
    expected, _ = log_density(np_regression, (X,), {"y": Y}, {"a": 0.2, "b": -0.4, "s": 0.7})
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    np.testing.assert_allclose(value, pg.logpdf(regression)(X, a=0.2, b=-0.4, s=0.7, y=Y), rtol=1e-6)
    terms = pg.logpdf(g, terms=True)(X, a=0.2, b=-0.4, s=0.7)
    assert "y" in terms
    np.testing.assert_allclose(terms["y"], jnp.sum(dist.Normal(0.2 - 0.4 * X, 0.7).log_prob(Y)), rtol=1e-5)


def test_observed_value_is_used_by_samplers_and_replaced_by_a_second_observe():
    g = observe(regression, y=Y)
    draw = pg.sample_forward(g, jax.random.key(0), X)
    np.testing.assert_array_equal(draw["y"], Y)
    g2 = observe(g, y=2 * Y)
    np.testing.assert_array_equal(pg.sample_forward(g2, jax.random.key(0), X)["y"], 2 * Y)
    assert g2.obj("y") == g.obj("y")  # the same constant name, a new value


def test_do_cuts_edges_and_drops_the_prior_term():
    g = do(regression, a=1.5)
    assert list(g.predecessors("a")) == []
    assert g.obj("a").kind == "deterministic"
    lp = pg.logpdf(g)
    assert set(lp.compiled.inputs) == {"b", "s", "y"}
    value = lp(X, b=-0.4, s=0.7, y=Y)
    # the joint density with a = 1.5, minus a's prior term
    joint, _ = log_density(np_regression, (X,), {"y": Y}, {"a": 1.5, "b": -0.4, "s": 0.7})
    np.testing.assert_allclose(value, joint - dist.Normal(0.0, 1.0).log_prob(1.5), rtol=1e-5)
    draws = pg.sample_forward(g, jax.random.key(0), X, num_samples=4)
    np.testing.assert_array_equal(draws["a"], jnp.full(4, 1.5))


def test_do_on_a_deterministic_node_cuts_it_from_its_parents():
    g = do(regression, mean=jnp.zeros(5))
    assert list(g.predecessors("mean")) == []
    value = pg.logpdf(g)(X, a=0.2, b=-0.4, s=0.7, y=Y)
    expected = (dist.Normal(0.0, 1.0).log_prob(0.2) + dist.Normal(0.0, 1.0).log_prob(-0.4)
                + dist.HalfNormal(1.0).log_prob(0.7) + jnp.sum(dist.Normal(0.0, 0.7).log_prob(Y)))
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_observe_and_do_undo_the_twins_of_transform_passes():
    g = to_unconstrained(reparameterize(regression))
    assert {"y_decentered", "s_unconstrained", "a", "b"} <= set(g.nodes)
    observed = observe(g, y=Y)
    assert "y_decentered" not in observed.nodes
    assert observed.obj("y").kind == "random" and observed.obj("y").dist == "dist.Normal(mean, s)"
    fixed = do(g, s=0.5)
    assert "s_unconstrained" not in fixed.nodes
    np.testing.assert_allclose(
        pg.logpdf(observed)(X, a=0.2, b=-0.4, s_unconstrained=jnp.log(0.7)),
        pg.logpdf(to_unconstrained(observe(regression, y=Y)))(X, a=0.2, b=-0.4, s_unconstrained=jnp.log(0.7)),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: observe(regression, z=1.0), "no such node"),
        (lambda: observe(regression, yy=1.0), "did you mean 'y'"),
        (lambda: observe(regression, mean=1.0), "deterministic node"),
        (lambda: observe(regression, x=1.0), "argument node"),
        (lambda: do(regression, x=1.0), "argument node"),
        (lambda: do(regression, nope=1.0), "no such node"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ModelError, match=message):
        call()


@pg.model
def classifier(x):
    scale <~ dist.HalfNormal(1.0)
    net <~ pg.nn.Serial(pg.nn.Dense(3, dist.Normal(0.0, scale)), pg.nn.Tanh(), pg.nn.Dense(2, dist.Normal(0.0, scale)))
    logits = net(x)
    y <~ dist.Categorical(logits=logits)
    return y


def test_observing_a_reparameterised_layer_restores_it():
    x = jnp.ones((5, 4))
    g = reparameterize(classifier)
    assert "net_decentered" in g.nodes
    draw = pg.sample_forward(classifier, jax.random.key(0), x)
    observed = observe(g, net=draw["net"])
    assert "net_decentered" not in observed.nodes
    assert observed.obj("net") == observe(classifier, net=draw["net"]).obj("net")
    assert "net_decentered" not in do(g, net=draw["net"]).nodes


@pg.model
def scaled_classifier(x):
    s <~ dist.HalfNormal(1.0)
    net <~ pg.nn.Dense(3, dist.Normal(0.0, s))     # the layer's prior reads the latent s
    logits = net(x)
    y <~ dist.Categorical(logits=logits)
    return y


def test_do_on_a_layer_whose_prior_reads_a_latent_cuts_that_edge_too():
    x = jnp.ones((5, 4))
    draw = pg.sample_forward(scaled_classifier, jax.random.key(1), x)
    g = do(scaled_classifier, net=weights_of(draw["net"]))  # plain weights: the layer's spec builds the network
    assert list(g.predecessors("net")) == [] and g.obj("net").kind == "deterministic"
    assert "s" not in free_names(g.obj("net").expr)  # a placeholder: the fixed weights never use the prior
    # the fixed network is the drawn one: same logits, whatever s
    fixed = pg.sample_forward(g, jax.random.key(2), x)
    np.testing.assert_allclose(np.asarray(fixed["logits"]), np.asarray(draw["net"](x)), rtol=1e-6)
