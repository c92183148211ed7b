"""Graph passes: pure ``Graph -> Graph`` rewrites, registered by name and composable.

See ``docs/passes.md`` for writing your own.
"""

from .base import (
    PASSES,
    Rewrite,
    compose,
    get_pass,
    graph_pass,
    node_rewrite,
    rebuild,
    register_pass,
    rewrite_nodes,
)
from .bnn import bnn_to_trainable
from .conditioning import do, observe
from .marginalize import marginalize
from .prune import prune
from .reparam import (
    LOC_SCALE_FAMILIES,
    REPARAMETERIZERS,
    centeredness_candidates,
    learnable_centeredness,
    register_reparameterizer,
    reparameterize,
)
from .unconstrained import to_unconstrained
from .vectorize import vectorize

__all__ = [
    "PASSES",
    "register_pass",
    "get_pass",
    "compose",
    "rewrite_nodes",
    "rebuild",
    "graph_pass",
    "node_rewrite",
    "Rewrite",
    "to_unconstrained",
    "reparameterize",
    "learnable_centeredness",
    "centeredness_candidates",
    "REPARAMETERIZERS",
    "register_reparameterizer",
    "LOC_SCALE_FAMILIES",
    "observe",
    "do",
    "prune",
    "marginalize",
    "bnn_to_trainable",
    "vectorize",
]
