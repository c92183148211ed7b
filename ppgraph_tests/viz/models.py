"""Models for the inspection tests (defined in a file: the parser reads their source)."""

import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist, nn


@pg.model
def eight_schools(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta_t <~ dist.Normal(0.0, 1.0).expand([8])
    theta = mu + tau * theta_t
    y <~ dist.Normal(theta, sigma)
    return y


@pg.model
def every_kind(x, scale0=1.0):
    """Arguments (one with a default), latent and observed-later variables, a factor, a layer."""
    scale <~ dist.Exponential(scale0)
    weights <~ dist.Dirichlet(jnp.ones(3))
    net <~ nn.Serial(nn.Dense(4, dist.Normal(0.0, scale)), nn.Tanh(), nn.Dense(2, dist.Normal(0.0, 1.0)))
    out = net(x)
    penalty <~ pg.factor(-0.5 * jnp.sum(weights ** 2))
    y <~ dist.Normal(out, 1.0)
    return y


def helper_squash(v):
    """An importable helper function used by a model (saved by reference)."""
    return jnp.tanh(v)


@pg.model
def uses_helper(n):
    a <~ dist.Normal(0.0, 1.0).expand([n])
    b = helper_squash(a)
    c <~ dist.Normal(b, 1.0)
    return c


def parameter_model() -> pg.Model:
    """A model with a trainable parameter and a constant array (built with GraphBuilder)."""
    g = pg.GraphBuilder("with_parameter")
    data = g.constant("data", jnp.arange(5.0))
    w = g.parameter("w", 0.5, prior=g.call(dist.Normal, 0.0, 1.0))
    z = g.random("z", dist.Normal, w * data, 1.0)
    g.returns(z)
    return g.build()


@pg.model
def improper():
    a <~ dist.Flat()
    b <~ dist.Normal(0.0, 1.0).expand([3])
    c <~ dist.Normal(a, 1.0)
    return c


@pg.model
def inner(s):
    mu <~ dist.Normal(0.0, s)
    return mu


@pg.model
def outer():
    """Inlines ``inner``: dotted node names (``z.mu``)."""
    z <~ inner(2.0)
    y <~ dist.Normal(z, 1.0)
    return y
