"""Issue 10: indexed data (vectorised chains) and repeat calls, against NumPyro.

The model is an item-response model: a hierarchical logistic regression with
30,000 indexed Bernoulli observations and 501 parameters,
``y ~ Bernoulli(logits=alpha[person] - beta[item])`` with 400 persons (``alpha ~
Normal(0, sigma)``, ``sigma ~ HalfNormal(1)``) and 100 items (``beta ~ Normal(0, 1)``),
written once for ppgraph and once for NumPyro (same parameterisation, same data,
same NUTS settings; NumPyro's chains ``chain_method="vectorized"``).

Rows (seeds interleaved, median and range):

* **cold**, 1 and 4 chains: min-ESS/s of a first call, compile included
  (``pg.clear_cache()`` before each ppgraph run; a new NumPyro ``MCMC`` object);
* **second call**, 4 chains: min-ESS/s of a call on new data of the same shapes
  after a first call (ppgraph's compiled sampler is cached; NumPyro reuses its
  ``MCMC`` object with ``jit_model_args=True``, which for vectorised chains still
  compiles again in NumPyro 0.22: the row shows what each user gets, not the loop alone);
* **repeat call**, small model (eight schools, data redrawn): wall time of a second
  call with new data, against NumPyro's (a new ``MCMC`` object, as a user writes it),
  and against ppgraph's own first call (target <= 0.3x).

Min-ESS is the minimum bulk ESS (ArviZ) over every element of every latent.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
from numpyro.infer import MCMC, NUTS

import ppgraph as pg
from ppgraph import dist

from .common import Settings, block, comparison, interleaved_runs
from .nuts import min_ess

__all__ = ["run", "irt", "numpyro_irt", "make_data"]

LATENTS = ["sigma", "alpha", "beta"]


@pg.model
def irt(person, item, num_persons, num_items):
    sigma <~ dist.HalfNormal(1.0)
    alpha <~ dist.Normal(0.0, sigma).expand([num_persons])
    beta <~ dist.Normal(0.0, 1.0).expand([num_items])
    y <~ dist.Bernoulli(logits=alpha[person] - beta[item])
    return y


def numpyro_irt(person, item, y=None, *, num_persons=400, num_items=100):
    sigma = numpyro.sample("sigma", nd.HalfNormal(1.0))
    alpha = numpyro.sample("alpha", nd.Normal(0.0, sigma).expand([num_persons]))
    beta = numpyro.sample("beta", nd.Normal(0.0, 1.0).expand([num_items]))
    numpyro.sample("y", nd.Bernoulli(logits=alpha[person] - beta[item]), obs=y)


@pg.model
def schools(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta_t <~ dist.Normal(0.0, 1.0).expand([8])
    theta = mu + tau * theta_t
    y <~ dist.Normal(theta, sigma)
    return y


def numpyro_schools(sigma, y=None):
    mu = numpyro.sample("mu", nd.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", nd.HalfCauchy(5.0))
    theta_t = numpyro.sample("theta_t", nd.Normal(0.0, 1.0).expand([8]))
    numpyro.sample("y", nd.Normal(mu + tau * theta_t, sigma), obs=y)


def make_data(seed: int, num_persons: int = 400, num_items: int = 100, num_obs: int = 30_000) -> dict[str, Any]:
    """Simulated responses: indices and outcomes (the structure is fixed, ``seed`` draws the values)."""
    rng = np.random.default_rng(seed)
    person = rng.integers(0, num_persons, num_obs).astype(np.int32)
    item = rng.integers(0, num_items, num_obs).astype(np.int32)
    a, b = rng.normal(0.0, 1.0, num_persons), rng.normal(0.0, 1.0, num_items)
    y = (rng.random(num_obs) < 1.0 / (1.0 + np.exp(-(a[person] - b[item])))).astype(np.int32)
    return {"person": jnp.asarray(person), "item": jnp.asarray(item), "num_persons": num_persons,
            "num_items": num_items, "y": jnp.asarray(y)}


def _schools_data(seed: int) -> dict[str, Any]:
    sigma = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]) + jax.random.normal(jax.random.key(seed), (8,))
    return {"sigma": sigma, "y": y}


def _timed(fn: Any) -> tuple[float, float, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = block(fn())
    return time.perf_counter() - t0, time.process_time() - c0, out


def _pg(model: Any, data: dict[str, Any], settings: Settings, chains: int, seed: int, names: list[str]) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu, post = _timed(lambda: pg.sample(model, seed, **data, num_warmup=settings.num_warmup,
                                                   num_samples=settings.num_samples, num_chains=chains,
                                                   progress=False).samples)
    return {"wall": wall, "cpu": cpu, "min_ess": min_ess(post, names)}


def _numpyro(mcmc: MCMC, data: dict[str, Any], seed: int, names: list[str]) -> dict:
    arrays = {k: v for k, v in data.items() if not isinstance(v, int)}  # sizes: in the model (static)

    def go() -> Any:
        mcmc.run(jax.random.key(seed), **arrays)
        return mcmc.get_samples(group_by_chain=True)

    wall, cpu, samples = _timed(go)
    return {"wall": wall, "cpu": cpu, "min_ess": min_ess(samples, names)}


def _mcmc(model: Any, settings: Settings, chains: int) -> MCMC:
    return MCMC(NUTS(model), num_warmup=settings.num_warmup, num_samples=settings.num_samples,
                num_chains=chains, chain_method="vectorized", progress_bar=False, jit_model_args=True)


def _rows_ess(label: str, runs: dict[str, list[dict]], note: str = "") -> dict[str, Any]:
    ok = lambda fw: [o for o in runs[fw] if "error" not in o]  # noqa: E731
    ess = {fw: [o["min_ess"] / o["wall"] for o in ok(fw)] for fw in runs}
    return comparison(label, "min-ESS/s", ess["ppgraph"], ess["numpyro"], reference_name="NumPyro",
                      target=1.0, note=note)


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """The indexed-data and repeat-call rows (see the module docstring)."""
    quick = settings.name == "quick"
    sizes = dict(num_persons=40, num_items=10, num_obs=600) if quick else {}
    seeds = list(range(max(3, settings.nuts_repeats) if not quick else 1))
    rows, raw = [], {}
    np_irt = functools.partial(numpyro_irt, num_persons=sizes.get("num_persons", 400),
                               num_items=sizes.get("num_items", 100))

    for chains in (1, settings.num_chains):
        def cold_pg(seed: int, chains: int = chains) -> dict:
            pg.clear_cache()
            return _pg(irt, make_data(seed, **sizes), settings, chains, seed, LATENTS)

        def cold_np(seed: int, chains: int = chains) -> dict:
            return _numpyro(_mcmc(np_irt, settings, chains), make_data(seed, **sizes), seed, LATENTS)

        runs = interleaved_runs({"ppgraph": cold_pg, "numpyro": cold_np}, seeds, label=f"indexed cold {chains}")
        raw[f"cold_{chains}"] = runs
        rows.append(_rows_ess(f"indexed IRT (30,000 obs), {chains} chain(s), first call", runs,
                              "compile included"))

    chains = settings.num_chains
    warm_mcmc = _mcmc(np_irt, settings, chains)
    _numpyro(warm_mcmc, make_data(1000, **sizes), 1000, LATENTS)      # compile NumPyro's sampler once
    pg.clear_cache()
    _pg(irt, make_data(1000, **sizes), settings, chains, 1000, LATENTS)  # and ppgraph's
    runs = interleaved_runs({
        "ppgraph": lambda seed: _pg(irt, make_data(seed, **sizes), settings, chains, seed, LATENTS),
        "numpyro": lambda seed: _numpyro(warm_mcmc, make_data(seed, **sizes), seed, LATENTS),
    }, seeds, label="indexed warm")
    raw["warm"] = runs
    rows.append(_rows_ess(f"indexed IRT, {chains} chains, second call (new data, same shapes)", runs,
                          "ppgraph reuses its cached sampler; NumPyro reuses its MCMC object "
                          "(jit_model_args=True), which still compiles its vectorised sampler again "
                          "(compare the cpu times of its cold and second-call runs in the JSON)"))

    names = ["mu", "tau", "theta_t"]

    def repeat_pg(seed: int) -> dict:
        pg.clear_cache()
        first = _pg(schools, _schools_data(seed), settings, chains, seed, names)
        second = _pg(schools, _schools_data(seed + 100), settings, chains, seed, names)
        return {"first": first["wall"], "wall": second["wall"], "cpu": second["cpu"]}

    def repeat_np(seed: int) -> dict:
        _numpyro(_mcmc(numpyro_schools, settings, chains), _schools_data(seed), seed, names)
        second = _numpyro(_mcmc(numpyro_schools, settings, chains), _schools_data(seed + 100), seed, names)
        return {"wall": second["wall"], "cpu": second["cpu"]}

    runs = interleaved_runs({"ppgraph": repeat_pg, "numpyro": repeat_np}, seeds, label="repeat call")
    raw["repeat"] = runs
    pg_ok = [o for o in runs["ppgraph"] if "error" not in o]
    np_ok = [o for o in runs["numpyro"] if "error" not in o]
    rows.append(comparison("eight schools, repeat call with new data", "wall s", [o["wall"] for o in pg_ok],
                           [o["wall"] for o in np_ok], reference_name="NumPyro (new MCMC)", target=1.0,
                           higher_is_better=False))
    rows.append(comparison("eight schools, repeat call / first call", "wall s", [o["wall"] for o in pg_ok],
                           [o["first"] for o in pg_ok], reference_name="ppgraph first call", target=0.3,
                           higher_is_better=False))
    return {
        "description": __doc__.split("\n\n")[1].replace("\n", " "),
        "settings": {"num_warmup": settings.num_warmup, "num_samples": settings.num_samples,
                     "num_chains": settings.num_chains, "seeds": seeds, "sizes": sizes or "full"},
        "rows": rows,
        "runs": raw,
    }


if __name__ == "__main__":  # pragma: no cover
    from .common import QUICK

    for row in run(QUICK)["rows"]:
        print(row["benchmark"], row["metric"], row["ratio"], row["met"])
