"""Parameters fed by latent variables that can leave their constraint: found from the graph.

``s <~ dist.Normal(0, 1); y <~ dist.Normal(mu, s + 1.0)`` is a model whose
scale is negative for a third of the prior's draws of ``s``: NumPyro's log
density is NaN there, NUTS rejects those proposals as divergent, and the
posterior comes out silently truncated.  Running the model cannot reveal it
(at the probe point ``s = 0`` the scale is 1); the graph can.

:func:`check_ranges` (called by :func:`ppgraph.datachecks.check_data`) propagates intervals through each parameter's
expression: a latent variable ranges over its distribution's support (``real``,
``positive``, ``unit_interval``, numeric ``interval`` / ``greater_than``),
a data value over ``[min, max]``, a constant is a point, and ``+ - * /``, powers
with a constant exponent, indexing and the monotone functions ``exp``, ``log``,
``sqrt``, ``abs``, ``square``, ``softplus``, ``sigmoid``, ``maximum``, ``minimum``
and ``clip`` map intervals to intervals.  Anything else is unknown and not
judged.  Interval arithmetic is *exact* when each latent variable occurs once in
the expression (Deterministic nodes expanded), so only such expressions are
judged: an error is never a false alarm of the method (``x * x`` is not judged;
write ``jnp.square(x)``).  Supports that depend on other variables
(``Uniform(0, x)``) are unknown.

Examples
--------
>>> import ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def m():
...     s <~ dist.Normal(0.0, 1.0)
...     y <~ dist.Normal(0.0, s + 1.0)
...     return y
>>> from ppgraph.datachecks import check_data
>>> check_data(m.graph, {"y": 1.0})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ppgraph.errors.SupportError: model 'm', node 'y' ...: parameter 'scale' (`s + 1.0`) must be positive ...
"""

from __future__ import annotations

import ast
import math
from collections import Counter
from typing import Any

import numpy as np

from .errors import SupportError
from .ir import Deterministic, Graph, RandomVariable
from .ir.expr import parse_expr, split_call, unparse

__all__ = ["check_ranges", "distribution_class", "support_interval"]

_ANY = (-math.inf, math.inf)
Interval = tuple[float, float]


def support_interval(constraint: Any) -> Interval | None:
    """``(low, high)`` of a NumPyro constraint with numeric bounds (``real``: all numbers), or ``None``.

    >>> from numpyro.distributions import constraints
    >>> support_interval(constraints.positive), support_interval(constraints.unit_interval)
    ((0.0, inf), (0.0, 1.0))
    >>> support_interval(constraints.real_vector), support_interval(constraints.simplex) is None
    ((-inf, inf), True)
    """
    from numpyro.distributions import constraints

    base = getattr(constraint, "base_constraint", None)
    if isinstance(constraint, constraints._IndependentConstraint) and base is not None:
        return support_interval(base)
    if constraint is constraints.real:
        return _ANY
    if constraint is constraints.boolean:
        return (0.0, 1.0)
    if not isinstance(constraint, (constraints._GreaterThan, constraints._LessThan, constraints._Interval,
                                   constraints._IntegerGreaterThan, constraints._IntegerInterval)):
        return None
    low, high = getattr(constraint, "lower_bound", None), getattr(constraint, "upper_bound", None)
    bounds = []
    for bound, default in ((low, -math.inf), (high, math.inf)):
        if bound is None:
            bounds.append(default)
        elif np.ndim(bound) == 0 and _numeric(bound):
            bounds.append(float(bound))
        else:
            return None
    return bounds[0], bounds[1]


def _numeric(value: Any) -> bool:
    try:
        float(value)
    except Exception:
        return False
    return True


def check_ranges(graph: Graph, data: Any, calls: list[tuple[str, Any, dict[str, str], str, str]]) -> None:
    """Raise :class:`SupportError` for a latent-fed parameter that can leave its constraint.

    Parameters
    ----------
    graph
        The model's graph (before passes: errors name the user's nodes and lines).
    data
        The data checker of :mod:`ppgraph.datachecks` (``is_data``, ``concrete``, ``shape_of``).
    calls
        Every distribution built in the graph: ``(node, callee, {parameter: source}, call
        source, callee source)``.

    The entry point for users is :func:`ppgraph.datachecks.check_data` (or
    ``check_parameter_ranges`` there), which ``pg.sample``, ``pg.logpdf`` and the other
    entry points call.
    """
    from numpyro.distributions import Distribution

    ranges = _Ranges(graph, data)
    for name, func, params, call, _ in calls:
        if isinstance(func, type) and issubclass(func, Distribution):  # only constrained parameters
            params = {k: v for k, v in params.items() if _constrained(func, k)}
        judged = {}
        for param, source in params.items():
            found = ranges.of(source)
            if found is not None and found[1] and all(count == 1 for count in found[1].values()):
                judged[param] = (source, found)  # fed by latents, each once: the interval is exact
        if not judged:
            continue
        cls = distribution_class(func, call, data)
        for param, (source, (interval, latents)) in judged.items():
            if param == "logits" or not _constrained(cls, param):
                continue
            constraint = cls.arg_constraints[param]
            required = support_interval(constraint)
            low, high = interval
            if low < required[0] or high > required[1]:
                raise _range_error(graph, name, call, param, source, interval, constraint, latents, ranges)


def distribution_class(func: Any, call: str, data: Any) -> Any:
    """The NumPyro class a distribution call builds: ``func`` itself, or what a factory such as
    ``Categorical(probs=...)`` makes (``CategoricalProbs``, built abstractly by ``data.shape_of``);
    ``None`` if unknown."""
    from numpyro.distributions import Distribution

    if isinstance(func, type) and issubclass(func, Distribution):
        return func
    made = data.shape_of(call, raw=True)
    return type(made) if isinstance(made, Distribution) else None


def _constrained(cls: Any, param: str) -> bool:
    """Whether a parameter of ``cls`` has a constraint narrower than the real numbers."""
    from numpyro.distributions import constraints

    arg_constraints = getattr(cls, "arg_constraints", None)
    constraint = arg_constraints.get(param) if isinstance(arg_constraints, dict) else None
    if constraint is None or constraints.is_dependent(constraint):
        return False
    return support_interval(constraint) not in (None, _ANY)


class _Ranges:
    """Intervals of expressions, with the latent variables they read (and how often)."""

    def __init__(self, graph: Graph, data: Any) -> None:
        self.graph, self.data = graph, data
        self._nodes: dict[str, Any] = {}
        self._callees: dict[str, Any] = {}  # callee source -> its support interval and name (or None)

    def of(self, source: str) -> tuple[Interval, dict[str, int]] | None:
        try:
            return self._expr(parse_expr(source))
        except (SyntaxError, RecursionError):
            return None

    def latent_support(self, name: str) -> tuple[Interval, str] | None:
        """A latent variable's support interval and its distribution's name."""
        node = self.graph.nodes[name]["node"]
        chain = split_call(node.dist)
        if chain is None:
            return None
        if chain.func not in self._callees:
            self._callees[chain.func] = self._support_of(chain.func)
        return self._callees[chain.func]

    def _support_of(self, callee: str) -> tuple[Interval, str] | None:
        from numpyro.distributions import Distribution

        try:
            func = eval(compile(callee, "<ppgraph range check>", "eval"), dict(self.graph.env))
        except Exception:
            return None
        if not (isinstance(func, type) and issubclass(func, Distribution)):
            return None
        interval = support_interval(getattr(func, "support", None))
        return (interval, func.__name__) if interval is not None else None

    def node(self, name: str) -> tuple[Interval, dict[str, int]] | None:
        if name in self._nodes:
            return self._nodes[name]
        self._nodes[name] = None  # guards against cycles
        node = self.graph.nodes[name]["node"]
        out = None
        if self.data.is_data(name):
            out = _data_interval(self.data.concrete(name))
        elif isinstance(node, RandomVariable) and node.observed is None:
            found = self.latent_support(name)
            out = (found[0], {name: 1}) if found is not None else None
        elif isinstance(node, Deterministic):
            out = self.of(node.expr)
        self._nodes[name] = out
        return out

    def _expr(self, tree: ast.AST) -> tuple[Interval, dict[str, int]] | None:
        if isinstance(tree, ast.Expression):
            return self._expr(tree.body)
        if isinstance(tree, ast.Constant):
            if isinstance(tree.value, bool) or not isinstance(tree.value, (int, float)):
                return None
            return (float(tree.value), float(tree.value)), {}
        if isinstance(tree, ast.Name):
            name = self.graph.node_of(tree.id)
            return self.node(name) if name is not None else None
        if isinstance(tree, ast.Subscript):  # x[idx]: the values of x
            return self._expr(tree.value)
        if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, (ast.USub, ast.UAdd)):
            inner = self._expr(tree.operand)
            if inner is None:
                return None
            (a, b), seen = inner
            return ((-b, -a) if isinstance(tree.op, ast.USub) else (a, b)), seen
        if isinstance(tree, ast.BinOp):
            return self._binop(tree)
        if isinstance(tree, ast.Call):
            return self._call(tree)
        return None

    def _binop(self, tree: ast.BinOp) -> tuple[Interval, dict[str, int]] | None:
        left, right = self._expr(tree.left), self._expr(tree.right)
        if left is None or right is None:
            return None
        (a, b), (c, d) = left[0], right[0]
        seen = _merge(left[1], right[1])
        op = tree.op
        if isinstance(op, ast.Add):
            return (a + c, b + d), seen
        if isinstance(op, ast.Sub):
            return (a - d, b - c), seen
        if isinstance(op, ast.Mult):
            return _hull(_mul(x, y) for x in (a, b) for y in (c, d)), seen
        if isinstance(op, ast.Div):
            if c == d == 0:
                return None
            if c < 0 < d:  # 1 / s for s in (-1, 1): every number outside [-1, 1], of either sign
                return _ANY, seen
            # a divisor ending at 0 approaches it from inside (supports are open there: (0, inf))
            side = 1.0 if c == 0 else -1.0
            return _hull(_div(x, y, side) for x in (a, b) for y in (c, d)), seen
        if isinstance(op, ast.Pow) and c == d and not right[1]:
            power = _power((a, b), c)
            return (power, seen) if power is not None else None
        return None

    def _call(self, tree: ast.Call) -> tuple[Interval, dict[str, int]] | None:
        name = unparse(tree.func).split(".")[-1]
        if tree.keywords or name not in _FUNCTIONS:
            return None
        args = [self._expr(a) for a in tree.args]
        if len(args) != _FUNCTIONS[name] or any(a is None for a in args):
            return None
        seen: dict[str, int] = {}
        for a in args:
            seen = _merge(seen, a[1])
        (a, b) = args[0][0]
        if name == "exp":
            return (_exp(a), _exp(b)), seen
        if name == "log":
            return (math.log(a) if a > 0 else -math.inf, math.log(b) if b > 0 else -math.inf), seen
        if name == "sqrt":
            return (math.sqrt(max(a, 0.0)), math.sqrt(max(b, 0.0))), seen
        if name == "abs":
            return ((0.0 if a <= 0 <= b else min(abs(a), abs(b))), max(abs(a), abs(b))), seen
        if name == "square":
            return _power((a, b), 2.0), seen  # type: ignore[return-value]
        if name == "softplus":
            return (_softplus(a), _softplus(b)), seen
        if name in ("sigmoid", "expit"):
            return (_sigmoid(a), _sigmoid(b)), seen
        (c, d) = args[1][0]
        if name == "maximum":
            return (max(a, c), max(b, d)), seen
        if name == "minimum":
            return (min(a, c), min(b, d)), seen
        (e, f) = args[2][0]  # clip(x, low, high) = min(max(x, low), high)
        return (min(max(a, c), e), min(max(b, d), f)), seen


_FUNCTIONS = {"exp": 1, "log": 1, "sqrt": 1, "abs": 1, "square": 1, "softplus": 1, "sigmoid": 1, "expit": 1,
              "maximum": 2, "minimum": 2, "clip": 3}


def _data_interval(value: Any) -> tuple[Interval, dict[str, int]] | None:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if array.size == 0 or not np.all(np.isfinite(array)):
        return None
    return (float(array.min()), float(array.max())), {}


def _merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return dict(Counter(a) + Counter(b))


def _hull(values: Any) -> Interval:
    values = [v for v in values if not math.isnan(v)]
    return (min(values), max(values)) if values else _ANY


def _mul(x: float, y: float) -> float:
    return 0.0 if x == 0 or y == 0 else x * y  # 0 * inf: the limit of a bounded factor, 0


def _div(x: float, y: float, side: float = 1.0) -> float:
    if y == 0:  # the limit as y -> 0 from the side the interval lies on
        return 0.0 if x == 0 else math.copysign(math.inf, x * side)
    if math.isinf(y):
        return 0.0 if not math.isinf(x) else math.nan
    return x / y


def _power(interval: Interval, exponent: float) -> Interval | None:
    """The range of ``x ** exponent`` for ``x`` in ``interval``; ``None`` where it is not worked out."""
    a, b = interval
    whole = exponent == int(exponent)
    if exponent == 0:
        return (1.0, 1.0)
    if exponent > 0 and whole and int(exponent) % 2 == 0:
        low = 0.0 if a <= 0 <= b else min(abs(a), abs(b)) ** exponent
        return low, max(abs(a), abs(b)) ** exponent
    if exponent > 0 and whole:  # odd: increasing
        return a ** exponent, b ** exponent
    if a < 0:  # fractional powers of negative numbers, negative powers through 0: not judged
        return None
    if exponent > 0:
        return a ** exponent, b ** exponent
    return (b ** exponent if b > 0 else math.inf), (a ** exponent if a > 0 else math.inf)


def _exp(x: float) -> float:
    return math.inf if x > 700 else math.exp(x)


def _softplus(x: float) -> float:
    return x if x > 30 else math.log1p(math.exp(x))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def _requirement(constraint: Any) -> str:
    """``positive``, ``in [0, 1]``, ``>= 2``... from the constraint's interval."""
    low, high = support_interval(constraint) or _ANY
    if (low, high) == (0.0, math.inf):
        return "positive"
    if math.isinf(high):
        return f">= {low:g}"
    if math.isinf(low):
        return f"<= {high:g}"
    return f"in [{low:g}, {high:g}]"


def _range_error(graph: Graph, name: str, call: str, param: str, source: str, interval: Interval,
                 constraint: Any, latents: dict[str, int], ranges: _Ranges) -> SupportError:
    node = graph.nodes[name]["node"]
    low, high = interval
    parts = []
    for latent in latents:
        found = ranges.latent_support(latent)
        if found is not None:
            (a, b), family = found
            parts.append(f"'{latent}' is a latent {family} variable with values in ({a:g}, {b:g})")
    names = ", ".join(repr(n) for n in latents)
    return SupportError(
        f"`{call}`: parameter '{param}' (`{source}`) must be {_requirement(constraint)} but can be as "
        f"{'low as' if low < (support_interval(constraint) or _ANY)[0] else 'high as'} "
        f"{low if low < (support_interval(constraint) or _ANY)[0] else high:g}: {'; '.join(parts)}. NumPyro's "
        "log density is NaN there, and a sampler would reject those values without saying why",
        node=name, model=graph.name, location=node.location,
        hint=f"give {names} a distribution with the right support (HalfNormal, Exponential, Beta, ...) or "
             "transform it (jnp.exp, jax.nn.softplus, jax.nn.sigmoid)",
    )
