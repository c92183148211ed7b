"""pg.laplace: exact on Gaussian-conjugate models (mean and covariance against the closed form), the
diagonal and last-layer variants against closed forms, tempering, draws in constrained space,
predictive use and errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph import dist, nn
from ppgraph.inference.laplace import Laplace, last_layer_mask

NOISE = 0.5
PRIOR_SD = 2.0


@pg.model
def linear(x):
    beta <~ dist.Normal(0.0, PRIOR_SD).expand([3])
    y <~ dist.Normal(x @ beta, NOISE)
    return y


@pg.model
def positive_scale():
    sigma <~ dist.HalfNormal(1.0)
    y <~ dist.Normal(0.0, sigma)
    return y


@pg.model
def small_net(x):
    net <~ nn.Serial(nn.Dense(3, dist.Normal(0.0, 1.0)), nn.Tanh(), nn.Dense(1, dist.Normal(0.0, 1.0)))
    y <~ dist.Normal(net(x)[:, 0], NOISE)
    return y


def data(n: int = 30) -> tuple[jax.Array, jax.Array]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([1.0, -0.5, 2.0]) + NOISE * rng.normal(size=n)
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)


def closed_form(x: jax.Array, y: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and covariance of Bayesian linear regression with known noise (float64)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    precision = x.T @ x / NOISE**2 + np.eye(x.shape[1]) / PRIOR_SD**2
    cov = np.linalg.inv(precision)
    return cov @ x.T @ y / NOISE**2, cov


class TestConjugate:
    def test_full_is_exact(self):
        x, y = data()
        approx = pg.laplace(linear, 0, x, y=y)
        mean, cov = closed_form(x, y)
        np.testing.assert_allclose(np.asarray(approx.mean["beta"]), mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(approx.loc["beta"]), mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(approx.covariance()), cov, rtol=1e-3, atol=1e-7)
        assert isinstance(approx, Laplace) and approx.num_parameters == 3

    def test_draws_have_the_closed_form_moments(self):
        x, y = data()
        draws = pg.laplace(linear, 0, x, y=y).sample(1, 20000)["beta"]
        mean, cov = closed_form(x, y)
        assert draws.shape == (20000, 3)
        np.testing.assert_allclose(np.mean(np.asarray(draws), axis=0), mean, atol=4 * np.sqrt(cov.diagonal().max() / 20000))
        np.testing.assert_allclose(np.cov(np.asarray(draws, np.float64).T), cov, rtol=0.05, atol=0.05 * cov.max())

    def test_diag_is_the_diagonal_of_the_precision(self):
        x, y = data()
        approx = pg.laplace(linear, 0, x, y=y, hessian="diag")
        precision = np.linalg.inv(closed_form(x, y)[1])
        np.testing.assert_allclose(np.asarray(approx.precision), precision.diagonal(), rtol=1e-4)
        np.testing.assert_allclose(np.asarray(approx.covariance()), np.diag(1 / precision.diagonal()), rtol=1e-4)

    @pytest.mark.parametrize("temperature", [0.5, 3.0])
    def test_temperature_scales_the_covariance(self, temperature):
        x, y = data()
        approx = pg.laplace(linear, 0, x, y=y, temperature=temperature)
        np.testing.assert_allclose(np.asarray(approx.covariance()), temperature * closed_form(x, y)[1], rtol=1e-3)
        sd = np.asarray(approx.sample(2, 20000)["beta"]).std(axis=0)
        np.testing.assert_allclose(sd, np.sqrt(temperature * closed_form(x, y)[1].diagonal()), rtol=0.05)


class TestConstrained:
    def test_mode_in_unconstrained_space(self):
        # log p(u) = log HalfNormal(e^u) + u + log Normal(y | 0, e^u): the mode solves y^2 / s^2 - s^2 = 0 -> s = sqrt|y|
        y = 0.7
        approx = pg.laplace(positive_scale, 0, y=y)
        np.testing.assert_allclose(float(approx.mean["sigma"]), np.sqrt(y), rtol=1e-4)
        # d2/du2 of (-e^{2u}/2 + u - u - y^2 e^{-2u}/2) = -2 e^{2u} - 2 y^2 e^{-2u} = -4 y at the mode
        np.testing.assert_allclose(float(approx.precision[0, 0]), 4 * y, rtol=1e-3)
        draws = approx.sample(3, 500)["sigma"]
        assert draws.shape == (500,) and bool(jnp.all(draws > 0))


class TestNetworks:
    def test_last_layer_is_the_conjugate_posterior_of_the_head(self):
        x, y = data(40)
        approx = pg.laplace(small_net, 0, x, y=y, hessian="last_layer")
        weights = approx.loc["net"]
        # given the body at the MAP the head is Bayesian linear regression on the features [1, h]
        h = np.tanh(np.asarray(x) @ np.asarray(weights["0"]["kernel"]) + np.asarray(weights["0"]["bias"]))
        features = np.concatenate([np.ones((len(h), 1)), h], axis=1).astype(np.float64)  # bias, then kernel
        precision = features.T @ features / NOISE**2 + np.eye(4)
        assert approx.num_parameters == 4
        np.testing.assert_allclose(np.asarray(approx.precision), precision, rtol=2e-3, atol=1e-3)
        draws = approx.sample(1, 7)
        nets = draws["net"]
        assert isinstance(nets, nn.Network) and nets.batch_shape == (7,)
        body = jax.tree.leaves(nets.weights["0"])
        assert all(bool(jnp.all(leaf == leaf[0])) for leaf in body)  # the body stays at the MAP
        assert not bool(jnp.all(nets.weights["2"]["kernel"] == nets.weights["2"]["kernel"][0]))

    def test_diag_on_a_network_and_predictive(self):
        x, y = data(40)
        approx = pg.laplace(small_net, 0, x, y=y, hessian="diag")
        assert approx.precision.shape == (3 * 3 + 3 + 3 + 1,) and bool(jnp.all(approx.precision > 0))
        pred = approx.predictive(1, x[:5], num_samples=11)
        assert pred["y"].shape == (1, 11, 5)
        post = approx.posterior(2, 13)
        assert post.samples["net"].batch_shape == (1, 13)
        assert pg.sample_predictive(small_net, 3, post, x[:4])["y"].shape == (1, 13, 4)

    def test_init_from_a_fit_result(self):
        x, y = data(40)
        import optax

        fitted = pg.fit(small_net, jax.random.key(0), x, y=y, optimizer=optax.adam(0.05), num_steps=300, progress=False)
        approx = pg.laplace(small_net, 1, x, y=y, hessian="last_layer", init=fitted, num_steps=200)
        lp_fit = pg.laplace(small_net, 1, x, y=y, hessian="last_layer", init=fitted, num_steps=0).log_density
        assert approx.log_density >= lp_fit - 1e-3  # the search only climbs from the trained network

    def test_last_layer_mask_orders_positions_as_numbers(self):
        w = {str(i): {"kernel": jnp.ones((2, 2))} for i in (0, 2, 10)}
        mask = last_layer_mask(w)
        assert [mask[k]["kernel"] for k in ("0", "2", "10")] == [False, False, True]


class TestErrors:
    def test_unknown_hessian(self):
        with pytest.raises(pg.ModelError, match="unknown hessian 'kfac'"):
            pg.laplace(linear, 0, data()[0], y=data()[1], hessian="kfac")

    def test_last_layer_needs_a_network(self):
        with pytest.raises(pg.ModelError, match="needs a network"):
            pg.laplace(linear, 0, data()[0], y=data()[1], hessian="last_layer")

    def test_not_a_mode(self):
        @pg.model
        def cauchy():
            mu <~ dist.Normal(0.0, 100.0)
            y <~ dist.Cauchy(mu, 0.1)
            return y

        # far from the data the Cauchy log likelihood is convex: no search, no mode
        with pytest.raises(pg.ModelError, match="not positive definite"):
            pg.laplace(cauchy, 0, y=0.0, init={"mu": 5.0}, num_steps=0)
        with pytest.raises(pg.ModelError, match="not negative at the end of the search.*'mu'"):
            pg.laplace(cauchy, 0, y=0.0, init={"mu": 5.0}, num_steps=0, hessian="diag")

    def test_bad_init(self):
        with pytest.raises(pg.ModelError, match=r"init names \['nu'\]"):
            pg.laplace(linear, 0, data()[0], y=data()[1], init={"nu": 1.0})
        with pytest.raises(pg.ModelError, match="does not match its shape"):
            pg.laplace(linear, 0, data()[0], y=data()[1], init={"beta": jnp.zeros(2)})

    def test_bad_num_samples(self):
        approx = pg.laplace(linear, 0, data()[0], y=data()[1])
        with pytest.raises(pg.ModelError, match="num_samples must be a positive int"):
            approx.sample(0, 0)


class TestLiftedModules:
    def test_flax_head_by_pattern(self):
        try:
            from flax import nnx

            from ppgraph.nn.flax import lift
        except ImportError as err:  # pragma: no cover - depends on the environment
            from ppgraph_tests.conftest import skip_or_fail

            skip_or_fail(f"flax is not installed ({err})")

        class Net(nnx.Module):
            def __init__(self, rngs):
                self.body = nnx.Linear(3, 4, rngs=rngs)
                self.head = nnx.Linear(4, 1, rngs=rngs)

            def __call__(self, x):
                return self.head(jnp.tanh(self.body(x)))

        template = Net(nnx.Rngs(0))

        @pg.model
        def flax_net(x):
            net <~ lift(template, dist.Normal(0.0, 1.0))
            y <~ dist.Normal(net(x)[:, 0], NOISE)
            return y

        x, y = data(40)
        with pytest.raises(pg.ModelError, match=r"not known from its weights.*last_layer=PATTERN.*'head/\*'"):
            pg.laplace(flax_net, 0, x, y=y, hessian="last_layer")
        approx = pg.laplace(flax_net, 0, x, y=y, hessian="last_layer", last_layer="head/*")
        weights = approx.loc["net"]
        h = np.tanh(np.asarray(x) @ np.asarray(weights["body/kernel"]) + np.asarray(weights["body/bias"]))
        features = np.concatenate([np.ones((len(h), 1)), h], axis=1).astype(np.float64)  # head/bias, head/kernel
        np.testing.assert_allclose(np.asarray(approx.precision), features.T @ features / NOISE**2 + np.eye(5),
                                   rtol=2e-3, atol=1e-3)
        nets = approx.sample(1, 3)["net"]
        assert isinstance(nets, Net) and isinstance(nets[0], Net)  # batched draws, indexed to one network
        assert nets[0](x).shape == (40, 1)

        # partial stochasticity: the body trained by pg.fit and fixed in fit.model, the head Bayesian
        @pg.model
        def head_only(x):
            net <~ lift(template, priors={"head/*": dist.Normal(0.0, 1.0)})
            y <~ dist.Normal(net(x)[:, 0], NOISE)
            return y

        import optax

        fitted = pg.fit(head_only, jax.random.key(0), x, y=y, optimizer=optax.adam(0.05), num_steps=200,
                        progress=False)
        approx = pg.laplace(fitted.model, 0, x, y=y, hessian="full")
        assert approx.num_parameters == 5  # the fixed body is no coordinate of the Gaussian
        body = fitted.params["net"].body
        h = np.tanh(np.asarray(x) @ np.asarray(body.kernel[...]) + np.asarray(body.bias[...]))
        features = np.concatenate([np.ones((len(h), 1)), h], axis=1).astype(np.float64)
        np.testing.assert_allclose(np.asarray(approx.precision), features.T @ features / NOISE**2 + np.eye(5),
                                   rtol=2e-3, atol=1e-3)
        heads = approx.sample(2, 4)["net"]
        np.testing.assert_allclose(np.asarray(heads[0].body.kernel[...]), np.asarray(body.kernel[...]))
