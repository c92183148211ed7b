"""Bayesian logistic regression on synthetic data, with posterior predictive accuracy.

Run:  python examples/logistic_regression.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist


@pg.model
def logistic_regression(X):
    alpha <~ dist.Normal(0.0, 2.0)
    beta <~ dist.Normal(0.0, 1.0).expand([X.shape[1]])
    logits = alpha + X @ beta
    y <~ dist.Bernoulli(logits=logits)
    return y


def make_data(key: jax.Array, n: int, d: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    kx, kb, ky = jax.random.split(key, 3)
    X = jax.random.normal(kx, (n, d))
    beta = jax.random.normal(kb, (d,))
    y = jax.random.bernoulli(ky, jax.nn.sigmoid(0.5 + X @ beta)).astype(jnp.int32)
    return X, y, beta


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n, d = (300, 3) if args.quick else (2000, 5)
    X, y, beta_true = make_data(jax.random.key(0), n, d)

    post = pg.sample(logistic_regression, jax.random.key(1), X, y=y,
                     num_warmup=300 if args.quick else 1000, num_samples=300 if args.quick else 1000,
                     num_chains=2, progress=False)
    print(post.summary())
    print("true beta:", beta_true)
    pred = pg.sample_predictive(logistic_regression, jax.random.key(2), post, X)
    accuracy = float(((pred["y"].mean(axis=(0, 1)) > 0.5) == y).mean())
    print(f"posterior predictive accuracy on the training data: {accuracy:.3f}")
    return {"posterior": post, "accuracy": accuracy, "beta_true": beta_true}


if __name__ == "__main__":
    main()
