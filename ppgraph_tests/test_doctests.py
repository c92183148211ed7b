"""The examples in the docstrings of every ``ppgraph`` module run (``doctest``).

Modules under ``ppgraph.nn.trax`` (``.flax``, ``.equinox``) need the optional trax
(flax, equinox) extra: without it they are skipped, unless ``PPGRAPH_REQUIRE_EXTRAS=1`` (then a missing extra fails).

Docstring examples may define ``@pg.model`` functions: doctest serves the source of
its examples to ``inspect`` (through ``linecache``), so the parser can read them.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import pkgutil

import pytest

import ppgraph

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
EXTRAS = {"ppgraph.nn.trax": "trax", "ppgraph.nn.flax": "flax", "ppgraph.nn.equinox": "equinox"}


def module_names() -> list[str]:
    names = ["ppgraph"]
    for info in pkgutil.walk_packages(ppgraph.__path__, prefix="ppgraph."):
        if info.name.split(".")[-1] == "__main__":
            continue  # running it is the command line, not an import
        names.append(info.name)
    return sorted(names)


def require_extra(name: str) -> None:
    for prefix, extra in EXTRAS.items():
        if name == prefix or name.startswith(prefix + "."):
            if importlib.util.find_spec(extra) is None:
                if os.environ.get("PPGRAPH_REQUIRE_EXTRAS") == "1":
                    pytest.fail(f"{name} needs the '{extra}' extra (PPGRAPH_REQUIRE_EXTRAS=1)")
                pytest.skip(f"{name} needs the optional '{extra}' extra")


@pytest.mark.parametrize("name", module_names())
def test_doctests(name):
    require_extra(name)
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    tests = finder.find(module, name)
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} doctest examples of {name} failed (output above)"


def test_a_model_defined_in_a_doctest_parses():
    """The parser reads a model defined inside a docstring example."""
    text = '''
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def coin(n):
    ...     p <~ dist.Beta(2.0, 2.0)
    ...     heads <~ dist.Binomial(n, p)
    ...     return heads
    >>> sorted(coin.graph.nodes)
    ['heads', 'n', 'p']
    >>> coin.graph.obj("p").location
    '<doctest example[2]>:3'
    '''
    test = doctest.DocTestParser().get_doctest(text, {}, "example", "example.py", 0)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_missing_extra_skips_or_fails_by_environment(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.delenv("PPGRAPH_REQUIRE_EXTRAS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="ppgraph.nn.trax.layers needs the optional 'trax' extra"):
        require_extra("ppgraph.nn.trax.layers")
    monkeypatch.setenv("PPGRAPH_REQUIRE_EXTRAS", "1")
    with pytest.raises(pytest.fail.Exception, match="trax"):
        require_extra("ppgraph.nn.trax")
    require_extra("ppgraph.nn.dense")  # not an extra: nothing happens
