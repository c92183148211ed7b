"""Issue 10: graphs of 10,000 scalar nodes, from ``GraphBuilder.build()`` to 20 NUTS draws, against NumPyro.

Two graphs built node by node with :class:`ppgraph.GraphBuilder`:

* **iid**: ``mu ~ Normal(0, 1)``, ``x_i ~ Normal(mu, 1)`` for ``i < n``;
* **chain**: ``x0 ~ Normal(0, 1)``, ``x_i ~ Normal(x_{i-1}, 1)``
  (:func:`benchmarks.startup.chain_builder`: the last node is the model's return).

ppgraph's time runs from ``builder.build()`` (validation) through ``pg.sample``
(the ``vectorize`` pass merges the siblings / lifts the chain, codegen, compile,
warmup, 20 draws, and the host-side unstacking into ``n`` named draws).  NumPyro's
runs the same model written vectorised, as a NumPyro user would write it
(``dist.Normal(mu, 1).expand([n])``; ``dist.GaussianRandomWalk(1.0, num_steps=n)``,
which is the same chain), through ``MCMC.run`` and ``get_samples``, with the same
NUTS settings (1 chain).  Rows: wall time and CPU time of this process (the
machine is shared: CPU time is the steadier number), ppgraph / NumPyro, seeds
interleaved.  Issue 10's target is absolute: under 30 s wall for ppgraph.

Notes also record the ``vectorize`` pass alone at ``n / 10`` and ``n`` nodes
(its growth should be about 10x: linear in nodes).
"""

from __future__ import annotations

import gc
import time
import warnings
from typing import Any

import jax
import numpy as np
import numpyro
import numpyro.distributions as nd
from numpyro.infer import MCMC, NUTS

import ppgraph as pg
from ppgraph import dist

from .common import Settings, block, comparison, interleaved_runs
from .startup import chain_builder

__all__ = ["run", "iid_builder", "numpyro_iid", "numpyro_chain"]

NUM_SAMPLES = 20


def iid_builder(n: int) -> pg.GraphBuilder:
    """A GraphBuilder holding ``mu ~ Normal(0, 1)`` and ``n`` nodes ``x_i ~ Normal(mu, 1)``."""
    g = pg.GraphBuilder(f"iid{n}")
    mu = g.random("mu", dist.Normal, 0.0, 1.0)
    for i in range(n):
        g.random(f"x{i}", dist.Normal, mu, 1.0)
    return g


def numpyro_iid(n: int) -> None:
    mu = numpyro.sample("mu", nd.Normal(0.0, 1.0))
    numpyro.sample("x", nd.Normal(mu, 1.0).expand([n]))


def numpyro_chain(n: int) -> None:
    numpyro.sample("x", nd.GaussianRandomWalk(1.0, num_steps=n))


BUILDERS = {"iid": iid_builder, "chain": chain_builder}
NUMPYRO = {"iid": numpyro_iid, "chain": numpyro_chain}


def _timed(fn: Any) -> tuple[float, float, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def _ppgraph(kind: str, n: int, warmup: int, seed: int) -> dict[str, Any]:
    builder = BUILDERS[kind](n)  # adding the nodes is the user's loop: not timed
    pg.clear_cache()  # compile included, as NumPyro's run: no reuse of an earlier seed's program

    def go() -> Any:
        model = builder.build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = pg.sample(model, seed, num_warmup=warmup, num_samples=NUM_SAMPLES, num_chains=1,
                             progress=False)
        return block(post.samples), post

    pg.clear_cache()
    wall, cpu, (samples, post) = _timed(go)
    if f"x{n - 1}" not in samples or len(samples) < n:
        raise AssertionError(f"expected draws of all {n} nodes, got {len(samples)} names")
    return {"wall": wall, "cpu": cpu, "steps": float(np.median(np.asarray(post.stats["num_steps"]))),
            "noncentered": post.info["reparam"]["noncentered"]}


def _numpyro(kind: str, n: int, warmup: int, seed: int) -> dict[str, Any]:
    def go() -> Any:
        mcmc = MCMC(NUTS(NUMPYRO[kind]), num_warmup=warmup, num_samples=NUM_SAMPLES, num_chains=1,
                    progress_bar=False)
        mcmc.run(jax.random.key(seed), n, extra_fields=("num_steps",))
        return block(mcmc.get_samples()), mcmc

    wall, cpu, (_, mcmc) = _timed(go)
    return {"wall": wall, "cpu": cpu, "steps": float(np.median(np.asarray(mcmc.get_extra_fields()["num_steps"])))}


def _pass_seconds(kind: str, n: int, repeats: int = 3) -> float:
    """CPU seconds of the pass on a fresh graph, the least of ``repeats``, with garbage collection off
    while it runs (as ``timeit`` does): a collection of the whole process's heap (NumPyro, earlier
    graphs) lands in some runs and not others (a 10,000-node chain took 0.36-0.62 s in three runs)."""
    times = []
    for _ in range(repeats):
        graph = BUILDERS[kind](n).build().graph
        pg.clear_cache()  # the pass keeps results for large graphs by content: time the pass itself
        gc.collect()
        gc.disable()
        try:
            c0 = time.process_time()
            pg.passes.vectorize(graph)
            times.append(time.process_time() - c0)
        finally:
            gc.enable()
    return min(times)


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """The iid and chain rows (see the module docstring)."""
    quick = settings.name == "quick"
    n = 100 if quick else 10_000
    warmup = 10 if quick else 100
    seeds = range(1 if quick else max(3, settings.nuts_repeats))
    rows, notes, raw = [], [], {}
    for kind in BUILDERS:
        if only_models and kind not in only_models:
            continue
        runs = interleaved_runs({"ppgraph": lambda s, k=kind: _ppgraph(k, n, warmup, s),
                                 "numpyro": lambda s, k=kind: _numpyro(k, n, warmup, s)},
                                seeds, label=f"vectorize {kind}")
        raw[kind] = runs
        ok = {fw: [o for o in outs if "error" not in o] for fw, outs in runs.items()}
        label = f"{kind}, {n:,} nodes: build to {NUM_SAMPLES} draws ({warmup} warmup, 1 chain)"
        for metric in ("wall", "cpu"):
            rows.append(comparison(label, f"{metric} s", [o[metric] for o in ok["ppgraph"]],
                                   [o[metric] for o in ok["numpyro"]], reference_name="NumPyro",
                                   target=None, higher_is_better=False))
        walls = sorted(o["wall"] for o in ok["ppgraph"])
        if walls:
            median = walls[len(walls) // 2]
            notes.append(f"{kind}: ppgraph build to {NUM_SAMPLES} draws of all {n:,} nodes in {median:.1f} s "
                         f"wall (median; issue 10's target: under 30 s) — {'met' if median < 30 else 'NOT met'}")
        steps = {fw: [o["steps"] for o in outs] for fw, outs in ok.items()}
        chosen = sorted({",".join(o["noncentered"]) or "(none)" for o in ok["ppgraph"]})
        notes.append(f"{kind}: median leapfrog steps per draw, ppgraph {steps['ppgraph']}, NumPyro {steps['numpyro']} "
                     f"(1,023 is NUTS's maximum); ppgraph's reparam='auto' non-centred {' / '.join(chosen)}")
        small, large = _pass_seconds(kind, n // 10), _pass_seconds(kind, n)
        notes.append(f"{kind}: the vectorize pass takes {small:.3f} s CPU (least of 3, garbage collection off) at {n // 10:,} nodes and {large:.3f} s "
                     f"at {n:,} ({large / small if small else float('nan'):.1f}x for 10x the nodes)")
    return {
        "description": (f"Graphs of {n:,} scalar nodes built with GraphBuilder (iid siblings; a Gaussian random "
                        f"walk), from build() to {NUM_SAMPLES} NUTS draws of every node; NumPyro runs the same "
                        "model written vectorised (expand; GaussianRandomWalk).  Lower is better."),
        "rows": rows,
        "notes": notes,
        "pending": [] if not any("error" in o for r in raw.values() for outs in r.values() for o in outs)
        else ["some runs failed: see the raw results"],
        "raw": raw,
    }
