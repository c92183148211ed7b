"""The graph IR: expressions, the Graph container, validation of hand-built graphs."""

from __future__ import annotations

import dataclasses

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ppgraph as pg
from ppgraph import dist
from ppgraph.ir import (
    Argument,
    Deterministic,
    Graph,
    RandomVariable,
    free_names,
    ident,
    join_call,
    rename,
    split_call,
    validate,
)


# -- expressions ---------------------------------------------------------------------------------
def test_free_names_respect_lambda_and_comprehension_scopes():
    assert free_names("mu + tau * jnp.exp(theta_t[0])") == ("mu", "tau", "jnp", "theta_t")
    assert free_names("(lambda a: a + b)(c)") == ("b", "c")
    assert free_names("[x * k for x in xs if x > t]") == ("xs", "t", "k")
    assert free_names("{k: v for k, v in d.items()}") == ("d",)


def test_rename_touches_free_names_only():
    assert rename("a + f(b)", {"a": "z__a"}) == "z__a + f(b)"
    assert rename("(lambda a: a + b)(a)", {"a": "q", "b": "r"}) == "(lambda a: a + r)(q)"
    assert rename("(lambda a, b=a: a + b)(a)", {"a": "q"}) == "(lambda a, b=q: a + b)(q)"
    assert rename("[x * k for x in xs]", {"x": "X", "k": "K", "xs": "XS"}) == "[x * K for x in XS]"
    assert rename("a.b + b", {"b": "c"}) == "a.b + c"  # attributes are not names
    assert rename("x + 1", {"y": "z"}) == "x + 1"


def test_ident_of_scoped_names():
    assert ident("z.mu") == "z__mu"
    assert ident("a.b.c") == "a__b__c"
    assert ident("plain") == "plain"


NAMES = st.sampled_from(["mu", "tau", "x", "jnp.exp(a)", "1.0", "-2", "[8]", "s[0]"])


@settings(derandomize=True, max_examples=60, deadline=None, database=None)
@given(
    func=st.sampled_from(["dist.Normal", "D", "mod.sub.Cls"]),
    args=st.lists(NAMES, max_size=3),
    kwargs=st.dictionaries(st.sampled_from(["loc", "scale", "probs"]), NAMES, max_size=2),
    methods=st.lists(st.tuples(st.sampled_from(["expand", "to_event", "mask"]), st.lists(NAMES, max_size=2)), max_size=2),
)
def test_split_call_and_join_call_are_inverse(func, args, kwargs, methods):
    inner = ", ".join([*args, *(f"{k}={v}" for k, v in kwargs.items())])
    source = f"{func}({inner})" + "".join(f".{m}({', '.join(a)})" for m, a in methods)
    chain = split_call(source)
    assert chain.func == func
    assert list(chain.args) == [pg.ir.unparse(pg.ir.parse_expr(a)) for a in args]
    assert [k for k, _ in chain.kwargs] == list(kwargs)
    assert [m for m, _, _ in chain.methods] == [m for m, _ in methods]
    assert join_call(chain) == pg.ir.unparse(pg.ir.parse_expr(source))


def test_split_call_of_other_forms():
    assert split_call("a + b") is None
    assert split_call("f(*xs)") is None
    assert split_call("f(**kw)") is None
    assert split_call("dist.Normal(0, 1)").kwarg("scale") is None
    assert split_call("dist.Normal(0, scale=2)").kwarg("scale") == "2"


# -- the Graph container --------------------------------------------------------------------------
def eight_schools_graph() -> Graph:
    g = Graph(name="eight_schools", env={"dist": dist})
    g.add(Argument("sigma"))
    g.add(RandomVariable("mu", dist="dist.Normal(0.0, 5.0)"))
    g.add(RandomVariable("tau", dist="dist.HalfCauchy(5.0)"))
    g.add(RandomVariable("theta_t", dist="dist.Normal(0.0, 1.0).expand([8])"))
    g.add(Deterministic("theta", expr="mu + tau * theta_t"))
    g.add(RandomVariable("y", dist="dist.Normal(theta, sigma)"))
    g.graph["returns"] = ("y",)
    return g


def test_hand_built_graph_edges_carry_slots_and_compile():
    g = eight_schools_graph()
    validate(g)
    assert g.edges["theta", "y"]["slots"] == ("loc",)
    assert g.edges["sigma", "y"]["slots"] == ("scale",)
    assert g.edges["mu", "theta"]["slots"] == ("expr",)
    assert g.order() == ["sigma", "mu", "tau", "theta_t", "theta", "y"]
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    assert nx.ancestors(g, "y") == {"sigma", "mu", "tau", "theta_t", "theta"}
    model = pg.Model(g)
    assert pg.source(model, "logpdf").startswith("def eight_schools_logpdf(sigma, *, mu, tau, theta_t, y):")


def test_edges_are_added_when_a_node_is_defined_after_its_child():
    g = Graph(name="m", env={"dist": dist})
    g.add(Deterministic("b", expr="2 * a"))
    g.add(RandomVariable("a", dist="dist.Normal(0.0, 1.0)"))
    assert ("a", "b") not in g.edges  # add() links references to nodes present
    g.link()
    assert ("a", "b") in g.edges
    assert g.order() == ["a", "b"]


def test_set_replaces_a_node_and_relinks():
    g = eight_schools_graph()
    g.set(Deterministic("theta", expr="mu + 0 * sigma"))
    assert set(g.predecessors("theta")) == {"mu", "sigma"}
    validate(g)


def test_copy_does_not_share_containers():
    g = eight_schools_graph()
    c = g.copy()
    c.set(Deterministic("theta", expr="mu"))
    c.env["extra"] = 1
    assert g.obj("theta").expr == "mu + tau * theta_t"
    assert "extra" not in g.env


def test_node_objects_are_frozen_and_location_is_not_compared():
    a = RandomVariable("x", dist="dist.Normal(0, 1)", location="a.py:1")
    b = RandomVariable("x", dist="dist.Normal(0, 1)", location="b.py:9")
    assert a == b
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'dist'"):
        a.dist = "other"  # type: ignore[misc]
    assert a.with_info(k="v").get_info("k") == "v"


# -- validation of hand-built graphs -----------------------------------------------------------------
def test_cycle_is_a_model_error_naming_the_cycle():
    g = Graph(name="cyclic", env={"dist": dist})
    g.add(RandomVariable("a", dist="dist.Normal(c, 1.0)", location="m.py:3"))
    g.add(Deterministic("b", expr="a + 1", location="m.py:4"))
    g.add(Deterministic("c", expr="b * 2", location="m.py:5"))
    g.link()
    with pytest.raises(pg.ModelError, match="cycle") as info:
        validate(g)
    err = info.value
    assert err.model == "cyclic" and err.node in {"a", "b", "c"}
    assert err.location == {"a": "m.py:3", "b": "m.py:4", "c": "m.py:5"}[err.node]  # as given above
    assert "->" in err.message and "Hint:" in str(err)
    with pytest.raises(pg.ModelError, match="cycle"):
        pg.Model(g)


def test_dangling_reference_is_a_model_error_with_a_suggestion():
    g = Graph(name="dangling", env={"dist": dist})
    g.add(RandomVariable("sigma", dist="dist.HalfNormal(1.0)"))
    g.add(RandomVariable("y", dist="dist.Normal(0.0, sigmaa)", location="m.py:7"))
    with pytest.raises(pg.ModelError, match="unknown name 'sigmaa'") as info:
        validate(g)
    assert info.value.node == "y" and info.value.location == "m.py:7"
    assert "'sigma'" in info.value.hint


def test_self_reference_is_a_model_error():
    g = Graph(name="selfref", env={"dist": dist})
    g.add(RandomVariable("x", dist="dist.Normal(x, 1.0)", location="m.py:2"))
    with pytest.raises(pg.ModelError, match="uses itself") as info:
        validate(g)
    assert info.value.node == "x"


def test_duplicate_node_names_and_identifier_clashes():
    g = Graph(name="dup", env={"dist": dist})
    g.add(RandomVariable("x", dist="dist.Normal(0.0, 1.0)", location="m.py:2"))
    with pytest.raises(pg.ModelError, match="exists already") as info:
        g.add(RandomVariable("x", dist="dist.Normal(0.0, 1.0)", location="m.py:3"))
    assert info.value.location == "m.py:3"
    g.add(RandomVariable("z.a", dist="dist.Normal(0.0, 1.0)"))
    g.add(RandomVariable("z__a", dist="dist.Normal(0.0, 1.0)"))
    with pytest.raises(pg.ModelError, match="clash"):
        validate(g)


def test_nodes_added_without_node_objects_or_stale_edges():
    g = Graph(name="raw", env={"dist": dist})
    g.add_node("x")
    with pytest.raises(pg.ModelError, match="no node object") as info:
        validate(g)
    assert "GraphBuilder" in info.value.hint
    g = eight_schools_graph()
    g.nodes["theta"]["node"] = Deterministic("theta", expr="mu")  # edited by hand, edges stale
    with pytest.raises(pg.ModelError, match="edges") as info:
        validate(g)
    assert "link()" in info.value.hint
    g.link()
    validate(g)


def test_returning_a_missing_node_and_unknown_node_lookup():
    g = eight_schools_graph()
    g.graph["returns"] = ("nope",)
    with pytest.raises(pg.ModelError, match="returns 'nope'"):
        validate(g)
    with pytest.raises(pg.ModelError, match="no node named 'thta'") as info:
        g.obj("thta")
    assert "'theta'" in info.value.hint


def test_builder_errors():
    g = pg.GraphBuilder("b")
    x = g.random("x", dist.Normal, 0.0, 1.0)
    with pytest.raises(pg.ModelError, match="exists already"):
        g.random("x", dist.Normal, 0.0, 1.0)
    with pytest.raises(pg.ModelError, match="truth value"):
        if x > 0:  # Python control flow on a symbol
            pass
    import numpy as np

    with pytest.raises(pg.ModelError, match="need a name"):
        g.deterministic("y", x + np.ones(3))
    with pytest.raises(pg.ModelError, match="no node named"):
        g.ref("nope")
