"""Sampled networks: a layer plus concrete weights, callable on inputs.

A :class:`Network` is what a ``Layer`` node's value looks like to the rest of a
model (``logits = net(x)``) and to users (``pg.sample_forward(...)["net"]``).
It is a registered JAX pytree: the weights are its leaves and the layer's
architecture is static aux data, so networks pass through ``jax.jit``,
``jax.vmap`` and ``jax.grad``.

Batched networks
----------------
``pg.sample_forward(model, key, num_samples=n)["net"]`` is *one* network whose
weights have a leading axis of size ``n`` (``net.batch_shape == (n,)``).
Calling it maps over those axes (``net(x)`` has shape ``(n, *out)``);
``net[i]`` (or ``net.unbatch(i)``) is the ``i``-th network.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from ppgraph import dist, nn
>>> layer = nn.Dense(3, dist.Normal(0.0, 1.0))
>>> net = layer.sample(jax.random.key(0), (5, 2))
>>> sorted(net.weights), net(jnp.ones((5, 2))).shape
(['bias', 'kernel'], (5, 3))
>>> jax.jit(lambda n, x: n(x))(net, jnp.ones((5, 2))).shape
(5, 3)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ShapeError
from .trees import path_str, tree_items

__all__ = ["Network"]


@jax.tree_util.register_pytree_node_class
class Network:
    """A layer with concrete weights: callable, jit-able, a pytree.

    Parameters
    ----------
    layer
        The layer object (its architecture; priors are not used by the network).
    weights
        The weights pytree (see :mod:`ppgraph.nn.base` for the layout).
    name
        The layer node's name, for error messages.
    raw
        For reparameterised layers (:class:`~ppgraph.nn.NonCentered`): the node's
        value (standard-normal weights) when it differs from ``weights``.

    Attributes
    ----------
    weights
        The weights pytree (nested dicts of arrays).
    """

    def __init__(self, layer: Any, weights: Any, *, name: str | None = None, raw: Any = None) -> None:
        self.layer = layer
        self.weights = weights
        self.name = name
        self.raw = raw
        self._unbatched = _shapes(weights)

    # -- pytree ------------------------------------------------------------------------------------
    def tree_flatten(self) -> tuple[tuple[Any, Any], tuple[Any, ...]]:
        return (self.weights, self.raw), (self.layer, self.name, self._unbatched)

    @classmethod
    def tree_unflatten(cls, aux: tuple[Any, ...], children: tuple[Any, Any]) -> "Network":
        net = object.__new__(cls)
        net.layer, net.name, net._unbatched = aux
        net.weights, net.raw = children
        return net

    # -- ppgraph protocol --------------------------------------------------------------------------
    def __ppgraph_weights__(self) -> Any:
        """The value of the layer node (what ``pg.logpdf`` and ``observe`` take)."""
        return self.weights if self.raw is None else self.raw

    def centered(self) -> "Network":
        """The network with its actual weights only (drops the standardised weights of a non-centred layer).

        Layers whose samples are objects of their own (lifted flax / equinox modules,
        ``own_samples = True``) give one of those.
        """
        if getattr(self.layer, "own_samples", False):
            return self.layer.network(self.weights, name=self.name)
        return Network.tree_unflatten((self.layer, self.name, self._unbatched), (self.weights, None))

    # -- batching ----------------------------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes of the weights beyond one network's weights (``()`` for a single network)."""
        for path, shape in self._unbatched:
            leaf = dict(tree_items(self.weights)).get(path)
            if leaf is not None and hasattr(leaf, "shape"):
                return tuple(leaf.shape[: len(leaf.shape) - len(shape)])
        return ()

    def unbatch(self, index: Any) -> "Network":
        """The network at ``index`` of the batch axes."""
        if not self.batch_shape:
            raise IndexError("this network is not batched (it holds the weights of one network)")
        return jax.tree_util.tree_map(lambda leaf: leaf[index], self)

    __getitem__ = unbatch

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        # Without this, numpy would treat a batched network as a nested sequence (it has
        # __len__ and __getitem__) and recurse through every network of the batch.
        raise TypeError("a network is not an array: use its .weights (a pytree of arrays)")

    def __len__(self) -> int:
        batch = self.batch_shape
        if not batch:
            raise TypeError("a single network has no len(); batched networks have a leading axis")
        return batch[0]

    # -- calling -----------------------------------------------------------------------------------
    def __call__(self, x: Any) -> Any:
        """Apply the network to ``x`` (mapped over the batch axes of a batched network)."""
        batch = self.batch_shape
        if batch:
            fn = lambda net: net(x)  # noqa: E731
            for _ in batch:
                fn = jax.vmap(fn)
            return fn(self)
        x = jnp.asarray(x)
        self.layer.check_weights(self.weights, jnp.shape(x), name=self.name)
        return self.layer.apply(self.weights, x)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{path_str(p)}: {s}" for p, s in self._unbatched)
        batch = f", batch_shape={self.batch_shape}" if self.batch_shape else ""
        label = f"'{self.name}' " if self.name else ""
        return f"Network({label}{self.layer!r}{batch}; {sizes})"


def _shapes(weights: Any) -> tuple[tuple[Any, tuple[int, ...]], ...]:
    out = []
    for path, leaf in tree_items(weights):
        shape = getattr(leaf, "shape", None)
        if shape is None:
            continue
        out.append((path, tuple(shape)))
    if not out and weights is not None and not isinstance(weights, (dict, tuple, list)):
        raise ShapeError("a network's weights must be arrays in nested dicts / tuples")
    return tuple(out)
