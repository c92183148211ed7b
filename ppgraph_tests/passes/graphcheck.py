"""Helpers for pass tests: snapshot a graph deeply, compare two graphs exactly."""

from __future__ import annotations

from typing import Any

import numpy as np

from ppgraph.ir import Graph

__all__ = ["snapshot", "assert_unchanged", "assert_graphs_equal"]


def snapshot(graph: Graph) -> dict[str, Any]:
    """Copies of every container of ``graph`` (node order, node objects, edges, attributes, env)."""
    return {
        "nodes": [(n, dict(d)) for n, d in graph.nodes(data=True)],
        "edges": [(u, v, dict(d)) for u, v, d in graph.edges(data=True)],
        "graph": {k: v for k, v in graph.graph.items() if k != "env"},
        "env": dict(graph.env),
        "env_id": id(graph.env),
    }


def assert_unchanged(graph: Graph, before: dict[str, Any]) -> None:
    """``graph`` is exactly as in ``before`` (same node *objects*, edges, attributes and env bindings)."""
    after = snapshot(graph)
    assert [n for n, _ in after["nodes"]] == [n for n, _ in before["nodes"]]
    for (_, d0), (_, d1) in zip(before["nodes"], after["nodes"]):
        assert d0.keys() == d1.keys()
        assert all(d0[k] is d1[k] for k in d0), "a node object was replaced in the input graph"
    assert after["edges"] == before["edges"]
    assert after["graph"] == before["graph"]
    assert after["env_id"] == before["env_id"]
    assert after["env"].keys() == before["env"].keys()
    assert all(after["env"][k] is before["env"][k] for k in before["env"])


def _same_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if hasattr(a, "shape") or hasattr(b, "shape"):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return a == b


def assert_graphs_equal(g1: Graph, g2: Graph) -> None:
    """Same nodes in the same order with equal node objects (``info`` included), edges, attributes, env."""
    assert list(g1.nodes) == list(g2.nodes)
    for n in g1.nodes:
        assert g1.nodes[n]["node"] == g2.nodes[n]["node"], n
    assert sorted(g1.edges(data="slots")) == sorted(g2.edges(data="slots"))
    assert {k: v for k, v in g1.graph.items() if k != "env"} == {k: v for k, v in g2.graph.items() if k != "env"}
    assert g1.env.keys() == g2.env.keys()
    for k in g1.env:
        assert _same_value(g1.env[k], g2.env[k]), k
