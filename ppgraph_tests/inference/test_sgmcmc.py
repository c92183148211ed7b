"""SGLD / SGHMC in pg.sample: the conjugate Gaussian posterior (closed form), full-batch and minibatch;
tempered posteriors (sd * sqrt(T), also for pg.fit); the default step size from the exact curvature;
schedules, thinning, Posterior tools, networks and refusals."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ppgraph as pg
from ppgraph import dist, nn
from ppgraph.inference.sgmcmc import (
    DEFAULT_SGHMC_SCALE,
    DEFAULT_SGLD_SCALE,
    SGHMC,
    SGLD,
    cyclical_schedule,
    largest_curvature,
)

PRIOR_SD = 10.0
N = 100


@pg.model
def gaussian_mean():
    mu <~ dist.Normal(0.0, PRIOR_SD)
    y <~ dist.Normal(mu, 1.0)
    return y


@pg.model
def gaussian_vector(x):
    beta <~ dist.Normal(0.0, 1.0).expand([2])
    y <~ dist.Normal(x @ beta, 0.5)
    return y


Y = jnp.asarray(np.random.default_rng(0).normal(3.0, 1.0, N), dtype=jnp.float32)


def exact(y: jax.Array = Y, prior_sd: float = PRIOR_SD) -> tuple[float, float]:
    """Closed-form posterior mean and sd of mu (Normal prior, unit-variance Normal likelihood)."""
    precision = 1.0 / prior_sd**2 + len(y)
    return float(np.sum(np.asarray(y, np.float64)) / precision), float(precision**-0.5)


def run(kernel, **options):
    settings = {"num_warmup": 300, "num_samples": 1000, "num_chains": 4, "progress": False, **options}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # r_hat warnings of short chains: the moments below judge
        return pg.sample(gaussian_mean, jax.random.key(1), kernel=kernel, y=Y, **settings)


def moments(post) -> tuple[float, float, float]:
    """Mean, sd and the Monte Carlo standard error of the mean (ArviZ bulk ESS)."""
    draws = np.asarray(post.samples["mu"], np.float64)
    ess = float(post.summary().loc["mu", "ess_bulk"])
    return draws.mean(), draws.std(), draws.std() / np.sqrt(ess)


class TestConjugateGaussian:
    def test_sgld_full_batch(self):
        post = run("sgld", thinning=5)
        mean, sd, se = moments(post)
        m, s = exact()
        assert abs(mean - m) < 4 * se + 0.01
        # SGLD on a Gaussian of precision lam: stationary variance 1 / (lam (1 - eps lam / 2))
        eps = float(post.info["step_size"][0])
        lam = 1.0 / s**2
        assert abs(sd - (lam * (1 - eps * lam / 2)) ** -0.5) < 0.07 * s
        assert post.samples["mu"].shape == (4, 1000)

    @pytest.mark.slow
    def test_sgld_minibatch(self):
        post = run("sgld", batch_size=20, thinning=5)
        mean, sd, se = moments(post)
        m, s = exact()
        assert post.info["batch_size"] == 20 and post.info["num_data"] == N
        assert abs(mean - m) < 4 * se + 0.01
        assert abs(sd - s) < 0.1 * s

    def test_sghmc_full_batch(self):
        post = run("sghmc", num_samples=500)
        mean, sd, se = moments(post)
        m, s = exact()
        assert abs(mean - m) < 4 * se + 0.01
        assert abs(sd - s) < 0.07 * s  # BlackJAX's Euler scheme: variance inflated ~3% at the defaults

    @pytest.mark.slow
    def test_sghmc_minibatch(self):
        # one minibatch per draw (BlackJAX): its noise needs a small step over a long trajectory
        post = run(SGHMC(num_integration_steps=100), batch_size=50, step_size=5e-4, num_samples=500)
        mean, sd, se = moments(post)
        m, s = exact()
        assert abs(mean - m) < 4 * se + 0.01
        assert abs(sd - s) < 0.1 * s

    def test_minibatch_changes_the_gradient_not_the_target(self):
        # the minibatch estimate of the log density is unbiased: its mean over one epoch is the full one
        from ppgraph.inference.fit_problem import FitProblem

        problem = FitProblem.build(gaussian_mean, (), {"y": Y}, 20, bounded=False)
        full = FitProblem.build(gaussian_mean, (), {"y": Y}, None, bounded=False)
        values = {"mu": jnp.asarray(2.5)}
        epoch = [problem.log_joint(values, problem.batch(problem.data, jnp.asarray(i), jax.random.key(0)))
                 for i in range(N // 20)]
        np.testing.assert_allclose(np.mean(epoch), full.log_joint(values), rtol=1e-5)


class TestDefaultStepSize:
    def test_curvature_of_a_gaussian(self):
        precision = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        f = lambda x: -0.5 * x @ precision @ x  # noqa: E731
        expected = float(np.linalg.eigvalsh(np.asarray(precision)).max())
        assert float(largest_curvature(f, jnp.ones(2), jax.random.key(0))) == pytest.approx(expected, rel=1e-4)

    @pytest.mark.parametrize("kernel, rule", [
        ("sgld", lambda lam: DEFAULT_SGLD_SCALE / lam),
        ("sghmc", lambda lam: DEFAULT_SGHMC_SCALE / np.sqrt(lam)),
    ])
    def test_step_from_the_posterior_precision(self, kernel, rule):
        post = run(kernel, num_warmup=10, num_samples=5)
        lam = 1.0 / PRIOR_SD**2 + N  # the Hessian of the log density, exactly
        np.testing.assert_allclose(np.asarray(post.info["step_size"]), rule(lam), rtol=1e-4)
        np.testing.assert_allclose(np.asarray(post.stats["step_size"]), rule(lam), rtol=1e-4)


class TestTemperature:
    @pytest.mark.parametrize("temperature", [0.25, 4.0])
    def test_sgld_scales_sd_by_sqrt_temperature(self, temperature):
        post = run("sgld", thinning=5, temperature=temperature)
        mean, sd, se = moments(post)
        m, s = exact()
        assert abs(mean - m) < 4 * se + 0.01
        assert abs(sd - s * np.sqrt(temperature)) < 0.08 * s * np.sqrt(temperature)
        assert post.info["temperature"] == temperature

    def test_fit_variational_sd_scales_by_sqrt_temperature(self):
        sds = {}
        for t in (1.0, 4.0):
            result = pg.fit(gaussian_mean, jax.random.key(0), y=Y, optimizer=optax.adam(0.02), num_steps=3000,
                            progress=False, temperature=t)
            sds[t] = float(result.posterior.scale["mu"])
            assert float(result.posterior.loc["mu"]) == pytest.approx(exact()[0], abs=0.05)
        s = exact()[1]
        assert sds[1.0] == pytest.approx(s, rel=0.15)
        assert sds[4.0] == pytest.approx(2 * s, rel=0.15)

    @pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), "cold", True])
    def test_bad_temperature(self, bad):
        with pytest.raises(pg.ModelError, match="temperature must be a positive number"):
            run("sgld", temperature=bad, num_warmup=1, num_samples=1)
        with pytest.raises(pg.ModelError, match="temperature must be a positive number"):
            pg.fit(gaussian_mean, 0, y=Y, num_steps=1, progress=False, temperature=bad)


class TestOptions:
    def test_schedule_and_thinning(self):
        schedule = cyclical_schedule(1e-3, num_steps=60, num_cycles=2)
        post = run("sgld", step_size=schedule, num_warmup=10, num_samples=5, thinning=10, num_chains=1)
        # the recorded step size is the schedule's at the last step of each kept draw: 10 + 10 j + 9
        expected = [float(schedule(10 + 10 * j + 9)) for j in range(5)]
        np.testing.assert_allclose(np.asarray(post.stats["step_size"][0]), expected, rtol=1e-5)
        assert post.samples["mu"].shape == (1, 5)

    def test_cyclical_schedule(self):
        f = cyclical_schedule(2.0, num_steps=10, num_cycles=2)
        got = [float(f(i)) for i in range(10)]
        expected = [1.0 * (np.cos(np.pi * (i % 5) / 5) + 1) for i in range(10)]
        np.testing.assert_allclose(got, expected, rtol=1e-6)

    def test_posterior_tools(self):
        x = jnp.asarray(np.random.default_rng(1).normal(size=(40, 2)), jnp.float32)
        y = x @ jnp.array([1.0, -2.0]) + 0.5 * jnp.asarray(np.random.default_rng(2).normal(size=40), jnp.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # r_hat of short chains
            post = pg.sample(gaussian_vector, 0, x, y=y, kernel="sghmc", batch_size=10, num_warmup=100,
                             num_samples=50, num_chains=2, progress=False)
        assert post.kernel == "sghmc" and post.samples["beta"].shape == (2, 50, 2)
        table = post.summary()
        assert list(table.index) == ["beta[0]", "beta[1]"]
        assert "step_size" in post.to_arviz().sample_stats
        pred = pg.sample_predictive(gaussian_vector, 1, post, x[:3])
        assert pred["y"].shape == (2, 50, 3)

    def test_compiled_run_is_reused_with_new_data(self):
        # same shapes, new data: the cached program must read the new data, not the first call's
        first = run("sgld", num_warmup=100, num_samples=200, num_chains=1, step_size=1e-3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            second = pg.sample(gaussian_mean, jax.random.key(1), kernel="sgld", y=Y + 5.0, num_warmup=100,
                               num_samples=200, num_chains=1, step_size=1e-3, progress=False)
        shift = float(second.samples["mu"].mean() - first.samples["mu"].mean())
        assert shift == pytest.approx(5.0 * N / (N + 1 / PRIOR_SD**2), abs=0.05)

    def test_explicit_evaluator_and_keywords_combine(self):
        post = run(SGLD(thinning=2), step_size=1e-4, num_warmup=5, num_samples=3, num_chains=1)
        assert post.info["kernel"] == SGLD(step_size=1e-4, thinning=2)

    @pytest.mark.parametrize("options, match", [
        ({"step_size": -1.0}, "step_size must be a positive number"),
        ({"step_size": "big"}, "step_size must be a positive number"),
        ({"thinning": 0}, "thinning must be an int >= 1"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
    ])
    def test_bad_options(self, options, match):
        with pytest.raises(pg.ModelError, match=match):
            run("sgld", num_warmup=1, num_samples=1, **options)

    @pytest.mark.parametrize("options", [{"batch_size": 10}, {"step_size": 0.1}, {"temperature": 2.0},
                                         {"thinning": 2}])
    def test_options_refused_for_nuts(self, options):
        with pytest.raises(pg.ModelError, match="options? of the stochastic-gradient kernels, not of kernel 'nuts'"):
            run("nuts", **options)

    def test_divergence_is_an_error(self):
        with pytest.raises(pg.ModelError, match=r"sgld diverged.*lower step_size"):
            run("sgld", step_size=1.0, num_warmup=50, num_samples=5)


@pg.model
def hierarchical_regression(x):
    scale <~ dist.HalfNormal(1.0)
    net <~ nn.Serial(nn.Dense(8, dist.Normal(0.0, scale)), nn.Tanh(), nn.Dense(1, dist.Normal(0.0, scale)))
    mu = net(x)[:, 0]
    y <~ dist.Normal(mu, 0.1)
    return y


class TestNetworks:
    @pytest.mark.slow
    def test_sghmc_on_a_hierarchical_network(self):
        # a latent weight scale: refused by pg.fit (unbounded objective), fine for a sampler
        x = jnp.linspace(-2.0, 2.0, 64)[:, None]
        y = jnp.sin(x[:, 0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = pg.sample(hierarchical_regression, 0, x, y=y, kernel="sghmc", batch_size=16, num_warmup=300,
                             num_samples=40, num_chains=2, progress=False)
        nets = post.samples["net"]
        assert isinstance(nets, nn.Network) and nets.batch_shape == (2, 40)
        assert bool(jnp.all(post.samples["scale"] > 0))
        fitted = nets(x)[..., 0].mean(axis=(0, 1))
        assert float(jnp.mean((fitted - y) ** 2)) < 0.1  # learned the curve (variance of sin: ~0.4)
        pred = pg.sample_predictive(hierarchical_regression, 1, post, x[:5])
        assert pred["y"].shape == (2, 40, 5)

    def test_trainable_parameters_are_refused(self):
        g = pg.GraphBuilder("with_parameter")
        mu = g.parameter("mu", 0.0)
        g.random("y", dist.Normal, mu, 1.0)
        with pytest.raises(pg.ModelError, match="pg.fit"):
            pg.sample(g.build(), 0, y=Y, kernel="sgld", num_warmup=1, num_samples=1, progress=False)


@pg.model
def mixture(n):
    mu <~ dist.Normal(0.0, 5.0).expand([2])
    z <~ dist.Categorical(probs=jnp.array([0.5, 0.5])).expand([n])
    y <~ dist.Normal(mu[z], 1.0)
    return y


class TestMarginalised:
    Y = jnp.concatenate([jnp.full(20, -3.0), jnp.full(20, 3.0)])

    def test_full_batch_on_the_marginalised_density(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = pg.sample(mixture, 0, 40, y=self.Y, kernel="sghmc", num_warmup=200, num_samples=50,
                             num_chains=1, progress=False)
        assert post.samples["z"].shape == (1, 50, 40)  # recovered exactly from the marginalised draws
        centres = np.sort(np.asarray(post.samples["mu"]).mean(axis=(0, 1)))
        np.testing.assert_allclose(centres, [-3.0, 3.0], atol=0.5)

    def test_minibatches_are_refused(self):
        with pytest.raises(pg.ModelError, match="'y' became part of a marginalised block.*batch_size=None"):
            pg.sample(mixture, 0, 40, y=self.Y, kernel="sgld", batch_size=10, num_warmup=1, num_samples=1,
                      progress=False)
