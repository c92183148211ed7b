"""Eight schools, centred vs non-centred: the same posterior, very different geometry.

The centred model is written directly; the non-centred one is produced by the
``reparameterize`` pass, and both graphs are drawn before and after the pass.

Run:  python examples/eight_schools.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist
from ppgraph.passes import reparameterize

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
Y_OBS = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


@pg.model
def centred(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta <~ dist.Normal(mu, tau).expand([8])
    y <~ dist.Normal(theta, sigma)
    return y


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)
    n = 300 if args.quick else 1000
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    noncentred = reparameterize(centred.graph, names=["theta"])
    print(pg.source(noncentred, "logpdf"))
    pg.draw(centred, out / "eight_schools_centred.svg")
    pg.draw(noncentred, out / "eight_schools_noncentred.svg")
    pg.draw_diff(centred, noncentred, out / "eight_schools_reparameterize_diff.svg")

    results = {}
    for label, model in (("centred", centred), ("non-centred", noncentred)):
        post = pg.sample(model, jax.random.key(0), sigma=SIGMA, y=Y_OBS, num_warmup=n, num_samples=n,
                         num_chains=2, progress=False)
        divergences = int(post.stats["diverging"].sum())
        print(f"\n== {label}: {divergences} divergent transitions ==")
        print(post.summary())
        results[label] = post
    return results


if __name__ == "__main__":
    main()
