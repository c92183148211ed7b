"""pg.sample on models with discrete latents: summed out for NUTS, recovered exactly afterwards."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import gammaln, logsumexp

import ppgraph as pg
from ppgraph import ModelError, dist
from ppgraph.inference.problem import prepare
from ppgraph.passes import marginalize, observe


@pg.model
def change_point(t, num_steps):
    early <~ dist.Exponential(1.0)
    late <~ dist.Exponential(1.0)
    switch <~ dist.DiscreteUniform(0, num_steps)
    rate = jnp.where(t < switch, early, late)
    counts <~ dist.Poisson(rate)
    return counts


def exact_switch_posterior(counts):
    """p(switch | counts) with the rates integrated out: Exponential(1) = Gamma(1, 1) is conjugate."""
    counts = np.asarray(counts)
    num_steps = len(counts)
    logp = []
    for s in range(num_steps + 1):
        c1, c2 = counts[:s].sum(), counts[s:].sum()
        n1, n2 = s, num_steps - s
        logp.append(gammaln(c1 + 1) - (c1 + 1) * np.log(n1 + 1) + gammaln(c2 + 1) - (c2 + 1) * np.log(n2 + 1))
    logp = np.array(logp)
    p = np.exp(logp - logsumexp(logp))
    cum = np.concatenate([[0], np.cumsum(counts)])
    s = np.arange(num_steps + 1)
    early = np.sum(p * (cum[s] + 1) / (s + 1))
    late = np.sum(p * (cum[-1] - cum[s] + 1) / (num_steps - s + 1))
    return p, early, late


@pytest.mark.slow
def test_change_point_switch_posterior_is_exact():
    counts = jnp.array([5, 4, 6, 3, 5, 4, 1, 0, 2, 1, 0, 1, 1, 0])
    num_steps = len(counts)
    post = pg.sample(change_point, 0, jnp.arange(num_steps), num_steps, counts=counts, num_warmup=300,
                     num_samples=1500, num_chains=2, progress=False)
    p, early, late = exact_switch_posterior(counts)
    switch = np.asarray(post.samples["switch"]).ravel()
    empirical = np.bincount(switch, minlength=num_steps + 1) / switch.size
    assert 0.5 * np.abs(empirical - p).sum() < 0.06
    assert float(post.samples["early"].mean()) == pytest.approx(early, rel=0.06)
    assert float(post.samples["late"].mean()) == pytest.approx(late, rel=0.08)
    assert post.samples["rate"].shape == (2, 1500, num_steps)  # a deterministic of the switch: recomputed


def test_recovered_values_and_their_deterministics():
    @pg.model
    def mixture(n):
        scale <~ dist.HalfNormal(1.0)
        z <~ dist.Bernoulli(0.5).expand([n])
        loc = jnp.where(z == 1, 3.0, -3.0)
        y <~ dist.Normal(loc, scale)
        return y

    y = jnp.array([-3.2, 2.7, 3.1, -2.9, 3.3])
    post = pg.sample(mixture, 1, 5, y=y, num_warmup=100, num_samples=50, num_chains=2, progress=False)
    z = np.asarray(post.samples["z"])
    assert z.shape == (2, 50, 5) and np.issubdtype(z.dtype, np.integer)
    assert np.all(z == (np.asarray(y) > 0))  # the labels are all but certain here
    np.testing.assert_array_equal(np.asarray(post.samples["loc"]), np.where(z == 1, 3.0, -3.0))
    assert list(post.samples) == ["scale", "z", "loc"]
    assert "z[0]" in post.summary().index
    assert "z" in post.to_arviz().posterior
    pred = pg.sample_predictive(mixture, 2, post, 5)
    assert pred["y"].shape == (2, 50, 5)
    assert np.all(np.sign(np.asarray(pred["y"]).mean(axis=(0, 1))) == np.sign(np.asarray(y)))


def test_marginalize_false_keeps_the_error():
    @pg.model
    def m():
        z <~ dist.Bernoulli(0.5)
        y <~ dist.Normal(z, 1.0)
        return y

    with pytest.raises(ModelError, match="'z' is a discrete latent variable"):
        pg.sample(m, 0, y=0.3, num_warmup=10, num_samples=10, num_chains=1, progress=False, marginalize=False)


def test_observed_values_inside_a_summed_out_block_are_data_not_constants():
    # two data sets of the same shape share compiled code: each must get its own density
    t = jnp.arange(6)
    a = jnp.array([3, 4, 2, 0, 1, 0])
    b = jnp.array([0, 0, 1, 5, 6, 4])
    pa = prepare(change_point, (t, 6), {"counts": a}, passes=("marginalize",))
    pb = prepare(change_point, (t, 6), {"counts": b}, passes=("marginalize",))
    position = {"early": jnp.asarray(2.0), "late": jnp.asarray(0.5)}
    for problem, counts in ((pa, a), (pb, b)):
        expected = pg.logpdf(marginalize(observe(change_point, counts=counts)))(
            t=t, num_steps=6, **position)
        assert float(problem.logdensity(position)) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.slow
def test_hmm_states_agree_with_the_simulated_ones():
    @pg.model
    def hmm(num_steps):
        stay <~ dist.Beta(8.0, 2.0)
        transition = jnp.array([[1.0, 0.0], [0.0, 1.0]]) * stay + (1 - stay) * jnp.array([[0.0, 1.0], [1.0, 0.0]])
        states <~ dist.DiscreteMarkovChain(jnp.array([0.5, 0.5]), transition, num_steps)
        y <~ dist.Normal(jnp.array([-2.0, 2.0])[states], 1.0)
        return y

    sim = pg.sample_forward(hmm, 3, 80, num_samples=1, stay=0.9)
    post = pg.sample(hmm, 4, 80, y=sim["y"][0], num_warmup=200, num_samples=200, num_chains=2, progress=False)
    states = np.asarray(post.samples["states"]).reshape(-1, 80)
    assert np.mean(states.mean(axis=0).round() == np.asarray(sim["states"][0])) > 0.9


def test_observed_values_inside_a_summed_out_block_are_checked():
    from ppgraph import SupportError

    t = jnp.arange(4)
    with pytest.raises(SupportError, match=r"'counts'.*outside the support of Poisson"):
        pg.sample(change_point, 0, t, 4, counts=jnp.array([1, -1, 2, 0]), num_warmup=5, num_samples=5,
                  num_chains=1, progress=False)
    with pytest.raises(SupportError, match=r"'counts'.*non-integer values"):
        pg.sample(change_point, 0, t, 4, counts=jnp.array([1.0, 0.5, 2.0, 0.0]), num_warmup=5, num_samples=5,
                  num_chains=1, progress=False)


def test_only_discrete_latents_are_drawn_exactly_without_a_sampler():
    @pg.model
    def labels(n):
        z <~ dist.Bernoulli(0.3).expand([n])
        y <~ dist.Normal(jnp.where(z == 1, 2.0, -2.0), 1.0)
        return y

    y = jnp.array([2.0, -2.0, 0.1])
    post = pg.sample(labels, 0, 3, y=y, num_samples=4000, num_chains=2, progress=False)
    assert post.samples["z"].shape == (2, 4000, 3)
    one = 0.3 * np.exp(-0.5 * (np.asarray(y) - 2.0) ** 2)
    zero = 0.7 * np.exp(-0.5 * (np.asarray(y) + 2.0) ** 2)
    np.testing.assert_allclose(np.asarray(post.samples["z"]).mean(axis=(0, 1)), one / (one + zero), atol=0.02)
