"""``prune``, the pass registry, ``compose``, and the tools for writing passes."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

import ppgraph as pg
from ppgraph import dist
from ppgraph.errors import ModelError
from ppgraph.ir import Deterministic, Factor, RandomVariable
from ppgraph.passes import (
    PASSES,
    Rewrite,
    compose,
    get_pass,
    graph_pass,
    node_rewrite,
    observe,
    prune,
    register_pass,
    reparameterize,
    rewrite_nodes,
    to_unconstrained,
)
from ppgraph_tests.passes.graphcheck import assert_graphs_equal, assert_unchanged, snapshot


@pg.model
def two_heads(x, unused):
    a <~ dist.Normal(0.0, 1.0)
    b <~ dist.Normal(a * x, 1.0)
    c <~ dist.HalfNormal(1.0)
    d = c + unused
    f <~ pg.factor(-0.5 * a**2)
    return b, d


class TestPrune:
    def test_ancestors_only(self):
        g = prune(two_heads, "b")
        assert set(g.nodes) == {"a", "b", "x"}
        assert g.returns() == ("b",)
        draws = pg.sample_forward(g, jax.random.key(0), x=2.0)
        assert set(draws) == {"a", "b"}

    def test_default_outputs_are_the_returns(self):
        g = prune(two_heads)
        assert set(g.nodes) == {"a", "b", "x", "c", "d", "unused"}
        assert g.returns() == ("b", "d") and g.graph["returns_tuple"]

    def test_several_outputs_and_arguments_included(self):
        g = prune(two_heads, ["d", "b"])
        assert set(g.nodes) == {"a", "b", "x", "c", "d", "unused"}
        assert pg.ir.Argument in {type(g.obj("x")), type(g.obj("unused"))}

    def test_densities_of_kept_nodes_are_unchanged(self):
        full = pg.logpdf(two_heads, terms=True)(x=2.0, unused=0.0, a=0.3, b=0.1, c=0.5)
        part = pg.logpdf(prune(two_heads, "b"), terms=True)(x=2.0, a=0.3, b=0.1)
        assert set(part) == {"a", "b"}
        for k in part:
            np.testing.assert_allclose(part[k], full[k])

    def test_errors(self):
        with pytest.raises(ModelError, match="no such node"):
            prune(two_heads, "bb")
        with pytest.raises(ModelError, match="returns nothing"):
            prune(pg.ir.Graph(name="empty", env={}))

    def test_pure_and_idempotent(self):
        before = snapshot(two_heads.graph)
        once = prune(two_heads, "b")
        assert_unchanged(two_heads.graph, before)
        assert_graphs_equal(prune(once, "b"), once)


class TestRegistry:
    def test_builtin_passes_are_registered(self):
        for name in ("to_unconstrained", "reparameterize", "observe", "do", "prune"):
            assert PASSES[name] is get_pass(name)
        assert get_pass("reparameterize") is reparameterize

    def test_unknown_name(self):
        with pytest.raises(ModelError, match="no pass named 'nope'.*to_unconstrained"):
            get_pass("nope")
        with pytest.raises(ModelError, match="no pass named"):
            compose("reparameterize", "nope")

    def test_compose_names_and_functions(self):
        pipeline = compose(functools.partial(observe, b=0.5), "reparameterize", to_unconstrained)
        g = pipeline(two_heads)
        manual = to_unconstrained(reparameterize(observe(two_heads, b=0.5)))
        assert_graphs_equal(g, manual)
        assert pipeline.pass_name.endswith("reparameterize+to_unconstrained")
        assert_graphs_equal(pipeline(g), g)  # a composition of idempotent passes is idempotent here

    def test_register_a_user_pass(self, monkeypatch):
        monkeypatch.setattr("ppgraph.passes.base.PASSES", dict(PASSES))

        @register_pass("drop_factors")
        @graph_pass
        def drop_factors(graph):
            graph.remove_nodes_from([n.name for n in graph.objs(Factor)])
            return graph

        from ppgraph.passes import base

        assert base.PASSES["drop_factors"] is drop_factors
        g = compose("drop_factors", "prune")(two_heads)
        assert "f" not in g.nodes


class TestRewriteTools:
    def test_node_rewrite_passes_options_and_keeps_other_kinds(self):
        @node_rewrite(kinds=RandomVariable)
        def temper(node, graph, beta=1.0):
            if node.observed is None or node.get_info("tempered"):
                return None
            weight = Factor(f"{node.name}_tempering", expr=f"({beta} - 1.0) * {node.dist}.log_prob({node.name})")
            return [node.with_info(tempered=str(beta)), weight]

        g0 = observe(two_heads, b=0.7)
        before = snapshot(g0)
        g = temper(g0, beta=0.25)
        assert_unchanged(g0, before)
        assert_graphs_equal(temper(g, beta=0.25), g)
        full = pg.logpdf(g0, terms=True)(x=2.0, unused=0.0, a=0.3, c=0.5)
        tempered = pg.logpdf(g)(x=2.0, unused=0.0, a=0.3, c=0.5)
        np.testing.assert_allclose(tempered, sum(full.values()) - 0.75 * full["b"], rtol=1e-6)

    def test_rewrite_can_bind_environment_names(self):
        def softplus_means(node, graph):
            if isinstance(node, Deterministic) and node.name == "d":
                return Rewrite([node.replace(expr=f"my_softplus({node.expr})")], {"my_softplus": jax.nn.softplus})
            return None

        g = rewrite_nodes(two_heads, softplus_means)
        assert g.env["my_softplus"] is jax.nn.softplus and "my_softplus" not in two_heads.graph.env
        out = pg.sample_forward(g, jax.random.key(0), x=1.0, unused=0.0)
        np.testing.assert_allclose(out["d"], jax.nn.softplus(out["c"]), rtol=1e-6)

    def test_a_clashing_new_node_is_a_clear_error(self):
        def clash(node, graph):
            if node.name == "a":
                return [node, Deterministic("b", expr="a")]
            return None

        with pytest.raises(ModelError, match="second node named 'b'"):
            rewrite_nodes(two_heads, clash)

    def test_graph_pass_validates_its_result(self):
        @graph_pass
        def broken(graph):
            graph.remove_node("a")  # b still uses a
            return graph

        with pytest.raises(ModelError, match="unknown name 'a'"):
            broken(two_heads)
        assert "a" in two_heads.graph.nodes
