"""The layer protocol and the base class of Bayesian layers.

Layers are distributions over functions.  ``net <~ nn.Serial(...)`` in a model
adds one ``Layer`` node whose ``spec`` is the source of a layer object; the
generated code evaluates that source (so prior parameters may be other random
variables) and talks to the object through the protocol below.

The layer protocol
------------------
A *layer object* (anything with ``__ppgraph_layer__ = True``; subclasses of
:class:`Layer` get all of it from the base class) offers:

``shapes(input_shape) -> (weight_shapes, output_shape)``
    ``weight_shapes`` is the weights pytree with a ``jax.ShapeDtypeStruct`` per
    leaf; ``output_shape`` a tuple.  Weight shapes come from the input's shape
    (a leading batch axis included), as trax's ``init`` does with a signature.
``priors(weight_shapes) -> tree``
    Same structure as the weights; each leaf is a NumPyro distribution (applied
    elementwise, broadcast against the weight's shape) or :data:`TRAINABLE`.
``sample(rng_key, input_shape, *, name=None) -> Network``
    Draw every weight from its prior, one key per weight (keys are split, never
    reused); trainable weights get their initial value (:meth:`Layer.init`).
``log_prob(weights) -> scalar``
    Sum of the elementwise prior log densities of every weight with a prior
    (trainable weights add nothing: a flat prior).
``network(weights, input_shape=None, *, name=None) -> Network``
    Wrap weights (checked against the shapes the input implies, if given) into
    a callable :class:`~ppgraph.nn.network.Network`.
``apply(weights, x) -> y``
    The forward pass (a pure JAX function).
``init(rng_key, input_shape) -> weights``
    Initial values for training (Glorot-normal kernels, zero biases), used for
    trainable weights and by ``pg.passes.bnn_to_trainable`` / ``pg.fit``.
``trainable(weight_shapes) -> tree of bool``
    Which weights are declared trainable (no prior).

Weights layout
--------------
A single layer's weights are a dict ``{"kernel": array, "bias": array}`` (only
the weights it has); :class:`~ppgraph.nn.layers.Serial` nests them by position
and leaves out layers without weights:
``{"0": {"kernel": ..., "bias": ...}, "2": {"kernel": ..., "bias": ...}}``.
Lifted trax layers (:mod:`ppgraph.nn.trax`) keep trax's nested tuples.

Priors and broadcasting
-----------------------
``Dense(400, dist.Normal(0., 1.))`` applies one prior elementwise to every
weight array.  A prior with a non-scalar batch shape must broadcast against the
weight's shape *to that shape* (``Normal(0., s)`` with ``s.shape == (in, 1)``
against a kernel ``(in, out)``: one scale per input unit).  ``kernel_prior=`` /
``bias_prior=`` set them apart.  A weight without a prior is a
:class:`~ppgraph.ModelError` unless declared trainable (``bias_prior="trainable"``
or ``nn.TRAINABLE``).  A shape mismatch is a :class:`~ppgraph.ShapeError` naming
the layer, the weight and both shapes.

Writing a layer
---------------
Subclass :class:`Layer`, list the weights in ``weight_names``, and write
``weight_shapes`` and ``forward``:

>>> import jax.numpy as jnp
>>> from ppgraph import dist
>>> class Scale(Layer):
...     '''y = x * w, one weight per feature.'''
...     weight_names = ("w",)
...     def weight_shapes(self, input_shape):
...         return {"w": input_shape[-1:]}
...     def forward(self, weights, x):
...         return x * weights["w"]
>>> import jax
>>> net = Scale(dist.Normal(1.0, 0.1)).sample(jax.random.key(0), (4, 3))
>>> net.weights["w"].shape, net(jnp.ones((4, 3))).shape
((3,), (4, 3))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ..dist import is_distribution
from ..errors import ModelError, ShapeError
from ..keys import as_key
from ..model import weights_of
from .network import Network
from .trees import Path, path_str, tree_build, tree_get, tree_items

__all__ = [
    "Layer",
    "TRAINABLE",
    "Path",
    "tree_items",
    "tree_build",
    "tree_get",
    "path_str",
    "check_prior",
    "prior_log_prob",
    "prior_sample",
    "float_dtype",
]

TRAINABLE = "trainable"
"""Declare a weight trainable (no prior; a point estimate): ``nn.Dense(10, p, bias_prior=nn.TRAINABLE)``."""


def float_dtype() -> Any:
    """The default floating dtype (float64 when x64 is enabled)."""
    return jnp.result_type(float)


# -- priors ---------------------------------------------------------------------------------------
def check_prior(prior: Any, shape: tuple[int, ...], layer: str, weight: str) -> tuple[int, ...]:
    """Check that ``prior`` applies elementwise to a weight of ``shape``; return the batch shape to expand to.

    Raises
    ------
    ShapeError
        If the prior's shape does not broadcast to ``shape``.
    """
    shape = tuple(int(d) for d in shape)
    event = tuple(prior.event_shape)
    batch = tuple(prior.batch_shape)
    if event and tuple(shape[len(shape) - len(event):]) != event:
        raise ShapeError(
            f"layer {layer}: the prior of weight '{weight}' has event shape {event}, "
            f"which does not match the weight's trailing shape (weight shape {shape})",
            hint="use a univariate prior applied elementwise, e.g. dist.Normal(0., 1.)",
        )
    target = shape[: len(shape) - len(event)]
    try:
        full = jnp.broadcast_shapes(batch, target)
    except ValueError:
        full = None
    if full != target:
        raise ShapeError(
            f"layer {layer}: the prior of weight '{weight}' has shape {batch + event}, "
            f"which does not broadcast to the weight's shape {shape}",
            hint="give the prior's parameters a shape that broadcasts to the weight "
            "(e.g. (in, 1) for one scale per input unit of a kernel), or set "
            "kernel_prior= / bias_prior= separately",
        )
    return target


def prior_log_prob(prior: Any, value: Any, layer: str, weight: str) -> Any:
    """``sum(prior.log_prob(value))`` after checking shapes."""
    check_prior(prior, jnp.shape(value), layer, weight)
    return jnp.sum(prior.log_prob(value))


def prior_sample(prior: Any, key: Any, shape: tuple[int, ...], layer: str, weight: str) -> Any:
    """One draw of a weight of ``shape`` from the elementwise ``prior``."""
    target = check_prior(prior, shape, layer, weight)
    return prior.expand(target).sample(key) if tuple(prior.batch_shape) != target else prior.sample(key)


def _glorot_normal(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    if len(shape) < 2:
        return jnp.zeros(shape, dtype)
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return std * jax.random.normal(key, shape, dtype)


def raise_no_input(layer: Any) -> None:
    """The error for a layer sampled without an input (``input_shape=None``): its weight shapes are unknown."""
    raise ModelError(
        f"the layer ({layer.describe()}) is never applied to an input, so the shapes of its weights are unknown",
        hint="apply it in the model (`out = net(x)`), or give the input whose shape fixes its weights "
        "(GraphBuilder: g.layer(name, spec, input=x))",
    )


# -- the base class -------------------------------------------------------------------------------
class Layer:
    """Base class of Bayesian layers (see the module docstring for the protocol).

    Parameters
    ----------
    prior
        A distribution applied elementwise to every weight (kernel and bias), or
        :data:`TRAINABLE`.
    **weight_priors
        ``<weight>_prior=`` per weight (e.g. ``kernel_prior=``, ``bias_prior=``);
        they override ``prior``.

    Subclasses set ``weight_names`` and implement :meth:`weight_shapes` and
    :meth:`forward`; :meth:`output_shape` defaults to ``jax.eval_shape`` of
    :meth:`forward`; :meth:`initializer` to Glorot-normal kernels and zero biases.
    """

    __ppgraph_layer__ = True
    weight_names: tuple[str, ...] = ()

    def __init__(self, prior: Any = None, **weight_priors: Any) -> None:
        unknown = [k for k in weight_priors if not (k.endswith("_prior") and k[: -len("_prior")] in self.weight_names)]
        if unknown:
            raise ModelError(
                f"{type(self).__name__}: unknown keyword(s) {', '.join(unknown)}",
                hint=f"per-weight priors of this layer are {', '.join(w + '_prior=' for w in self.weight_names) or 'none'}",
            )
        self.prior = prior
        self.weight_priors = {k[: -len("_prior")]: v for k, v in weight_priors.items() if v is not None}
        for weight in self.weight_names:
            self.prior_of(weight)  # fail early on a missing or invalid prior

    # -- to be written by subclasses -----------------------------------------------------------
    def weight_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Weight name -> shape, given the input's shape."""
        return {}

    def forward(self, weights: dict[str, Any], x: Any) -> Any:
        """The forward pass."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(weights, x)")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the output for an input of ``input_shape`` (default: traced with ``jax.eval_shape``)."""
        weights, _ = self._own_shapes(input_shape)
        out = jax.eval_shape(self.forward, weights, jax.ShapeDtypeStruct(tuple(input_shape), float_dtype()))
        return tuple(out.shape)

    def initializer(self, weight: str, key: Any, shape: tuple[int, ...]) -> Any:
        """Initial value of a weight for training: Glorot-normal for rank >= 2, zeros otherwise."""
        return _glorot_normal(key, shape, float_dtype())

    # -- helpers -----------------------------------------------------------------------------------
    def describe(self) -> str:
        """Short text naming the layer in messages."""
        return f"{type(self).__name__}"

    def __repr__(self) -> str:
        return self.describe()

    def prior_of(self, weight: str) -> Any:
        """The prior (a distribution or :data:`TRAINABLE`) of one weight; a ModelError if it has none."""
        prior = self.weight_priors.get(weight, self.prior)
        if prior is None:
            raise ModelError(
                f"layer {self.describe()}: weight '{weight}' has no prior",
                hint=f"give a prior for every weight (e.g. {type(self).__name__}(..., dist.Normal(0., 1.))), "
                f"set {weight}_prior=..., or declare it trainable with {weight}_prior=nn.TRAINABLE",
            )
        if isinstance(prior, str) and prior == TRAINABLE:
            return TRAINABLE
        if not is_distribution(prior):
            raise ModelError(
                f"layer {self.describe()}: the prior of weight '{weight}' is a {type(prior).__name__}, not a distribution",
                hint="priors are distributions such as dist.Normal(0., 1.), or nn.TRAINABLE",
            )
        return prior

    def _own_shapes(self, input_shape: tuple[int, ...]) -> tuple[dict[str, Any], None]:
        dtype = float_dtype()
        shapes = self.weight_shapes(tuple(input_shape))
        return {k: jax.ShapeDtypeStruct(tuple(int(d) for d in v), dtype) for k, v in shapes.items()}, None

    # -- the protocol (generic: subclasses rarely override these) ------------------------------------
    def shapes(self, input_shape: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
        """``(weight shapes tree, output shape)`` for an input of ``input_shape``."""
        if input_shape is None:
            raise_no_input(self)
        input_shape = tuple(int(d) for d in input_shape)
        try:
            weights, _ = self._own_shapes(input_shape)
            out = self.output_shape(input_shape)
        except ModelError:
            raise
        except Exception as err:  # e.g. a rank the layer does not handle
            raise ShapeError(
                f"layer {self.describe()} cannot take an input of shape {input_shape}: {type(err).__name__}: {err}",
                hint="check the input's shape (a leading batch axis, then the features)",
            ) from err
        return weights, out

    def priors(self, weight_shapes: Any) -> Any:
        """The prior tree matching ``weight_shapes``."""
        return {weight: self.prior_of(weight) for weight in weight_shapes}

    def apply(self, weights: Any, x: Any) -> Any:
        """The forward pass with ``weights``."""
        return self.forward(weights, x)

    def trainable(self, weight_shapes: Any) -> Any:
        """Tree of bools: which weights are declared trainable."""
        priors = self.priors(weight_shapes)
        return tree_build(weight_shapes, lambda path, _: isinstance(tree_get(priors, path), str))

    def sample(self, rng_key: Any, input_shape: tuple[int, ...], *, name: str | None = None) -> Any:
        """A network with every weight drawn from its prior (one key per weight).

        ``rng_key`` is a ``jax.random`` key or an ``int`` seed.
        """
        shapes, _ = self.shapes(input_shape)
        priors = self.priors(shapes)
        items = list(tree_items(shapes))
        keys = jax.random.split(as_key(rng_key), max(len(items), 1))
        index = {path: i for i, (path, _) in enumerate(items)}

        def draw(path: Path, sds: Any) -> Any:
            prior = tree_get(priors, path)
            key = keys[index[path]]
            if isinstance(prior, str):
                return self._init_leaf(path, key, tuple(sds.shape))
            return prior_sample(prior, key, tuple(sds.shape), self.describe(), path_str(path))

        weights = tree_build(shapes, draw)
        return self.network(weights, name=name)

    def _init_leaf(self, path: Path, key: Any, shape: tuple[int, ...]) -> Any:
        return self.initializer(str(path[-1]), key, shape)

    def init(self, rng_key: Any, input_shape: tuple[int, ...]) -> Any:
        """Initial weights for training (Glorot-normal kernels, zero biases); ``rng_key`` may be an ``int`` seed."""
        shapes, _ = self.shapes(input_shape)
        items = list(tree_items(shapes))
        keys = jax.random.split(as_key(rng_key), max(len(items), 1))
        index = {path: i for i, (path, _) in enumerate(items)}
        return tree_build(shapes, lambda path, sds: self._init_leaf(path, keys[index[path]], tuple(sds.shape)))

    def log_prob(self, weights: Any) -> Any:
        """Sum of the prior log densities of all weights with a prior."""
        weights = weights_of(weights)
        shapes = tree_build(weights, lambda path, w: jax.ShapeDtypeStruct(jnp.shape(w), jnp.result_type(w)))
        try:
            priors = self.priors(shapes)
        except (KeyError, IndexError, TypeError) as err:
            raise ShapeError(
                f"layer {self.describe()}: the weights do not have this layer's structure ({err})",
                hint="give the weights pytree of a sample of this layer (see net.weights)",
            ) from err
        total = jnp.zeros((), float_dtype())
        for path, value in tree_items(weights):
            try:
                prior = tree_get(priors, path)
            except (KeyError, IndexError, TypeError):
                raise ShapeError(
                    f"layer {self.describe()}: unexpected weight '{path_str(path)}'",
                    hint="give the weights pytree of a sample of this layer (see net.weights)",
                ) from None
            if not isinstance(prior, str):
                total = total + prior_log_prob(prior, value, self.describe(), path_str(path))
        return total

    def check_weights(self, weights: Any, input_shape: tuple[int, ...], *, name: str | None = None) -> None:
        """Raise a ShapeError if ``weights`` do not fit an input of ``input_shape``."""
        expected, _ = self.shapes(input_shape)
        want = {path: tuple(s.shape) for path, s in tree_items(expected)}
        have = {path: tuple(jnp.shape(w)) for path, w in tree_items(weights_of(weights))}
        who = f"'{name}' ({self.describe()})" if name else self.describe()
        for path in sorted(set(want) | set(have), key=str):
            if path not in have:
                raise ShapeError(f"layer {who}: weight '{path_str(path)}' is missing",
                                 hint="give the weights pytree of a sample of this layer (see net.weights)")
            if path not in want:
                raise ShapeError(f"layer {who}: unexpected weight '{path_str(path)}'",
                                 hint="give the weights pytree of a sample of this layer (see net.weights)")
            if want[path] != have[path]:
                raise ShapeError(
                    f"layer {who}: weight '{path_str(path)}' has shape {have[path]}, but an input of shape "
                    f"{tuple(input_shape)} needs {want[path]}",
                    hint="a network is built for one input feature size; apply it to inputs of that size",
                )

    def network(self, weights: Any, input_shape: tuple[int, ...] | None = None, *, name: str | None = None) -> Any:
        """Wrap ``weights`` into a callable network (checked against ``input_shape`` when given)."""
        weights = weights_of(weights)
        if input_shape is not None:
            self.check_weights(weights, input_shape, name=name)
        return Network(self.without_priors(), weights, name=name)

    def without_priors(self) -> "Layer":
        """A copy computing the same function, with the priors dropped (what networks keep)."""
        import copy

        new = copy.copy(self)
        new.prior = None
        new.weight_priors = {}
        for key, value in vars(self).items():
            if isinstance(value, Layer):
                setattr(new, key, value.without_priors())
            elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
                setattr(new, key, type(value)(v.without_priors() for v in value))
        return new

    # -- identity for pytree aux data: the architecture, not the priors --------------------------
    def architecture(self) -> tuple:
        """A hashable description of the layer without its priors (equal layers compute the same function)."""
        items = []
        for key, value in sorted(vars(self).items()):
            if key in ("prior", "weight_priors") or key.startswith("_"):
                continue
            items.append((key, _freeze(value)))
        return (type(self), tuple(items))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layer) and self.architecture() == other.architecture()

    def __hash__(self) -> int:
        return hash(self.architecture())


def _freeze(value: Any) -> Any:
    if isinstance(value, Layer):
        return value.architecture()
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    if hasattr(value, "shape") and not isinstance(value, (int, float, bool)):
        return ("id", id(value))
    return value


