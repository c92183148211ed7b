"""Errors raised for user mistakes.

Every mistake a user can make with a model surfaces as a :class:`ModelError`
whose message says *what* is wrong, *where* (node name and, for parsed models,
the source file and line) and *how* to fix it.

Examples
--------
>>> err = ModelError("unknown name 'sigmaa'", node="y", model="m",
...                  location="model.py:7", hint="did you mean 'sigma'?")
>>> print(err)
model 'm', node 'y' (model.py:7): unknown name 'sigmaa'. Hint: did you mean 'sigma'?
"""

from __future__ import annotations

__all__ = ["ModelError", "ShapeError", "SupportError", "SaveFileError"]


class ModelError(Exception):
    """A mistake in a model, its inputs or a saved graph.

    Parameters
    ----------
    message
        What is wrong.
    node
        The name of the node concerned, if any.
    model
        The name of the model concerned, if any.
    location
        ``"file.py:LINE"`` for parsed models, if known.
    hint
        How to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        model: str | None = None,
        location: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.node = node
        self.model = model
        self.location = location
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.model:
            where.append(f"model '{self.model}'")
        if self.node:
            where.append(f"node '{self.node}'")
        prefix = ", ".join(where)
        if self.location:
            prefix = f"{prefix} ({self.location})" if prefix else f"({self.location})"
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.hint:
            text = f"{text.rstrip('.')}. Hint: {self.hint}"
        return text


class ShapeError(ModelError):
    """Shapes of a node's inputs or value do not fit together."""


class SupportError(ModelError):
    """An observed or given value lies outside its distribution's support, or has a wrong dtype."""


class SaveFileError(ModelError):
    """A saved graph file is corrupted, hand-edited inconsistently, or not a ppgraph file."""
