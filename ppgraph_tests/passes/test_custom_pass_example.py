"""examples/custom_pass.py runs, and tempering by beta = 0.25 widens the posterior by 1/sqrt(beta) = 2."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_pass.py"


def test_custom_pass_example(capsys):
    spec = importlib.util.spec_from_file_location("example_custom_pass", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = module.main(["--quick"])
    text = capsys.readouterr().out
    assert "lp += jnp.sum((0.25 - 1.0) * dist.Normal(intercept + slope * x, noise).log_prob(y))" in text
    # known noise and a vague prior: the tempered posterior sd is 2x (300 draws: a loose band)
    assert out["ratio"] == pytest.approx(2.0, rel=0.2)
    assert float(out[1.0].samples["slope"].mean()) == pytest.approx(2.0, abs=0.3)
