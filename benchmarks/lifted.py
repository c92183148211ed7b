"""Issue 11: lifted flax (nnx) and equinox modules against a hand-written density.

logpdf + gradient per call of a 16-64-64-3 tanh MLP written once as a ``flax.nnx``
module and once as an ``equinox`` module (Normal(0, 1) priors on every parameter,
categorical likelihood, 500 synthetic points):

* ppgraph: ``pg.logpdf`` of ``net <~ lift(module, dist.Normal(0., 1.))``, the flat
  ``{path: array}`` weights as the value of ``net``;
* hand-written: the prior summed over the framework's own parameter pytree plus the
  likelihood of ``module(x)`` (``nnx.merge(graphdef, params)`` /
  ``eqx.combine(params, static)`` inside the function, as a user would write it).

Both are ``jax.jit(jax.value_and_grad(...))``; the two values are checked equal
before timing.  Several seeds (data and weights), each timed interleaved
(``benchmarks.common.time_interleaved``); the per-seed ratio's median decides.
Target: <= 1.05x hand-written.

Run:  python -m benchmarks.lifted [--quick]
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import stats

import ppgraph as pg
from ppgraph import dist

from .common import Settings, comparison, section_main, time_interleaved

__all__ = ["run", "TARGET"]

TARGET = 1.05
FEATURES, HIDDEN, CLASSES, N = 16, 64, 3, 500


def _data(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, FEATURES)).astype(np.float32)
    label = rng.integers(0, CLASSES, size=N).astype(np.int32)
    return {"X": jnp.asarray(X), "label": jnp.asarray(label)}


def _log_lik(logits: Any, label: Any) -> Any:
    return jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits), label[:, None], axis=1))


def _nnx_case(seed: int) -> tuple[Any, Callable, Callable, Any]:
    """(ppgraph model, ppgraph weights -> value, hand-written params -> value, weights)."""
    from flax import nnx

    from ppgraph.nn.flax import lift

    class MLP(nnx.Module):
        def __init__(self, rngs: Any) -> None:
            self.linear1 = nnx.Linear(FEATURES, HIDDEN, rngs=rngs)
            self.linear2 = nnx.Linear(HIDDEN, HIDDEN, rngs=rngs)
            self.head = nnx.Linear(HIDDEN, CLASSES, rngs=rngs)

        def __call__(self, x: Any) -> Any:
            return self.head(jnp.tanh(self.linear2(jnp.tanh(self.linear1(x)))))

    module = MLP(nnx.Rngs(seed))

    @pg.model
    def nnx_mlp(X):
        net <~ lift(module, dist.Normal(0.0, 1.0))
        label <~ dist.Categorical(logits=net(X))
        return label

    graphdef, params = nnx.split(module, nnx.Param)
    pure = nnx.to_pure_dict(params)

    def handwritten(pure: Any, data: dict[str, Any]) -> Any:
        prior = sum(jnp.sum(stats.norm.logpdf(leaf)) for leaf in jax.tree_util.tree_leaves(pure))
        model = nnx.merge(graphdef, pure)
        return prior + _log_lik(model(data["X"]), data["label"])

    return nnx_mlp, handwritten, pure, "flax.nnx"


def _eqx_case(seed: int) -> tuple[Any, Callable, Any, str]:
    import equinox as eqx

    from ppgraph.nn.equinox import lift

    module = eqx.nn.MLP(FEATURES, CLASSES, width_size=HIDDEN, depth=2, activation=jnp.tanh,
                        key=jax.random.key(seed))

    @pg.model
    def eqx_mlp(X):
        net <~ lift(module, dist.Normal(0.0, 1.0))
        label <~ dist.Categorical(logits=jax.vmap(net)(X))
        return label

    params, static = eqx.partition(module, eqx.is_inexact_array)

    def handwritten(params: Any, data: dict[str, Any]) -> Any:
        prior = sum(jnp.sum(stats.norm.logpdf(leaf)) for leaf in jax.tree_util.tree_leaves(params))
        model = eqx.combine(params, static)
        return prior + _log_lik(jax.vmap(model)(data["X"]), data["label"])

    return eqx_mlp, handwritten, params, "equinox"


def _flat(framework: str, params: Any) -> dict[str, Any]:
    """The same parameters as ppgraph's flat ``{path: array}`` weights."""
    from ppgraph.model import weights_of

    return _flat_dict(params) if framework == "flax.nnx" else weights_of(params)


def _flat_dict(tree: Any) -> dict[str, Any]:
    from ppgraph.nn.lifted import key_str

    return {"/".join(key_str(k) for k in path): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _measure(case: Callable, seed: int, settings: Settings) -> dict[str, float]:
    model, handwritten, params, framework = case(seed)
    data = _data(seed)
    rng = np.random.default_rng(seed + 100)
    params = jax.tree_util.tree_map(lambda v: jnp.asarray(rng.normal(size=np.shape(v)), jnp.float32), params)
    weights = _flat(framework, params)
    lp = pg.logpdf(model)
    fns = {
        "handwritten": (jax.jit(jax.value_and_grad(handwritten)), (params, data)),
        "ppgraph": (jax.jit(jax.value_and_grad(lambda w, d: lp(d["X"], net=w, label=d["label"]))), (weights, data)),
    }
    values = {k: float(fn(*args)[0]) for k, (fn, args) in fns.items()}
    if not np.isclose(values["ppgraph"], values["handwritten"], rtol=1e-4):
        raise AssertionError(f"lifted {framework} log density: ppgraph {values['ppgraph']} but hand-written "
                             f"{values['handwritten']}")
    calls = {k: (lambda fn=fn, args=args: fn(*args)) for k, (fn, args) in fns.items()}
    times = time_interleaved(calls, rounds=settings.rounds, number=settings.number)
    return {k: v["median"] for k, v in times.items()}


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """Both frameworks, ``max(3, settings.nuts_repeats)`` seeds each; rows for the report."""
    seeds = range(max(3, settings.nuts_repeats))
    rows = []
    for framework, case in (("flax.nnx", _nnx_case), ("equinox", _eqx_case)):
        per_seed = [_measure(case, seed, settings) for seed in seeds]
        print(f"  lifted {framework}: " + "; ".join(
            f"ppgraph {m['ppgraph'] * 1e6:.1f}us, hand-written {m['handwritten'] * 1e6:.1f}us" for m in per_seed),
            flush=True)
        rows.append(comparison(
            f"lifted {framework} MLP {FEATURES}-{HIDDEN}-{HIDDEN}-{CLASSES}, N={N}", "logpdf+grad, us per call",
            [m["ppgraph"] * 1e6 for m in per_seed], [m["handwritten"] * 1e6 for m in per_seed],
            reference_name="hand-written prior + module(x)", target=TARGET, higher_is_better=False,
            note="ppgraph: pg.logpdf of `net <~ lift(module, dist.Normal(0., 1.))`; hand-written: the prior "
            "over the framework's parameter pytree plus the likelihood of module(x)",
        ))
    return {
        "description": "logpdf + gradient per call (jit, value_and_grad) of the same MLP as a lifted module "
        "and hand-written; one timing per seed (data and weights), interleaved.",
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m benchmarks.lifted [--quick] [--out FILE]``."""
    return section_main("python -m benchmarks.lifted", __doc__, run, argv)


if __name__ == "__main__":
    main()
