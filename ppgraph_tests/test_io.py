"""pg.save / pg.load: exact round trips (graphs, environments, compiled code) and clear errors."""

from __future__ import annotations

import copy
import json
import re
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import ppgraph as pg
from ppgraph import dist
from ppgraph.compile import value_inputs
from ppgraph.io import from_json, to_json
from ppgraph.passes import observe, to_unconstrained
from ppgraph_tests.strategies import FAMILIES, model_specs
from ppgraph_tests.viz import models

PROPER = sorted(name for name, family in FAMILIES.items() if family.improper is None)


def assert_same_value(a, b, where):
    if isinstance(a, (types.ModuleType, type)) or callable(a) and not hasattr(a, "shape"):
        assert a is b, where
    elif isinstance(a, (np.ndarray, np.generic, jax.Array)):
        assert type(b) is type(a) or (isinstance(a, jax.Array) and isinstance(b, jax.Array)), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=where)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_value(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_value(a[k], b[k], f"{where}.{k}")
    else:
        assert type(a) is type(b) and (a == b or (a != a and b != b)), where


def assert_same_graph(g1: pg.Graph, g2: pg.Graph) -> None:
    assert list(g1.nodes) == list(g2.nodes)
    for name in g1.nodes:
        n1, n2 = g1.obj(name), g2.obj(name)
        assert n1 == n2 and type(n1) is type(n2) and n1.location == n2.location
    assert {(u, v): s for u, v, s in g1.edges(data="slots")} == {(u, v): s for u, v, s in g2.edges(data="slots")}
    for key in ("name", "returns", "returns_tuple"):
        assert g1.graph[key] == g2.graph[key]
    assert g1.env.keys() == g2.env.keys()
    for key in g1.env:
        assert_same_value(g1.env[key], g2.env[key], f"env[{key!r}]")


ALL_TARGETS = ("sample_forward", "logpdf", "logpdf_unconstrained", "deterministics")


def round_trip(obj, tmp_path, name="m.json", targets=ALL_TARGETS) -> pg.Model:
    path = tmp_path / name
    pg.save(obj, path)
    loaded = pg.load(path)
    assert isinstance(loaded, pg.Model)
    graph = obj.graph if isinstance(obj, pg.Model) else obj
    assert_same_graph(graph, loaded.graph)
    for target in targets:
        assert pg.source(loaded, target) == pg.source(obj, target)
    return loaded


def assert_same_logpdf(original, loaded, key, *args):
    draws = pg.sample_forward(original, key, *args)
    graph = original.graph if isinstance(original, pg.Model) else original
    values = {k: draws[k] for k in value_inputs(graph)}
    assert float(pg.logpdf(loaded)(*args, **values)) == float(pg.logpdf(original)(*args, **values))


class TestRoundTrip:
    @settings(derandomize=True, max_examples=4, deadline=None)
    @given(spec=model_specs(max_random=6, family_names=PROPER))
    def test_random_models(self, tmp_path_factory, spec):
        model = spec.build()
        loaded = round_trip(model, tmp_path_factory.mktemp("rt"), targets=("sample_forward", "logpdf"))
        assert_same_logpdf(model, loaded, jax.random.key(3), *spec.argument_values().values())

    def test_after_passes_with_data(self, tmp_path):
        y = np.linspace(-1.0, 1.0, 8).astype(np.float32)
        graph = observe(to_unconstrained(models.eight_schools), y=y)
        loaded = round_trip(graph, tmp_path)
        sigma = jnp.full(8, 2.0)
        values = {"mu": 0.3, "tau_unconstrained": -0.2, "theta_t": jnp.linspace(0, 1, 8)}
        assert float(pg.logpdf(loaded)(sigma, **values)) == float(pg.logpdf(graph)(sigma, **values))

    def test_layer_model(self, tmp_path):
        loaded = round_trip(models.every_kind, tmp_path)
        assert_same_logpdf(models.every_kind, loaded, jax.random.key(0), jnp.ones((5, 3)))

    def test_parameter_and_constant_array(self, tmp_path):
        model = models.parameter_model()
        loaded = round_trip(model, tmp_path)
        assert isinstance(loaded.graph.env["data"], jax.Array)
        assert float(pg.logpdf(loaded)(w=0.1, z=jnp.ones(5))) == float(pg.logpdf(model)(w=0.1, z=jnp.ones(5)))

    def test_function_by_reference(self, tmp_path):
        loaded = round_trip(models.uses_helper, tmp_path)
        assert loaded.graph.env["helper_squash"] is models.helper_squash
        text = (tmp_path / "m.json").read_text()
        assert '"ppgraph_tests.viz.models:helper_squash"' in text
        assert_same_logpdf(models.uses_helper, loaded, jax.random.key(0), 4)

    def test_constants_of_every_type(self, tmp_path):
        g = pg.GraphBuilder("consts")
        values = {
            "f64": np.array([[1.5, -np.inf], [np.nan, 1e-300]]),
            "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
            "b": np.array([True, False]),
            "c": np.array([1 + 2j]),
            "scalar": np.float32(0.1),
            "f32j": jnp.array([0.1, 0.2], dtype=jnp.float32),
            "nested": [1, 2.5, (3, "s"), {"k": None}],
            "big": 2**70,
            "fl": 0.1,
            "flag": True,
        }
        for name, value in values.items():
            g.constant(name, value)
        g.deterministic("out", g.call(jnp.sum, g.constant("sel", np.ones(3))))
        model = g.build()
        loaded = round_trip(model, tmp_path)
        for name, value in values.items():
            assert_same_value(value, loaded.graph.env[name], name)

    def test_submodel_dotted_names(self, tmp_path):
        loaded = round_trip(models.outer, tmp_path)
        assert "z.mu" in loaded.graph.nodes
        assert_same_logpdf(models.outer, loaded, jax.random.key(2))

    def test_docstring_and_returns(self, tmp_path):
        loaded = round_trip(models.every_kind, tmp_path)
        assert loaded.__doc__ == models.every_kind.__doc__
        assert loaded.graph.returns() == ("y",)


class TestSaveRefuses:
    def test_lambda(self, tmp_path):
        g = pg.GraphBuilder("lam")
        f = g.constant("f", lambda v: v + 1)
        g.deterministic("a", f(1.0))
        with pytest.raises(pg.ModelError, match=r"function 'f'.*node 'a'|node 'a'.*function 'f'.*lambda"):
            pg.save(g.build(), tmp_path / "m.json")
        assert not (tmp_path / "m.json").exists()

    def test_main_function(self, tmp_path):
        def helper(v):
            return v

        helper.__module__ = "__main__"
        helper.__qualname__ = "helper"
        g = pg.GraphBuilder("main")
        h = g.constant("helper", helper)
        g.deterministic("a", h(1.0))
        with pytest.raises(pg.ModelError, match="__main__"):
            pg.save(g.build(), tmp_path / "m.json")

    def test_arbitrary_object(self, tmp_path):
        g = pg.GraphBuilder("obj")
        d = g.constant("d", dist.Normal(0.0, 1.0))
        g.deterministic("x", d.mean)
        with pytest.raises(pg.ModelError, match="cannot save"):
            pg.save(g.build(), tmp_path / "m.json")


def saved() -> dict:
    graph = observe(to_unconstrained(models.eight_schools), y=np.zeros(8, dtype=np.float32))
    return to_json(graph)


def node(data: dict, name: str) -> dict:
    return next(n for n in data["graph"]["nodes"] if n["id"] == name)


def _set(path, value):
    def edit(d):
        *head, last = path
        for key in head:
            d = d[key]
        d[last] = value
    return edit


CORRUPTIONS = {
    "wrong format": (_set(["format"], "something-else"), "not a ppgraph graph file"),
    "newer version": (_set(["version"], 99), "newer than this ppgraph reads"),
    "unknown kind": (lambda d: node(d, "mu").update(kind="randm"), "node 'mu': unknown kind 'randm'"),
    "bad expression": (lambda d: node(d, "mu")["fields"].update(dist="dist.Normal(0.0,"), "node 'mu': field 'dist' is not a valid"),
    "unknown field": (lambda d: node(d, "mu")["fields"].update(mean="1.0"), "unknown field"),
    "non-string field": (lambda d: node(d, "mu")["fields"].update(dist=3), "must be Python source"),
    "unknown name": (lambda d: node(d, "mu")["fields"].update(dist="dist.Normal(zz, 1.0)"), "unknown name 'zz'"),
    "extra edge": (lambda d: d["graph"]["edges"].append({"source": "mu", "target": "tau", "slots": ["expr"]}), "edges no node uses: mu -> tau"),
    "missing edge": (lambda d: d["graph"]["edges"].pop(0), "uses without an edge"),
    "edge to nowhere": (lambda d: d["graph"]["edges"].append({"source": "mu", "target": "nope"}), "does not exist"),
    "duplicate node": (lambda d: d["graph"]["nodes"].append(copy.deepcopy(node(d, "mu"))), "node 'mu' appears twice"),
    "cycle": (lambda d: (node(d, "mu")["fields"].update(dist="dist.Normal(theta[0], 5.0)"),
                         d["graph"]["edges"].append({"source": "theta", "target": "mu", "slots": ["loc"]})), "cycle"),
    "array length": (lambda d: d["graph"]["graph"]["env"]["y_observed"].update(shape=[9]), "shape (9,) but 8 values"),
    "bad dtype": (lambda d: d["graph"]["graph"]["env"]["y_observed"].update(dtype="flaot32"), "y_observed"),
    "missing module": (lambda d: d["graph"]["graph"]["env"]["dist"].update(name="no_such_module_xyz"), "cannot import module 'no_such_module_xyz'"),
    "bad reference": (lambda d: d["graph"]["graph"]["env"]["Unconstrained"].update(ref="ppgraph.dist:Nope"), "cannot import 'ppgraph.dist:Nope'"),
    "unknown env type": (lambda d: d["graph"]["graph"]["env"]["dist"].update(type="pickle"), "unknown entry type 'pickle'"),
    "env entry lacks field": (lambda d: d["graph"]["graph"]["env"]["dist"].pop("name"), "lacks the field 'name'"),
    "nodes not a list": (_set(["graph", "nodes"], {"mu": 1}), "expected a JSON array"),
    "no graph": (lambda d: d.pop("graph"), "missing the 'graph' object"),
    "info malformed": (lambda d: node(d, "tau").update(info=[["only-one"]]), "'info' must be a list"),
    "returns unknown": (_set(["graph", "graph", "returns"], ["nope"]), "returns 'nope'"),
}


class TestCorruptedFiles:
    @pytest.mark.parametrize("case", sorted(CORRUPTIONS))
    def test_corruption(self, case, tmp_path):
        edit, message = CORRUPTIONS[case]
        data = saved()
        edit(data)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data))
        with pytest.raises(pg.SaveFileError, match=re.escape(message)) as info:
            pg.load(path)
        assert str(path) in str(info.value)

    def test_pristine_copy_loads(self, tmp_path):
        path = tmp_path / "ok.json"
        path.write_text(json.dumps(saved()))
        assert_same_graph(pg.load(path).graph, from_json(saved()).graph)

    @pytest.mark.parametrize("text,message", [
        ('{"format": "ppgraph-graph", ', "not valid JSON"),
        ("[1, 2]", "not a ppgraph graph file"),
        ("", "not valid JSON"),
    ])
    def test_not_a_graph(self, tmp_path, text, message):
        path = tmp_path / "bad.json"
        path.write_text(text)
        with pytest.raises(pg.SaveFileError, match=message):
            pg.load(path)

    def test_truncated_file(self, tmp_path):
        path = tmp_path / "m.json"
        pg.save(models.eight_schools, path)
        path.write_text(path.read_text()[:-40])
        with pytest.raises(pg.SaveFileError, match="not valid JSON"):
            pg.load(path)

    def test_missing_file(self, tmp_path):
        with pytest.raises(pg.SaveFileError, match="no such file"):
            pg.load(tmp_path / "nope.json")

    def test_is_a_model_error(self):
        assert issubclass(pg.SaveFileError, pg.ModelError)
