"""The graph IR: node kinds, the :class:`Graph` container, expressions and validation.

The IR imports nothing from the front ends, passes, codegen or evaluators.
"""

from .expr import CallChain, free_names, ident, join_call, parse_expr, rename, split_call, unparse
from .graph import Graph, node_slots
from .nodes import (
    NODE_KINDS,
    Argument,
    Deterministic,
    Factor,
    Layer,
    Node,
    Parameter,
    RandomVariable,
)
from .marginal import Marginalized
from .validate import validate

__all__ = [
    "Graph",
    "Node",
    "Argument",
    "RandomVariable",
    "Deterministic",
    "Factor",
    "Layer",
    "Parameter",
    "Marginalized",
    "NODE_KINDS",
    "validate",
    "node_slots",
    "ident",
    "free_names",
    "rename",
    "parse_expr",
    "unparse",
    "split_call",
    "join_call",
    "CallChain",
]
