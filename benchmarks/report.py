"""Render the raw benchmark results (JSON) as ``docs/benchmarks.md``.

The markdown is generated from the JSON alone, so a partial re-run
(``--only NAME``) merges into the JSON and re-renders every section.  The
hand-written analysis lives in ``benchmarks/findings.md`` and is appended.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .common import ratio

__all__ = ["render"]

FINDINGS = Path(__file__).with_name("findings.md")
LINEAR_TOLERANCE = 1.25  # growth per size ratio still called linear (timing noise, caches)

SECTION_TITLES = {
    "logpdf": "1. Log density + gradient per call (issue 2)",
    "startup": "2. Model definition to first value, and ppgraph's own cost on large graphs (issue 2)",
    "nuts": "3. End-to-end NUTS (issue 3)",
    "bnn": "4. Bayesian neural networks (issue 4)",
    "import": "5. Import time (issue 10)",
    "indexed": "6. Indexed data: vectorised chains and repeat calls (issue 10)",
    "vectorize": "7. 10,000-node graphs (issue 10)",
    "discrete": "8. Discrete latent variables, marginalised (issue 9)",
    "lifted": "9. Lifted flax / equinox modules (issue 11)",
    "sgmcmc": "10. SGMCMC on networks (issue 11)",
    "adaptation": "11. Mass-matrix adaptation: nutpie's Fisher vs Stan's window (issue 10)",
    "reparam": "12. Automatic reparameterisation: reparam=\"auto\" (issue 10)",
}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)) else f"{seconds:.3f}"


def _x(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}x"


def _met(flag: bool | None) -> str:
    return "-" if flag is None else ("met" if flag else "**missed**")


def _meta(meta: dict[str, Any]) -> list[str]:
    return [
        f"Run: `{meta['command']}` on {meta['date']} ({meta['settings']} settings, {meta['duration']:.0f} s).  ",
        f"Load before: `{meta['load_before']}`; after: `{meta['load_after']}`.",
        "",
    ]


def _logpdf(sec: dict[str, Any]) -> list[str]:
    res = sec["results"]
    t = res["target"]
    out = [
        "Median time per call of `jax.jit(jax.value_and_grad(f))` (microseconds; interquartile range in "
        "the JSON).  All variants are timed interleaved in the same process.",
        "",
        "Constrained space: ppgraph's `pg.logpdf(model)` against a hand-written JAX density "
        "(`jax.scipy.stats`), and against a hand-written function that calls the same "
        "`numpyro.distributions` log densities the generated code calls (this isolates the cost of "
        "code generation from the cost of the density library).",
        "",
        "| model | hand-written JAX | hand-written, numpyro dists | ppgraph | ppgraph / hand-written "
        "| ppgraph / numpyro dists | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in res["models"].items():
        m = {k: v["median"] for k, v in r["times"].items()}
        out.append(
            f"| {name} | {_us(m['handwritten'])} | {_us(m['handwritten_dists'])} | {_us(m['ppgraph'])} "
            f"| {_x(r['ratio_vs_handwritten'])} | {_x(r['ratio_vs_handwritten_dists'])} "
            f"| {_met(r['ratio_vs_handwritten'] <= t)} (<= {t:.2f}x) |"
        )
    out += [
        "",
        "Unconstrained space (what NUTS runs on): ppgraph's density after `observe(y=...)` + "
        "`to_unconstrained` against the hand-written unconstrained density (log transform, log-Jacobian "
        "by hand) and NumPyro's `initialize_model(...).potential_fn` (negated).",
        "",
        "| model | hand-written JAX | NumPyro potential_fn | ppgraph | ppgraph / hand-written "
        "| ppgraph / NumPyro | ppgraph / faster | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in res["models"].items():
        m = {k: v["median"] for k, v in r["times"].items()}
        out.append(
            f"| {name} | {_us(m['handwritten_unconstrained'])} | {_us(m['numpyro_potential'])} "
            f"| {_us(m['ppgraph_unconstrained'])} | {_x(r['ratio_unconstrained_vs_handwritten'])} "
            f"| {_x(r['ratio_unconstrained_vs_numpyro'])} | {_x(r['ratio_unconstrained_vs_best'])} "
            f"| {_met(r['ratio_unconstrained_vs_best'] <= t)} (<= {t:.2f}x) |"
        )
    out += ["", "Models:", ""] + [f"- `{n}`: {r['description']}" for n, r in res["models"].items()]
    return out


def _startup(sec: dict[str, Any]) -> list[str]:
    res = sec["results"]
    out = [
        "Seconds from the model definition to the first compiled value and gradient of the "
        "unconstrained log density at one given valid point, the same work on every side (median of "
        "the repeats; one untimed round first).  ppgraph: `pg.model(fn)` + `to_unconstrained` + "
        "`pg.logpdf` + first call of `jit(value_and_grad)`.  NumPyro: first call of "
        "`jit(value_and_grad)` of `potential_energy` (which traces the model for its sites and "
        "transforms).  Hand-written: first call of `jit(value_and_grad)` of the unconstrained density "
        "(JAX trace + XLA compile only, the floor for both).",
        "",
        "| model | ppgraph | NumPyro | hand-written | ppgraph / NumPyro |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in res["first_value"].items():
        m = r["median"]
        out.append(f"| {name} | {_s(m['ppgraph'])} | {_s(m['numpyro'])} | {_s(m['handwritten'])} "
                   f"| {_x(r['ratio_vs_numpyro'])} |")
    out += [
        "",
        "Chain graphs `x0 ~ Normal(0, 1)`, `x_i ~ Normal(x_{i-1}, 1)` built with `GraphBuilder` "
        "(seconds).  ppgraph's own phases: build (the builder calls), validate (`build()`: copy + "
        "validate), codegen (`generate()`: walk, rules, render, Python `compile`, `exec`; the Python "
        "`compile` of the generated source is also timed alone).  JAX trace + lowering and XLA compile "
        "of the generated logpdf run in a subprocess with a timeout.",
        "",
        "Each cell: wall time / CPU time of the process (under load the wall time also counts "
        "waiting for a CPU; the CPU time is the work ppgraph does).",
        "",
        "| nodes | build | validate | codegen + exec | (Python compile alone) | ppgraph total "
        "| total per 1,000 nodes | CPU total, gc disabled | JAX trace + lower | XLA compile |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in res["chain"].items():
        p, x = r["ppgraph"], r["xla"]
        if "timeout" in x:
            trace = compile_ = f"timeout ({x['timeout']:.0f} s)"
        elif "skipped" in x:
            trace = compile_ = f"not run: {x['skipped']}"
        elif "error" in x:
            trace = compile_ = f"error: {x['error']}"
        else:
            trace, compile_ = _s(x["trace_lower"]), _s(x["xla_compile"])
        cell = lambda k: f"{_s(p[k])} / {_s(p[k + '_cpu'])}"  # noqa: E731
        per = f"{_s(p['total'] / int(n) * 1000)} / {_s(p['total_cpu'] / int(n) * 1000)}"
        out.append(
            f"| {int(n):,} | {cell('build')} | {cell('validate')} | {cell('codegen')} "
            f"| {cell('python_compile')} | {cell('total')} | {per} | {_s(p.get('total_cpu_nogc'))} "
            f"| {trace} | {compile_} |"
        )
    growth = ", ".join(f"{g:.2f}" for g in res["chain_growth"])
    growth_cpu = ", ".join(f"{g:.2f}" for g in res["chain_growth_cpu"])
    growth_nogc = ", ".join(f"{g:.2f}" for g in res.get("chain_growth_cpu_nogc", []))
    largest = int(max(res["chain"], key=int))
    out += [
        "",
        f"Growth (time ratio / size ratio between consecutive sizes; 1.00 = linear): wall {growth}; "
        f"CPU {growth_cpu}; CPU with gc disabled {growth_nogc}.  {largest:,} nodes: {res['chain_largest_total']:.2f} s wall, "
        f"{res['chain_largest_total_cpu']:.2f} s CPU (target: linear, 10,000 nodes under 5 s"
        + ("" if largest >= 10000 else "; not measured at 10,000 nodes in this run") + ").",
    ]
    return out


def _nuts(sec: dict[str, Any]) -> list[str]:
    res = sec["results"]
    s = res["settings"]
    out = [
        f"{s['num_chains']} chains x ({s['num_warmup']} warmup + {s['num_samples']} draws), the same for "
        f"every framework; {s['repeats']} seed(s) each, frameworks interleaved in an order that changes "
        "with the seed; medians decide, [min-max] over the seeds beside them.  Wall time is end to end "
        "(compile included).  min-ESS = minimum bulk ESS (ArviZ) over every element of every latent "
        "parameter.  ppgraph: `pg.sample`; NumPyro: `MCMC(NUTS)` with `chain_method=\"vectorized\"`; "
        "BlackJAX: `window_adaptation` + `nuts`, vmapped chains, on the hand-written JAX density.",
        "",
    ]
    if not res["ppgraph_available"]:
        out += ["**ppgraph's `pg.sample` was not available when this ran: its columns are pending.**", ""]
    out += [
        "| model | framework | wall (s) | CPU (s) | min-ESS | min-ESS per wall s | min-ESS per CPU s "
        "| divergences |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in res["models"].items():
        for fw, v in r["summary"].items():
            err = f" (errors: {'; '.join(v['errors'])})" if v["errors"] else ""
            out.append(f"| {name} | {fw}{err} | {_s(v['wall'])} | {_s(v['cpu'])} | {v['min_ess']:.0f} "
                       f"| {_med_range(v, 'ess_per_s')} | {_med_range(v, 'ess_per_cpu_s')} | {v['divergences']} |")
    out += [
        "",
        "Ratios of ppgraph's min-ESS per second, by wall time / by CPU time (targets: >= 1 against "
        "NumPyro, >= 0.91 against BlackJAX), and of wall times.",
        "",
        "| model | ESS/s vs NumPyro | ESS/s vs BlackJAX | wall vs NumPyro | wall vs BlackJAX | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in res["models"].items():
        out.append(
            f"| {name} | {_x(r.get('ess_per_s_vs_numpyro'))} / {_x(r.get('ess_per_cpu_s_vs_numpyro'))} "
            f"| {_x(r.get('ess_per_s_vs_blackjax'))} / {_x(r.get('ess_per_cpu_s_vs_blackjax'))} "
            f"| {_x(r.get('wall_vs_numpyro'))} | {_x(r.get('wall_vs_blackjax'))} | {_verdict(r)} |")
    return out


def _med_range(v: dict[str, Any], key: str) -> str:
    """``median [min-max]`` of a summarised column (plain median for results without a range)."""
    lo_hi = v.get(key + "_range")
    if not lo_hi or v.get("n", 1) < 2:
        return f"{v[key]:.2f}"
    return f"{v[key]:.2f} [{lo_hi[0]:.2f}-{lo_hi[1]:.2f}]"


def _verdict(r: dict[str, Any]) -> str:
    """met (wall time), met in CPU time only, missed, or pending."""
    if "met" not in r:
        return "pending"
    if r["met"]:
        return "met"
    return "met in CPU time only" if r.get("met_cpu") else "**missed**"


def _bnn(sec: dict[str, Any]) -> list[str]:
    res = sec["results"]
    out: list[str] = []
    for part in res.get("pending", []):
        out += [f"**Pending: {part}**", ""]
    lp = res.get("logpdf")
    if lp:
        m = {k: v["median"] for k, v in lp["times"].items()}
        out += [
            f"Log density + gradient per call, {lp['description']} (microseconds, median, interleaved).",
            "",
            "| hand-written JAX | NumPyro (explicit weight sites) | ppgraph | ppgraph / hand-written "
            "| ppgraph / NumPyro | target |",
            "|---:|---:|---:|---:|---:|---|",
            f"| {_us(m['handwritten'])} | {_us(m['numpyro'])} | {_us(m['ppgraph'])} "
            f"| {_x(lp['ratio_vs_handwritten'])} | {_x(lp['ratio_vs_numpyro'])} "
            f"| {_met(lp['ratio_vs_handwritten'] <= lp['target'])} (<= {lp['target']:.2f}x hand-written) |",
            "",
        ]
    nuts = res.get("nuts")
    if nuts:
        out += [
            f"NUTS on {nuts['description']}: {nuts['settings']}.",
            "",
            "| framework | wall (s) | CPU (s) | min-ESS | min-ESS per wall s | min-ESS per CPU s | divergences |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for fw, v in nuts["summary"].items():
            out.append(f"| {fw} | {_s(v['wall'])} | {_s(v['cpu'])} | {v['min_ess']:.0f} | {_med_range(v, 'ess_per_s')} "
                       f"| {_med_range(v, 'ess_per_cpu_s')} | {v['divergences']} |")
        out += ["", f"ESS/s ppgraph / NumPyro: {_x(nuts.get('ess_per_s_vs_numpyro'))} by wall time, "
                    f"{_x(nuts.get('ess_per_cpu_s_vs_numpyro'))} by CPU time (target >= 1): {_verdict(nuts)}.", ""]
    fit = res.get("fit")
    if fit:
        fc = fit["fixed_cost"]
        e2e = fit["end_to_end_steps_per_s"]
        out += [
            f"Training steps per second, {fit['description']}.  Two verdicts, both needed: the marginal "
            "per-step rate (judged in CPU time: on a shared machine the difference of two wall times is "
            "mostly waiting for a CPU) and the whole call end to end at the longer run (set-up and "
            f"compile included): marginal {_met(fit.get('met_marginal', fit['met']))}, end to end "
            f"{_met(fit.get('met_end_to_end'))}.",
            "",
            "| | hand-written Optax loop | pg.fit | hand-written / pg.fit | target |",
            "|---|---:|---:|---:|---|",
            f"| steps per CPU second (marginal) | {fit['handwritten_steps_per_cpu_s']:.0f} "
            f"| {fit['ppgraph_steps_per_cpu_s']:.0f} | {_x(fit['slowdown_cpu'])} "
            f"| {_met(fit['met'])} (<= {fit['target']:.2f}x) |",
            f"| steps per wall second (marginal) | {fit['handwritten_steps_per_s']:.0f} "
            f"| {fit['ppgraph_steps_per_s']:.0f} | {_x(fit['slowdown'])} | |",
            f"| fixed cost, wall / CPU s (set-up + compile) | {_s(fc['handwritten']['wall'])} / "
            f"{_s(fc['handwritten']['cpu'])} | {_s(fc['ppgraph']['wall'])} / {_s(fc['ppgraph']['cpu'])} | | |",
            f"| end to end at the longer run, steps per wall second | {e2e['handwritten']:.0f} "
            f"| {e2e['ppgraph']:.0f} | {_x(ratio(e2e['handwritten'], e2e['ppgraph']))} "
            f"| {_met(fit.get('met_end_to_end'))} (<= {fit['target']:.2f}x) |",
            "",
        ]
    return out


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _spread_cell(s: dict[str, Any]) -> str:
    if s.get("n", 0) < 2:
        return _num(s.get("median"))
    return f"{_num(s['median'])} [{_num(s['min'])}-{_num(s['max'])}]"


def _row_verdict(r: dict[str, Any]) -> str:
    if r.get("met") is None:
        return "-"
    return _met(r["met"])


def _rows(sec: dict[str, Any]) -> list[str]:
    """Generic renderer: ``results["rows"]`` made by :func:`benchmarks.common.comparison`."""
    res = sec["results"]
    out: list[str] = []
    if res.get("description"):
        out += [res["description"], ""]
    for part in res.get("pending", []):
        out += [f"**Pending: {part}**", ""]
    if res.get("rows"):
        out += [
            "Medians over the seeds with [min-max]; the ratio is ppgraph / reference per seed (runs "
            "interleaved), its median decides the verdict.",
            "",
            "| benchmark | metric | ppgraph | reference | ratio | target | |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for r in res["rows"]:
            lo, hi = r["ratio_range"]
            rng = f" [{_num(lo)}-{_num(hi)}]" if r["ppgraph"].get("n", 0) > 1 else ""
            target = "-" if r["target"] is None else ((">= " if r["higher_is_better"] else "<= ") + f"{r['target']:g}x")
            out.append(f"| {r['benchmark']} | {r['metric']} | {_spread_cell(r['ppgraph'])} "
                       f"| {r['reference_name']}: {_spread_cell(r['reference'])} | {_num(r['ratio'])}x{rng} "
                       f"| {target} | {_row_verdict(r)} |")
        notes = [r for r in res["rows"] if r.get("note")]
        if notes:
            out += [""] + [f"- {r['benchmark']}: {r['note']}" for r in notes]
    for note in res.get("notes", []):
        out += ["", note]
    return out


RENDERERS = {"logpdf": _logpdf, "startup": _startup, "nuts": _nuts, "bnn": _bnn}
RENDERERS.update({key: _rows for key in SECTION_TITLES if key not in RENDERERS})


def _summary(data: dict[str, Any]) -> list[str]:
    rows = []
    secs = data["sections"]
    if "logpdf" in secs:
        for name, r in secs["logpdf"]["results"]["models"].items():
            rows.append(f"| logpdf+grad per call, {name} | <= 1.10x of the faster reference "
                        f"| constrained {_x(r['ratio_vs_handwritten'])}, unconstrained "
                        f"{_x(r['ratio_unconstrained_vs_best'])} | {_met(r['met'])} |")
    if "startup" in secs:
        res = secs["startup"]["results"]
        if int(max(res["chain"], key=int)) >= 10000:
            wall, cpu = res["chain_largest_total"], res["chain_largest_total_cpu"]
            fast = "under 5 s: met" if wall < 5.0 else ("under 5 s: met in CPU time only" if cpu < 5.0
                                                       else "under 5 s: **missed**")
            linear = all(g <= LINEAR_TOLERANCE for g in res["chain_growth_cpu"])
            verdict = fast + ("; linear: met" if linear else "; linear: **missed**")
            rows.append(f"| ppgraph's own time, 10,000-node chain | < 5 s, linear "
                        f"| {wall:.2f} s wall, {cpu:.2f} s CPU; growth (CPU) "
                        f"{', '.join(f'{g:.2f}' for g in res['chain_growth_cpu'])} | {verdict} |")
    if "nuts" in secs:
        for name, r in secs["nuts"]["results"]["models"].items():
            rows.append(f"| NUTS min-ESS/s, {name} | >= NumPyro, >= BlackJAX / 1.10 "
                        f"| wall: {_x(r.get('ess_per_s_vs_numpyro'))} of NumPyro, "
                        f"{_x(r.get('ess_per_s_vs_blackjax'))} of BlackJAX; CPU: "
                        f"{_x(r.get('ess_per_cpu_s_vs_numpyro'))}, {_x(r.get('ess_per_cpu_s_vs_blackjax'))} "
                        f"| {_verdict(r)} |")
    if "bnn" in secs:
        res = secs["bnn"]["results"]
        for key, label, target in (("logpdf", "BNN logpdf+grad per call", "<= 1.10x hand-written"),
                                   ("nuts", "BNN NUTS min-ESS/s", ">= NumPyro"),
                                   ("fit", "pg.fit steps/s", ">= hand-written Optax / 1.2")):
            r = res.get(key)
            if r is None:
                rows.append(f"| {label} | {target} | - | pending |")
                continue
            value = {"logpdf": lambda: _x(r["ratio_vs_handwritten"]) + " of hand-written",
                     "nuts": lambda: f"wall {_x(r.get('ess_per_s_vs_numpyro'))}, CPU "
                                     f"{_x(r.get('ess_per_cpu_s_vs_numpyro'))} of NumPyro",
                     "fit": lambda: _x(r["slowdown_cpu"]) + " hand-written / pg.fit steps per CPU s (marginal), "
                                    + _x(r.get("end_to_end_slowdown")) + " pg.fit / hand-written wall time end to end"}[key]()
            rows.append(f"| {label} | {target} | {value} | {_verdict(r)} |")
    for key in SECTION_TITLES:
        if RENDERERS.get(key) is not _rows or key not in secs:
            continue
        for r in secs[key]["results"].get("rows", []):
            if r["target"] is None:
                continue
            sign = ">= " if r["higher_is_better"] else "<= "
            rows.append(f"| {r['benchmark']}: {r['metric']} | {sign}{r['target']:g}x {r['reference_name']} "
                        f"| {_num(r['ratio'])}x (median) | {_row_verdict(r)} |")
    return ["| benchmark | target | result | |", "|---|---|---|---|", *rows]


def render(data: dict[str, Any]) -> str:
    """The markdown page for the results ``data`` (see :mod:`benchmarks.run`)."""
    m = data["machine"]
    v = m["versions"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks.run` (see `benchmarks/README.md`); raw numbers in "
        "`docs/benchmarks.json`.  Speed is always a ratio against hand-written JAX, NumPyro or "
        "BlackJAX measured on the same machine in the same run.  A missed target is reported as missed.",
        "",
        f"- Command: `{data['command']}`",
        f"- Date: {data['date']}",
        f"- Machine: {m['nproc']} CPUs available ({m['cpu']}), {m['platform']}, Python {m['python']}, "
        f"JAX backend `{m['jax_backend']}`",
        f"- Versions: jax {v['jax']}, jaxlib {v['jaxlib']}, numpyro {v['numpyro']}, blackjax {v['blackjax']}, "
        f"optax {v['optax']}, arviz {v['arviz']}, ppgraph {v['ppgraph']} (commit {m['commit']})",
        f"- Load: the machine was shared with other jobs; `uptime` is recorded before and after each "
        "section.  Timings under load are noisier; the interleaved timing keeps the ratios fair.",
        "",
        "## Targets",
        "",
        *_summary(data),
        "",
    ]
    for key, title in SECTION_TITLES.items():
        sec = data["sections"].get(key)
        lines += [f"## {title}", ""]
        if sec is None:
            lines += ["Not run yet.", ""]
            continue
        lines += _meta(sec["meta"]) + RENDERERS[key](sec) + [""]
    if FINDINGS.exists():
        lines += [FINDINGS.read_text().rstrip(), ""]
    return "\n".join(lines)
