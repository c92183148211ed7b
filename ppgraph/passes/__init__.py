"""Graph passes: pure ``Graph -> Graph`` rewrites, registered by name and composable.

See ``docs/passes.md`` for writing your own.
"""

from .base import PASSES, compose, get_pass, graph_pass, rebuild, register_pass, rewrite_nodes
from .conditioning import do, observe
from .unconstrained import to_unconstrained

__all__ = [
    "PASSES",
    "register_pass",
    "get_pass",
    "compose",
    "rewrite_nodes",
    "rebuild",
    "graph_pass",
    "to_unconstrained",
    "observe",
    "do",
]
