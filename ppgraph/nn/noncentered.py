"""Non-centred weight priors: ``weights = loc + scale * standard draws``.

``nn.NonCentered(layer)`` is the same distribution over functions as ``layer``,
written in terms of standardised weights ``z``: for a weight with prior
``Normal(loc, scale)`` the layer's value is ``z ~ Normal(0, 1)`` (elementwise) and
the network computes with ``loc + scale * z``.  Hierarchical priors
(``Normal(0., scale)`` with a latent ``scale``) then lose the funnel that makes
NUTS struggle.  Loc-scale families: Normal, Cauchy, Laplace, Logistic,
StudentT (``df`` kept on the standard variable).

The :func:`ppgraph.passes.reparameterize` pass applies this to layer nodes
(registered here): ``net <~ S`` becomes ``net_decentered <~ nn.NonCentered(S)``
plus ``net = net_decentered.centered()`` (a network with the actual weights).

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from ppgraph import dist, nn
>>> layer = nn.NonCentered(nn.Dense(2, dist.Normal(1.0, 3.0)))
>>> z = {"kernel": jnp.ones((4, 2)), "bias": jnp.zeros(2)}
>>> net = layer.network(z)
>>> net.weights["kernel"][0].tolist(), net.__ppgraph_weights__() is z
([4.0, 4.0], True)
>>> float(layer.log_prob(z)) == float(dist.Normal(0.0, 1.0).log_prob(jnp.ones(8)).sum() + dist.Normal(0.0, 1.0).log_prob(jnp.zeros(2)).sum())
True
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from .. import dist as pg_dist
from ..errors import ModelError
from .base import TRAINABLE, Layer, Path, weights_of, path_str, tree_build, tree_get

__all__ = ["NonCentered", "standardize"]

_FAMILIES = (pg_dist.Normal, pg_dist.Cauchy, pg_dist.Laplace, pg_dist.Logistic, pg_dist.StudentT)


def standardize(prior: Any, layer: str = "layer", weight: str = "weight") -> tuple[Any, Any, Any]:
    """``(standard prior, loc, scale)`` of a loc-scale prior; a ModelError for other families.

    >>> from ppgraph import dist
    >>> std, loc, scale = standardize(dist.Normal(2.0, 0.5))
    >>> type(std).__name__, float(std.loc), float(std.scale), loc, scale
    ('Normal', 0.0, 1.0, 2.0, 0.5)
    """
    if type(prior) not in _FAMILIES:
        raise ModelError(
            f"layer {layer}: the prior of weight '{weight}' is a {type(prior).__name__}, "
            "which has no non-centred form",
            hint="non-centring needs a loc-scale prior (Normal, Cauchy, Laplace, Logistic, StudentT); "
            "leave this layer out of reparameterize(names=...)",
        )
    if isinstance(prior, pg_dist.StudentT):
        std = pg_dist.StudentT(prior.df, 0.0, 1.0)
    else:
        std = type(prior)(0.0, 1.0)
    batch = tuple(prior.batch_shape)
    if tuple(std.batch_shape) != batch:
        std = std.expand(batch)
    return std, prior.loc, prior.scale


class NonCentered(Layer):
    """A layer whose value is its standardised weights (see the module docstring).

    Parameters
    ----------
    layer
        A layer whose weight priors are loc-scale families (or trainable).
    """

    def __init__(self, layer: Any) -> None:
        if not isinstance(layer, Layer):
            raise ModelError(f"NonCentered needs a ppgraph layer, got {type(layer).__name__}")
        if isinstance(layer, NonCentered):
            layer = layer.layer
        self.layer = layer
        super().__init__()

    def describe(self) -> str:
        return f"NonCentered({self.layer.describe()})"

    def shapes(self, input_shape: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
        return self.layer.shapes(input_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.layer.shapes(input_shape)[1]

    def priors(self, weight_shapes: Any) -> Any:
        inner = self.layer.priors(weight_shapes)

        def standard(path: Path, prior: Any) -> Any:
            if isinstance(prior, str):
                return TRAINABLE
            return standardize(prior, self.describe(), path_str(path))[0]

        return tree_build(inner, standard)

    def centre(self, z: Any) -> Any:
        """The actual weights ``loc + scale * z`` for standardised weights ``z``."""
        z = weights_of(z)
        shapes = tree_build(z, lambda path, w: w)
        inner = self.layer.priors(shapes)

        def affine(path: Path, value: Any) -> Any:
            prior = tree_get(inner, path)
            if isinstance(prior, str):
                return value
            _, loc, scale = standardize(prior, self.describe(), path_str(path))
            return jnp.asarray(loc) + jnp.asarray(scale) * value

        return tree_build(z, affine)

    def _init_leaf(self, path: Path, key: Any, shape: tuple[int, ...]) -> Any:
        return self.layer._init_leaf(path, key, shape)

    def apply(self, weights: Any, x: Any) -> Any:
        return self.layer.apply(self.centre(weights), x)

    forward = apply

    def network(self, weights: Any, input_shape: tuple[int, ...] | None = None, *, name: str | None = None) -> Any:
        from .network import Network

        z = weights_of(weights)
        if input_shape is not None:
            self.layer.check_weights(z, input_shape, name=name)
        return Network(self.layer.without_priors(), self.centre(z), name=name, raw=z)
