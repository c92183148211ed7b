"""Predictive metrics of classifiers: accuracy, NLL, Brier score, calibration (ECE, reliability diagram).

Every function takes predictive class probabilities ``probs`` of shape
``(n, num_classes)`` (e.g. the softmax of a network averaged over posterior
draws) and integer ``labels`` of shape ``(n,)``.

``accuracy``
    the fraction of ``argmax(probs) == labels``;
``nll``
    the mean negative log predictive probability of the true label,
    ``-mean(log probs[i, labels[i]])`` (lower is better);
``brier``
    the mean over examples of ``sum_k (probs[i, k] - onehot[i, k]) ** 2``
    (Brier, 1950; between 0 and 2);
``ece``
    the expected calibration error (Guo et al., 2017): the confidence of an
    example is its top-class probability; examples are put in ``num_bins``
    equal-width bins of confidence ``(b / B, (b + 1) / B]`` (the first bin also
    holds 0) and ``ece = sum_b n_b / n * |accuracy_b - confidence_b|``;
``reliability_diagram``
    accuracy against confidence per bin, saved to a file (matplotlib,
    imported only when called).

Examples
--------
>>> import numpy as np
>>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
>>> labels = np.array([0, 1, 1, 1])
>>> accuracy(probs, labels)
0.75
>>> round(nll(probs, labels), 4)   # -(log .9 + log .8 + log .4 + log .7) / 4
0.4004
>>> round(brier(probs, labels), 4)   # (.02 + .08 + .72 + .18) / 4
0.25
>>> round(ece(probs, labels, num_bins=2), 4)   # bins (0.5, 1]: confidences .9 .8 .6 .7, accuracy 3/4
0.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

__all__ = ["accuracy", "nll", "brier", "ece", "calibration_bins", "reliability_diagram"]

_TINY = 1e-12


def _check(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """``probs`` as a float array ``(n, k)`` whose rows sum to 1, ``labels`` as ints ``(n,)`` in range."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2:
        raise ModelError(f"probs must have shape (n, num_classes), got {p.shape}",
                         hint="average the class probabilities over posterior draws first, e.g. probs.mean(axis=0)")
    if y.shape != (p.shape[0],):
        raise ModelError(f"labels must have shape ({p.shape[0]},) to match probs {p.shape}, got {y.shape}")
    if y.dtype.kind not in "iub":
        if not np.all(y == np.round(y)):
            raise ModelError("labels must be integers (class indices)")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ModelError(f"labels must lie in [0, {p.shape[1] - 1}], got values in [{y.min()}, {y.max()}]")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ModelError("probs must be probabilities: non-negative, finite, each row summing to 1",
                         hint="pass jax.nn.softmax(logits, axis=-1), not logits or log-probabilities")
    return p, y.astype(np.int64)


def accuracy(probs: Any, labels: Any) -> float:
    """The fraction of examples whose most probable class is the label."""
    p, y = _check(probs, labels)
    return float(np.mean(np.argmax(p, axis=1) == y))


def nll(probs: Any, labels: Any) -> float:
    """Mean negative log probability of the true label (probabilities clipped at 1e-12)."""
    p, y = _check(probs, labels)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], _TINY))))


def brier(probs: Any, labels: Any) -> float:
    """Mean over examples of the squared distance between ``probs`` and the one-hot label."""
    p, y = _check(probs, labels)
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def calibration_bins(probs: Any, labels: Any, num_bins: int = 10) -> dict[str, np.ndarray]:
    """Per bin of top-class confidence: ``count``, mean ``confidence`` and ``accuracy`` (nan when empty)."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise ModelError(f"num_bins must be a positive int, got {num_bins!r}")
    p, y = _check(probs, labels)
    confidence = p.max(axis=1)
    correct = (np.argmax(p, axis=1) == y).astype(np.float64)
    inner = np.arange(1, num_bins) / num_bins  # bin b is (b / B, (b + 1) / B]: count the edges below
    index = np.searchsorted(inner, confidence, side="left")
    count = np.bincount(index, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(index, weights=confidence, minlength=num_bins) / count
        acc = np.bincount(index, weights=correct, minlength=num_bins) / count
    edges = np.arange(num_bins + 1) / num_bins
    return {"count": count, "confidence": conf, "accuracy": acc, "edges": edges}


def ece(probs: Any, labels: Any, num_bins: int = 10) -> float:
    """Expected calibration error with ``num_bins`` equal-width bins of top-class confidence."""
    bins = calibration_bins(probs, labels, num_bins)
    n = bins["count"].sum()
    full = bins["count"] > 0
    gap = np.abs(bins["accuracy"][full] - bins["confidence"][full])
    return float(np.sum(bins["count"][full] / n * gap))


def reliability_diagram(probs: Any, labels: Any, path: str | Path, *, num_bins: int = 10,
                        title: str | None = None) -> Path:
    """Save a reliability diagram (accuracy against confidence per bin, with the ECE) to ``path``.

    The format follows the suffix (``.png``, ``.svg``, ``.pdf``).  Returns the path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    bins = calibration_bins(probs, labels, num_bins)
    edges = bins["edges"]
    centers = (edges[:-1] + edges[1:]) / 2
    width = 1.0 / num_bins
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    full = bins["count"] > 0
    acc, conf = bins["accuracy"][full], bins["confidence"][full]
    ax.bar(centers[full], acc, width=width * 0.95, color="#4c72b0", label="accuracy")
    ax.bar(centers[full], np.abs(conf - acc), bottom=np.minimum(acc, conf), width=width * 0.95, fill=False,
           edgecolor="#c44e52", hatch="//", label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or f"ECE {ece(probs, labels, num_bins):.3f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
