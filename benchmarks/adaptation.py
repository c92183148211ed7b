"""Issue 10, item 5: nutpie's Fisher mass-matrix adaptations against Stan's window adaptation.

``pg.sample(..., kernel=NUTS(adaptation="fisher"))`` against ``NUTS(adaptation="window")``,
and nutpie's low-rank modified diagonal (``"low_rank"``) against ``"fisher"`` (everything
else equal: the same model, data, seed, initial points, warmup, draws and chains), on the
benchmark models (``benchmarks/models.py``), the posteriordb ports of the test suite
(``ppgraph_tests/posteriordb_models.py``: ``blr``, ``arK``, ``kidscore_momiq``; skipped
when the posteriordb folder is missing) and a regression with ten collinear predictors
(pairwise correlation 0.9, the case the low-rank correction is for).

* **min-ESS per gradient**: the minimum bulk ESS (ArviZ) over every element of every
  latent variable, per 1,000 gradient evaluations of the kept draws (the sum of the
  ``num_steps`` statistic, leapfrog steps = gradients).  The warmup's gradients are
  not recorded by ``pg.sample``; its cost is in the next metric.
* **min-ESS/s**: the same ESS per second of wall time of the whole call, warmup
  included, compile excluded (one compiling call per model and adaptation first;
  ``pg.sample`` keeps the compiled run for calls with data of the same shapes).

posteriordb's ``gp_pois_regr`` is left out (float64, about 100-175 leapfrog steps a draw): there
fisher leaves 150-190 of 4000 transitions divergent against window's 3-23, at 1.1-1.2x the
min-ESS per gradient (measured once, see ``ppgraph/inference/adaptation.py``).

Each seed runs the three adaptations, interleaved in an order that changes with the seed
(:func:`benchmarks.common.interleaved_runs`); the ratios fisher / window and low_rank /
fisher per seed, their medians over the seeds decide (target >= 1).

Run:  python -m benchmarks.adaptation [--quick]
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from .common import Settings, block, comparison, interleaved_runs, section_main
from .models import CASES
from .nuts import min_ess

__all__ = ["run", "MODELS", "ADAPTATIONS"]

ADAPTATIONS = ("fisher", "low_rank", "window")
PAIRS = (("fisher", "window"), ("low_rank", "fisher"))  # (measured, reference)
COMPILE_SEED = 1000  # the compiling call: not measured
# posteriordb ports (ppgraph_tests/posteriordb_models.py) -> their latent variables
PORTED = {"blr": ("beta", "sigma"), "arK": ("alpha", "beta", "sigma"), "kidscore_momiq": ("beta", "sigma")}


def _benchmark_models() -> dict[str, Callable[[], tuple[str, Any, dict[str, Any], list[str]]]]:
    """name -> () -> (description, model, keyword inputs, latent names)."""
    out: dict[str, Callable[[], tuple[str, Any, dict[str, Any], list[str]]]] = {}
    for name, make in CASES.items():
        def load(make: Any = make) -> tuple[str, Any, dict[str, Any], list[str]]:
            case = make()
            return case.description, case.model, case.data, list(case.init)
        out[name] = load
    out["collinear_regression"] = _collinear_regression
    for name, latents in PORTED.items():
        def load_port(name: str = name, latents: tuple = latents) -> tuple[str, Any, dict[str, Any], list[str]]:
            from ppgraph_tests.posteriordb_models import PORTS

            port = PORTS[name]
            return f"posteriordb {port.folder}", port.model, port.data(), list(latents)
        out[name] = load_port
    return out


def _collinear_regression(n: int = 200, d: int = 10, rho: float = 0.9, seed: int = 0,
                          ) -> tuple[str, Any, dict[str, Any], list[str]]:
    """Linear regression on ``d`` predictors with pairwise correlation ``rho``: a posterior with one stiff direction."""
    import jax.numpy as jnp

    import ppgraph as pg
    from ppgraph import dist

    rng = np.random.default_rng(seed)
    cov = np.full((d, d), rho) + (1 - rho) * np.eye(d)
    X = rng.multivariate_normal(np.zeros(d), cov, size=n)
    y = X @ rng.normal(size=d) + 1.0 + 0.5 * rng.normal(size=n)

    @pg.model
    def collinear(X):
        alpha <~ dist.Normal(0.0, 5.0)
        beta <~ dist.Normal(0.0, 5.0).expand([X.shape[1]])
        sigma <~ dist.HalfNormal(2.0)
        y <~ dist.Normal(alpha + X @ beta, sigma)
        return y

    return (f"regression, {d} predictors with pairwise correlation {rho}, n = {n}", collinear,
            {"X": jnp.asarray(X, jnp.float32), "y": jnp.asarray(y, jnp.float32)}, ["alpha", "beta", "sigma"])


MODELS = tuple(_benchmark_models())


def _run_once(model: Any, inputs: dict[str, Any], latents: list[str], adaptation: str, settings: Settings,
              seed: int) -> dict[str, Any]:
    import ppgraph as pg
    from ppgraph.inference import NUTS

    with warnings.catch_warnings():  # divergences are counted below; r_hat is not the question here
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        post = pg.sample(model, jax.random.key(seed), **inputs, kernel=NUTS(adaptation=adaptation),
                         num_warmup=settings.num_warmup, num_samples=settings.num_samples,
                         num_chains=settings.num_chains, progress=False)
        block(post.samples)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    grads = int(np.sum(np.asarray(post.stats["num_steps"])))
    ess = min_ess(post.samples, latents)
    return {"wall": wall, "cpu": cpu, "min_ess": ess, "gradients": grads, "ess_per_kgrad": 1000.0 * ess / grads,
            "ess_per_s": ess / wall, "divergences": int(np.sum(np.asarray(post.stats["diverging"]))),
            "step_size": float(np.median(np.asarray(post.info["adaptation"]["step_size"])))}


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """Both adaptations on every model, ``settings.nuts_repeats`` seeds, interleaved; fisher / window rows."""
    rows: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    notes: list[str] = []
    for name, load in _benchmark_models().items():
        if only_models and name not in only_models:
            continue
        try:
            description, model, inputs, latents = load()
        except FileNotFoundError as err:  # the posteriordb folder is optional
            notes.append(f"{name} skipped: {err}")
            continue
        for adaptation in ADAPTATIONS:  # compile both first: the timed calls reuse the compiled runs
            _run_once(model, inputs, latents, adaptation, settings, COMPILE_SEED)
        runners = {a: (lambda seed, a=a: _run_once(model, inputs, latents, a, settings, seed)) for a in ADAPTATIONS}
        runs = interleaved_runs(runners, range(settings.nuts_repeats), label=f"adaptation {name}")
        details[name] = {"description": description, "runs": runs}
        ok = {a: [r for r in runs[a] if "error" not in r] for a in ADAPTATIONS}
        if any(r for a in ADAPTATIONS for r in runs[a] if "error" in r):
            notes.append(f"{name}: errors {[r['error'] for a in ADAPTATIONS for r in runs[a] if 'error' in r]}")
        div = {a: [r["divergences"] for r in ok[a]] for a in ADAPTATIONS}
        step = {a: float(np.median([r["step_size"] for r in ok[a]])) if ok[a] else float("nan") for a in ADAPTATIONS}
        for measured, reference in PAIRS:
            if not ok[measured] or len(ok[measured]) != len(ok[reference]):
                continue
            note = (f"{description}; divergences per run {measured} {div[measured]}, {reference} {div[reference]}; "
                    f"median step size {measured} {step[measured]:.3g}, {reference} {step[reference]:.3g}")
            for key, metric in (("ess_per_kgrad", "min-ESS per 1,000 gradients"), ("ess_per_s", "min-ESS/s")):
                rows.append(comparison(f"{name}: {measured} / {reference} adaptation", metric,
                                       [r[key] for r in ok[measured]], [r[key] for r in ok[reference]],
                                       reference_name=reference, target=1.0,
                                       note=note if key == "ess_per_kgrad" else ""))
    summaries = []
    for measured, reference in PAIRS:
        label = f"{measured} / {reference} adaptation"
        wins = [r["ratio"] >= 1.0 for r in rows
                if r["metric"].startswith("min-ESS per") and r["benchmark"].endswith(label)]
        if wins:
            summaries.append(f"{measured} has more min-ESS per gradient than {reference} (median over seeds) on "
                             f"{sum(wins)} of {len(wins)} models")
    summary = "; ".join(summaries) if summaries else "no model ran"
    return {
        "description": "NUTS with nutpie's Fisher mass-matrix adaptation (`NUTS(adaptation=\"fisher\")`, "
        "ppgraph/inference/adaptation.py) against Stan's window adaptation (`\"window\"`), and nutpie's "
        "low-rank modified diagonal (`\"low_rank\"`) against `\"fisher\"`, everything else "
        f"equal ({settings.num_warmup} warmup, {settings.num_samples} draws, {settings.num_chains} chains, "
        f"{settings.nuts_repeats} seeds). The 'ppgraph' column is the first adaptation named, the reference the "
        "second; min-ESS per "
        "gradient counts the gradients of the kept draws, min-ESS/s the wall time of the whole call "
        "(warmup included, compile excluded). " + summary + ".",
        "rows": rows,
        "notes": notes,
        "details": details,
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m benchmarks.adaptation [--quick] [--out FILE]``."""
    return section_main("python -m benchmarks.adaptation", __doc__, run, argv)


if __name__ == "__main__":
    main()
