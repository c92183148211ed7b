"""pg.sample: NUTS/HMC recover analytic posteriors; shapes, statistics, tracing, options."""

from __future__ import annotations

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import ppgraph as pg
from ppgraph.inference import HMC, NUTS, Posterior, SamplingWarning

from . import inference_models as M

KEY = jax.random.key(20261125)
SMALL = dict(num_warmup=300, num_samples=300, num_chains=2, progress=False)
QUIET = pytest.mark.filterwarnings("ignore::ppgraph.inference.SamplingWarning")  # short runs: r_hat is noisy


def _within_mcse(draws, mean, sd, k=4.0):
    """Mean and sd of (chains, draws) against the truth, within k Monte Carlo standard errors."""
    draws = np.asarray(draws, dtype=float)
    mcse_mean = float(az.mcse(draws, method="mean"))
    mcse_sd = float(az.mcse(draws, method="sd"))
    assert abs(draws.mean() - mean) < k * mcse_mean, (draws.mean(), mean, mcse_mean)
    assert abs(draws.std(ddof=1) - sd) < k * mcse_sd, (draws.std(ddof=1), sd, mcse_sd)


@pytest.fixture(scope="module")
def normal_data():
    return np.random.default_rng(3).normal(1.5, 1.0, size=10).astype(np.float32)


@pytest.fixture(scope="module")
def normal_post(normal_data):
    return pg.sample(M.normal_normal, KEY, 0.0, 10.0, 1.0, 10, y=normal_data, **SMALL)


def test_normal_normal_known_variance_matches_conjugate_posterior(normal_post, normal_data):
    precision = 1 / 10.0**2 + len(normal_data) / 1.0**2
    mean = (0.0 / 10.0**2 + normal_data.sum() / 1.0**2) / precision
    _within_mcse(normal_post.samples["mu"], mean, precision**-0.5)


def test_beta_binomial_matches_scipy_beta():
    post = pg.sample(M.beta_binomial, KEY, 2.0, 3.0, 20, k=13, **SMALL)
    oracle = scipy.stats.beta(2.0 + 13, 3.0 + 20 - 13)
    p = np.asarray(post.samples["p"])
    assert np.all((p > 0) & (p < 1))
    _within_mcse(p, oracle.mean(), oracle.std())


@QUIET  # fixed-length HMC on a 1-d Gaussian mixes slowly (near-periodic paths)
def test_hmc_kernel_with_dense_mass_matches_conjugate_posterior(normal_data):
    post = pg.sample(M.normal_normal, KEY, 0.0, 10.0, 1.0, 10, y=normal_data, kernel=HMC(dense_mass=True), **SMALL)
    assert post.info["adaptation"]["inverse_mass_matrix"].shape == (2, 1, 1)  # per chain, dense
    precision = 1 / 100.0 + len(normal_data)
    _within_mcse(post.samples["mu"], normal_data.sum() / precision, precision**-0.5)
    assert "tree_depth" not in post.stats
    assert np.all(np.asarray(post.stats["num_steps"]) == HMC().num_integration_steps)


@QUIET
def test_posterior_shapes_names_and_stats():
    x = jnp.linspace(0.0, 3.0, 20)
    y = 1.0 + 0.5 * x + 0.3 * jax.random.normal(jax.random.key(1), (20,))
    post = pg.sample(M.regression, KEY, x, y=y, num_warmup=150, num_samples=50, num_chains=3, progress=False)
    assert isinstance(post, Posterior)
    assert set(post.samples) == {"alpha", "beta", "sigma", "mean"}  # latents + deterministics, no twins
    assert post.samples["alpha"].shape == (3, 50)
    assert post.samples["mean"].shape == (3, 50, 20)
    assert np.all(np.asarray(post.samples["sigma"]) > 0)  # constrained space
    np.testing.assert_allclose(
        post.samples["mean"],
        post.samples["alpha"][..., None] + post.samples["beta"][..., None] * x,
        rtol=1e-5, atol=1e-5,
    )
    for name in ("diverging", "acceptance_rate", "step_size", "num_steps", "tree_depth", "energy", "lp"):
        assert post.stats[name].shape == (3, 50), name
    assert post.stats["diverging"].dtype == jnp.bool_
    acc = np.asarray(post.stats["acceptance_rate"])
    assert np.all((acc >= 0) & (acc <= 1 + 1e-5))
    steps = np.asarray(post.stats["num_steps"])
    assert np.all((steps >= 1) & (steps <= 2 ** np.asarray(post.stats["tree_depth"])))
    step_size = np.asarray(post.stats["step_size"])
    assert np.all(step_size > 0) and np.all(step_size == step_size[:, :1])  # fixed after warmup
    assert post.num_chains == 3 and post.num_draws == 50
    assert post.model is M.regression and set(post.observed) == {"y"} and set(post.args) == {"x"}


@QUIET
def test_log_density_traced_once_per_call():
    pg.clear_cache()
    M.TRACES.clear()
    pg.sample(M.traced, KEY, 1.0, y=jnp.array(0.3), num_warmup=30, num_samples=20, num_chains=2, progress=False)
    assert len(M.TRACES) == 1
    # new data of the same shapes: the compiled sampler is reused (ppgraph_tests/inference/test_cache.py)
    pg.sample(M.traced, KEY, 1.0, y=jnp.array(0.7), num_warmup=30, num_samples=20, num_chains=2, progress=False)
    assert len(M.TRACES) == 1


@QUIET
def test_same_key_same_draws_and_chains_differ():
    kwargs = dict(num_warmup=50, num_samples=20, num_chains=2, progress=False)
    a = pg.sample(M.beta_binomial, KEY, 2.0, 3.0, 20, k=13, **kwargs)
    b = pg.sample(M.beta_binomial, KEY, 2.0, 3.0, 20, k=13, **kwargs)
    np.testing.assert_array_equal(a.samples["p"], b.samples["p"])
    assert not np.allclose(a.samples["p"][0], a.samples["p"][1])


def test_improper_flat_priors_are_initialised_and_sampled():
    y = jnp.asarray(np.random.default_rng(5).normal(3.0, 2.0, size=12), dtype=jnp.float32)
    post = pg.sample(M.flat_mean, KEY, 12, y=y, **SMALL)
    # flat priors on mu and s: mu | y follows a Student t with n - 2 dof around the sample mean
    n, ybar, ss = 12, float(y.mean()), float(((y - y.mean()) ** 2).sum())
    oracle = scipy.stats.t(df=n - 2, loc=ybar, scale=np.sqrt(ss / ((n - 2) * n)))
    _within_mcse(post.samples["mu"], oracle.mean(), oracle.std())
    assert np.all(np.asarray(post.samples["s"]) > 0)


@QUIET
def test_support_depending_on_another_variable():
    post = pg.sample(M.dependent_bound, KEY, num_warmup=200, num_samples=200, num_chains=2, progress=False)
    a, b = np.asarray(post.samples["a"]), np.asarray(post.samples["b"])
    assert np.all((b > 0) & (b < 1 - a))
    # p(a) ∝ 1 (b's density 1/(1-a) cancels its range): a ~ Uniform(0, 1), b | a ~ U(0, 1-a) => E[b] = 1/4
    _within_mcse(b, 0.25, np.sqrt(7 / 144))


@QUIET
def test_graph_input_and_num_warmup_zero(normal_data):
    post = pg.sample(M.normal_normal.graph, KEY, 0.0, 10.0, 1.0, 10, y=normal_data,
                     num_warmup=0, num_samples=30, num_chains=2, progress=False)
    assert post.samples["mu"].shape == (2, 30)
    assert np.all(np.asarray(post.stats["step_size"]) == NUTS().initial_step_size)


@QUIET
def test_evaluator_object_and_progress_bar(capsys, normal_data):
    post = pg.sample(M.normal_normal, KEY, 0.0, 10.0, 1.0, 10, y=normal_data, num_warmup=20, num_samples=10,
                     num_chains=2, kernel=NUTS(target_accept=0.9, max_tree_depth=3), progress=True)
    assert np.all(np.asarray(post.stats["tree_depth"]) <= 3)
    err = capsys.readouterr().err
    assert "nuts" in err and "30/30" in err


@pytest.mark.parametrize("bad", [dict(num_samples=0), dict(num_chains=1.5), dict(num_warmup=-1)])
def test_bad_counts(bad):
    kwargs = {**SMALL, **bad}
    with pytest.raises(pg.ModelError, match=next(iter(bad))):
        pg.sample(M.beta_binomial, KEY, 2.0, 3.0, 20, k=13, **kwargs)


def test_kernel_by_name():
    from ppgraph.inference.hmc import get_kernel

    assert get_kernel("HMC") == HMC() and get_kernel("nuts") == NUTS()


def test_unknown_kernel():
    with pytest.raises(pg.ModelError, match="unknown kernel 'mala'"):
        pg.sample(M.beta_binomial, KEY, 2.0, 3.0, 20, k=13, kernel="mala", **{**SMALL, "progress": False})


def test_divergence_warning_is_issued():
    # a tiny warmup and a huge initial step: divergences are certain in the centred funnel
    sigma = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    with pytest.warns(SamplingWarning, match="divergent"):
        post = pg.sample(M.eight_schools_centred, KEY, sigma, y=y, num_warmup=0, num_samples=50, num_chains=2,
                         kernel=NUTS(initial_step_size=5.0), progress=False)
    assert int(post.stats["diverging"].sum()) > 0


def test_no_warning_on_a_healthy_run(normal_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        # 4 x 500 draws: r_hat's own noise (~0.005 at 2 x 300) stays well below the 1.01 threshold
        pg.sample(M.normal_normal, KEY, 0.0, 10.0, 1.0, 10, y=normal_data,
                  **{**SMALL, "num_samples": 500, "num_chains": 4})


@QUIET
def test_bayesian_network_weights_are_sampled():
    x = jnp.linspace(-1.0, 1.0, 10)[:, None]
    y = jnp.tanh(2.0 * x[:, 0])
    post = pg.sample(M.tiny_bnn, KEY, x, y=y, num_warmup=60, num_samples=20, num_chains=2, progress=False)
    assert isinstance(post.samples["net"], pg.nn.Network)  # callable, one network per (chain, draw)
    shapes = jax.tree.map(jnp.shape, post.samples["net"].weights)
    assert shapes == {"0": {"kernel": (2, 20, 1, 3), "bias": (2, 20, 3)},
                      "2": {"kernel": (2, 20, 3, 1), "bias": (2, 20, 1)}}
    assert post.samples["mu"].shape == (2, 20, 10)
    pred = pg.sample_predictive(M.tiny_bnn, jax.random.key(2), post)
    np.testing.assert_allclose(pred["mu"], post.samples["mu"], rtol=1e-4, atol=1e-5)
    assert pred["y"].shape == (2, 20, 10)


SCHOOLS_SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
SCHOOLS_Y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


# -- reparam= --------------------------------------------------------------------------------------
def test_reparam_noncentered_keeps_the_posterior_and_reports_the_choice():
    # centred eight schools: non-centring changes the sampler's geometry, not the posterior
    model = M.eight_schools_centred

    kw = dict(sigma=SCHOOLS_SIGMA, y=SCHOOLS_Y, num_warmup=400, num_samples=400, num_chains=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = pg.sample(model, 0, reparam=None, **kw)
        nc = pg.sample(model, 0, reparam="noncentered", **kw)
    assert {k: v for k, v in plain.info["reparam"].items() if k != "graph"} == {"mode": None, "noncentered": []}
    assert plain.info["reparam"]["graph"] is model.graph
    assert nc.info["reparam"]["noncentered"] == ["mu", "theta"]  # every Normal latent
    assert nc.info["reparam"]["mode"] == "noncentered"
    assert nc.samples["theta"].shape == (2, 400, 8)
    # reference (posteriordb eight_schools): E[mu] = 4.4, sd 3.3
    assert abs(float(nc.samples["mu"].mean()) - 4.4) < 1.0


def test_unknown_reparam_mode_refused_with_a_hint():
    model = M.eight_schools_centred

    with pytest.raises(pg.ModelError, match="unknown reparam mode 'sideways'") as info:
        pg.sample(model, 0, sigma=SCHOOLS_SIGMA, y=SCHOOLS_Y, reparam="sideways", progress=False)
    assert "'auto'" in info.value.hint and "'noncentered'" in info.value.hint


def test_reparam_info_graph_is_built_on_first_use():
    import copy
    import pickle

    from ppgraph.inference.sample import _ReparamInfo

    calls = []
    info = _ReparamInfo({"mode": "auto", "noncentered": ["theta"]}, lambda: calls.append(1) or "rewritten")
    assert calls == [] and "graph" in info and info.get("mode") == "auto"
    assert info["graph"] == "rewritten" and info.get("graph") == "rewritten" and calls == [1]
    fresh = _ReparamInfo({"mode": "auto"}, lambda: "g")
    assert dict(fresh) == {"mode": "auto", "graph": "g"} and set(fresh) == {"mode", "graph"}
    for other in (_ReparamInfo({"a": 1}, lambda: "g"), _ReparamInfo({"a": 1}, lambda: "g")):
        assert other == {"a": 1, "graph": "g"}
    assert pickle.loads(pickle.dumps(_ReparamInfo({"a": 1}, lambda: "g"))) == {"a": 1, "graph": "g"}
    assert copy.deepcopy(_ReparamInfo({"a": 1}, lambda: "g")) == {"a": 1, "graph": "g"}

