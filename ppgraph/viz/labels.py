"""Short human-readable texts for nodes: distributions with parameters, layer stacks, shapes.

Everything here reads node *source* (with :func:`ppgraph.ir.split_call`); nothing
is evaluated and :mod:`ppgraph.nn` is never imported.

Examples
--------
>>> distribution_text("dist.Normal(mu, scale=2.0).expand([8])", {})
'Normal(mu, scale=2.0)'
>>> expand_shape("dist.Normal(0.0, 1.0).expand([8, 3])")
(8, 3)
>>> layer_stack("nn.Serial(nn.Dense(64, dist.Normal(0.0, s)), nn.Tanh(), nn.Dense(10, p))")
'Dense 64 → Tanh → Dense 10'
>>> shorten("a" * 50, 10)
'aaaaaaaaa…'
"""

from __future__ import annotations

import ast
import re
from typing import Any

from ..ir import Graph, Node, split_call

__all__ = [
    "short_name",
    "distribution_text",
    "expand_shape",
    "layer_stack",
    "shorten",
    "node_source",
    "info_text",
    "plate_text",
]


def shorten(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters (an ellipsis marks the cut)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"



def short_name(func: str) -> str:
    """``"dist.Normal"`` -> ``"Normal"``: the last part of a dotted callee."""
    return func.rsplit(".", 1)[-1]


def distribution_text(source: str, env: dict[str, Any], width: int = 24) -> str:
    """A distribution's source without the module prefix and without ``.expand(...)``.

    Positional parameters are named after the distribution's signature when it
    resolves in ``env`` (``dist.Normal(0.0, 5.0)`` -> ``Normal(loc=0.0, scale=5.0)``
    when ``dist`` is in ``env``); each parameter is shortened to ``width`` characters.
    """
    chain = split_call(source)
    if chain is None:
        return shorten(source, 3 * width)
    from ..ir.graph import _param_names, _resolve

    names = _param_names(_resolve(chain.func, env)) if "(" not in chain.func else None
    aliases = [k for k, v in env.items() if getattr(v, "__name__", None) in ("ppgraph.dist", "numpyro.distributions")]

    def cut(text: str, width: int) -> str:  # nested distributions without their module prefix
        for alias in aliases:
            text = re.sub(rf"\b{re.escape(alias)}\.(?=[A-Z])", "", text)
        return shorten(text, width)

    parts = []
    for i, arg in enumerate(chain.args):
        label = names[i] if names and i < len(names) else None
        parts.append(f"{label}={cut(arg, width)}" if label else cut(arg, width))
    parts += [f"{k}={cut(v, width)}" for k, v in chain.kwargs]
    text = f"{short_name(chain.func)}({', '.join(parts)})"
    for method, args, kwargs in chain.methods:
        if method == "expand":
            continue
        inner = ", ".join([*(cut(a, width) for a in args), *(f"{k}={cut(v, width)}" for k, v in kwargs)])
        text += f".{method}({inner})"
    return text


def expand_shape(source: str) -> tuple[int, ...] | None:
    """The literal shape given to ``.expand(...)`` in a distribution's source, if any."""
    chain = split_call(source)
    if chain is None:
        return None
    shape = None
    for method, args, kwargs in chain.methods:
        if method == "expand":
            given = args[0] if args else dict(kwargs).get("batch_shape")
            try:
                value = ast.literal_eval(given) if given is not None else None
            except (ValueError, SyntaxError):
                return None
            if isinstance(value, int):
                value = (value,)
            if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
                shape = tuple(value)
            else:
                return None
    return shape


def _literal(source: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return None


def _one_layer(source: str) -> str:
    chain = split_call(source)
    if chain is None:
        return shorten(source, 20)
    name = short_name(chain.func)
    sizes = [str(v) for v in (_literal(a) for a in chain.args) if isinstance(v, (int, tuple)) and not isinstance(v, bool)]
    for key in ("units", "features", "out_features", "filters", "kernel_size"):
        value = _literal(chain.kwarg(key) or "None")
        if isinstance(value, (int, tuple)):
            sizes.append(str(value))
    if name == "Serial":
        return layer_stack(source)
    return " ".join([name, *sizes[:2]])


def layer_stack(spec: str) -> str:
    """The layers of a layer spec, e.g. ``"Dense 64 → Tanh → Dense 10"``.

    ``Serial(...)`` lists its sublayers; another layer shows its class name and
    its literal sizes.
    """
    chain = split_call(spec)
    if chain is None:
        return shorten(spec, 40)
    if short_name(chain.func) == "Serial":
        return " → ".join(_one_layer(a) for a in chain.args) or "Serial()"
    return _one_layer(spec)


def node_source(node: Node) -> str:
    """The main source of a node: distribution, expression, layer spec or initial value."""
    for field in ("dist", "expr", "spec", "init", "default"):
        value = getattr(node, field, None)
        if value is not None:
            return value
    return ""


def info_text(node: Node, width: int = 40) -> list[str]:
    """Lines describing what passes recorded on ``node`` (its ``info``)."""
    lines = []
    for key, value in node.info:
        lines.append(shorten(f"{key.replace('_', ' ')}: {value}", width))
    return lines


def plate_text(batch_shape: tuple[int, ...] | None) -> str | None:
    """Plate-like notation of a batch shape: ``(8, 3)`` -> ``"× 8 × 3"``; scalar/unknown -> ``None``."""
    if not batch_shape:
        return None
    return " ".join(f"× {d}" for d in batch_shape)


def parents_of(graph: Graph, name: str) -> list[str]:
    """The node's parents in graph order."""
    position = {n: i for i, n in enumerate(graph.nodes)}
    return sorted(graph.predecessors(name), key=position.__getitem__)
