"""A custom graph pass: temper every likelihood term by a factor beta (a power posterior).

The pass is a local rewrite of observed random variables: next to each observed
``y ~ D`` it adds the log-density term ``(beta - 1) * D.log_prob(y)``, so the
likelihood counts ``beta`` times.  It is registered by name and composed with the
built-in passes; with ``beta = 0.25`` the posterior of a regression slope (known
noise, vague prior) is ``1 / sqrt(0.25) = 2`` times wider.  See docs/passes.md.

Run:  python examples/custom_pass.py [--quick]
"""

from __future__ import annotations

import argparse
from functools import partial

import jax
import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist, passes
from ppgraph.ir import Factor, RandomVariable


# -- the pass: under a page ---------------------------------------------------------------
@passes.register_pass("temper")
@passes.node_rewrite(kinds=RandomVariable)
def temper(node, graph, beta=1.0):
    """Multiply the log likelihood of every observed random variable by ``beta``."""
    if node.observed is None or node.get_info("tempered") is not None:
        return None  # latent, or tempered before: the pass is idempotent
    weight = Factor(
        f"{node.name}_tempering",
        expr=f"({float(beta)!r} - 1.0) * {node.dist}.log_prob({node.name})",
        location=node.location,
    )
    return [node.with_info(tempered=repr(float(beta))), weight]


# -- a model to use it on -------------------------------------------------------------------
@pg.model
def regression(x, noise):
    intercept <~ dist.Normal(0.0, 10.0)
    slope <~ dist.Normal(0.0, 10.0)
    y <~ dist.Normal(intercept + slope * x, noise)
    return y


def data(n: int = 40) -> tuple[jax.Array, jax.Array]:
    kx, ky = jax.random.split(jax.random.key(42))
    x = jax.random.normal(kx, (n,))
    return x, 1.0 + 2.0 * x + 0.5 * jax.random.normal(ky, (n,))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few draws (for the test suite)")
    args = parser.parse_args(argv)
    n = 300 if args.quick else 1000
    x, y = data()

    results = {}
    for beta in (1.0, 0.25):
        # compose by name and as functions: observe the data, temper, then the sampler's passes
        pipeline = passes.compose(partial(passes.observe, y=y), partial(temper, beta=beta), "reparameterize")
        graph = pipeline(regression)
        if beta != 1.0:
            print(pg.source(graph, "logpdf"))
        post = pg.sample(graph, jax.random.key(0), x, 0.5, num_warmup=n, num_samples=n, num_chains=1, progress=False)
        sd = float(jnp.std(post.samples["slope"]))
        print(f"beta = {beta}: slope posterior mean {float(jnp.mean(post.samples['slope'])):.3f}, sd {sd:.3f}")
        results[beta] = post
    ratio = float(jnp.std(results[0.25].samples["slope"]) / jnp.std(results[1.0].samples["slope"]))
    print(f"sd ratio (beta 0.25 / beta 1): {ratio:.2f}  (theory: 2)")
    results["ratio"] = ratio
    return results


if __name__ == "__main__":
    main()
