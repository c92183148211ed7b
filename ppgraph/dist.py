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
``DiscreteMarkovChain(initial_probs, transition_probs, num_steps)``
    a Markov chain over the states ``0..K-1``: its value is an int array of
    shape ``(num_steps,)`` (``ppgraph.passes.marginalize`` sums it out by the
    forward algorithm);
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
import numpy as _np
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
    "support_is_discrete",
    "DiscreteMarkovChain",
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
        if support_is_discrete(base.support):
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
    return support_is_discrete(d.support)


def support_is_discrete(support: object) -> bool:
    """Whether a support constraint is discrete; ``False`` where that is not known statically.

    NumPyro's ``constraints.dependent`` (e.g. the support of ``ImproperUniform`` written
    as a class attribute) raises ``NotImplementedError`` for ``is_discrete``.

    >>> support_is_discrete(constraints.nonnegative_integer), support_is_discrete(constraints.dependent)
    (True, False)
    """
    try:
        return bool(getattr(support, "is_discrete", False))
    except NotImplementedError:
        return False


class DiscreteMarkovChain(_nd.Distribution):
    """A Markov chain on the states ``0..K-1`` observed for ``num_steps`` steps.

    The value is an integer array of shape ``(num_steps,)``: the first state
    has probabilities ``initial_probs`` (shape ``(K,)``), each next state
    ``transition_probs[previous]`` (shape ``(K, K)``, rows sum to one).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> chain = DiscreteMarkovChain(jnp.array([0.5, 0.5]), jnp.array([[0.9, 0.1], [0.2, 0.8]]), 4)
    >>> float(chain.log_prob(jnp.array([0, 0, 1, 1])))  # log(0.5 * 0.9 * 0.1 * 0.8)
    -3.324236...
    >>> chain.sample(jax.random.key(0), (2,)).shape
    (2, 4)
    """

    arg_constraints = {
        "initial_probs": constraints.simplex,
        "transition_probs": constraints.independent(constraints.simplex, 1),
    }
    pytree_data_fields = ("initial_probs", "transition_probs")
    pytree_aux_fields = ("num_steps",)

    def __init__(self, initial_probs, transition_probs, num_steps: int, *, validate_args: bool | None = None) -> None:
        initial_probs = jnp.asarray(initial_probs)
        transition_probs = jnp.asarray(transition_probs)
        k = initial_probs.shape[-1] if initial_probs.ndim else 0
        if initial_probs.ndim != 1 or transition_probs.shape != (k, k):
            raise ValueError(
                "DiscreteMarkovChain needs initial_probs of shape (K,) and transition_probs of shape (K, K), "
                f"got {initial_probs.shape} and {transition_probs.shape}"
            )
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
        if not isinstance(transition_probs, jax.core.Tracer):
            rows = _np.sum(_np.asarray(transition_probs), axis=-1)
            if not bool(_np.all(_np.abs(rows - 1.0) < 1e-4)):
                raise ValueError(f"the rows of transition_probs must sum to one, their sums are {rows.tolist()}")
        self.initial_probs = initial_probs
        self.transition_probs = transition_probs
        self.num_steps = num_steps
        super().__init__(batch_shape=(), event_shape=(num_steps,), validate_args=validate_args)

    @property
    def num_states(self) -> int:
        """The number of states K."""
        return self.initial_probs.shape[-1]

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return constraints.independent(constraints.integer_interval(0, self.num_states - 1), 1)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        shape = tuple(sample_shape) + self.batch_shape
        first_key, rest_key = jax.random.split(key)
        log_init = jnp.log(self.initial_probs)
        log_trans = jnp.log(self.transition_probs)
        first = jax.random.categorical(first_key, log_init, shape=shape)

        def step(state, k):
            state = jax.random.categorical(k, log_trans[state])
            return state, state

        keys = jax.random.split(rest_key, self.num_steps - 1) if self.num_steps > 1 else jnp.zeros((0,))
        if self.num_steps == 1:
            return first[..., None]
        _, rest = jax.lax.scan(step, first, keys)
        return jnp.concatenate([first[..., None], jnp.moveaxis(rest, 0, -1)], axis=-1)

    def log_prob(self, value: jax.Array) -> jax.Array:
        value = jnp.asarray(value)
        lp = jnp.log(self.initial_probs)[value[..., 0]]
        if self.num_steps > 1:
            lp = lp + jnp.sum(jnp.log(self.transition_probs)[value[..., :-1], value[..., 1:]], axis=-1)
        return lp
