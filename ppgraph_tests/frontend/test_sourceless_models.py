"""Models defined through ``exec`` (or a REPL without a file).

Without source the parser cannot work: a clear ``ModelError``.  The ``linecache``
recipe of ``docs/concepts.md`` ("Models without a source file") makes such code
parse, with error locations pointing into the registered source.
"""

from __future__ import annotations

import itertools
import linecache
from pathlib import Path

import pytest

import ppgraph as pg
from ppgraph import dist

DOCS = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"
_names = itertools.count()

COIN = """
@pg.model
def coin(n):
    p <~ dist.Beta(2.0, 2.0)
    heads <~ dist.Binomial(n, p)
    return heads
"""


def run(src: str, *, register: bool) -> tuple[dict, str]:
    """Exec ``src`` under a fresh made-up file name, registered with linecache (the documented recipe) or not."""
    filename = f"<generated model {next(_names)}>"
    if register:
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    namespace = {"pg": pg, "dist": dist}
    exec(compile(src, filename, "exec"), namespace)
    return namespace, filename


def test_exec_without_source_is_a_clear_error():
    with pytest.raises(pg.ModelError, match="cannot read the source of the model function") as info:
        run(COIN, register=False)
    assert info.value.model == "coin"
    assert "linecache" in info.value.hint and "pg.GraphBuilder" in info.value.hint


def test_the_documented_linecache_recipe_parses_the_model():
    assert "linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)" in DOCS.read_text()
    namespace, filename = run(COIN, register=True)
    coin = namespace["coin"]
    assert sorted(coin.graph.nodes) == ["heads", "n", "p"]
    heads_line = COIN.splitlines().index("    heads <~ dist.Binomial(n, p)") + 1
    assert coin.graph.obj("heads").location == f"{filename}:{heads_line}"
    draws = pg.sample_forward(coin, 0, 10, num_samples=50)
    assert draws["heads"].shape == (50,) and 0 <= int(draws["heads"].min()) <= int(draws["heads"].max()) <= 10


def test_errors_in_registered_source_point_at_its_lines():
    src = """
@pg.model
def broken():
    mu <~ dist.Normal(0.0, 1.0)
    sigma = dist.HalfNormal(1.0)
    return mu
"""
    with pytest.raises(pg.ModelError) as info:
        run(src, register=True)
    line = src.splitlines().index("    sigma = dist.HalfNormal(1.0)") + 1
    assert info.value.location.endswith(f">:{line}") and "`sigma <~ dist.HalfNormal(1.0)`" in str(info.value)
