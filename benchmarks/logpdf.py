"""Issue 2: ``jit(value_and_grad(logpdf))`` time per call, against hand-written JAX and NumPyro.

Two comparisons per model, each on the same parameterisation:

* constrained space: ppgraph's ``pg.logpdf(model)`` vs the hand-written JAX density
  (``jax.scipy.stats``), and, to tell code generation from the density library apart,
  vs a hand-written function calling the same ``numpyro.distributions`` log densities
  the generated code calls;
* unconstrained space: ppgraph's log density after ``observe`` + ``to_unconstrained``
  (what NUTS runs on) vs the hand-written unconstrained density and NumPyro's
  ``initialize_model(...).potential_fn`` (negated; same value, checked).

ppgraph and the hand-written densities take parameters and data as arguments of the
jitted function (``f(params, data)``); NumPyro's potential function closes over its
data, as NumPyro builds it; ppgraph's ``observe`` makes the observed ``y`` a constant
too.  Python ints (sizes) are static everywhere.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from numpyro.infer.util import initialize_model

import ppgraph as pg
from ppgraph.passes import observe, to_unconstrained

from .common import Settings, ratio, time_interleaved
from .models import CASES, Case

__all__ = ["run", "split_data", "value_and_grad_fns"]

TARGET = 1.10


def split_data(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arrays, static Python values) of a data dict."""
    arrays = {k: v for k, v in data.items() if hasattr(v, "shape")}
    static = {k: v for k, v in data.items() if k not in arrays}
    return arrays, static


def value_and_grad_fns(case: Case) -> dict[str, tuple[Any, tuple]]:
    """name -> (jitted value_and_grad function, its arguments), checking that values agree."""
    arrays, static = split_data(case.data)
    lp = pg.logpdf(case.model)
    obs = {"y": case.data["y"]}
    lpu = pg.logpdf(to_unconstrained(observe(case.model, **obs)))
    arrays_u = {k: v for k, v in arrays.items() if k not in obs}
    info = initialize_model(jax.random.key(0), case.numpyro_model, model_kwargs=case.numpyro_data)
    potential = info.potential_fn
    init, init_u, init_np = case.init, case.init_unconstrained(), case.init_numpyro()

    fns = {
        "handwritten": (jax.jit(jax.value_and_grad(case.handwritten)), (init, arrays)),
        "handwritten_dists": (jax.jit(jax.value_and_grad(case.handwritten_dists)), (init, arrays)),
        "ppgraph": (jax.jit(jax.value_and_grad(lambda p, d: lp(**d, **static, **p))), (init, arrays)),
        "handwritten_unconstrained": (
            jax.jit(jax.value_and_grad(case.handwritten_unconstrained)), (init_u, arrays)),
        "ppgraph_unconstrained": (
            jax.jit(jax.value_and_grad(lambda p, d: lpu(**d, **static, **p))), (init_u, arrays_u)),
        "numpyro_potential": (jax.jit(jax.value_and_grad(lambda p: -potential(p))), (init_np,)),
    }
    values = {name: float(fn(*args)[0]) for name, (fn, args) in fns.items()}
    for a, b in (("ppgraph", "handwritten"), ("ppgraph", "handwritten_dists"), ("ppgraph_unconstrained", "handwritten_unconstrained"),
                 ("ppgraph_unconstrained", "numpyro_potential")):
        if not np.isclose(values[a], values[b], rtol=1e-4, atol=1e-3):
            raise AssertionError(f"{case.name}: {a} = {values[a]} but {b} = {values[b]}")
    return fns


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """Time every model; returns raw numbers and ratios."""
    results: dict[str, Any] = {"target": TARGET, "models": {}}
    for name, make in CASES.items():
        if only_models and name not in only_models:
            continue
        case = make()
        fns = value_and_grad_fns(case)
        calls = {k: (lambda fn=fn, args=args: fn(*args)) for k, (fn, args) in fns.items()}
        times = time_interleaved(calls, rounds=settings.rounds, number=settings.number)
        med = {k: v["median"] for k, v in times.items()}
        best_unc = min(med["handwritten_unconstrained"], med["numpyro_potential"])
        results["models"][name] = {
            "description": case.description,
            "times": times,
            "ratio_vs_handwritten": ratio(med["ppgraph"], med["handwritten"]),
            "ratio_vs_handwritten_dists": ratio(med["ppgraph"], med["handwritten_dists"]),
            "ratio_unconstrained_vs_handwritten": ratio(med["ppgraph_unconstrained"], med["handwritten_unconstrained"]),
            "ratio_unconstrained_vs_numpyro": ratio(med["ppgraph_unconstrained"], med["numpyro_potential"]),
            "ratio_unconstrained_vs_best": ratio(med["ppgraph_unconstrained"], best_unc),
        }
        r = results["models"][name]
        r["met"] = bool(r["ratio_vs_handwritten"] <= TARGET and r["ratio_unconstrained_vs_best"] <= TARGET)
        print(f"  logpdf {name}: " + ", ".join(f"{k} {v * 1e6:.1f}us" for k, v in med.items()), flush=True)
    return results
