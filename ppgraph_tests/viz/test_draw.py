"""pg.draw / to_svg / draw_diff: SVG checked for every node and edge; the matplotlib fallback."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET

import jax.numpy as jnp
import pytest

import ppgraph as pg
from ppgraph.passes import observe, to_unconstrained
from ppgraph.viz import draw as draw_module
from ppgraph.viz.draw import draw_matplotlib, to_svg
from ppgraph_tests.conftest import requires_dot
from ppgraph_tests.viz import models

SVG = "{http://www.w3.org/2000/svg}"
X = jnp.ones((5, 3))



def graphviz_svg_items(svg: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Node title -> class, and edges, of a Graphviz SVG."""
    root = ET.fromstring(svg)
    nodes, edges = {}, set()
    for g in root.iter(f"{SVG}g"):
        classes = (g.get("class") or "").split()
        title = g.find(f"{SVG}title")
        if title is None:
            continue
        if classes[:1] == ["node"]:
            nodes[title.text] = " ".join(classes[1:])
        elif classes[:1] == ["edge"]:
            u, v = title.text.split("->")
            edges.add((u, v))
    return nodes, edges


def graphs():
    return {
        "eight_schools": (models.eight_schools, (), {}),
        "eight_schools_data": (models.eight_schools, (jnp.ones(8),), {}),
        "every_kind": (models.every_kind, (X,), {}),
        "observed_unconstrained": (observe(to_unconstrained(models.every_kind), y=jnp.zeros((5, 2))), (), {}),
        "parameter": (models.parameter_model(), (), {}),
        "submodel": (models.outer, (), {}),
    }


@requires_dot
@pytest.mark.parametrize("which", sorted(graphs()))
def test_svg_has_every_node_and_edge(which):
    model, args, kwargs = graphs()[which]
    graph = model.graph if isinstance(model, pg.Model) else model
    nodes, edges = graphviz_svg_items(to_svg(model, *args, **kwargs))
    assert set(nodes) == set(graph.nodes)
    assert edges == set(graph.edges)
    for name, classes in nodes.items():
        assert classes.split()[0] == graph.obj(name).kind


@requires_dot
@pytest.mark.parametrize("ext,magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_draw_formats(tmp_path, ext, magic):
    out = pg.draw(models.eight_schools, tmp_path / f"m.{ext}", jnp.ones(8))
    assert out.read_bytes().startswith(magic)


def test_draw_dot_source(tmp_path):
    out = pg.draw(models.eight_schools, tmp_path / "m.dot")
    assert out.read_text() == pg.to_dot(models.eight_schools)


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf"):
        pg.draw(models.eight_schools, tmp_path / "m.gif")
    assert not (tmp_path / "m.gif").exists()


def test_repr_svg():
    svg = models.eight_schools._repr_svg_()
    assert ET.fromstring(svg).tag == f"{SVG}svg"


@requires_dot
def test_draw_diff_marks(tmp_path):
    after = to_unconstrained(models.eight_schools)
    out = pg.draw_diff(models.eight_schools, after, tmp_path / "diff.svg")
    nodes, edges = graphviz_svg_items(out.read_text())
    assert set(nodes) == set(after.nodes)
    assert nodes["tau_unconstrained"].endswith("added")
    assert nodes["tau"].endswith("changed")
    assert nodes["mu"].endswith("same")
    assert edges == set(after.edges)


class TestMatplotlibFallback:
    @pytest.fixture(autouse=True)
    def no_dot(self, monkeypatch):
        monkeypatch.setattr(draw_module, "dot_available", lambda: False)
        monkeypatch.setattr(draw_module, "_warned", False)

    @staticmethod
    def ids(svg: bytes) -> set[str]:
        return {g.get("id") for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("id")}

    def test_svg_every_node_and_edge_and_one_warning(self, tmp_path):
        graph = observe(models.every_kind, y=jnp.zeros((5, 2)))
        with pytest.warns(RuntimeWarning, match="Graphviz 'dot' program was not found"):
            out = pg.draw(graph, tmp_path / "m.svg", X)
        ids = self.ids(out.read_bytes())
        assert {f"node:{n}" for n in graph.nodes} <= ids
        assert {f"edge:{u}->{v}" for u, v in graph.edges} <= ids
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pg.draw(graph, tmp_path / "again.png")  # says so once only
        assert (tmp_path / "again.png").read_bytes().startswith(b"\x89PNG")

    def test_diff_fallback_includes_removed(self, tmp_path):
        from ppgraph.passes import do

        after = do(models.eight_schools, theta=jnp.zeros(8))
        with pytest.warns(RuntimeWarning, match="Graphviz 'dot' program was not found"):
            out = pg.draw_diff(models.eight_schools, after, tmp_path / "d.svg")
        ids = self.ids(out.read_bytes())
        assert {f"edge:{u}->{v}" for u in ("mu", "tau", "theta_t") for v in ("theta",)} <= ids
        assert {f"node:{n}" for n in after.nodes} <= ids

    def test_to_svg_and_pdf(self, tmp_path):
        with pytest.warns(RuntimeWarning, match="Graphviz 'dot' program was not found"):
            svg = to_svg(models.eight_schools)
        assert ET.fromstring(svg).tag == f"{SVG}svg"
        assert draw_matplotlib(models.eight_schools.graph, "pdf").startswith(b"%PDF")
