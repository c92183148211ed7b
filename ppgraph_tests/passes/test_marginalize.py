"""The marginalize pass: densities against brute-force enumeration, NumPyro's enumeration, a hand-written
forward algorithm; refusals; purity, idempotence, and commuting with observe."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jax.scipy.special import logsumexp

import ppgraph as pg
from ppgraph import ModelError, dist
from ppgraph import enumeration
from ppgraph.ir import Deterministic, Graph, RandomVariable
from ppgraph.passes import marginalize, observe
from ppgraph_tests.passes.graphcheck import assert_graphs_equal, assert_unchanged, snapshot

SETTINGS = settings(derandomize=True, max_examples=10, deadline=None, database=None)


# -- random models: 1-3 discrete latents, a continuous parent, an observed child ------------------------
@st.composite
def discrete_models(draw):
    """(graph, continuous values, observed value, latent sizes) of a random small discrete model."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.integers(2, 3))
    num = draw(st.integers(1, 3))
    env = {"dist": dist, "jnp": jnp, "idx": jnp.arange(n)}
    g = Graph(name="random_discrete", env=env)
    g.add(RandomVariable("m", dist="dist.Normal(0.0, 1.0)"))
    latents = []  # (name, K, batched)
    for i in range(num):
        k = draw(st.integers(2, 4))
        parent = draw(st.sampled_from([None] + [name for name, _, _ in latents]))
        batched = draw(st.booleans())
        name = f"z{i}"
        if parent is None:
            family = draw(st.sampled_from(["probs", "logits", "bernoulli", "uniform"]))
            if family == "bernoulli":
                k = 2
                env[f"p{i}"] = float(rng.uniform(0.1, 0.9))
                source = f"dist.Bernoulli(p{i})"
            elif family == "uniform":
                source = f"dist.DiscreteUniform(0, {k - 1})"
            elif family == "probs":
                env[f"w{i}"] = jnp.asarray(rng.dirichlet(np.ones(k)), dtype=jnp.float32)
                source = f"dist.Categorical(w{i})"
            else:
                env[f"w{i}"] = jnp.asarray(rng.normal(size=k), dtype=jnp.float32)
                source = f"dist.Categorical(logits=w{i})"
            if batched:
                source += f".expand([{n}])"
        else:
            pk = next(kk for nm, kk, _ in latents if nm == parent)
            parent_batched = next(b for nm, _, b in latents if nm == parent)
            batched = batched or parent_batched
            env[f"P{i}"] = jnp.asarray(rng.dirichlet(np.ones(k), size=pk), dtype=jnp.float32)
            index = f"{parent} + 0 * idx" if batched and not parent_batched else parent
            source = f"dist.Categorical(P{i}[{index}])"
        g.add(RandomVariable(name, dist=source))
        latents.append((name, k, batched))
    # the observed child depends on a non-empty subset of the latents (some through a deterministic)
    used = draw(st.lists(st.sampled_from([nm for nm, _, _ in latents]), min_size=1, unique=True))
    parts = []
    for name in used:
        k = next(kk for nm, kk, _ in latents if nm == name)
        env[f"c_{name}"] = jnp.asarray(rng.normal(scale=2.0, size=k), dtype=jnp.float32)
        if draw(st.booleans()):
            g.add(Deterministic(f"d_{name}", expr=f"c_{name}[{name}] * 2.0"))
            parts.append(f"d_{name}")
        else:
            parts.append(f"c_{name}[{name}]")
    vector_child = draw(st.booleans()) or any(b for _, _, b in latents)
    loc = "m + " + " + ".join(parts) + (" + 0.0 * idx" if vector_child else "")
    g.add(RandomVariable("y", dist=f"dist.Normal({loc}, 1.5)"))
    g.link()
    y = jnp.asarray(rng.normal(scale=2.0, size=(n,) if vector_child else ()), dtype=jnp.float32)
    return g, {"m": float(rng.normal())}, y, [(name, k, n if b else None) for name, k, b in latents]


def brute_force(graph, values, y, latents):
    """log sum over every configuration of every discrete element of the joint density."""
    joint = jax.jit(pg.logpdf(observe(graph, y=y)))
    axes = [(name, k, size) for name, k, size in latents]
    grids = [itertools.product(range(k), repeat=size or 1) for _, k, size in axes]
    terms = []
    for config in itertools.product(*[list(gr) for gr in grids]):
        given = {name: (jnp.asarray(c, dtype=jnp.int32) if size else jnp.int32(c[0]))
                 for (name, _, size), c in zip(axes, config)}
        terms.append(joint(**values, **given))
    return float(logsumexp(jnp.asarray(terms)))


@SETTINGS
@given(discrete_models())
def test_marginal_density_equals_brute_force_enumeration(case):
    graph, values, y, latents = case
    sizes = [k ** (size or 1) for _, k, size in latents]
    assume(np.prod(sizes) <= 4096)  # the oracle enumerates every configuration
    marginal_graph = marginalize(observe(graph, y=y))
    got = float(pg.logpdf(marginal_graph)(**values))
    assert got == pytest.approx(brute_force(graph, values, y, latents), rel=1e-4, abs=1e-3)


@SETTINGS
@given(discrete_models())
def test_pure_idempotent_and_commutes_with_observe(case):
    graph, values, y, latents = case
    observed = observe(graph, y=y)
    before = snapshot(observed)
    once = marginalize(observed)
    assert_unchanged(observed, before)
    assert_graphs_equal(once, marginalize(once))
    # the continuous parent observed before or after marginalising: the same density
    a = marginalize(observe(observed, m=values["m"]))
    b = observe(once, m=values["m"])
    assert float(pg.logpdf(a)()) == pytest.approx(float(pg.logpdf(b)()), rel=1e-6)
    # a node summed out with the latents (the observed child) observed again with new data, and a
    # discrete latent observed after marginalising: the same density as observing first
    y2 = y * -0.5 + 1.0
    before = snapshot(once)
    again = observe(once, y=y2)
    assert_unchanged(once, before)
    direct = marginalize(observe(graph, y=y2))
    assert float(pg.logpdf(again)(**values)) == pytest.approx(float(pg.logpdf(direct)(**values)), rel=1e-5)
    name, k, size = latents[0]
    z = jnp.asarray(np.arange(size) % k if size else 1 % k, dtype=jnp.int32)
    late = observe(once, **{name: z})
    early = marginalize(observe(observed, **{name: z}))
    assert float(pg.logpdf(late)(**values)) == pytest.approx(float(pg.logpdf(early)(**values)), rel=1e-5)


# -- models of the docs, against NumPyro's enumeration and by-hand sums ----------------------------------
def test_mixture_equals_numpyro_enumeration():
    import numpyro
    from numpyro.contrib.funsor import config_enumerate, enum, log_density

    @pg.model
    def mixture(n):
        w <~ dist.Dirichlet(jnp.ones(3))
        locs <~ dist.Normal(0.0, 5.0).expand([3])
        s <~ dist.HalfNormal(2.0)
        z <~ dist.Categorical(w).expand([n])
        y <~ dist.Normal(locs[z], s)
        return y

    def numpyro_mixture(y):
        w = numpyro.sample("w", dist.Dirichlet(jnp.ones(3)))
        locs = numpyro.sample("locs", dist.Normal(0.0, 5.0).expand([3]).to_event(1))
        s = numpyro.sample("s", dist.HalfNormal(2.0))
        with numpyro.plate("data", y.shape[0]):
            z = numpyro.sample("z", dist.Categorical(w))
            numpyro.sample("y", dist.Normal(locs[z], s), obs=y)

    y = jnp.array([-3.0, 0.1, 4.0, 4.2, -2.5])
    params = {"w": jnp.array([0.2, 0.3, 0.5]), "locs": jnp.array([-3.0, 0.0, 4.0]), "s": 1.3}
    ours = pg.logpdf(marginalize(observe(mixture, y=y)))(n=5, **params)
    theirs, _ = log_density(enum(config_enumerate(numpyro_mixture), first_available_dim=-2), (y,), {}, params)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)


def change_point_model():
    @pg.model
    def change_point(t, num_steps):
        early <~ dist.Exponential(1.0)
        late <~ dist.Exponential(1.0)
        switch <~ dist.DiscreteUniform(0, num_steps)
        rate = jnp.where(t < switch, early, late)
        counts <~ dist.Poisson(rate)
        return counts

    return change_point


def test_change_point_equals_numpyro_enumeration():
    import numpyro
    from numpyro.contrib.funsor import config_enumerate, enum, log_density

    counts = jnp.array([4, 5, 3, 6, 1, 0, 2, 1])
    t = jnp.arange(8)

    def numpyro_change_point(counts):
        early = numpyro.sample("early", dist.Exponential(1.0))
        late = numpyro.sample("late", dist.Exponential(1.0))
        switch = numpyro.sample("switch", dist.DiscreteUniform(0, 8))
        rate = jnp.where(t < switch, early, late)  # switch enumerated on dim -2
        with numpyro.plate("time", 8):
            numpyro.sample("counts", dist.Poisson(rate), obs=counts)

    params = {"early": 3.5, "late": 0.8}
    ours = pg.logpdf(marginalize(observe(change_point_model(), counts=counts)))(t=t, num_steps=8, **params)
    theirs, _ = log_density(enum(config_enumerate(numpyro_change_point), first_available_dim=-2), (counts,), {},
                            params)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)


def hand_forward(init, trans, emissions):
    """The forward algorithm in plain numpy (log space), emissions (T, K)."""
    alpha = np.log(init) + emissions[0]
    for e in emissions[1:]:
        alpha = np.logaddexp.reduce(alpha[:, None] + np.log(trans), axis=0) + e
    return np.logaddexp.reduce(alpha)


def test_hmm_equals_hand_written_forward_algorithm():
    @pg.model
    def hmm(num_steps):
        trans <~ dist.Dirichlet(jnp.ones(3)).expand([3])
        mu <~ dist.Normal(0.0, 3.0).expand([3])
        x <~ dist.DiscreteMarkovChain(jnp.array([0.5, 0.3, 0.2]), trans, num_steps)
        y <~ dist.Normal(mu[x], 0.7)
        return y

    rng = np.random.default_rng(0)
    y = rng.normal(size=25).astype(np.float32)
    trans = rng.dirichlet(np.ones(3), size=3).astype(np.float32)
    mu = np.array([-1.0, 0.5, 2.0], dtype=np.float32)
    graph = marginalize(observe(hmm, y=jnp.asarray(y)))
    ours = float(pg.logpdf(graph)(num_steps=25, trans=trans, mu=mu))
    assert "lp += marginal.sum_out(x_enumerated)" in pg.source(graph, "logpdf")  # the forward algorithm
    from scipy import stats

    emissions = stats.norm(mu[None, :], 0.7).logpdf(y[:, None])
    prior = float(dist.Dirichlet(jnp.ones(3)).log_prob(trans).sum() + dist.Normal(0.0, 3.0).log_prob(mu).sum())
    assert ours == pytest.approx(prior + hand_forward(np.array([0.5, 0.3, 0.2]), trans, emissions), rel=1e-5)


def test_zero_inflated_by_hand():
    @pg.model
    def zip_model(n):
        p <~ dist.Beta(1.0, 1.0)
        rate <~ dist.Gamma(2.0, 1.0)
        zero <~ dist.Bernoulli(p).expand([n])
        counts <~ dist.Poisson(jnp.where(zero == 1, 0.0, rate))
        return counts

    counts = jnp.array([0, 0, 3, 1, 0, 5])
    got = pg.logpdf(marginalize(observe(zip_model, counts=counts)))(n=6, p=0.3, rate=2.5)
    per = jnp.logaddexp(jnp.log(0.3) + jnp.where(counts == 0, 0.0, -jnp.inf),
                        jnp.log(0.7) + dist.Poisson(2.5).log_prob(counts))
    expected = dist.Beta(1.0, 1.0).log_prob(0.3) + dist.Gamma(2.0, 1.0).log_prob(2.5) + per.sum()
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


def test_generated_logpdf_has_one_named_block_per_group():
    source = pg.source(marginalize(observe(change_point_model(), counts=jnp.zeros(5, jnp.int32))), "logpdf")
    assert "def switch_enumerated(site):" in source
    assert "switch = site('switch', dist.DiscreteUniform(0, num_steps))" in source
    assert "switch_logp = marginal.log_joint(switch_enumerated)" in source
    assert "lp += jnp.sum(jax.scipy.special.logsumexp(switch_logp, axis=0))" in source


# -- exact conditional draws (the runtime's draw) against enumeration --------------------------------------
def _empirical(samples):
    keys, counts = np.unique(np.asarray(samples), axis=0, return_counts=True)
    return {tuple(k.tolist()): c / counts.sum() for k, c in zip(keys, counts)}


def test_draw_of_a_chain_is_its_exact_posterior():
    init = jnp.array([0.6, 0.4])
    trans = jnp.array([[0.7, 0.3], [0.2, 0.8]])
    y = jnp.array([0.3, -0.8, 1.1])
    mu = jnp.array([-1.0, 1.0])

    def block(site):
        x = site("x", dist.DiscreteMarkovChain(init, trans, 3))
        return {"y": dist.Normal(mu[x], 1.0).log_prob(y)}

    draws = jax.jit(jax.vmap(lambda k: enumeration.draw(block, k)["x"]))(jax.random.split(jax.random.key(1), 20000))
    exact = {}
    for xs in itertools.product(range(2), repeat=3):
        xs_ = jnp.array(xs)
        exact[xs] = float(dist.DiscreteMarkovChain(init, trans, 3).log_prob(xs_)
                          + dist.Normal(mu[xs_], 1.0).log_prob(y).sum())
    norm = logsumexp(jnp.array(list(exact.values())))
    exact = {k: np.exp(v - norm) for k, v in exact.items()}
    emp = _empirical(draws)
    tv = 0.5 * sum(abs(exact[k] - emp.get(k, 0.0)) for k in exact)
    assert tv < 0.02
    assert float(enumeration.sum_out(block)) == pytest.approx(float(norm), rel=1e-5)


def test_draw_of_a_nested_group_is_its_exact_posterior():
    # a scalar latent a, per-element latents b depending on it, children of both
    pa = jnp.array([0.3, 0.7])
    pb = jnp.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    y = jnp.array([0.5, -1.0])

    def block(site):
        a = site("a", dist.Categorical(pa))
        b = site("b", dist.Categorical(pb[a + 0 * jnp.arange(2)]))
        return {"y": dist.Normal(b - 1.0 + a, 0.8).log_prob(y)}

    draws = jax.jit(jax.vmap(lambda k: (lambda d: jnp.concatenate([d["a"][None], d["b"]]))(enumeration.draw(block, k))))(
        jax.random.split(jax.random.key(2), 20000))
    exact = {}
    for a, b0, b1 in itertools.product(range(2), range(3), range(3)):
        b = jnp.array([b0, b1])
        exact[(a, b0, b1)] = float(jnp.log(pa[a]) + jnp.log(pb[a][b]).sum()
                                   + dist.Normal(b - 1.0 + a, 0.8).log_prob(y).sum())
    norm = logsumexp(jnp.array(list(exact.values())))
    exact = {k: np.exp(v - norm) for k, v in exact.items()}
    emp = _empirical(draws)
    assert 0.5 * sum(abs(exact[k] - emp.get(k, 0.0)) for k in exact) < 0.03
    assert float(enumeration.sum_out(block)) == pytest.approx(float(norm), rel=1e-5)


# -- refusals --------------------------------------------------------------------------------------------
def test_infinite_support_is_refused_with_advice():
    @pg.model
    def m():
        k <~ dist.Poisson(3.0)
        y <~ dist.Normal(k, 1.0)
        return y

    with pytest.raises(ModelError, match=r"'k' has infinite support.*truncat"):
        marginalize(observe(m, y=1.0))


def test_continuous_latent_child_is_refused():
    @pg.model
    def m():
        z <~ dist.Bernoulli(0.5)
        x <~ dist.Normal(z, 1.0)
        y <~ dist.Normal(x, 1.0)
        return y

    with pytest.raises(ModelError, match=r"'x' is a continuous latent random variable that depends on the discrete 'z'"):
        marginalize(observe(m, y=1.0))


def test_non_elementwise_dependence_is_refused():
    @pg.model
    def m(n):
        z <~ dist.Bernoulli(0.5).expand([n])
        total = jnp.sum(z)
        y <~ dist.Normal(total, 1.0)
        return y

    with pytest.raises(ModelError, match=r"'total' does not provably depend on it elementwise.*jnp.sum"):
        marginalize(observe(m, y=1.0))

    @pg.model
    def shifted(n):
        z <~ dist.Bernoulli(0.5).expand([n])
        y <~ dist.Normal(z[0], 1.0)
        return y

    with pytest.raises(ModelError, match=r"indexes into a discrete-dependent value"):
        marginalize(observe(shifted, y=1.0))

    @pg.model
    def regression(x):
        z <~ dist.Bernoulli(0.5).expand([2])
        y <~ dist.Normal(x @ (z * 1.0), 1.0)
        return y

    with pytest.raises(ModelError, match=r"matrix product"):
        marginalize(observe(regression, y=jnp.zeros(3)))


def test_too_large_enumeration_says_the_size(monkeypatch):
    monkeypatch.setattr(enumeration, "MAX_ENUMERATION_BYTES", 1000)

    @pg.model
    def m(n):
        z <~ dist.Categorical(jnp.ones(10) / 10).expand([n])
        y <~ dist.Normal(z, 1.0)
        return y

    graph = marginalize(observe(m, y=jnp.zeros(100)))
    with pytest.raises(ModelError, match=r"shape \(10, 100\) \(0.0 GiB\)"):
        pg.logpdf(graph)(n=100)


def test_names_selects_and_checks():
    @pg.model
    def m():
        mu <~ dist.Normal(0.0, 1.0)
        z <~ dist.Bernoulli(0.5)
        y <~ dist.Normal(mu + z, 1.0)
        return y

    graph = observe(m, y=0.3)
    assert marginalize(graph, names=["z"]).obj("z").kind == "marginalized"
    with pytest.raises(ModelError, match="'mu' is a continuous random variable"):
        marginalize(graph, names=["mu"])


def test_drawing_shows_the_summed_out_group_and_the_diff_the_rewrite():
    from ppgraph.viz.dot import diff_dot

    graph = observe(change_point_model(), counts=jnp.zeros(5, jnp.int32))
    marginal_graph = marginalize(graph)
    dot = pg.to_dot(marginal_graph, show_shapes=False)
    assert 'class="marginalized"' in dot and "Σ switch ~ DiscreteUniform" in dot and "with rate, counts" in dot
    diff = diff_dot(graph, marginal_graph, show_shapes=False)
    assert '"rate"' in diff and "removed" in diff and "was: random" in diff


def test_saving_a_marginalised_graph_says_to_save_before_the_pass(tmp_path):
    graph = marginalize(observe(change_point_model(), counts=jnp.zeros(5, jnp.int32)))
    with pytest.raises(ModelError, match=r"cannot save a Marginalized node.*save the model before the pass"):
        pg.save(graph, tmp_path / "m.json")


# -- the DiscreteMarkovChain distribution ----------------------------------------------------------------
def test_discrete_markov_chain_log_prob_and_samples():
    init = jnp.array([0.2, 0.8])
    trans = jnp.array([[0.9, 0.1], [0.3, 0.7]])
    chain = dist.DiscreteMarkovChain(init, trans, 5)
    x = jnp.array([1, 1, 0, 0, 1])
    by_hand = np.log(0.8) + np.log(0.7) + np.log(0.3) + np.log(0.9) + np.log(0.1)
    assert float(chain.log_prob(x)) == pytest.approx(by_hand, rel=1e-6)
    assert chain.event_shape == (5,) and dist.is_discrete(chain)
    draws = np.asarray(chain.sample(jax.random.key(0), (20000,)))
    assert draws.shape == (20000, 5)
    np.testing.assert_allclose(draws[:, 0].mean(), 0.8, atol=0.02)
    after_zero = draws[:, 1:][draws[:, :-1] == 0]
    after_one = draws[:, 1:][draws[:, :-1] == 1]
    np.testing.assert_allclose([after_zero.mean(), after_one.mean()], [0.1, 0.7], atol=0.02)


def test_discrete_markov_chain_checks_its_parameters():
    with pytest.raises(ValueError, match="rows of transition_probs must sum to one"):
        dist.DiscreteMarkovChain(jnp.array([0.5, 0.5]), jnp.array([[0.5, 0.6], [0.5, 0.5]]), 3)
    with pytest.raises(ValueError, match=r"shape \(K, K\)"):
        dist.DiscreteMarkovChain(jnp.array([0.5, 0.5]), jnp.ones((3, 3)) / 3, 3)


def test_multivariate_mixture_by_hand():
    @pg.model
    def mvmix(n):
        locs <~ dist.Normal(0.0, 3.0).expand([3, 2])
        z <~ dist.Categorical(jnp.ones(3) / 3).expand([n])
        y <~ dist.Normal(locs[z, :], 1.0).to_event(1)
        return y

    y = jnp.array([[0.0, 1.0], [2.0, -1.0], [3.0, 3.0], [-1.0, 0.0]])
    locs = jnp.array([[0.0, 0.0], [2.0, -1.0], [3.0, 3.0]])
    got = pg.logpdf(marginalize(observe(mvmix, y=y)))(n=4, locs=locs)
    per = logsumexp(jnp.log(1 / 3) + dist.Normal(locs[:, None, :], 1.0).log_prob(y).sum(-1), axis=0)
    assert float(got) == pytest.approx(float(dist.Normal(0.0, 3.0).log_prob(locs).sum() + per.sum()), rel=1e-6)


def test_binomial_with_a_constant_total_count_by_hand():
    @pg.model
    def m(n):
        p <~ dist.Beta(2.0, 2.0)
        k <~ dist.Binomial(n, p)
        y <~ dist.Normal(k * 1.0, 1.0)
        return y

    got = pg.logpdf(marginalize(observe(m, y=2.5)))(n=4, p=0.3)
    terms = [dist.Binomial(4, 0.3).log_prob(k) + dist.Normal(k * 1.0, 1.0).log_prob(2.5) for k in range(5)]
    assert float(got) == pytest.approx(float(dist.Beta(2.0, 2.0).log_prob(0.3) + logsumexp(jnp.array(terms))),
                                       rel=1e-5)


def test_hmm_equals_numpyro_enumeration_through_scan():
    import numpyro
    from numpyro.contrib.control_flow import scan
    from numpyro.contrib.funsor import config_enumerate, enum, log_density

    @pg.model
    def hmm(num_steps):
        transition <~ dist.Dirichlet(jnp.ones(3)).expand([3])
        lowest <~ dist.Normal(-3.0, 2.0)
        gaps <~ dist.HalfNormal(3.0).expand([2])
        means = jnp.concatenate([lowest[None], lowest + jnp.cumsum(gaps)])
        states <~ dist.DiscreteMarkovChain(jnp.ones(3) / 3, transition, num_steps)
        y <~ dist.Normal(means[states], 0.8)
        return y

    def numpyro_hmm(y):
        transition = numpyro.sample("transition", dist.Dirichlet(jnp.ones(3)).expand([3]).to_event(1))
        lowest = numpyro.sample("lowest", dist.Normal(-3.0, 2.0))
        gaps = numpyro.sample("gaps", dist.HalfNormal(3.0).expand([2]).to_event(1))
        means = jnp.concatenate([lowest[None], lowest + jnp.cumsum(gaps)])
        x0 = numpyro.sample("x0", dist.Categorical(jnp.ones(3) / 3))
        numpyro.sample("y0", dist.Normal(means[x0], 0.8), obs=y[0])

        def step(previous, y_t):
            x = numpyro.sample("x", dist.Categorical(transition[previous]))
            numpyro.sample("y", dist.Normal(means[x], 0.8), obs=y_t)
            return x, None

        scan(step, x0, y[1:])

    y = jnp.asarray(np.random.default_rng(1).normal(scale=3.0, size=20), dtype=jnp.float32)
    params = {"transition": jnp.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]),
              "lowest": jnp.asarray(-2.5), "gaps": jnp.array([2.0, 3.5])}
    ours = pg.logpdf(marginalize(observe(hmm, y=y)))(num_steps=20, **params)
    theirs, _ = log_density(enum(config_enumerate(numpyro_hmm), first_available_dim=-1), (y,), {}, params)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)
