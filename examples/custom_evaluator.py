"""A custom evaluator: random-walk Metropolis written against ppgraph's ``Evaluator`` protocol.

An evaluator names the passes it needs and runs the compiled functions of the
problem ``pg.sample`` hands it; ``pg.sample`` does the rest (binding data,
checks, initial values, the ``Posterior``).  See docs/evaluators.md.

Run:  python examples/custom_evaluator.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist
from ppgraph.inference import Draws, ProgressBar


class RandomWalkMetropolis:
    """Gaussian random-walk Metropolis in unconstrained space."""

    name = "rwm"
    passes = ("to_unconstrained",)  # propose on R^n: every latent gets an unconstrained twin

    def __init__(self, scale: float = 0.3) -> None:
        self.scale = scale

    def run(self, problem, rng_key, initial_position, *, num_warmup, num_samples, progress):
        num_chains = jax.tree.leaves(initial_position)[0].shape[0]
        bar = ProgressBar(num_warmup + num_samples, desc=self.name, enabled=progress)

        def step(state, key):
            position, lp = state
            k_move, k_accept = jax.random.split(key)
            leaves, tree = jax.tree.flatten(position)
            moves = jax.random.split(k_move, len(leaves))
            proposal = jax.tree.unflatten(
                tree, [x + self.scale * jax.random.normal(k, x.shape, x.dtype) for k, x in zip(moves, leaves)]
            )
            lp_new = problem.logdensity(proposal)
            accept = jnp.log(jax.random.uniform(k_accept)) < lp_new - lp
            position = jax.tree.map(lambda new, old: jnp.where(accept, new, old), proposal, position)
            bar.tick()
            return (position, jnp.where(accept, lp_new, lp)), (problem.constrain(position), {"accepted": accept})

        def chain(key, position):
            keys = jax.random.split(key, num_warmup + num_samples)
            _, draws = jax.lax.scan(step, (position, problem.logdensity(position)), keys)
            return jax.tree.map(lambda v: v[num_warmup:], draws)  # drop the warmup draws

        with bar:
            samples, stats = jax.jit(jax.vmap(chain))(jax.random.split(rng_key, num_chains), initial_position)
        return Draws(samples, stats)


@pg.model
def coin(n):
    p <~ dist.Beta(2.0, 2.0)
    heads <~ dist.Binomial(n, p)
    return heads


def main() -> dict:
    post = pg.sample(coin, jax.random.key(0), 50, heads=36, kernel=RandomWalkMetropolis(scale=0.6),
                     num_warmup=500, num_samples=2000, num_chains=4, progress=False)
    exact = (2.0 + 36) / (4.0 + 50)  # Beta(2 + 36, 2 + 14) posterior mean
    print(post.summary())
    print(f"acceptance rate {float(post.stats['accepted'].mean()):.2f}; "
          f"posterior mean {float(post.samples['p'].mean()):.3f} (exact {exact:.3f})")
    return {"posterior": post, "exact_mean": exact}


if __name__ == "__main__":
    main()
