"""trax adapter: lift any trax layer into a Bayesian layer.

``import ppgraph`` never imports trax (it starts TensorFlow, which takes seconds);
this module does (and spares trax's ``assert_shape`` decorator a slow ``inspect.stack()``,
which more than triples the import time: see ``_import_trax``).  Install the extra with ``pip install "ppgraph[trax]"``.

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

A sample (forward or posterior) is itself a trax layer: an instance of a
subclass of the lifted layer's own class (see :class:`TraxSample`) carrying the
sampled weights, so ``isinstance(sample, trax.layers.Layer)`` holds; it is
callable eagerly and under ``jax.jit`` (a JAX pytree whose leaves are the
weights) and ``pg.logpdf`` takes it.  ``sample.trax`` gives a plain copy of the
original layer with the weights assigned.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> import trax.layers as tl
>>> from ppgraph import dist
>>> from ppgraph.nn.trax import lift
>>> bayes = lift(tl.Serial(tl.Dense(8), tl.Relu(), tl.Dense(3)), dist.Normal(0.0, 1.0))
>>> net = bayes.sample(jax.random.key(0), (4, 5))
>>> isinstance(net, tl.Serial), net(jnp.ones((4, 5))).shape, jax.jit(lambda n, x: n(x))(net, jnp.ones((4, 5))).shape
(True, (4, 3), (4, 3))
"""

from __future__ import annotations

import copy
import inspect
import sys
import threading
import types
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ModelError
from ..model import weights_of
from .base import TRAINABLE, Layer, Path, float_dtype, path_str, raise_no_input, tree_build


def _frames_without_source(context: int = 1) -> list[inspect.FrameInfo]:
    """``inspect.stack()`` without its source lookups: frames, file names and line numbers."""
    frames, frame = [], sys._getframe(1)
    while frame is not None:
        frames.append(inspect.FrameInfo(frame, frame.f_code.co_filename, frame.f_lineno,
                                        frame.f_code.co_name, None, None))
        frame = frame.f_back
    return frames


def _import_trax() -> tuple[Any, Any]:
    """Import trax, sparing its ``assert_shape`` decorator the cost of ``inspect.stack()``.

    ``assert_shape`` records where each decorated layer was defined from
    ``inspect.stack()[1]``: 65 times while ``trax.layers`` imports and again whenever
    a decorated layer (``tl.Dense``, activations, attention) is built.  ``inspect.stack()``
    looks up the source of every frame through ``inspect.getmodule``, which scans
    ``sys.modules`` (thousands of TensorFlow modules): the import takes about 30 s on a
    2-core machine, 9 s without it.  Only the caller's frame, file and line are used,
    so trax is given frames without source lookups (its messages are unchanged): for
    the import, and in trax's ``assert_shape`` module afterwards.  Nothing changes
    when trax was imported before.
    """
    already = "trax.layers" in sys.modules
    slow = inspect.stack
    if not already:
        inspect.stack = _frames_without_source
    try:
        import trax
        import trax.layers as tl
        from trax.layers import assert_shape
    finally:
        inspect.stack = slow
    if isinstance(getattr(assert_shape, "inspect", None), types.ModuleType) and assert_shape.inspect is inspect:
        shim = types.ModuleType("inspect", "the inspect module, with a stack() that skips source lookups")
        shim.__dict__.update({k: v for k, v in vars(inspect).items() if not k.startswith("__")})
        shim.stack = _frames_without_source
        assert_shape.inspect = shim
    return trax, tl


try:
    trax, tl = _import_trax()
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ppgraph.nn.trax needs trax: pip install 'ppgraph[trax]' "
        "(trax==1.4.1 with tensorflow-cpu, tensorflow-datasets, tensorflow-text, gym)"
    ) from err

__all__ = ["lift", "TraxLayer", "TraxSample"]

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
        if input_shape is None:
            raise_no_input(self)
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
        unbatched = tuple(tuple(jnp.shape(w)) for w in jax.tree_util.tree_leaves(weights))
        return _make_sample(_sample_class(self), weights, unbatched, name)

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


class TraxSample:
    """Methods of the sample classes: a sampled lifted trax layer *is* a trax layer.

    :func:`_sample_class` makes, per lifted trax layer, a subclass of that layer's
    own class (``tl.Serial``, ``tl.Dense``, ...) with these methods, registered
    as a JAX pytree whose leaves are the weights.  So a sample passes
    ``isinstance(sample, trax.layers.Layer)``, is callable eagerly and under
    ``jax.jit`` (the layer's pure function with the sampled weights and a fixed
    rng: no leaked-tracer rng), and ``pg.logpdf`` takes it as the layer node's
    value.  ``sample.weights`` are trax's nested tuples; batched samples
    (posterior draws) map over their leading axes when called and ``sample[i]``
    is one network.
    """

    _ppgraph_layer: "TraxLayer"

    def __ppgraph_weights__(self) -> Any:
        """The weights (trax's nested tuples): the value of the layer node."""
        return self.__dict__["_ppgraph_weights"]

    @property
    def weights(self) -> Any:
        """The sampled weights (nested tuples, as trax's ``layer.weights``)."""
        return self.__dict__["_ppgraph_weights"]

    @weights.setter
    def weights(self, value: Any) -> None:
        self.__dict__["_ppgraph_weights"] = _as_tuples(value)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes beyond one network's weights (``()`` for one network)."""
        for leaf, shape in zip(jax.tree_util.tree_leaves(self.weights), self.__dict__["_ppgraph_unbatched"]):
            return tuple(jnp.shape(leaf)[: jnp.ndim(leaf) - len(shape)])
        return ()

    def __call__(self, x: Any, weights: Any = None, state: Any = None, rng: Any = None) -> Any:
        if weights is not None or state is not None or rng is not None:
            raise ModelError(
                "a sampled trax layer computes with its own weights: call it as layer(x)",
                hint="use layer.pure_fn(x, weights, state, rng) for other weights",
            )
        batch = self.batch_shape
        layer = self._ppgraph_layer
        if batch:
            fn = lambda w: layer.apply(w, x)  # noqa: E731
            for _ in batch:
                fn = jax.vmap(fn)
            return fn(self.weights)
        x = jnp.asarray(x)
        layer.check_weights(self.weights, jnp.shape(x), name=self.__dict__.get("_ppgraph_name"))
        return layer.apply(self.weights, x)

    def pure_fn(self, x: Any, weights: Any, state: Any, rng: Any, use_cache: bool = False) -> Any:
        """trax's pure function of the layer (on a private copy; this sample is not changed)."""
        return self._ppgraph_layer._apply_layer().pure_fn(x, weights, state, rng, use_cache)

    def unbatch(self, index: Any) -> Any:
        """The network at ``index`` of the batch axes."""
        if not self.batch_shape:
            raise IndexError("this network is not batched (it holds the weights of one network)")
        return jax.tree_util.tree_map(lambda leaf: leaf[index], self)

    def __getitem__(self, index: Any) -> Any:
        if self.batch_shape:
            return self.unbatch(index)
        parent = getattr(self._ppgraph_layer.trax_layer.__class__, "__getitem__", None)
        if parent is None:
            raise IndexError("this network is not batched (it holds the weights of one network)")
        return parent(self, index)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a network is not an array: use its .weights (a pytree of arrays)")

    @property
    def trax(self) -> Any:
        """A plain trax layer (a copy of the lifted one) carrying these weights (kept for compatibility)."""
        if self.batch_shape:
            raise ModelError(
                f"network {self.__dict__.get('_ppgraph_name') or ''} holds a batch of {self.batch_shape} networks; "
                "pick one first (net[i].trax)",
            )
        original = self._ppgraph_layer.trax_layer
        layer = copy.deepcopy(original)
        layer.rng = _rng()
        layer.weights = self.weights
        state = _any_state(original)
        if state is not None:
            layer.state = state
        return layer


_CLASSES: dict[int, tuple[Any, type]] = {}


def _sample_class(layer: "TraxLayer") -> type:
    """The sample class of a lifted trax layer (one per trax layer object, so pytree types are stable)."""
    original = layer.trax_layer
    with _LOCK:
        hit = _CLASSES.get(id(original))
    if hit is not None and hit[0] is original:
        return hit[1]
    base = type(original)
    skip = {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__annotations__"}
    ns = {k: v for k, v in vars(TraxSample).items() if k not in skip}
    ns.update(_ppgraph_layer=layer.without_priors(), __module__=base.__module__, __qualname__=base.__qualname__,
              __doc__=f"A sampled lifted {base.__name__}: a trax layer carrying sampled weights.")
    cls = type(base.__name__, (base,), ns)

    def flatten(obj: Any) -> tuple[tuple[Any], tuple[Any, ...]]:
        return (obj.__dict__["_ppgraph_weights"],), (obj.__dict__["_ppgraph_unbatched"], obj.__dict__["_ppgraph_name"])

    def unflatten(aux: tuple[Any, ...], children: tuple[Any]) -> Any:
        return _make_sample(cls, children[0], aux[0], aux[1])

    jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    with _LOCK:
        _CLASSES[id(original)] = (original, cls)
    return cls


def _make_sample(cls: type, weights: Any, unbatched: tuple, name: str | None) -> Any:
    obj = object.__new__(cls)
    obj.__dict__.update(cls._ppgraph_layer._apply_layer().__dict__)
    obj.__dict__.update(_ppgraph_weights=weights, _ppgraph_unbatched=unbatched, _ppgraph_name=name)
    return obj


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
