"""The posteriordb ports against hand-written NumPyro oracles and the reference posteriors.

The data live outside the repository (``../shared/posteriordb`` or
``$PPGRAPH_POSTERIORDB``): when the folder is missing this whole module is
skipped with one reason (where the folder was expected, how to point at it), and
each of its tests fails under ``PPGRAPH_REQUIRE_EXTRAS=1`` (CI).  The helpers that need no data are
tested in ``test_posteriordb_models.py``.

Fast tests: at points near the reference posterior, every port's log density
equals that of a NumPyro model written by hand from the Stan model (evaluated in
float64), term by term (one term per node, in constrained and unconstrained
space) and as differences of the whole unconstrained density between points;
a port with one prior changed by 10% fails the same check.  
Slow tests (``-m slow``): NUTS through ``pg.sample`` with 4 chains x 1000 draws
recovers every reference mean within ``5 * sd_ref * sqrt(1/ess + 1/10000)`` and
every reference sd within 15%.
"""

from __future__ import annotations

import math

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
import pytest
from jax.scipy.special import gammaln
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import potential_energy

import ppgraph as pg
from ppgraph import dist
from ppgraph.passes import to_unconstrained
from ppgraph_tests import density_checks
from ppgraph_tests.posteriordb_models import PORTS, lag_matrix, posteriordb_dir_or_skip, stan_index

posteriordb_dir_or_skip(module=True)  # no data: skip the module (PPGRAPH_REQUIRE_EXTRAS=1: every test fails)


@pytest.fixture(autouse=True)
def posteriordb():
    """The data folder (every test here needs it): fails the test under PPGRAPH_REQUIRE_EXTRAS=1 without it."""
    return posteriordb_dir_or_skip()


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


def hmm_oracle(y, likelihood_site="hmm"):
    theta1 = numpyro.sample("theta1", nd.Dirichlet(jnp.ones(2)))
    theta2 = numpyro.sample("theta2", nd.Dirichlet(jnp.ones(2)))
    mu = numpyro.sample("mu", nd.ImproperUniform(nd.constraints.positive_ordered_vector, (), (2,)))
    numpyro.factor("mu_prior", _normal_lpdf(mu[0], 3.0, 1.0) + _normal_lpdf(mu[1], 10.0, 1.0))
    numpyro.factor(likelihood_site, _scaled_forward(np.asarray(y), jnp.stack([theta1, theta2]), mu))


def hmm_dist_oracle(N, y):
    hmm_oracle(y, likelihood_site="y")


ORACLES = {
    "eight_schools_noncentered": eight_schools_oracle,
    "blr": blr_oracle,
    "arK": arK_oracle,
    "kidscore_momiq": kidscore_momiq_oracle,
    "gp_pois_regr": gp_pois_regr_oracle,
    "hmm_example": hmm_oracle,
    "hmm_example_dist": hmm_dist_oracle,
}
# Per term, log p(port) - log p(oracle): 0, or a constant Stan drops (the distribution version of the
# HMM starts uniformly over the 2 states; Stan's forward pass has no initial-state term).
OFFSETS = {"hmm_example_dist": {"y": -math.log(2.0)}}

REFERENCE_PORTS = [name for name in PORTS if name != "hmm_example_dist"]


def reference_arrays(reference: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{variable: (mean, sd)}`` arrays from a ``reference.json`` (Stan names, 1-based)."""
    groups: dict[str, list] = {}
    for stan_name, summary in reference["parameters"].items():
        var, idx = stan_index(stan_name)
        groups.setdefault(var, []).append((idx, summary["mean"], summary["sd"]))
    out = {}
    for var, items in groups.items():
        shape = tuple(max(idx[d] for idx, _, _ in items) + 1 for d in range(len(items[0][0])))
        mean, sd = np.zeros(shape), np.zeros(shape)
        for idx, m, s in items:
            mean[idx], sd[idx] = m, s
        out[var] = (mean, sd)
    return out


def _tolerance(port) -> density_checks.Tolerance:
    return density_checks.FLOAT64 if port.x64 else density_checks.FLOAT32


def unconstrained_oracle_terms(oracle, data: dict, z: dict) -> dict[str, float]:
    """Per-site terms of the oracle in unconstrained space: ``log p(T(z)) + log|det dT/dz|``."""
    with jax.enable_x64(True):
        latents = density_checks.oracle_latents(oracle, data)
        x, ladj = {}, {}
        for name, (support, _) in latents.items():
            t = biject_to(support)
            zi = jnp.asarray(z[name], dtype=jnp.float64)
            x[name] = t(zi)
            ladj[name] = float(jnp.sum(t.log_abs_det_jacobian(zi, x[name])))
        terms = density_checks.oracle_terms(oracle, data, x)
    return {name: value + ladj.get(name, 0.0) for name, value in terms.items()}


def density_failures(model, oracle, data: dict, reference: dict, tolerance, offsets=None, n: int = 3) -> list[str]:
    """Every failure of ``model``'s log density against ``oracle`` near the reference posterior.

    At ``n`` points near the reference means (:func:`density_checks.points_near`):
    the per-node terms of ``pg.logpdf(model, terms=True)`` against the oracle's
    per-site log densities; the per-node terms of the ``to_unconstrained`` graph
    against ``log p(T(z)) + log|J|``; and the differences of the whole
    unconstrained log density between points against NumPyro's potential energy.
    The oracle sees the port's rounded values and data, in float64.
    """
    rtol, atol = tolerance
    latents = density_checks.oracle_latents(oracle, data)
    points = density_checks.points_near(latents, reference_arrays(reference), seed=0, n=n)
    lp_terms = pg.logpdf(model, terms=True)
    ugraph = to_unconstrained(model)
    lpu_terms = pg.logpdf(ugraph, terms=True)
    inputs = set(lpu_terms.compiled.inputs)
    failures, port_totals, oracle_totals = [], [], []
    for i, (z, x) in enumerate(points):
        x = {k: jnp.asarray(v) for k, v in x.items()}  # the port's precision
        got = {k: float(v) for k, v in lp_terms(**data, **x).items()}
        expected = density_checks.oracle_terms(oracle, data, x)
        failures += [f"point {i}: {f}" for f in density_checks.compare_terms(got, expected, rtol=rtol, atol=atol, offsets=offsets)]

        z = {k: jnp.asarray(v) for k, v in z.items()}
        values = {(k if k in inputs else k + "_unconstrained"): v for k, v in z.items()}
        got_u = {k.removesuffix("_unconstrained"): float(v) for k, v in lpu_terms(**data, **values).items()}
        expected_u = unconstrained_oracle_terms(oracle, data, z)
        failures += [
            f"point {i} (unconstrained): {f}"
            for f in density_checks.compare_terms(got_u, expected_u, rtol=rtol, atol=atol, offsets=offsets)
        ]
        port_totals.append(sum(got_u.values()) - sum((offsets or {}).values()))
        with jax.enable_x64(True):
            oracle_totals.append(-float(potential_energy(oracle, (), density_checks.as_float64(data),
                                                         density_checks.as_float64(z))))
    failures += density_checks.compare_differences(port_totals, oracle_totals, rtol=rtol, atol=atol)
    return failures


# -- fast: the data folder -------------------------------------------------------------------------------
def test_data_folder_found(posteriordb):
    for port in PORTS.values():
        assert (posteriordb / port.folder / "reference.json").is_file()


# -- fast: log densities against the oracles, near the reference posterior --------------------------------
@pytest.mark.parametrize("name", list(PORTS))
def test_logpdf_matches_oracle_near_reference(name):
    port = PORTS[name]
    with jax.enable_x64(port.x64):
        failures = density_failures(port.model, ORACLES[name], port.data(), port.reference(), _tolerance(port),
                                    offsets=OFFSETS.get(name))
    assert not failures, f"{name}:\n" + "\n".join(failures)


@pg.model
def blr_wrong_sigma_prior(X, D):
    """``blr`` with one prior changed: ``sigma ~ HalfNormal(9)`` instead of ``HalfNormal(10)``."""
    beta <~ dist.Normal(0.0, 10.0).expand([D])
    sigma <~ dist.HalfNormal(9.0)
    y <~ dist.Normal(X @ beta, sigma)
    return y


@pg.model
def arK_wrong_beta_prior(y, K):
    """``arK`` with one prior changed: ``beta ~ Normal(0, 11)`` instead of ``Normal(0, 10)``."""
    alpha <~ dist.Normal(0.0, 10.0)
    beta <~ dist.Normal(0.0, 11.0).expand([K])
    sigma <~ dist.HalfCauchy(2.5)
    lags = lag_matrix(y, K)
    y_next <~ dist.Normal(alpha + lags @ beta, sigma)
    return y_next


@pytest.mark.parametrize(("name", "wrong", "term"), [("blr", blr_wrong_sigma_prior, "sigma"),
                                                     ("arK", arK_wrong_beta_prior, "beta")])
def test_a_port_with_one_prior_changed_is_caught(name, wrong, term):
    """The check of ``test_logpdf_matches_oracle_near_reference`` fails for a slightly wrong prior.

    A 10% change of one prior scale moves that term by about 0.1 nats per element:
    hundreds of times the float32 tolerance, in constrained and unconstrained
    space; no other term is affected.
    """
    port = PORTS[name]
    failures = density_failures(wrong, ORACLES[name], port.data(), port.reference(), _tolerance(port))
    assert failures, "a wrong prior passed the density check"
    assert all(f"term {term!r}" in f or f.startswith("lp(point") for f in failures), failures
    assert sum(f"term {term!r}" in f for f in failures) == 2 * 3  # every point, both spaces


def test_gp_port_needs_float64_as_in_stan():
    """The 1e-10 jitter of the Stan model is too small for a float32 Cholesky at rho ~ 6."""
    port = PORTS["gp_pois_regr"]
    values = {"rho": 6.5, "alpha": 3.0, "f_tilde": jnp.zeros(11)}
    with jax.enable_x64(True):
        assert np.isfinite(float(pg.logpdf(port.model)(**port.data(), **values)))


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
