"""The helpers of the posteriordb ports that need no reference data.

The data folder is optional (:func:`posteriordb_dir_or_skip` skips or, under
``PPGRAPH_REQUIRE_EXTRAS=1``, fails); the HMM forward algorithm equals
brute-force enumeration; the user-defined ``NormalHMM`` distribution samples what
its density says.  These run in a fresh clone without ``shared/posteriordb``.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ppgraph as pg
from ppgraph_tests.posteriordb_models import (
    ENV_VAR,
    PORTS,
    REQUIRE_EXTRAS_VAR,
    NormalHMM,
    hmm_log_marginal,
    posteriordb_dir,
    posteriordb_dir_or_skip,
    stan_index,
)


# -- the data folder ----------------------------------------------------------------------------------
def test_missing_data_folder_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        posteriordb_dir()


def test_missing_data_folder_skips_or_fails_by_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.delenv(REQUIRE_EXTRAS_VAR, raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"nowhere.*{ENV_VAR}=/path/to/posteriordb"):
        posteriordb_dir_or_skip()
    monkeypatch.setenv(REQUIRE_EXTRAS_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match=f"not found.*{REQUIRE_EXTRAS_VAR}=1"):
        posteriordb_dir_or_skip()
    assert posteriordb_dir_or_skip(module=True) is None  # at module level: collection goes on, tests fail
    monkeypatch.setenv(ENV_VAR, str(tmp_path))  # an existing folder is used as given
    assert posteriordb_dir_or_skip() == tmp_path



def test_stan_index_parses_stan_names():
    assert stan_index("theta[3]") == ("theta", (2,))
    assert stan_index("L[2,1]") == ("L", (1, 0))
    assert stan_index("tau") == ("tau", ())
    with pytest.raises(ValueError, match="not a Stan parameter name"):
        stan_index("theta[]")


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
