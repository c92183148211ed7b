"""Inspecting models: node tables, Graphviz drawings, graph diffs.

The public functions are re-exported by :mod:`ppgraph`: ``pg.describe``,
``pg.to_dot``, ``pg.draw``, ``pg.draw_diff``.  Modules:

``describe``  one row per node (``describe``, ``format_table``: what ``print(model)`` shows);
``shapes``    shapes, batch shapes and supports (traced with ``jax.eval_shape``);
``labels``    short texts for nodes (distributions, layer stacks);
``dot``       Graphviz DOT source (``to_dot``, ``diff_dot``, ``graph_diff``);
``draw``      rendering to SVG / PNG / PDF (``draw``, ``draw_diff``, ``to_svg``), with a
              matplotlib fallback when the ``dot`` program is missing.
"""

from .._lazy import attach
from ..model import Model, register_display

__all__ = ["format_table", "COLUMNS"]


def _table(model: Model) -> str:
    from .describe import format_table

    return format_table(model)


def _svg(model: Model) -> str:
    from .draw import to_svg  # Graphviz is imported only when a notebook asks for the drawing

    return to_svg(model)


# How models show themselves (print(model), notebooks); the modules load on first use.
register_display("text", _table)
register_display("svg", _svg)
__getattr__, __dir__ = attach(__name__, {"format_table": "ppgraph.viz.describe", "COLUMNS": "ppgraph.viz.describe"})
