"""Compile once per shape: ppgraph's caches of generated and compiled programs.

``pg.sample``, ``pg.sample_forward``, ``pg.sample_predictive`` and ``pg.fit`` pass data,
observed values and array arguments to their compiled programs as *inputs*,
and keep those programs in the caches of this module, keyed by the model's
graph (its identity), the passes, the sampler settings and the *shapes and
dtypes* of the data (Python ``int`` / ``bool`` / ``str`` arguments by value:
they may be sizes).  A second call with new data of the same shapes reuses
the compiled program.

:func:`clear_cache` (``pg.clear_cache()``) empties every cache (e.g. to free
the memory of compiled programs); :func:`cache_info` reports hits and misses.

Examples
--------
>>> cache = ProgramCache("demo", maxsize=2)
>>> cache.get(("a", 1), lambda: "built a")
'built a'
>>> cache.get(("a", 1), lambda: "never built")
'built a'
>>> cache.hits, cache.misses
(1, 1)
>>> spec(jnp.zeros((3, 2))), spec(3)
(('array', (3, 2), 'float32'), ('static', 3))
>>> clear_cache(); cache_info()["demo"]
{'hits': 0, 'misses': 0, 'size': 0}
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ProgramCache", "clear_cache", "cache_info", "spec", "is_data", "CACHES"]

CACHES: dict[str, "ProgramCache"] = {}


class ProgramCache:
    """A bounded (least recently used) cache of built programs, with hit and miss counters.

    Parameters
    ----------
    name
        Its name in :func:`cache_info`; registering a second cache of the same
        name replaces the first.
    maxsize
        Entries kept; the least recently used one is dropped beyond that.
    """

    def __init__(self, name: str, maxsize: int = 64) -> None:
        self.name = name
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._clearers: list[Callable[[], None]] = []
        CACHES[name] = self

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The entry for ``key``, built with ``build()`` on a miss."""
        if key in self._entries:
            self.hits += 1
            self._entries.move_to_end(key)
            return self._entries[key]
        self.misses += 1
        value = build()
        self._entries[key] = value
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return value

    def on_clear(self, fn: Callable[[], None]) -> None:
        """Also call ``fn`` when this cache is cleared (e.g. an ``lru_cache``'s ``cache_clear``)."""
        self._clearers.append(fn)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        self._entries.clear()
        self.hits = self.misses = 0
        for fn in self._clearers:
            fn()

    def __len__(self) -> int:
        return len(self._entries)


def clear_cache() -> None:
    """Empty ppgraph's caches of compiled programs (``pg.clear_cache()``).

    The next ``pg.sample`` / ``pg.sample_forward`` / ``pg.sample_predictive`` / ``pg.fit`` call
    generates and compiles its program again.  Use it to free the memory held by
    compiled programs of models you no longer use, or to time a first call.
    """
    for cache in CACHES.values():
        cache.clear()


def cache_info() -> dict[str, dict[str, int]]:
    """Per cache: ``{"hits": ..., "misses": ..., "size": ...}``."""
    return {name: {"hits": c.hits, "misses": c.misses, "size": len(c)} for name, c in CACHES.items()}


def _is_array(value: Any) -> bool:
    return isinstance(value, (jax.Array, np.ndarray, np.generic))


def is_data(value: Any) -> bool:
    """An array, or a non-empty pytree (dict / list / tuple) whose leaves are all arrays."""
    if _is_array(value):
        return True
    if isinstance(value, (dict, list, tuple)):
        leaves = jax.tree.leaves(value)
        return bool(leaves) and all(_is_array(v) for v in leaves)
    return False


def _static(value: Any) -> bool:
    if isinstance(value, (bool, int, str, float, complex, type(None))):
        return True
    return isinstance(value, tuple) and all(_static(v) for v in value)


def spec(value: Any) -> Hashable:
    """What a cache key records of a value: shape and dtype of data, the value of Python
    scalars (and tuples of them), the identity of anything else."""
    if _is_array(value):
        return ("array", tuple(np.shape(value)), str(jnp.result_type(value)))
    if is_data(value):
        leaves, treedef = jax.tree.flatten(value)
        return ("tree", treedef, tuple(spec(v) for v in leaves))
    if _static(value):
        return ("static", value)
    return ("object", id(value))
