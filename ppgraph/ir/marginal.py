"""The ``Marginalized`` node kind: discrete latent variables summed out of the density.

:func:`ppgraph.passes.marginalize` replaces a group of discrete latent random
variables, together with every node that depends on them (their *block*:
deterministic nodes, observed random variables, factors), by one
``Marginalized`` node.  Its log density is the block's joint density with the
discrete values summed out exactly; the absorbed nodes are kept inside it, in
topological order, so the rewrite can be read, drawn and undone.

The node's expressions are the absorbed nodes' expressions, each wrapped in a
``lambda`` binding the names that live inside the block, so the graph's edges
(and validation) see only what the block reads from outside.

Examples
--------
>>> from ppgraph.ir import Deterministic, RandomVariable
>>> z = RandomVariable("z", dist="dist.Bernoulli(0.3)")
>>> y = RandomVariable("y", dist="dist.Normal(mu[z], s)", observed="y_observed")
>>> m = Marginalized("z", latents=("z",), block=(z, y))
>>> sorted(m.references())
['dist', 'mu', 's', 'y_observed']
>>> m.absorbed()
('z', 'y')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .expr import ident
from .nodes import Node

__all__ = ["Marginalized"]


@dataclass(frozen=True)
class Marginalized(Node):
    """Discrete latents ``latents`` and the nodes ``block`` depending on them, summed out.

    Attributes
    ----------
    latents
        The eliminated discrete random variables (in topological order).
    block
        Every absorbed node (the latents included), in topological order.
    """

    latents: tuple[str, ...] = ()
    block: tuple[Node, ...] = ()
    kind: ClassVar[str] = "marginalized"

    def absorbed(self) -> tuple[str, ...]:
        """Names of the nodes inside the block."""
        return tuple(n.name for n in self.block)

    def expressions(self) -> dict[str, str]:
        bound = ", ".join(ident(n) for n in self.absorbed())
        out = {}
        for node in self.block:
            for slot, source in node.expressions().items():
                out[f"{node.name}:{slot}"] = f"(lambda {bound}: {source})" if bound else source
        return out
