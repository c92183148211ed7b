"""pg.fit: trained weights against closed forms, the variational posterior against a conjugate posterior,
minibatch scaling, the refusal of unbounded objectives, and the fitted model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import special, stats

import ppgraph as pg
from ppgraph import dist, nn
from ppgraph.inference.fit import FitProblem, MeanFieldPosterior
from ppgraph.passes import bnn_to_trainable

PRIOR_SD = 1.0
NOISE = 0.5


@pg.model
def dense_regression(x):
    net <~ nn.Dense(1, dist.Normal(0.0, 1.0))
    y <~ dist.Normal(net(x)[:, 0], 0.5)
    return y


@pg.model
def hierarchical(x):
    scale <~ dist.HalfNormal(1.0)
    net <~ nn.Dense(1, dist.Normal(0.0, scale))
    y <~ dist.Normal(net(x)[:, 0], 0.5)
    return y


@pg.model
def noisy_regression(x):
    precision <~ dist.Gamma(3.0, 2.0)
    net <~ nn.Dense(1, dist.Normal(0.0, 1.0), bias_prior=nn.TRAINABLE)
    y <~ dist.Normal(net(x)[:, 0], 1.0 / jnp.sqrt(precision))
    return y


@pg.model
def with_aux(x):
    mu <~ dist.Normal(0.0, 1.0)
    net <~ nn.Dense(1, dist.Normal(0.0, 1.0))
    y <~ dist.Normal(mu + net(x)[:, 0], 1.0)
    z <~ dist.Normal(mu, 1.0)
    extra <~ pg.factor(-0.5 * jnp.sum((y - mu) ** 2) * 0.1)
    return y


@pg.model
def discrete(x):
    k <~ dist.Bernoulli(0.5)
    y <~ dist.Normal(k + x, 1.0)
    return y


def _data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x @ np.array([1.5, -0.7]) + 0.4 + NOISE * rng.normal(size=n)).astype(np.float32)
    return x, y


def _weights(net) -> np.ndarray:
    return np.r_[np.asarray(net.weights["kernel"])[:, 0], np.asarray(net.weights["bias"])]


class TestPointEstimates:
    def test_map_and_maximum_likelihood_match_closed_forms(self):
        x, y = _data(8)
        design = np.c_[x, np.ones(len(y))]
        ridge = np.linalg.solve(design.T @ design / NOISE**2 + np.eye(3) / PRIOR_SD**2, design.T @ y / NOISE**2)
        least_squares = np.linalg.lstsq(design, y, rcond=None)[0]
        opt = optax.adam(optax.exponential_decay(0.05, 1500, 0.05))

        fit_map = pg.fit(dense_regression, jax.random.key(0), x, y=y, optimizer=opt, num_steps=1500, progress=False)
        fit_ml = pg.fit(bnn_to_trainable(dense_regression, keep_prior=False), jax.random.key(0), x, y=y,
                        optimizer=opt, num_steps=1500, progress=False)
        np.testing.assert_allclose(_weights(fit_map.params["net"]), ridge, atol=2e-3)
        np.testing.assert_allclose(_weights(fit_ml.params["net"]), least_squares, atol=2e-3)
        # the prior matters: MAP and maximum likelihood differ by more than the tolerance
        assert np.abs(ridge - least_squares).max() > 0.02
        # without latents the loss is the negative log joint density at the trained weights
        lp = pg.logpdf(bnn_to_trainable(dense_regression))(x, y=y, net=fit_map.params["net"])
        assert fit_map.losses[-1] == pytest.approx(-float(lp), rel=1e-4)
        assert fit_map.losses.shape == (1500,) and fit_map.losses[-1] < fit_map.losses[0]
        assert isinstance(fit_map.posterior, MeanFieldPosterior) and fit_map.posterior.sample(jax.random.key(0), 3) == {}

    def test_trained_network_is_callable_and_jittable(self):
        x, y = _data(20)
        result = pg.fit(dense_regression, jax.random.key(1), x, y=y, num_steps=5, progress=False)
        net = result.params["net"]
        assert isinstance(net, nn.Network)
        expected = x @ np.asarray(net.weights["kernel"]) + np.asarray(net.weights["bias"])
        np.testing.assert_allclose(jax.jit(lambda n, v: n(v))(net, x), expected, rtol=1e-5)
        assert result.weights["net"]["kernel"] is net.weights["kernel"] or np.array_equal(
            result.weights["net"]["kernel"], net.weights["kernel"])

    def test_progress_bar(self, capsys):
        x, y = _data(20)
        pg.fit(dense_regression, jax.random.key(1), x, y=y, num_steps=10, progress=True)
        assert "pg.fit" in capsys.readouterr().err


@pytest.mark.slow
def test_noise_precision_posterior_matches_the_conjugate_posterior():
    """Given the weights, a Gamma prior on the precision is conjugate: the optimal q(log precision)
    is close to the exact log-Gamma posterior (mean digamma(a) - log(b), variance trigamma(a))."""
    x, y = _data(400, seed=3)
    opt = optax.adam(optax.exponential_decay(0.03, 4000, 0.02))
    result = pg.fit(noisy_regression, jax.random.key(2), x, y=y, optimizer=opt, num_steps=4000, progress=False)
    net = result.params["net"]
    design = np.c_[x, np.ones(len(y))]
    # the kernel has a N(0, 1) prior and the bias is trainable (flat): at the optimum the weights are the
    # penalised least-squares solution for the posterior mean precision (checked loosely), and the
    # precision's posterior given the fitted residuals is Gamma(3 + n/2, 2 + ssr/2)
    resid = y - net(x)[:, 0]
    a, b = 3.0 + len(y) / 2, 2.0 + float(np.sum(resid**2)) / 2
    mean, sd = special.digamma(a) - np.log(b), np.sqrt(special.polygamma(1, a))
    loc = float(result.posterior.loc["precision_unconstrained"])
    scale = float(result.posterior.scale["precision_unconstrained"])
    assert abs(loc - mean) < 0.25 * sd
    assert abs(scale / sd - 1.0) < 0.15
    least_squares = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(_weights(net), least_squares, atol=0.02)
    draws = result.posterior.sample(jax.random.key(3), 4000)["precision"]
    assert draws.shape == (4000,) and bool(jnp.all(draws > 0))
    exact = stats.gamma(a, scale=1 / b)
    assert float(draws.mean()) == pytest.approx(exact.mean(), rel=0.03)
    assert float(result.posterior.median()["precision"]) == pytest.approx(np.exp(loc), rel=1e-5)


class TestMinibatches:
    def test_expected_minibatch_loss_equals_the_full_loss(self):
        x, y = _data(60)
        full = FitProblem.build(with_aux, (x,), {"y": y, "z": 0.3})
        batched = FitProblem.build(with_aux, (x,), {"y": y, "z": 0.3}, batch_size=15)
        assert batched.num_data == 60 and batched.batch_size == 15
        assert set(batched.batched) == {"x", "y"}
        # the likelihood of the data and the factor reading it are scaled; the prior and z are not
        assert batched.scaled == frozenset({"y", "extra"})
        state = full.init(jax.random.key(0))
        key = jax.random.key(5)
        full_loss = float(full.loss(state, key))
        batches = [batched.batch(batched.data, jnp.asarray(step), jax.random.key(9)) for step in range(4)]
        rows = np.concatenate([np.asarray(b["y"]) for b in batches])
        assert sorted(rows.tolist()) == sorted(y.tolist())  # one epoch visits every row once
        mean_loss = np.mean([float(batched.loss(state, key, b)) for b in batches])
        assert mean_loss == pytest.approx(full_loss, rel=1e-5)
        # an unscaled minibatch loss would not: the scaling is what makes the estimate unbiased
        unscaled = np.mean([float(full.loss(state, key, b)) for b in batches])
        assert abs(unscaled - full_loss) > 1.0

    def test_minibatch_training_reaches_the_full_batch_answer(self):
        x, y = _data(200, seed=4)
        design = np.c_[x, np.ones(len(y))]
        ridge = np.linalg.solve(design.T @ design / NOISE**2 + np.eye(3), design.T @ y / NOISE**2)
        opt = optax.adam(optax.exponential_decay(0.03, 2000, 0.01))
        result = pg.fit(dense_regression, jax.random.key(0), x, y=y, optimizer=opt, num_steps=2000,
                        batch_size=20, progress=False)
        np.testing.assert_allclose(_weights(result.params["net"]), ridge, atol=0.02)

    def test_batch_size_at_least_the_data_is_full_batch(self):
        x, y = _data(30)
        problem = FitProblem.build(dense_regression, (x,), {"y": y}, batch_size=30)
        assert problem.batched == () and problem.batch_size is None


class TestErrors:
    def test_hierarchical_prior_refused(self):
        x, y = _data(20)
        with pytest.raises(pg.ModelError, match="the objective is unbounded") as info:
            pg.fit(hierarchical, jax.random.key(0), x, y=y, num_steps=5, progress=False)
        err = info.value
        assert err.node == "net"
        text = str(err)
        assert "layer 'net'" in text and "'scale'" in text and "unbounded" in text
        assert "keep_prior=False" in text and "pg.sample" in text and "fixed prior" in text

    def test_ways_out_of_the_refusal(self):
        x, y = _data(20)
        FitProblem.build(hierarchical, (x,), {"y": y, "scale": 1.0})  # a fixed (observed) scale is fine
        problem = FitProblem.build(bnn_to_trainable(hierarchical, keep_prior=False), (x,), {"y": y})
        assert problem.parameters == ("net",) and problem.latents == ("scale_unconstrained",)

    def test_discrete_latent_refused(self):
        with pytest.raises(pg.ModelError, match="discrete") as info:
            pg.fit(discrete, jax.random.key(0), jnp.zeros(3), y=jnp.zeros(3), progress=False)
        assert info.value.node == "k"

    def test_local_latent_with_minibatches_refused(self):
        g = pg.GraphBuilder("local")
        x = g.argument("x")
        z = g.random("z", dist.Normal, x, 1.0)
        g.random("y", dist.Normal, z, 1.0)
        with pytest.raises(pg.ModelError, match="depends on the minibatched data") as info:
            FitProblem.build(g.build(), (jnp.zeros(10),), {"y": jnp.zeros(10)}, batch_size=2)
        assert info.value.node == "z"

    @pytest.mark.parametrize("kwargs, message", [
        ({"num_steps": 0}, "num_steps must be a positive int, got 0"),
        ({"num_steps": 1.5}, "num_steps must be a positive int, got 1.5"),
        ({"batch_size": 0}, "batch_size must be a positive int, got 0"),
    ])
    def test_bad_settings(self, kwargs, message):
        x, y = _data(10)
        with pytest.raises(pg.ModelError, match=message):
            pg.fit(dense_regression, jax.random.key(0), x, y=y, progress=False, **kwargs)

    def test_failure_in_generated_code_names_the_node(self):
        x, y = _data(10)
        with pytest.raises(pg.ShapeError, match=r"incompatible shapes for broadcasting: \(4,\), \(10,\)") as info:
            pg.fit(dense_regression, jax.random.key(0), x, y=y[:4], num_steps=3, progress=False)
        assert info.value.node == "y"

    def test_missing_argument(self):
        with pytest.raises(pg.ModelError, match="missing argument"):
            pg.fit(dense_regression, jax.random.key(0), y=jnp.zeros(3), progress=False)


class TestFittedModel:
    def test_logpdf_of_the_fitted_model(self):
        x, y = _data(30)
        result = pg.fit(noisy_regression, jax.random.key(0), x, y=y, optimizer=optax.adam(0.05), num_steps=50,
                        progress=False)
        net = result.params["net"]
        graph = result.model.graph
        assert graph.obj("net").kind == "deterministic" and list(graph.predecessors("net")) == []
        lp = pg.logpdf(result.model)(x, y=y, precision=2.0)
        mean = np.asarray(net(x))[:, 0]
        expected = stats.gamma(3.0, scale=0.5).logpdf(2.0) + stats.norm.logpdf(y, mean, 1 / np.sqrt(2.0)).sum()
        assert float(lp) == pytest.approx(expected, rel=1e-5)
        draw = pg.sample_forward(result.model, jax.random.key(1), x)
        np.testing.assert_allclose(draw["net"].weights["kernel"], net.weights["kernel"])

    @pytest.mark.slow
    def test_nuts_on_the_remaining_latents(self):
        x, y = _data(100, seed=5)
        result = pg.fit(noisy_regression, jax.random.key(0), x, y=y, optimizer=optax.adam(0.03), num_steps=1500,
                        progress=False)
        post = pg.sample(result.model, jax.random.key(1), x, y=y, num_warmup=300, num_samples=500,
                         num_chains=2, progress=False)
        assert set(post.samples) >= {"precision"}
        resid = y - np.asarray(result.params["net"](x))[:, 0]
        exact = stats.gamma(3.0 + len(y) / 2, scale=1 / (2.0 + float(np.sum(resid**2)) / 2))
        assert float(post.samples["precision"].mean()) == pytest.approx(exact.mean(), rel=0.05)
        vi = result.posterior.sample(jax.random.key(2), 2000)["precision"]
        assert float(vi.mean()) == pytest.approx(exact.mean(), rel=0.05)
