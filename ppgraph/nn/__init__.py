"""Bayesian neural-network layers: layers are distributions over functions.

``net <~ nn.Serial(nn.Dense(64, dist.Normal(0., 1.)), nn.Relu(), ...)`` in a model
adds one ``Layer`` node; its value is a :class:`Network` (weights pytree plus
the layer's function).  See :mod:`ppgraph.nn.base` for the layer protocol, the
weights layout and the prior broadcasting rules, and ``docs/nn.md``.

The adapters that lift other frameworks' modules into Bayesian layers are
imported only on request: :mod:`ppgraph.nn.flax` (``flax.nnx`` modules),
:mod:`ppgraph.nn.equinox` (equinox modules) and :mod:`ppgraph.nn.trax` (it
starts TensorFlow); :mod:`ppgraph.nn.lifted` holds what they share (parameter
paths, priors by pattern, partial stochasticity).
"""

import sys

from . import rules  # registers the codegen rules of Layer nodes
from .base import TRAINABLE, Layer
from .layers import (
    Activation,
    Conv2D,
    Dense,
    Flatten,
    Gelu,
    LogSoftmax,
    Relu,
    Serial,
    Sigmoid,
    Softmax,
    Tanh,
)
from .network import Network
from .noncentered import NonCentered

__all__ = [
    "Layer",
    "TRAINABLE",
    "Network",
    "Dense",
    "Conv2D",
    "Flatten",
    "Activation",
    "Relu",
    "Tanh",
    "Sigmoid",
    "Gelu",
    "Softmax",
    "LogSoftmax",
    "Serial",
    "NonCentered",
]

rules.register_reparameterizer(sys.modules[__name__])  # non-centred layers refer to this package as `nn`
