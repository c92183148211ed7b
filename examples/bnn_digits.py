"""Bayesian neural networks on scikit-learn's bundled digits (8x8 images, no download).

Part 1, ``pg.fit``: an MLP with fixed weight priors; its weights are trained with
Optax (MAP: the priors act as weight decay) while a temperature of the softmax
stays Bayesian (a mean-field Gaussian variational posterior, trained jointly
through the ELBO on minibatches).

Part 2, ``pg.sample``: full Bayesian inference by NUTS on a small network with a
hierarchical weight prior (a latent scale shared by all weights), on a
PCA-reduced input, after the ``reparameterize`` pass (non-centred weights, no
funnel); the prediction averages the network's class probabilities over the
posterior draws.  A point estimate of these weights under this prior would be
refused by ``pg.fit`` (the objective is unbounded).

Run:  python examples/bnn_digits.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

import ppgraph as pg
from ppgraph import dist, nn
from ppgraph.inference import NUTS


@pg.model
def mlp(images, hidden):
    temperature <~ dist.LogNormal(0.0, 0.5)
    net <~ nn.Serial(nn.Dense(hidden, dist.Normal(0.0, 1.0)), nn.Relu(),
                     nn.Dense(10, dist.Normal(0.0, 1.0)))
    logits = net(images) / temperature
    label <~ dist.Categorical(logits=logits)
    return label


@pg.model
def hierarchical_bnn(features, hidden):
    scale <~ dist.HalfNormal(1.0)
    net <~ nn.Serial(nn.Dense(hidden, dist.Normal(0.0, scale)), nn.Tanh(),
                     nn.Dense(10, dist.Normal(0.0, scale)))
    logits = net(features)
    label <~ dist.Categorical(logits=logits)
    return label


def load(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1], split 75% / 25% (stratified)."""
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    return train_test_split(X, digits.target.astype(np.int32), test_size=0.25, random_state=seed,
                            stratify=digits.target)


def train_mlp(X_tr, y_tr, X_te, y_te, *, hidden: int, num_steps: int, batch_size: int) -> dict:
    """Part 1: ``pg.fit``; test accuracy of the trained network at the posterior median temperature."""
    start = time.perf_counter()
    result = pg.fit(mlp, jax.random.key(0), X_tr, hidden, label=y_tr, optimizer=optax.adam(3e-3),
                    num_steps=num_steps, batch_size=batch_size, progress=False)
    seconds = time.perf_counter() - start
    net = result.params["net"]
    accuracy = float((jnp.argmax(net(X_te), axis=-1) == y_te).mean())
    temperature = result.posterior.sample(jax.random.key(1), 1000)["temperature"]
    print(f"pg.fit MLP (64-{hidden}-10, {num_steps} steps, batch {batch_size}): "
          f"test accuracy {accuracy:.3f} in {seconds:.1f} s")
    print(f"  temperature: posterior mean {float(temperature.mean()):.3f}, sd {float(temperature.std()):.3f}; "
          f"final loss {result.losses[-1]:.1f}")
    return {"result": result, "accuracy": accuracy, "seconds": seconds}


def sample_bnn(X_tr, y_tr, X_te, y_te, *, components: int, hidden: int, num_warmup: int,
               num_samples: int, num_chains: int, max_tree_depth: int, num_train: int | None = None) -> dict:
    """Part 2: NUTS on the hierarchical network; posterior predictive accuracy on the test set."""
    X_tr, y_tr = X_tr[:num_train], y_tr[:num_train]
    pca = PCA(components, random_state=0).fit(X_tr)
    F_tr = pca.transform(X_tr).astype(np.float32)
    F_te = pca.transform(X_te).astype(np.float32)
    sd = F_tr.std(axis=0)
    F_tr, F_te = F_tr / sd, F_te / sd
    model = pg.Model(pg.passes.reparameterize(hierarchical_bnn))  # non-centred weights: no funnel
    start = time.perf_counter()
    post = pg.sample(model, jax.random.key(2), F_tr, hidden, label=y_tr, num_warmup=num_warmup,
                     num_samples=num_samples, num_chains=num_chains,
                     kernel=NUTS(max_tree_depth=max_tree_depth), progress=False)
    seconds = time.perf_counter() - start
    nets = post.samples["net"]  # one batched network: weights with leading (chains, draws) axes
    probs = jax.nn.softmax(nets(F_te), axis=-1).mean(axis=(0, 1))
    accuracy = float((jnp.argmax(probs, axis=-1) == y_te).mean())
    print(f"NUTS hierarchical BNN ({components}-{hidden}-10 on PCA features of {len(y_tr)} images, "
          f"{num_chains} x {num_samples} draws): posterior predictive test accuracy {accuracy:.3f} in {seconds:.1f} s")
    print(f"  weight scale: posterior mean {float(post.samples['scale'].mean()):.3f}")
    return {"posterior": post, "accuracy": accuracy, "seconds": seconds}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings (smoke test)")
    args = parser.parse_args(argv)
    X_tr, X_te, y_tr, y_te = load()
    if args.quick:
        fitted = train_mlp(X_tr, y_tr, X_te, y_te, hidden=32, num_steps=300, batch_size=128)
        sampled = sample_bnn(X_tr, y_tr, X_te, y_te, components=8, hidden=4, num_warmup=100,
                             num_samples=100, num_chains=1, max_tree_depth=5, num_train=400)
    else:
        fitted = train_mlp(X_tr, y_tr, X_te, y_te, hidden=128, num_steps=3000, batch_size=128)
        sampled = sample_bnn(X_tr, y_tr, X_te, y_te, components=10, hidden=8, num_warmup=300,
                             num_samples=300, num_chains=1, max_tree_depth=6)
    return {"fit": fitted, "nuts": sampled}


if __name__ == "__main__":
    main()
