"""ppgraph: a graph-IR compiler for probabilistic programs on JAX.

Write a model once (``@pg.model`` or :class:`GraphBuilder`), inspect and rewrite its
graph with passes, and compile it to plain JAX functions whose source you can read.

Table of contents
-----------------
Model language    :func:`model`, :func:`factor`, :class:`GraphBuilder`, :class:`Model`
Distributions     :mod:`ppgraph.dist`; neural-network layers: :mod:`ppgraph.nn`
IR                :class:`Graph` and node kinds in :mod:`ppgraph.ir`
Passes            :mod:`ppgraph.passes`
Compiled targets  :func:`source`, :func:`logpdf`, :func:`sample_forward`
Inference         :func:`sample` (NUTS/HMC, any :class:`Evaluator`), :func:`sample_predictive`, :class:`Posterior`, :func:`fit`
                  :func:`laplace`; SGLD / SGHMC as ``pg.sample(..., kernel="sgld" | "sghmc")``
Metrics           :mod:`ppgraph.metrics` (accuracy, NLL, Brier, ECE, reliability diagram)
Inspection        :func:`describe`, :func:`to_dot`, :func:`draw`, :func:`draw_diff`
Saving graphs     :func:`save`, :func:`load`
Errors            :class:`ModelError`
"""

from . import dist, ir
from .compile import logpdf, sample_forward, source
from .inference.fit import fit
from .inference import Evaluator, Posterior, sample, sample_predictive
from .inference.laplace import laplace
from . import metrics
from .errors import ModelError, SaveFileError, ShapeError, SupportError
from .frontend import GraphBuilder, factor, model
from .ir import Graph
from .model import Model
from .viz.describe import describe
from .viz.dot import to_dot
from .viz.draw import draw, draw_diff
from .io import load, save
from . import nn  # noqa: E402  (Bayesian layers; registers the Layer codegen rules)

from ._version import __version__

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
    "Posterior",
    "Evaluator",
    "ModelError",
    "ShapeError",
    "SupportError",
    "SaveFileError",
    "__version__",
]
