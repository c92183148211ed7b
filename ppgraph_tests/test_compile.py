"""``pg.sample_forward`` and ``pg.logpdf``: statistics of draws, keys, shapes, input errors."""

from __future__ import annotations

import ast
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppgraph as pg
from ppgraph import dist
from ppgraph_tests import compile_models as M
from ppgraph_tests.conftest import line_of

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
N = 4000


# (id, ppgraph distribution class and args, scipy frozen distribution)
CONTINUOUS = [
    ("Normal", dist.Normal, (0.5, 2.0), stats.norm(0.5, 2.0)),
    ("HalfNormal", dist.HalfNormal, (1.5,), stats.halfnorm(scale=1.5)),
    ("HalfCauchy", dist.HalfCauchy, (2.0,), stats.halfcauchy(scale=2.0)),
    ("Cauchy", dist.Cauchy, (-1.0, 0.5), stats.cauchy(-1.0, 0.5)),
    ("StudentT", dist.StudentT, (3.5, 1.0, 2.0), stats.t(3.5, 1.0, 2.0)),
    ("Laplace", dist.Laplace, (0.3, 1.7), stats.laplace(0.3, 1.7)),
    ("LogNormal", dist.LogNormal, (0.2, 0.8), stats.lognorm(0.8, scale=np.exp(0.2))),
    ("Exponential", dist.Exponential, (1.3,), stats.expon(scale=1 / 1.3)),
    ("Gamma", dist.Gamma, (2.5, 1.5), stats.gamma(2.5, scale=1 / 1.5)),
    ("InverseGamma", dist.InverseGamma, (3.0, 2.0), stats.invgamma(3.0, scale=2.0)),
    ("Beta", dist.Beta, (2.0, 0.7), stats.beta(2.0, 0.7)),
    ("Uniform", dist.Uniform, (-1.0, 3.0), stats.uniform(-1.0, 4.0)),
]

DISCRETE = [
    ("Bernoulli", dist.Bernoulli, (), {"probs": 0.3}, stats.bernoulli(0.3)),
    ("BernoulliLogits", dist.Bernoulli, (), {"logits": -0.8}, stats.bernoulli(1 / (1 + np.exp(0.8)))),
    ("Binomial", dist.Binomial, (7,), {"probs": 0.35}, stats.binom(7, 0.35)),
    ("Poisson", dist.Poisson, (3.2,), {}, stats.poisson(3.2)),
]


def sample_x(cls, args, kwargs=None, seed=0, n=N, expand=None) -> np.ndarray:
    g = pg.GraphBuilder("single")
    named = lambda i, v: g.constant(f"c{i}", v) if hasattr(v, "shape") else v  # noqa: E731
    args = [named(i, v) for i, v in enumerate(args)]
    kwargs = {k: named(k, v) for k, v in (kwargs or {}).items()}
    d = g.call(cls, *args, **kwargs)
    g.random("x", d if expand is None else d.expand(expand))
    return np.asarray(pg.sample_forward(g.build(), jax.random.key(seed), num_samples=n)["x"])


@pytest.mark.slow
@pytest.mark.parametrize("name, cls, args, ref", CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
def test_continuous_draws_pass_a_ks_test(name, cls, args, ref):
    x = sample_x(cls, args)
    assert x.shape == (N,)
    assert stats.kstest(x, ref.cdf).pvalue > 1e-3
    # and the test can fail: the draws are far from a shifted distribution
    shifted = stats.kstest(x + 0.5 * ref.std() if np.isfinite(ref.std()) else x + 2.0, ref.cdf)
    assert shifted.pvalue < 1e-3


@pytest.mark.parametrize("name, cls, args, kwargs, ref", DISCRETE, ids=[c[0] for c in DISCRETE])
def test_discrete_draws_match_moments_and_frequencies(name, cls, args, kwargs, ref):
    x = sample_x(cls, args, kwargs)
    se = ref.std() / np.sqrt(N)
    assert abs(x.mean() - ref.mean()) < 4 * se
    assert abs(x.var() - ref.var()) < 0.1 * ref.var()
    support = np.arange(0, int(ref.ppf(0.999)) + 1)
    observed = np.array([(x == k).sum() for k in support])
    expected = ref.pmf(support) * N
    keep = expected > 5
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2(keep.sum() - 1).sf(chi2) > 1e-3


def test_categorical_dirichlet_mvn_lkj_moments():
    probs = np.array([0.2, 0.5, 0.3])
    c = sample_x(dist.Categorical, (), {"probs": jnp.asarray(probs)})
    np.testing.assert_allclose(np.bincount(c, minlength=3) / N, probs, atol=0.03)
    alpha = np.array([1.0, 2.0, 3.0])
    d = sample_x(dist.Dirichlet, (jnp.asarray(alpha),))
    np.testing.assert_allclose(d.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(d.mean(0), alpha / alpha.sum(), atol=0.02)
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    m = sample_x(dist.MultivariateNormal, (jnp.array([1.0, -1.0]),), {"covariance_matrix": jnp.asarray(cov)})
    np.testing.assert_allclose(m.mean(0), [1.0, -1.0], atol=0.1)
    np.testing.assert_allclose(np.cov(m.T), cov, atol=0.15)
    L = sample_x(dist.LKJCholesky, (3, 2.0), n=1000)
    corr = L @ np.swapaxes(L, -1, -2)
    np.testing.assert_allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0, atol=1e-5)
    # LKJ(eta) in dimension d: off-diagonal correlations have variance 1 / (2 eta + d - 1)
    np.testing.assert_allclose(corr[:, 1, 0].var(), 1 / (2 * 2.0 + 3 - 1), rtol=0.15)


def test_iid_variables_are_uncorrelated():
    draws = pg.sample_forward(M.two_iid, jax.random.key(0), num_samples=N)
    a, b, c = (np.asarray(draws[k]) for k in ("a", "b", "c"))
    assert not np.allclose(a, b)
    for x, y in [(a, b), (a, c[:, 0]), (c[:, 0], c[:, 1]), (b, c[:, 1])]:
        assert abs(np.corrcoef(x, y)[0, 1]) < 4 / np.sqrt(N)
    # samples along the num_samples axis are independent as well
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 4 / np.sqrt(N)
    assert len(np.unique(a)) > N - 5  # float32 draws may collide once in a while, keys never repeat


def test_every_random_variable_gets_its_own_key():
    source = pg.source(M.eight_schools, "sample_forward")
    used = re.findall(r"\.sample\((\w+)\[(\d+)\]\)", source)
    assert len(used) == 4  # mu, tau, theta_t, y
    assert len({index for _, index in used}) == 4
    assert f"jax.random.split(rng_key, 4)" in source
    tree = ast.parse(source)  # the generated source is valid Python
    assert isinstance(tree.body[0], ast.FunctionDef)


def test_different_keys_give_different_draws_and_same_key_the_same():
    one = pg.sample_forward(M.eight_schools, jax.random.key(1), SIGMA)
    again = pg.sample_forward(M.eight_schools, jax.random.key(1), SIGMA)
    other = pg.sample_forward(M.eight_schools, jax.random.key(2), SIGMA)
    for k in one:
        np.testing.assert_array_equal(one[k], again[k])
    assert not np.allclose(one["mu"], other["mu"])


def test_shapes_with_and_without_num_samples():
    one = pg.sample_forward(M.eight_schools, jax.random.key(0), SIGMA)
    many = pg.sample_forward(M.eight_schools, jax.random.key(0), sigma=SIGMA, num_samples=7)
    expected = {"mu": (), "tau": (), "theta_t": (8,), "theta": (8,), "y": (8,)}
    assert {k: v.shape for k, v in one.items()} == expected
    assert {k: v.shape for k, v in many.items()} == {k: (7, *s) for k, s in expected.items()}
    # deterministic nodes are present and consistent with the draws
    np.testing.assert_allclose(many["theta"], many["mu"][:, None] + many["tau"][:, None] * many["theta_t"], rtol=1e-5)
    assert set(one) == {"mu", "tau", "theta_t", "theta", "y"}  # arguments are not returned


def test_num_samples_must_be_a_positive_int():
    for bad in (0, -3, 2.5):
        with pytest.raises(pg.ModelError, match="num_samples"):
            pg.sample_forward(M.eight_schools, jax.random.key(0), SIGMA, num_samples=bad)


def test_static_int_argument_sets_a_size():
    assert pg.sample_forward(M.with_default, jax.random.key(0))["x"].shape == (3,)
    assert pg.sample_forward(M.with_default, jax.random.key(0), n=5, num_samples=2)["x"].shape == (2, 5)


def test_keyword_values_fix_random_variables_in_sample_forward():
    draws = pg.sample_forward(M.eight_schools, jax.random.key(0), SIGMA, mu=3.0, tau=0.0, num_samples=50)
    np.testing.assert_allclose(draws["theta"], 3.0)
    assert "mu" not in draws or np.allclose(draws["mu"], 3.0)


def test_logpdf_matches_hand_written_density():
    lp = pg.logpdf(M.eight_schools)
    theta_t = jnp.linspace(-1.0, 1.0, 8)
    y = jnp.arange(8.0)
    got = lp(sigma=SIGMA, mu=0.3, tau=1.7, theta_t=theta_t, y=y)
    expected = (
        stats.norm(0, 5).logpdf(0.3)
        + stats.halfcauchy(scale=5).logpdf(1.7)
        + stats.norm(0, 1).logpdf(np.asarray(theta_t)).sum()
        + stats.norm(0.3 + 1.7 * np.asarray(theta_t), np.asarray(SIGMA)).logpdf(np.asarray(y)).sum()
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    # positional model arguments work too
    np.testing.assert_allclose(lp(SIGMA, mu=0.3, tau=1.7, theta_t=theta_t, y=y), got)
    terms = pg.logpdf(M.eight_schools, terms=True)(sigma=SIGMA, mu=0.3, tau=1.7, theta_t=theta_t, y=y)
    assert set(terms) == {"mu", "tau", "theta_t", "y"}
    np.testing.assert_allclose(sum(float(v) for v in terms.values()), expected, rtol=1e-5)


def test_user_function_returning_a_distribution():
    lp = pg.logpdf(M.user_distribution_function)(a=0.2)
    np.testing.assert_allclose(lp, stats.norm(1.0, 1.0).logpdf(0.2), rtol=1e-6)


# -- errors at call time -----------------------------------------------------------------------
def _file_line(model: str, snippet: str) -> str:
    """``compile_models.py:LINE`` of ``snippet`` in model ``model``, read from the file (not from ppgraph)."""
    after = None if snippet.startswith("def ") else f"def {model}("
    return f"compile_models.py:{line_of(M.__file__, snippet, after=after)}"


def assert_names(err: pg.ModelError, model: str, node: str, location: str) -> None:
    text = str(err)
    assert f"model '{model}'" in text and f"node '{node}'" in text
    assert err.location == location and f"({location})" in text
    assert err.hint and "Hint:" in text


def test_missing_argument():
    with pytest.raises(pg.ModelError, match="missing argument") as info:
        pg.logpdf(M.shapes)(a=jnp.zeros(3), b=jnp.zeros(3))
    assert_names(info.value, "shapes", "x", _file_line("shapes", "def shapes(x)"))
    with pytest.raises(pg.ModelError, match="missing argument"):
        pg.sample_forward(M.shapes, jax.random.key(0))


def test_missing_value():
    with pytest.raises(pg.ModelError, match="missing value") as info:
        pg.logpdf(M.shapes)(x=1.0, a=jnp.zeros(3))
    assert_names(info.value, "shapes", "b", _file_line("shapes", "b <~"))


def test_value_for_an_unknown_name():
    with pytest.raises(pg.ModelError, match="not a node") as info:
        pg.logpdf(M.shapes)(x=1.0, a=jnp.zeros(3), b=jnp.zeros(3), bb=1.0)
    assert "'b'" in info.value.hint


def test_shape_mismatch_at_first_call_names_the_node():
    with pytest.raises(pg.ShapeError, match="incompatible shapes") as info:
        pg.logpdf(M.shapes)(x=jnp.ones(4), a=jnp.zeros(3), b=jnp.zeros(3))
    assert_names(info.value, "shapes", "b", _file_line("shapes", "b <~"))
    assert "(3,)" in str(info.value) and "(4,)" in str(info.value)
    with pytest.raises(pg.ShapeError, match="incompatible shapes") as info:
        pg.sample_forward(M.shapes, jax.random.key(0), x=jnp.ones(4))
    assert info.value.node == "b"


def test_improper_prior_in_sample_forward():
    with pytest.raises(pg.ModelError, match="improper prior") as info:
        pg.sample_forward(M.improper, jax.random.key(0))
    assert_names(info.value, "improper", "a", _file_line("improper", "a <~"))
    # giving its value is the fix the hint suggests
    draws = pg.sample_forward(M.improper, jax.random.key(0), a=1.5, num_samples=3)
    assert draws["b"].shape == (3,)


def test_function_after_tilde_that_returns_no_distribution():
    with pytest.raises(pg.ModelError, match="must evaluate to a distribution") as info:
        pg.sample_forward(M.returns_no_distribution, jax.random.key(0))
    assert_names(info.value, "returns_no_distribution", "a", _file_line("returns_no_distribution", "a <~"))
    with pytest.raises(pg.ModelError, match="must evaluate to a distribution"):
        pg.logpdf(M.returns_no_distribution)(a=1.0)
