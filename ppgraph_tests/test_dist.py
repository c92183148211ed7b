"""``ppgraph.dist`` against scipy.stats: log densities / mass functions at points.

One table row per distribution of issue 2: a ppgraph distribution, the scipy
frozen distribution with the same parameters, and points inside the support.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import ppgraph as pg
from ppgraph import dist

X_REAL = np.array([-3.1, -0.4, 0.0, 0.7, 2.5])
X_POS = np.array([0.05, 0.4, 1.0, 2.3, 7.5])
X_UNIT = np.array([0.01, 0.2, 0.5, 0.77, 0.99])

# (id, ppgraph distribution, scipy frozen distribution, points, discrete?)
TABLE = [
    ("Normal", dist.Normal(0.5, 2.0), stats.norm(0.5, 2.0), X_REAL, False),
    ("HalfNormal", dist.HalfNormal(1.5), stats.halfnorm(scale=1.5), X_POS, False),
    ("HalfCauchy", dist.HalfCauchy(2.0), stats.halfcauchy(scale=2.0), X_POS, False),
    ("Cauchy", dist.Cauchy(-1.0, 0.5), stats.cauchy(-1.0, 0.5), X_REAL, False),
    ("StudentT", dist.StudentT(3.5, 1.0, 2.0), stats.t(3.5, 1.0, 2.0), X_REAL, False),
    ("Laplace", dist.Laplace(0.3, 1.7), stats.laplace(0.3, 1.7), X_REAL, False),
    ("LogNormal", dist.LogNormal(0.2, 0.8), stats.lognorm(0.8, scale=np.exp(0.2)), X_POS, False),
    ("Exponential", dist.Exponential(1.3), stats.expon(scale=1 / 1.3), X_POS, False),
    ("Gamma", dist.Gamma(2.5, 1.5), stats.gamma(2.5, scale=1 / 1.5), X_POS, False),
    ("InverseGamma", dist.InverseGamma(3.0, 2.0), stats.invgamma(3.0, scale=2.0), X_POS, False),
    ("Beta", dist.Beta(2.0, 0.7), stats.beta(2.0, 0.7), X_UNIT, False),
    ("Uniform", dist.Uniform(-1.0, 3.0), stats.uniform(-1.0, 4.0), np.array([-0.9, 0.0, 1.2, 2.9]), False),
    ("BernoulliProbs", dist.Bernoulli(probs=0.3), stats.bernoulli(0.3), np.array([0, 1]), True),
    ("BernoulliLogits", dist.Bernoulli(logits=-0.8), stats.bernoulli(special.expit(-0.8)), np.array([0, 1]), True),
    ("Binomial", dist.Binomial(7, probs=0.35), stats.binom(7, 0.35), np.arange(8), True),
    ("BinomialLogits", dist.Binomial(7, logits=0.4), stats.binom(7, special.expit(0.4)), np.arange(8), True),
    ("Poisson", dist.Poisson(3.2), stats.poisson(3.2), np.arange(12), True),
    ("CategoricalProbs", dist.Categorical(probs=jnp.array([0.2, 0.5, 0.3])),
     stats.rv_discrete(values=([0, 1, 2], [0.2, 0.5, 0.3])), np.arange(3), True),
    ("CategoricalLogits", dist.Categorical(logits=jnp.array([0.1, -1.0, 2.0])),
     stats.rv_discrete(values=([0, 1, 2], special.softmax([0.1, -1.0, 2.0]))), np.arange(3), True),
]


@pytest.mark.parametrize("name, d, ref, points, discrete", TABLE, ids=[row[0] for row in TABLE])
def test_univariate_log_density_matches_scipy(name, d, ref, points, discrete):
    expected = ref.logpmf(points) if discrete else ref.logpdf(points)
    got = np.asarray(d.log_prob(jnp.asarray(points)))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)
    assert pg.dist.is_discrete(d) == discrete


def test_dirichlet_matches_scipy():
    alpha = np.array([0.7, 2.0, 3.5])
    points = np.array([[0.2, 0.3, 0.5], [0.05, 0.9, 0.05], [1 / 3, 1 / 3, 1 / 3]])
    got = dist.Dirichlet(jnp.asarray(alpha)).log_prob(jnp.asarray(points))
    expected = [stats.dirichlet(alpha).logpdf(p) for p in points]
    np.testing.assert_allclose(got, expected, rtol=2e-5)


def test_multivariate_normal_matches_scipy():
    loc = np.array([0.5, -1.0, 2.0])
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    points = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.5], [3.0, 1.0, 0.0]])
    expected = stats.multivariate_normal(loc, cov).logpdf(points)
    for d in (
        dist.MultivariateNormal(jnp.asarray(loc), covariance_matrix=jnp.asarray(cov)),
        dist.MultivariateNormal(jnp.asarray(loc), scale_tril=jnp.linalg.cholesky(jnp.asarray(cov))),
    ):
        np.testing.assert_allclose(d.log_prob(jnp.asarray(points)), expected, rtol=2e-5)


def test_lkj_cholesky_density_is_lkj_of_the_correlation_matrix():
    """log p(L) = log LKJ(L L^T; eta) + log|d(L L^T)/dL| (Lewandowski et al. 2009).

    scipy has no LKJ: the reference is the LKJ density in closed form,
    c(eta) det(C)^(eta-1), with the Jacobian of the Cholesky map
    prod_i L_ii^(d - i) (i = 1..d, on the strictly lower triangle).
    """
    d, eta = 3, 1.7
    L = jnp.array([[1.0, 0.0, 0.0], [0.3, np.sqrt(1 - 0.09), 0.0], [-0.2, 0.4, np.sqrt(1 - 0.04 - 0.16)]])
    lkj = dist.LKJCholesky(d, eta)
    # normalising constant of LKJ (Lewandowski et al., eq. 16)
    log_c = 0.0
    for k in range(1, d):
        b = eta + (d - 1 - k) / 2
        log_c += (d - k) * (2 * special.gammaln(b) - special.gammaln(2 * b)) + (2 * eta - 2 + d - k) * (d - k) * np.log(2)
    log_c = -log_c
    diag = np.diag(np.asarray(L))
    log_det_c = 2 * np.sum(np.log(diag))
    jac = np.sum((d - np.arange(1, d + 1)) * np.log(diag))
    expected = log_c + (eta - 1) * log_det_c + jac
    np.testing.assert_allclose(float(lkj.log_prob(L)), expected, rtol=1e-5)


def test_flat_priors_have_zero_log_density_on_their_support():
    x = jnp.array([-5.0, 0.0, 3.0])
    np.testing.assert_array_equal(dist.Flat().log_prob(x), jnp.zeros(3))
    assert dist.Flat([3]).batch_shape == (3,)
    assert dist.Flat(event_shape=(2,)).event_shape == (2,)
    np.testing.assert_array_equal(dist.HalfFlat().log_prob(jnp.array([0.1, 4.0])), jnp.zeros(2))
    np.testing.assert_array_equal(dist.HalfFlat().support(jnp.array([-1.0, 2.0])), [False, True])
    assert isinstance(dist.Flat(), dist.ImproperUniform)
    with pytest.raises(NotImplementedError, match=r"^$"):  # NumPyro's ImproperUniform has no sampler
        dist.Flat().sample(jax.random.key(0))


@pytest.mark.parametrize(
    "base, u",
    [
        (dist.Exponential(1.3), jnp.array([-1.0, 0.0, 2.0])),
        (dist.Beta(2.0, 3.0), jnp.array([-2.0, 0.1, 1.5])),
        (dist.Uniform(-1.0, 3.0), jnp.array([-2.0, 0.1, 1.5])),
        (dist.LogNormal(0.0, 1.0), jnp.array([-2.0, 0.1, 1.5])),
    ],
)
def test_unconstrained_is_base_density_plus_jacobian(base, u):
    """log p_U(u) = log p(T(u)) + log|T'(u)|, T from scipy-free finite differences."""
    d = dist.Unconstrained(base)
    T = dist.biject_to(base.support)
    x = T(u)
    h = 1e-3
    derivative = (T(u + h) - T(u - h)) / (2 * h)
    expected = base.log_prob(x) + jnp.log(jnp.abs(derivative))
    np.testing.assert_allclose(d.log_prob(u), expected, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(d.constrain(u), x)
    # a unconstrained draw maps back into the support
    draws = d.constrain(d.sample(jax.random.key(0), (100,)))
    assert bool(jnp.all(base.support(draws)))


def test_unconstrained_simplex_and_cholesky_event_shapes():
    d = dist.Unconstrained(dist.Dirichlet(jnp.ones(4)))
    assert d.event_shape == (3,)
    u = jnp.array([0.1, -0.3, 0.5])
    assert d.constrain(u).shape == (4,) and np.isclose(float(d.constrain(u).sum()), 1.0)
    c = dist.Unconstrained(dist.LKJCholesky(3, 2.0))
    assert c.event_shape == (3,)
    assert np.isfinite(float(c.log_prob(u)))


def test_unconstrained_rejects_discrete_and_non_distributions():
    with pytest.raises(TypeError, match="discrete"):
        dist.Unconstrained(dist.Poisson(2.0))
    with pytest.raises(TypeError, match="needs a distribution"):
        dist.Unconstrained(3.0)


def test_expand_broadcasts_like_numpyro():
    d = dist.Normal(jnp.zeros(3), 1.0).expand([2, 3])
    assert d.batch_shape == (2, 3)
    assert dist.Normal(jnp.zeros((4, 1)), jnp.ones(5)).batch_shape == (4, 5)
    x = jnp.full((2, 3), 0.5)
    np.testing.assert_allclose(d.log_prob(x), stats.norm(0, 1).logpdf(np.asarray(x)), rtol=1e-6)


def test_is_distribution():
    assert dist.is_distribution(dist.Normal)
    assert dist.is_distribution(dist.Normal(0.0, 1.0))
    assert not dist.is_distribution(jnp.exp)
    assert not dist.is_distribution(int)
    assert not dist.is_distribution(3.0)
