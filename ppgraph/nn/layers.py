"""Built-in Bayesian layers: Dense, Conv2D, Flatten, activations and the Serial combinator.

Every layer here follows the protocol of :mod:`ppgraph.nn.base`.  Inside a model
a layer (or a ``Serial`` stack) stands after ``<~``::

    net <~ nn.Serial(nn.Dense(64, dist.Normal(0.0, 1.0)), nn.Relu(),
                     nn.Dense(10, dist.Normal(0.0, 1.0)), nn.LogSoftmax())

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from ppgraph import dist, nn
>>> mlp = nn.Serial(nn.Dense(8, dist.Normal(0.0, 1.0)), nn.Relu(), nn.Dense(3, dist.Normal(0.0, 1.0)))
>>> shapes, out = mlp.shapes((40, 5))
>>> {k: {w: s.shape for w, s in v.items()} for k, v in shapes.items()}, out
({'0': {'kernel': (5, 8), 'bias': (8,)}, '2': {'kernel': (8, 3), 'bias': (3,)}}, (40, 3))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ModelError
from .base import Layer, Path, tree_items

__all__ = [
    "Dense",
    "Conv2D",
    "Flatten",
    "Activation",
    "Relu",
    "Tanh",
    "Sigmoid",
    "Gelu",
    "Softmax",
    "LogSoftmax",
    "Serial",
]


class Dense(Layer):
    """Fully connected layer ``y = x @ kernel + bias``.

    Parameters
    ----------
    units
        Number of outputs.
    prior
        Elementwise prior of every weight (kernel and bias).
    kernel_prior, bias_prior
        Separate priors (override ``prior``); ``nn.TRAINABLE`` for no prior.
    use_bias
        Whether the layer has a bias.

    Weights: ``kernel`` of shape ``(in, units)`` (``in`` = the input's last
    axis), ``bias`` of shape ``(units,)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ppgraph import dist, nn
    >>> layer = nn.Dense(4, dist.Normal(0.0, 1.0))
    >>> w = {"kernel": jnp.ones((2, 4)), "bias": jnp.zeros(4)}
    >>> layer.apply(w, jnp.ones((3, 2))).tolist()[0]
    [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, units: int, prior: Any = None, *, kernel_prior: Any = None, bias_prior: Any = None,
                 use_bias: bool = True) -> None:
        if not isinstance(units, int) or units < 1:
            raise ModelError(f"Dense: units must be a positive int, got {units!r}")
        self.units = units
        self.use_bias = bool(use_bias)
        self.weight_names = ("kernel", "bias") if self.use_bias else ("kernel",)
        extra = {"bias_prior": bias_prior} if self.use_bias else {}
        if not self.use_bias and bias_prior is not None:
            raise ModelError("Dense: bias_prior given but use_bias=False")
        super().__init__(prior, kernel_prior=kernel_prior, **extra)

    def describe(self) -> str:
        return f"Dense({self.units})"

    def weight_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if len(input_shape) < 1:
            raise ValueError("Dense needs inputs with at least one axis (the features)")
        shapes = {"kernel": (input_shape[-1], self.units)}
        if self.use_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def forward(self, weights: dict[str, Any], x: Any) -> Any:
        y = x @ weights["kernel"]
        return y + weights["bias"] if self.use_bias else y


class Conv2D(Layer):
    """2-D convolution on ``(..., height, width, channels)`` inputs (NHWC).

    Parameters
    ----------
    filters
        Number of output channels.
    kernel_size
        ``(kh, kw)`` (or one int for both).
    prior, kernel_prior, bias_prior
        As for :class:`Dense`.
    strides
        ``(sh, sw)``.
    padding
        ``"SAME"`` or ``"VALID"``.

    Weights: ``kernel`` of shape ``(kh, kw, in_channels, filters)`` (HWIO),
    ``bias`` of shape ``(filters,)``.

    Examples
    --------
    >>> from ppgraph import dist, nn
    >>> conv = nn.Conv2D(4, 3, dist.Normal(0.0, 1.0))
    >>> shapes, out = conv.shapes((2, 8, 8, 1))
    >>> shapes["kernel"].shape, out
    ((3, 3, 1, 4), (2, 8, 8, 4))
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int] = 3, prior: Any = None, *,
                 kernel_prior: Any = None, bias_prior: Any = None, strides: int | tuple[int, int] = 1,
                 padding: str = "SAME", use_bias: bool = True) -> None:
        if not isinstance(filters, int) or filters < 1:
            raise ModelError(f"Conv2D: filters must be a positive int, got {filters!r}")
        self.filters = filters
        self.kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.strides = (strides, strides) if isinstance(strides, int) else tuple(strides)
        if padding not in ("SAME", "VALID"):
            raise ModelError(f"Conv2D: padding must be 'SAME' or 'VALID', got {padding!r}")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.weight_names = ("kernel", "bias") if self.use_bias else ("kernel",)
        extra = {"bias_prior": bias_prior} if self.use_bias else {}
        super().__init__(prior, kernel_prior=kernel_prior, **extra)

    def describe(self) -> str:
        return f"Conv2D({self.filters}, {self.kernel_size})"

    def weight_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if len(input_shape) < 3:
            raise ValueError("Conv2D needs inputs of shape (..., height, width, channels)")
        shapes = {"kernel": (*self.kernel_size, input_shape[-1], self.filters)}
        if self.use_bias:
            shapes["bias"] = (self.filters,)
        return shapes

    def forward(self, weights: dict[str, Any], x: Any) -> Any:
        lead = x.shape[:-3]
        flat = x.reshape((-1, *x.shape[-3:]))
        y = jax.lax.conv_general_dilated(
            flat, weights["kernel"], window_strides=self.strides, padding=self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        if self.use_bias:
            y = y + weights["bias"]
        return y.reshape((*lead, *y.shape[1:]))


class Flatten(Layer):
    """Flatten all axes after the first ``n_axes_to_keep`` (as trax's ``Flatten``).

    >>> import jax.numpy as jnp
    >>> from ppgraph import nn
    >>> nn.Flatten().apply({}, jnp.ones((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, n_axes_to_keep: int = 1) -> None:
        self.n_axes_to_keep = n_axes_to_keep
        super().__init__()

    def describe(self) -> str:
        return "Flatten" if self.n_axes_to_keep == 1 else f"Flatten({self.n_axes_to_keep})"

    def forward(self, weights: dict[str, Any], x: Any) -> Any:
        return x.reshape((*x.shape[: self.n_axes_to_keep], -1))


class Activation(Layer):
    """A weightless layer applying ``fn`` elementwise (or along the last axis).

    >>> import jax, jax.numpy as jnp
    >>> from ppgraph import nn
    >>> nn.Activation(jnp.abs).apply({}, jnp.array([-1.0, 2.0])).tolist()
    [1.0, 2.0]
    """

    fn: Callable[[Any], Any] = staticmethod(lambda x: x)

    def __init__(self, fn: Callable[[Any], Any] | None = None) -> None:
        if fn is not None:
            self.fn = fn
        super().__init__()

    def describe(self) -> str:
        return type(self).__name__ if type(self) is not Activation else f"Activation({getattr(self.fn, '__name__', 'fn')})"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    def forward(self, weights: dict[str, Any], x: Any) -> Any:
        return self.fn(x)


class Relu(Activation):
    """``max(x, 0)``."""

    fn = staticmethod(jax.nn.relu)


class Tanh(Activation):
    """``tanh(x)``."""

    fn = staticmethod(jnp.tanh)


class Sigmoid(Activation):
    """The logistic function."""

    fn = staticmethod(jax.nn.sigmoid)


class Gelu(Activation):
    """Gaussian error linear unit (tanh approximation, as ``jax.nn.gelu``)."""

    fn = staticmethod(jax.nn.gelu)


class Softmax(Activation):
    """Softmax over the last axis."""

    fn = staticmethod(lambda x: jax.nn.softmax(x, axis=-1))


class LogSoftmax(Activation):
    """Log-softmax over the last axis (log-probabilities for ``dist.Categorical(logits=...)``)."""

    fn = staticmethod(lambda x: jax.nn.log_softmax(x, axis=-1))


class Serial(Layer):
    """Layers applied one after the other.

    The weights are a dict by position of the layers that have weights:
    ``Serial(Dense, Relu, Dense)`` has weights ``{"0": {...}, "2": {...}}``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ppgraph import dist, nn
    >>> net = nn.Serial(nn.Dense(4, dist.Normal(0.0, 1.0)), nn.Tanh()).sample(jax.random.key(1), (2, 3))
    >>> sorted(net.weights), net(jnp.ones((2, 3))).shape
    (['0'], (2, 4))
    """

    def __init__(self, *layers: Any) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                hint = "call the layer class: nn.Relu() rather than nn.Relu" if isinstance(layer, type) else (
                    "lift trax layers with ppgraph.nn.trax.lift(...)")
                raise ModelError(
                    f"Serial: item {i} is a {type(layer).__name__ if not isinstance(layer, type) else layer.__name__}, "
                    "not a ppgraph layer",
                    hint=hint,
                )
        self.layers = tuple(layers)
        super().__init__()

    def describe(self) -> str:
        return "Serial(" + ", ".join(layer.describe() for layer in self.layers) + ")"

    def shapes(self, input_shape: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
        shape = tuple(int(d) for d in input_shape)
        weights: dict[str, Any] = {}
        for i, layer in enumerate(self.layers):
            sub, shape = layer.shapes(shape)
            if not (isinstance(sub, dict) and not sub):
                weights[str(i)] = sub
        return weights, shape

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.shapes(input_shape)[1]

    def priors(self, weight_shapes: Any) -> Any:
        return {key: self._layer(key).priors(sub) for key, sub in weight_shapes.items()}

    def _layer(self, key: Any) -> Layer:
        try:
            return self.layers[int(key)]
        except (ValueError, IndexError):
            raise KeyError(f"Serial has no layer '{key}'") from None

    def apply(self, weights: Any, x: Any) -> Any:
        for i, layer in enumerate(self.layers):
            x = layer.apply(weights.get(str(i), {}), x)
        return x

    forward = apply

    def _init_leaf(self, path: Path, key: Any, shape: tuple[int, ...]) -> Any:
        return self._layer(path[0])._init_leaf(path[1:], key, shape)

    def num_weights(self, input_shape: tuple[int, ...]) -> int:
        """Total number of scalar weights for an input of ``input_shape``."""
        shapes, _ = self.shapes(input_shape)
        total = 0
        for _, sds in tree_items(shapes):
            size = 1
            for d in sds.shape:
                size *= d
            total += size
        return total
