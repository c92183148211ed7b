"""flax adapter: lift any ``flax.nnx`` module into a Bayesian layer.

``import ppgraph`` never imports flax; this module does.  Install the extra with
``pip install "ppgraph[flax]"``.

``lift(module, prior, kernel_prior=..., bias_prior=..., priors={pattern: prior})``
returns a layer object usable after ``<~`` exactly like ``nn.Serial(...)``:

- the parameters are the module's ``nnx.Param`` leaves, with their shapes,
  named by "/"-joined attribute paths (``linear1/kernel``, ``head/bias``,
  ``layers/0/kernel`` for a list); other state (batch statistics, rng streams)
  is kept as it is in the module;
- one elementwise prior per parameter: the first ``priors`` pattern
  (``fnmatch``) matching its path, else ``kernel_prior`` (rank >= 2) /
  ``bias_prior`` (the others), else ``prior``; parameters with none of these are
  trainable (see :mod:`ppgraph.nn.lifted`: ``pg.fit`` trains them, then
  ``pg.sample(fit.model, ...)`` samples the rest);
- a sample is an instance of the module's own class (an ``nnx.Module``)
  carrying the sampled parameters: callable, usable under ``jax.jit`` and
  ``nnx.jit``; the user's module is never modified.

``pg.logpdf`` takes a sample, any module of the same structure, its
``nnx.state(module, nnx.Param)`` or the flat dict ``{path: array}`` as the
layer node's value.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from flax import nnx
>>> from ppgraph import dist
>>> from ppgraph.nn.flax import lift
>>> mlp = nnx.Sequential(nnx.Linear(3, 8, rngs=nnx.Rngs(0)), nnx.relu, nnx.Linear(8, 2, rngs=nnx.Rngs(1)))
>>> bayes = lift(mlp, dist.Normal(0.0, 1.0))
>>> sorted(bayes.template.paths)
['layers/0/bias', 'layers/0/kernel', 'layers/2/bias', 'layers/2/kernel']
>>> net = bayes.sample(jax.random.key(0), (4, 3))
>>> isinstance(net, nnx.Sequential), net(jnp.ones((4, 3))).shape
(True, (4, 2))
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import jax

from ..errors import ModelError
from ..model import register_weights
from .lifted import LiftedLayer, Template, key_str, sample_namespace

try:
    import flax.nnx as nnx
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("ppgraph.nn.flax needs flax: pip install 'ppgraph[flax]'") from err

__all__ = ["lift", "NnxLayer"]


def _pure(state: Any) -> Any:
    if hasattr(nnx, "to_pure_dict"):
        return nnx.to_pure_dict(state)
    return state.to_pure_dict()  # pragma: no cover - flax < 0.11


def _flat(state: Any) -> dict[str, Any]:
    pure = _pure(state) if isinstance(state, nnx.State) else state
    leaves = jax.tree_util.tree_flatten_with_path(pure)[0]
    return {"/".join(key_str(k) for k in path): leaf for path, leaf in leaves}


def read_params(module: Any) -> dict[str, Any]:
    """The ``nnx.Param`` leaves of ``module`` as a flat dict ``{path: array}``."""
    return _flat(nnx.state(module, nnx.Param))


def _read_state(state: Any) -> dict[str, Any]:
    return _flat(state)


class NnxTemplate(Template):
    """The structure of an nnx module: its ``Param`` paths, a graph definition of its sample class."""

    framework = "flax.nnx"

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        if not isinstance(module, nnx.Module):
            hint = "lift a flax.nnx.Module, e.g. lift(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), dist.Normal(0., 1.))"
            kind = type(module)
            if any(c.__module__.startswith("equinox") for c in kind.__mro__):
                hint = "this is an equinox module: use ppgraph.nn.equinox.lift"
            elif any(c.__module__.startswith("flax.linen") for c in kind.__mro__):
                hint = ("this is a flax.linen module: wrap it with flax.nnx.bridge.ToNNX(module, rngs=...) and "
                        "initialise it (nnx.bridge.lazy_init), or write it with flax.nnx")
            raise ModelError(f"ppgraph.nn.flax.lift needs a flax.nnx.Module, got {kind.__name__}", hint=hint)
        self.module_class = type(module)
        self.sample_class = types.new_class(self.module_class.__name__, (self.module_class,), {},
                                            lambda ns: ns.update(sample_namespace(self)))
        self.user_graphdef = nnx.graphdef(module)  # static attributes too (e.g. train / eval mode)
        copy = nnx.clone(module)
        object.__setattr__(copy, "__class__", self.sample_class)
        self.graphdef, params, rest = nnx.split(copy, nnx.Param, ...)
        # other state as a pure dict: merging makes fresh Variables in the current trace, so a module
        # mutating its state when called (BatchNorm statistics in training mode) mutates its own copy
        self.rest = _pure(rest)
        pure = _pure(params)
        leaves, self.treedef = jax.tree_util.tree_flatten_with_path(pure)
        self.paths = tuple("/".join(key_str(k) for k in path) for path, _ in leaves)
        self.initial = {p: leaf for p, (_, leaf) in zip(self.paths, leaves)}
        if not self.paths:
            raise ModelError(f"the {self.name} module has no nnx.Param leaves: there is nothing to put priors on",
                             hint="lift a module with parameters (e.g. nnx.Linear layers)")

    def build(self, weights: Mapping[str, Any]) -> Any:
        pure = jax.tree_util.tree_unflatten(self.treedef, [weights[p] for p in self.paths])
        return nnx.merge(self.graphdef, pure, self.rest)

    def read(self, module: Any) -> dict[str, Any]:
        return read_params(module)

    def current(self) -> bool:
        if nnx.graphdef(self.module) != self.user_graphdef:  # e.g. module.train() / .eval() since
            return False
        values = read_params(self.module)
        if tuple(values) != self.paths or any(
                jax.numpy.shape(values[p]) != jax.numpy.shape(self.initial[p]) for p in self.paths):
            return False
        self.initial = values
        self.rest = _pure(nnx.split(self.module, nnx.Param, ...)[2])
        return True


class NnxLayer(LiftedLayer):
    """A ``flax.nnx`` module with priors on its parameters (made by :func:`lift`)."""

    template_class = NnxTemplate


def lift(module: Any, prior: Any = None, *, kernel_prior: Any = None, bias_prior: Any = None,
         priors: Mapping[str, Any] | None = None) -> NnxLayer:
    """Lift a ``flax.nnx`` module into a Bayesian layer (see the module docstring).

    Parameters
    ----------
    module
        Any ``nnx.Module`` with ``nnx.Param`` leaves (not modified).
    prior
        Elementwise prior of every parameter no other argument covers.
    kernel_prior, bias_prior
        Priors of the parameters of rank >= 2 / rank < 2 (override ``prior``).
    priors
        ``{pattern: prior}``: ``fnmatch`` globs over parameter paths such as
        ``"head/*"``; the first matching pattern wins over the other arguments.
        A prior may be ``nn.TRAINABLE``.

    Returns
    -------
    NnxLayer
        Usable after ``<~`` in a model: ``net <~ lift(mlp, priors={"head/*": dist.Normal(0., 1.)})``.

    Raises
    ------
    ModelError
        Not an nnx module, a pattern matching no parameter, a prior that is not a
        distribution; a :class:`~ppgraph.ShapeError` for a prior whose shape does
        not broadcast to its parameter's.
    """
    return NnxLayer(module, prior, kernel_prior=kernel_prior, bias_prior=bias_prior, priors=priors)


lift.__ppgraph_layer__ = True  # type: ignore[attr-defined]

register_weights(nnx.Module, read_params)
register_weights(nnx.State, _read_state)
