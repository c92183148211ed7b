"""Hierarchical linear regression: group intercepts and slopes with partial pooling.

Run:  python examples/hierarchical_regression.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist
from ppgraph.passes import reparameterize


@pg.model
def hierarchical(x, group, num_groups):
    mu_a <~ dist.Normal(0.0, 5.0)
    sigma_a <~ dist.HalfNormal(2.0)
    mu_b <~ dist.Normal(0.0, 5.0)
    sigma_b <~ dist.HalfNormal(2.0)
    a <~ dist.Normal(mu_a, sigma_a).expand([num_groups])
    b <~ dist.Normal(mu_b, sigma_b).expand([num_groups])
    noise <~ dist.HalfNormal(1.0)
    mean = a[group] + b[group] * x
    y <~ dist.Normal(mean, noise)
    return y


def make_data(key: jax.Array, groups: int, per_group: int):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    a = 1.0 + 0.5 * jax.random.normal(k1, (groups,))
    b = -2.0 + 0.3 * jax.random.normal(k2, (groups,))
    group = jnp.repeat(jnp.arange(groups), per_group)
    x = jax.random.normal(k3, (groups * per_group,))
    y = a[group] + b[group] * x + 0.5 * jax.random.normal(k4, x.shape)
    return x, group, y


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    groups, per_group = (5, 20) if args.quick else (20, 50)
    x, group, y = make_data(jax.random.key(0), groups, per_group)
    model = reparameterize(hierarchical.graph, names=["a", "b"])   # non-centred group effects
    n = 300 if args.quick else 1000
    post = pg.sample(model, jax.random.key(1), x, group, groups, y=y, num_warmup=n, num_samples=n,
                     num_chains=2, progress=False)
    print(post.summary())
    return {"posterior": post}


if __name__ == "__main__":
    main()
