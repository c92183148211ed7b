"""ppgraph.metrics against hand computations: plain Python loops over examples and bins, written
from the definitions, independent of the vectorised implementation."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ppgraph as pg
from ppgraph import metrics


def random_problem(seed: int, n: int = 200, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, k))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, k, size=n)
    return probs, labels


def loop_accuracy(probs, labels) -> float:
    hits = 0
    for p, y in zip(probs, labels):
        best = max(range(len(p)), key=lambda j: p[j])
        hits += best == y
    return hits / len(labels)


def loop_nll(probs, labels) -> float:
    return -sum(math.log(p[y]) for p, y in zip(probs, labels)) / len(labels)


def loop_brier(probs, labels) -> float:
    total = 0.0
    for p, y in zip(probs, labels):
        total += sum((p[j] - (1.0 if j == y else 0.0)) ** 2 for j in range(len(p)))
    return total / len(labels)


def loop_ece(probs, labels, num_bins: int) -> float:
    """Bins (b/B, (b+1)/B] of the top-class probability (0 goes to the first bin)."""
    members = [[] for _ in range(num_bins)]
    for p, y in zip(probs, labels):
        confidence = max(p)
        predicted = list(p).index(confidence)
        b = 0
        while b < num_bins - 1 and confidence > (b + 1) / num_bins:
            b += 1
        members[b].append((confidence, predicted == y))
    total = 0.0
    for bin_ in members:
        if bin_:
            acc = sum(c for _, c in bin_) / len(bin_)
            conf = sum(p for p, _ in bin_) / len(bin_)
            total += len(bin_) / len(labels) * abs(acc - conf)
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_loops(seed):
    probs, labels = random_problem(seed)
    assert metrics.accuracy(probs, labels) == pytest.approx(loop_accuracy(probs, labels), abs=1e-12)
    assert metrics.nll(probs, labels) == pytest.approx(loop_nll(probs, labels), rel=1e-10)
    assert metrics.brier(probs, labels) == pytest.approx(loop_brier(probs, labels), rel=1e-10)
    for bins in (1, 5, 10, 15):
        assert metrics.ece(probs, labels, num_bins=bins) == pytest.approx(loop_ece(probs, labels, bins), abs=1e-12)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), k=st.integers(2, 5), bins=st.integers(1, 12))
def test_ece_property(seed, n, k, bins):
    probs, labels = random_problem(seed, n, k)
    got = metrics.ece(probs, labels, num_bins=bins)
    assert got == pytest.approx(loop_ece(probs, labels, bins), abs=1e-12)
    assert 0.0 <= got <= 1.0


def test_hand_values():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.55, 0.45], [0.2, 0.8]])
    labels = np.array([0, 0, 0, 1])
    # predictions 0, 1, 0, 1: three right
    assert metrics.accuracy(probs, labels) == 0.75
    assert metrics.nll(probs, labels) == pytest.approx(-(np.log(0.9) + np.log(0.4) + np.log(0.55) + np.log(0.8)) / 4)
    assert metrics.brier(probs, labels) == pytest.approx((0.02 + 0.72 + 0.405 + 0.08) / 4)
    # two bins: (0, .5] empty; (.5, 1] holds confidences .9 .6 .55 .8 with accuracy 3/4
    assert metrics.ece(probs, labels, num_bins=2) == pytest.approx(abs(0.75 - (0.9 + 0.6 + 0.55 + 0.8) / 4))
    # ten bins: .55 -> (.5, .6]: wrong? no, right (label 0): |1 - .55|; .6 -> (.5, .6]: wrong
    bins = metrics.calibration_bins(probs, labels, num_bins=10)
    assert list(bins["count"]) == [0, 0, 0, 0, 0, 2, 0, 1, 1, 0]


def test_perfect_calibration_has_zero_ece():
    probs = np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5)
    labels = np.array([0] * 5 + [1] * 5)
    assert metrics.ece(probs, labels) == 0.0
    assert metrics.brier(probs, labels) == 0.0


def test_reliability_diagram(tmp_path):
    probs, labels = random_problem(0)
    path = metrics.reliability_diagram(probs, labels, tmp_path / "reliability.png")
    assert path.exists() and path.stat().st_size > 1000


def test_import_is_light():
    import subprocess

    code = "import sys, ppgraph.metrics; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("probs, labels, match", [
    (np.ones(3) / 3, np.array([0]), r"shape \(n, num_classes\)"),
    (np.full((2, 2), 0.5), np.array([0, 1, 1]), "labels must have shape"),
    (np.full((2, 2), 0.5), np.array([0, 2]), r"labels must lie in \[0, 1\]"),
    (np.full((2, 2), 0.5), np.array([0.5, 1.0]), "labels must be integers"),
    (np.array([[2.0, -1.0], [0.5, 0.5]]), np.array([0, 1]), "probs must be probabilities"),
    (np.array([[0.3, 0.3], [0.5, 0.5]]), np.array([0, 1]), "probs must be probabilities"),
])
def test_bad_input(probs, labels, match):
    with pytest.raises(pg.ModelError, match=match):
        metrics.nll(probs, labels)


def test_bad_num_bins():
    with pytest.raises(pg.ModelError, match="num_bins must be a positive int"):
        metrics.ece(*random_problem(0), num_bins=0)
