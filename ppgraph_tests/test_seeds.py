"""Every public function that takes an rng key also takes an ``int`` seed.

The oracle: an ``int`` seed ``s`` gives exactly the draws of ``jax.random.key(s)``
(and a raw ``jax.random.PRNGKey(s)`` the same again); anything else that is not a
key is a :class:`ppgraph.ModelError` naming ``rng_key``, not a raw JAX ``TypeError``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph import dist, nn
from ppgraph.inference.posterior import Posterior

TINY = dict(num_warmup=5, num_samples=4, num_chains=1, progress=False)

MODELS = '''
@pg.model
def normal(n):
    mu <~ dist.Normal(0.0, 1.0)
    y <~ dist.Normal(mu, 1.0).expand([n])
    return y
'''


@pytest.fixture(scope="module")
def normal(tmp_path_factory):
    from ppgraph_tests.conftest import HEADER, load_module

    path = tmp_path_factory.mktemp("seeds") / "seed_models.py"
    path.write_text(HEADER + MODELS)
    return load_module(path).normal


def same(a, b) -> bool:
    return all(bool(jnp.all(x == y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


@pytest.mark.parametrize("seed", [0, 7, np.int64(3)])
def test_sample_forward(normal, seed):
    by_int = pg.sample_forward(normal, seed, 3, num_samples=4)
    by_key = pg.sample_forward(normal, jax.random.key(int(seed)), 3, num_samples=4)
    by_raw = pg.sample_forward(normal, jax.random.PRNGKey(int(seed)), 3, num_samples=4)
    assert same(by_int, by_key) and same(by_int, by_raw)
    assert not same(by_int, pg.sample_forward(normal, int(seed) + 1, 3, num_samples=4))


def test_sample_and_sample_predictive(normal):
    y = jnp.array([0.5, 1.0, 1.5])
    post = pg.sample(normal, 5, 3, y=y, **TINY)
    again = pg.sample(normal, jax.random.key(5), 3, y=y, **TINY)
    assert same(post.samples, again.samples)
    pred = pg.sample_predictive(normal, 11, post)
    assert same(pred, pg.sample_predictive(normal, jax.random.key(11), post))


def test_sample_predictive_without_sampling(normal):
    post = Posterior({"mu": jnp.zeros((1, 3))}, model=normal, args={"n": 2})
    assert same(pg.sample_predictive(normal, 2, post), pg.sample_predictive(normal, jax.random.key(2), post))


def test_layer_sample_and_init():
    layer = nn.Serial(nn.Dense(3, dist.Normal(0.0, 1.0)), nn.Tanh())
    assert same(layer.sample(4, (2, 5)).weights, layer.sample(jax.random.key(4), (2, 5)).weights)
    assert same(layer.init(4, (2, 5)), layer.init(jax.random.key(4), (2, 5)))


@pytest.mark.parametrize("bad, says, hint", [
    (1.5, "got float 1.5", "jax.random.key(0)"), (-1, "non-negative", "jax.random.key(0)"),
    ("0", "got str '0'", "jax.random.key(0)"), (True, "got True", "jax.random.key(0)"),
    (jax.random.split(jax.random.key(0), 2), "a batch of keys of shape (2,)", "keys[0]"),
])
def test_not_a_seed(normal, bad, says, hint):
    with pytest.raises(pg.ModelError, match="rng_key") as info:
        pg.sample_forward(normal, bad, 3)
    text = str(info.value)
    assert says in text and "Hint:" in text and hint in text.split("Hint:")[1]


def test_fit_and_its_posterior(normal):
    y = jnp.array([0.5, 1.0, 1.5])
    by_int = pg.fit(normal, 3, 3, y=y, num_steps=5, progress=False)
    by_key = pg.fit(normal, jax.random.key(3), 3, y=y, num_steps=5, progress=False)
    assert same(by_int.losses, by_key.losses)
    draws = by_int.posterior.sample(8, 4)
    assert draws["mu"].shape == (4,) and same(draws, by_int.posterior.sample(jax.random.key(8), 4))
