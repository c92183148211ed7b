"""Every script in examples/ runs with small settings (like NumPyro's test_examples.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quickstart(tmp_path, capsys):
    out = load("quickstart").main(["--quick", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "def eight_schools_logpdf(sigma, *, mu, tau, theta_t, y):" in text
    assert out["drawing"].exists() and out["drawing"].stat().st_size > 0
    post = out["posterior"]
    assert post.samples["theta"].shape == (2, 200, 8)
    # eight schools posterior mean of mu is about 4.4 (posteriordb reference): loose sanity bound
    assert 0.0 < float(post.samples["mu"].mean()) < 9.0


def test_eight_schools(tmp_path):
    out = load("eight_schools").main(["--quick", "--out", str(tmp_path)])
    for name in ("centred", "noncentred", "reparameterize_diff"):
        assert (tmp_path / f"eight_schools_{name}.svg").exists()
    assert out["centred"].samples["theta"].shape == out["non-centred"].samples["theta"].shape


def test_logistic_regression():
    out = load("logistic_regression").main(["--quick"])
    beta = np.asarray(out["posterior"].samples["beta"]).mean(axis=(0, 1))
    assert np.corrcoef(beta, np.asarray(out["beta_true"]))[0, 1] > 0.8
    assert out["accuracy"] > 0.6


def test_hierarchical_regression():
    out = load("hierarchical_regression").main(["--quick"])
    b = np.asarray(out["posterior"].samples["mu_b"]).mean()
    assert -3.0 < b < -1.0  # the data were simulated with mu_b = -2


def test_programmatic(capsys):
    out = load("programmatic").main(["--steps", "6"])
    assert set(out["draws"]) == {f"x{i}" for i in range(6)} | {"total"}
    sd = float(out["draws"]["x5"].std())
    assert abs(sd - np.sqrt(1 + 0.25 * 5)) < 0.1


# -- discrete latent variables (summed out for NUTS, then recovered) ------------------------------------
def test_mixture():
    out = load("mixture").main(["--quick"])
    assert out["posterior"].samples["z"].shape == (2, 200, 60)
    assert out["accuracy"] > 0.9  # well-separated components: the labels agree with the simulated ones


def test_change_point():
    out = load("change_point").main(["--quick"])
    switch = np.asarray(out["posterior"].samples["switch"])
    assert abs(np.median(switch) - out["switch_true"]) <= 5


def test_zero_inflated():
    out = load("zero_inflated").main(["--quick"])
    positive = np.asarray(out["counts"]) > 0
    assert np.all(out["p_zero"][positive] == 0.0)  # a positive count is never a structural zero
    assert 0.15 < float(np.asarray(out["posterior"].samples["pi"]).mean()) < 0.45  # simulated with pi = 0.3


def test_hmm():
    out = load("hmm").main(["--quick"])
    assert out["posterior"].samples["states"].shape == (2, 200, 60)
    assert out["accuracy"] > 0.8
