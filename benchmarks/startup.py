"""Issue 2: time to a first compiled value, and ppgraph's own cost on large graphs.

*Model definition to first value and gradient*: the same work on every side — the
unconstrained log density and its gradient at one given valid point (no search for an
initial point), compile included.  ppgraph: ``pg.model(fn)`` (parse) +
``to_unconstrained`` + ``pg.logpdf`` (codegen, exec) + the first call of
``jit(value_and_grad)``; NumPyro: the first call of ``jit(value_and_grad)`` of
``potential_energy`` (which traces the model for its sites and transforms); the
hand-written unconstrained density: the first call of its ``jit(value_and_grad)``
(trace + compile only).  One untimed round runs first, so process-level one-off costs
(imports, JAX's own caches) are not charged to whichever framework happens to go first.

*Chain graphs*: ``x0 ~ Normal(0, 1)``, ``x_i ~ Normal(x_{i-1}, 1)`` built with
``GraphBuilder`` for 100 / 1,000 / 10,000 nodes; the phases ppgraph runs itself
(build, validate, codegen + exec) are timed apart from JAX's trace and XLA's
compile, which run in a subprocess with a timeout.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from typing import Any

import jax
from numpyro.infer.util import potential_energy

import ppgraph as pg
from ppgraph import dist
from ppgraph.codegen import generate
from ppgraph.compile import value_inputs
from ppgraph.passes import to_unconstrained

from .common import Settings, block, ratio
from .logpdf import split_data
from .models import CASES, Case

__all__ = ["run", "first_value_times", "chain_builder", "chain_phases"]


def _ppgraph_first(case: Case) -> float:
    t0 = time.perf_counter()
    model = pg.model(case.source, name=case.name)
    lp = pg.logpdf(to_unconstrained(model.graph))
    fn = jax.jit(jax.value_and_grad(lambda p: lp(**case.data, **p)))
    block(fn(case.init_unconstrained()))
    return time.perf_counter() - t0


def _numpyro_first(case: Case, seed: int) -> float:
    t0 = time.perf_counter()
    fn = jax.jit(jax.value_and_grad(lambda p: -potential_energy(case.numpyro_model, (), case.numpyro_data, p)))
    block(fn(case.init_numpyro()))
    return time.perf_counter() - t0


def _handwritten_first(case: Case) -> float:
    arrays, _ = split_data(case.data)
    fn = lambda p, d: case.handwritten_unconstrained(p, d)  # noqa: E731  (a fresh function: no jit cache hit)
    t0 = time.perf_counter()
    block(jax.jit(jax.value_and_grad(fn))(case.init_unconstrained(), arrays))
    return time.perf_counter() - t0


def first_value_times(case: Case, repeats: int) -> dict[str, list[float]]:
    """Seconds from model definition to the first compiled log-density value, per framework."""
    _ppgraph_first(case), _numpyro_first(case, 99), _handwritten_first(case)  # untimed round
    out: dict[str, list[float]] = {"ppgraph": [], "numpyro": [], "handwritten": []}
    for r in range(repeats):
        out["ppgraph"].append(_ppgraph_first(case))
        out["numpyro"].append(_numpyro_first(case, r))
        out["handwritten"].append(_handwritten_first(case))
    return out


def chain_builder(n: int) -> pg.GraphBuilder:
    """A GraphBuilder holding the chain ``x0 -> x1 -> ... -> x{n-1}`` of Normal variables."""
    g = pg.GraphBuilder(f"chain{n}")
    prev = g.random("x0", dist.Normal, 0.0, 1.0)
    for i in range(1, n):
        prev = g.random(f"x{i}", dist.Normal, prev, 1.0)
    g.returns(prev)
    return g


def chain_phases(n: int) -> tuple[dict[str, float], Any]:
    """Seconds per phase ppgraph runs itself for a chain of ``n`` nodes, and the compiled logpdf.

    ``codegen`` is all of ``generate()``: the walk, the rules, rendering, Python's
    ``compile`` of the source and ``exec``; ``python_compile`` times that ``compile``
    again on its own, to show how much of ``codegen`` it is.  Each phase has its wall
    time and, as ``<phase>_cpu``, the CPU time of this process (on a loaded machine
    the wall time also counts waiting for a CPU).
    """
    marks = [(time.perf_counter(), time.process_time())]
    g = chain_builder(n)
    marks.append((time.perf_counter(), time.process_time()))
    model = g.build()  # copy + validate
    marks.append((time.perf_counter(), time.process_time()))
    graph = model.graph
    result = generate(graph, "logpdf", given=value_inputs(graph))
    marks.append((time.perf_counter(), time.process_time()))
    compile(result.source, "<chain>", "exec")
    marks.append((time.perf_counter(), time.process_time()))
    out = {}
    for i, phase in enumerate(("build", "validate", "codegen", "python_compile")):
        out[phase] = marks[i + 1][0] - marks[i][0]
        out[phase + "_cpu"] = marks[i + 1][1] - marks[i][1]
    out["total"] = marks[3][0] - marks[0][0]
    out["total_cpu"] = marks[3][1] - marks[0][1]
    return out, result


_XLA_SCRIPT = r"""
import json, sys, time
import jax, jax.numpy as jnp
from benchmarks.startup import chain_builder
from ppgraph.compile import compiled
n = int(sys.argv[1])
fn = compiled(chain_builder(n).build(), "logpdf").fn
values = {f"x{i}": jnp.float32(0.1) for i in range(n)}
jitted = jax.jit(lambda v: fn(**v))
t0 = time.perf_counter(); lowered = jitted.lower(values); t1 = time.perf_counter()
exe = lowered.compile(); t2 = time.perf_counter()
jax.block_until_ready(exe(values)); t3 = time.perf_counter()
print(json.dumps({"trace_lower": t1 - t0, "xla_compile": t2 - t1, "first_run": t3 - t2}))
"""


def xla_phases(n: int, timeout: float) -> dict[str, Any]:
    """JAX trace + lowering and XLA compile of the chain's logpdf, in a subprocess capped at ``timeout`` s."""
    try:
        proc = subprocess.run([sys.executable, "-c", _XLA_SCRIPT, str(n)], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """Both startup measurements."""
    results: dict[str, Any] = {"first_value": {}, "chain": {}}
    for name, make in CASES.items():
        if only_models and name not in only_models:
            continue
        case = make()
        times = first_value_times(case, settings.startup_repeats)
        med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
        results["first_value"][name] = {
            "times": times,
            "median": med,
            "ratio_vs_numpyro": ratio(med["ppgraph"], med["numpyro"]),
        }
        print(f"  first value {name}: " + ", ".join(f"{k} {v:.3f}s" for k, v in med.items()), flush=True)
    chain_phases(50)  # warm up the code paths once
    timed_out: int | None = None
    for n in settings.chain_sizes:
        phases, _ = chain_phases(n)
        gc.collect()
        gc.disable()  # the same again without Python's cyclic garbage collector, to see what it costs
        try:
            phases["total_cpu_nogc"] = chain_phases(n)[0]["total_cpu"]
        finally:
            gc.enable()
        if timed_out is None:
            xla = xla_phases(n, settings.xla_timeout)
            if "timeout" in xla:
                timed_out = n
        else:  # a larger graph cannot compile faster: don't spend the time
            xla = {"skipped": f"{timed_out:,} nodes already exceeded the {settings.xla_timeout:.0f} s timeout"}
        results["chain"][str(n)] = {"ppgraph": phases, "xla": xla}
        print(f"  chain {n}: " + ", ".join(f"{k} {v:.3f}s" for k, v in phases.items()) + f"; xla {xla}", flush=True)
    sizes = [str(n) for n in settings.chain_sizes]
    for kind in ("total", "total_cpu", "total_cpu_nogc"):
        totals = [results["chain"][s]["ppgraph"][kind] for s in sizes]
        suffix = kind.removeprefix("total")
        results["chain_growth" + suffix] = [ratio(b, a) / (int(sb) / int(sa)) for a, b, sa, sb in
                                            zip(totals, totals[1:], sizes, sizes[1:])]
        results["chain_largest_total" + suffix] = totals[-1]
    return results
