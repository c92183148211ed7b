"""The inference-gym ports against hand-written oracles and the gym's Stan ground truths.

``inference-gym`` is in the ``test`` extra, so these run in a fresh clone.  If it
is missing the module is skipped (one reason); under ``PPGRAPH_REQUIRE_EXTRAS=1``
each test fails instead.

Fast tests: reading the ground truths and datasets imports no TensorFlow; at
points near the ground-truth means every port's log density equals a scipy oracle
written by hand from the gym's model description, term by term (one term per
node) and as differences between points; a port with one prior changed fails the
same check.

Slow tests (``-m slow``): NUTS through ``pg.sample`` recovers every ground-truth
mean within ``5 * sqrt(mcse^2 + se_ref^2)`` per element (``mcse``: ArviZ's Monte
Carlo standard error of our mean, ``se_ref``: the ground truth's) and every sd
within 20%.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.distributions import constraints
from scipy import stats

import ppgraph as pg
from ppgraph import dist
from ppgraph.inference import NUTS
from ppgraph.passes import reparameterize
from ppgraph_tests import density_checks

from ppgraph_tests.inference_gym_models import GYM_PORTS, GroundTruth, ar1_path

# The test extra installs inference-gym.  Without it: skip the module, except under
# PPGRAPH_REQUIRE_EXTRAS=1, where each test fails ("inference-gym is not installed").
if importlib.util.find_spec("inference_gym") is None and os.environ.get("PPGRAPH_REQUIRE_EXTRAS") != "1":
    pytest.skip("inference-gym is not installed (pip install -e '.[test]')", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]


# -- oracles: log-density terms written from the model descriptions in inference_gym/targets -----------
def eight_schools_terms(data, v):
    return {
        "avg_effect": stats.norm.logpdf(v["avg_effect"], 0.0, 10.0),
        "log_stddev": stats.norm.logpdf(v["log_stddev"], 5.0, 1.0),
        "school_effects": stats.norm.logpdf(v["school_effects"], v["avg_effect"], np.exp(v["log_stddev"])).sum(),
        "treatment_effects": stats.norm.logpdf(data["treatment_effects"], v["school_effects"],
                                               data["treatment_stddevs"]).sum(),
    }


def stochastic_volatility_terms(data, v):
    phi = 2.0 * v["persistence_unit"] - 1.0
    mean, scale, z = v["mean_log_volatility"], v["white_noise_shock_scale"], v["log_volatility_innovations"]
    x = [mean + scale / np.sqrt(1.0 - phi**2) * z[0]]  # the AR(1) recursion, as a loop
    for t in range(1, len(z)):
        x.append(mean + phi * (x[-1] - mean) + scale * z[t])
    return {
        "persistence_unit": stats.beta.logpdf(v["persistence_unit"], 20.0, 1.5),
        "mean_log_volatility": stats.cauchy.logpdf(mean, 0.0, 5.0),
        "white_noise_shock_scale": stats.halfcauchy.logpdf(scale, 0.0, 2.0),
        "log_volatility_innovations": stats.norm.logpdf(z).sum(),
        "centered_returns": stats.norm.logpdf(data["centered_returns"], 0.0, np.exp(np.array(x) / 2.0)).sum(),
    }


def brownian_motion_terms(data, v):
    locs, s = v["locs"], data["innovation_noise_scale"]
    walk = stats.norm.logpdf(locs[0], 0.0, s) + sum(stats.norm.logpdf(locs[t], locs[t - 1], s) for t in range(1, len(locs)))
    obs = stats.norm.logpdf(data["observed_locs"], locs[data["observed_index"]], data["observation_noise_scale"])
    return {"locs": walk, "observed_locs": obs.sum()}


ORACLES = {
    "eight_schools": eight_schools_terms,
    "stochastic_volatility_sp500_small": stochastic_volatility_terms,
    "brownian_motion_missing_middle_observations": brownian_motion_terms,
}

# Latents of each port in its own coordinates: support, and (mean, sd) near the posterior where known.
def latents_near_truth(name: str) -> tuple[dict, dict]:
    truth = GYM_PORTS[name].ground_truth()
    ms = {node: (g.mean, g.sd) for node, g in truth.items()}
    if name == "eight_schools":
        return {k: (constraints.real, np.shape(ms[k][0])) for k in ms}, ms
    if name == "stochastic_volatility_sp500_small":
        phi_mean, phi_sd = ms["persistence_of_volatility"]
        latents = {
            "persistence_unit": (constraints.unit_interval, ()),
            "mean_log_volatility": (constraints.real, ()),
            "white_noise_shock_scale": (constraints.positive, ()),
            "log_volatility_innovations": (constraints.real, (100,)),
        }
        reference = {
            "persistence_unit": ((phi_mean + 1.0) / 2.0, phi_sd / 2.0),
            "mean_log_volatility": ms["mean_log_volatility"],
            "white_noise_shock_scale": ms["white_noise_shock_scale"],
        }  # the innovations are standard normal draws
        return latents, reference
    return {"locs": (constraints.real, (30,))}, ms


def gym_density_failures(name: str, model: pg.Model, n: int = 3) -> list[str]:
    """Failures of ``model``'s log density against the oracle of ``name``, near the ground truth."""
    port = GYM_PORTS[name]
    data = port.data()
    data64 = {k: (np.asarray(v, dtype=float) if isinstance(v, jax.Array) else v) for k, v in port.inputs().items()}
    data64.update(density_checks.as_float64({k: v for k, v in data.items() if isinstance(v, jax.Array)}))
    latents, reference = latents_near_truth(name)
    lp_terms = pg.logpdf(model, terms=True)
    failures, port_totals, oracle_totals = [], [], []
    for i, (_, x) in enumerate(density_checks.points_near(latents, reference, seed=1, n=n)):
        x = {k: jnp.asarray(v) for k, v in x.items()}  # float32, as the port runs
        got = {k: float(v) for k, v in lp_terms(**data, **x).items()}
        expected = {k: float(v) for k, v in ORACLES[name](data64, density_checks.as_float64(x)).items()}
        failures += [f"point {i}: {f}" for f in density_checks.compare_terms(got, expected, rtol=2e-5, atol=2e-4)]
        port_totals.append(sum(got.values()))
        oracle_totals.append(sum(expected.values()))
    failures += density_checks.compare_differences(port_totals, oracle_totals, rtol=2e-5, atol=2e-4)
    return failures


# -- fast ---------------------------------------------------------------------------------------------------
def test_reading_ground_truths_and_datasets_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from ppgraph_tests.inference_gym_models import GYM_PORTS\n"
        "for port in GYM_PORTS.values():\n"
        "    port.ground_truth(); port.inputs()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'tensorflow_probability', 'tf_keras') or m.startswith('inference_gym'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_ground_truths_have_the_gym_quantities():
    shapes = {name: {node: g.mean.shape for node, g in port.ground_truth().items()} for name, port in GYM_PORTS.items()}
    assert shapes == {
        "eight_schools": {"avg_effect": (), "log_stddev": (), "school_effects": (8,)},
        "stochastic_volatility_sp500_small": {"persistence_of_volatility": (), "mean_log_volatility": (),
                                              "white_noise_shock_scale": (), "log_volatility": (100,)},
        "brownian_motion_missing_middle_observations": {"locs": (30,)},
    }
    for port in GYM_PORTS.values():
        for g in port.ground_truth().values():
            assert g.mean.shape == g.mean_se.shape == g.sd.shape
            assert np.all(g.sd > 0) and np.all(g.mean_se > 0) and np.all(g.mean_se < g.sd / 50)  # >= 2500 ess


def test_datasets_match_the_gym_descriptions():
    sv = GYM_PORTS["stochastic_volatility_sp500_small"].inputs()
    assert sv["centered_returns"].shape == (100,) and abs(sv["centered_returns"].mean()) < 1e-9
    bm = GYM_PORTS["brownian_motion_missing_middle_observations"].inputs()
    assert list(bm["observed_index"]) == [*range(10), *range(20, 30)]
    assert (bm["innovation_noise_scale"], bm["observation_noise_scale"]) == (0.1, 0.15)
    assert not np.isnan(bm["observed_locs"]).any()


def test_ar1_path_is_the_recursion():
    z = np.random.default_rng(0).normal(size=7)
    x = [3.0 + 0.4 / np.sqrt(1 - 0.8**2) * z[0]]
    for t in range(1, 7):
        x.append(3.0 + 0.8 * (x[-1] - 3.0) + 0.4 * z[t])
    np.testing.assert_allclose(np.asarray(ar1_path(jnp.asarray(z), 3.0, 0.4, 0.8)), x, rtol=1e-5)


@pytest.mark.parametrize("name", list(GYM_PORTS))
def test_logpdf_matches_oracle_near_ground_truth(name):
    failures = gym_density_failures(name, GYM_PORTS[name].model)
    assert not failures, f"{name}:\n" + "\n".join(failures)


@pg.model
def eight_schools_wrong_log_stddev_prior(treatment_stddevs):
    """``eight_schools`` with one prior changed: ``log_stddev ~ Normal(5, 1.1)`` instead of ``Normal(5, 1)``."""
    avg_effect <~ dist.Normal(0.0, 10.0)
    log_stddev <~ dist.Normal(5.0, 1.1)
    school_effects <~ dist.Normal(avg_effect, jnp.exp(log_stddev)).expand([treatment_stddevs.shape[0]])
    treatment_effects <~ dist.Normal(school_effects, treatment_stddevs)
    return treatment_effects


def test_a_port_with_one_prior_changed_is_caught():
    failures = gym_density_failures("eight_schools", eight_schools_wrong_log_stddev_prior)
    assert failures, "a wrong prior passed the density check"
    assert all("term 'log_stddev'" in f or f.startswith("lp(point") for f in failures), failures
    assert sum("term 'log_stddev'" in f for f in failures) == 3


# -- slow: NUTS recovers the ground truths ---------------------------------------------------------------------
def recovery_failures(samples: dict, truth: dict[str, GroundTruth], *, z: float = 5.0, sd_rtol: float = 0.2) -> list[str]:
    """Elements whose mean is more than ``z * sqrt(mcse^2 + se_ref^2)`` off, or whose sd is ``sd_rtol`` off."""
    failures = []
    for node, g in truth.items():
        draws = np.asarray(samples[node], dtype=float)  # (chain, draw, ...)
        data = az.convert_to_dataset({node: draws})
        mcse = np.asarray(az.mcse(data, method="mean")[node].values)
        mean, sd = draws.mean(axis=(0, 1)), draws.std(axis=(0, 1), ddof=1)
        bound = z * np.sqrt(mcse**2 + g.mean_se**2)
        for idx in np.ndindex(g.mean.shape):
            label = node + (str(list(idx)) if idx else "")
            if not abs(mean[idx] - g.mean[idx]) <= bound[idx]:
                failures.append(f"{label}: mean {mean[idx]:.5g} vs ground truth {g.mean[idx]:.5g} "
                                f"(tolerance {bound[idx]:.3g})")
            if not abs(sd[idx] - g.sd[idx]) <= sd_rtol * g.sd[idx]:
                failures.append(f"{label}: sd {sd[idx]:.5g} vs ground truth {g.sd[idx]:.5g} (more than {sd_rtol:.0%} off)")
    return failures


def test_recovery_check_accepts_exact_draws_and_rejects_errors():
    """The slow tests' criterion passes independent draws from the truth and catches a shift or a wrong sd."""
    truth = {"x": GroundTruth(mean=np.array([1.0, -2.0]), mean_se=np.array([0.002, 0.002]), sd=np.array([0.5, 2.0]))}
    rng = np.random.default_rng(0)
    draws = truth["x"].mean + truth["x"].sd * rng.standard_normal((2, 1000, 2))
    assert recovery_failures({"x": draws}, truth) == []
    shifted = draws + np.array([0.0, 0.5])  # 0.25 sd: ~11 Monte Carlo standard errors at ess 2000
    assert [f.split(":")[0] for f in recovery_failures({"x": shifted}, truth)] == ["x[1]"]
    stretched = truth["x"].mean + (draws - truth["x"].mean) * np.array([1.3, 1.0])
    assert [f[:8] for f in recovery_failures({"x": stretched}, truth)] == ["x[0]: sd"]


SETTINGS = {  # lean (CI runs the whole suite on 2 cores): 15-30 s each
    "eight_schools": {"num_warmup": 500, "num_samples": 1000},
    # persistence near 1 is a funnel for the mean: a higher target acceptance keeps divergences rare
    "stochastic_volatility_sp500_small": {"num_warmup": 1000, "num_samples": 500, "kernel": NUTS(target_accept=0.95)},
    "brownian_motion_missing_middle_observations": {"num_warmup": 500, "num_samples": 500},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(GYM_PORTS))
def test_nuts_recovers_ground_truth(name):
    port = GYM_PORTS[name]
    model = reparameterize(port.model) if name == "eight_schools" else port.model  # the gym's model is centred
    post = pg.sample(model, jax.random.key(8), num_chains=2, progress=False, **SETTINGS[name], **port.data())
    failures = recovery_failures(post.samples, port.ground_truth())
    assert not failures, f"{name}:\n" + "\n".join(failures)
