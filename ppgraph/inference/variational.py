"""The variational family of ``pg.fit``: a mean-field Gaussian in unconstrained space.

:class:`MeanFieldPosterior` holds one independent Normal factor per
unconstrained latent node (:func:`ppgraph.passes.to_unconstrained`) and maps
its draws back to the model's constrained latent variables.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ..errors import ModelError
from ..keys import as_key

__all__ = ["MeanFieldPosterior"]


class MeanFieldPosterior:
    """Mean-field Gaussian variational posterior of the latent variables, in unconstrained space.

    Attributes
    ----------
    loc, scale
        Unconstrained node name -> mean / standard deviation array.
    names
        The model's latent variables, as :meth:`sample` returns them.

    Examples
    --------
    ``result.posterior.sample(jax.random.key(1), 1000)["sigma"]`` draws 1000
    values of ``sigma`` (constrained: positive), shape ``(1000, *sigma.shape)``.
    """

    def __init__(
        self,
        loc: dict[str, jax.Array],
        scale: dict[str, jax.Array],
        constrain: Callable[[dict[str, jax.Array]], dict[str, jax.Array]],
        names: tuple[str, ...],
    ) -> None:
        self.loc = dict(loc)
        self.scale = dict(scale)
        self.names = tuple(names)
        self._constrain = constrain

    def sample_unconstrained(self, rng_key: jax.Array | int, num_samples: int) -> dict[str, jax.Array]:
        """``num_samples`` draws of the unconstrained latents (leading axis ``num_samples``)."""
        keys = jax.random.split(as_key(rng_key), max(len(self.loc), 1))
        return {
            name: self.loc[name] + self.scale[name] * jax.random.normal(k, (num_samples, *jnp.shape(self.loc[name])))
            for k, name in zip(keys, self.loc)
        }

    def sample(self, rng_key: jax.Array | int, num_samples: int) -> dict[str, jax.Array]:
        """Draw ``num_samples`` joint values of the latent variables (constrained, leading axis ``num_samples``).

        ``rng_key`` is a ``jax.random`` key or an ``int`` seed.
        """
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ModelError(f"num_samples must be a positive int, got {num_samples!r}")
        if not self.names:
            return {}
        draws = self.sample_unconstrained(rng_key, num_samples)
        return jax.vmap(self._constrain)(draws)

    def median(self) -> dict[str, jax.Array]:
        """The posterior median of every latent (the constrained variational mean)."""
        if not self.names:
            return {}
        return self._constrain(self.loc)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {tuple(jnp.shape(v))}" for n, v in self.loc.items())
        return f"MeanFieldPosterior({shapes})"

