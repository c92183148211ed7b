"""Node kinds of the graph IR.

Each node of a :class:`~ppgraph.ir.graph.Graph` carries exactly one frozen node
object under the attribute ``"node"``.  Node objects hold Python *source* for
everything they compute (see :mod:`ppgraph.ir.expr`), so a graph can be printed,
saved and rewritten without running anything.

=================  ==========================================================
kind               meaning
=================  ==========================================================
``Argument``       a model input given at call time (data, covariates)
``RandomVariable`` ``name ~ dist``; observed when ``observed`` binds a value
``Deterministic``  ``name = expr``
``Factor``         an extra log-density term (Stan's ``target +=``)
``Layer``          a neural-network layer whose weights have priors: a random
                   variable whose value is a function
``Parameter``      a point-estimated, trainable quantity
=================  ==========================================================

Examples
--------
>>> rv = RandomVariable("mu", dist="dist.Normal(0.0, 5.0)")
>>> rv.references()
('dist',)
>>> rv.replace(dist="dist.Normal(0.0, 1.0)").dist
'dist.Normal(0.0, 1.0)'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from .expr import free_names

__all__ = [
    "Node",
    "Argument",
    "RandomVariable",
    "Deterministic",
    "Factor",
    "Layer",
    "Parameter",
    "NODE_KINDS",
]


@dataclass(frozen=True)
class Node:
    """Base class of all node kinds.

    Attributes
    ----------
    name
        The node id (the model variable's name; ``"z.mu"`` inside an inlined model).
    location
        ``"file.py:LINE"`` where the node was written, for error messages
        (ignored by equality).
    info
        Free-form ``(key, value)`` string pairs that passes leave on nodes they
        create or rewrite (e.g. ``("unconstrained_of", "tau")``).
    """

    name: str
    location: str | None = field(default=None, compare=False, kw_only=True)
    info: tuple[tuple[str, str], ...] = field(default=(), kw_only=True)

    kind: ClassVar[str] = "node"

    def expressions(self) -> dict[str, str]:
        """Slot name -> source of every expression the node evaluates."""
        return {}

    def references(self) -> tuple[str, ...]:
        """Free names read by the node's expressions, in order of first use."""
        seen: dict[str, None] = {}
        for source in self.expressions().values():
            for name in free_names(source):
                seen.setdefault(name, None)
        return tuple(seen)

    def replace(self, **changes) -> "Node":
        """A copy with some fields changed (nodes are immutable)."""
        return dataclasses.replace(self, **changes)

    def get_info(self, key: str, default: str | None = None) -> str | None:
        """Value of an ``info`` entry."""
        return dict(self.info).get(key, default)

    def with_info(self, **entries: str) -> "Node":
        """A copy with ``info`` entries added or replaced."""
        merged = dict(self.info)
        merged.update(entries)
        return self.replace(info=tuple(sorted(merged.items())))


@dataclass(frozen=True)
class Argument(Node):
    """A model input, given when the model is called.

    ``default`` is the source of the default value, or ``None`` when required.
    """

    default: str | None = None
    kind: ClassVar[str] = "argument"

    def expressions(self) -> dict[str, str]:
        return {} if self.default is None else {"default": self.default}


@dataclass(frozen=True)
class RandomVariable(Node):
    """``name ~ dist``.

    ``dist`` is the source of an expression that evaluates to a
    ``numpyro.distributions.Distribution``; ``observed``, when not ``None``, is
    the source of the bound value (after :func:`ppgraph.passes.observe`).
    """

    dist: str = ""
    observed: str | None = None
    kind: ClassVar[str] = "random"

    def expressions(self) -> dict[str, str]:
        out = {"dist": self.dist}
        if self.observed is not None:
            out["observed"] = self.observed
        return out


@dataclass(frozen=True)
class Deterministic(Node):
    """``name = expr``."""

    expr: str = ""
    kind: ClassVar[str] = "deterministic"

    def expressions(self) -> dict[str, str]:
        return {"expr": self.expr}


@dataclass(frozen=True)
class Factor(Node):
    """An extra term ``expr`` added to the joint log density (summed if not scalar)."""

    expr: str = ""
    kind: ClassVar[str] = "factor"

    def expressions(self) -> dict[str, str]:
        return {"expr": self.expr}


@dataclass(frozen=True)
class Layer(Node):
    """A neural-network layer with priors on its weights.

    ``spec`` is the source of the layer object (e.g. ``nn.Serial(...)``);
    ``input`` the source of an example input from which weight shapes are
    inferred; ``observed`` binds fixed weights (after ``observe``/``do``).
    """

    spec: str = ""
    input: str | None = None
    observed: str | None = None
    kind: ClassVar[str] = "layer"

    def expressions(self) -> dict[str, str]:
        out = {"spec": self.spec}
        if self.input is not None:
            out["input"] = self.input
        if self.observed is not None:
            out["observed"] = self.observed
        return out


@dataclass(frozen=True)
class Parameter(Node):
    """A trainable point estimate.

    ``init`` is the source of its initial value; ``prior`` the source of a
    distribution (or layer, for a trainable network) whose log density is added
    as a penalty, or ``None`` for none.
    """

    init: str = ""
    prior: str | None = None
    kind: ClassVar[str] = "parameter"

    def expressions(self) -> dict[str, str]:
        out = {"init": self.init}
        if self.prior is not None:
            out["prior"] = self.prior
        return out


NODE_KINDS: dict[str, type[Node]] = {
    cls.kind: cls for cls in (Argument, RandomVariable, Deterministic, Factor, Layer, Parameter)
}
