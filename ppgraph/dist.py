"""Distributions for ``x <~ Dist(...)``: NumPyro's, plus a few ppgraph adds.

Everything in ``numpyro.distributions`` is available here under the same name
(``dist.Normal``, ``dist.Dirichlet``, ``dist.LKJCholesky``, ...), with NumPyro's
batch-shape broadcasting and ``.expand(shape)``.  Any subclass of
``numpyro.distributions.Distribution`` works after ``<~`` too.

ppgraph adds:

``Flat(batch_shape=())``
    improper flat prior on the real line (``ImproperUniform(real, ...)``);
``HalfFlat(batch_shape=())``
    improper flat prior on the positive reals;
``Unconstrained(base)``
    ``base`` moved to unconstrained space by ``biject_to(base.support)``: its
    log density includes the log-det-Jacobian.  The ``to_unconstrained`` pass
    rewrites constrained random variables into these.

Examples
--------
>>> import jax.numpy as jnp
>>> from ppgraph import dist
>>> d = Unconstrained(dist.Exponential(1.0))
>>> float(d.log_prob(jnp.log(2.0)))  # log p(2) + log|d exp(u)/du| = -2 + log 2
-1.306852...
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as _nd
from numpyro.distributions import *  # noqa: F401,F403  (the public re-export)
from numpyro.distributions import constraints, transforms
from numpyro.distributions.transforms import biject_to
from numpyro.distributions.util import sum_rightmost

__all__ = list(_nd.__all__) + [
    "Flat",
    "HalfFlat",
    "Unconstrained",
    "constraints",
    "transforms",
    "biject_to",
    "is_distribution",
    "is_discrete",
]


def Flat(batch_shape: tuple[int, ...] = (), event_shape: tuple[int, ...] = ()) -> _nd.ImproperUniform:
    """Improper flat prior on the real line (log density 0)."""
    return _nd.ImproperUniform(constraints.real, tuple(batch_shape), tuple(event_shape))


def HalfFlat(batch_shape: tuple[int, ...] = (), event_shape: tuple[int, ...] = ()) -> _nd.ImproperUniform:
    """Improper flat prior on the positive reals (log density 0)."""
    return _nd.ImproperUniform(constraints.positive, tuple(batch_shape), tuple(event_shape))


Flat.support = constraints.real  # type: ignore[attr-defined]  (read by to_unconstrained)
HalfFlat.support = constraints.positive  # type: ignore[attr-defined]


class Unconstrained(_nd.Distribution):
    """``base`` pushed to unconstrained space by ``T = biject_to(base.support)``.

    ``log_prob(u) = base.log_prob(T(u)) + log|det dT/du|``; ``sample`` draws from
    ``base`` and applies ``T^{-1}``; ``constrain(u)`` is ``T(u)``.
    """

    arg_constraints: dict = {}
    support = constraints.real  # per instance: real with the right event dimension
    pytree_data_fields = ("base", "transform")

    def __init__(self, base: _nd.Distribution, *, validate_args: bool | None = None) -> None:
        if not isinstance(base, _nd.Distribution):
            raise TypeError(f"Unconstrained needs a distribution, got {type(base).__name__}")
        if getattr(base.support, "is_discrete", False):
            raise TypeError(
                f"{type(base).__name__} is discrete: it has no unconstrained form "
                "(observe it, or marginalise it out with pg.factor)"
            )
        self.base = base
        self.transform = biject_to(base.support)
        batch_shape = base.batch_shape
        constrained_shape = base.batch_shape + base.event_shape
        unconstrained_shape = self.transform.inverse_shape(constrained_shape)
        event_shape = tuple(unconstrained_shape[len(batch_shape):])
        self.support = constraints.independent(constraints.real, len(event_shape))
        super().__init__(batch_shape=batch_shape, event_shape=event_shape, validate_args=validate_args)

    def constrain(self, value: jax.Array) -> jax.Array:
        """The constrained value ``T(u)``."""
        return self.transform(value)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        return self.transform.inv(self.base.sample(key, sample_shape))

    def log_prob(self, value: jax.Array) -> jax.Array:
        x = self.transform(value)
        lp = self.base.log_prob(x)
        ldj = self.transform.log_abs_det_jacobian(value, x)
        return lp + sum_rightmost(ldj, jnp.ndim(ldj) - jnp.ndim(lp))


def is_distribution(obj: object) -> bool:
    """Whether ``obj`` is a distribution class or instance usable after ``<~``."""
    if isinstance(obj, type):
        return issubclass(obj, _nd.Distribution)
    return isinstance(obj, _nd.Distribution)


def is_discrete(d: _nd.Distribution) -> bool:
    """Whether ``d`` has a discrete support."""
    return bool(getattr(d.support, "is_discrete", False))
