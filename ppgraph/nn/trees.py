"""Nested containers of weights (dicts / tuples / lists): walking, rebuilding, paths.

A layer's weights are a pytree of nested dicts, tuples and lists whose leaves
are arrays (or, for priors, distributions).  These helpers treat distributions
and ``ShapeDtypeStruct`` objects as leaves, unlike ``jax.tree_util``.  Both
:mod:`ppgraph.nn.base` (layers) and :mod:`ppgraph.nn.network` (sampled
networks) use them, so they live below both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Path", "tree_items", "tree_build", "tree_get", "path_str"]

Path = tuple[Any, ...]


def tree_items(tree: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """``(path, leaf)`` for every leaf of nested dicts / tuples / lists, in a fixed order.

    Distributions and ``ShapeDtypeStruct`` objects are leaves (unlike with
    ``jax.tree_util``, which would look inside a NumPyro distribution).

    >>> list(tree_items({"0": {"kernel": 1, "bias": 2}, "2": (3,)}))
    [(('0', 'bias'), 2), (('0', 'kernel'), 1), (('2', 0), 3)]
    """
    if isinstance(tree, Mapping):
        for key in sorted(tree):
            yield from tree_items(tree[key], path + (key,))
    elif isinstance(tree, (tuple, list)):
        for i, item in enumerate(tree):
            yield from tree_items(item, path + (i,))
    else:
        yield path, tree


def tree_build(template: Any, fn: Any, path: Path = ()) -> Any:
    """A tree shaped like ``template`` with ``fn(path, leaf)`` at each leaf."""
    if isinstance(template, Mapping):
        return {key: tree_build(template[key], fn, path + (key,)) for key in template}
    if isinstance(template, (tuple, list)):
        return type(template)(tree_build(item, fn, path + (i,)) for i, item in enumerate(template))
    return fn(path, template)


def tree_get(tree: Any, path: Path) -> Any:
    """The subtree at ``path`` (KeyError / IndexError if missing)."""
    for key in path:
        tree = tree[key]
    return tree


def path_str(path: Path) -> str:
    """``("0", "kernel")`` -> ``"0/kernel"`` (``"weights"`` for the root)."""
    return "/".join(str(p) for p in path) or "weights"
