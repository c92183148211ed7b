"""Models used by the inference tests (the parser reads model source from files)."""

from __future__ import annotations

import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist, nn

TRACES: list[int] = []


def counted_zero(x):
    """0 * sum(x), recording each time it is traced or run in Python."""
    TRACES.append(1)
    return 0.0 * jnp.sum(x)


@pg.model
def normal_normal(m0, s0, sigma, n):
    mu <~ dist.Normal(m0, s0)
    y <~ dist.Normal(mu, sigma).expand([n])
    return y


@pg.model
def beta_binomial(a, b, n):
    p <~ dist.Beta(a, b)
    k <~ dist.Binomial(n, p)
    return k


@pg.model
def traced(sigma):
    mu <~ dist.Normal(0.0, 1.0)
    tau <~ dist.HalfNormal(1.0)
    count <~ pg.factor(counted_zero(mu))
    y <~ dist.Normal(mu, sigma * tau)
    return y


@pg.model
def eight_schools_centred(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta <~ dist.Normal(mu, tau).expand([8])
    y <~ dist.Normal(theta, sigma)
    return y


@pg.model
def flat_mean(n):
    mu <~ dist.Flat()
    s <~ dist.HalfFlat()
    y <~ dist.Normal(mu, s).expand([n])
    return y


@pg.model
def dependent_bound():
    a <~ dist.Uniform(0.0, 1.0)
    b <~ dist.Uniform(0.0, 1.0 - a)
    return b


@pg.model
def poisson_rate():
    rate <~ dist.Gamma(2.0, 1.0)
    k <~ dist.Poisson(rate).expand([4])
    return k


@pg.model
def categorical_obs():
    probs <~ dist.Dirichlet(jnp.ones(3))
    c <~ dist.Categorical(probs=probs).expand([4])
    return c


@pg.model
def beta_obs():
    a <~ dist.Gamma(2.0, 1.0)
    x <~ dist.Beta(a, 2.0).expand([3])
    return x


@pg.model
def discrete_latent(p):
    k <~ dist.Bernoulli(p)
    y <~ dist.Normal(k, 1.0)
    return y


@pg.model
def bad_scale(scale):
    mu <~ dist.Normal(0.0, 1.0)
    y <~ dist.Normal(mu, scale)
    return y


@pg.model
def regression(x):
    alpha <~ dist.Normal(0.0, 10.0)
    beta <~ dist.Normal(0.0, 10.0)
    sigma <~ dist.HalfNormal(5.0)
    mean = alpha + beta * x
    y <~ dist.Normal(mean, sigma)
    return y


@pg.model
def impossible():
    mu <~ dist.Normal(0.0, 1.0)
    wall <~ pg.factor(jnp.where(mu > 100.0, 0.0, -jnp.inf))
    return mu


@pg.model
def tiny_bnn(x):
    net <~ nn.Serial(nn.Dense(3, dist.Normal(0.0, 1.0)), nn.Tanh(), nn.Dense(1, dist.Normal(0.0, 1.0)))
    mu = net(x)[..., 0]
    y <~ dist.Normal(mu, 0.3)
    return y
