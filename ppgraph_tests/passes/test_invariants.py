"""Every built-in pass on random models: the input is never mutated, and pass(pass(g)) == pass(g).

The random models have arguments, factors, layers, deterministic chains and vectors of lengths 1-6
(``ppgraph_tests.strategies``).
"""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ppgraph.passes import compose, do, observe, prune, reparameterize, to_unconstrained
from ppgraph_tests.passes.graphcheck import assert_graphs_equal, assert_unchanged, snapshot
from ppgraph_tests.passes.spec_tools import LOC_SCALE, REAL_SUPPORT, observed_subsets
from ppgraph_tests.strategies import model_specs

SETTINGS = settings(derandomize=True, max_examples=25, deadline=None, database=None)


def _check(graph, pass_):
    before = snapshot(graph)
    once = pass_(graph)
    assert_unchanged(graph, before)
    snap_once = snapshot(once)
    twice = pass_(once)
    assert_unchanged(once, snap_once)
    assert_graphs_equal(once, twice)
    return once


@SETTINGS
@given(model_specs())
def test_to_unconstrained(spec):
    g = spec.build().graph
    out = _check(g, to_unconstrained)
    for node in spec.nodes:
        if not node.is_random:
            continue
        discrete = node.family.startswith(("Bernoulli", "Categorical")) or node.family in ("Binomial", "Poisson")
        kept = node.family in REAL_SUPPORT or discrete
        assert (out.obj(node.name).kind == "random") == kept, node
        assert (node.name + "_unconstrained" in out.nodes) == (not kept)


@SETTINGS
@given(model_specs(), st.data())
def test_reparameterize(spec, data):
    g = spec.build().graph
    family = {n.name: n.family for n in spec.nodes if n.is_random}
    names = data.draw(st.none() | st.lists(st.sampled_from(spec.random_names()), unique=True).map(
        lambda ns: [n for n in ns if family[n] in LOC_SCALE]))
    out = _check(g, functools.partial(reparameterize, names=names))
    for name in spec.random_names():
        rewritten = name + "_decentered" in out.nodes
        if names is not None and name not in names:
            assert not rewritten
        if rewritten:
            assert out.obj(name).kind == "deterministic"
            assert out.obj(name).get_info("reparameterized") == family[name]
    # values keep their names: every original node is still there
    assert set(g.nodes) <= set(out.nodes)


@SETTINGS
@given(model_specs(), st.data())
def test_observe(spec, data):
    g = spec.build().graph
    values = {n: np.full((3,), 0.5) for n in data.draw(observed_subsets(spec))}
    out = _check(g, functools.partial(observe, **values))
    for n in values:
        assert out.obj(n).observed is not None
        assert set(out.predecessors(n)) == set(g.predecessors(n)), "observe keeps the edges"


@SETTINGS
@given(model_specs(), st.data())
def test_do(spec, data):
    g = spec.build().graph
    # do() fixes random variables, layers and deterministic nodes (not arguments or factors)
    target = data.draw(st.sampled_from([n for n in g.nodes if g.obj(n).kind in ("random", "layer", "deterministic")]))
    out = _check(g, functools.partial(do, **{target: 0.25}))
    assert list(out.predecessors(target)) == []
    assert out.obj(target).kind == "deterministic"


@SETTINGS
@given(model_specs(), st.data())
def test_prune(spec, data):
    g = spec.build().graph
    outputs = data.draw(st.lists(st.sampled_from(list(g.nodes)), min_size=1, max_size=3, unique=True))
    out = _check(g, functools.partial(prune, outputs=outputs))
    expected = set(outputs)
    for o in outputs:
        expected |= {a for a in g.nodes if a in g.nodes and o in g.nodes and _reaches(g, a, o)}
    assert set(out.nodes) == expected
    assert out.returns() == tuple(outputs)


def _reaches(g, a, b):
    import networkx as nx

    return nx.has_path(g, a, b)


@SETTINGS
@given(model_specs(), st.data())
def test_composed_pipeline(spec, data):
    """observe -> reparameterize -> to_unconstrained, as an evaluator would run them."""
    g = spec.build().graph
    values = {n: 0.5 for n in data.draw(observed_subsets(spec))}
    pipeline = compose(functools.partial(observe, **values), "reparameterize", "to_unconstrained")
    out = _check(g, pipeline)
    for n in values:
        assert out.obj(n).kind == "random" and out.obj(n).observed is not None


@SETTINGS
@given(model_specs(), st.data())
def test_observe_commutes_with_transform_passes(spec, data):
    """Observing after reparameterize/to_unconstrained restores the random variable: same graph as before."""
    g = spec.build().graph
    values = {n: 0.5 for n in data.draw(observed_subsets(spec))}
    first = compose(functools.partial(observe, **values), "reparameterize", "to_unconstrained")(g)
    later = compose("reparameterize", "to_unconstrained", functools.partial(observe, **values))(g)
    assert set(first.nodes) == set(later.nodes)
    for n in first.nodes:
        assert first.obj(n) == later.obj(n), n
