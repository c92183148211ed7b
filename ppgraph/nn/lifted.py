"""Lifting foreign network modules (flax nnx, equinox, trax) into Bayesian layers.

The adapters :mod:`ppgraph.nn.flax`, :mod:`ppgraph.nn.equinox` and
:mod:`ppgraph.nn.trax` share this machinery:

- **Parameter leaves with paths.**  A module's parameters are its array leaves,
  named by "/"-joined paths as the framework names them (``head/kernel`` for an
  nnx attribute, ``layers/1/weight`` for equinox).  The weights of a lifted
  layer are a flat dict ``{path: array}``.
- **Priors by pattern.**  ``priors={pattern: prior}`` maps ``fnmatch`` globs over
  those paths to elementwise priors; the first matching pattern wins.  Leaves no
  pattern covers take ``kernel_prior`` (rank >= 2) or ``bias_prior`` (the
  others), then ``prior``.  Leaves with none of these are *trainable*
  (:data:`~ppgraph.nn.TRAINABLE`): ``pg.fit`` trains them, and ``pg.sample``
  refuses the model until they are fitted (**partial stochasticity**).
- **Samples are modules.**  A sample is an instance of the module's own class
  (a dynamically made subclass of it with the methods of :class:`LiftedModule`) carrying
  the sampled parameters: callable, a JAX pytree whose leaves are the
  parameters.  Batched samples (posterior draws) are the same class with
  leading axes on every parameter; calling one maps over those axes and
  ``sample[i]`` is one network.

A framework adapter writes a :class:`Template` subclass (how to list the
module's parameter leaves, rebuild the module from them, and make the sample
class) and a :class:`LiftedLayer` subclass naming it.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ..dist import is_distribution
from ..errors import ModelError, ShapeError
from ..model import weights_of
from .base import TRAINABLE, Layer, Path, check_prior, float_dtype

__all__ = ["Template", "LiftedLayer", "LiftedModule", "assign_priors", "key_str", "sample_namespace", "template_for"]


def key_str(key: Any) -> str:
    """One step of a ``jax.tree_util`` key path as text (``GetAttrKey('head')`` -> ``"head"``)."""
    for attr in ("name", "key", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key).strip(".[]'\"")


class Template:
    """What a lifted layer knows about its module: parameter paths, shapes, initial values.

    Subclasses fill ``paths`` (ordered), ``initial`` (path -> the module's own
    array) and implement :meth:`build` (a sample-class instance from a flat
    weights dict; traceable) and :meth:`read` (the flat weights of a module).
    """

    framework = "module"
    sample_class: type
    module_class: type

    def __init__(self, module: Any) -> None:
        self.module = module
        self.paths: tuple[str, ...] = ()
        self.initial: dict[str, Any] = {}
        self._outputs: dict[tuple[tuple[int, ...], str], tuple[int, ...]] = {}

    @property
    def name(self) -> str:
        return type(self.module).__name__

    def shapes(self) -> dict[str, jax.ShapeDtypeStruct]:
        """Path -> ``ShapeDtypeStruct`` of every parameter leaf."""
        return {p: jax.ShapeDtypeStruct(jnp.shape(v), jnp.result_type(v)) for p, v in self.initial.items()}

    def build(self, weights: Mapping[str, Any]) -> Any:
        """An instance of the sample class carrying ``weights`` (traceable)."""
        raise NotImplementedError

    def current(self) -> bool:
        """Re-read the module's values (mutable modules may have been trained in place since);
        ``False`` when its parameter structure changed (then a new template is made)."""
        return True

    def read(self, module: Any) -> dict[str, Any]:
        """The flat weights ``{path: array}`` of a module of this structure."""
        raise NotImplementedError

    def apply(self, weights: Mapping[str, Any], x: Any) -> Any:
        """The module's forward pass with ``weights``."""
        module = self.build(weights)
        return self.module_class.__call__(module, x)

    def output_shape(self, input_shape: tuple[int, ...], dtype: Any) -> tuple[int, ...]:
        key = (tuple(input_shape), str(dtype))
        hit = self._outputs.get(key)
        if hit is None:
            out = jax.eval_shape(self.apply, self.shapes(), jax.ShapeDtypeStruct(tuple(input_shape), dtype))
            hit = tuple(out.shape) if hasattr(out, "shape") else tuple(tuple(o.shape) for o in jax.tree.leaves(out))
            self._outputs[key] = hit
        return hit


_TEMPLATES: dict[tuple[str, int], Template] = {}
_LOCK = threading.Lock()


def template_for(kind: type[Template], module: Any) -> Template:
    """The (cached) template of ``module``: one per module object, so sample classes are stable."""
    key = (kind.__qualname__, id(module))
    with _LOCK:
        hit = _TEMPLATES.get(key)
    if hit is not None and hit.module is module and hit.current():
        return hit
    made = kind(module)
    with _LOCK:
        _TEMPLATES[key] = made
    return made


class LiftedModule:
    """The methods every sample class gets (copied into its body by :func:`sample_namespace`).

    The ppgraph network protocol (``__ppgraph_weights__``), ``batch_shape``,
    calling a batch of networks (mapped over the leading axes) and indexing a
    batch (``net[i]``); everything else is the module class's own.
    """

    _ppgraph_template: Template

    def __ppgraph_weights__(self) -> dict[str, Any]:
        """The flat weights ``{path: array}`` (what ``pg.logpdf`` takes as the layer node's value)."""
        return self._ppgraph_template.read(self)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes beyond one network's parameters (``()`` for one network)."""
        template = self._ppgraph_template
        weights = template.read(self)
        for path in template.paths:
            leaf, want = weights[path], template.initial[path]
            return tuple(jnp.shape(leaf)[: jnp.ndim(leaf) - jnp.ndim(want)])
        return ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        template = self._ppgraph_template
        batch = self.batch_shape
        if not batch:
            return template.module_class.__call__(self, *args, **kwargs)
        fn = lambda w: template.build(w)(*args, **kwargs)  # noqa: E731
        for _ in batch:
            fn = jax.vmap(fn)
        return fn(template.read(self))

    def __getitem__(self, index: Any) -> Any:
        if not self.batch_shape:
            parent = getattr(self._ppgraph_template.module_class, "__getitem__", None)
            if parent is None:
                raise IndexError("this network is not batched (it holds the parameters of one network)")
            return parent(self, index)
        template = self._ppgraph_template
        return template.build(jax.tree.map(lambda leaf: leaf[index], template.read(self)))

    def unbatch(self, index: Any) -> Any:
        """The network at ``index`` of the batch axes."""
        if not self.batch_shape:
            raise IndexError("this network is not batched (it holds the parameters of one network)")
        return self[index]

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a network is not an array: use its parameters (ppgraph.model.weights_of(net))")


def sample_namespace(template: Template) -> dict[str, Any]:
    """The class body of a sample class: :class:`LiftedModule`'s methods and the template.

    The sample class derives from the module's class *only* (so instances of the
    module's class can become samples by ``__class__`` assignment); the methods
    are copied in rather than inherited.
    """
    skip = {"__dict__", "__weakref__", "__slots__", "__module__", "__qualname__", "__doc__", "__annotations__"}
    ns = {k: v for k, v in vars(LiftedModule).items() if k not in skip}
    cls = template.module_class
    ns.update(
        _ppgraph_template=template,
        _ppgraph_lifted=True,
        __module__=cls.__module__,
        __qualname__=cls.__qualname__,
        __doc__=f"A sample of a lifted {cls.__name__}: an instance of it carrying sampled parameters.",
    )
    return ns


def assign_priors(
    shapes: Mapping[str, Any],
    prior: Any,
    kernel_prior: Any,
    bias_prior: Any,
    priors: Mapping[str, Any] | None,
    layer: str,
) -> dict[str, Any]:
    """Path -> prior (a distribution or :data:`TRAINABLE`) by the rules of the module docstring.

    Examples
    --------
    >>> import jax
    >>> from ppgraph import dist
    >>> shapes = {"body/kernel": jax.ShapeDtypeStruct((3, 4), float), "body/bias": jax.ShapeDtypeStruct((4,), float),
    ...           "head/kernel": jax.ShapeDtypeStruct((4, 2), float)}
    >>> chosen = assign_priors(shapes, None, None, dist.Cauchy(0.0, 1.0), {"head/*": dist.Normal(0.0, 1.0)}, "demo")
    >>> {path: getattr(type(p), "__name__", p) if not isinstance(p, str) else p for path, p in chosen.items()}
    {'body/kernel': 'trainable', 'body/bias': 'Cauchy', 'head/kernel': 'Normal'}

    Raises
    ------
    ModelError
        A pattern that matches no parameter, or a prior that is not a distribution.
    ShapeError
        A prior whose shape does not broadcast to its leaf's shape.
    """
    if priors is not None and not isinstance(priors, Mapping):
        raise ModelError(f"layer {layer}: priors= must be a dict {{pattern: prior}}, got {type(priors).__name__}",
                         hint='e.g. priors={"head/*": dist.Normal(0.0, 1.0)}')
    patterns = dict(priors or {})
    used: set[str] = set()
    out: dict[str, Any] = {}
    for path, sds in shapes.items():
        chosen, source = None, None
        for pattern, candidate in patterns.items():
            if fnmatch.fnmatchcase(path, pattern):
                chosen, source = candidate, f"priors[{pattern!r}]"
                used.add(pattern)
                break
        if source is None:
            kind = "kernel" if len(sds.shape) >= 2 else "bias"
            specific = kernel_prior if kind == "kernel" else bias_prior
            if specific is not None:
                chosen, source = specific, f"{kind}_prior"
            elif prior is not None:
                chosen, source = prior, "prior"
        out[path] = _checked(chosen, source, path, tuple(sds.shape), layer)
    unused = [p for p in patterns if p not in used]
    if unused:
        shown = ", ".join(shapes) if len(shapes) <= 12 else ", ".join(list(shapes)[:12]) + ", ..."
        raise ModelError(
            f"layer {layer}: the prior pattern {unused[0]!r} matches no parameter"
            + (f" (nor does {', '.join(map(repr, unused[1:]))})" if len(unused) > 1 else ""),
            hint=f"patterns are fnmatch globs over the parameter paths, which are: {shown}",
        )
    return out


def _checked(prior: Any, source: str | None, path: str, shape: tuple[int, ...], layer: str) -> Any:
    if prior is None or isinstance(prior, str) and prior == TRAINABLE:
        return TRAINABLE
    if not is_distribution(prior):
        raise ModelError(
            f"layer {layer}: {source} (for parameter '{path}') is a {type(prior).__name__}, not a distribution",
            hint="priors are distributions such as dist.Normal(0., 1.), or nn.TRAINABLE",
        )
    check_prior(prior, shape, layer, path)
    return prior


class LiftedLayer(Layer):
    """A foreign module with priors on its parameter leaves (base of the adapters' layers).

    Parameters
    ----------
    module
        The framework's module (never modified).
    prior, kernel_prior, bias_prior, priors
        See the module docstring.
    """

    template_class: type[Template] = Template
    weight_names = ("kernel", "bias")
    needs_input = False  # weight shapes come from the module, not from an input's shape
    own_samples = True  # networks are instances of the module's class (see Network.centered)

    def __init__(self, module: Any, prior: Any = None, *, kernel_prior: Any = None, bias_prior: Any = None,
                 priors: Mapping[str, Any] | None = None) -> None:
        self.template = template_for(self.template_class, module)
        self.module = module
        self.prior = prior
        self.weight_priors = {k: v for k, v in (("kernel", kernel_prior), ("bias", bias_prior)) if v is not None}
        self.patterns = priors
        self.assigned = assign_priors(self.template.shapes(), prior, kernel_prior, bias_prior, priors,
                                      self.describe())
        self.fixed_values: dict[str, Any] = {}

    def describe(self) -> str:
        return f"lift({self.template.name})"

    # -- the layer protocol -----------------------------------------------------------------------
    def shapes(self, input_shape: tuple[int, ...] | None) -> tuple[Any, tuple[int, ...] | None]:
        """``(weight shapes, output shape)``: the weights come from the module, whatever the input
        (``input_shape=None`` when the network is never called as ``net(x)``, e.g. ``jax.vmap(net)(x)``)."""
        weights = {p: s for p, s in self.template.shapes().items() if p not in self.fixed_values}
        if input_shape is None:
            return weights, None
        shape = tuple(int(d) for d in input_shape)
        try:
            out = self.template.output_shape(shape, float_dtype())
        except ModelError:
            raise
        except Exception as err:
            detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise ShapeError(
                f"layer {self.describe()} cannot take an input of shape {shape}: {type(err).__name__}: {detail}",
                hint="check the input's shape against what the module expects",
            ) from err
        return weights, out

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.shapes(input_shape)[1]

    def priors(self, weight_shapes: Any) -> Any:
        return {path: self._prior_at(path) for path in weight_shapes}

    def _prior_at(self, path: str) -> Any:
        try:
            return self.assigned[path]
        except KeyError:
            raise ShapeError(
                f"layer {self.describe()}: unexpected parameter '{path}'",
                hint=f"the parameters of this module are {', '.join(self.template.paths)}",
            ) from None

    def trainable_paths(self) -> tuple[str, ...]:
        """Paths of the parameters without a prior (trained by ``pg.fit``) that are not fixed."""
        return tuple(p for p in self.free_paths if isinstance(self.assigned[p], str))

    @property
    def free_paths(self) -> tuple[str, ...]:
        """Paths of the parameters that are this layer's weights (all but the fixed ones)."""
        return tuple(p for p in self.template.paths if p not in self.fixed_values)

    def fix_trainable(self, trained: Any) -> "LiftedLayer":
        """This layer with its trainable parameters fixed at their values in ``trained``.

        ``trained`` is a network (or flat weights) of this module, e.g. what
        ``pg.fit`` trained; the result's weights are the parameters with a prior
        only, and its networks carry the fixed values for the others.  This is
        how ``pg.fit``'s ``result.model`` keeps a partially Bayesian layer.
        """
        import copy

        values = self.canonical(trained)
        new = copy.copy(self)
        new.fixed_values = {**self.fixed_values, **{p: values[p] for p in self.trainable_paths()}}
        return new

    def _init_leaf(self, path: Path, key: Any, shape: tuple[int, ...]) -> Any:
        return self.template.initial[path[0] if isinstance(path, tuple) else path]

    def init(self, rng_key: Any, input_shape: tuple[int, ...] | None = None) -> Any:
        """Initial weights for training: the module's own parameter values."""
        return {p: self.template.initial[p] for p in self.free_paths}

    def canonical(self, weights: Any) -> dict[str, Any]:
        """The flat weights ``{path: array}`` of a sample, a module, its parameter pytree or a flat dict."""
        weights = weights_of(weights)
        if isinstance(weights, Mapping) and all(isinstance(k, str) and k in self.template.initial for k in weights):
            flat = dict(weights)
        elif isinstance(weights, Mapping):
            flat = {}
            for path, leaf in jax.tree_util.tree_flatten_with_path(dict(weights))[0]:
                flat["/".join(key_str(k) for k in path)] = leaf
        else:
            flat = None
        if flat is not None:
            if self.fixed_values:  # a whole network given to a layer with fixed parameters: its free part
                return {p: v for p, v in flat.items() if p not in self.fixed_values}
            return flat
        raise ShapeError(
            f"layer {self.describe()}: expected a {self.template.name} module or its parameters, "
            f"got {type(weights).__name__}",
            hint="give a sample of this layer, the module itself, or its parameter pytree",
        )

    def log_prob(self, weights: Any) -> Any:
        return super().log_prob(self.canonical(weights))

    def apply(self, weights: Any, x: Any) -> Any:
        return self.template.apply({**self.fixed_values, **self.canonical(weights)}, x)

    forward = apply

    def network(self, weights: Any, input_shape: tuple[int, ...] | None = None, *, name: str | None = None) -> Any:
        weights = self.canonical(weights)
        self._check_paths(weights, name)
        return self.template.build({**self.fixed_values, **weights})

    def check_weights(self, weights: Any, input_shape: tuple[int, ...], *, name: str | None = None) -> None:
        super().check_weights(self.canonical(weights), input_shape, name=name)

    def _check_paths(self, weights: Mapping[str, Any], name: str | None) -> None:
        who = f"'{name}' ({self.describe()})" if name else self.describe()
        for path in self.free_paths:
            want = self.template.initial[path]
            if path not in weights:
                raise ShapeError(f"layer {who}: parameter '{path}' is missing",
                                 hint="give the parameters of a sample of this layer")
            have = tuple(jnp.shape(weights[path]))
            if have[len(have) - jnp.ndim(want):] != tuple(jnp.shape(want)):
                raise ShapeError(
                    f"layer {who}: parameter '{path}' has shape {have}, but the module's has shape "
                    f"{tuple(jnp.shape(want))}",
                    hint="give the parameters of a sample of this layer",
                )
        extra = [p for p in weights if p not in self.free_paths]
        if extra:
            raise ShapeError(f"layer {who}: unexpected parameter '{extra[0]}'",
                             hint=f"the parameters of this module are {', '.join(self.template.paths)}")

    def without_priors(self) -> "LiftedLayer":
        import copy

        new = copy.copy(self)
        new.prior = None
        new.weight_priors = {}
        new.patterns = None
        new.assigned = {p: TRAINABLE for p in self.assigned}
        return new

    def architecture(self) -> tuple:
        return (type(self), id(self.module), tuple(sorted((p, id(v)) for p, v in self.fixed_values.items())))


