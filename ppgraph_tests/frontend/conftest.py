"""Fixtures of the front-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import ppgraph as pg


@pytest.fixture
def bad(write_models, tmp_path):
    """``bad(source) -> (error, path)``: applying ``@pg.model`` in ``source`` must fail to parse."""

    def run(source: str) -> tuple[pg.ModelError, Path]:
        before = set(tmp_path.glob("models_*.py"))
        with pytest.raises(pg.ModelError) as info:
            write_models(source)
        (path,) = set(tmp_path.glob("models_*.py")) - before
        return info.value, path

    return run
