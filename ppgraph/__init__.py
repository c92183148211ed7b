"""ppgraph: a graph-IR compiler for probabilistic programs on JAX.

Write a model once (``@pg.model`` or :class:`GraphBuilder`), inspect and rewrite its
graph with passes, and compile it to plain JAX functions whose source you can read.

Table of contents
-----------------
Model language    :func:`model`, :func:`factor`, :class:`GraphBuilder`, :class:`Model`
Distributions     :mod:`ppgraph.dist`; neural-network layers: :mod:`ppgraph.nn`
IR                :class:`Graph` and node kinds in :mod:`ppgraph.ir`
Passes            :mod:`ppgraph.passes`
Compiled targets  :func:`source`, :func:`logpdf`, :func:`sample_forward`; :func:`clear_cache` (compiled programs are cached per data shapes)
Inference         :func:`sample` (NUTS/HMC, any :class:`Evaluator`), :func:`sample_predictive`, :class:`Posterior`, :func:`fit`
                  :func:`laplace`; SGLD / SGHMC as ``pg.sample(..., kernel="sgld" | "sghmc")``
Metrics           :mod:`ppgraph.metrics` (accuracy, NLL, Brier, ECE, reliability diagram)
Inspection        :func:`describe`, :func:`to_dot`, :func:`draw`, :func:`draw_diff`
Saving graphs     :func:`save`, :func:`load`
Errors            :class:`ModelError`

Inference, inspection, saving, metrics and :mod:`ppgraph.nn` are imported on first use:
``import ppgraph`` loads no sampler, optimiser or plotting library.
"""

from typing import TYPE_CHECKING

from . import dist, ir
from .compile import logpdf, sample_forward, source
from .cache import clear_cache
from .errors import ModelError, SaveFileError, ShapeError, SupportError
from .frontend import GraphBuilder, factor, model
from .ir import Graph
from .model import Model
from . import viz  # noqa: F401  (registers how models display: print(model), notebooks)

from ._lazy import attach
from ._version import __version__

if TYPE_CHECKING:  # the names imported on first use (see the end), for type checkers and editors
    from . import inference, metrics, nn
    from .inference import Evaluator, Posterior, sample, sample_predictive
    from .inference.fit import fit
    from .inference.laplace import laplace
    from .io import load, save
    from .viz.describe import describe
    from .viz.dot import to_dot
    from .viz.draw import draw, draw_diff

__all__ = [
    "describe",
    "to_dot",
    "draw",
    "draw_diff",
    "save",
    "load",
    "model",
    "factor",
    "GraphBuilder",
    "Model",
    "Graph",
    "dist",
    "nn",
    "ir",
    "source",
    "logpdf",
    "sample_forward",
    "fit",
    "laplace",
    "metrics",
    "sample",
    "sample_predictive",
    "clear_cache",
    "Posterior",
    "Evaluator",
    "ModelError",
    "ShapeError",
    "SupportError",
    "SaveFileError",
    "__version__",
]


# Imported on first use (PEP 562): inference loads BlackJAX, Optax and pandas, drawing
# Graphviz and matplotlib, so ``import ppgraph`` stays light.
__getattr__, __dir__ = attach(__name__, {
    "fit": "ppgraph.inference.fit",
    "laplace": "ppgraph.inference.laplace",
    "sample": "ppgraph.inference.sample",
    "sample_predictive": "ppgraph.inference.predictive",
    "Posterior": "ppgraph.inference.posterior",
    "Evaluator": "ppgraph.inference.evaluator",
    "describe": "ppgraph.viz.describe",
    "to_dot": "ppgraph.viz.dot",
    "draw": "ppgraph.viz.draw",
    "draw_diff": "ppgraph.viz.draw",
    "save": "ppgraph.io",
    "load": "ppgraph.io",
}, submodules=("inference", "metrics", "nn"))
