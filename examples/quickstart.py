"""Quickstart: eight schools compiled, sampled forward and with NUTS, summarised and drawn.

Run:  python examples/quickstart.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist


@pg.model
def eight_schools(sigma):
    """Rubin's eight schools, non-centred."""
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta_t <~ dist.Normal(0.0, 1.0).expand([8])
    theta = mu + tau * theta_t
    y <~ dist.Normal(theta, sigma)
    return y


SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
Y_OBS = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings (for smoke tests)")
    parser.add_argument("--out", default=".", help="folder for the drawing")
    args = parser.parse_args(argv)
    n = 200 if args.quick else 1000

    print("== The model's graph (one row per node) ==")
    print(eight_schools)

    print("\n== Generated log density (plain JAX source) ==")
    print(pg.source(eight_schools, "logpdf"))

    prior = pg.sample_forward(eight_schools, jax.random.key(0), sigma=SIGMA, num_samples=n)
    print("== Prior predictive ==")
    print(f"  y: mean {float(prior['y'].mean()):.2f}, sd {float(prior['y'].std()):.2f} over {n} draws")

    post = pg.sample(
        eight_schools,
        jax.random.key(1),
        sigma=SIGMA,
        y=Y_OBS,
        num_warmup=n,
        num_samples=n,
        num_chains=2 if args.quick else 4,
        progress=not args.quick,
    )
    print("\n== Posterior summary (NUTS) ==")
    print(post.summary())

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "eight_schools.svg"
    pg.draw(eight_schools, path)
    print(f"\nGraph drawn to {path}")
    return {"posterior": post, "prior": prior, "drawing": path}


if __name__ == "__main__":
    main()
