"""Checks that a ported model has the log density of an independent oracle.

A port's whole log density at a point far from the posterior can be 1e4-1e8 in
magnitude, so a relative tolerance on it hides errors of several nats (a wrong
prior).  These checks avoid that:

- points are drawn near a reference posterior (:func:`points_near`): the
  reference means plus noise of half a reference sd (in unconstrained space);
- the log density is compared **term by term** (:func:`compare_terms`): each
  random node's (or factor's) log density against the oracle's site of the same
  name.  Prior terms are a few nats, so a changed prior scale or location moves
  its term by far more than the tolerance;
- whole log densities are compared as **differences between pairs of points**
  (:func:`compare_differences`), which cancel the large constant of the
  likelihood.

The oracle is a NumPyro model written by hand (or any function returning
per-site log densities) and is evaluated in float64 at the same (rounded)
values as the port, so only the port's own arithmetic error remains.

Examples
--------
>>> compare_terms({"a": -1.0, "b": 2.0}, {"a": -1.0, "b": 2.5}, rtol=1e-5, atol=1e-4)
["term 'b': port 2 vs oracle 2.5 (difference 0.5, tolerance 0.000125)"]
>>> compare_terms({"a": -1.0}, {"a": -1.0, "c": 0.0}, rtol=1e-5, atol=1e-4)[0].startswith("terms differ")
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.initialization import init_to_uniform

__all__ = [
    "Tolerance",
    "FLOAT32",
    "FLOAT64",
    "as_float64",
    "oracle_terms",
    "oracle_latents",
    "points_near",
    "compare_terms",
    "compare_differences",
]

Tolerance = tuple[float, float]
"""``(rtol, atol)``: a value passes when ``|port - oracle| <= rtol * |oracle| + atol``."""

# Float32 arithmetic on terms of up to ~1e4 in magnitude: the ports stay within ~1e-6 relative
# (measured); a changed prior moves its term by >= 1e-2 nats.
FLOAT32: Tolerance = (2e-5, 2e-4)
FLOAT64: Tolerance = (1e-9, 1e-9)


def as_float64(values: Mapping[str, Any]) -> dict[str, Any]:
    """Floating arrays as numpy float64 (values already rounded stay rounded); others unchanged."""
    out = {}
    for k, v in values.items():
        if isinstance(v, (np.ndarray, jax.Array)) and jnp.issubdtype(np.asarray(v).dtype, jnp.floating):
            out[k] = np.asarray(v, dtype=np.float64)
        else:
            out[k] = v
    return out


def oracle_terms(oracle: Callable[..., None], data: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, float]:
    """Per-site log densities (``sum`` over the site) of a NumPyro model, in float64.

    ``data`` are the oracle's keyword arguments (observed values included),
    ``values`` its latent values; ``numpyro.factor`` sites give their factor.
    """
    with jax.enable_x64(True):
        model = handlers.substitute(handlers.seed(oracle, 0), data=as_float64(values))
        trace = handlers.trace(model).get_trace(**as_float64(data))
        return {
            name: float(jnp.sum(site["fn"].log_prob(site["value"])))
            for name, site in trace.items()
            if site["type"] == "sample"
        }


def oracle_latents(oracle: Callable[..., None], data: Mapping[str, Any]) -> dict[str, tuple[Any, tuple[int, ...]]]:
    """``{name: (support, shape)}`` of the oracle's latent sample sites."""
    with jax.enable_x64(True):
        seeded = handlers.substitute(handlers.seed(oracle, 0), substitute_fn=init_to_uniform)
        trace = handlers.trace(seeded).get_trace(**as_float64(data))
    return {
        name: (site["fn"].support, tuple(np.shape(site["value"])))
        for name, site in trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    }


def points_near(
    latents: Mapping[str, tuple[Any, tuple[int, ...]]],
    reference: Mapping[str, tuple[np.ndarray, np.ndarray]],
    seed: int,
    n: int = 3,
    spread: float = 0.5,
) -> list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """``n`` (unconstrained, constrained) points near a reference posterior, float64.

    For a latent with a reference ``(mean, sd)`` (arrays of its shape), the point is
    ``T(T^{-1}(mean) + spread * eps * |dT^{-1}(mean)[sd]|)`` with ``T =
    biject_to(support)`` and ``eps`` standard normal: about ``spread`` reference
    sds from the mean, always inside the support.  Latents without a reference
    (standardised helpers such as ``theta_trans``) get standard normal draws in
    unconstrained space.
    """
    rng = np.random.default_rng(seed)
    points = []
    with jax.enable_x64(True):
        for _ in range(n):
            z, x = {}, {}
            for name, (support, shape) in latents.items():
                t = biject_to(support)
                if name in reference:
                    mean, sd = (jnp.asarray(np.broadcast_to(a, shape), dtype=jnp.float64) for a in reference[name])
                    z0, dz = jax.jvp(t.inv, (mean,), (sd,))
                    scale = jnp.maximum(jnp.abs(dz), 1e-6)
                    zi = z0 + spread * scale * rng.standard_normal(z0.shape)
                else:
                    zi = jnp.asarray(rng.standard_normal(t.inverse_shape(shape)))
                z[name] = np.asarray(zi)
                x[name] = np.asarray(t(zi))
            points.append((z, x))
    return points


def _passes(got: float, expected: float, tol: Tolerance) -> tuple[bool, float]:
    bound = tol[0] * abs(expected) + tol[1]
    return bool(np.isfinite(got) and abs(got - expected) <= bound), bound


def compare_terms(
    port: Mapping[str, float],
    oracle: Mapping[str, float],
    *,
    rtol: float,
    atol: float,
    offsets: Mapping[str, float] | None = None,
) -> list[str]:
    """Failures (empty: all pass) of a per-term comparison; ``port[k] - offsets[k]`` vs ``oracle[k]``."""
    offsets = offsets or {}
    if set(port) != set(oracle):
        return [f"terms differ: port has {sorted(set(port) - set(oracle))}, oracle has {sorted(set(oracle) - set(port))}"]
    failures = []
    for name in oracle:
        got, expected = float(port[name]) - offsets.get(name, 0.0), float(oracle[name])
        ok, bound = _passes(got, expected, (rtol, atol))
        if not ok:
            failures.append(
                f"term {name!r}: port {got:.6g} vs oracle {expected:.6g} "
                f"(difference {abs(got - expected):.3g}, tolerance {bound:.3g})"
            )
    return failures


def compare_differences(port: list[float], oracle: list[float], *, rtol: float, atol: float) -> list[str]:
    """Failures of ``lp(x_i) - lp(x_0)`` (port) against the oracle's, for every point ``i > 0``.

    The tolerance scales with the magnitudes of both log densities (their rounding
    errors do not cancel): ``rtol * (|lp_i| + |lp_0|) + atol``.
    """
    failures = []
    for i in range(1, len(oracle)):
        got, expected = float(port[i]) - float(port[0]), float(oracle[i]) - float(oracle[0])
        bound = rtol * (abs(float(oracle[i])) + abs(float(oracle[0]))) + atol
        if not (np.isfinite(got) and abs(got - expected) <= bound):
            failures.append(
                f"lp(point {i}) - lp(point 0): port {got:.6g} vs oracle {expected:.6g} "
                f"(difference {abs(got - expected):.3g}, tolerance {bound:.3g})"
            )
    return failures
