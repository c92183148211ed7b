"""``reparam="auto"``: the pilot's estimate against the exact VIP optimum, the choice, the posterior kept."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph import dist
from ppgraph.cache import cache_info
from ppgraph.inference import autoreparam
from ppgraph.inference.problem import prepare
from ppgraph.passes.reparam import centeredness_candidates, learnable_centeredness

from . import inference_models as M

SCHOOLS_SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
SCHOOLS_Y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


@pg.model
def known_scale(s, noise, n):
    """Groups with a known prior scale ``s`` and ``n`` observations of noise ``noise`` each."""
    m <~ dist.Normal(0.0, 1.0)
    x <~ dist.Normal(m, s).expand([4])
    y <~ dist.Normal(x, noise).expand([n, 4])
    return y


@pg.model
def grouped(group, ngroups):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfNormal(2.0)
    alpha <~ dist.Normal(mu, tau).expand([ngroups])
    sigma <~ dist.HalfNormal(2.0)
    y <~ dist.Normal(alpha[group], sigma)
    return y


def _grouped_data(per_group: int, seed: int = 0) -> tuple[jax.Array, dict]:
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(10), per_group)
    alpha = rng.normal(0.0, 1.0, 10)
    y = alpha[group] + rng.normal(0.0, 1.0, group.size)
    return jnp.asarray(group), {"y": jnp.asarray(y, jnp.float32)}


def _pilot(model, args, kwargs, seed=0, num_chains=4):
    names = autoreparam.candidates(model, args, kwargs)
    problem = prepare(model, args, kwargs, passes=(autoreparam.noncentering(tuple(names)), "to_unconstrained"))
    return autoreparam.choose(problem, names, seed, num_chains=num_chains)


# -- the estimate against the exact optimum ---------------------------------------------------------
@pytest.mark.parametrize("s, noise, n", [(0.3, 1.0, 2), (0.7, 1.0, 4), (2.0, 1.0, 5)])
def test_pilot_estimates_the_exact_vip_centredness_of_a_gaussian_model(s, noise, n):
    # x ~ N(m, s) with n observations of noise sd: the likelihood's information I = n / noise**2, and
    # the centredness at which the funnel disappears is c* = s**2 I / (1 + s**2 I)  (Gorinova et al. 2020)
    y = jax.random.normal(jax.random.key(3), (n, 4))
    exact = (s**2 * n / noise**2) / (1 + s**2 * n / noise**2)
    choice = _pilot(known_scale, (s, noise, n), {"y": y})
    assert choice.centeredness["x"] == pytest.approx(exact, abs=0.06)
    assert choice.noncentered == (("x",) if exact < 0.5 else ())
    # a clear case (|c* - 1/2| >= 0.2 with margin) stops early; an ambiguous one runs every step
    assert choice.steps == (autoreparam.PILOT.num_steps if abs(exact - 0.5) < 0.25 else autoreparam.PILOT.min_steps)


def test_candidates_are_the_hierarchical_loc_scale_latents():
    assert autoreparam.candidates(M.eight_schools_centred, (SCHOOLS_SIGMA,), {"y": SCHOOLS_Y}) == ["theta"]
    # mu ~ Normal(0, 5) has constant parameters: the mass matrix absorbs its scale; not a candidate
    group, observed = _grouped_data(3)
    assert autoreparam.candidates(grouped, (group, 10), observed) == ["alpha"]
    # an observed variable is never a candidate; without data y is a latent child of alpha, and one
    assert centeredness_candidates(grouped) == ["alpha", "y"]


def test_choose_needs_each_candidate_as_a_coordinate():
    problem = prepare(M.eight_schools_centred, (SCHOOLS_SIGMA,), {"y": SCHOOLS_Y}, passes=("to_unconstrained",))
    with pytest.raises(pg.ModelError, match="does not find \\['y'\\]") as info:
        autoreparam.choose(problem, ["y"], 0)  # observed: neither a non-centred nor a centred coordinate
    assert "noncentering" in info.value.hint


@pytest.mark.parametrize("s, noise, n", [(0.7, 1.0, 4), (2.0, 1.0, 5)])
def test_pilot_in_centred_coordinates_estimates_the_same_centredness(s, noise, n):
    # on the centred problem the estimate is 1 - Var_q(x) / s**2, s evaluated at q's mean (here an argument)
    y = jax.random.normal(jax.random.key(3), (n, 4))
    exact = (s**2 * n / noise**2) / (1 + s**2 * n / noise**2)
    problem = prepare(known_scale, (s, noise, n), {"y": y}, passes=("to_unconstrained",))
    choice = autoreparam.choose(problem, ["x"], 0)
    assert choice.centeredness["x"] == pytest.approx(exact, abs=0.06)
    assert choice.pilot == ()  # x was centred in the pilot's problem


def test_guess_counts_observations_per_element():
    names = ["alpha"]
    for per_group, guessed in [(1, ("alpha",)), (3, ("alpha",)), (4, ()), (40, ())]:
        group, observed = _grouped_data(per_group)
        problem = prepare(grouped, (group, 10), observed,
                          passes=(autoreparam.noncentering(tuple(names)), "to_unconstrained"))
        assert autoreparam.observations_per_element(problem, "alpha_decentered") == per_group
        assert autoreparam.guess(problem, names) == guessed


def _prepare_with(model, args, kwargs, calls):
    def prepare_with(noncentred):
        calls.append(noncentred)
        return prepare(model, args, kwargs, passes=(autoreparam.noncentering(noncentred), "to_unconstrained"))
    return prepare_with


def test_pilot_runs_on_the_guess_and_falls_back_when_the_centred_estimate_is_unclear():
    # data-rich groups: guessed centred, and the centred pilot is clear: its problem is the one sampled
    group, observed = _grouped_data(40)
    calls = []
    choice, problem = autoreparam.pilot(_prepare_with(grouped, (group, 10), observed, calls), ["alpha"], 0)
    assert calls == [("alpha",), ()] and choice.noncentered == choice.pilot == ()
    assert "alpha" in problem.latents
    # five observations per element, but noise sd 5 against a prior scale 0.3 (c* = 0.018): guessed centred,
    # the centred estimate is not clearly centred, so the non-centred pilot decides
    y = jax.random.normal(jax.random.key(3), (5, 4))
    calls = []
    choice, problem = autoreparam.pilot(_prepare_with(known_scale, (0.3, 5.0, 5), {"y": y}, calls), ["x"], 0)
    assert calls == [("x",), ()] and choice.noncentered == choice.pilot == ("x",)
    assert choice.centeredness["x"] == pytest.approx(0.018, abs=0.06)
    assert "x_decentered" in problem.latents


# -- pg.sample(reparam="auto") ----------------------------------------------------------------------
def _sample(model, *args, reparam="auto", seed=0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pg.sample(model, seed, *args, reparam=reparam, num_warmup=400, num_samples=400, num_chains=2,
                         progress=False, **kw)


def test_auto_noncentres_eight_schools_and_keeps_the_posterior():
    auto = _sample(M.eight_schools_centred, SCHOOLS_SIGMA, y=SCHOOLS_Y)
    info = auto.info["reparam"]
    assert info["mode"] == "auto" and info["noncentered"] == ["theta"]
    assert 0.0 <= info["centeredness"]["theta"] < 0.5
    assert "theta_decentered" in info["graph"].nodes and "theta_decentered" not in M.eight_schools_centred.graph
    # reference posterior (posteriordb eight_schools_noncentered: E[mu] 4.4 (sd 3.3), E[tau] 3.6 (sd 3.2)),
    # and the explicitly non-centred run: the same posterior
    nc = _sample(M.eight_schools_centred, SCHOOLS_SIGMA, reparam="noncentered", y=SCHOOLS_Y, seed=1)
    for post in (auto, nc):
        assert float(post.samples["mu"].mean()) == pytest.approx(4.4, abs=1.0)
        assert float(post.samples["tau"].mean()) == pytest.approx(3.6, abs=1.0)
    assert auto.samples["theta"].shape == (2, 400, 8)
    assert int(auto.stats["diverging"].sum()) <= 4  # the centred form diverges by the hundred


def test_auto_keeps_data_rich_groups_centred():
    group, observed = _grouped_data(40)
    post = _sample(grouped, group, 10, **observed)
    info = post.info["reparam"]
    assert info["noncentered"] == [] and info["centeredness"]["alpha"] > 0.5
    assert info["pilot_noncentered"] == []  # the pilot ran on the problem sampled
    assert info["graph"] is grouped.graph
    # sparse groups (one observation each, noise sd 1, tau ~ 1): non-centred
    group, observed = _grouped_data(1)
    info = _sample(grouped, group, 10, **observed).info["reparam"]
    assert info["noncentered"] == info["pilot_noncentered"] == ["alpha"]


def test_auto_without_candidates_runs_no_pilot():
    post = _sample(M.beta_binomial, 2.0, 3.0, 20, k=13)
    assert post.info["reparam"] == {"mode": "auto", "noncentered": [], "centeredness": {}, "pilot_seconds": 0.0,
                                    "pilot_steps": 0, "pilot_noncentered": [], "graph": M.beta_binomial.graph}


def test_auto_is_deterministic_and_compiles_once_per_shape():
    pg.clear_cache()
    first = _sample(M.eight_schools_centred, SCHOOLS_SIGMA, y=SCHOOLS_Y)
    misses = {k: v["misses"] for k, v in cache_info().items()}
    again = _sample(M.eight_schools_centred, SCHOOLS_SIGMA, y=SCHOOLS_Y)
    assert {k: v["misses"] for k, v in cache_info().items()} == misses  # nothing built again
    np.testing.assert_array_equal(first.samples["theta"], again.samples["theta"])
    assert first.info["reparam"]["centeredness"] == again.info["reparam"]["centeredness"]


def test_draw_diff_shows_the_choice(tmp_path):
    from ppgraph.viz.dot import diff_dot

    post = _sample(M.eight_schools_centred, SCHOOLS_SIGMA, y=SCHOOLS_Y)
    dot = diff_dot(M.eight_schools_centred, post.info["reparam"]["graph"])
    assert "theta_decentered" in dot
    path = pg.draw_diff(M.eight_schools_centred, post.info["reparam"]["graph"], tmp_path / "choice.dot")
    assert "theta_decentered" in path.read_text()


# -- the VIP form ------------------------------------------------------------------------------------
@pytest.mark.parametrize("c", [0.0, 0.3, 1.0])
def test_learnable_centeredness_keeps_the_joint_distribution(c):
    # in the partially centred form, x = m + s**(1-c) (z - c m): lp_vip(z) = lp_centred(x(z)) + log|dx/dz|
    g = learnable_centeredness(M.eight_schools_centred, names=["theta"])
    assert {"theta_centeredness", "theta_centeredness_logit", "theta_decentered"} <= set(g.nodes)
    mu, tau = 1.5, 2.5
    z = jnp.linspace(-1.0, 2.0, 8)
    x = mu + tau ** (1 - c) * (z - c * mu)
    y = SCHOOLS_Y
    logit = jnp.log(c / (1 - c)) if 0 < c < 1 else (-jnp.inf if c == 0 else jnp.inf)
    lp_vip = pg.logpdf(g)(SCHOOLS_SIGMA, mu=mu, tau=tau, theta_decentered=z, y=y, theta_centeredness_logit=logit)
    lp_centred = pg.logpdf(M.eight_schools_centred)(SCHOOLS_SIGMA, mu=mu, tau=tau, theta=x, y=y)
    assert float(lp_vip) == pytest.approx(float(lp_centred) + 8 * (1 - c) * np.log(tau), rel=1e-5)


@pg.model
def poisson_rates(group, ngroups):
    mu <~ dist.Normal(1.0, 1.0)
    tau <~ dist.HalfNormal(1.0)
    rate <~ dist.LogNormal(mu, tau).expand([ngroups])
    y <~ dist.Poisson(rate[group])
    return y


def test_pilot_in_centred_coordinates_reads_a_lognormal_on_its_log_scale():
    # centred, the coordinate of a LogNormal is log x = loc + scale * z: the estimate is 1 - Var_q(log x) / s**2,
    # the scale read from the model as written (the unconstrained graph has rewritten `rate`)
    rng = np.random.default_rng(1)
    group = np.repeat(np.arange(8), 50)
    y = rng.poisson(np.exp(rng.normal(1.0, 1.0, 8))[group])
    args, kwargs = (jnp.asarray(group), 8), {"y": jnp.asarray(y, jnp.float32)}
    centred = prepare(poisson_rates, args, kwargs, passes=("to_unconstrained",))
    assert "rate_unconstrained" in centred.latents
    on_centred = autoreparam.choose(centred, ["rate"], 0)
    noncentred = prepare(poisson_rates, args, kwargs, passes=(autoreparam.noncentering(("rate",)), "to_unconstrained"))
    on_noncentred = autoreparam.choose(noncentred, ["rate"], 0)
    assert on_centred.pilot == () and on_noncentred.pilot == ("rate",)
    assert on_centred.centeredness["rate"] > 0.9 and on_noncentred.centeredness["rate"] > 0.9
    assert on_centred.centeredness["rate"] == pytest.approx(on_noncentred.centeredness["rate"], abs=0.05)


def test_pilot_falls_back_to_the_noncentred_problem_when_the_centred_one_fails(monkeypatch):
    def unreadable(graph, name):
        raise autoreparam.NotReparameterizable("unreadable scale")

    monkeypatch.setattr(autoreparam, "loc_scale_parameters", unreadable)
    group, observed = _grouped_data(40)  # guessed centred
    calls = []
    choice, problem = autoreparam.pilot(_prepare_with(grouped, (group, 10), observed, calls), ["alpha"], 0)
    assert calls == [("alpha",), ()]
    assert choice.pilot == ("alpha",) and choice.noncentered == ()  # decided on the non-centred problem
    assert choice.centeredness["alpha"] > 0.7 and "alpha_decentered" in problem.latents
