"""Models used by ``test_compile.py`` (models must live in files: the parser reads their source)."""

import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist


@pg.model
def eight_schools(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta_t <~ dist.Normal(0.0, 1.0).expand([8])
    theta = mu + tau * theta_t
    y <~ dist.Normal(theta, sigma)
    return y


@pg.model
def two_iid():
    a <~ dist.Normal(0.0, 1.0)
    b <~ dist.Normal(0.0, 1.0)
    c <~ dist.Normal(0.0, 1.0).expand([2])
    return a, b


@pg.model
def shapes(x):
    a <~ dist.Normal(jnp.zeros(3), 1.0)
    b <~ dist.Normal(a + x, 1.0)
    return b


@pg.model
def improper():
    a <~ dist.Flat()
    b <~ dist.Normal(a, 1.0)
    return b


def not_a_distribution(x):
    return x + 1.0


@pg.model
def returns_no_distribution():
    a <~ not_a_distribution(1.0)
    return a


def scaled_normal(loc, scale):
    return dist.Normal(loc, 2.0 * scale)


@pg.model
def user_distribution_function():
    a <~ scaled_normal(1.0, 0.5)
    return a


@pg.model
def with_default(n=3):
    x <~ dist.Normal(0.0, 1.0).expand([n])
    return x
