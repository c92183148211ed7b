"""pg.describe rows and print(model): checked against the graph and against sampled values."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from numpyro.distributions import constraints

import ppgraph as pg
from ppgraph.passes import observe, to_unconstrained
from ppgraph.viz.describe import COLUMNS, format_table
from ppgraph.viz.shapes import constraint_name
from ppgraph_tests.strategies import FAMILIES, model_specs
from ppgraph_tests.viz import models

PROPER = sorted(name for name, family in FAMILIES.items() if family.improper is None)
SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def check_rows_match_graph(rows, graph):
    assert [r["name"] for r in rows] == graph.order()
    for row in rows:
        node = graph.obj(row["name"])
        assert set(COLUMNS) <= set(row)
        assert row["kind"] == node.kind
        assert set(row["parents"]) == set(graph.predecessors(row["name"]))
        assert row["distribution"] in node.expressions().values() or row["distribution"] == ""
        assert row["info"] == dict(node.info)


def check_support(support: str | None, graph, name: str, draws: dict) -> None:
    """The support shown is the one of the concrete distribution at the sampled values, and holds the value."""
    namespace = {**graph.env, **draws}
    d = eval(graph.obj(name).dist, namespace)  # the node's distribution at the sampled parents
    assert support == constraint_name(d.support)
    assert bool(jnp.all(d.support(draws[name]))), (support, draws[name])
    named = getattr(constraints, support, None)
    if isinstance(named, constraints.Constraint):  # parameter-free constraints also by name
        assert bool(jnp.all(named(draws[name])))


class TestDescribe:
    @settings(derandomize=True, max_examples=5, deadline=None)
    @given(model_specs(max_random=6, family_names=PROPER))
    def test_random_models_against_samples(self, spec):
        model = spec.build()
        data = spec.argument_values()
        describe_by_name = {r["name"]: r for r in pg.describe(model, **data)}
        check_rows_match_graph(list(describe_by_name.values()), model.graph)
        draws = pg.sample_forward(model, jax.random.key(1), **data)
        for name, value in data.items():
            assert describe_by_name[name]["shape"] == value.shape, name
        for name, value in draws.items():
            row = describe_by_name[name]
            if row["kind"] == "layer":
                continue  # a network: no array shape
            assert row["shape"] == jnp.shape(value), name
            if row["kind"] == "random":
                assert row["batch_shape"] + row["event_shape"] == jnp.shape(value)
                assert row["support"] is not None
                check_support(row["support"], model.graph, name, {**data, **draws})
                assert row["observed"] is False

    def test_eight_schools_with_and_without_data(self):
        static = {r["name"]: r for r in pg.describe(models.eight_schools)}
        assert static["theta_t"]["shape"] == (8,) and static["theta"]["shape"] == (8,)
        assert static["y"]["shape"] is None and static["sigma"]["shape"] is None
        assert static["tau"]["support"] == "positive" and static["y"]["support"] == "real"
        rows = pg.describe(models.eight_schools, SIGMA, y=jnp.zeros(8))
        check_rows_match_graph(rows, models.eight_schools.graph)
        draws = pg.sample_forward(models.eight_schools, jax.random.key(0), SIGMA)
        by_name = {r["name"]: r for r in rows}
        for name, value in draws.items():
            assert by_name[name]["shape"] == jnp.shape(value)
        assert by_name["sigma"]["shape"] == (8,)
        assert by_name["y"]["observed"] is True and by_name["mu"]["observed"] is False

    def test_observed_after_pass_and_info(self):
        graph = observe(to_unconstrained(models.eight_schools), y=np.zeros(8))
        rows = {r["name"]: r for r in pg.describe(graph)}
        check_rows_match_graph(list(rows.values()), graph)
        assert rows["y"]["observed"] is True
        assert rows["tau_unconstrained"]["info"] == {"unconstrained_of": "tau"}
        assert rows["tau_unconstrained"]["support"] == "real"
        assert rows["y"]["shape"] == (8,)  # the observed value fixes it

    def test_layer_rows(self):
        x = jnp.ones((5, 3))
        rows = {r["name"]: r for r in pg.describe(models.every_kind, x)}
        net = pg.sample_forward(models.every_kind, jax.random.key(0), x)["net"]
        assert rows["net"]["layers"] == "Dense 4 → Tanh → Dense 2"
        expected = {f"{i}.{w}": net.weights[i][w].shape for i in net.weights for w in net.weights[i]}
        assert rows["net"]["weights"] == expected
        assert rows["weights"]["event_shape"] == (3,) and rows["weights"]["support"] == "simplex"
        assert rows["scale0"]["shape"] == ()  # from its default
        assert rows["penalty"]["kind"] == "factor"

    def test_parameter(self):
        rows = {r["name"]: r for r in pg.describe(models.parameter_model())}
        assert rows["w"]["kind"] == "parameter" and rows["w"]["prior"] == "dist.Normal(0.0, 1.0)"
        assert rows["z"]["shape"] == (5,)

    def test_improper_prior_leaves_only_its_descendants_unknown(self):
        rows = {r["name"]: r for r in pg.describe(models.improper)}
        assert rows["a"]["shape"] is None and rows["c"]["shape"] is None  # a Flat prior cannot be sampled
        assert rows["b"]["shape"] == (3,)
        assert rows["a"]["support"] == "real"
        given = {r["name"]: r for r in pg.describe(models.improper, a=jnp.zeros(2))}
        assert given["a"]["shape"] == (2,) and given["c"]["shape"] == (2,)

    def test_bad_data_names_the_node(self):
        with pytest.raises(pg.ShapeError, match="node 'y'"):
            pg.describe(models.eight_schools, jnp.ones(3))

    def test_missing_argument(self):
        with pytest.raises(pg.ModelError, match="missing 'x'"):
            pg.describe(models.every_kind, scale0=2.0)

    def test_unknown_name(self):
        with pytest.raises(pg.ModelError, match="'sigmaa'"):
            pg.describe(models.eight_schools, sigmaa=SIGMA)


def column_starts(rule: str) -> list[int]:
    return [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]


class TestTable:
    def test_print_model_is_the_table(self):
        """Each row as read off the model's definition in viz/models.py (shapes unknown without data: '?')."""
        expected = [
            ["sigma", "argument", "?", "-"],
            ["mu", "random", "dist.Normal(0.0, 5.0)", "()", "real", "no"],
            ["tau", "random", "dist.HalfCauchy(5.0)", "()", "positive", "no"],
            ["theta_t", "random", "dist.Normal(0.0, 1.0).expand([8])", "(8,)", "real", "no"],
            ["theta", "deterministic", "mu + tau * theta_t", "mu, tau, theta_t", "(8,)", "-"],
            ["y", "random", "dist.Normal(theta, sigma)", "sigma, theta", "?", "real", "no"],
        ]
        for text in (repr(models.eight_schools), str(models.eight_schools)):
            lines = text.splitlines()
            assert lines[0] == "model 'eight_schools': 6 nodes"
            assert re.split(r"\s{2,}", lines[1]) == ["name", "kind", "distribution / expression", "parents", "shape",
                                                     "support", "observed"]
            assert [re.split(r"\s{2,}", line.strip()) for line in lines[3:]] == expected

    def test_layout(self):
        lines = format_table(models.eight_schools, SIGMA).splitlines()
        assert lines[0] == "model 'eight_schools': 6 nodes"
        header, rule, body = lines[1], lines[2], lines[3:]
        starts = column_starts(rule)
        assert len(starts) == 7
        assert [header[s:].split()[0] for s in starts] == ["name", "kind", "distribution", "parents", "shape",
                                                           "support", "observed"]
        rows = pg.describe(models.eight_schools, SIGMA)
        assert len(body) == len(rows)
        for line, row in zip(body, rows):  # every column starts where its header does
            cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
            assert cells[0] == row["name"] and cells[1] == row["kind"]
            assert cells[2] == row["distribution"] or cells[2] == f"default {row['distribution']}"
            assert cells[3] == ", ".join(row["parents"])
            assert cells[4] == str(row["shape"])
            assert cells[5] == (row["support"] or "")
            assert cells[6] == ("yes" if row["observed"] else "no") if row["kind"] == "random" else cells[6] == "-"

    def test_long_sources_are_cut(self):
        lines = format_table(models.every_kind, width=20).splitlines()
        starts = column_starts(lines[2])
        cells = [line[starts[2]:starts[3]].strip() for line in lines[3:]]
        assert all(len(c) <= 20 for c in cells)
        assert any(c.endswith("...") for c in cells)
