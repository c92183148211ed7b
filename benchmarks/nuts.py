"""Issue 3: end-to-end NUTS against NumPyro and against BlackJAX on a hand-written density.

Every run uses the same number of warmup steps, draws and chains, and is timed
end to end from the call to the samples being ready, compile included:

* ppgraph: ``pg.sample(model, key, **data, progress=False)``;
* NumPyro: ``MCMC(NUTS(model), ..., chain_method="vectorized", progress_bar=False).run(...)``;
* BlackJAX: ``window_adaptation`` + ``nuts`` on the hand-written unconstrained JAX log
  density, chains vmapped, the whole run under one ``jax.jit``.

Efficiency is the minimum bulk ESS (ArviZ) over every element of every latent
parameter, divided by the wall time.  Bulk ESS is rank-normalised, so it is the same
for a parameter and its log (BlackJAX samples in unconstrained space).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import arviz as az
import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS

from .common import Settings, block, interleaved_runs, ratio, summarize_runs
from .logpdf import split_data
from .models import CASES, Case

__all__ = ["run", "min_ess", "run_ppgraph", "run_numpyro", "run_blackjax"]

TARGET_NUMPYRO = 1.0
TARGET_BLACKJAX = 1.10


def min_ess(samples: dict[str, Any], names: list[str]) -> float:
    """Minimum bulk ESS over every element of the named variables (arrays shaped (chains, draws, ...))."""
    data = {n: np.asarray(samples[n]) for n in names}
    ess = az.ess(az.convert_to_dataset(data), method="bulk")
    return float(min(float(np.min(ess[n].values)) for n in names))


def _sampler_stats(divergences: Any) -> int:
    return int(np.sum(np.asarray(divergences))) if divergences is not None else -1


def run_ppgraph(case: Case, settings: Settings, seed: int) -> dict[str, Any]:
    """``pg.sample`` end to end."""
    import ppgraph as pg

    pg.clear_cache()  # end to end means compile included: no reuse of an earlier seed's program
    with warnings.catch_warnings():  # divergences are counted in the table; r_hat is not the question here
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        post = pg.sample(case.model, jax.random.key(seed), **case.data, num_warmup=settings.num_warmup,
                         num_samples=settings.num_samples, num_chains=settings.num_chains, progress=False)
        block(post.samples)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = getattr(post, "stats", None) or getattr(post, "sample_stats", None) or {}
    divergences = stats.get("diverging", stats.get("divergences")) if isinstance(stats, dict) else None
    return {"wall": wall, "cpu": cpu, "min_ess": min_ess(post.samples, list(case.init)),
            "divergences": _sampler_stats(divergences)}


def run_numpyro(case: Case, settings: Settings, seed: int) -> dict[str, Any]:
    """NumPyro NUTS, chains vectorised."""
    t0, c0 = time.perf_counter(), time.process_time()
    mcmc = MCMC(NUTS(case.numpyro_model), num_warmup=settings.num_warmup, num_samples=settings.num_samples,
                num_chains=settings.num_chains, chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.key(seed), **case.numpyro_data, extra_fields=("diverging",))
    samples = block(mcmc.get_samples(group_by_chain=True))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall": wall, "cpu": cpu, "min_ess": min_ess(samples, list(case.init)),
            "divergences": _sampler_stats(mcmc.get_extra_fields()["diverging"])}


def _initial_positions(case: Case, key: Any, num_chains: int) -> dict[str, Any]:
    """Uniform(-2, 2) in unconstrained space per chain (NumPyro's default ``init_to_uniform``)."""
    init = case.init_unconstrained()
    keys = jax.random.split(key, len(init))
    return {name: jax.random.uniform(k, (num_chains, *jnp.shape(v)), minval=-2.0, maxval=2.0)
            for k, (name, v) in zip(keys, init.items())}


def run_blackjax(case: Case, settings: Settings, seed: int) -> dict[str, Any]:
    """BlackJAX window adaptation + NUTS on the hand-written unconstrained density, chains vmapped."""
    t0, c0 = time.perf_counter(), time.process_time()
    arrays, _ = split_data(case.data)
    logdensity = lambda position: case.handwritten_unconstrained(position, arrays)  # noqa: E731

    def one_chain(key: Any, position: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        warm_key, sample_key = jax.random.split(key)
        warmup = blackjax.window_adaptation(blackjax.nuts, logdensity)
        (state, params), _ = warmup.run(warm_key, position, num_steps=settings.num_warmup)
        step = blackjax.nuts(logdensity, **params).step

        def body(state: Any, k: Any) -> tuple[Any, tuple[Any, Any]]:
            state, info = step(k, state)
            return state, (state.position, info.is_divergent)

        _, (positions, divergent) = jax.lax.scan(body, state, jax.random.split(sample_key, settings.num_samples))
        return positions, divergent

    init_key, run_key = jax.random.split(jax.random.key(seed))
    positions = _initial_positions(case, init_key, settings.num_chains)
    keys = jax.random.split(run_key, settings.num_chains)
    samples, divergent = block(jax.jit(jax.vmap(one_chain))(keys, positions))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    constrained = {k.removesuffix("_unconstrained"): v for k, v in samples.items()}
    return {"wall": wall, "cpu": cpu, "min_ess": min_ess(constrained, list(case.init)), "divergences": _sampler_stats(divergent)}


RUNNERS = {"ppgraph": run_ppgraph, "numpyro": run_numpyro, "blackjax": run_blackjax}


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """NUTS on every model with every framework: ``settings.nuts_repeats`` seeds each, interleaved.

    Verdicts use the median over seeds of min-ESS/s; the range is reported beside it.
    """
    import ppgraph as pg

    available = hasattr(pg, "sample")
    results: dict[str, Any] = {
        "settings": {"num_warmup": settings.num_warmup, "num_samples": settings.num_samples,
                     "num_chains": settings.num_chains, "repeats": settings.nuts_repeats},
        "ppgraph_available": available,
        "models": {},
    }
    for name, make in CASES.items():
        if only_models and name not in only_models:
            continue
        case = make()
        runners = {fw: (lambda seed, r=r: r(case, settings, seed)) for fw, r in RUNNERS.items()
                   if fw != "ppgraph" or available}
        runs = interleaved_runs(runners, range(settings.nuts_repeats), label=f"nuts {name}")
        summary = {fw: summarize_runs(outs) for fw, outs in runs.items()}
        entry: dict[str, Any] = {"description": case.description, "runs": runs, "summary": summary}
        if "ppgraph" in summary and not summary["ppgraph"]["errors"]:
            pg_s = summary["ppgraph"]
            entry["ess_per_s_vs_numpyro"] = ratio(pg_s["ess_per_s"], summary["numpyro"]["ess_per_s"])
            entry["ess_per_s_vs_blackjax"] = ratio(pg_s["ess_per_s"], summary["blackjax"]["ess_per_s"])
            entry["wall_vs_numpyro"] = ratio(pg_s["wall"], summary["numpyro"]["wall"])
            entry["wall_vs_blackjax"] = ratio(pg_s["wall"], summary["blackjax"]["wall"])
            entry["ess_per_cpu_s_vs_numpyro"] = ratio(pg_s["ess_per_cpu_s"], summary["numpyro"]["ess_per_cpu_s"])
            entry["ess_per_cpu_s_vs_blackjax"] = ratio(pg_s["ess_per_cpu_s"], summary["blackjax"]["ess_per_cpu_s"])
            entry["met"] = bool(entry["ess_per_s_vs_numpyro"] >= TARGET_NUMPYRO
                                and entry["ess_per_s_vs_blackjax"] >= 1 / TARGET_BLACKJAX)
            entry["met_cpu"] = bool(entry["ess_per_cpu_s_vs_numpyro"] >= TARGET_NUMPYRO
                                    and entry["ess_per_cpu_s_vs_blackjax"] >= 1 / TARGET_BLACKJAX)
        results["models"][name] = entry
    return results
