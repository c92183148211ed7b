"""The :class:`Model` type returned by ``@pg.model`` and ``GraphBuilder.build``.

A model is a validated :class:`~ppgraph.ir.Graph` plus its signature.  It is
immutable in spirit: passes return new graphs, and ``Model(graph)`` wraps them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .errors import ModelError
from .ir import Argument, Graph, validate
from .ir.expr import ident

__all__ = ["Model", "as_graph", "as_model", "weights_of", "register_display", "register_weights"]

_DISPLAY: dict[str, Callable[["Model"], str]] = {}
"""How models show themselves: ``"text"`` (``repr``) and ``"svg"`` (notebooks), set by :mod:`ppgraph.viz`."""


def register_display(kind: str, show: Callable[["Model"], str]) -> None:
    """Set how models are displayed: ``kind`` is ``"text"`` (``repr(model)``) or ``"svg"`` (Jupyter).

    :mod:`ppgraph.viz` registers its node table and drawing when it is imported, so
    this module (below ``viz`` in the layering) needs no import of it.
    """
    if kind not in ("text", "svg"):
        raise ValueError(f"display kind must be 'text' or 'svg', got {kind!r}")
    _DISPLAY[kind] = show


class Model:
    """A probabilistic model: a graph of random, deterministic and layer nodes.

    Parameters
    ----------
    graph
        The IR; validated on construction.
    doc
        The model's docstring.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def coin(n):
    ...     p <~ dist.Beta(2.0, 2.0)
    ...     heads <~ dist.Binomial(n, p)
    ...     return heads
    >>> sorted(coin.graph.nodes)
    ['heads', 'n', 'p']
    """

    def __init__(self, graph: Graph, *, doc: str | None = None) -> None:
        if not isinstance(graph, Graph):
            raise TypeError(f"Model needs a ppgraph Graph, got {type(graph).__name__}")
        self._graph = validate(graph)
        self.__doc__ = doc
        self._cache: dict[Any, Any] = {}

    @property
    def graph(self) -> Graph:
        """The IR (a ``networkx.DiGraph`` subclass)."""
        return self._graph

    @property
    def name(self) -> str:
        """The model's name."""
        return self._graph.name

    @property
    def signature(self) -> inspect.Signature:
        """The call signature: the argument nodes, with defaults where given."""
        params = []
        for name in self._graph.arguments():
            node = self._graph.obj(name)
            default = inspect.Parameter.empty if node.default is None else _Default(node.default)
            params.append(inspect.Parameter(ident(name), inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default))
        return inspect.Signature(params)

    def bind(self, args: tuple, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split a call's arguments into (model arguments, values of other nodes).

        Positional ``args`` go to the model's arguments in order; keywords naming
        an argument go there, keywords naming any other node are returned apart
        (observed / given values).  Unknown names raise :class:`ModelError`.
        """
        arg_names = self._graph.arguments()
        if len(args) > len(arg_names):
            raise ModelError(
                f"takes {len(arg_names)} positional argument(s) ({', '.join(arg_names) or 'none'}) "
                f"but {len(args)} were given",
                model=self.name,
            )
        bound = dict(zip(arg_names, args))
        values: dict[str, Any] = {}
        for key, value in kwargs.items():
            name = self._graph.node_of(key) if key not in self._graph.nodes else key
            if name is None:
                from .ir.graph import _close_names

                close = _close_names(key, self._graph.nodes)
                raise ModelError(
                    f"got a value for '{key}', which is not a node of the model",
                    model=self.name,
                    hint=f"did you mean {close}?" if close else f"the nodes are {sorted(self._graph.nodes)}",
                )
            if name in arg_names:
                if name in bound:
                    raise ModelError(f"got two values for argument '{name}'", model=self.name)
                bound[name] = value
            else:
                values[name] = value
        return bound, values

    def __repr__(self) -> str:
        show = _DISPLAY.get("text")
        if show is None:  # ppgraph.viz not imported: a one-line summary
            return f"Model({self.name!r}, nodes={sorted(self._graph.nodes)})"
        return show(self)

    def _repr_svg_(self) -> str | None:
        show = _DISPLAY.get("svg")
        if show is None:
            return None
        try:
            return show(self)
        except Exception:  # pragma: no cover - rendering is optional in notebooks
            return None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ModelError(
            "a model is not called directly",
            model=self.name,
            hint="inside another model write `z <~ "
            f"{self.name}(...)`; to draw samples use pg.sample_forward({self.name}, key, ...)",
        )


class _Default:
    """Placeholder default shown in signatures: the default's source."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return self.source


def as_graph(obj: Any) -> Graph:
    """The graph of a model, or the graph itself."""
    if isinstance(obj, Model):
        return obj.graph
    if isinstance(obj, Graph):
        return obj
    raise TypeError(f"expected a ppgraph Model or Graph, got {type(obj).__name__}")


def as_model(obj: Any) -> Model:
    """A model for a model or a graph."""
    if isinstance(obj, Model):
        return obj
    if isinstance(obj, Graph):
        return Model(obj)
    raise TypeError(f"expected a ppgraph Model or Graph, got {type(obj).__name__}")


_WEIGHT_READERS: list[tuple[type, Callable[[Any], Any]]] = []


def register_weights(cls: type, read: Callable[[Any], Any]) -> None:
    """Teach :func:`weights_of` the weights of a foreign network type (e.g. ``flax.nnx.Module``).

    For classes that cannot carry a ``__ppgraph_weights__`` method; the adapters in
    ``ppgraph.nn`` register their frameworks' module types when they are imported.
    """
    if (cls, read) not in _WEIGHT_READERS:
        _WEIGHT_READERS.append((cls, read))


def weights_of(value: Any) -> Any:
    """A sampled network's weights (its ``__ppgraph_weights__()``); any other value as it is.

    The one place the network-value protocol is read: ``logpdf``, ``observe``/``do``,
    the samplers and ``fit`` all accept a network wherever they accept its weights.
    Foreign module types registered with :func:`register_weights` are read too.
    """
    if hasattr(value, "__ppgraph_weights__"):
        return value.__ppgraph_weights__()
    for cls, read in _WEIGHT_READERS:
        if isinstance(value, cls):
            return read(value)
    return value
