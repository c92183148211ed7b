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


FLAX_EXAMPLE = EXAMPLE.parent / "bnn_flax_digits.py"


@pytest.mark.slow
def test_bnn_flax_digits_quick(tmp_path, capsys):
    """examples/bnn_flax_digits.py: MAP, last-layer NUTS, SGHMC and Laplace with small settings."""
    try:
        import flax.nnx  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        from ppgraph_tests.conftest import skip_or_fail

        skip_or_fail(f"flax is not installed ({err})")
    spec = importlib.util.spec_from_file_location("example_bnn_flax_digits", FLAX_EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = module.main(["--quick", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    rows = out["rows"]
    assert list(rows) == ["MAP", "Last-layer NUTS", "SGHMC", "Laplace"]
    for name, row in rows.items():
        assert row["diagram"].exists() and row["diagram"].stat().st_size > 0
        assert name in text
        assert 0.0 <= row["ece"] <= 1.0 and row["nll"] > 0.0
    # small settings: well above chance (0.1); the full settings reach >= 0.95 for every method
    assert rows["MAP"]["accuracy"] > 0.85 and rows["Laplace"]["accuracy"] > 0.85
    assert rows["Last-layer NUTS"]["accuracy"] > 0.8 and rows["SGHMC"]["accuracy"] > 0.5
    assert out["sghmc"].samples["net"].body.kernel[...].shape[:2] == (2, 20)   # a batched MLP: chains x draws
