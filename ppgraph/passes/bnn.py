"""``bnn_to_trainable``: Bayesian layers become trainable ``Parameter`` nodes.

A layer node ``net <~ S`` (``S`` the source of a layer object, ``I`` the source
of its example input) becomes::

    Parameter("net", init="TrainableLayer(S, I)", prior="S" | None,
              info=(("trainable_layer", "map" | "ml"), ...))

The parameter's *value* (what ``pg.logpdf`` takes and ``pg.fit`` trains) is the
layer's weights pytree.  ``keep_prior=True`` keeps ``S`` as the prior, whose
``log_prob(weights)`` is added to the log density as a penalty (MAP);
``keep_prior=False`` drops it (maximum likelihood).  The ``init`` expression
evaluates to a :class:`TrainableLayer`, which the codegen rules of ``Parameter``
nodes marked ``trainable_layer`` (``ppgraph/codegen/targets.py``) use in two ways:

- ``TrainableLayer(S, I).init(key)``: initial weights (the layer's own
  initialiser, e.g. Glorot-normal kernels) when the parameter is not given;
- ``TrainableLayer(S, I).network(weights, name)``: after the prior term, the
  node's identifier is rebound to a callable network, so later expressions
  (``logits = net(images)``) use the parameter exactly as they used the layer.

Examples
--------
>>> import ppgraph as pg
>>> from ppgraph import dist, nn
>>> @pg.model
... def regression(x):
...     net <~ nn.Dense(1, dist.Normal(0.0, 1.0))
...     y <~ dist.Normal(net(x)[:, 0], 0.5)
...     return y
>>> g = bnn_to_trainable(regression)
>>> type(g.obj("net")).__name__, g.obj("net").prior
('Parameter', 'nn.Dense(1, dist.Normal(0.0, 1.0))')
>>> bnn_to_trainable(regression, keep_prior=False).obj("net").prior is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax.numpy as jnp

from ..errors import ModelError
from ..ir import Graph, Layer, Node, Parameter
from ..model import weights_of
from .base import graph_of, register_pass, rewrite_nodes

__all__ = ["bnn_to_trainable", "TrainableLayer", "INFO_KEY", "is_trainable_layer", "weights_of"]

INFO_KEY = "trainable_layer"
"""``info`` key marking a ``Parameter`` made from a layer: ``"map"`` (prior kept) or ``"ml"`` (dropped)."""


class TrainableLayer:
    """A layer object together with its example input: initialises and binds trainable weights.

    Parameters
    ----------
    layer
        A layer object (the ``ppgraph.nn`` layer protocol: ``init``, ``network``).
    example
        An example input (its shape sets the weight shapes), or ``None``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ppgraph import dist, nn
    >>> t = TrainableLayer(nn.Dense(2, dist.Normal(0.0, 1.0)), jnp.ones((5, 3)))
    >>> w = t.init(jax.random.key(0))
    >>> t.network(w, name="net")(jnp.ones((5, 3))).shape
    (5, 2)
    """

    def __init__(self, layer: Any, example: Any = None) -> None:
        if not getattr(layer, "__ppgraph_layer__", False):
            raise ModelError(
                f"a trainable layer needs a layer object, got {type(layer).__name__}",
                hint="bnn_to_trainable applies to nodes written `name <~ nn.Layer(...)`",
            )
        self.layer = layer
        self.example = example

    def input_shape(self, name: str | None = None) -> tuple[int, ...]:
        """The example input's shape (a ModelError if the layer was never applied to an input)."""
        if self.example is None:
            raise ModelError(
                f"the input shape of layer {self.layer!r} is unknown, so its weights cannot be initialised",
                node=name,
                hint="apply the network to an input in the model (e.g. `logits = net(x)`)",
            )
        return tuple(jnp.shape(self.example))

    def init(self, rng_key: Any, *, name: str | None = None) -> Any:
        """Initial weights for training (the layer's initialiser on the example input's shape).

        Layers whose weight shapes do not depend on the input (``needs_input = False``,
        e.g. lifted flax / equinox modules) need no example input.
        """
        if self.example is None and not getattr(self.layer, "needs_input", True):
            return self.layer.init(rng_key, None)
        return self.layer.init(rng_key, self.input_shape(name))

    def network(self, weights: Any, *, name: str | None = None) -> Any:
        """``weights`` (or a network) as a callable network, checked against the example input."""
        shape = None if self.example is None else tuple(jnp.shape(self.example))
        return self.layer.network(weights_of(weights), shape, name=name)

    def __repr__(self) -> str:
        return f"TrainableLayer({self.layer!r})"




def is_trainable_layer(node: Node) -> bool:
    """Whether ``node`` is a ``Parameter`` made from a layer by :func:`bnn_to_trainable`."""
    return isinstance(node, Parameter) and node.get_info(INFO_KEY) is not None


def _env_name(graph: Graph) -> tuple[str, dict[str, Any]]:
    for name in ("TrainableLayer", "pg_TrainableLayer", "ppgraph_TrainableLayer"):
        if graph.env.get(name, TrainableLayer) is TrainableLayer and name not in graph.nodes:
            return name, {name: TrainableLayer}
    raise ModelError("the names TrainableLayer, pg_TrainableLayer and ppgraph_TrainableLayer are all taken",
                     model=graph.name, hint="rename one of them")


def _selected(graph: Graph, layers: str | Iterable[str] | None) -> set[str]:
    if layers is None:
        return {n.name for n in graph.objs(Layer) if n.observed is None}
    names = [layers] if isinstance(layers, str) else list(layers)
    chosen = set()
    for key in names:
        name = graph.node_of(key)
        if name is None:
            from ..ir.graph import _close_names

            close = _close_names(key, graph.nodes)
            raise ModelError(
                f"bnn_to_trainable: no node named '{key}'",
                model=graph.name,
                hint=f"did you mean {close}?" if close else f"the layers are {[n.name for n in graph.objs(Layer)]}",
            )
        node = graph.obj(name)
        if is_trainable_layer(node):
            continue  # converted already: the pass is idempotent
        if not isinstance(node, Layer):
            raise ModelError(
                f"bnn_to_trainable: '{name}' is a {node.kind} node, not a layer",
                node=name,
                model=graph.name,
                location=node.location,
                hint="name layer nodes (written `name <~ nn.Dense(...)`)",
            )
        if node.observed is not None:
            raise ModelError(
                f"bnn_to_trainable: the layer '{name}' is observed (its weights are fixed), so it cannot be trained",
                node=name,
                model=graph.name,
                location=node.location,
                hint="train the model before fixing the layer, or leave it out of `layers`",
            )
        chosen.add(name)
    return chosen


@register_pass("bnn_to_trainable")
def bnn_to_trainable(graph: Any, layers: str | Iterable[str] | None = None, keep_prior: bool = True) -> Graph:
    """Turn Bayesian layers into trainable ``Parameter`` nodes (see the module docstring).

    Parameters
    ----------
    graph
        A model or graph (not modified).
    layers
        Names of the layers to convert (default: every unobserved layer).
    keep_prior
        Keep each layer's prior as a penalty on its weights (MAP); ``False``
        drops it (maximum likelihood).

    Returns
    -------
    Graph
        A new graph.  Running the pass again returns an equal graph (layers
        converted already are left as they are).

    Raises
    ------
    ModelError
        If a name is not a layer, or the layer is observed.
    """
    source = graph_of(graph)
    chosen = _selected(source, layers)
    if not chosen:
        return source.copy()
    fn_name, env = _env_name(source)
    mode = "map" if keep_prior else "ml"

    def rewrite(node: Node, g: Graph) -> list[Node] | None:
        if node.name not in chosen:
            return None
        assert isinstance(node, Layer)
        args = node.spec if node.input is None else f"{node.spec}, {node.input}"
        return [
            Parameter(
                node.name,
                init=f"{fn_name}({args})",
                prior=node.spec if keep_prior else None,
                location=node.location,
                info=tuple(sorted({**dict(node.info), INFO_KEY: mode}.items())),
            )
        ]

    return rewrite_nodes(source, rewrite, env=env)
