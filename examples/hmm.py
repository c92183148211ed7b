"""Hidden Markov model with Gaussian emissions: the state sequence is summed out by the forward algorithm.

``states <~ dist.DiscreteMarkovChain(...)`` is a discrete latent sequence;
the ``marginalize`` pass sums it out with the forward algorithm
(``jax.lax.scan`` in log space, ``num_steps * K**2`` work), NUTS samples the
transition matrix and the emission means, and the states are recovered by
forward filtering, backward sampling for every posterior draw.

Run:  python examples/hmm.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import ppgraph as pg
from ppgraph import dist
from ppgraph.passes import marginalize, observe


@pg.model
def hmm(num_steps, num_states):
    transition <~ dist.Dirichlet(jnp.ones(num_states) + 4.0 * jnp.eye(num_states))   # sticky prior
    lowest <~ dist.Normal(-3.0, 2.0)
    gaps <~ dist.HalfNormal(3.0).expand([num_states - 1])
    means = jnp.concatenate([lowest[None], lowest + jnp.cumsum(gaps)])            # ordered: no label switching
    states <~ dist.DiscreteMarkovChain(jnp.ones(num_states) / num_states, transition, num_steps)
    y <~ dist.Normal(means[states], 0.8)
    return y


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    num_steps = 60 if args.quick else 500
    steps = 200 if args.quick else 1000
    truth = jnp.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])
    sim = pg.sample_forward(hmm, jax.random.key(0), num_steps, 3, num_samples=1, transition=truth,
                            lowest=-3.0, gaps=jnp.array([3.0, 3.0]))
    states_true, y = sim["states"][0], sim["y"][0]
    print(pg.source(marginalize(observe(hmm, y=y)), "logpdf"))
    post = pg.sample(hmm, jax.random.key(1), num_steps, 3, y=y, num_warmup=steps, num_samples=steps,
                     num_chains=2, progress=False)
    print(post.summary().loc[["means[0]", "means[1]", "means[2]"]])
    states = np.asarray(post.samples["states"]).reshape(-1, num_steps)
    mode = np.array([np.bincount(column, minlength=3).argmax() for column in states.T])
    accuracy = float(np.mean(mode == np.asarray(states_true)))
    print(f"states recovered (posterior mode = simulated state): {accuracy:.1%}")
    return {"posterior": post, "states_true": states_true, "accuracy": accuracy}


if __name__ == "__main__":
    main()
