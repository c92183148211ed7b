"""What a random variable's support is, read from its distribution without data.

:func:`support_of` looks at a node's distribution expression (``dist.Gamma(a, b)``,
``dist.Bernoulli(logits=z)``, ``dist.ImproperUniform(constraints.positive, ...)``)
and returns the support constraint its class declares.  It sits below the
passes (``to_unconstrained`` decides what to transform with it), the inspection
tables (:mod:`ppgraph.viz.shapes` shows it) and the evaluators (``pg.fit``
refuses discrete latents), so none of them imports another for it.

Examples
--------
>>> from ppgraph import dist
>>> from ppgraph.ir import Graph, RandomVariable
>>> g = Graph(name="m", env={"dist": dist})
>>> g.add(RandomVariable("s", dist="dist.HalfNormal(1.0)"))
>>> g.add(RandomVariable("k", dist="dist.Bernoulli(logits=0.3)"))
>>> support_of(g.obj("s"), g), support_of(g.obj("k"), g)
(Positive(lower_bound=0.0), Boolean())
"""

from __future__ import annotations

import inspect
from typing import Any

from . import dist as pg_dist
from .ir import Graph, RandomVariable, split_call
from .ir.graph import _resolve

__all__ = ["support_of"]


def support_of(node: RandomVariable, graph: Graph) -> Any:
    """The support constraint of ``node``'s distribution as far as it is known without data.

    Returns a numpyro constraint, the class-level ``dependent_property`` (known
    to depend on parameters), or ``None`` (unknown, e.g. a function returning a
    distribution).
    """
    chain = split_call(node.dist)
    if chain is None:
        return None
    func = _resolve(chain.func, graph.env)
    if func is None:
        return None
    if func is pg_dist.ImproperUniform:
        support_src = chain.args[0] if chain.args else chain.kwarg("support")
        return _resolve(support_src, graph.env) if support_src else None
    if not isinstance(func, type) and getattr(func, "__module__", "").startswith("numpyro.distributions"):
        return _factory_support(func, chain)
    return getattr(func, "support", None)


def _factory_support(func: Any, chain: Any) -> Any:
    """Support of NumPyro's factory functions (``dist.Bernoulli(logits=...)`` -> ``BernoulliLogits``)."""
    import numpyro.distributions as nd

    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):  # pragma: no cover
        return None
    positional = params[: len(chain.args)]
    uses_logits = chain.kwarg("logits") is not None or "logits" in positional
    cls = getattr(nd, func.__name__ + ("Logits" if uses_logits else "Probs"), None)
    if isinstance(cls, type) and hasattr(cls, "support"):
        return cls.support
    if func.__module__.endswith(".discrete"):
        return pg_dist.constraints.nonnegative_integer
    return None
