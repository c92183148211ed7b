"""Issue 9: NUTS on models with discrete latents summed out, against NumPyro's enumeration.

Two models, each written for both frameworks with the same priors and data:

* a Gaussian mixture with a label per observation (n = 1,000, K = 3; ordered component
  locations);
* a hidden Markov model with Gaussian emissions (T = 500, K = 3 states; ordered
  emission means).

ppgraph: ``pg.sample`` (the ``marginalize`` pass sums the labels / states out; the
recovery of the discrete values is part of the timed call).  NumPyro: ``MCMC(NUTS)``
with ``infer={"enumerate": "parallel"}`` (funsor), the HMM through
``numpyro.contrib.control_flow.scan``; chains vectorised.  Both are timed end to end,
compile included.  Efficiency is min bulk ESS over every continuous parameter per
second; seeds are interleaved (``benchmarks.common.interleaved_runs``), the median
decides, the range is reported.  Target >= 1.0x NumPyro.

The mixture's locations are ordered so that the model is identifiable.  Its earlier prior,
``Normal(linspace(-4, 4, K), 1.5)`` per location, separated the components only softly: chains
of both frameworks switched labels (min-ESS 1-6 in most runs), so the comparison measured which
chains happened to switch.  Both frameworks now write Stan's ``ordered[K] locs;
locs ~ normal(0, 10)`` the same way: a flat density on ordered vectors
(``ImproperUniform(ordered_vector)``, sampled through ``biject_to(ordered_vector)``, i.e.
``OrderedTransform``) plus the Normal(0, 10) log density of the locations as a factor.  The
shorter ``TransformedDistribution(Normal(0, 10).expand([K]), OrderedTransform())`` is a
different prior: its Normal is on the first location and the *log* gaps, so its density in the
locations carries ``1 / gap`` and favours merged components; with it, chains of both frameworks
settled with two locations on one cluster (gap 0.08) and the third covering the other two
clusters.

Run:  python -m benchmarks.discrete [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as nd
from numpyro.contrib.control_flow import scan
from numpyro.infer import MCMC, NUTS

import ppgraph as pg
from ppgraph import dist

from .common import FULL, QUICK, Settings, block, comparison, interleaved_runs, summarize_runs
from .nuts import min_ess

__all__ = ["run", "main", "CASES"]

TARGET_NUMPYRO = 1.0


# -- the mixture ----------------------------------------------------------------------------------------
@pg.model
def mixture(n, num_components):
    weights <~ dist.Dirichlet(jnp.ones(num_components))
    # Stan's `ordered[K] locs; locs ~ normal(0, 10)`, as in numpyro_mixture (see the module docstring)
    locs <~ dist.ImproperUniform(dist.constraints.ordered_vector, (), (num_components,))
    locs_prior <~ pg.factor(dist.Normal(0.0, 10.0).log_prob(locs))
    scale <~ dist.HalfNormal(2.0)
    z <~ dist.Categorical(weights).expand([n])
    y <~ dist.Normal(locs[z], scale)
    return y


def numpyro_mixture(n, num_components, y=None):
    weights = numpyro.sample("weights", nd.Dirichlet(jnp.ones(num_components)))
    locs = numpyro.sample("locs", nd.ImproperUniform(nd.constraints.ordered_vector, (), (num_components,)))
    numpyro.factor("locs_prior", nd.Normal(0.0, 10.0).log_prob(locs).sum())
    scale = numpyro.sample("scale", nd.HalfNormal(2.0))
    with numpyro.plate("data", n):
        z = numpyro.sample("z", nd.Categorical(weights), infer={"enumerate": "parallel"})
        numpyro.sample("y", nd.Normal(locs[z], scale), obs=y)


# -- the HMM ----------------------------------------------------------------------------------------------
@pg.model
def hmm(num_steps, num_states):
    transition <~ dist.Dirichlet(jnp.ones(num_states) + 4.0 * jnp.eye(num_states))
    lowest <~ dist.Normal(-3.0, 2.0)
    gaps <~ dist.HalfNormal(3.0).expand([num_states - 1])
    means = jnp.concatenate([lowest[None], lowest + jnp.cumsum(gaps)])
    states <~ dist.DiscreteMarkovChain(jnp.ones(num_states) / num_states, transition, num_steps)
    y <~ dist.Normal(means[states], 0.8)
    return y


def numpyro_hmm(num_steps, num_states, y=None):
    transition = numpyro.sample(
        "transition", nd.Dirichlet(jnp.ones(num_states) + 4.0 * jnp.eye(num_states)).to_event(1))
    lowest = numpyro.sample("lowest", nd.Normal(-3.0, 2.0))
    gaps = numpyro.sample("gaps", nd.HalfNormal(3.0).expand([num_states - 1]).to_event(1))
    means = jnp.concatenate([lowest[None], lowest + jnp.cumsum(gaps)])
    x0 = numpyro.sample("x0", nd.Categorical(jnp.ones(num_states) / num_states), infer={"enumerate": "parallel"})
    numpyro.sample("y0", nd.Normal(means[x0], 0.8), obs=y[0])

    def step(previous, y_t):
        x = numpyro.sample("x", nd.Categorical(transition[previous]), infer={"enumerate": "parallel"})
        numpyro.sample("y", nd.Normal(means[x], 0.8), obs=y_t)
        return x, None

    scan(step, x0, y[1:])


class Case(NamedTuple):
    name: str
    description: str
    ppgraph_model: Any
    numpyro_model: Callable[..., None]
    args: tuple
    y: jax.Array
    params: list[str]


def mixture_case(n: int = 1000) -> Case:
    sim = pg.sample_forward(mixture, 0, n, 3, num_samples=1, weights=jnp.array([0.3, 0.3, 0.4]),
                            locs=jnp.array([-4.0, 0.0, 4.0]), scale=1.0)
    return Case("mixture", f"Gaussian mixture, a label per observation (n = {n:,}, K = 3)", mixture,
                numpyro_mixture, (n, 3), sim["y"][0], ["weights", "locs", "scale"])


def hmm_case(num_steps: int = 500) -> Case:
    truth = jnp.full((3, 3), 0.05) + 0.85 * jnp.eye(3)
    sim = pg.sample_forward(hmm, 0, num_steps, 3, num_samples=1, transition=truth, lowest=-3.0,
                            gaps=jnp.array([3.0, 3.0]))
    return Case("hmm", f"hidden Markov model, Gaussian emissions (T = {num_steps}, K = 3)", hmm, numpyro_hmm,
                (num_steps, 3), sim["y"][0], ["transition", "lowest", "gaps"])


CASES: dict[str, Callable[..., Case]] = {"mixture": mixture_case, "hmm": hmm_case}


# -- runners ----------------------------------------------------------------------------------------------
def run_ppgraph(case: Case, settings: Settings, seed: int) -> dict[str, Any]:
    """``pg.sample`` end to end, the recovery of the discrete values included."""
    pg.clear_cache()  # compile included, as NumPyro's run: no reuse of an earlier seed's program
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        post = pg.sample(case.ppgraph_model, seed, *case.args, y=case.y, num_warmup=settings.num_warmup,
                         num_samples=settings.num_samples, num_chains=settings.num_chains, progress=False)
        block(post.samples)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall": wall, "cpu": cpu, "min_ess": min_ess(post.samples, case.params)}


def run_numpyro(case: Case, settings: Settings, seed: int) -> dict[str, Any]:
    """NumPyro NUTS with parallel enumeration, chains vectorised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        mcmc = MCMC(NUTS(case.numpyro_model), num_warmup=settings.num_warmup, num_samples=settings.num_samples,
                    num_chains=settings.num_chains, chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(seed), *case.args, y=case.y)
        samples = block(mcmc.get_samples(group_by_chain=True))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall": wall, "cpu": cpu, "min_ess": min_ess(samples, case.params)}


def run(settings: Settings, only_models: list[str] | None = None,
        sizes: dict[str, int] | None = None) -> dict[str, Any]:
    """Both models, both frameworks, ``settings.nuts_repeats`` interleaved seeds each.

    Returns ``description``, ``rows`` (:func:`benchmarks.common.comparison`, rendered by
    ``benchmarks.report``), ``notes`` and the raw ``models`` results.
    """
    results: dict[str, Any] = {
        "description": (
            f"NUTS, {settings.num_chains} chains x ({settings.num_warmup} warmup + {settings.num_samples} draws), "
            f"{settings.nuts_repeats} interleaved seed(s), end to end (compile included).  ppgraph: `pg.sample` "
            "(the `marginalize` pass, then NUTS on the continuous latents, then the exact recovery of the "
            "discrete values, which NumPyro does not do); NumPyro: `MCMC(NUTS)` with "
            "`infer={\"enumerate\": \"parallel\"}` (funsor), the HMM through `contrib.control_flow.scan`.  "
            "min-ESS = minimum bulk ESS over every continuous parameter."),
        "settings": {"num_warmup": settings.num_warmup, "num_samples": settings.num_samples,
                     "num_chains": settings.num_chains, "repeats": settings.nuts_repeats},
        "models": {},
        "rows": [],
        "notes": [],
    }
    for name, make in CASES.items():
        if only_models and name not in only_models:
            continue
        case = make(**({} if sizes is None else {"n" if name == "mixture" else "num_steps": sizes[name]}))
        runners = {"ppgraph": lambda seed, c=case: run_ppgraph(c, settings, seed),
                   "numpyro": lambda seed, c=case: run_numpyro(c, settings, seed)}
        runs = interleaved_runs(runners, range(settings.nuts_repeats), label=f"discrete {name}")
        summary = {fw: summarize_runs(outs) for fw, outs in runs.items()}
        entry: dict[str, Any] = {"description": case.description, "runs": runs, "summary": summary}
        errors = summary["ppgraph"]["errors"] + summary["numpyro"]["errors"]
        if errors:
            results["notes"].append(f"{case.description}: errors {errors}")
        else:
            ok = [(a, b) for a, b in zip(runs["ppgraph"], runs["numpyro"])]
            for metric, key, target in (("min-ESS per wall s", "wall", TARGET_NUMPYRO),
                                        ("min-ESS per CPU s", "cpu", TARGET_NUMPYRO)):
                row = comparison(case.description, metric, [a["min_ess"] / a[key] for a, _ in ok],
                                 [b["min_ess"] / b[key] for _, b in ok], reference_name="NumPyro",
                                 target=target)
                results["rows"].append(row)
                entry[f"ess_per_{key}_vs_numpyro"] = row["ratio"]
            entry["met"] = results["rows"][-2]["met"]
        results["models"][name] = entry
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.discrete", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a measurement")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    sizes = {"mixture": 50, "hmm": 30} if args.quick else None
    results = run(settings, sizes=sizes)
    for name, entry in results["models"].items():
        s = entry["summary"]
        print(f"{entry['description']}")
        for fw in ("ppgraph", "numpyro"):
            print(f"  {fw:8s} min-ESS/s {s[fw]['ess_per_s']:.2f} (range {s[fw]['ess_per_s_range']}), "
                  f"wall {s[fw]['wall']:.1f} s, CPU {s[fw]['cpu']:.1f} s, errors {s[fw]['errors']}")
    for row in results["rows"]:
        print(f"  {row['benchmark']}: {row['metric']} {row['ratio']:.2f}x NumPyro (target >= {row['target']}x)")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
