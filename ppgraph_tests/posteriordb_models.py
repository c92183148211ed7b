"""Ports of the posteriordb reference posteriors to ``@pg.model`` models.

Each posterior in ``../shared/posteriordb/`` that has a reference summary is
ported here (``docs/posteriordb.md`` maps every port to its Stan model):

- ``eight_schools-eight_schools_noncentered``: :data:`eight_schools_noncentered`
  (half-Cauchy scale, deterministic ``theta``);
- ``sblrc-blr``: :data:`blr` (design matrix, half-normal scale);
- ``arK-arK``: :data:`arK` (lag-matrix helper, half-Cauchy scale);
- ``kidiq-kidscore_momiq``: :data:`kidscore_momiq` (improper flat prior ``dist.Flat``);
- ``gp_pois_regr-gp_pois_regr``: :data:`gp_pois_regr` (Cholesky of a GP kernel; float64);
- ``hmm_example-hmm_example``: :data:`hmm_example` (simplex, positive-ordered, ``pg.factor``).

:data:`hmm_example_dist` is the same HMM written with a user-defined
distribution (:class:`NormalHMM`) instead of a factor.

The data folder is ``$PPGRAPH_POSTERIORDB`` if set, else ``shared/posteriordb``
beside the repository root (``<root>/../shared/posteriordb``).  It is optional:
:func:`posteriordb_dir_or_skip` skips the tests that need it when it is missing,
unless ``PPGRAPH_REQUIRE_EXTRAS=1`` (CI), which turns the skip into a failure
(``docs/posteriordb.md``).  Reference data
from stan-dev/posteriordb (BSD-3-Clause, Copyright (c) 2011-2024, Stan
Developers and their Assignees); see each folder's ``info.json``.

Examples
--------
>>> lag_matrix(jnp.arange(6.0), 2)
Array([[1., 0.],
       [2., 1.],
       [3., 2.],
       [4., 3.]], dtype=float32)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints

import ppgraph as pg
from ppgraph import dist

__all__ = [
    "ENV_VAR",
    "REQUIRE_EXTRAS_VAR",
    "posteriordb_dir",
    "posteriordb_dir_or_skip",
    "load_data",
    "load_reference",
    "stan_index",
    "lag_matrix",
    "se_kernel_cholesky",
    "hmm_log_marginal",
    "NormalHMM",
    "Port",
    "PORTS",
    "eight_schools_noncentered",
    "blr",
    "arK",
    "kidscore_momiq",
    "gp_pois_regr",
    "hmm_example",
    "hmm_example_dist",
]

ENV_VAR = "PPGRAPH_POSTERIORDB"
REQUIRE_EXTRAS_VAR = "PPGRAPH_REQUIRE_EXTRAS"


# -- data -------------------------------------------------------------------------------------------
def posteriordb_dir() -> Path:
    """The folder holding the posteriordb snapshot.

    ``$PPGRAPH_POSTERIORDB`` if set, else ``shared/posteriordb`` next to the
    repository root.  Raises ``FileNotFoundError`` (saying where it looked and
    how to point elsewhere) if the folder does not exist.
    """
    env = os.environ.get(ENV_VAR)
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "posteriordb"
    if not path.is_dir():
        raise FileNotFoundError(
            f"posteriordb reference data not found at {path}: the tests expect the folder "
            f"'shared/posteriordb' beside the repository root, or set {ENV_VAR}=/path/to/posteriordb "
            f"(see docs/posteriordb.md)"
        )
    return path


def posteriordb_dir_or_skip(*, module: bool = False) -> Path | None:
    """:func:`posteriordb_dir` for tests: skip the calling test (or module) when the folder is missing.

    The data live outside the repository, so a fresh clone has none: the tests
    that need them are skipped with one reason (where the folder was expected and
    how to point at it).  With ``PPGRAPH_REQUIRE_EXTRAS=1`` (set by ``.ci/run``) a
    missing folder fails the test instead; called at module level
    (``module=True``) it then returns ``None`` so that collection goes on and each
    test fails on its own call.
    """
    import pytest  # test-support module: pytest is only needed here

    try:
        return posteriordb_dir()
    except FileNotFoundError as err:
        if os.environ.get(REQUIRE_EXTRAS_VAR) == "1":
            if module:
                return None
            pytest.fail(f"{err} [{REQUIRE_EXTRAS_VAR}=1 requires the posteriordb data]", pytrace=False)
        pytest.skip(str(err), allow_module_level=True)


@lru_cache(maxsize=None)
def _read_json(folder: str, file: str) -> dict[str, Any]:
    path = posteriordb_dir() / folder / file
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the posteriordb snapshot (set {ENV_VAR} to a complete copy)")
    return json.loads(path.read_text())


def load_data(folder: str) -> dict[str, Any]:
    """``data.json`` of a posteriordb folder (lists as given)."""
    return _read_json(folder, "data.json")


def load_reference(folder: str) -> dict[str, Any]:
    """``reference.json`` of a posteriordb folder (``parameters[name]`` has ``mean`` and ``sd``)."""
    return _read_json(folder, "reference.json")


_STAN_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9, ]+)\])?$")


def stan_index(name: str) -> tuple[str, tuple[int, ...]]:
    """Split a Stan-style, 1-based parameter name into (variable, 0-based index).

    >>> stan_index("theta[3]")
    ('theta', (2,))
    >>> stan_index("L[2,1]")
    ('L', (1, 0))
    >>> stan_index("tau")
    ('tau', ())
    """
    match = _STAN_NAME.match(name)
    if match is None:
        raise ValueError(f"not a Stan parameter name: {name!r}")
    var, idx = match.groups()
    return var, tuple(int(i) - 1 for i in idx.split(",")) if idx else ()


# -- helpers used inside the models (module level: the model language has no loops) -----------------
def lag_matrix(y: jax.Array, K: int) -> jax.Array:
    """Lagged values of a series: row ``t`` (for ``y[K + t]``) is ``y[K+t-1], ..., y[t]``.

    Returns an array of shape ``(T - K, K)`` whose column ``k - 1`` holds lag ``k``.
    """
    T = y.shape[0]
    return jnp.stack([y[K - k : T - k] for k in range(1, K + 1)], axis=1)


def se_kernel_cholesky(x: jax.Array, alpha: jax.Array, rho: jax.Array, jitter: float = 1e-10) -> jax.Array:
    """Cholesky factor of Stan's ``cov_exp_quad(x, alpha, rho) + jitter * I``.

    ``K[i, j] = alpha**2 * exp(-(x[i] - x[j])**2 / (2 * rho**2))``.  With
    ``jitter=1e-10`` this needs float64 for long length scales (as in Stan).
    """
    sq = (x[:, None] - x[None, :]) ** 2
    cov = alpha**2 * jnp.exp(-sq / (2.0 * rho**2)) + jitter * jnp.eye(x.shape[0], dtype=sq.dtype)
    return jnp.linalg.cholesky(cov)


def hmm_log_marginal(y: jax.Array, log_trans: jax.Array, mu: jax.Array, sigma: Any = 1.0) -> jax.Array:
    """Forward algorithm of a Gaussian HMM with the hidden states summed out.

    Exactly the Stan model ``hmm_example``: ``gamma[0, k] = log N(y[0] | mu[k], sigma)``
    (no initial-state term), ``gamma[t, k] = logsumexp_j(gamma[t-1, j] + log_trans[j, k])
    + log N(y[t] | mu[k], sigma)``; returns ``logsumexp_k gamma[-1, k]``.

    Parameters
    ----------
    y
        Observations, shape ``(N,)``.
    log_trans
        ``log_trans[j, k] = log P(next = k | now = j)``, shape ``(K, K)``.
    mu, sigma
        Emission means (shape ``(K,)``) and scale.
    """
    emit = dist.Normal(mu, sigma).log_prob(y[:, None])  # (N, K)

    def step(gamma: jax.Array, emit_t: jax.Array) -> tuple[jax.Array, None]:
        return logsumexp(gamma[:, None] + log_trans, axis=0) + emit_t, None

    gamma, _ = jax.lax.scan(step, emit[0], emit[1:])
    return logsumexp(gamma)


class NormalHMM(dist.Distribution):
    """A user-defined distribution: ``num_steps`` observations of a Gaussian hidden Markov model.

    The hidden chain starts uniformly over the ``K`` states and moves with
    transition matrix ``trans`` (rows sum to one); ``y[t] ~ Normal(mu[state_t],
    sigma)``.  ``log_prob`` sums the states out with the forward algorithm, so
    ``log_prob(y) = hmm_log_marginal(y, log(trans), mu, sigma) - log(K)``.

    >>> d = NormalHMM(jnp.array([[0.9, 0.1], [0.2, 0.8]]), jnp.array([0.0, 5.0]), 1.0, num_steps=4)
    >>> d.event_shape, d.sample(jax.random.key(0)).shape
    ((4,), (4,))
    """

    arg_constraints = {"trans": constraints.real_matrix, "mu": constraints.real_vector, "sigma": constraints.positive}
    support = constraints.real_vector
    pytree_data_fields = ("trans", "mu", "sigma")
    pytree_aux_fields = ("num_steps",)

    def __init__(self, trans: Any, mu: Any, sigma: Any = 1.0, *, num_steps: int, validate_args: bool | None = None) -> None:
        self.trans = jnp.asarray(trans)
        self.mu = jnp.asarray(mu)
        self.sigma = jnp.asarray(sigma, dtype=self.mu.dtype)
        self.num_steps = int(num_steps)
        super().__init__(batch_shape=(), event_shape=(self.num_steps,), validate_args=validate_args)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        num_states = self.mu.shape[0]
        log_trans = jnp.log(self.trans)

        def one(k: jax.Array) -> jax.Array:
            k0, k_states, k_noise = jax.random.split(k, 3)
            s0 = jax.random.randint(k0, (), 0, num_states)

            def step(state: jax.Array, kt: jax.Array) -> tuple[jax.Array, jax.Array]:
                nxt = jax.random.categorical(kt, log_trans[state])
                return nxt, nxt

            _, rest = jax.lax.scan(step, s0, jax.random.split(k_states, self.num_steps - 1))
            states = jnp.concatenate([s0[None], rest])
            return self.mu[states] + self.sigma * jax.random.normal(k_noise, (self.num_steps,), self.mu.dtype)

        keys = jax.random.split(key, int(np.prod(sample_shape, dtype=int)))
        return jax.vmap(one)(keys).reshape(tuple(sample_shape) + (self.num_steps,))

    def log_prob(self, value: jax.Array) -> jax.Array:
        num_states = self.mu.shape[0]
        return hmm_log_marginal(value, jnp.log(self.trans), self.mu, self.sigma) - jnp.log(num_states)


# -- the ports ----------------------------------------------------------------------------------------
@pg.model
def eight_schools_noncentered(J, sigma):
    """posteriordb eight_schools_noncentered: ``y`` is observed."""
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta_trans <~ dist.Normal(0.0, 1.0).expand([J])
    theta = mu + tau * theta_trans
    y <~ dist.Normal(theta, sigma)
    return y


@pg.model
def blr(X, D):
    """posteriordb sblrc-blr: Bayesian linear regression, ``y`` observed."""
    beta <~ dist.Normal(0.0, 10.0).expand([D])
    sigma <~ dist.HalfNormal(10.0)
    y <~ dist.Normal(X @ beta, sigma)
    return y


@pg.model
def arK(y, K):
    """posteriordb arK-arK: AR(K); ``y_next`` (= ``y[K:]``) observed, the first K values given."""
    alpha <~ dist.Normal(0.0, 10.0)
    beta <~ dist.Normal(0.0, 10.0).expand([K])
    sigma <~ dist.HalfCauchy(2.5)
    lags = lag_matrix(y, K)
    y_next <~ dist.Normal(alpha + lags @ beta, sigma)
    return y_next


@pg.model
def kidscore_momiq(mom_iq):
    """posteriordb kidiq-kidscore_momiq: flat prior on ``beta``; ``kid_score`` observed."""
    beta <~ dist.Flat((2,))
    sigma <~ dist.HalfCauchy(2.5)
    kid_score <~ dist.Normal(beta[0] + beta[1] * mom_iq, sigma)
    return kid_score


@pg.model
def gp_pois_regr(x):
    """posteriordb gp_pois_regr-gp_pois_regr: latent GP, ``k`` observed (run in float64)."""
    rho <~ dist.Gamma(25.0, 4.0)
    alpha <~ dist.HalfNormal(2.0)
    f_tilde <~ dist.Normal(0.0, 1.0).expand([x.shape[0]])
    L_cov = se_kernel_cholesky(x, alpha, rho)
    f = L_cov @ f_tilde
    k <~ dist.Poisson(jnp.exp(f))
    return k


@pg.model
def hmm_example(y):
    """posteriordb hmm_example-hmm_example: Stan's ``target +=`` terms as factors."""
    theta1 <~ dist.Dirichlet(jnp.ones(2))
    theta2 <~ dist.Dirichlet(jnp.ones(2))
    mu <~ dist.ImproperUniform(dist.constraints.positive_ordered_vector, (), (2,))
    mu_prior <~ pg.factor(dist.Normal(jnp.array([3.0, 10.0]), 1.0).log_prob(mu))
    log_theta = jnp.log(jnp.stack([theta1, theta2]))
    hmm <~ pg.factor(hmm_log_marginal(y, log_theta, mu))
    return mu


@pg.model
def hmm_example_dist(N):
    """The same HMM with the likelihood as a user-defined distribution (differs by the constant log 2)."""
    theta1 <~ dist.Dirichlet(jnp.ones(2))
    theta2 <~ dist.Dirichlet(jnp.ones(2))
    mu <~ dist.ImproperUniform(dist.constraints.positive_ordered_vector, (), (2,))
    mu_prior <~ pg.factor(dist.Normal(jnp.array([3.0, 10.0]), 1.0).log_prob(mu))
    y <~ NormalHMM(jnp.stack([theta1, theta2]), mu, 1.0, num_steps=N)
    return y


# -- registry -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Port:
    """One ported posterior.

    Attributes
    ----------
    name
        Short name (test ids).
    folder
        posteriordb folder with ``data.json`` and ``reference.json``.
    model
        The ``@pg.model`` port.
    inputs
        ``data.json`` -> keyword arguments of the model: its arguments and the
        observed values (as for ``pg.sample(model, key, **inputs)``).
    x64
        Run in double precision (``with jax.enable_x64(True)``).
    """

    name: str
    folder: str
    model: pg.Model
    inputs: Callable[[dict[str, Any]], dict[str, Any]]
    x64: bool = False

    def data(self) -> dict[str, Any]:
        """The model's keyword inputs from the folder's ``data.json`` (arrays in the current precision)."""
        return {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in self.inputs(load_data(self.folder)).items()}

    def reference(self) -> dict[str, Any]:
        """The folder's ``reference.json``."""
        return load_reference(self.folder)


def _f(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


PORTS: dict[str, Port] = {
    p.name: p
    for p in [
        Port(
            "eight_schools_noncentered",
            "eight_schools-eight_schools_noncentered",
            eight_schools_noncentered,
            lambda d: {"J": int(d["J"]), "sigma": _f(d["sigma"]), "y": _f(d["y"])},
        ),
        Port("blr", "sblrc-blr", blr, lambda d: {"X": _f(d["X"]), "D": int(d["D"]), "y": _f(d["y"])}),
        Port(
            "arK",
            "arK-arK",
            arK,
            lambda d: {"y": _f(d["y"]), "K": int(d["K"]), "y_next": _f(d["y"])[int(d["K"]) :]},
        ),
        Port(
            "kidscore_momiq",
            "kidiq-kidscore_momiq",
            kidscore_momiq,
            lambda d: {"mom_iq": _f(d["mom_iq"]), "kid_score": _f(d["kid_score"])},
        ),
        Port(
            "gp_pois_regr",
            "gp_pois_regr-gp_pois_regr",
            gp_pois_regr,
            lambda d: {"x": _f(d["x"]), "k": _f(d["k"])},
            x64=True,
        ),
        Port("hmm_example", "hmm_example-hmm_example", hmm_example, lambda d: {"y": _f(d["y"])}),
        Port(
            "hmm_example_dist",
            "hmm_example-hmm_example",
            hmm_example_dist,
            lambda d: {"N": int(d["N"]), "y": _f(d["y"])},
        ),
    ]
}
