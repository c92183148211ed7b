"""Ports of three inference-gym targets to ``@pg.model``, with their Stan ground truths.

The ``inference-gym`` package (PyPI, ``test`` extra; Apache-2.0, Copyright The
TensorFlow Probability Authors) ships, as plain numpy modules, ground truths
computed with Stan (posterior means, the standard errors of those means and
posterior sds, from >= 20,000 draws) and the targets' datasets.  Only those
numpy files are read here, by path (:func:`gym_module`): importing
``inference_gym.targets`` would start TensorFlow, and ``inference_gym.using_*``
needs tensorflow-probability.

The ports follow the model descriptions in ``inference_gym/targets/*.py``
(``docs/posteriordb.md`` maps them):

- :data:`eight_schools` (``targets/eight_schools.py``): centred, as in the gym;
  sampled through the ``reparameterize`` pass;
- :data:`stochastic_volatility` (``targets/stochastic_volatility.py``,
  ``StochasticVolatilitySP500Small``: the last 100 S&P 500 daily price changes,
  mean-removed): written non-centred (the same posterior), the AR(1) path built
  by :func:`ar1_path` from standard normal innovations;
- :data:`brownian_motion` (``targets/brownian_motion.py``,
  ``BrownianMotionMissingMiddleObservations``: known scales, 30 steps, steps
  10-19 unobserved): a ``GaussianRandomWalk`` observed with noise where the
  data are not NaN.

Examples
--------
>>> ar1_path(jnp.array([1.0, 0.0, 0.0]), 2.0, 0.6, 0.5)  # x0 = 2 + 0.6 / sqrt(0.75), then 2 + 0.5 (x - 2)
Array([2.6928203, 2.3464103, 2.1732051], dtype=float32)
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import ppgraph as pg
from ppgraph import dist

__all__ = [
    "gym_module",
    "ground_truth",
    "GroundTruth",
    "ar1_path",
    "eight_schools",
    "stochastic_volatility",
    "brownian_motion",
    "GymPort",
    "GYM_PORTS",
]


# -- reading the package's numpy modules -------------------------------------------------------------
def gym_module(relative_path: str) -> ModuleType:
    """A numpy-only module file of the ``inference_gym`` package, loaded by path.

    ``relative_path`` is inside the package, e.g.
    ``"targets/ground_truth/eight_schools.py"``.  The package's ``__init__`` files
    are not run (``inference_gym/targets/__init__.py`` imports TensorFlow).
    Raises ``ImportError`` when the package is not installed.
    """
    return _load(relative_path)


@lru_cache(maxsize=None)
def _load(relative_path: str) -> ModuleType:
    spec = importlib.util.find_spec("inference_gym")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("inference-gym is not installed (pip install -e '.[test]')")
    path = Path(list(spec.submodule_search_locations)[0]) / relative_path
    name = "_ppgraph_gym_" + re.sub(r"\W", "_", relative_path.removesuffix(".py"))
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class GroundTruth:
    """Stan ground truth of one quantity: posterior ``mean``, its standard error ``mean_se``, ``sd``."""

    mean: np.ndarray
    mean_se: np.ndarray
    sd: np.ndarray


_CONSTANT = re.compile(r"^IDENTITY(?:_(\w+?))?_(MEAN_STANDARD_ERROR|STANDARD_DEVIATION|MEAN)$")
_FIELD = {"MEAN": "mean", "MEAN_STANDARD_ERROR": "mean_se", "STANDARD_DEVIATION": "sd"}


def ground_truth(target: str) -> dict[str, GroundTruth]:
    """The identity-transform ground truths of ``targets/ground_truth/<target>.py``.

    Keys are the gym's quantity names in lower case (``"avg_effect"``,
    ``"log_volatility"``); a target whose identity transform is one array
    (Brownian motion) has the key ``""``.
    """
    module = gym_module(f"targets/ground_truth/{target}.py")
    fields: dict[str, dict[str, np.ndarray]] = {}
    for constant, value in vars(module).items():
        match = _CONSTANT.match(constant)
        if match:
            quantity, field = match.groups()
            fields.setdefault((quantity or "").lower(), {})[_FIELD[field]] = np.asarray(value, dtype=float)
    return {quantity: GroundTruth(**f) for quantity, f in fields.items()}


# -- helpers used inside the models ---------------------------------------------------------------------
def ar1_path(innovations: jax.Array, mean: Any, noise_scale: Any, persistence: Any) -> jax.Array:
    """A stationary AR(1) path from standard normal ``innovations`` (non-centred).

    ``x[0] = mean + noise_scale / sqrt(1 - persistence**2) * innovations[0]`` and
    ``x[t] = mean + persistence * (x[t-1] - mean) + noise_scale * innovations[t]``:
    with standard normal innovations, ``x`` has the gym's
    ``autoregressive_series_fn`` distribution.
    """
    x0 = mean + noise_scale / jnp.sqrt(1.0 - persistence**2) * innovations[0]

    def step(x: jax.Array, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        nxt = mean + persistence * (x - mean) + noise_scale * z
        return nxt, nxt

    _, rest = jax.lax.scan(step, x0, innovations[1:])
    return jnp.concatenate([x0[None], rest])


# -- the ports ------------------------------------------------------------------------------------------
@pg.model
def eight_schools(treatment_stddevs):
    """inference-gym ``EightSchools``: ``treatment_effects`` observed."""
    avg_effect <~ dist.Normal(0.0, 10.0)
    log_stddev <~ dist.Normal(5.0, 1.0)
    school_effects <~ dist.Normal(avg_effect, jnp.exp(log_stddev)).expand([treatment_stddevs.shape[0]])
    treatment_effects <~ dist.Normal(school_effects, treatment_stddevs)
    return treatment_effects


@pg.model
def stochastic_volatility(num_timesteps):
    """inference-gym ``StochasticVolatility`` (non-centred): ``centered_returns`` observed."""
    persistence_unit <~ dist.Beta(20.0, 1.5)
    persistence_of_volatility = 2.0 * persistence_unit - 1.0
    mean_log_volatility <~ dist.Cauchy(0.0, 5.0)
    white_noise_shock_scale <~ dist.HalfCauchy(2.0)
    log_volatility_innovations <~ dist.Normal(0.0, 1.0).expand([num_timesteps])
    log_volatility = ar1_path(log_volatility_innovations, mean_log_volatility, white_noise_shock_scale,
                              persistence_of_volatility)
    centered_returns <~ dist.Normal(0.0, jnp.exp(log_volatility / 2.0))
    return centered_returns


@pg.model
def brownian_motion(num_timesteps, observed_index, innovation_noise_scale, observation_noise_scale):
    """inference-gym ``BrownianMotion`` (known scales): ``observed_locs`` (the non-NaN data) observed."""
    locs <~ dist.GaussianRandomWalk(innovation_noise_scale, num_steps=num_timesteps)
    observed_locs <~ dist.Normal(locs[observed_index], observation_noise_scale)
    return observed_locs


# -- data and registry ----------------------------------------------------------------------------------
def _eight_schools_inputs() -> dict[str, Any]:
    # targets/eight_schools.py builds these inside its TensorFlow model (no dataset module).
    return {
        "treatment_stddevs": np.array([15, 10, 16, 11, 9, 11, 10, 18], dtype=float),
        "treatment_effects": np.array([28, 8, -3, 7, -1, 1, 18, 12], dtype=float),
    }


def _sp500_small_inputs() -> dict[str, Any]:
    # internal/data.py: sp500_returns(num_points=100): the last 100 price changes, minus their mean.
    prices = np.asarray(gym_module("internal/datasets/sp500_closing_prices.py").CLOSING_PRICES, dtype=float)
    returns = np.diff(prices)[-100:]
    return {"num_timesteps": 100, "centered_returns": returns - returns.mean()}


def _brownian_inputs() -> dict[str, Any]:
    data = gym_module("internal/datasets/brownian_motion_missing_middle_observations.py")
    locs = np.asarray(data.OBSERVED_LOC, dtype=float)
    observed = np.flatnonzero(~np.isnan(locs))
    return {
        "num_timesteps": locs.shape[0],
        "observed_index": observed,
        "innovation_noise_scale": float(data.INNOVATION_NOISE),
        "observation_noise_scale": float(data.OBSERVATION_NOISE),
        "observed_locs": locs[observed],
    }


@dataclass(frozen=True)
class GymPort:
    """One ported inference-gym target.

    Attributes
    ----------
    name
        The gym's target name (its ground-truth module).
    model
        The ``@pg.model`` port.
    inputs
        The model's keyword inputs (arguments and observed values, numpy).
    quantities
        Ground-truth quantity -> node of the port holding it.
    """

    name: str
    model: pg.Model
    inputs: Callable[[], dict[str, Any]]
    quantities: dict[str, str]

    def data(self) -> dict[str, Any]:
        """Keyword inputs for ``pg.sample`` (float arrays in the current precision)."""
        return {
            k: (jnp.asarray(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
            for k, v in self.inputs().items()
        }

    def ground_truth(self) -> dict[str, GroundTruth]:
        """``{node: GroundTruth}`` for every reported quantity."""
        truth = ground_truth(self.name)
        return {node: truth[quantity] for quantity, node in self.quantities.items()}


GYM_PORTS: dict[str, GymPort] = {
    p.name: p
    for p in [
        GymPort(
            "eight_schools",
            eight_schools,
            _eight_schools_inputs,
            {"avg_effect": "avg_effect", "log_stddev": "log_stddev", "school_effects": "school_effects"},
        ),
        GymPort(
            "stochastic_volatility_sp500_small",
            stochastic_volatility,
            _sp500_small_inputs,
            {q: q for q in ("persistence_of_volatility", "mean_log_volatility", "white_noise_shock_scale",
                            "log_volatility")},
        ),
        GymPort(
            "brownian_motion_missing_middle_observations",
            brownian_motion,
            _brownian_inputs,
            {"": "locs"},
        ),
    ]
}
