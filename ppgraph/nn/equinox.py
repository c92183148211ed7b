"""equinox adapter: lift any equinox module into a Bayesian layer.

``import ppgraph`` never imports equinox; this module does.  Install the extra
with ``pip install "ppgraph[equinox]"``.

``lift(module, prior, kernel_prior=..., bias_prior=..., priors={pattern: prior})``
returns a layer object usable after ``<~`` exactly like ``nn.Serial(...)``:

- the parameters are the module's inexact (floating) array leaves, with their
  shapes, named by "/"-joined paths (``layers/1/weight``, ``linear/bias``);
  everything else (activation functions, integer arrays, static fields) is kept
  as it is in the module;
- one elementwise prior per parameter: the first ``priors`` pattern
  (``fnmatch``) matching its path, else ``kernel_prior`` (rank >= 2) /
  ``bias_prior`` (the others), else ``prior``; parameters with none of these are
  trainable (see :mod:`ppgraph.nn.lifted`);
- a sample is an instance of the module's own class (an equinox module)
  carrying the sampled parameters: callable, and a JAX pytree whose leaves are
  exactly the parameters, so it passes through ``jax.jit`` itself (not only
  ``eqx.filter_jit``).  The user's module is never modified.

``pg.logpdf`` takes a sample, any module of the same structure, its parameter
pytree ``eqx.filter(module, eqx.is_inexact_array)`` or the flat dict
``{path: array}`` as the layer node's value.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> import equinox as eqx
>>> from ppgraph import dist
>>> from ppgraph.nn.equinox import lift
>>> mlp = eqx.nn.MLP(3, 2, width_size=8, depth=1, key=jax.random.key(0))
>>> bayes = lift(mlp, dist.Normal(0.0, 1.0))
>>> bayes.template.paths
('layers/0/weight', 'layers/0/bias', 'layers/1/weight', 'layers/1/bias')
>>> net = bayes.sample(jax.random.key(1), (3,))
>>> isinstance(net, eqx.nn.MLP), jax.jit(lambda n, x: n(x))(net, jnp.ones(3)).shape
(True, (2,))
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
    import equinox as eqx
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("ppgraph.nn.equinox needs equinox: pip install 'ppgraph[equinox]'") from err

__all__ = ["lift", "EquinoxLayer"]

_WEIGHTS = "_ppgraph_weights"


def read_params(module: Any) -> dict[str, Any]:
    """The inexact array leaves of an equinox module as a flat dict ``{path: array}``."""
    stored = getattr(module, "__dict__", {}).get(_WEIGHTS)
    if stored is not None:
        return dict(stored)
    params = eqx.filter(module, eqx.is_inexact_array)
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {"/".join(key_str(k) for k in path): leaf for path, leaf in leaves}


def _make_class(template: "EquinoxTemplate") -> type:
    """The sample class: a subclass of the module's class whose pytree leaves are the parameters.

    equinox registers every module class as a pytree of all its fields (functions
    included), which ``jax.jit`` cannot return; the sample class is registered
    with its parameters as the only leaves (the rest is the template's), so
    samples cross ``jax.jit`` / ``jax.vmap`` boundaries like arrays.
    """
    import sys
    from unittest import mock

    eqx_module = sys.modules[type(eqx.Module).__module__]  # where equinox's metaclass registers classes
    if not hasattr(eqx_module, "jtu"):  # pragma: no cover - another equinox layout
        raise ModelError(f"ppgraph.nn.equinox does not support equinox {getattr(eqx, '__version__', '?')}",
                         hint="install equinox>=0.11 as tested (pip install 'ppgraph[equinox]')")
    quiet = types.SimpleNamespace(**{k: getattr(jax.tree_util, k) for k in dir(jax.tree_util) if not k.startswith("__")})
    quiet.register_pytree_with_keys = lambda *args, **kwargs: None
    with mock.patch.object(eqx_module, "jtu", quiet):
        cls = types.new_class(template.module_class.__name__, (template.module_class,), {},
                              lambda ns: ns.update(sample_namespace(template)))
    paths = template.paths

    def flatten_with_keys(obj: Any) -> tuple[list[tuple[Any, Any]], None]:
        weights = obj.__dict__[_WEIGHTS]
        return [(jax.tree_util.DictKey(p), weights[p]) for p in paths], None

    def flatten(obj: Any) -> tuple[list[Any], None]:
        weights = obj.__dict__[_WEIGHTS]
        return [weights[p] for p in paths], None

    def unflatten(_: None, children: Any) -> Any:
        return template.build(dict(zip(paths, children)))

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


class EquinoxTemplate(Template):
    """The structure of an equinox module: its parameter paths and the non-parameter rest."""

    framework = "equinox"

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        if not isinstance(module, eqx.Module):
            hint = "lift an equinox.Module, e.g. lift(eqx.nn.MLP(3, 2, 16, 2, key=key), dist.Normal(0., 1.))"
            if any(c.__module__.startswith("flax") for c in type(module).__mro__):
                hint = "this is a flax module: use ppgraph.nn.flax.lift"
            raise ModelError(f"ppgraph.nn.equinox.lift needs an equinox.Module, got {type(module).__name__}",
                             hint=hint)
        self.module_class = type(module)
        params, self.static = eqx.partition(module, eqx.is_inexact_array)
        leaves, self.treedef = jax.tree_util.tree_flatten_with_path(params)
        self.paths = tuple("/".join(key_str(k) for k in path) for path, _ in leaves)
        self.initial = {p: leaf for p, (_, leaf) in zip(self.paths, leaves)}
        if not self.paths:
            raise ModelError(f"the {self.name} module has no floating-point array leaves: there is nothing to "
                             "put priors on", hint="lift a module with parameters (e.g. eqx.nn.Linear layers)")
        self.sample_class = _make_class(self)

    def build(self, weights: Mapping[str, Any]) -> Any:
        params = jax.tree_util.tree_unflatten(self.treedef, [weights[p] for p in self.paths])
        combined = eqx.combine(params, self.static)
        obj = object.__new__(self.sample_class)
        obj.__dict__.update(combined.__dict__)
        obj.__dict__[_WEIGHTS] = {p: weights[p] for p in self.paths}
        return obj

    def read(self, module: Any) -> dict[str, Any]:
        return read_params(module)


class EquinoxLayer(LiftedLayer):
    """An equinox module with priors on its parameters (made by :func:`lift`)."""

    template_class = EquinoxTemplate


def lift(module: Any, prior: Any = None, *, kernel_prior: Any = None, bias_prior: Any = None,
         priors: Mapping[str, Any] | None = None) -> EquinoxLayer:
    """Lift an equinox module into a Bayesian layer (see the module docstring).

    Parameters
    ----------
    module
        Any ``equinox.Module`` with floating-point array leaves (not modified).
    prior
        Elementwise prior of every parameter no other argument covers.
    kernel_prior, bias_prior
        Priors of the parameters of rank >= 2 / rank < 2 (override ``prior``).
    priors
        ``{pattern: prior}``: ``fnmatch`` globs over parameter paths such as
        ``"layers/2/*"``; the first matching pattern wins over the other
        arguments.  A prior may be ``nn.TRAINABLE``.

    Returns
    -------
    EquinoxLayer
        Usable after ``<~`` in a model: ``net <~ lift(mlp, dist.Normal(0., 1.))``.

    Raises
    ------
    ModelError
        Not an equinox module, a pattern matching no parameter, a prior that is
        not a distribution; a :class:`~ppgraph.ShapeError` for a prior whose
        shape does not broadcast to its parameter's.
    """
    return EquinoxLayer(module, prior, kernel_prior=kernel_prior, bias_prior=bias_prior, priors=priors)


lift.__ppgraph_layer__ = True  # type: ignore[attr-defined]

register_weights(eqx.Module, read_params)
