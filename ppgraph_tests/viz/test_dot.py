"""pg.to_dot and the diff DOT: every node and edge of the graph, each kind its own look."""

from __future__ import annotations

import jax.numpy as jnp
import networkx as nx
import pytest
from hypothesis import given, settings

import ppgraph as pg
from ppgraph import dist
from ppgraph.ir import Deterministic, RandomVariable, split_call
from ppgraph.passes import do, observe, to_unconstrained
from ppgraph.viz.dot import PASS_COLOR, STYLES, diff_dot, graph_diff
from ppgraph_tests.strategies import model_specs
from ppgraph_tests.viz import models
from ppgraph_tests.viz.dotparse import parse

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def check_matches_graph(dot: str, graph: pg.Graph) -> dict[str, dict[str, str]]:
    nodes, edges = parse(dot)
    assert set(nodes) == set(graph.nodes)
    assert set(edges) == set(graph.edges)
    for name, attrs in nodes.items():
        node = graph.obj(name)
        assert attrs["label"].split("\n")[0] == name
        assert attrs["class"].split()[0] == node.kind
    for (u, v), attrs in edges.items():
        shown = [s for s in attrs.get("label", "").split(", ") if s]
        assert set(shown) <= set(graph.edges[u, v]["slots"])
    return nodes


class TestToDot:
    @settings(derandomize=True, max_examples=10, deadline=None)
    @given(model_specs(max_random=8))
    def test_random_models(self, spec):
        model = spec.build()
        nodes = check_matches_graph(pg.to_dot(model), model.graph)
        for name in spec.random_names():
            callee = split_call(model.graph.obj(name).dist).func.rsplit(".", 1)[-1]
            assert nodes[name]["label"].split("\n")[1].startswith(f"~ {callee}(")

    def test_after_passes(self):
        graph = observe(to_unconstrained(models.eight_schools), y=jnp.zeros(8))
        nodes = check_matches_graph(pg.to_dot(graph), graph)
        assert "unconstrained of: tau" in nodes["tau_unconstrained"]["label"]
        assert nodes["tau_unconstrained"]["color"] == PASS_COLOR
        assert "constrained from: tau_unconstrained" in nodes["tau"]["label"]
        assert nodes["y"]["class"] == "random observed"
        assert "color" not in nodes["mu"]

    def test_node_kinds_look_different(self):
        graph = observe(models.every_kind, y=jnp.zeros((5, 2)))
        g = pg.GraphBuilder("k")
        g.parameter("w", 0.5)
        param = g.build().graph
        from ppgraph import dist
        from ppgraph.ir import Graph, RandomVariable
        from ppgraph.passes import marginalize

        discrete = Graph(name="d", env={"dist": dist})
        discrete.add(RandomVariable("zz", dist="dist.Bernoulli(0.5)"))
        discrete.add(RandomVariable("yy", dist="dist.Normal(zz, 1.0)", observed="0.5"))
        summed = marginalize(discrete)  # a Marginalized node
        nodes = {**parse(pg.to_dot(graph))[0], **parse(pg.to_dot(param))[0], **parse(pg.to_dot(summed))[0]}
        looks = {}
        for name, attrs in nodes.items():
            cls = attrs["class"].split()[-1]
            looks.setdefault(cls, set()).add((attrs["shape"], attrs["fillcolor"]))
        assert set(looks) == set(STYLES)
        assert all(len(v) == 1 for v in looks.values())
        assert len({next(iter(v)) for v in looks.values()}) == len(STYLES)
        assert nodes["y"]["fillcolor"] != nodes["scale"]["fillcolor"]  # observed is shaded

    def test_labels_show_distribution_parameters_and_shapes(self):
        nodes = parse(pg.to_dot(models.eight_schools, SIGMA))[0]
        assert nodes["mu"]["label"] == "mu\n~ Normal(loc=0.0, scale=5.0)"
        assert nodes["tau"]["label"] == "tau\n~ HalfCauchy(scale=5.0)"
        assert "× 8" in nodes["theta_t"]["label"].split("\n")
        assert "× 8" in nodes["y"]["label"].split("\n")  # known with data
        assert "shape (8,)" in nodes["sigma"]["label"]
        static = parse(pg.to_dot(models.eight_schools))[0]
        assert "× 8" not in static["y"]["label"]  # unknown without data
        assert "× 8" in static["theta_t"]["label"]  # static: .expand([8])

    def test_layer_label(self):
        x = jnp.ones((5, 3))
        net = parse(pg.to_dot(models.every_kind, x))[0]["net"]["label"].split("\n")
        assert net[1] == "~ Dense 4 → Tanh → Dense 2"
        assert {"0.kernel (3, 4)", "0.bias (4,)", "2.kernel (4, 2)", "2.bias (2,)"} <= set(net)
        weights = pg.sample_forward(models.every_kind, __import__("jax").random.key(0), x)["net"].weights
        assert weights["0"]["kernel"].shape == (3, 4) and weights["2"]["kernel"].shape == (4, 2)

    def test_event_shape(self):
        label = parse(pg.to_dot(models.every_kind))[0]["weights"]["label"]
        assert "event (3,)" in label.split("\n")

    def test_quoting(self):
        g = pg.GraphBuilder('quo"te')
        g.deterministic("d", g.call(len, 'x"y\\z'))
        graph = g.build().graph
        nodes = check_matches_graph(pg.to_dot(graph), graph)
        assert nodes["d"]["label"] == "d\n= " + graph.obj("d").expr


class TestDiff:
    def test_unconstrained(self):
        before, after = models.eight_schools.graph, to_unconstrained(models.eight_schools)
        diff = graph_diff(before, after)
        assert diff.added == ("tau_unconstrained",)
        assert diff.changed == ("tau",)
        assert diff.removed == ()
        assert set(diff.added_edges) == {("tau_unconstrained", "tau")}
        nodes, edges = parse(diff_dot(before, after))
        status = {n: a["class"].split()[-1] for n, a in nodes.items()}
        assert status == {"sigma": "same", "mu": "same", "tau_unconstrained": "added", "tau": "changed",
                          "theta_t": "same", "theta": "same", "y": "same"}
        assert "was: random ~ HalfCauchy(scale=5.0)" in nodes["tau"]["label"]
        assert edges[("tau_unconstrained", "tau")]["class"] == "added"
        assert set(edges) == set(after.edges)

    def test_removed_nodes_and_edges(self):
        before = models.eight_schools.graph
        after = do(models.eight_schools, theta=jnp.zeros(8))  # cuts theta from mu, tau, theta_t
        pruned = nx.subgraph(after, [n for n in after if n != "theta_t"])
        g = pg.Graph(name=after.name, env=dict(after.env))
        for name in pruned:
            g.add_node(name, node=after.nodes[name]["node"])
        g.link()
        diff = graph_diff(before, g)
        assert diff.removed == ("theta_t",) and diff.changed == ("theta",)
        assert set(diff.removed_edges) == {("mu", "theta"), ("tau", "theta"), ("theta_t", "theta")}
        nodes, edges = parse(diff_dot(before, g))
        assert set(nodes) == set(before.nodes) | set(g.nodes)
        assert nodes["theta_t"]["class"].endswith("removed") and nodes["theta_t"]["style"] == "dashed"
        assert all(edges[e]["class"] == "removed" for e in diff.removed_edges)

    def test_identical(self):
        diff = graph_diff(models.eight_schools, models.eight_schools.graph.copy())
        assert diff == ((),) * 5


def test_nodes_differ_in_info_only():
    a = pg.Graph(name="m", env={"dist": dist})
    a.add(RandomVariable("x", dist="dist.Normal(0.0, 1.0)"))
    b = pg.Graph(name="m", env={"dist": dist})
    b.add(RandomVariable("x", dist="dist.Normal(0.0, 1.0)", info=(("note", "1"),)))
    b.add(Deterministic("y", expr="x"))
    assert graph_diff(a, b).changed == ("x",)
    assert graph_diff(a, b).added == ("y",)


@pytest.mark.parametrize("show", [True, False])
def test_show_shapes_flag(show):
    label = parse(pg.to_dot(models.eight_schools, show_shapes=show))[0]["theta_t"]["label"]
    assert ("× 8" in label) == show
