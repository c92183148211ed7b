"""The ppgraph command line, run as a subprocess (python -m ppgraph), error paths included."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

import ppgraph as pg
from ppgraph.cli import load_target, main
from ppgraph_tests.conftest import requires_dot
from ppgraph_tests.viz.dotparse import parse

MODELS = textwrap.dedent(
    """
    import ppgraph as pg
    from ppgraph import dist


    @pg.model
    def schools(sigma):
        mu <~ dist.Normal(0.0, 5.0)
        tau <~ dist.HalfCauchy(5.0)
        theta_t <~ dist.Normal(0.0, 1.0).expand([8])
        theta = mu + tau * theta_t
        y <~ dist.Normal(theta, sigma)
        return y


    @pg.model
    def coin(n):
        p <~ dist.Beta(2.0, 2.0)
        heads <~ dist.Binomial(n, p)
        return heads
    """
)

BROKEN = textwrap.dedent(
    """
    import ppgraph as pg
    from ppgraph import dist


    @pg.model
    def broken(x):
        mu <~ dist.Normal(0.0, 1.0)
        if x > 0:
            y <~ dist.Normal(mu, 1.0)
        return mu
    """
)

DATA = {"sigma": [15, 10, 16, 11, 9, 11, 10, 18], "y": [28, 8, -3, 7, -1, 1, 18, 12]}


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "broken.py").write_text(BROKEN)
    (tmp_path / "data.json").write_text(json.dumps(DATA))
    (tmp_path / "ragged.json").write_text(json.dumps({"sigma": [[1, 2], [3]]}))
    (tmp_path / "notjson.json").write_text('{"sigma": [1, 2')
    (tmp_path / "unknown.json").write_text(json.dumps({"sigma": DATA["sigma"], "sigmaa": 1.0}))
    (tmp_path / "shape.json").write_text(json.dumps({"sigma": [1.0, 2.0, 3.0]}))
    return tmp_path


def start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "ppgraph", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run(args, cwd, timeout=600):
    proc = start(args, cwd)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@requires_dot
def test_inspect(workdir):
    code, out, err = run(
        ["inspect", "models.py:schools", "--data", "data.json", "--source", "logpdf",
         "--dot", "m.dot", "--draw", "m.svg", "--passes", "to_unconstrained", "--draw-diff", "d.svg",
         "--save", "saved.json"],
        workdir,
    )
    assert code == 0, err
    model = load_target(str(workdir / "models.py") + ":schools")
    transformed = pg.passes.to_unconstrained(model)
    lines = out.splitlines()
    assert lines[0] == "model 'schools': 7 nodes"
    table = lines[3:10]
    assert [line.split()[0] for line in table] == transformed.order()
    assert "yes" in table[-1]  # y is observed: its value is in the data
    assert pg.source(model, "logpdf", graph=transformed) in out
    nodes, edges = parse((workdir / "m.dot").read_text())
    assert set(nodes) == set(transformed.nodes) and set(edges) == set(transformed.edges)
    assert "× 8" in nodes["y"]["label"]  # shapes from the data
    titles = {t.text for t in ET.parse(workdir / "m.svg").iter("{http://www.w3.org/2000/svg}title")}
    assert set(transformed.nodes) <= titles
    assert (workdir / "d.svg").exists()
    code, out2, err = run(["inspect", "saved.json"], workdir)
    assert code == 0, err
    assert [line.split()[0] for line in out2.splitlines()[3:]] == transformed.order()


ERRORS = {
    "missing file": (["inspect", "nope.py:schools"], "no such file: 'nope.py'"),
    "unknown model": (["inspect", "models.py:scools"], "no model named 'scools'; did you mean 'schools'?"),
    "ambiguous file": (["inspect", "models.py"], "defines 2 models (coin, schools)"),
    "not a model": (["inspect", "models.py:dist"], "is a module, not a @pg.model"),
    "model error": (["inspect", "broken.py:broken"], "broken.py:9): `if` is not part of the model language"),
    "missing data": (["inspect", "models.py:schools", "--data", "none.json"], "no such data file"),
    "data not json": (["inspect", "models.py:schools", "--data", "notjson.json"], "notjson.json: not valid JSON"),
    "ragged data": (["inspect", "models.py:schools", "--data", "ragged.json"], "data 'sigma': the nested lists are ragged"),
    "unknown name": (["inspect", "models.py:schools", "--data", "unknown.json"], "got a value for 'sigmaa'"),
    "bad shapes": (["inspect", "models.py:schools", "--data", "shape.json"], "node 'y'"),
    "unknown pass": (["inspect", "models.py:schools", "--passes", "to_unconstrianed"], "no pass named 'to_unconstrianed'"),
    "bad format": (["inspect", "models.py:schools", "--draw", "m.gif"], "unknown format 'gif'"),
    "bad saved graph": (["inspect", "notjson.json"], "notjson.json: not valid JSON"),
    "sample without data": (["sample", "models.py:schools", "--out", "p.nc"], "required: --data"),
    "sample bad out": (["sample", "models.py:schools", "--data", "data.json", "--out", "p.txt"], "ending in .nc"),
    "bad chains": (["sample", "models.py:schools", "--data", "data.json", "--out", "p.nc", "--chains", "0"], "positive integer"),
}


SUBPROCESS_CASES = ("missing file", "unknown model", "ambiguous file", "model error", "data not json", "bad shapes",
                    "bad saved graph", "sample without data")


def test_errors_are_one_line(workdir):
    """A representative set through the real command, side by side (each is a fresh interpreter)."""
    procs = {case: start(ERRORS[case][0], workdir) for case in SUBPROCESS_CASES}
    for case, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode != 0, case
        assert "Traceback" not in err, (case, err)
        assert ERRORS[case][1] in err, (case, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines[-1].startswith(("ppgraph: error:", "ppgraph sample: error:")), (case, err)
        if case != "sample without data":  # argparse prints its usage line first
            assert len(lines) == 1, (case, err)


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_every_error_in_process(case, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    try:
        code = main(ERRORS[case][0])
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code != 0
    assert ERRORS[case][1] in err
    assert err.strip().splitlines()[-1].startswith(("ppgraph: error:", "ppgraph sample: error:"))


def test_traceback_flag(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    with pytest.raises(pg.ShapeError, match="node 'y'"):
        main(["--traceback", "inspect", "models.py:schools", "--data", "shape.json"])
    assert main(["inspect", "models.py:schools", "--draw-diff", "d.svg"]) == 1
    assert "give --passes too" in capsys.readouterr().err


def test_dot_to_stdout(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    assert main(["inspect", "models.py:coin", "--dot", "-"]) == 0
    out = capsys.readouterr().out
    dot = out[out.index("digraph"):]
    nodes, edges = parse(dot)
    model = load_target("models.py:coin")
    assert set(nodes) == set(model.graph.nodes) and set(edges) == set(model.graph.edges)


@pytest.mark.slow
def test_sample(workdir):
    import arviz as az

    code, out, err = run(
        ["sample", "models.py:schools", "--data", "data.json", "--chains", "2", "--draws", "60", "--warmup", "60",
         "--seed", "1", "--out", "post.nc", "--no-progress"],
        workdir,
    )
    assert code == 0, err
    idata = az.from_netcdf(workdir / "post.nc")
    assert idata.posterior["mu"].shape == (2, 60)
    assert idata.posterior["theta"].shape == (2, 60, 8)
    assert "mu" in out and "r_hat" in out and "wrote post.nc" in out
