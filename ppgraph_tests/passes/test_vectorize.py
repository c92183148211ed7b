"""``passes.vectorize``: merged siblings and lifted chains are the same model as the graph as written.

Oracles: ``pg.logpdf`` of the original graph (at random points, the vectorised
graph's values stacked from the same numbers), forward draws of the original
graph (two-sample KS tests, fixed seeds), and the graph itself for purity and
idempotence.  Models with repeated structure are drawn by hypothesis: 2-12
siblings of one of several forms, optional per-member children, a first-order
chain of 2-12 nodes (real or positive support), shared parents, a deterministic
reading a member, an observed sibling and a returned member.
"""

from __future__ import annotations

import functools
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import ppgraph as pg
from ppgraph import dist
from ppgraph.inference.posterior import SamplingWarning
from ppgraph.inference.problem import prepare
from ppgraph.passes import compose, vectorize
from ppgraph_tests.passes.graphcheck import assert_graphs_equal, assert_unchanged, snapshot
from ppgraph_tests.strategies import model_specs

V = sys.modules["ppgraph.passes.vectorize"]
SETTINGS = settings(derandomize=True, max_examples=15, deadline=None, database=None)
ALL = functools.partial(vectorize, min_group=2, min_chain=2)

# sibling forms: (distribution, its arguments given the shared nodes mu, s and the member's parent p)
SIBLINGS = {
    "normal_shared": (dist.Normal, lambda mu, s, p: (mu, s)),
    "normal_const": (dist.Normal, lambda mu, s, p: (0.5, 2.0)),
    "gamma_shared": (dist.Gamma, lambda mu, s, p: (2.0, s)),
    "normal_parent": (dist.Normal, lambda mu, s, p: (p, s)),
    "exponential_parent": (dist.Exponential, lambda mu, s, p: (p,)),
}
POSITIVE = {"gamma_shared", "exponential_parent"}


@st.composite
def repeated_models(draw):
    """A graph with repeated structure, its positive latents, and what must stay unmerged."""
    g = pg.GraphBuilder("rep")
    mu = g.random("mu", dist.Normal, 0.0, 1.0)
    s = g.random("s", dist.HalfNormal, 1.0)
    positive = {"s"}
    k = draw(st.integers(2, 12))
    form = draw(st.sampled_from(sorted(SIBLINGS)))
    parents = []
    if form.endswith("_parent"):  # per-member parents: a merged group of positive scalars
        parents = [g.random(f"p{i}", dist.HalfNormal, 1.0) for i in range(k)]
        positive |= {f"p{i}" for i in range(k)}
    family, make_args = SIBLINGS[form]
    xs = [g.random(f"x{i}", family, *make_args(mu, s, parents[i] if parents else None)) for i in range(k)]
    if form in POSITIVE:
        positive |= {f"x{i}" for i in range(k)}
    if draw(st.booleans()) and form not in POSITIVE:  # children member by member
        for i, x in enumerate(xs):
            g.random(f"y{i}", dist.Normal, x, 0.5)
    length = draw(st.integers(2, 12))
    if draw(st.booleans()):
        prev = g.random("z0", dist.Normal, mu, 1.0)
        for i in range(1, length):
            prev = g.random(f"z{i}", dist.Normal, 0.9 * prev, s)
    else:  # positive support: the chain is moved to R^n by to_unconstrained
        prev = g.random("z0", dist.Exponential, 1.0)
        positive.add("z0")
        for i in range(1, length):
            prev = g.random(f"z{i}", dist.Gamma, 2.0, 2.0 / prev)
            positive.add(f"z{i}")
    special = set()
    if draw(st.booleans()):
        g.deterministic("d", xs[-1] + prev)
    if draw(st.booleans()):  # an observed sibling of the x's: not merged
        g.random("obs", family, *make_args(mu, s, parents[0] if parents else None))
        special.add("obs")
    if draw(st.booleans()):  # a returned member: not merged
        g.returns(xs[0])
        special.add("x0")
    graph = g.build().graph
    if "obs" in special:
        graph = pg.passes.observe(graph, obs=1.3)
    return graph, positive, special, k, length


def _values(graph, positive, rng):
    """Random values for the latent random variables of ``graph``."""
    out = {}
    for name in graph.order():
        node = graph.obj(name)
        if node.kind == "random" and node.observed is None:
            out[name] = jnp.float32(rng.uniform(0.2, 2.0) if name in positive else rng.normal())
    return out


def _stacked(vgraph, values):
    """The vectorised graph's values from the original graph's (merged nodes stacked)."""
    groups = V.members(vgraph)
    out = {k: jnp.stack([values[m] for m in ms]) for k, ms in groups.items()}
    for name, value in values.items():
        if name in vgraph.nodes:
            out[name] = value
    return out


@SETTINGS
@given(repeated_models(), st.integers(0, 2**16))
def test_log_density_equal_at_random_points(case, seed):
    graph, positive, special, k, length = case
    vgraph = ALL(graph)
    assert len(vgraph) < len(graph), "nothing was merged"
    rng = np.random.default_rng(seed)
    lp, lpv = pg.logpdf(graph), pg.logpdf(vgraph)
    for _ in range(3):
        values = _values(graph, positive, rng)
        np.testing.assert_allclose(float(lpv(**_stacked(vgraph, values))), float(lp(**values)), rtol=2e-5, atol=1e-4)


@SETTINGS
@given(repeated_models())
def test_pure_idempotent_and_special_nodes_kept(case):
    graph, _, special, k, length = case
    before = snapshot(graph)
    once = ALL(graph)
    assert_unchanged(graph, before)
    snap = snapshot(once)
    assert_graphs_equal(once, ALL(once))
    assert_unchanged(once, snap)
    merged = {m for ms in V.members(once).values() for m in ms}
    assert not merged & special
    assert special <= set(once.nodes)
    for i in range(k):  # every x is merged unless special
        assert (f"x{i}" in merged) == (f"x{i}" not in special)
    assert {f"z{i}" for i in range(length)} <= merged


@pytest.mark.slow
@settings(derandomize=True, max_examples=3, deadline=None, database=None)
@given(repeated_models())
def test_forward_samples_have_the_same_distribution(case):
    graph, _, special, k, length = case
    vgraph = ALL(graph)
    n = 2000
    original = pg.sample_forward(graph, 0, num_samples=n)
    vectorised = V.unstack(vgraph, pg.sample_forward(vgraph, 1, num_samples=n), axis=1)
    names = [m for ms in V.members(vgraph).values() for m in ms] + (["d"] if "d" in graph.nodes else [])
    for name in names:
        a, b = np.asarray(original[name]), np.asarray(vectorised[name])
        assert a.shape == b.shape == (n,)
        assert scipy.stats.ks_2samp(a, b).pvalue > 1e-4, name


@settings(derandomize=True, max_examples=20, deadline=None, database=None)
@given(model_specs())
def test_pure_and_idempotent_on_random_models(spec):
    g = spec.build().graph
    before = snapshot(g)
    once = ALL(g)
    assert_unchanged(g, before)
    assert_graphs_equal(once, ALL(once))


def _builder():
    g = pg.GraphBuilder("m")
    return g, g.random("mu", dist.Normal, 0.0, 1.0), g.random("s", dist.HalfNormal, 1.0)


def test_different_distributions_and_parents_are_not_merged():
    g, mu, s = _builder()
    g.random("a", dist.Normal, mu, 1.0)
    g.random("b", dist.Normal, mu, 1.0)
    g.random("c", dist.Normal, s, 1.0)  # another parent
    g.random("d", dist.Laplace, mu, 1.0)  # another family
    g.random("e", dist.Normal, mu, 2.0)  # another constant
    out = vectorize(g.build().graph, min_group=2)
    assert V.members(out) == {"a_to_b": ("a", "b")}
    assert {"c", "d", "e"} <= set(out.nodes)


def test_observed_and_latent_are_not_merged():
    g, mu, s = _builder()
    for i in range(3):
        g.random(f"y{i}", dist.Normal, mu, 1.0)
    graph = pg.passes.observe(g.build(), y0=0.5)
    out = ALL(graph)
    assert V.members(out) == {"y1_to_y2": ("y1", "y2")}
    assert out.obj("y0").observed is not None


def test_defaults_leave_small_repetition_alone():
    g, mu, s = _builder()
    for i in range(3):
        g.random(f"x{i}", dist.Normal, mu, 1.0)
    graph = g.build().graph
    assert set(vectorize(graph).nodes) == set(graph.nodes)
    assert set(compose("vectorize")(graph).nodes) == set(graph.nodes)


def _iid_and_chain(n=4):
    g, mu, s = _builder()
    for i in range(n):
        g.random(f"x{i}", dist.Normal, mu, 1.0)
    prev = g.random("z0", dist.Normal, 0.0, 1.0)
    for i in range(1, n):
        prev = g.random(f"z{i}", dist.Normal, prev, s)
    g.deterministic("total", prev + mu)
    return g.build()


def test_sample_keeps_every_name():
    model = _iid_and_chain()
    problem = prepare(model, (), {}, passes=("vectorize", "to_unconstrained"))
    assert set(problem.names) == {"mu", "s", "x0_to_x3", "z0_to_z3", "total"}  # sampled as two vectors
    kwargs = dict(num_warmup=30, num_samples=10, num_chains=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        post = pg.sample(model, 0, **kwargs)
        plain = pg.sample(model, 0, vectorize=False, **kwargs)
    assert set(post.samples) == set(plain.samples) == {"mu", "s", "total"} | {f"x{i}" for i in range(4)} | {
        f"z{i}" for i in range(4)}
    for name, value in post.samples.items():
        assert np.shape(value) == np.shape(plain.samples[name]) == (2, 10)
    np.testing.assert_allclose(post.samples["total"], post.samples["z3"] + post.samples["mu"], rtol=1e-5, atol=1e-5)


def test_non_scalar_members_fall_back_to_the_graph_as_written():
    g, mu, s = _builder()
    xs = [g.random(f"x{i}", g.call(dist.Normal, mu, 1.0).expand([3])) for i in range(4)]
    for i, x in enumerate(xs):  # per-member parents of shape (3,): cannot be batched as scalars
        g.random(f"y{i}", dist.Normal, x, 1.0)
    model = g.build()
    graph = model.graph
    vgraph = ALL(graph)
    assert set(V.members(vgraph)) == {"x0_to_x3", "y0_to_y3"}
    with pytest.raises(pg.ModelError, match="cannot batch its members"):
        pg.sample_forward(vgraph, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        post = pg.sample(model, 0, num_warmup=10, num_samples=5, num_chains=1, progress=False)
    assert post.samples["y3"].shape == (1, 5, 3)


def test_iid_members_of_any_shape_are_merged():
    g, mu, s = _builder()
    for i in range(3):
        g.random(f"x{i}", g.call(dist.Normal, mu, s).expand([2]))
    model = g.build()
    graph = model.graph
    vgraph = ALL(graph)
    values = {"mu": jnp.float32(0.3), "s": jnp.float32(1.5), **{f"x{i}": jnp.arange(2.0) * i for i in range(3)}}
    lp = float(pg.logpdf(graph)(**values))
    assert float(pg.logpdf(vgraph)(**_stacked(vgraph, values))) == pytest.approx(lp, rel=1e-6)


def test_markov_chain_density_and_support():
    walk = V.MarkovChain(dist.Exponential(1.0), lambda prev: dist.Gamma(2.0, 2.0 / prev), 3)
    x = jnp.array([0.5, 1.2, 0.7])
    expected = (scipy.stats.expon.logpdf(0.5) + scipy.stats.gamma.logpdf(1.2, 2.0, scale=0.5 / 2.0)
                + scipy.stats.gamma.logpdf(0.7, 2.0, scale=1.2 / 2.0))
    assert float(walk.log_prob(x)) == pytest.approx(expected, rel=1e-5)
    assert walk.support.base_constraint is dist.constraints.positive
    with pytest.raises(V.NotVectorizable, match="support of a step differs"):
        V.MarkovChain(dist.Normal(0.0, 1.0), lambda prev: dist.Uniform(0.0, jnp.exp(prev)), 3)


def test_linear_in_nodes():
    """Planning and rebuilding 4x the nodes costs about 4x (not 16x): signatures are hashed."""
    import time

    def cost(n):
        g = pg.GraphBuilder("chain")
        prev = g.random("x0", dist.Normal, 0.0, 1.0)
        for i in range(1, n):
            prev = g.random(f"x{i}", dist.Normal, prev, 1.0)
        graph = g.build().graph
        pg.clear_cache()  # large inputs' results are kept: time the pass itself
        t0 = time.process_time()
        out = vectorize(graph)
        assert len(out) == 1  # the whole chain as one node
        return time.process_time() - t0

    cost(200)
    small, large = min(cost(500) for _ in range(2)), min(cost(2000) for _ in range(2))
    assert large < 8 * small


def test_large_results_are_kept_by_content_and_copied():
    from ppgraph.cache import cache_info

    def chain(n, scale="1.0"):
        g = pg.GraphBuilder("chain")
        prev = g.random("x0", dist.Normal, 0.0, 1.0)
        for i in range(1, n):
            prev = g.random(f"x{i}", dist.Normal, prev, float(scale))
        return g.build().graph

    pg.clear_cache()
    first = vectorize(chain(1200))
    again = vectorize(chain(1200))  # another graph object, the same content
    assert cache_info()["vectorize"] == {"hits": 1, "misses": 1, "size": 1}
    assert again is not first
    assert_graphs_equal(again, first)
    again.remove_node(next(iter(again.nodes)))  # a caller's changes do not reach the next caller
    assert_graphs_equal(vectorize(chain(1200)), first)
    other = vectorize(chain(1200, scale="2.0"))  # other content: computed
    assert cache_info()["vectorize"]["misses"] == 2
    assert "2.0" in next(iter(other.nodes(data="node")))[1].dist
    pg.clear_cache()
    assert cache_info()["vectorize"]["size"] == 0


def test_errors_name_the_models_own_variables():
    g, mu, s = _builder()
    for i in range(4):
        g.random(f"x{i}", dist.Normal, mu, mu * 0.0 - 1.0)  # a negative scale wherever mu is
    with pytest.raises(pg.ModelError, match="'x0'") as info:
        pg.sample(g.build(), 0, num_warmup=5, num_samples=5, num_chains=1, progress=False)
    assert "x0_to_x3" not in str(info.value)
