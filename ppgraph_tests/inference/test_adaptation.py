"""nutpie's Fisher mass-matrix adaptations (ppgraph/inference/adaptation.py), diagonal and low-rank.

Oracles: on a Gaussian N(m, diag(s**2)) the Fisher estimate sqrt(Var[x] / Var[grad])
is s**2 exactly from any draws (the gradient is affine in x); on a correlated
Gaussian N(m, S) the low-rank estimate with no eigenvalue cutoff is S exactly
(the geometric mean of Cov[x] and Cov[grad]^-1 = S^-1 Cov[x]^-1 S^-1 is S) once
the draws span the space; the switch keeps only the background draws (checked
against numpy); the adapted metric of a run lands near s**2; posteriors against
analytic answers (conjugate linear regression with known noise) and posteriordb's
reference (eight schools, non-centred).
"""

from __future__ import annotations

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph import dist
from ppgraph.errors import ModelError
from ppgraph.inference import HMC, NUTS
from ppgraph.inference.adaptation import (
    ADAPTATIONS,
    fisher_adaptation,
    fisher_schedule,
    gradient_init,
    low_rank_adaptation,
    low_rank_buffer_size,
    low_rank_metric,
)

QUIET = pytest.mark.filterwarnings("ignore::ppgraph.inference.SamplingWarning")
SCALES = np.array([0.01, 0.3, 1.0, 20.0, 500.0], dtype=np.float32)


def _feed(state, update, xs, gs, keep=None):
    for k, (x, g) in enumerate(zip(xs, gs)):
        state = update(state, jnp.asarray(x), jnp.asarray(g), True if keep is None else keep[k])
    return state


def _fisher(xs, gs):
    return np.sqrt(np.var(xs, axis=0) / np.var(gs, axis=0))


# -- the estimator ----------------------------------------------------------------------------------
def test_fisher_estimate_is_exact_on_a_diagonal_gaussian():
    rng = np.random.default_rng(0)
    m = np.array([1.0, -2.0, 0.0, 5.0, 100.0])
    xs = m + SCALES * rng.normal(size=(6, 5))
    gs = -(xs - m) / SCALES**2
    init, update, _ = fisher_adaptation()
    state = _feed(init(jnp.asarray(xs[0]), jnp.asarray(gs[0])), update, xs[1:], gs[1:])
    np.testing.assert_allclose(np.asarray(state.inverse_mass_matrix), SCALES**2, rtol=1e-3)
    # the variance of the draws alone (Stan's estimator) is far off from 6 draws: the oracle can fail
    assert np.max(np.abs(np.var(xs, axis=0, ddof=1) / SCALES**2 - 1)) > 0.2


def test_gradient_initialisation_and_the_first_estimates():
    init, update, _ = fisher_adaptation()
    grad = jnp.array([-4.0, 0.5, 0.0])
    state = init({"a": jnp.zeros(2), "b": jnp.zeros(())}, {"a": grad[:2], "b": grad[2]})  # pytrees are flattened
    np.testing.assert_allclose(np.asarray(state.inverse_mass_matrix), [0.25, 2.0, 1.0])
    assert np.asarray(gradient_init(grad)).tolist() == [0.25, 2.0, 1.0]
    state = update(state, jnp.ones(3), jnp.ones(3))
    assert int(state.num_estimates) == 0  # two draws: still the gradient guess
    np.testing.assert_allclose(np.asarray(state.inverse_mass_matrix), [0.25, 2.0, 1.0])
    state = update(state, 2 * jnp.ones(3), -jnp.ones(3))
    assert int(state.num_estimates) == 1


def test_switch_keeps_the_background_draws_and_skipped_draws_are_left_out():
    rng = np.random.default_rng(1)
    xs, gs = rng.normal(size=(12, 4)), rng.gamma(2.0, size=(12, 4))  # not Gaussian: the ratio is not constant
    init, update, final = fisher_adaptation()
    state = _feed(init(jnp.asarray(xs[0]), jnp.asarray(gs[0])), update, xs[1:6], gs[1:6])
    np.testing.assert_allclose(np.asarray(state.inverse_mass_matrix), _fisher(xs[:6], gs[:6]), rtol=1e-4)
    state = final(state)  # the background held the same draws: same metric, fresh background
    np.testing.assert_allclose(np.asarray(state.inverse_mass_matrix), _fisher(xs[:6], gs[:6]), rtol=1e-4)
    keep = [True, False, True, True, True, True]
    state = _feed(state, update, xs[6:], gs[6:], keep)
    kept = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]
    np.testing.assert_allclose(np.asarray(state.inverse_mass_matrix), _fisher(xs[kept], gs[kept]), rtol=1e-4)
    state = final(state)  # now only the draws since the switch
    np.testing.assert_allclose(np.asarray(state.inverse_mass_matrix), _fisher(xs[[6, 8, 9, 10, 11]],
                                                                              gs[[6, 8, 9, 10, 11]]), rtol=1e-4)


@pytest.mark.parametrize("n", [10, 100, 500, 1000, 2000])
def test_schedule_follows_nutpie(n):
    rows = fisher_schedule(n)
    final_start = n - int(0.15 * n)
    assert rows.shape == (n, 2) and rows[:final_start, 0].all() and not rows[final_start:].any()
    switches = np.flatnonzero(rows[:, 1])
    early = switches[switches < int(0.3 * n)]
    assert np.all(np.diff(np.concatenate([[-2], early])) == 10)  # every 10 draws (the initial point counts)
    later = np.diff(switches[len(early) - 1:]) if len(early) else np.diff(switches)
    assert np.all(later[1:] > later[:-1])  # growing windows after the early phase
    if len(switches):  # no window that would end in the final phase
        assert switches[-1] + (later[-1] if len(later) else 10) <= final_start


# -- the low-rank estimator -------------------------------------------------------------------------
def _gaussian(d, seed, rank=None):
    """A correlated covariance (full, or diagonal + ``rank`` strong directions) and its precision."""
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.uniform(-2, 2, size=d))
    if rank is None:
        a = rng.normal(size=(d, d))
        corr = a @ a.T / d + 0.05 * np.eye(d)
    else:
        u = np.linalg.qr(rng.normal(size=(d, rank)))[0]
        corr = np.eye(d) + u @ np.diag(rng.uniform(20, 50, size=rank)) @ u.T
    cov = scales[:, None] * corr * scales
    return cov, np.linalg.inv(cov)


def _dense(imm):
    sigma, u, lam = (np.asarray(v, dtype=float) for v in imm)
    return sigma[:, None] * (np.eye(sigma.size) + (u * (lam - 1)) @ u.T) * sigma


def test_low_rank_estimate_is_exact_on_a_correlated_gaussian():
    cov, prec = _gaussian(6, 0)
    rng = np.random.default_rng(1)
    xs = rng.multivariate_normal(np.ones(6), cov, size=40)
    gs = -(xs - 1.0) @ prec
    with jax.enable_x64(True):  # the oracle is exact: no float32 rounding in the way
        imm = low_rank_metric(jnp.asarray(xs), jnp.asarray(gs), 40, max_rank=6, cutoff=1.0)
        np.testing.assert_allclose(_dense(imm), cov, rtol=1e-4, atol=1e-6 * np.abs(cov).max())
        # padding rows beyond `count` are ignored, and garbage there changes nothing
        padded = np.concatenate([xs, 1e6 * rng.normal(size=(10, 6))])
        again = low_rank_metric(jnp.asarray(padded), jnp.asarray(np.concatenate([gs, padded[40:]])), 40,
                                max_rank=6, cutoff=1.0)
        np.testing.assert_allclose(_dense(again), _dense(imm), rtol=1e-8)
    # the sample covariance of 40 draws is far off: the oracle can fail
    assert np.max(np.abs(np.cov(xs.T) - cov)) > 0.05 * np.abs(cov).max()
    # float32: close (nutpie's regularisation is raised to stay above rounding), finite
    imm32 = low_rank_metric(jnp.asarray(xs, jnp.float32), jnp.asarray(gs, jnp.float32), 40, max_rank=6, cutoff=1.0)
    np.testing.assert_allclose(_dense(imm32), cov, rtol=0.05, atol=0.05 * np.abs(cov).max())


def test_low_rank_estimate_in_a_large_space_finds_the_strong_directions():
    # d = 80 > 64: the randomised subspaces, then nutpie's exact step inside them (approximate: 0.77-0.98)
    cov, prec = _gaussian(80, 2, rank=3)
    rng = np.random.default_rng(3)
    xs = rng.multivariate_normal(np.zeros(80), cov, size=200)
    imm = low_rank_metric(jnp.asarray(xs, jnp.float32), jnp.asarray(-xs @ prec, jnp.float32), 200)
    dense = _dense(imm)
    vals, vecs = np.linalg.eigh(cov)
    for v in vecs[:, -3:].T:  # the variance along each strong direction: the diagonal alone misses it by ~10x
        assert 0.7 < v @ dense @ v / (v @ cov @ v) < 1.3
    assert np.all(np.linalg.eigvalsh(dense) > 0)
    diag_only = np.sqrt(np.var(xs, axis=0) / np.var(-xs @ prec, axis=0))  # the Fisher diagonal
    worst_diag = max(abs(v @ np.diag(diag_only) @ v / (v @ cov @ v) - 1) for v in vecs[:, -3:].T)
    assert worst_diag > 0.5  # the correction is what gets these right


def test_low_rank_with_few_draws_stays_finite_and_positive():
    # 3 draws in 20 dimensions: most directions have no data (float32 used to give eigenvalues ~1e-9 there)
    cov, prec = _gaussian(20, 4)
    xs = np.random.default_rng(5).multivariate_normal(np.zeros(20), cov, size=3).astype(np.float32)
    imm = low_rank_metric(jnp.asarray(xs), jnp.asarray(-xs @ prec.astype(np.float32)), 3)
    assert all(np.isfinite(np.asarray(v)).all() for v in imm)
    assert np.asarray(imm.lam).min() > 1e-3


def test_low_rank_adaptation_switch_keeps_the_background_draws():
    rng = np.random.default_rng(6)
    xs, gs = rng.normal(size=(14, 3)), rng.normal(size=(14, 3))
    init, update, final = low_rank_adaptation(16, max_rank=2)
    state = init(jnp.asarray(xs[0]), jnp.asarray(gs[0]))
    np.testing.assert_allclose(np.asarray(state.inverse_mass_matrix.sigma) ** 2, gradient_init(jnp.asarray(gs[0])),
                               rtol=1e-5)
    state = _feed(state, update, xs[1:5], gs[1:5])
    assert int(state.count) == 5 and int(state.num_estimates) == 3  # estimates from the 3rd draw on

    def expect(rows):
        return _dense(low_rank_metric(jnp.asarray(xs[rows]), jnp.asarray(gs[rows]), len(rows), max_rank=2))

    np.testing.assert_allclose(_dense(state.inverse_mass_matrix), expect([0, 1, 2, 3, 4]), rtol=1e-4)
    state = final(state)  # first switch: nothing before it to drop
    assert int(state.count) == 5 and int(state.split) == 5
    state = _feed(state, update, xs[5:10], gs[5:10], [True, False, True, True, True])
    np.testing.assert_allclose(_dense(state.inverse_mass_matrix), expect([0, 1, 2, 3, 4, 5, 7, 8, 9]), rtol=1e-4)
    state = final(state)  # drops the 5 draws before the first switch
    assert int(state.count) == 4
    np.testing.assert_allclose(_dense(state.inverse_mass_matrix), expect([5, 7, 8, 9]), rtol=1e-4)


@pytest.mark.parametrize("n", [0, 10, 100, 500, 1000])
def test_low_rank_buffer_size_is_the_most_draws_held(n):
    rows = fisher_schedule(n) if n else np.zeros((0, 2), np.int32)
    init, update, final = low_rank_adaptation(10_000, max_rank=1)
    state, most = init(jnp.zeros(1), jnp.ones(1)), 1
    for stage, switch in rows:  # the state's own count, with every draw kept
        if stage:
            state = state._replace(count=state.count + 1)
            most = max(most, int(state.count))
            if switch:
                state = state._replace(count=state.count - state.split, split=state.count - state.split)
    assert low_rank_buffer_size(rows) == most


# -- NUTS / HMC -------------------------------------------------------------------------------------
@pg.model
def scaled_normal(s):
    x <~ dist.Normal(0.0, s)
    return x


@QUIET
@pytest.mark.parametrize("kernel", [NUTS(adaptation="fisher"), HMC(adaptation="fisher", num_integration_steps=8)],
                         ids=["nuts", "hmc"])
def test_adapted_metric_lands_on_the_gaussian_variances(kernel):
    post = pg.sample(scaled_normal, jax.random.key(5), jnp.asarray(SCALES), kernel=kernel, num_warmup=200,
                     num_samples=200, num_chains=2, progress=False)
    imm = np.asarray(post.info["adaptation"]["inverse_mass_matrix"])
    assert imm.shape == (2, 5)
    # exact, whatever the draws: the gradient is affine in x (Stan's window estimate is off by up to 2x here)
    np.testing.assert_allclose(imm / SCALES**2, 1.0, rtol=1e-3)
    sd = np.asarray(post.samples["x"]).reshape(-1, 5).std(axis=0)
    np.testing.assert_allclose(sd / SCALES, 1.0, rtol=0.25)


@pg.model
def regression(X, sigma):
    beta <~ dist.Normal(0.0, 10.0).expand([X.shape[1]])
    y <~ dist.Normal(X @ beta, sigma)
    return y


@QUIET
@pytest.mark.parametrize("adaptation", ["fisher", "low_rank"])
def test_correlated_badly_scaled_regression_matches_the_analytic_posterior(adaptation):
    rng = np.random.default_rng(7)
    n = 50
    z = rng.normal(size=n)
    X = np.stack([np.ones(n), 100.0 + 15.0 * z, 0.01 * (z + 0.3 * rng.normal(size=n))], axis=1)  # scales 1..100
    beta_true, sigma = np.array([1.0, 0.05, 30.0]), 0.5
    y = X @ beta_true + sigma * rng.normal(size=n)
    precision = X.T @ X / sigma**2 + np.eye(3) / 100.0
    cov = np.linalg.inv(precision)
    mean = cov @ (X.T @ y / sigma**2)
    post = pg.sample(regression, jax.random.key(11), jnp.asarray(X, jnp.float32), sigma,
                     y=jnp.asarray(y, jnp.float32), kernel=NUTS(adaptation=adaptation), num_warmup=500,
                     num_samples=500, num_chains=4, progress=False)
    draws = np.asarray(post.samples["beta"], dtype=float)
    for i in range(3):
        d = draws[..., i]
        mcse_mean, mcse_sd = float(az.mcse(d, method="mean")), float(az.mcse(d, method="sd"))
        assert abs(d.mean() - mean[i]) < 4 * mcse_mean, (i, d.mean(), mean[i], mcse_mean)
        assert abs(d.std(ddof=1) - np.sqrt(cov[i, i])) < 4 * mcse_sd, (i, d.std(), np.sqrt(cov[i, i]), mcse_sd)


@pg.model
def schools(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta_t <~ dist.Normal(0.0, 1.0).expand([8])
    theta = mu + tau * theta_t
    y <~ dist.Normal(theta, sigma)
    return y


@pytest.mark.slow
@QUIET
def test_eight_schools_non_centred_matches_posteriordb():
    sigma = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    post = pg.sample(schools, jax.random.key(3), sigma, y=y, kernel=NUTS(adaptation="fisher"), num_warmup=1000,
                     num_samples=1000, num_chains=4, progress=False)
    # posteriordb eight_schools-eight_schools_noncentered reference.json (mean, sd)
    for name, (mean, sd) in {"mu": (4.411, 3.309), "tau": (3.602, 3.198)}.items():
        d = np.asarray(post.samples[name], dtype=float)
        mcse_mean, mcse_sd = float(az.mcse(d, method="mean")), float(az.mcse(d, method="sd"))
        assert abs(d.mean() - mean) < 4 * mcse_mean + 0.05 * sd, (name, d.mean(), mean, mcse_mean)
        assert abs(d.std(ddof=1) - sd) < 4 * mcse_sd + 0.05 * sd, (name, d.std(), sd, mcse_sd)
    assert int(np.sum(np.asarray(post.stats["diverging"]))) < 20


# -- options --------------------------------------------------------------------------------------
def test_bad_adaptation_is_a_model_error_listing_the_options():
    assert ADAPTATIONS == ("auto", "fisher", "low_rank", "window")
    with pytest.raises(ModelError, match="unknown adaptation 'stan' of NUTS.*'auto', 'fisher', 'low_rank', 'window'"):
        NUTS(adaptation="stan")
    with pytest.raises(ModelError, match="diagonal.*dense_mass=True"):
        HMC(adaptation="fisher", dense_mass=True)
    with pytest.raises(ModelError, match="adaptation='low_rank' adapts a diagonal.*dense_mass=True"):
        NUTS(adaptation="low_rank", dense_mass=True)
    assert NUTS().adaptation == "auto" and NUTS(0.9, False, 1.0, ("to_unconstrained",), 8).max_tree_depth == 8
    HMC(dense_mass=True)  # "auto" is "window" for a dense matrix: no error


@QUIET
def test_default_is_low_rank_for_a_diagonal_and_window_for_a_dense_matrix():
    def metric(kernel):
        post = pg.sample(scaled_normal, jax.random.key(2), jnp.asarray(SCALES[:2]), kernel=kernel, num_warmup=60,
                         num_samples=5, num_chains=1, progress=False)
        return jax.tree.map(lambda v: np.asarray(v)[0], post.info["adaptation"]["inverse_mass_matrix"])

    assert NUTS().mass_adaptation(2) == "low_rank" == HMC().mass_adaptation(2)
    assert NUTS(dense_mass=True).mass_adaptation(2) == "window"
    assert NUTS(adaptation="fisher").mass_adaptation(2) == "fisher"
    # beyond LOW_RANK_MAX_DIM coordinates the O(d * rank) metric costs more than it finds: the diagonal
    from ppgraph.inference.hmc import LOW_RANK_MAX_DIM
    assert NUTS().mass_adaptation(LOW_RANK_MAX_DIM) == "low_rank"
    assert NUTS().mass_adaptation(LOW_RANK_MAX_DIM + 1) == "fisher" == HMC().mass_adaptation(LOW_RANK_MAX_DIM + 1)
    assert NUTS(adaptation="low_rank").mass_adaptation(LOW_RANK_MAX_DIM + 1) == "low_rank"
    default = metric(NUTS())
    jax.tree.map(np.testing.assert_array_equal, default, metric(NUTS(adaptation="low_rank")))
    # a Gaussian with a diagonal covariance: the diagonal is the exact Fisher estimate, the correction adds nothing
    np.testing.assert_allclose(default.sigma ** 2, SCALES[:2] ** 2, rtol=1e-3)
    np.testing.assert_allclose(metric(NUTS(adaptation="fisher")), SCALES[:2] ** 2, rtol=1e-3)
    np.testing.assert_array_equal(default.lam, np.ones_like(default.lam))
    assert metric(NUTS(dense_mass=True)).shape == (2, 2)
    no_warmup = pg.sample(scaled_normal, jax.random.key(2), jnp.asarray(SCALES[:2]), kernel=NUTS(), num_warmup=0,
                          num_samples=3, num_chains=1, progress=False)
    imm = no_warmup.info["adaptation"]["inverse_mass_matrix"]
    assert np.asarray(imm.sigma).tolist() == [[1.0, 1.0]] and np.all(np.asarray(imm.lam) == 1.0)  # not adapted


@pg.model
def short_regression(x, n):
    sigma <~ dist.HalfNormal(1.0)
    beta <~ dist.Normal(0.0, 1.0).expand([n])
    y <~ dist.Normal(x @ beta, sigma)
    return y


@QUIET
def test_low_rank_keeps_a_finite_metric_when_an_estimate_overflows():
    # 40 warmup draws of a 3-coordinate regression: one chain's early buffer overflowed float32 in the
    # estimate (NaN eigenvectors), the metric became NaN and the step size 5e-22 (found by the test suite)
    kx, ky = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (12, 2))
    y = x @ jnp.arange(1.0, 3.0) + 0.5 * jax.random.normal(ky, (12,))
    post = pg.sample(short_regression, 0, x, 2, y=y, kernel=NUTS(adaptation="low_rank"), num_warmup=40,
                     num_samples=30, num_chains=2, progress=False)
    imm = post.info["adaptation"]["inverse_mass_matrix"]
    assert all(np.isfinite(np.asarray(v)).all() for v in imm)
    assert np.asarray(post.info["adaptation"]["step_size"]).min() > 1e-3
    beta = np.asarray(post.samples["beta"]).reshape(-1, 2)
    assert np.all(np.abs(beta.mean(axis=0) - [1.0, 2.0]) < 0.6)


@QUIET
@pytest.mark.parametrize("kernel", [NUTS(adaptation="low_rank"), HMC(adaptation="low_rank", num_integration_steps=8)],
                         ids=["nuts", "hmc"])
def test_low_rank_run_adapts_the_correlated_directions(kernel):
    cov, _ = _gaussian(4, 8)
    chol = jnp.asarray(np.linalg.cholesky(cov), jnp.float32)

    @pg.model
    def correlated(chol):
        z <~ dist.MultivariateNormal(jnp.zeros(4), scale_tril=chol)
        return z

    post = pg.sample(correlated, jax.random.key(9), chol, kernel=kernel, num_warmup=300, num_samples=300,
                     num_chains=2, progress=False)
    imm = post.info["adaptation"]["inverse_mass_matrix"]
    assert np.asarray(imm.sigma).shape == (2, 4) and np.asarray(imm.U).shape == (2, 4, 10)
    for chain in range(2):
        dense = _dense([np.asarray(v)[chain] for v in imm])
        np.testing.assert_allclose(dense, cov, rtol=0.15, atol=0.1 * np.abs(cov).max())
    if isinstance(kernel, NUTS):  # HMC's fixed 8 steps mix too slowly for 600 draws to pin the covariance
        draws = np.asarray(post.samples["z"]).reshape(-1, 4)
        np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.25 * np.abs(cov).max())
    no_warmup = pg.sample(correlated, jax.random.key(9), chol, kernel=kernel, num_warmup=0, num_samples=3,
                          num_chains=1, progress=False)
    assert np.asarray(no_warmup.info["adaptation"]["inverse_mass_matrix"].sigma).tolist() == [[1.0] * 4]
    assert set(np.asarray(no_warmup.info["adaptation"]["inverse_mass_matrix"].lam).ravel()) == {1.0}
