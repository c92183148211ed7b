"""Zero-inflated Poisson counts, written with an explicit Bernoulli latent per observation.

``structural_zero[i] = 1`` says observation ``i`` is a structural zero
(e.g. a site where the species cannot live).  It is summed out of the density
(the zero-inflated likelihood ``pi * [y == 0] + (1 - pi) * Poisson(y | rate)``
per observation), and recovered afterwards: a positive count is never a
structural zero, a zero count is one with its posterior probability.

Run:  python examples/zero_inflated.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import ppgraph as pg
from ppgraph import dist


@pg.model
def zero_inflated(n):
    pi <~ dist.Beta(1.0, 1.0)
    rate <~ dist.Gamma(2.0, 0.5)
    structural_zero <~ dist.Bernoulli(pi).expand([n])
    counts <~ dist.Poisson(jnp.where(structural_zero == 1, 0.0, rate))
    return counts


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n = 100 if args.quick else 1000
    steps = 200 if args.quick else 1000
    sim = pg.sample_forward(zero_inflated, jax.random.key(0), n, num_samples=1, pi=0.3, rate=4.0)
    counts = sim["counts"][0]
    post = pg.sample(zero_inflated, jax.random.key(1), n, counts=counts, num_warmup=steps, num_samples=steps,
                     num_chains=2, progress=False)
    print(post.summary().loc[["pi", "rate"]])
    p_zero = np.asarray(post.samples["structural_zero"]).mean(axis=(0, 1))
    positive = np.asarray(counts) > 0
    print(f"P(structural zero) for positive counts: max {p_zero[positive].max():.2f}; "
          f"for zero counts: mean {p_zero[~positive].mean():.2f}")
    return {"posterior": post, "counts": counts, "p_zero": p_zero}


if __name__ == "__main__":
    main()
