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



def fixed_model(graph: Graph, trained: dict[str, Any]) -> Model:
    """``graph`` with trained values fixed: each layer or parameter becomes a constant node.

    Like ``do``, the node is cut from its parents and its prior term leaves the
    log density; unlike ``do`` on a layer, the constant is the trained *network*
    (callable), so later expressions such as ``net(x)`` work unchanged.
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
        replacements[name] = [
            Deterministic(name, expr=const, location=node.location, info=tuple(sorted(info.items())))
        ]
    if replacements:
        graph = rebuild(graph, replacements, env=env, replace_env=True)
    return Model(graph)

