"""Timing, machine description and settings shared by the benchmarks.

Timing rule: warm up (compile) first, then the median of repeated timed calls,
each ending in ``block_until_ready()``.  The implementations being compared are
timed *interleaved* (round-robin, in rotating order) so that a change of load on
a shared machine hits all of them alike.

Examples
--------
>>> import jax.numpy as jnp
>>> stats = time_interleaved({"a": lambda: jnp.ones(3), "b": lambda: jnp.zeros(3)}, rounds=2, number=3)
>>> sorted(stats), stats["a"]["calls"]
(['a', 'b'], 6)
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import jax

__all__ = [
    "Settings",
    "QUICK",
    "FULL",
    "block",
    "time_interleaved",
    "time_once",
    "machine_info",
    "load_average",
    "ratio",
    "interleaved_runs",
    "spread",
    "summarize_runs",
    "comparison",
    "section_main",
]


@dataclass(frozen=True)
class Settings:
    """Sizes of one benchmark run.

    Attributes
    ----------
    rounds, number
        Per-call timing: ``rounds`` interleaved rounds of ``number`` timed calls each.
    startup_repeats
        Repeats of the "model definition to first value" measurement (median reported).
    chain_sizes
        Node counts of the chain graphs.
    xla_timeout
        Seconds allowed for the XLA compile of one chain graph (run in a subprocess).
    num_warmup, num_samples, num_chains
        NUTS settings, the same for every framework.
    nuts_repeats
        Independent runs per framework and model of every sampler comparison (seeds
        ``0 .. nuts_repeats - 1``, frameworks interleaved in changing order; the median
        decides a verdict, the range is reported).
    bnn_nuts
        (warmup, draws, chains) of NUTS on the Bayesian MLP.
    fit_steps
        Training steps timed for ``pg.fit`` and the hand-written Optax loop.
    """

    name: str
    rounds: int
    number: int
    startup_repeats: int
    chain_sizes: tuple[int, ...]
    xla_timeout: float
    num_warmup: int
    num_samples: int
    num_chains: int
    nuts_repeats: int
    bnn_nuts: tuple[int, int, int]
    fit_steps: int


QUICK = Settings("quick", rounds=3, number=20, startup_repeats=1, chain_sizes=(10, 30, 100),
                 xla_timeout=30.0, num_warmup=50, num_samples=50, num_chains=2, nuts_repeats=1,
                 bnn_nuts=(30, 30, 2), fit_steps=100)
# sized to keep the full run near 10 minutes on the shared 2-core machine
FULL = Settings("full", rounds=10, number=100, startup_repeats=3, chain_sizes=(100, 1000, 10000),
                xla_timeout=60.0, num_warmup=500, num_samples=500, num_chains=4, nuts_repeats=3,
                bnn_nuts=(200, 200, 2), fit_steps=2500)


def block(out: Any) -> Any:
    """``block_until_ready`` on every array leaf of ``out``."""
    return jax.block_until_ready(out)


def time_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time (s) of one call of ``fn`` including ``block_until_ready``, and its result."""
    t0 = time.perf_counter()
    out = block(fn())
    return time.perf_counter() - t0, out


def time_interleaved(fns: dict[str, Callable[[], Any]], *, rounds: int, number: int) -> dict[str, dict[str, float]]:
    """Per-call times of zero-argument functions, interleaved.

    Each function is called once to warm up (compile), then ``rounds`` times
    ``number`` individually timed calls, the functions taking turns in rotating
    order.

    Returns
    -------
    dict
        name -> ``{"median": s, "q25": s, "q75": s, "calls": n, "warmup": s}``.
    """
    names = list(fns)
    warm = {name: time_once(fns[name])[0] for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            fn = fns[name]
            for _ in range(number):
                t0 = time.perf_counter()
                block(fn())
                samples[name].append(time.perf_counter() - t0)
    out = {}
    for name in names:
        q = statistics.quantiles(samples[name], n=4)
        out[name] = {
            "median": statistics.median(samples[name]),
            "q25": q[0],
            "q75": q[2],
            "calls": len(samples[name]),
            "warmup": warm[name],
        }
    return out


def ratio(a: float, b: float) -> float:
    """``a / b`` (``nan`` when ``b`` is zero or missing)."""
    return a / b if b else float("nan")


def load_average() -> str:
    """The output of ``uptime`` (the machine is shared: load matters)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:  # pragma: no cover
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=False).stdout.strip()
        return out.stdout.strip() + (" (uncommitted changes)" if dirty else "")
    except OSError:  # pragma: no cover
        return "unknown"


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, versions and the ppgraph commit."""
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "jax_backend": jax.default_backend(),
        "versions": {p: _version(p) for p in ("jax", "jaxlib", "numpyro", "blackjax", "optax", "arviz", "ppgraph")},
        "commit": _git_commit(),
    }


def interleaved_runs(runners: dict[str, Callable[[int], dict[str, Any]]], seeds: Sequence[int], *,
                     label: str = "") -> dict[str, list[dict[str, Any]]]:
    """Run every framework once per seed, interleaved, in an order that changes with the seed.

    Seed ``i`` runs the frameworks rotated by ``i`` places and, on odd ``i``, reversed
    (e.g. ``a b c``, ``c b a``... then ``c a b``...), so no framework always runs first or
    right after a particular other one: a change of load on the shared machine, or a
    warm cache left by the previous run, hits each alike.  A runner that raises is
    recorded as ``{"error": ...}`` (the report says what failed) instead of ending the run.

    Returns
    -------
    dict
        framework -> one result dict per seed (each with its ``"seed"``).

    Examples
    --------
    >>> calls = []
    >>> runs = interleaved_runs({"a": lambda s: calls.append(("a", s)) or {"x": s},
    ...                          "b": lambda s: calls.append(("b", s)) or {"x": -s}}, [0, 1])
    >>> calls
    [('a', 0), ('b', 0), ('a', 1), ('b', 1)]
    >>> runs["b"]
    [{'x': 0, 'seed': 0}, {'x': -1, 'seed': 1}]
    """
    names = list(runners)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for i, seed in enumerate(seeds):
        k = i % len(names)
        order = names[k:] + names[:k]
        if i % 2:
            order = order[::-1]
        for name in order:
            try:
                out = dict(runners[name](seed))
            except Exception as err:  # report, don't hide: the table says what failed
                out = {"error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
            out["seed"] = seed
            runs[name].append(out)
            if label:
                shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
                print(f"  {label} {name} seed {seed}: {shown}", flush=True)
    return runs


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, minimum, maximum and count of ``values`` (``nan`` when empty).

    >>> spread([3.0, 1.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0, 'n': 3}
    """
    vals = [float(v) for v in values]
    if not vals:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def summarize_runs(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-framework summary of sampler runs that report ``wall``, ``cpu`` and ``min_ess``.

    Medians are what verdicts use (``ess_per_s``, ``wall``...); ``*_range`` hold
    ``[min, max]`` over the seeds.
    """
    ok = [o for o in outs if "error" not in o]
    out: dict[str, Any] = {"n": len(ok), "errors": [o["error"] for o in outs if "error" in o]}
    columns = {
        "wall": [o["wall"] for o in ok],
        "cpu": [o["cpu"] for o in ok],
        "min_ess": [o["min_ess"] for o in ok],
        "ess_per_s": [o["min_ess"] / o["wall"] for o in ok],
        "ess_per_cpu_s": [o["min_ess"] / o["cpu"] for o in ok],
    }
    for key, vals in columns.items():
        s = spread(vals)
        out[key] = s["median"]
        out[key + "_range"] = [s["min"], s["max"]]
    out["divergences"] = [o.get("divergences") for o in ok]
    return out


def comparison(benchmark: str, metric: str, ppgraph: Sequence[float], reference: Sequence[float], *,
               reference_name: str, target: float | None, higher_is_better: bool = True,
               note: str = "") -> dict[str, Any]:
    """One row of a benchmark table: ppgraph against a reference, several seeds each.

    ``ppgraph`` and ``reference`` hold one measurement per seed (paired by position,
    measured interleaved).  The ratio is ppgraph / reference; its median over the
    seeds (of the per-seed ratios) decides the verdict against ``target``
    (ratio >= target when ``higher_is_better``, else ratio <= target).

    Examples
    --------
    >>> row = comparison("m", "min-ESS/s", [2.0, 4.0, 3.0], [2.0, 2.0, 2.0], reference_name="NumPyro",
    ...                  target=1.0)
    >>> row["ratio"], row["ratio_range"], row["met"]
    (1.5, [1.0, 2.0], True)
    """
    ratios = [ratio(a, b) for a, b in zip(ppgraph, reference)]
    ratios = [r for r in ratios if r == r]  # drop nan
    rs = spread(ratios)
    out = {
        "benchmark": benchmark,
        "metric": metric,
        "reference_name": reference_name,
        "ppgraph": spread(ppgraph),
        "reference": spread(reference),
        "ratio": rs["median"],
        "ratio_range": [rs["min"], rs["max"]],
        "target": target,
        "higher_is_better": higher_is_better,
        "note": note,
    }
    if target is None or rs["n"] == 0:
        out["met"] = None
    else:
        out["met"] = bool(rs["median"] >= target) if higher_is_better else bool(rs["median"] <= target)
    return out


def section_main(prog: str, doc: str, run: Callable[[Settings], dict[str, Any]],
                 argv: list[str] | None = None) -> dict[str, Any]:
    """The stand-alone entry point of a section module (``python -m benchmarks.<name> [--quick] [--out F]``).

    Runs ``run(QUICK or FULL)``, prints each comparison row and optionally writes the
    results as JSON; the report itself comes from ``python -m benchmarks.run``.
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke test, not a measurement")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    results = run(QUICK if args.quick else FULL)
    for row in results["rows"]:
        print(f"{row['benchmark']}: ratio {row['ratio']:.3f} (range {row['ratio_range']}), met={row['met']}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2, default=float)
    return results
