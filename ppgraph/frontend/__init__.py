"""Front ends: ``@pg.model`` (parse a function) and ``GraphBuilder`` (build from code).

Both produce the same IR.
"""

from .builder import GraphBuilder, Symbol
from .parser import factor, model

__all__ = ["model", "factor", "GraphBuilder", "Symbol"]
