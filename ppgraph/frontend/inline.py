"""Inlining one model's graph into another under a scoped name (``z.mu``)."""

from __future__ import annotations

from typing import Any

from ..errors import ModelError
from ..ir import Argument, Deterministic, Graph
from ..ir.expr import ident, rename

__all__ = ["inline_model"]


def inline_model(
    graph: Graph,
    var: str,
    sub: Any,
    args: list[str],
    kwargs: dict[str, str],
    *,
    location: str | None = None,
) -> None:
    """Add the nodes of model ``sub`` to ``graph`` as ``var.<name>`` (in place).

    ``args`` / ``kwargs`` are sources (in ``graph``'s scope) of the values passed
    to ``sub``'s arguments; each argument becomes a deterministic node
    ``var.<arg>``.  The node ``var`` itself is the sub-model's return value.
    """
    inner: Graph = sub.graph
    arg_names = inner.arguments()
    if len(args) > len(arg_names):
        raise ModelError(f"{sub.name}() takes {len(arg_names)} argument(s), {len(args)} given")
    given = dict(zip(arg_names, args))
    for key, source in kwargs.items():
        if key not in arg_names:
            raise ModelError(f"{sub.name}() has no argument '{key}'", hint=f"its arguments are {arg_names}")
        if key in given:
            raise ModelError(f"{sub.name}() got two values for '{key}'")
        given[key] = source

    # External names of the sub-model: share when they are the same object, else scope them.
    mapping = {ident(n): ident(f"{var}.{n}") for n in inner.nodes}
    for name, value in inner.env.items():
        if name in graph.env and graph.env[name] is not value:
            scoped = ident(f"{var}.{name}")
            mapping[name] = scoped
            graph.env[scoped] = value
        else:
            graph.env[name] = value

    for name in inner.order():
        node = inner.obj(name)
        scoped = f"{var}.{name}"
        if isinstance(node, Argument):
            source = given.get(name)
            if source is None:
                if node.default is None:
                    raise ModelError(
                        f"{sub.name}() is missing argument '{name}'",
                        hint=f"call it as {sub.name}({', '.join(arg_names)})",
                    )
                source = rename(node.default, mapping)
            graph.add(Deterministic(scoped, expr=source, location=location))
            continue
        changes = {key: rename(src, mapping) for key, src in _fields(node).items()}
        graph.add(node.replace(name=scoped, **changes))

    returns = inner.returns()
    if not returns:
        expr = "None"
    elif inner.graph.get("returns_tuple"):
        expr = "(" + ", ".join(ident(f"{var}.{r}") for r in returns) + ",)"
    else:
        expr = ident(f"{var}.{returns[0]}")
    graph.add(Deterministic(var, expr=expr, location=location))


def _fields(node: Any) -> dict[str, str]:
    """Dataclass fields of a node that hold sources (those in ``expressions()``)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(node)}
    out = {}
    for slot, source in node.expressions().items():
        if slot in names:
            out[slot] = source
    return out
