"""Issue 11: SGHMC in ``pg.sample`` against a hand-written BlackJAX SGHMC loop; digits accuracy.

Network: a ``flax.nnx`` MLP 64-64-10 (ReLU) with Normal(0, 1) priors on every
parameter, on scikit-learn's digits (1347 training images), minibatches of 128.

* **Throughput** (target: ppgraph >= 1 / 1.1 of the hand-written steps per second).
  ppgraph: ``pg.sample(model, kernel="sghmc", batch_size=128, step_size=eps,
  num_warmup=0, num_samples=n, num_chains=1)`` with the lifted module.  Hand-written:
  ``blackjax.sghmc`` with the gradient of ``log prior + N / B * log likelihood`` of
  ``nnx.merge(graphdef, params)(x)`` (as a user writes it), the same minibatches
  (the same permutation per epoch as ppgraph's, ``FitProblem.batch``), the same step
  size, integration steps and number of draws, every draw stored, the whole loop one
  ``jax.jit``-ed ``lax.scan``.  Steps per second is the *marginal* rate
  ``(n2 - n1) / (t(n2) - t(n1))`` of runs of ``n1`` and ``n2`` draws, each timed end
  to end after a first (compiling) call of each: ``pg.sample`` keeps its compiled run
  for calls with data of the same shapes, and the fixed costs of a call (building the
  problem, initial values) cancel in the difference.  Several seeds, median times of
  repeated runs, the two implementations interleaved in alternating order.
* **Accuracy** (target >= 0.95): ``pg.sample(kernel="sghmc", batch_size=128)`` with
  the default step size (from the curvature), 2 chains; the test accuracy of the
  posterior predictive (class probabilities averaged over the draws).

Run:  python -m benchmarks.sgmcmc [--quick]
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import stats

from .common import Settings, block, comparison, section_main

__all__ = ["run", "TARGET_SPEED", "TARGET_ACCURACY"]

TARGET_SPEED = 1 / 1.1
TARGET_ACCURACY = 0.95
HIDDEN, BATCH = 64, 128


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    return train_test_split(X, digits.target.astype(np.int32), test_size=0.25, random_state=0,
                            stratify=digits.target)


def _case(seed: int) -> tuple[Any, Any, Any]:
    """(ppgraph model, the nnx module, its graphdef)."""
    from flax import nnx

    import ppgraph as pg
    from ppgraph import dist
    from ppgraph.nn.flax import lift

    class MLP(nnx.Module):
        def __init__(self, rngs: Any) -> None:
            self.body = nnx.Linear(64, HIDDEN, rngs=rngs)
            self.head = nnx.Linear(HIDDEN, 10, rngs=rngs)

        def __call__(self, x: Any) -> Any:
            return self.head(nnx.relu(self.body(x)))

    module = MLP(nnx.Rngs(seed))

    @pg.model
    def digits_mlp(images):
        net <~ lift(module, dist.Normal(0.0, 1.0))
        label <~ dist.Categorical(logits=net(images))
        return label

    return digits_mlp, module, nnx.split(module, nnx.Param)


def _handwritten(module_split: tuple, X: jax.Array, y: jax.Array, step_size: float, num_steps: int,
                 num_integration_steps: int) -> Any:
    """A jitted hand-written SGHMC run of ``num_steps`` draws: ``run(key, params) -> stacked params``."""
    from flax import nnx

    graphdef, params = module_split
    num_data = X.shape[0]

    def logdensity(p: Any, batch: tuple) -> jax.Array:
        xb, yb = batch
        prior = sum(jnp.sum(stats.norm.logpdf(leaf)) for leaf in jax.tree_util.tree_leaves(p))
        logits = nnx.merge(graphdef, p)(xb)
        lik = jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))
        return prior + num_data / xb.shape[0] * lik

    sghmc = blackjax.sghmc(jax.grad(logdensity), num_integration_steps=num_integration_steps)
    per_epoch = num_data // BATCH

    @jax.jit
    def run(key: jax.Array, p0: Any, X: jax.Array, y: jax.Array) -> Any:
        batch_key, step_key = jax.random.split(key)

        def step(state: Any, i: jax.Array) -> tuple[Any, Any]:
            perm = jax.random.permutation(jax.random.fold_in(batch_key, i // per_epoch), num_data)
            index = jax.lax.dynamic_slice_in_dim(perm, (i % per_epoch) * BATCH, BATCH)
            state = sghmc.step(jax.random.fold_in(step_key, i), state, (X[index], y[index]), step_size)
            return state, state

        _, draws = jax.lax.scan(step, sghmc.init(p0), jnp.arange(num_steps))
        return draws

    return lambda key, p0: run(key, p0, X, y)


def _ppgraph(model: Any, X: jax.Array, y: jax.Array, step_size: float, num_steps: int, seed: int) -> Any:
    import ppgraph as pg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pg.sample(model, jax.random.key(seed), X, label=y, kernel="sghmc", batch_size=BATCH,
                         step_size=step_size, num_warmup=0, num_samples=num_steps, num_chains=1,
                         progress=False).samples


def _accuracy(settings: Settings) -> dict[str, Any]:
    import ppgraph as pg
    from ppgraph import metrics

    X_tr, X_te, y_tr, y_te = _digits()
    model, _, _ = _case(0)
    warmup, draws = (50, 20) if settings.name == "quick" else (500, 100)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = pg.sample(model, jax.random.key(0), X_tr, label=y_tr, kernel="sghmc", batch_size=BATCH,
                         num_warmup=warmup, num_samples=draws, num_chains=2, progress=False)
    probs = jax.nn.softmax(post.samples["net"](X_te), axis=-1).mean(axis=(0, 1))
    seconds = time.perf_counter() - t0
    return {"accuracy": metrics.accuracy(np.asarray(probs, np.float64), y_te),
            "nll": metrics.nll(np.asarray(probs, np.float64), y_te),
            "step_size": float(np.median(np.asarray(post.info["step_size"]))),
            "seconds": seconds, "warmup": warmup, "draws": draws}


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """Accuracy once, then the marginal steps per second over ``max(3, settings.nuts_repeats)`` seeds."""
    from ppgraph.inference.sgmcmc import SGHMC

    acc = _accuracy(settings)
    print(f"  sgmcmc accuracy: {acc}", flush=True)
    X_tr, _, y_tr, _ = _digits()
    X, y = jnp.asarray(X_tr), jnp.asarray(y_tr)
    n1, n2 = (5, 20) if settings.name == "quick" else (20, 420)
    repeats = 1 if settings.name == "quick" else 3
    steps = SGHMC().num_integration_steps
    seeds = range(max(3, settings.nuts_repeats))
    rates: dict[str, list[float]] = {"ppgraph": [], "handwritten": []}
    for seed in seeds:
        model, module, split = _case(seed)
        from flax import nnx

        pure = nnx.to_pure_dict(split[1])
        hand = {n: _handwritten(split, X, y, acc["step_size"], n, steps) for n in (n1, n2)}
        calls = {
            "ppgraph": lambda n: _ppgraph(model, X, y, acc["step_size"], n, seed),
            "handwritten": lambda n: hand[n](jax.random.key(seed), pure),
        }
        for who, call in calls.items():  # compile: pg.sample keeps its compiled run for the next calls
            for n in (n1, n2):
                block(call(n))
        times: dict[str, dict[int, list[float]]] = {w: {n1: [], n2: []} for w in calls}
        for r in range(repeats):
            order = list(calls) if (seed + r) % 2 == 0 else list(calls)[::-1]
            for n in (n1, n2):
                for who in order:
                    t0 = time.perf_counter()
                    block(calls[who](n))
                    times[who][n].append(time.perf_counter() - t0)
        for who in rates:
            t1, t2 = (float(np.median(times[who][n])) for n in (n1, n2))
            rates[who].append((n2 - n1) / max(t2 - t1, 1e-9))
        print(f"  sgmcmc seed {seed}: steps/s ppgraph {rates['ppgraph'][-1]:.1f}, "
              f"hand-written {rates['handwritten'][-1]:.1f} ({times})", flush=True)
    rows = [
        comparison(f"SGHMC, flax MLP 64-{HIDDEN}-10 on digits (N={len(y_tr)}, batch {BATCH}, "
                   f"{steps} integration steps)", "steps/s (marginal)", rates["ppgraph"], rates["handwritten"],
                   reference_name="hand-written BlackJAX SGHMC loop", target=TARGET_SPEED,
                   note="the same network, prior, minibatches, step size and draws; steps/s = (n2 - n1) / "
                   f"(t(n2) - t(n1)) with n1={n1}, n2={n2} draws, each call after a compiling one"),
        comparison("SGHMC digits test accuracy (default step size, 2 chains, "
                   f"{acc['warmup']} burn-in, {acc['draws']} draws)", "accuracy", [acc["accuracy"]],
                   [TARGET_ACCURACY], reference_name="required", target=1.0,
                   note=f"posterior predictive NLL {acc['nll']:.3f}, step size {acc['step_size']:.3g}, "
                   f"{acc['seconds']:.0f} s end to end"),
    ]
    return {
        "description": "pg.sample(kernel='sghmc') against a hand-written BlackJAX SGHMC loop on the same "
        "flax network and minibatches; digits accuracy of SGHMC with the default settings.",
        "rows": rows,
        "accuracy": acc,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m benchmarks.sgmcmc [--quick] [--out FILE]``."""
    return section_main("python -m benchmarks.sgmcmc", __doc__, run, argv)


if __name__ == "__main__":
    main()
