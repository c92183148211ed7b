"""trax adapter: lift any trax layer into a Bayesian layer.

``import ppgraph`` never imports trax (it starts TensorFlow, which takes seconds);
this module does.  Install the extra with ``pip install "ppgraph[trax]"``.

``lift(trax_layer, prior, kernel_prior=..., bias_prior=...)`` returns a layer
object usable after ``<~`` exactly like ``nn.Serial(...)``:

- weight shapes come from trax's own ``init`` on the input signature (run once
  per input shape on a private copy of the layer; the user's layer is never
  modified);
- one prior per weight leaf, with the broadcasting rules of :mod:`ppgraph.nn.base`;
  weights of rank >= 2 are kernels (``kernel_prior``), the others biases
  (``bias_prior``); ``prior`` applies where those are not given;
- the forward pass is the layer's pure function ``layer.pure_fn(x, weights,
  state, rng)`` (a fixed rng: stochastic layers such as dropout are not random
  here);
- the weights pytree is trax's own nested tuples.

Forward samples are :class:`TraxNetwork` objects (pytrees, callable, jit-able);
``net.trax`` is a trax layer carrying the sampled weights, safe to call eagerly
and under ``jax.jit``.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> import trax.layers as tl
>>> from ppgraph import dist
>>> from ppgraph.nn.trax import lift
>>> bayes = lift(tl.Serial(tl.Dense(8), tl.Relu(), tl.Dense(3)), dist.Normal(0.0, 1.0))
>>> net = bayes.sample(jax.random.key(0), (4, 5))
>>> net(jnp.ones((4, 5))).shape, net.trax(jnp.ones((4, 5))).shape
((4, 3), (4, 3))
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ModelError
from ..model import weights_of
from .base import TRAINABLE, Layer, Path, float_dtype, path_str, tree_build
from .network import Network

try:
    import trax
    import trax.layers as tl
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ppgraph.nn.trax needs trax: pip install 'ppgraph[trax]' "
        "(trax==1.4.1 with tensorflow-cpu, tensorflow-datasets, tensorflow-text, gym)"
    ) from err

__all__ = ["lift", "TraxLayer", "TraxNetwork"]

_CACHE: dict[tuple[int, tuple[int, ...], str], tuple[Any, Any, Any, Any]] = {}
_LOCK = threading.Lock()
_RNG_SEED = 0


def _rng() -> Any:
    return jax.random.PRNGKey(_RNG_SEED)


def _signature(shape: tuple[int, ...], dtype: Any) -> Any:
    return trax.shapes.ShapeDtype(tuple(shape), dtype)


def _initialised(layer: Any, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any, Any]:
    """``(weight shapes, state, output shape)`` of ``layer`` on inputs of ``shape`` (cached)."""
    key = (id(layer), tuple(shape), str(dtype))
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit[1], hit[2], hit[3]
    with jax.ensure_compile_time_eval():
        private = copy.deepcopy(layer)
        private.rng = _rng()
        weights, state = private.init(_signature(shape, dtype), rng=_rng())
        shapes = jax.tree_util.tree_map(lambda w: jax.ShapeDtypeStruct(jnp.shape(w), jnp.result_type(w)), weights)
        out = jax.eval_shape(lambda w, x: private.pure_fn(x, w, state, _rng())[0], weights,
                             jax.ShapeDtypeStruct(tuple(shape), dtype))
    state = jax.tree_util.tree_map(jnp.asarray, state)
    out_shape = tuple(out.shape) if hasattr(out, "shape") else tuple(tuple(o.shape) for o in out)
    with _LOCK:
        _CACHE[key] = (layer, shapes, state, out_shape)
    return shapes, state, out_shape


class TraxLayer(Layer):
    """A trax layer with priors on its weights (made by :func:`lift`).

    Parameters
    ----------
    trax_layer
        Any ``trax.layers.Layer`` (not modified).
    prior, kernel_prior, bias_prior
        Elementwise priors (see the module docstring); ``nn.TRAINABLE`` for none.
    """

    weight_names = ("kernel", "bias")

    def __init__(self, trax_layer: Any, prior: Any = None, *, kernel_prior: Any = None, bias_prior: Any = None) -> None:
        if not isinstance(trax_layer, tl.Layer):
            raise ModelError(
                f"lift needs a trax layer, got {type(trax_layer).__name__}",
                hint="e.g. lift(tl.Serial(tl.Dense(64), tl.Relu(), tl.Dense(10)), dist.Normal(0., 1.))",
            )
        self.trax_layer = trax_layer
        self.prior = prior
        self.weight_priors = {k: v for k, v in (("kernel", kernel_prior), ("bias", bias_prior)) if v is not None}
        self._private: Any = None

    def describe(self) -> str:
        return f"lift({self.trax_layer.name})"

    def _dtype(self) -> Any:
        return float_dtype()

    def shapes(self, input_shape: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
        shape = tuple(int(d) for d in input_shape)
        try:
            weights, _, out = _initialised(self.trax_layer, shape, self._dtype())
        except ModelError:
            raise
        except Exception as err:
            raise ModelError(
                f"layer {self.describe()}: trax cannot initialise it on an input of shape {shape}: "
                f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}",
                hint="check the input's shape (a leading batch axis, then the features)",
            ) from err
        return weights, out

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.shapes(input_shape)[1]

    def priors(self, weight_shapes: Any) -> Any:
        def choose(path: Path, sds: Any) -> Any:
            weight = "kernel" if len(getattr(sds, "shape", ())) >= 2 else "bias"
            prior = self.weight_priors.get(weight, self.prior)
            if prior is None:
                raise ModelError(
                    f"layer {self.describe()}: weight '{path_str(path)}' (a {weight}, shape {tuple(sds.shape)}) "
                    "has no prior",
                    hint=f"give lift(..., prior) or {weight}_prior=..., or declare it trainable with "
                    f"{weight}_prior=nn.TRAINABLE",
                )
            if isinstance(prior, str) and prior == TRAINABLE:
                return TRAINABLE
            from ..dist import is_distribution

            if not is_distribution(prior):
                raise ModelError(
                    f"layer {self.describe()}: the prior of weight '{path_str(path)}' is a "
                    f"{type(prior).__name__}, not a distribution",
                    hint="priors are distributions such as dist.Normal(0., 1.), or nn.TRAINABLE",
                )
            return prior

        return tree_build(weight_shapes, choose)

    def _state(self, input_shape: tuple[int, ...]) -> Any:
        return _initialised(self.trax_layer, tuple(input_shape), self._dtype())[1]

    def _apply_layer(self) -> Any:
        if self._private is None:
            self._private = copy.deepcopy(self.trax_layer)
            self._private.rng = _rng()
        return self._private

    def apply(self, weights: Any, x: Any) -> Any:
        state = self._state(jnp.shape(x))
        return self._apply_layer().pure_fn(x, weights, state, _rng())[0]

    forward = apply

    def network(self, weights: Any, input_shape: tuple[int, ...] | None = None, *, name: str | None = None) -> Any:
        weights = weights_of(weights)
        weights = _as_tuples(weights)
        if input_shape is not None:
            self.check_weights(weights, input_shape, name=name)
        return TraxNetwork(self.without_priors(), weights, name=name)

    def architecture(self) -> tuple:
        return (type(self), id(self.trax_layer))

    def without_priors(self) -> "TraxLayer":
        new = copy.copy(self)
        new.prior = None
        new.weight_priors = {}
        return new


def _any_state(trax_layer: Any) -> Any:
    """The state trax's ``init`` gave ``trax_layer`` (on any input shape seen), or ``None``."""
    with _LOCK:
        for (ident_, _, _), (layer, _, state, _) in _CACHE.items():
            if ident_ == id(trax_layer) and layer is trax_layer:
                return state
    return None


def _as_tuples(tree: Any) -> Any:
    """Lists (e.g. from a JSON round trip) back to trax's tuples."""
    if isinstance(tree, (list, tuple)):
        return tuple(_as_tuples(t) for t in tree)
    return tree


@jax.tree_util.register_pytree_node_class
class TraxNetwork(Network):
    """A sampled lifted trax layer: a :class:`~ppgraph.nn.Network` whose ``.trax`` is a trax layer.

    ``net(x)`` runs the layer's pure function (jit-able, maps over batch axes of
    a batched network).  ``net.trax`` is a copy of the original trax layer with
    these weights assigned (and its rng set, so it works eagerly and under jit).
    """

    @property
    def trax(self) -> Any:
        """A trax layer carrying these weights."""
        if self.batch_shape:
            raise ModelError(
                f"network {self.name or ''} holds a batch of {self.batch_shape} networks; "
                "pick one first (net[i].trax)",
            )
        layer = copy.deepcopy(self.layer.trax_layer)
        layer.rng = _rng()
        layer.weights = self.weights
        state = _any_state(self.layer.trax_layer)
        if state is not None:
            layer.state = state
        return layer


def lift(trax_layer: Any, prior: Any = None, *, kernel_prior: Any = None, bias_prior: Any = None) -> TraxLayer:
    """Lift a trax layer into a Bayesian layer (see the module docstring).

    Parameters
    ----------
    trax_layer
        Any trax layer, e.g. ``tl.Serial(tl.Dense(64), tl.Relu(), tl.Dense(10), tl.LogSoftmax())``.
    prior
        Elementwise prior of every weight.
    kernel_prior, bias_prior
        Priors of the weights of rank >= 2 / rank < 2 (override ``prior``).

    Returns
    -------
    TraxLayer
        Usable after ``<~`` in a model: ``net <~ lift(model, dist.Normal(0., 1.))``.
    """
    return TraxLayer(trax_layer, prior, kernel_prior=kernel_prior, bias_prior=bias_prior)


lift.__ppgraph_layer__ = True  # type: ignore[attr-defined]
