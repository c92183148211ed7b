"""Names of a package imported on first use (PEP 562), so ``import ppgraph`` stays light.

Inference loads BlackJAX, Optax and pandas, and drawing loads Graphviz and
matplotlib; ``import ppgraph`` imports none of them.  A package lists its lazy
names with :func:`attach`, which returns the module-level ``__getattr__`` and
``__dir__`` hooks::

    __getattr__, __dir__ = attach(__name__, {"sample": "ppgraph.inference.sample"})

``dir(package)`` and ``package.__all__`` list the lazy names like the others;
the first ``package.name`` (or ``from package import name``) imports the
defining module and caches the value in the package.

Examples
--------
>>> import ppgraph
>>> "sample" in dir(ppgraph), ppgraph.sample.__module__
(True, 'ppgraph.inference.sample')
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = ["attach"]


class _LazyPackage(types.ModuleType):
    """A package whose lazy function ``f`` stays bound when its submodule ``f`` loads.

    Importing submodule ``pkg.sample`` sets ``pkg.sample`` to the module; when
    ``sample`` is also a lazy name defined in that module, the function is kept
    (as an eager ``from .sample import sample`` would have done).
    """

    _ppgraph_lazy: dict[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and self._ppgraph_lazy.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


def attach(
    package: str, names: dict[str, str], submodules: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """PEP 562 hooks making ``names`` (public name -> defining module) of ``package`` lazy.

    Parameters
    ----------
    package
        The package's ``__name__``.
    names
        Public name -> absolute name of the module that defines it.
    submodules
        Subpackages that are not imported eagerly but are reachable as attributes
        (``ppgraph.inference``).

    Returns
    -------
    tuple
        The package's ``__getattr__`` and ``__dir__``.
    """
    module = sys.modules[package]
    module._ppgraph_lazy = dict(names)
    module.__class__ = _LazyPackage

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(getattr(module, "__all__", ())) | set(names))

    return __getattr__, __dir__
