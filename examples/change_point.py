"""Change point in a series of counts (the coal-mining disasters model): the switch point is summed out.

The switch point is a discrete latent variable with ``num_steps + 1`` values;
the model's density sums it out exactly (enumerated once, broadcast over the
series), NUTS samples the two rates, and the switch point is recovered by an
exact draw per posterior draw.  With Exponential priors the posterior of the
switch point is known in closed form (Gamma-function ratios), which
``ppgraph_tests/inference/test_discrete.py`` checks against.

Run:  python examples/change_point.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import ppgraph as pg
from ppgraph import dist


@pg.model
def change_point(t, num_steps):
    early <~ dist.Exponential(1.0)
    late <~ dist.Exponential(1.0)
    switch <~ dist.DiscreteUniform(0, num_steps)
    rate = jnp.where(t < switch, early, late)
    counts <~ dist.Poisson(rate)
    return counts


def make_data(key: jax.Array, num_steps: int):
    t = jnp.arange(num_steps)
    draws = pg.sample_forward(change_point, key, t, num_steps, num_samples=1, early=3.0, late=1.0,
                              switch=num_steps // 3)
    return t, draws["counts"][0]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    num_steps = 40 if args.quick else 110
    steps = 200 if args.quick else 1000
    t, counts = make_data(jax.random.key(0), num_steps)
    post = pg.sample(change_point, jax.random.key(1), t, num_steps, counts=counts, num_warmup=steps,
                     num_samples=steps, num_chains=2, progress=False)
    print(post.summary())
    switch = np.asarray(post.samples["switch"]).ravel()
    values, freq = np.unique(switch, return_counts=True)
    print("posterior of the switch point (simulated at", num_steps // 3, "):")
    for v, f in zip(values, freq):
        print(f"  {v:4d} {'#' * int(60 * f / freq.max())}")
    return {"posterior": post, "switch_true": num_steps // 3}


if __name__ == "__main__":
    main()
