"""Code generation: graph -> Python AST -> source (``astor``) -> JAX function (``exec``).

The driver (:mod:`.base`) walks the graph in topological order and asks the rule
registered for each node kind and target for its statements.  Targets and the
rules of the core node kinds are in :mod:`.targets`; layer rules live with the
layers in :mod:`ppgraph.nn`.  Codegen imports no evaluator.
"""

from . import targets as _targets  # noqa: F401  (registers the built-in targets and rules)
from . import marginal as _marginal  # noqa: F401  (rules of marginalised discrete variables)
from .base import RULES, TARGETS, Compiled, Context, Target, call_mapped, generate, node_error, register_target, rule

__all__ = [
    "generate",
    "rule",
    "register_target",
    "Target",
    "Context",
    "Compiled",
    "RULES",
    "TARGETS",
    "call_mapped",
    "node_error",
]
