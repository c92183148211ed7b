"""Random keys: every public function that takes an rng key also takes an ``int`` seed.

Examples
--------
>>> import jax
>>> key = as_key(0)
>>> bool(jax.numpy.all(jax.random.key_data(key) == jax.random.key_data(jax.random.key(0))))
True
>>> as_key(jax.random.key(3)) is not None
True
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from .errors import ModelError

__all__ = ["as_key"]


def as_key(seed: Any, *, name: str = "rng_key") -> jax.Array:
    """A ``jax.random`` key for an ``int`` seed (as PyMC's ``random_seed``) or a key.

    Parameters
    ----------
    seed
        A non-negative Python/NumPy integer, a typed key (``jax.random.key``) or a
        raw ``uint32[2]`` key (``jax.random.PRNGKey``).
    name
        The parameter's name, for the error message.

    Raises
    ------
    ModelError
        For anything else (a float, a negative seed, a batch of keys).
    """
    if isinstance(seed, (bool, np.bool_)):
        raise ModelError(f"{name} must be an int seed or a jax.random key, got {seed!r}",
                         hint="pass e.g. 0 or jax.random.key(0)")
    if isinstance(seed, (int, np.integer)):
        if seed < 0:
            raise ModelError(f"{name}: a seed must be a non-negative int, got {seed}",
                             hint="pass e.g. 0 or jax.random.key(0)")
        return jax.random.key(int(seed))
    if isinstance(seed, jax.Array) or hasattr(seed, "dtype"):
        if jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key):
            if seed.shape != ():
                raise ModelError(f"{name} must be one key, got a batch of keys of shape {seed.shape}",
                                 hint="pick one, e.g. keys[0]")
            return seed
        if np.shape(seed) == (2,) and np.dtype(seed.dtype) == np.uint32:
            return jax.random.wrap_key_data(jax.numpy.asarray(seed))
    raise ModelError(
        f"{name} must be an int seed or a jax.random key, got {type(seed).__name__}"
        + (f" {seed!r}" if isinstance(seed, (float, str)) else ""),
        hint="pass e.g. 0 or jax.random.key(0)",
    )
