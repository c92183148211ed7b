"""Shared fixtures of the ppgraph test suite.

``write_models`` writes model source to a module file and imports it: the parser
reads models with ``inspect.getsource``, so models in tests must live in files.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `import ppgraph_tests.strategies` also under plain `pytest`
    sys.path.insert(0, str(ROOT))

_counter = itertools.count()

HEADER = "import jax\nimport jax.numpy as jnp\nimport ppgraph as pg\nfrom ppgraph import dist\n"


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
