"""examples/bnn_digits.py runs with small settings (--quick) and learns something."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_digits.py"


def _load():
    spec = importlib.util.spec_from_file_location("example_bnn_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_bnn_digits_quick(capsys):
    out = _load().main(["--quick"])
    text = capsys.readouterr().out
    assert "pg.fit MLP" in text and "NUTS hierarchical BNN" in text
    # small settings: well above chance (0.1) for both parts; the full settings reach >= 0.95 / > 0.90
    assert out["fit"]["accuracy"] > 0.85
    assert out["nuts"]["accuracy"] > 0.5
    temperature = out["fit"]["result"].posterior.sample(__import__("jax").random.key(0), 10)["temperature"]
    assert temperature.shape == (10,) and bool((temperature > 0).all())
    assert out["nuts"]["posterior"].samples["scale"].shape == (1, 100)
