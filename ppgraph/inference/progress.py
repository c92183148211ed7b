"""A tqdm progress bar that jit-compiled code can advance.

``ProgressBar.tick()`` is called *inside* traced code (a ``jax.lax.scan`` body);
it emits a ``jax.debug.callback`` without arguments, so under ``jax.vmap`` it
fires once per step for all chains together.  The bar itself lives on the host.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> bar = ProgressBar(5, desc="demo", enabled=False)
>>> def body(carry, _):
...     bar.tick()
...     return carry + 1, None
>>> with bar:
...     out, _ = jax.jit(lambda: jax.lax.scan(body, 0, None, length=5))()
>>> int(out), bar.count
(5, 5)
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import jax

__all__ = ["ProgressBar"]


class ProgressBar:
    """Count the steps of a compiled loop and show them with ``tqdm``.

    Parameters
    ----------
    total
        Number of steps expected.
    desc
        Label of the bar.
    enabled
        ``False``: count the steps but show nothing.
    """

    def __init__(self, total: int, desc: str = "", *, enabled: bool = True) -> None:
        self.total = int(total)
        self.desc = desc
        self.enabled = enabled
        self.count = 0
        self._bar: Any = None
        self._pending = 0
        self._every = max(1, self.total // 100)

    def __enter__(self) -> "ProgressBar":
        self.count = 0
        if self.enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=self.desc, leave=True, dynamic_ncols=True)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        jax.effects_barrier()  # let the last callbacks arrive
        if self._bar is not None:
            self._flush()
            self._bar.close()
            self._bar = None

    def set_description(self, desc: str) -> None:
        """Change the label (e.g. from "warmup" to "sampling")."""
        self.desc = desc
        if self._bar is not None:
            self._bar.set_description(desc, refresh=False)

    def _flush(self) -> None:
        if self._bar is not None and self._pending:
            self._bar.update(self._pending)
        self._pending = 0

    def _advance(self) -> None:
        self.count += 1
        self._pending += 1
        if self._pending >= self._every or self.count >= self.total:
            self._flush()

    def tick(self) -> None:
        """Advance the bar by one step; call this inside traced (jit/scan/vmap) code.

        Each call is a host callback per step; loops that must stay free of host
        work run in chunks from the host and call :meth:`update` instead.
        """
        jax.debug.callback(self._advance)

    def update(self, steps: int) -> None:
        """Advance the bar by ``steps`` from the host (e.g. after each compiled chunk of a loop)."""
        self.count += int(steps)
        self._pending += int(steps)
        self._flush()
