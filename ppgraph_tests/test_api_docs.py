"""docs/api.md is generated from the docstrings and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_is_current():
    spec = importlib.util.spec_from_file_location("make_api_docs", ROOT / "tools" / "make_api_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "docs" / "api.md").read_text()
    assert committed == module.render(), "docs/api.md is stale: run `python tools/make_api_docs.py`"


def test_every_public_name_is_documented():
    import ppgraph

    text = (ROOT / "docs" / "api.md").read_text()
    for name in ppgraph.__all__:
        if name in {"__version__", "dist", "nn", "ir"}:
            continue
        assert f"### `{name}" in text, name
