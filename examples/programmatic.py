"""Building a model graph from code with ``pg.GraphBuilder`` (no decorated function).

A chain of ``n`` Gaussian random-walk steps is generated in a Python loop, which
the model language deliberately does not offer: programs that build graphs use
the builder instead.

Run:  python examples/programmatic.py [--steps N]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist


def random_walk(steps: int) -> pg.Model:
    g = pg.GraphBuilder(f"random_walk_{steps}")
    scale = g.argument("scale", 1.0)
    x = g.random("x0", dist.Normal, 0.0, 1.0)
    for i in range(1, steps):
        x = g.random(f"x{i}", dist.Normal, x, scale)
    total = g.deterministic("total", g.call(jnp.abs, x))
    g.returns(total)
    return g.build()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    model = random_walk(args.steps)
    print(model)
    print(pg.source(model, "sample_forward"))
    draws = pg.sample_forward(model, jax.random.key(0), scale=0.5, num_samples=2000)
    last = draws[f"x{args.steps - 1}"]
    print(f"sd of the last step: {float(last.std()):.3f} "
          f"(exact: {float(jnp.sqrt(1 + 0.25 * (args.steps - 1))):.3f})")
    lp = pg.logpdf(model)
    values = {f"x{i}": 0.1 * i for i in range(args.steps)}
    print("log density at a point:", float(lp(scale=0.5, **values)))
    return {"model": model, "draws": draws}


if __name__ == "__main__":
    main()
