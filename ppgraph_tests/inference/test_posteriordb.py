"""The posteriordb ports against hand-written NumPyro oracles and the reference posteriors.

Fast tests: every port's ``pg.logpdf`` (and ``logpdf_unconstrained``) equals the
log density of a NumPyro model written by hand from the Stan model, at points
drawn in the support; the HMM forward algorithm equals brute-force enumeration;
the user-defined ``NormalHMM`` distribution samples what its density says.

Slow tests (``-m slow``): NUTS through ``pg.sample`` with 4 chains x 1000 draws
recovers every reference mean within ``5 * sd_ref * sqrt(1/ess + 1/10000)`` and
every reference sd within 15%.
"""

from __future__ import annotations

import itertools
import math

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.scipy.special import gammaln
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import log_density, potential_energy

import ppgraph as pg
from ppgraph.passes import to_unconstrained
from ppgraph_tests.posteriordb_models import (
    ENV_VAR,
    PORTS,
    NormalHMM,
    hmm_log_marginal,
    posteriordb_dir,
    stan_index,
)


# -- NumPyro oracles, written from the Stan programs (loops kept where Stan has them) ---------------
def _normal_lpdf(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - jnp.log(sigma) - 0.5 * math.log(2 * math.pi)


def eight_schools_oracle(J, sigma, y):
    mu = numpyro.sample("mu", nd.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", nd.HalfCauchy(5.0))
    theta_trans = numpyro.sample("theta_trans", nd.Normal(0.0, 1.0).expand([J]).to_event(1))
    theta = mu + tau * theta_trans
    numpyro.sample("y", nd.Normal(theta, sigma).to_event(1), obs=y)


def blr_oracle(X, D, y):
    beta = numpyro.sample("beta", nd.Normal(0.0, 10.0).expand([D]).to_event(1))
    sigma = numpyro.sample("sigma", nd.HalfNormal(10.0))
    numpyro.sample("y", nd.Normal(jnp.dot(X, beta), sigma).to_event(1), obs=y)


def arK_oracle(y, K, y_next):
    alpha = numpyro.sample("alpha", nd.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", nd.Normal(0.0, 10.0).expand([K]).to_event(1))
    sigma = numpyro.sample("sigma", nd.HalfCauchy(2.5))
    y = np.asarray(y)
    lp = 0.0
    for t in range(K, len(y)):  # Stan: for (t in (K+1):T), 1-based
        mu = alpha
        for k in range(1, K + 1):
            mu = mu + beta[k - 1] * y[t - k]
        lp = lp + _normal_lpdf(y[t], mu, sigma)
    numpyro.factor("y_next", lp)


def kidscore_momiq_oracle(mom_iq, kid_score):
    beta = numpyro.sample("beta", nd.ImproperUniform(nd.constraints.real, (), (2,)))
    sigma = numpyro.sample("sigma", nd.HalfCauchy(2.5))
    numpyro.sample("kid_score", nd.Normal(beta[0] + beta[1] * mom_iq, sigma).to_event(1), obs=kid_score)


def gp_pois_regr_oracle(x, k):
    rho = numpyro.sample("rho", nd.Gamma(25.0, 4.0))
    alpha = numpyro.sample("alpha", nd.HalfNormal(2.0))
    n = len(x)
    f_tilde = numpyro.sample("f_tilde", nd.Normal(0.0, 1.0).expand([n]).to_event(1))
    rows = [
        [alpha**2 * jnp.exp(-((x[i] - x[j]) ** 2) / (2 * rho**2)) + (1e-10 if i == j else 0.0) for j in range(n)]
        for i in range(n)
    ]
    L = jnp.linalg.cholesky(jnp.stack([jnp.stack(r) for r in rows]))
    f = L @ f_tilde
    numpyro.factor("k", jnp.sum(k * f - jnp.exp(f) - gammaln(k + 1.0)))  # poisson_log_lpmf


def _scaled_forward(y, theta, mu):
    """Stan's hmm_example forward pass in probability space with rescaling (a different algorithm)."""
    alpha = jnp.exp(_normal_lpdf(y[0], mu, 1.0))
    loglik = jnp.log(alpha.sum())
    alpha = alpha / alpha.sum()
    for t in range(1, len(y)):
        alpha = (alpha @ theta) * jnp.exp(_normal_lpdf(y[t], mu, 1.0))
        loglik = loglik + jnp.log(alpha.sum())
        alpha = alpha / alpha.sum()
    return loglik


def hmm_oracle(y):
    theta1 = numpyro.sample("theta1", nd.Dirichlet(jnp.ones(2)))
    theta2 = numpyro.sample("theta2", nd.Dirichlet(jnp.ones(2)))
    mu = numpyro.sample("mu", nd.ImproperUniform(nd.constraints.positive_ordered_vector, (), (2,)))
    numpyro.factor("mu_prior", _normal_lpdf(mu[0], 3.0, 1.0) + _normal_lpdf(mu[1], 10.0, 1.0))
    numpyro.factor("hmm", _scaled_forward(np.asarray(y), jnp.stack([theta1, theta2]), mu))


def hmm_dist_oracle(N, y):
    hmm_oracle(y)


ORACLES = {
    "eight_schools_noncentered": eight_schools_oracle,
    "blr": blr_oracle,
    "arK": arK_oracle,
    "kidscore_momiq": kidscore_momiq_oracle,
    "gp_pois_regr": gp_pois_regr_oracle,
    "hmm_example": hmm_oracle,
    "hmm_example_dist": hmm_dist_oracle,
}
# log p(port) - log p(oracle): 0, or a constant Stan drops (the distribution version of the HMM
# starts uniformly over the 2 states; Stan's forward pass has no initial-state term).
OFFSETS = {"hmm_example_dist": -math.log(2.0)}

REFERENCE_PORTS = [name for name in PORTS if name != "hmm_example_dist"]


def _points(name: str, data: dict, n: int = 3) -> list[tuple[dict, dict]]:
    """``n`` (unconstrained, constrained) points of the oracle's latents, uniform(-2, 2) in R^n.

    NumPyro's ``init_to_uniform`` run eagerly (``initialize_model`` would trace and differentiate
    the unrolled oracles, which takes minutes).
    """
    oracle = ORACLES[name]
    points = []
    for seed in range(n):
        seeded = handlers.substitute(handlers.seed(oracle, jax.random.key(seed)), substitute_fn=init_to_uniform)
        trace = handlers.trace(seeded).get_trace(**data)
        latent = {k: s for k, s in trace.items() if s["type"] == "sample" and not s["is_observed"]}
        z = {k: biject_to(s["fn"].support).inv(s["value"]) for k, s in latent.items()}
        points.append((z, {k: s["value"] for k, s in latent.items()}))
    return points


def _rtol(port) -> float:
    return 1e-9 if port.x64 else 2e-5


# -- fast: log densities ---------------------------------------------------------------------------------
def test_data_folder_found():
    folder = posteriordb_dir()
    for port in PORTS.values():
        assert (folder / port.folder / "reference.json").is_file()


def test_missing_data_folder_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        posteriordb_dir()


@pytest.mark.parametrize("name", list(PORTS))
def test_logpdf_matches_numpyro(name):
    port = PORTS[name]
    with jax.enable_x64(port.x64):
        data = port.data()
        lp = pg.logpdf(port.model)
        for _, values in _points(name, data):
            expected, _ = log_density(ORACLES[name], (), data, values)
            got = lp(**data, **{k: v for k, v in values.items()})
            np.testing.assert_allclose(float(got), float(expected) + OFFSETS.get(name, 0.0), rtol=_rtol(port))


@pytest.mark.parametrize("name", list(PORTS))
def test_logpdf_unconstrained_matches_numpyro_potential(name):
    port = PORTS[name]
    with jax.enable_x64(port.x64):
        data = port.data()
        ugraph = to_unconstrained(port.model)
        lpu = pg.logpdf(ugraph)
        inputs = set(lpu.compiled.inputs)
        for z, _ in _points(name, data):
            values = {(k if k in inputs else k + "_unconstrained"): v for k, v in z.items()}
            assert set(values) == inputs - set(data)
            expected = -potential_energy(ORACLES[name], (), data, z)
            got = lpu(**data, **values)
            np.testing.assert_allclose(float(got), float(expected) + OFFSETS.get(name, 0.0), rtol=_rtol(port))


def test_gp_port_needs_float64_as_in_stan():
    """The 1e-10 jitter of the Stan model is too small for a float32 Cholesky at rho ~ 6."""
    port = PORTS["gp_pois_regr"]
    values = {"rho": 6.5, "alpha": 3.0, "f_tilde": jnp.zeros(11)}
    with jax.enable_x64(True):
        assert np.isfinite(float(pg.logpdf(port.model)(**port.data(), **values)))


# -- fast: the HMM pieces ------------------------------------------------------------------------------
def _brute_force(y, log_trans, mu, sigma):
    n, k = len(y), len(mu)
    emit = np.array([[_np_normal_lpdf(y[t], mu[s], sigma) for s in range(k)] for t in range(n)])
    totals = []
    for states in itertools.product(range(k), repeat=n):
        total = sum(emit[t, s] for t, s in enumerate(states))
        total += sum(log_trans[a, b] for a, b in zip(states[:-1], states[1:]))
        totals.append(total)
    totals = np.array(totals)
    return totals.max() + np.log(np.exp(totals - totals.max()).sum())


def _np_normal_lpdf(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), k=st.integers(2, 3))
def test_hmm_forward_equals_enumeration(seed, n, k):
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.ones(k), size=k)
    mu = np.sort(rng.uniform(0.0, 10.0, k))
    sigma = rng.uniform(0.5, 2.0)
    y = rng.normal(mu[rng.integers(0, k, n)], sigma)
    got = hmm_log_marginal(jnp.asarray(y), jnp.log(jnp.asarray(trans)), jnp.asarray(mu), sigma)
    np.testing.assert_allclose(float(got), _brute_force(y, np.log(trans), mu, sigma), rtol=1e-5, atol=1e-4)


def test_normal_hmm_log_prob_is_forward_minus_log_k():
    trans = jnp.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    mu = jnp.array([0.0, 2.0, 5.0])
    y = jnp.array([0.1, 1.9, 2.3, 5.2, 4.4])
    d = NormalHMM(trans, mu, 0.7, num_steps=5)
    expected = _brute_force(np.asarray(y), np.log(np.asarray(trans)), np.asarray(mu), 0.7) - np.log(3.0)
    np.testing.assert_allclose(float(d.log_prob(y)), expected, rtol=1e-5)


def test_normal_hmm_samples_follow_the_chain():
    """Emissions 100 apart reveal the states: start uniform, switch with the transition probabilities."""
    trans = jnp.array([[0.9, 0.1], [0.3, 0.7]])
    d = NormalHMM(trans, jnp.array([0.0, 100.0]), 1.0, num_steps=6)
    y = np.asarray(d.sample(jax.random.key(1), (4000,)))
    assert y.shape == (4000, 6)
    states = (y > 50).astype(int)
    n = states[:, 0].size
    assert abs(states[:, 0].mean() - 0.5) < 4 * math.sqrt(0.25 / n)
    prev, nxt = states[:, :-1].ravel(), states[:, 1:].ravel()
    for j in range(2):
        m = (prev == j).sum()
        p = float(trans[j, 1])
        assert abs(nxt[prev == j].mean() - p) < 4 * math.sqrt(p * (1 - p) / m)


def test_user_defined_distribution_in_sample_forward():
    """``y <~ NormalHMM(...)`` is drawn by the generated sampler (the improper ``mu`` is given)."""
    port = PORTS["hmm_example_dist"]
    fixed = {"theta1": jnp.array([0.9, 0.1]), "theta2": jnp.array([0.4, 0.6]), "mu": jnp.array([0.0, 100.0])}
    draws = pg.sample_forward(port.model, jax.random.key(3), N=10, num_samples=300, **fixed)
    assert draws["y"].shape == (300, 10)
    states = np.asarray(draws["y"]) > 50  # emissions 100 apart reveal the hidden states
    for j, row in enumerate(("theta1", "theta2")):  # P(next = 2 | now = j + 1) = row[2]
        now = states[:, :-1] == bool(j)
        p = float(fixed[row][1])
        rate = states[:, 1:][now].mean()
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / now.sum())


def test_hmm_ports_agree_up_to_log_k():
    a, b = PORTS["hmm_example"], PORTS["hmm_example_dist"]
    values = {"theta1": jnp.array([0.6, 0.4]), "theta2": jnp.array([0.1, 0.9]), "mu": jnp.array([3.0, 9.0])}
    lp_a = pg.logpdf(a.model)(**a.data(), **values)
    lp_b = pg.logpdf(b.model)(**b.data(), **values)
    np.testing.assert_allclose(float(lp_b - lp_a), -math.log(2.0), rtol=1e-4)


def test_stan_names_map_to_array_indices():
    ref = PORTS["eight_schools_noncentered"].reference()
    names = ref["parameter_names"]
    assert [stan_index(n) for n in names[:2]] == [("theta", (0,)), ("theta", (1,))]
    assert stan_index("tau") == ("tau", ())


# -- slow: NUTS recovers the reference posteriors -------------------------------------------------------
def _check_against_reference(samples: dict, reference: dict) -> list[str]:
    failures = []
    for stan_name, ref in reference["parameters"].items():
        var, idx = stan_index(stan_name)
        draws = np.asarray(samples[var], dtype=float)[(slice(None), slice(None)) + idx]
        ess = float(az.ess(draws))
        mean, sd = draws.mean(), draws.std(ddof=1)
        tol = 5 * ref["sd"] * math.sqrt(1 / ess + 1 / 10000)
        if not abs(mean - ref["mean"]) < tol:
            failures.append(f"{stan_name}: mean {mean:.5g} vs reference {ref['mean']:.5g} (tolerance {tol:.3g}, ess {ess:.0f})")
        if not abs(sd - ref["sd"]) < 0.15 * ref["sd"]:
            failures.append(f"{stan_name}: sd {sd:.5g} vs reference {ref['sd']:.5g} (more than 15% off)")
    return failures


def test_reference_check_passes_exact_draws_and_catches_errors():
    """The slow tests' criterion accepts independent draws from the reference and rejects small errors."""
    reference = PORTS["kidscore_momiq"].reference()
    p = reference["parameters"]
    rng = np.random.default_rng(0)

    def draws(shift=0.0, stretch=1.0):
        beta = np.stack([rng.normal(p[f"beta[{i}]"]["mean"], p[f"beta[{i}]"]["sd"], (4, 1000)) for i in (1, 2)], -1)
        beta[..., 1] = p["beta[2]"]["mean"] + shift * p["beta[2]"]["sd"] + (beta[..., 1] - p["beta[2]"]["mean"])
        sigma = p["sigma"]["mean"] + stretch * rng.normal(0.0, p["sigma"]["sd"], (4, 1000))
        return {"beta": beta, "sigma": sigma}

    assert _check_against_reference(draws(), reference) == []
    shifted = _check_against_reference(draws(shift=0.3), reference)
    assert len(shifted) == 1 and shifted[0].startswith("beta[2]: mean")
    stretched = _check_against_reference(draws(stretch=1.25), reference)
    assert len(stretched) == 1 and stretched[0].startswith("sigma: sd")


@pytest.mark.slow
@pytest.mark.parametrize("name", REFERENCE_PORTS)
def test_nuts_recovers_reference_posterior(name):
    port = PORTS[name]
    with jax.enable_x64(port.x64):
        post = pg.sample(
            port.model,
            jax.random.key(20260),
            num_warmup=1000,
            num_samples=1000,
            num_chains=4,
            progress=False,
            **port.data(),
        )
    reference = port.reference()
    for stan_name in reference["parameter_names"]:
        var, _ = stan_index(stan_name)
        assert np.shape(post.samples[var])[:2] == (4, 1000)
    failures = _check_against_reference(post.samples, reference)
    assert not failures, f"{name}:\n" + "\n".join(failures)
