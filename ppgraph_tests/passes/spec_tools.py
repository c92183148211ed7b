"""Helpers on top of :mod:`ppgraph_tests.strategies` for the pass tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ppgraph_tests.strategies import FAMILIES, NUMPYRO_DIST, ModelSpec, _Direct

__all__ = ["CONTINUOUS", "LOC_SCALE", "REAL_SUPPORT", "node_dist", "observed_subsets"]

CONTINUOUS = sorted(
    n for n in FAMILIES if not n.startswith(("Bernoulli", "Categorical")) and n not in ("Binomial", "Poisson")
)
"""Continuous families (proper and improper)."""
LOC_SCALE = ("Normal", "StudentT", "Cauchy", "Laplace", "LogNormal")
REAL_SUPPORT = ("Normal", "StudentT", "Cauchy", "Laplace", "MultivariateNormal", "Flat", "FlatVector")


def node_dist(spec: ModelSpec, name: str, values: dict[str, Any]) -> Any:
    """The NumPyro distribution of random variable ``name`` given the values of the other nodes."""
    F = _Direct()
    env: dict[str, Any] = dict(spec.argument_values())
    for node in spec.nodes:
        if node.is_random:
            d = spec._dist(node, env, NUMPYRO_DIST, F)
            if node.name == name:
                return d
            env[node.name] = values[node.name]
        elif node.kind == "layer":
            env[node.name] = values[node.name]
        elif node.kind == "deterministic":
            env[node.name] = spec._det(node, env, F)
    raise KeyError(name)


def observed_subsets(spec: ModelSpec) -> st.SearchStrategy[list[str]]:
    """Some random variables of ``spec`` (never all) to observe."""
    names = spec.random_names()
    if len(names) < 2:
        return st.just([])
    return st.lists(st.sampled_from(names[1:]), unique=True)
