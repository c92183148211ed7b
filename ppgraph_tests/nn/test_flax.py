"""The flax adapter: lifted ``flax.nnx`` modules against hand-written densities over nnx's own parameters.

Oracles: scipy log densities summed over the leaves of ``nnx.state(module, nnx.Param)``
plus a likelihood computed with the module itself (``module(x)``) and
``scipy.special.log_softmax``; never ppgraph's own output.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import ppgraph as pg
from ppgraph import ModelError, ShapeError, dist, nn
from ppgraph.model import weights_of
from ppgraph_tests.conftest import line_of

try:
    from flax import nnx
except ImportError as err:  # pragma: no cover - depends on the environment
    if os.environ.get("PPGRAPH_REQUIRE_EXTRAS") == "1":
        raise
    pytest.skip(f"flax is not installed ({err}); pip install 'ppgraph[flax]'", allow_module_level=True)

from ppgraph.nn.flax import lift  # noqa: E402

X = np.asarray(jax.random.normal(jax.random.key(0), (12, 3)))
Y = np.asarray(jax.random.randint(jax.random.key(1), (12,), 0, 2))


class MLP(nnx.Module):
    def __init__(self, rngs):
        self.linear1 = nnx.Linear(3, 5, rngs=rngs)
        self.head = nnx.Linear(5, 2, rngs=rngs)

    def __call__(self, x):
        return self.head(jnp.tanh(self.linear1(x)))


BODY = MLP(nnx.Rngs(0))


@pg.model
def classifier(x):
    net <~ lift(BODY, kernel_prior=dist.Normal(0.0, 0.7), bias_prior=dist.Cauchy(0.0, 2.0),
                priors={"head/kernel": dist.Laplace(0.0, 0.5)})
    logits = net(x)
    y <~ dist.Categorical(logits=logits)
    return y


@pg.model
def last_layer(x):
    net <~ lift(BODY, priors={"head/*": dist.Normal(0.0, 1.0)})
    logits = net(x)
    y <~ dist.Categorical(logits=logits)
    return y


def _random_module(seed):
    """A copy of BODY with every nnx.Param set to random numbers (numpy, not ppgraph)."""
    rng = np.random.default_rng(seed)
    module = nnx.clone(BODY)
    state = nnx.state(module, nnx.Param)
    new = jax.tree_util.tree_map(lambda v: jnp.asarray(rng.normal(size=np.shape(v)) * 1.3, jnp.float32), state)
    nnx.update(module, new)
    return module


def _leaves(module):
    """(path, array) for the nnx.Param leaves, from nnx's own flat state."""
    return [("/".join(map(str, path)), np.asarray(v.get_value()))
            for path, v in nnx.to_flat_state(nnx.state(module, nnx.Param))]


def _likelihood(module, x, y):
    logits = np.asarray(module(jnp.asarray(x)), np.float64)
    return float(np.sum(special.log_softmax(logits, axis=-1)[np.arange(len(y)), y]))


def test_import_ppgraph_imports_neither_flax_nor_equinox():
    code = "import sys, ppgraph, ppgraph.nn; print(sorted({'flax', 'equinox'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logpdf_equals_hand_written_density_over_nnx_params(seed):
    module = _random_module(seed)
    expected = _likelihood(module, X, Y)
    for path, value in _leaves(module):
        if path == "head/kernel":
            expected += stats.laplace(0.0, 0.5).logpdf(value).sum()
        elif value.ndim >= 2:
            expected += stats.norm(0.0, 0.7).logpdf(value).sum()
        else:
            expected += stats.cauchy(0.0, 2.0).logpdf(value).sum()
    lp = pg.logpdf(classifier)
    # the module itself, its nnx.Param state, and the flat {path: array} dict are all accepted
    for value in (module, nnx.state(module, nnx.Param), nnx.to_pure_dict(nnx.state(module, nnx.Param)),
                  weights_of(module)):
        np.testing.assert_allclose(lp(X, net=value, y=Y), expected, rtol=2e-5)
    grads = jax.grad(lambda w: lp(X, net=w, y=Y))(weights_of(module))
    assert set(grads) == {"linear1/kernel", "linear1/bias", "head/kernel", "head/bias"}
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads.values())


def test_samples_are_instances_of_the_module_class_and_run_under_jit():
    draw = pg.sample_forward(classifier, jax.random.key(3), X)
    net = draw["net"]
    assert isinstance(net, MLP) and isinstance(net, nnx.Module)
    np.testing.assert_allclose(net(X), draw["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda n, x: n(x))(net, X), draw["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nnx.jit(lambda n, x: n(x))(net, X), draw["logits"], rtol=1e-5, atol=1e-6)
    # it carries the sampled parameters in nnx's own form
    assert net.head.kernel.get_value().shape == (5, 2)
    assert not np.allclose(net.head.kernel.get_value(), BODY.head.kernel.get_value())
    # the user's module is untouched, and a sample is accepted back by logpdf
    assert type(BODY) is MLP
    lp = pg.logpdf(classifier)
    np.testing.assert_allclose(lp(X, net=net, y=draw["y"]), lp(X, net=weights_of(net), y=draw["y"]), rtol=1e-6)


def test_batched_draws_map_over_the_batch_and_index_to_one_network():
    draws = pg.sample_forward(classifier, jax.random.key(4), X, num_samples=3)
    many = draws["net"]
    assert isinstance(many, MLP) and many.batch_shape == (3,)
    np.testing.assert_allclose(many(X), draws["logits"], rtol=1e-5, atol=1e-6)
    one = many[1]
    assert isinstance(one, MLP) and one.batch_shape == ()
    np.testing.assert_allclose(one(X), draws["logits"][1], rtol=1e-5, atol=1e-6)


def test_priors_by_pattern_first_match_wins_and_uncovered_parameters_are_trainable():
    layer = lift(BODY, dist.Normal(0.0, 5.0), priors={"head/kernel": dist.Normal(0.0, 1.0), "head/*": nn.TRAINABLE})
    assert layer.trainable_paths() == ("head/bias",)
    assert layer.assigned["head/kernel"].scale == 1.0 and layer.assigned["linear1/kernel"].scale == 5.0
    partial = lift(BODY, priors={"head/*": dist.Normal(0.0, 1.0)})
    assert sorted(partial.trainable_paths()) == ["linear1/bias", "linear1/kernel"]
    module = _random_module(5)
    head = sum(stats.norm(0.0, 1.0).logpdf(v).sum() for p, v in _leaves(module) if p.startswith("head/"))
    np.testing.assert_allclose(pg.logpdf(last_layer)(X, net=module, y=Y), head + _likelihood(module, X, Y), rtol=2e-5)


def test_sampling_a_partly_trainable_network_says_to_fit_first():
    with pytest.raises(ModelError, match=r"layer 'net' has trainable parameters.*linear1.*Hint: fit first") as info:
        pg.sample(last_layer, jax.random.key(0), X, y=Y, num_warmup=5, num_samples=5, num_chains=1, progress=False)
    assert info.value.node == "net"
    line = line_of(__file__, "net <~ lift(BODY, priors=", after="def last_layer(")
    assert info.value.location == f"test_flax.py:{line}"


def test_fit_trains_the_body_then_sample_runs_nuts_on_the_head_with_the_body_fixed():
    fit = pg.fit(last_layer, jax.random.key(0), X, y=Y, num_steps=30, progress=False)
    trained = fit.params["net"]
    assert isinstance(trained, MLP)
    assert not np.allclose(trained.linear1.kernel.get_value(), BODY.linear1.kernel.get_value())
    model = fit.model
    assert model.graph.obj("net").kind == "layer"
    # the fitted model's density is the head prior plus the likelihood, with the body at its trained values
    module = _random_module(6)
    nnx.update(module, nnx.state(trained, nnx.Param).filter(lambda path, _: path[0] == "linear1"))
    np.testing.assert_allclose(module.linear1.kernel.get_value(), trained.linear1.kernel.get_value())
    head = sum(stats.norm(0.0, 1.0).logpdf(v).sum() for p, v in _leaves(module) if p.startswith("head/"))
    np.testing.assert_allclose(pg.logpdf(model)(X, net=module, y=Y), head + _likelihood(module, X, Y), rtol=2e-5)
    # only the Bayesian head is a sampler coordinate: the fixed body has no density to sample
    from ppgraph.inference.problem import prepare

    problem = prepare(model, (X,), {"y": Y}, passes=("to_unconstrained",))
    assert sorted(problem.shapes["net"]) == ["head/bias", "head/kernel"]
    post = pg.sample(model, jax.random.key(1), X, y=Y, num_warmup=40, num_samples=15, num_chains=1, progress=False)
    nets = post.samples["net"]
    assert isinstance(nets, MLP) and nets.batch_shape == (1, 15)
    w = weights_of(nets)
    body = np.asarray(trained.linear1.kernel.get_value())
    np.testing.assert_allclose(w["linear1/kernel"], np.broadcast_to(body, (1, 15, 3, 5)), rtol=1e-6)
    assert float(np.std(np.asarray(w["head/kernel"]), axis=1).min()) > 0.0  # the head is sampled
    np.testing.assert_allclose(nets[0, 3](X), nets(X)[0, 3], rtol=1e-5, atol=1e-6)


def test_errors_name_the_pattern_the_path_and_the_shapes():
    with pytest.raises(ModelError, match=r"pattern 'haed/\*' matches no parameter.*head/kernel"):
        lift(BODY, priors={"haed/*": dist.Normal(0.0, 1.0)})
    with pytest.raises(ShapeError, match=r"weight 'head/bias' has shape \(3,\).*weight's shape \(2,\)"):
        lift(BODY, priors={"head/bias": dist.Normal(jnp.zeros(3), 1.0)}, prior=dist.Normal(0.0, 1.0))
    with pytest.raises(ModelError, match=r"needs a flax.nnx.Module, got function.*Hint"):
        lift(lambda x: x, dist.Normal(0.0, 1.0))
    with pytest.raises(ModelError, match="not a distribution"):
        lift(BODY, priors={"head/*": 1.0})
    with pytest.raises(ModelError, match=r"priors= must be a dict \{pattern: prior\}, got list"):
        lift(BODY, priors=[("head/*", dist.Normal(0.0, 1.0))])
    with pytest.raises(ModelError, match="no nnx.Param leaves"):
        lift(nnx.Dropout(0.5), dist.Normal(0.0, 1.0))


def test_an_equinox_module_given_to_the_flax_adapter_points_to_the_equinox_one():
    eqx = pytest.importorskip("equinox") if os.environ.get("PPGRAPH_REQUIRE_EXTRAS") != "1" else __import__("equinox")
    with pytest.raises(ModelError, match=r"Hint: this is an equinox module: use ppgraph.nn.equinox.lift"):
        lift(eqx.nn.Linear(2, 2, key=jax.random.key(0)), dist.Normal(0.0, 1.0))


def test_a_module_trained_in_place_after_lifting_is_read_again():
    module = nnx.clone(BODY)
    before = lift(module, dist.Normal(0.0, 1.0)).init(jax.random.key(0))
    trained = _random_module(7)
    nnx.update(module, nnx.state(trained, nnx.Param))  # e.g. an optimiser step on the user's module
    after = lift(module, dist.Normal(0.0, 1.0)).init(jax.random.key(0))
    np.testing.assert_allclose(after["head/kernel"], trained.head.kernel.get_value())
    assert not np.allclose(before["head/kernel"], after["head/kernel"])


def test_do_and_observe_take_a_plain_module():
    other = _random_module(8)
    draw = pg.sample_forward(pg.Model(pg.passes.do(classifier, net=other)), jax.random.key(0), X)
    np.testing.assert_allclose(draw["logits"], other(X), rtol=1e-5, atol=1e-6)
    observed = pg.Model(pg.passes.observe(classifier, net=other))
    np.testing.assert_allclose(pg.logpdf(observed)(X, y=Y), pg.logpdf(classifier)(X, net=other, y=Y), rtol=1e-6)


class Normed(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(3, 4, rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)

    def __call__(self, x):
        return self.bn(self.linear(x))


def test_modules_with_state_follow_train_and_eval_mode():
    module = Normed(nnx.Rngs(1))
    module.train()  # BatchNorm normalises with the batch's statistics and updates its own (a copy's, here)
    net = lift(module, dist.Normal(0.0, 1.0)).sample(jax.random.key(0), X.shape)
    out = np.asarray(jax.jit(lambda n, x: n(x))(net, X))
    np.testing.assert_allclose(np.mean(out, axis=0), net.bn.bias.get_value(), atol=1e-4)  # batch statistics
    stats_before = np.asarray(module.bn.mean.get_value())
    module.eval()
    net = lift(module, dist.Normal(0.0, 1.0)).network(weights_of(net))
    reference = nnx.clone(module)
    nnx.update(reference, nnx.state(net, nnx.Param))
    np.testing.assert_allclose(net(X), reference(jnp.asarray(X)), rtol=1e-5, atol=1e-6)  # running statistics
    np.testing.assert_allclose(module.bn.mean.get_value(), stats_before)  # the user's module is untouched


@pg.model
def hierarchical(x):
    s <~ dist.HalfNormal(1.0)
    net <~ lift(BODY, dist.Normal(0.0, s))
    logits = net(x)
    y <~ dist.Categorical(logits=logits)
    return y


def test_reparameterized_lifted_layer_still_samples_module_instances():
    noncentred = pg.Model(pg.passes.reparameterize(hierarchical))
    draw = pg.sample_forward(noncentred, jax.random.key(9), X)
    net, z = draw["net"], weights_of(draw["net_decentered"])  # z: the standardised weights (the node's value)
    assert isinstance(net, MLP)
    for path, value in weights_of(net).items():
        np.testing.assert_allclose(value, draw["s"] * z[path], rtol=1e-5)
    np.testing.assert_allclose(net(X), draw["logits"], rtol=1e-5, atol=1e-6)
