"""Shared fixtures of the ppgraph test suite.

``write_models`` writes model source to a module file and imports it: the parser
reads models with ``inspect.getsource``, so models in tests must live in files.
``line_of`` finds the line of a statement in such a file: error-location tests take
their expected line from the source text, never from ppgraph's own ``location``.

Compiled programs: the test session shares one JAX persistent compilation cache (a fresh
temporary folder per session, removed at the end) between its xdist workers and the
subprocesses they start, so a program that several tests compile (the same model and
settings) is built by XLA once.  ``PPGRAPH_TEST_JAX_CACHE=off`` turns it off.

Optional tools: tests marked ``@pytest.mark.dot`` (or ``@requires_dot``) need Graphviz's
``dot`` program. Without it they are skipped, except under ``PPGRAPH_REQUIRE_EXTRAS=1``
(CI installs everything), where :func:`skip_or_fail` turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `import ppgraph_tests.strategies` also under plain `pytest`
    sys.path.insert(0, str(ROOT))

_counter = itertools.count()

requires_dot = pytest.mark.dot
"""Marker of tests that run Graphviz's ``dot`` program (skipped without it; failed under PPGRAPH_REQUIRE_EXTRAS=1)."""


# JAX's options of the session cache (each is also read from the environment variable of its
# upper-case name, which workers and subprocesses inherit); the folder is set per session
_JAX_CACHE = {"jax_persistent_cache_min_compile_time_secs": 0.2, "jax_persistent_cache_min_entry_size_bytes": 0}


def pytest_configure(config) -> None:
    """The session's JAX compilation cache: made by the main process, inherited by workers and subprocesses."""
    if os.environ.get("PPGRAPH_TEST_JAX_CACHE") == "off" or hasattr(config, "workerinput"):
        return
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return  # the user's own cache
    folder = tempfile.mkdtemp(prefix="ppgraph-tests-jax-cache-")
    config._ppgraph_jax_cache = folder
    options = {"jax_compilation_cache_dir": folder, **_JAX_CACHE}
    os.environ.update({name.upper(): str(value) for name, value in options.items()})
    if "jax" in sys.modules:  # already imported (by a plugin): set what it read from the environment
        import jax

        for name, value in options.items():
            jax.config.update(name, value)


def pytest_unconfigure(config) -> None:
    folder = getattr(config, "_ppgraph_jax_cache", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


# Modules whose tests take tens of seconds each (docs pages, examples, random-model oracles).
_LONG_MODULES = ("test_docs.py", "test_examples_bnn.py", "test_examples.py", "test_oracle_numpyro.py")


def pytest_collection_modifyitems(config, items) -> None:
    """Long tests first (statistical ``slow`` tests, docs pages, examples), the rest in their order.

    Under ``pytest -n 2`` a test of a minute that starts last leaves the other worker idle for a
    minute; started first, the short tests fill the gaps at the end.
    """
    def long(item) -> bool:
        return item.get_closest_marker("slow") is not None or item.path.name in _LONG_MODULES

    items.sort(key=lambda item: not long(item))  # stable: the order within each group is kept


def skip_or_fail(reason: str) -> None:
    """Skip the running test because an optional dependency is missing; under ``PPGRAPH_REQUIRE_EXTRAS=1``, fail it."""
    if os.environ.get("PPGRAPH_REQUIRE_EXTRAS") == "1":
        pytest.fail(f"{reason} (PPGRAPH_REQUIRE_EXTRAS=1: optional dependencies are required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _dot_program(request) -> None:
    """Tests marked ``dot`` need the Graphviz ``dot`` program on the PATH."""
    if request.node.get_closest_marker("dot") is not None and shutil.which("dot") is None:
        skip_or_fail("needs the Graphviz 'dot' program on the PATH (apt-get install graphviz, brew install graphviz, "
                     "or conda install graphviz)")


HEADER = "import jax\nimport jax.numpy as jnp\nimport ppgraph as pg\nfrom ppgraph import dist\n"


def line_of(path: str | Path, snippet: str, *, after: str | None = None, unique: bool = False) -> int:
    r"""1-based number of the first line of ``path`` containing ``snippet``.

    With ``after``, the search starts below the first line containing ``after``
    (e.g. ``after="def my_model("`` when several models share a statement).
    With ``unique``, ``snippet`` must occur on exactly one line of the searched part.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
    ...     _ = f.write("def a():\n    x = 1\ndef b():\n    x = 1\n")
    >>> line_of(f.name, "x = 1"), line_of(f.name, "x = 1", after="def b(")
    (2, 4)
    >>> line_of(f.name, "x = 1", unique=True)
    Traceback (most recent call last):
    AssertionError: 'x = 1' is on several lines of ...: [2, 4]
    """
    lines = Path(path).read_text().splitlines()
    start = 0
    if after is not None:
        start = next((i for i, line in enumerate(lines) if after in line), None)
        if start is None:
            raise AssertionError(f"{after!r} not in {path}")
        start += 1
    found = [number for number, line in enumerate(lines[start:], start=start + 1) if snippet in line]
    if unique and len(found) > 1:
        raise AssertionError(f"{snippet!r} is on several lines of {path}: {found}")
    if found:
        return found[0]
    raise AssertionError(f"{snippet!r} not in {path}" + (f" below {after!r}" if after else ""))


def load_module(path: Path, name: str | None = None) -> ModuleType:
    """Import the Python file ``path`` as a fresh module."""
    name = name or f"_ppgraph_test_module_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def write_models(tmp_path: Path):
    """``write_models(source, header=True) -> (module, path)``: write ``source`` to a file and import it.

    With ``header`` the usual imports (``jax``, ``jnp``, ``pg``, ``dist``) come first:
    they take 4 lines, so line ``k`` of ``source`` is line ``k + 4`` of the file.
    """

    def write(source: str, header: bool = True) -> tuple[ModuleType, Path]:
        path = tmp_path / f"models_{next(_counter)}.py"
        path.write_text((HEADER if header else "") + textwrap.dedent(source))
        return load_module(path), path

    return write
