"""What ``pg.fit`` returns: :class:`FitResult`, and the user's model with the trained values fixed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir import Deterministic, Graph, Layer, Parameter
from ..ir.expr import ident
from ..model import Model
from ..passes.base import rebuild
from .variational import MeanFieldPosterior

__all__ = ["FitResult", "fixed_model"]


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    params
        Parameter name -> trained value; a layer's value is a network object
        (callable on inputs like a sampled network, weights at ``.weights``).
    posterior
        :class:`MeanFieldPosterior` of the other latent variables.
    losses
        The loss (negative ELBO estimate; the negative log joint density when
        there are no latent variables) of every step, a numpy array.
    model
        The model with the trained weights fixed (each layer / parameter a
        constant node holding the trained network / value, as with ``do``):
        ``pg.sample(result.model, key, data...)`` runs NUTS on the remaining
        latent variables.
    weights
        Parameter name -> raw trained value (a layer's weights pytree).
    """

    params: dict[str, Any]
    posterior: MeanFieldPosterior
    losses: np.ndarray
    model: Model
    weights: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        final = float(self.losses[-1]) if len(self.losses) else float("nan")
        return (
            f"FitResult(params={sorted(self.params)}, posterior={self.posterior!r}, "
            f"steps={len(self.losses)}, final_loss={final:.4g})"
        )



def _partly_trainable(graph: Graph, node: Layer) -> bool:
    """Whether a layer has both trainable parameters and parameters with a prior (a lifted module with
    ``priors={pattern: ...}`` covering part of it).  Judged on the layer object when its source evaluates
    without the model's random variables; otherwise ``False``."""
    try:
        layer = eval(node.spec, dict(graph.env))  # noqa: S307 - the model's own source, in its own namespace
    except Exception:
        return False
    trainable = getattr(layer, "trainable_paths", None)
    if not callable(trainable) or not hasattr(layer, "fix_trainable"):
        return False
    paths = trainable()
    return bool(paths) and len(paths) < len(getattr(layer, "free_paths", paths))


def fixed_model(graph: Graph, trained: dict[str, Any]) -> Model:
    """``graph`` with trained values fixed: each layer or parameter becomes a constant node.

    Like ``do``, the node is cut from its parents and its prior term leaves the
    log density; unlike ``do`` on a layer, the constant is the trained *network*
    (callable), so later expressions such as ``net(x)`` work unchanged.  A layer
    with trainable parameters *and* parameters with a prior (partial
    stochasticity) stays a layer: ``spec.fix_trainable(trained)`` fixes the
    trainable ones, and the others remain random (``pg.sample`` samples them).
    """
    replacements, env = {}, {}
    for name, value in trained.items():
        if name not in graph.nodes or not isinstance(graph.obj(name), (Layer, Parameter)):
            continue
        node = graph.obj(name)
        const, i = f"{ident(name)}_fitted", 1
        while const in graph.env or graph.node_of(const) is not None or const in env:
            i += 1
            const = f"{ident(name)}_fitted{i}"
        env[const] = value
        info = dict(node.info)
        info.update(fitted=const, intervened=node.kind)
        if isinstance(node, Layer) and _partly_trainable(graph, node):
            # partial stochasticity: the trainable parameters are fixed, the others keep their prior
            spec = f"({node.spec}).fix_trainable({const})"
            replacements[name] = [Layer(name, spec=spec, input=node.input, location=node.location,
                                        info=tuple(sorted({**dict(node.info), "fitted": const}.items())))]
            continue
        replacements[name] = [
            Deterministic(name, expr=const, location=node.location, info=tuple(sorted(info.items())))
        ]
    if replacements:
        graph = rebuild(graph, replacements, env=env, replace_env=True)
    return Model(graph)

