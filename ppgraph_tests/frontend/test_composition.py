"""Composition (``z <~ other(a, b)``) and the equivalence of the two front ends."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import ppgraph as pg
from ppgraph import dist
from ppgraph.ir import Argument, Deterministic, RandomVariable
from ppgraph_tests.conftest import line_of
from ppgraph_tests.strategies import model_specs

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])

EIGHT_SCHOOLS = '''
@pg.model
def eight_schools(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta_t <~ dist.Normal(0.0, 1.0).expand([8])
    theta = mu + tau * theta_t
    y <~ dist.Normal(theta, sigma)
    return y
'''


def built_eight_schools() -> pg.Model:
    g = pg.GraphBuilder("eight_schools")
    sigma = g.argument("sigma")
    mu = g.random("mu", dist.Normal, 0.0, 5.0)
    tau = g.random("tau", dist.HalfCauchy, 5.0)
    theta_t = g.random("theta_t", g.call(dist.Normal, 0.0, 1.0).expand([8]))
    theta = g.deterministic("theta", mu + tau * theta_t)
    y = g.random("y", dist.Normal, theta, sigma)
    g.returns(y)
    return g.build()


def assert_same_graph(a: pg.Graph, b: pg.Graph) -> None:
    """Identical IR: node objects, edges with their slots, env and graph attributes."""
    assert list(a.nodes) == list(b.nodes)
    for name in a.nodes:
        assert a.obj(name) == b.obj(name), name
        assert type(a.obj(name)) is type(b.obj(name))
    assert nx.utils.edges_equal(a.edges(data=True), b.edges(data=True))
    assert dict(a.edges) == dict(b.edges)
    assert a.env.keys() == b.env.keys()
    assert all(a.env[k] is b.env[k] for k in a.env)
    assert {k: v for k, v in a.graph.items() if k != "env"} == {k: v for k, v in b.graph.items() if k != "env"}


def test_parsed_and_built_eight_schools_are_identical(write_models):
    module, _ = write_models(EIGHT_SCHOOLS)
    parsed, built = module.eight_schools.graph, built_eight_schools().graph
    assert_same_graph(parsed, built)
    assert parsed.edges["tau", "theta"]["slots"] == ("expr",)
    assert parsed.edges["theta", "y"]["slots"] == ("loc",)
    assert parsed.edges["sigma", "y"]["slots"] == ("scale",)
    assert set(parsed.env) == {"dist"}
    assert pg.source(module.eight_schools, "logpdf") == pg.source(built_eight_schools(), "logpdf")


@settings(derandomize=True, max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(spec=model_specs(max_random=10))
def test_parser_and_builder_agree_on_random_models(spec, tmp_path_factory):
    """The @pg.model source of a built random model parses to the identical graph."""
    from ppgraph_tests.conftest import load_module

    path = tmp_path_factory.mktemp("random") / "model.py"
    path.write_text(spec.source())
    parsed = getattr(load_module(path), spec.name).graph
    assert_same_graph(parsed, spec.build().graph)


SUBMODELS = '''
@pg.model
def location(scale, offset=1.0):
    mu <~ dist.Normal(0.0, scale)
    shifted = mu + offset
    return shifted

@pg.model
def outer(s):
    z <~ location(2.0 * s)
    y <~ dist.Normal(z, s)
    return y

@pg.model
def outer_flat(s):
    z__scale = 2.0 * s
    z__offset = 1.0
    z__mu <~ dist.Normal(0.0, z__scale)
    z__shifted = z__mu + z__offset
    z = z__shifted
    y <~ dist.Normal(z, s)
    return y

@pg.model
def pair(a):
    u <~ dist.Normal(a, 1.0)
    v <~ dist.HalfNormal(1.0)
    return u, v

@pg.model
def nested(s):
    top <~ outer(s)
    p <~ pair(top)
    w = p[0] * p[1]
    return w
'''


@pytest.fixture
def sub(write_models):
    module, _ = write_models(SUBMODELS)
    return module


def test_composition_inlines_under_scoped_names(sub):
    g = sub.outer.graph
    assert list(g.nodes) == ["s", "z.scale", "z.offset", "z.mu", "z.shifted", "z", "y"]
    assert isinstance(g.obj("z.scale"), Deterministic) and g.obj("z.scale").expr == "2.0 * s"
    assert g.obj("z.offset").expr == "1.0"  # the default of the sub-model's argument
    assert isinstance(g.obj("z.mu"), RandomVariable) and g.obj("z.mu").dist == "dist.Normal(0.0, z__scale)"
    assert g.obj("z").expr == "z__shifted"  # the return value
    assert ("z", "y") in g.edges and ("s", "z.scale") in g.edges
    assert [n for n, node in g.nodes(data="node") if isinstance(node, Argument)] == ["s"]
    assert g.edges["z.scale", "z.mu"]["slots"] == ("scale",)
    # inlined nodes point at their definition, argument and return nodes at the call
    assert g.obj("z.mu").location.endswith(f":{_line(sub, 'mu <~ dist.Normal(0.0, scale)')}")
    assert g.obj("z.scale").location.endswith(f":{_line(sub, 'z <~ location')}")
    assert g.obj("z").location.endswith(f":{_line(sub, 'z <~ location')}")


def _line(module, needle: str) -> int:
    return line_of(module.__file__, needle)


def test_composition_values_and_logpdf_equal_the_flat_model(sub):
    values = {"z.mu": 0.7, "y": -0.4}
    lp = pg.logpdf(sub.outer)(s=1.5, **values)
    flat = pg.logpdf(sub.outer_flat)(s=1.5, z__mu=0.7, y=-0.4)
    np.testing.assert_allclose(lp, flat, rtol=1e-6)
    expected = dist.Normal(0.0, 3.0).log_prob(0.7) + dist.Normal(1.7, 1.5).log_prob(-0.4)
    np.testing.assert_allclose(lp, expected, rtol=1e-6)
    draws = pg.sample_forward(sub.outer, jax.random.key(0), s=1.5)
    np.testing.assert_allclose(draws["z"], draws["z.mu"] + 1.0, rtol=1e-6)
    np.testing.assert_allclose(draws["z.scale"], 3.0)


def test_nested_composition_and_tuple_returns(sub):
    g = sub.nested.graph
    assert {"top.z.mu", "top.z.shifted", "top.y", "p.u", "p.v", "p"} <= set(g.nodes)
    assert g.obj("top.z.mu").dist == "dist.Normal(0.0, top__z__scale)"
    assert g.obj("p").expr == "(p__u, p__v,)" or g.obj("p").expr.replace(" ", "") == "(p__u,p__v)"
    draws = pg.sample_forward(sub.nested, jax.random.key(1), s=2.0)
    np.testing.assert_allclose(draws["w"], draws["p.u"] * draws["p.v"], rtol=1e-6)
    values = {"top.z.mu": 0.1, "top.y": 0.5, "p.u": -0.2, "p.v": 0.9}
    got = pg.logpdf(sub.nested)(s=2.0, **values)
    expected = (
        dist.Normal(0.0, 4.0).log_prob(0.1)
        + dist.Normal(1.1, 2.0).log_prob(0.5)
        + dist.Normal(0.5, 1.0).log_prob(-0.2)
        + dist.HalfNormal(1.0).log_prob(0.9)
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_builder_submodel_matches_parsed_composition(sub):
    g = pg.GraphBuilder("outer")
    s = g.argument("s")
    z = g.submodel("z", sub.location, 2.0 * s)
    y = g.random("y", dist.Normal, z, s)
    g.returns(y)
    assert_same_graph(g.build().graph, sub.outer.graph)


def test_submodel_argument_errors(write_models, tmp_path):
    with pytest.raises(pg.ModelError, match="missing argument 'scale'") as info:
        write_models(SUBMODELS + '''
@pg.model
def missing_arg():
    z <~ location()
    return z
''')
    (path,) = tmp_path.glob("models_*.py")
    assert info.value.node == "z"
    assert info.value.location == f"{path.name}:{line_of(path, 'z <~ location()', after='def missing_arg(')}"


def test_calling_a_model_directly_is_an_error(sub):
    with pytest.raises(pg.ModelError, match="not called directly"):
        sub.outer(1.0)
