"""The equinox adapter: lifted equinox modules against hand-written densities over equinox's own leaves.

Oracles: scipy log densities summed over the inexact array leaves of the module
(``jax.tree_util.tree_flatten_with_path(eqx.filter(module, eqx.is_inexact_array))``)
plus a Gaussian likelihood of ``jax.vmap(module)(x)``; never ppgraph's own output.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppgraph as pg
from ppgraph import ModelError, ShapeError, dist
from ppgraph.model import weights_of

try:
    import equinox as eqx
except ImportError as err:  # pragma: no cover - depends on the environment
    if os.environ.get("PPGRAPH_REQUIRE_EXTRAS") == "1":
        raise
    pytest.skip(f"equinox is not installed ({err}); pip install 'ppgraph[equinox]'", allow_module_level=True)

from ppgraph.nn.equinox import lift  # noqa: E402

X = np.asarray(jax.random.normal(jax.random.key(0), (10, 3)))
Y = np.asarray(jax.random.normal(jax.random.key(1), (10, 2)))
BODY = eqx.nn.MLP(3, 2, width_size=4, depth=2, activation=jax.nn.tanh, key=jax.random.key(2))


@pg.model
def regression(x):
    net <~ lift(BODY, dist.Normal(0.0, 1.5), priors={"layers/2/*": dist.Laplace(0.0, 0.5)})
    mu = jax.vmap(net)(x)                       # equinox modules act on one example
    y <~ dist.Normal(mu, 0.3)
    return y


@pg.model
def last_layer(x):
    net <~ lift(BODY, priors={"layers/2/*": dist.Normal(0.0, 1.0)})
    mu = jax.vmap(net)(x)
    y <~ dist.Normal(mu, 0.3)
    return y


def _leaves(module):
    params = eqx.filter(module, eqx.is_inexact_array)
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [getattr(k, "name", getattr(k, "idx", None)) for k in path]
        out.append(("/".join(map(str, names)), np.asarray(leaf)))
    return out


def _random_module(seed):
    rng = np.random.default_rng(seed)
    params, static = eqx.partition(BODY, eqx.is_inexact_array)
    params = jax.tree_util.tree_map(lambda v: jnp.asarray(rng.normal(size=np.shape(v)), jnp.float32), params)
    return eqx.combine(params, static)


def _likelihood(module):
    mu = np.asarray(jax.vmap(module)(jnp.asarray(X)), np.float64)
    return float(stats.norm(mu, 0.3).logpdf(Y).sum())


@pytest.mark.parametrize("seed", [0, 1])
def test_logpdf_equals_hand_written_density_over_equinox_leaves(seed):
    module = _random_module(seed)
    paths = [p for p, _ in _leaves(module)]
    assert paths == ["layers/0/weight", "layers/0/bias", "layers/1/weight", "layers/1/bias",
                     "layers/2/weight", "layers/2/bias"]
    expected = _likelihood(module)
    for path, value in _leaves(module):
        prior = stats.laplace(0.0, 0.5) if path.startswith("layers/2/") else stats.norm(0.0, 1.5)
        expected += prior.logpdf(value).sum()
    lp = pg.logpdf(regression)
    for value in (module, eqx.filter(module, eqx.is_inexact_array), weights_of(module)):
        np.testing.assert_allclose(lp(X, net=value, y=Y), expected, rtol=2e-5)


def test_samples_are_instances_of_the_module_class_and_run_under_plain_jit():
    draw = pg.sample_forward(regression, jax.random.key(3), X)
    net = draw["net"]
    assert isinstance(net, eqx.nn.MLP)
    np.testing.assert_allclose(jax.vmap(net)(X), draw["mu"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda n, x: jax.vmap(n)(x))(net, X), draw["mu"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eqx.filter_jit(lambda n, x: jax.vmap(n)(x))(net, X), draw["mu"], rtol=1e-5, atol=1e-6)
    assert net.layers[2].weight.shape == (2, 4) and net.activation is jax.nn.tanh
    # its pytree leaves are exactly the parameters
    assert [np.shape(leaf) for leaf in jax.tree_util.tree_leaves(net)] == [
        (4, 3), (4,), (4, 4), (4,), (2, 4), (2,)]
    lp = pg.logpdf(regression)
    np.testing.assert_allclose(lp(X, net=net, y=draw["y"]), lp(X, net=weights_of(net), y=draw["y"]), rtol=1e-6)


def test_batched_draws_map_over_the_batch_and_index_to_one_network():
    draws = pg.sample_forward(regression, jax.random.key(4), X, num_samples=3)
    many = draws["net"]
    assert isinstance(many, eqx.nn.MLP) and many.batch_shape == (3,)
    np.testing.assert_allclose(many(X[0]), draws["mu"][:, 0], rtol=1e-5, atol=1e-6)
    one = many[2]
    assert isinstance(one, eqx.nn.MLP) and one.batch_shape == ()
    np.testing.assert_allclose(jax.vmap(one)(X), draws["mu"][2], rtol=1e-5, atol=1e-6)


def test_partial_stochasticity_fit_then_sample_the_last_layer():
    assert lift(BODY, priors={"layers/2/*": dist.Normal(0.0, 1.0)}).trainable_paths() == (
        "layers/0/weight", "layers/0/bias", "layers/1/weight", "layers/1/bias")
    with pytest.raises(ModelError, match="fit first"):
        pg.sample(last_layer, jax.random.key(0), X, y=Y, num_warmup=5, num_samples=5, num_chains=1, progress=False)
    fit = pg.fit(last_layer, jax.random.key(0), X, y=Y, num_steps=20, progress=False)
    post = pg.sample(fit.model, jax.random.key(1), X, y=Y, num_warmup=30, num_samples=10, num_chains=1,
                     progress=False)
    w = weights_of(post.samples["net"])
    trained = weights_of(fit.params["net"])
    np.testing.assert_allclose(w["layers/0/weight"][0, 4], trained["layers/0/weight"], rtol=1e-6)
    assert float(np.ptp(np.asarray(w["layers/2/weight"]), axis=1).min()) > 0.0


def test_errors_name_the_pattern_the_path_and_the_shapes():
    with pytest.raises(ModelError, match=r"pattern 'layers/3/\*' matches no parameter.*layers/2/weight"):
        lift(BODY, priors={"layers/3/*": dist.Normal(0.0, 1.0)})
    with pytest.raises(ShapeError, match=r"weight 'layers/0/bias' has shape \(3,\).*weight's shape \(4,\)"):
        lift(BODY, bias_prior=dist.Normal(jnp.zeros(3), 1.0), kernel_prior=dist.Normal(0.0, 1.0))
    with pytest.raises(ModelError, match=r"needs an equinox.Module, got ndarray.*Hint"):
        lift(np.ones(3), dist.Normal(0.0, 1.0))
    with pytest.raises(ModelError, match="no floating-point array leaves"):
        lift(eqx.nn.Lambda(jnp.tanh), dist.Normal(0.0, 1.0))
