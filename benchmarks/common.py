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
from collections.abc import Callable
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
        Independent NUTS runs per framework and model (different seeds; median reported).
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
                xla_timeout=60.0, num_warmup=500, num_samples=500, num_chains=4, nuts_repeats=1,
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
