"""Checks of concrete data against a model: index ranges and parameter constraints.

Two mistakes in data make a model silently wrong in JAX:

- an integer index out of range of the axis it indexes: ``a[county]`` with
  ``a`` of length 30 and a county id 45 reads ``a[29]`` (JAX clamps gathers;
  ``jnp.take`` fills with NaN, ``.at[...]`` drops the update), and a negative
  id counts from the end;
- a distribution parameter outside its constraint (a negative ``scale`` passed
  as data, probabilities that do not sum to one, a covariance that is not
  positive definite): NumPyro's ``log_prob`` then returns NaN.

When a model is called with concrete data (``pg.sample``, ``pg.sample_forward``,
``pg.sample_predictive``, ``pg.fit``), :func:`check_data` reads the graph's
expressions and evaluates what depends on data only (arguments, observed or
given values, constants): integer index arrays are checked against the size of
the axis they index (:class:`~ppgraph.ModelError`), and every distribution
parameter computed from data only (of a random variable, a layer's prior, a
distribution inside a factor or a deterministic) is checked against the
constraint NumPyro declares for it in ``arg_constraints``
(:class:`~ppgraph.SupportError`).
Parameters that depend on latent variables are judged later, by the log
density at the initial values.  Traced values (inside ``jax.jit``) are skipped.
A Python ``int`` index may count from the end (NumPy's rule, which JAX keeps for
static indices); ``-inf`` logits (classes masked out) are allowed.

Examples
--------
>>> import jax.numpy as jnp, ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def m(county, s):
...     a <~ dist.Normal(0.0, 1.0).expand([3])
...     y <~ dist.Normal(a[county], s)
...     return y
>>> check_data(m.graph, {"county": jnp.array([0, 2, 1]), "s": 1.0})
>>> check_data(m.graph, {"county": jnp.array([0, 2, 3]), "s": 1.0})
Traceback (most recent call last):
...
ppgraph.errors.ModelError: model 'm', node 'y' ...: index out of range in `a[county]`: argument 'county' has the value 3 at position 2, but axis 0 of `a` has size 3 (valid indices: 0 to 2)...
>>> check_data(m.graph, {"county": jnp.array([0, 2, 1]), "s": -1.0})
Traceback (most recent call last):
...
ppgraph.errors.SupportError: model 'm', node 'y' ...: `dist.Normal(a[county], s)`: parameter 'scale' (argument 's') violates its constraint (positive): its value is -1. Hint: fix the data passed as 's'...
"""

from __future__ import annotations

import ast
import inspect
import weakref
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from .dist import support_is_discrete
from .errors import ModelError, SupportError
from .ir import Argument, Deterministic, Graph, Layer, Parameter, RandomVariable
from .ir.expr import free_names, parse_expr, split_call, unparse
from .rangecheck import check_ranges, distribution_class

__all__ = ["check_data", "check_indices", "check_parameters", "check_parameter_ranges"]

_UNKNOWN = object()
_SIMPLEX_TOL = 1e-4  # float32 data normalised by the user is off by far more than NumPyro's 1e-6


def check_data(graph: Graph, values: dict[str, Any]) -> None:
    """Check concrete data against ``graph``: index ranges, then parameter constraints.

    Parameters
    ----------
    graph
        The model's graph (before an evaluator's passes, so errors name the
        user's nodes and lines).
    values
        Node name (or identifier) -> value: the model's arguments and the
        observed or given values of other nodes.  Traced values are ignored.

    Raises
    ------
    ModelError
        An integer index out of range (or negative) for the axis it indexes,
        naming the node, the argument and the first offending index.
    SupportError
        A parameter computed from data only outside its constraint, naming the
        node, the parameter and the first offending value; or a parameter fed by
        latent variables whose range leaves its constraint
        (:func:`check_parameter_ranges`, :mod:`ppgraph.rangecheck`).
    """
    data = _Data(graph, values)
    check_indices(graph, data)
    check_parameters(graph, data)
    check_parameter_ranges(graph, data)


# -- values of nodes ------------------------------------------------------------------------------
class _Data:
    """Concrete values of the nodes that depend on data only; abstract shapes of the others."""

    def __init__(self, graph: Graph, values: dict[str, Any]) -> None:
        self.graph = graph
        self.given: dict[str, Any] = {}
        for key, value in values.items():
            name = key if key in graph.nodes else graph.node_of(key)
            if name is not None and not _traced(value):
                self.given[name] = value
        self._concrete: dict[str, Any] = {}
        self._abstract: dict[str, Any] = {}

    def node_names(self, source: str) -> list[str]:
        """The nodes an expression reads."""
        return [n for n in (self.graph.node_of(i) for i in free_names(source)) if n is not None]

    def namespace(self, extra: dict[str, Any]) -> dict[str, Any]:
        ns = dict(self.graph.env)
        ns.setdefault("jnp", jnp)
        ns.setdefault("jax", jax)
        ns.update(extra)
        return ns

    def is_data(self, name: str) -> bool:
        """Whether the node's value is known without any latent variable."""
        return self.concrete(name) is not _UNKNOWN

    def _first_ancestors(self, name: str, done: dict[str, Any]) -> list[str]:
        """``name`` after its ancestors not in ``done``, in topological order (no deep recursion).

        The search stops at nodes in ``done``, so computing every node costs time
        linear in the graph (not an ancestor set per node: quadratic on long chains).
        """
        seen, stack = {name}, [name]
        while stack:
            for parent in self.graph.predecessors(stack.pop()):
                if parent not in seen and parent not in done:
                    seen.add(parent)
                    stack.append(parent)
        seen.discard(name)
        position = _positions(self.graph)
        return sorted(seen, key=position.__getitem__) + [name]

    def concrete(self, name: str) -> Any:
        """The node's concrete value, or ``_UNKNOWN``."""
        if name not in self._concrete:
            for node in self._first_ancestors(name, self._concrete):
                self._concrete[node] = _UNKNOWN  # guards against cycles
                self._concrete[node] = self._compute(node)
        return self._concrete[name]

    def _compute(self, name: str) -> Any:
        if name in self.given:
            return _array(self.given[name])
        node = self.graph.nodes[name]["node"]
        if isinstance(node, Argument):
            return self.evaluate(node.default) if node.default is not None else _UNKNOWN
        if isinstance(node, (RandomVariable, Layer)) and node.observed is not None:
            return self.evaluate(node.observed)
        if isinstance(node, Deterministic):
            return self.evaluate(node.expr)
        return _UNKNOWN

    def evaluate(self, source: str) -> Any:
        """The concrete value of an expression of data-only nodes, or ``_UNKNOWN``."""
        names = {}
        for identifier in free_names(source):
            node = self.graph.node_of(identifier)
            if node is None:
                continue
            value = self.concrete(node)
            if value is _UNKNOWN:
                return _UNKNOWN
            names[identifier] = value
        try:
            return eval(compile(source, "<ppgraph data check>", "eval"), self.namespace(names))
        except Exception:  # reported, with the node named, when the model runs
            return _UNKNOWN

    def abstract(self, name: str) -> Any:
        """The node's value (concrete) or a ``jax.ShapeDtypeStruct`` pytree, or ``_UNKNOWN``."""
        value = self.concrete(name)
        if value is not _UNKNOWN:
            return value
        if name not in self._abstract:
            for other in self._first_ancestors(name, self._abstract):
                if self.concrete(other) is not _UNKNOWN:
                    continue
                self._abstract[other] = _UNKNOWN
                node = self.graph.nodes[other]["node"]
                if isinstance(node, RandomVariable):
                    self._abstract[other] = self.shape_of(node.dist, draw=True)
                elif isinstance(node, Deterministic):
                    self._abstract[other] = self.shape_of(node.expr)
                elif isinstance(node, Parameter):
                    self._abstract[other] = self.shape_of(node.init)
        return self._abstract[name]

    def shape_of(self, source: str, *, draw: bool = False, raw: bool = False) -> Any:
        """The abstract value of an expression (a draw of it, for a distribution), or ``_UNKNOWN``."""
        concrete, abstract = {}, {}
        for identifier in free_names(source):
            node = self.graph.node_of(identifier)
            if node is None:
                continue
            value = self.abstract(node)
            if value is _UNKNOWN:
                return _UNKNOWN
            (concrete if self.concrete(node) is not _UNKNOWN else abstract)[identifier] = value
        code = compile(source, "<ppgraph data check>", "eval")

        def run(abstract_values: dict[str, Any]) -> Any:
            out = eval(code, self.namespace({**concrete, **abstract_values}))
            if draw:
                return jnp.zeros(out.shape(), jnp.int32 if support_is_discrete(out.support) else float)
            return out

        import numpyro

        try:
            with numpyro.validation_enabled(False):  # the checks here judge the parameters themselves
                if raw and not abstract:
                    return run(abstract)
                return jax.eval_shape(run, abstract)
        except Exception:
            return _UNKNOWN


_ORDERS: "weakref.WeakKeyDictionary[Graph, list[str]]" = weakref.WeakKeyDictionary()


def _order(graph: Graph) -> list[str]:
    if graph not in _ORDERS:
        _ORDERS[graph] = graph.order()
    return _ORDERS[graph]


_POSITIONS: "weakref.WeakKeyDictionary[Graph, dict[str, int]]" = weakref.WeakKeyDictionary()


def _positions(graph: Graph) -> dict[str, int]:
    if graph not in _POSITIONS:
        _POSITIONS[graph] = {n: i for i, n in enumerate(_order(graph))}
    return _POSITIONS[graph]


def _traced(value: Any) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def _array(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float, np.number)) for v in value):
        return np.asarray(value)
    return value


# -- integer indices --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Site:
    """One indexing operation of a node's expression: ``value[index]`` or ``jnp.take``."""

    text: str  # the whole indexing expression, for the message
    value: str  # source of the indexed array
    index: str  # source of the index
    axis: int | None  # the axis it indexes (None: the flattened array)
    from_end: int  # for indices after an ``...``: how many axes they are from the end (else 0)
    kind: str = "read"  # "read" (gather), "update" (``.at[...]``) or "take"


_SITES: "weakref.WeakKeyDictionary[Graph, list[tuple[str, _Site]]]" = weakref.WeakKeyDictionary()


def _sites(graph: Graph) -> list[tuple[str, _Site]]:
    """Every indexing operation with a non-constant index, per node (cached per graph)."""
    if graph in _SITES:
        return _SITES[graph]
    out = []
    for name in graph.order():
        node = graph.nodes[name]["node"]
        for source in node.expressions().values():
            if "[" not in source and "take" not in source:
                continue
            for site in _index_sites(parse_expr(source), graph.env):
                out.append((name, site))
    _SITES[graph] = out
    return out


def _index_sites(tree: ast.AST, env: dict[str, Any]) -> list[_Site]:
    sites = []
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Subscript):
            target = sub.value
            kind = "read"
            if isinstance(target, ast.Attribute) and target.attr == "at":  # x.at[idx].set(...)
                target, kind = target.value, "update"
            elements = sub.slice.elts if isinstance(sub.slice, ast.Tuple) else [sub.slice]
            ellipsis = next((i for i, e in enumerate(elements) if _is_ellipsis(e)), None)
            axis = 0
            for i, element in enumerate(elements):
                if _is_ellipsis(element):
                    continue
                if isinstance(element, ast.Constant) and element.value is None:
                    continue  # a new axis: consumes none
                after = ellipsis is not None and i > ellipsis
                if not isinstance(element, (ast.Slice, ast.Constant)) and free_names(unparse(element)):
                    from_end = sum(1 for e in elements[i:] if not _is_ellipsis(e) and not _is_none(e)) if after else 0
                    sites.append(_Site(unparse(sub), unparse(target), unparse(element),
                                       None if after else axis, from_end, kind))
                if not after:
                    axis += 1
        elif isinstance(sub, ast.Call) and len(sub.args) >= 2 and _is_take(sub.func, env):
            keywords = {k.arg: k.value for k in sub.keywords}
            mode = keywords.get("mode")
            if mode is not None and not (isinstance(mode, ast.Constant) and mode.value == "fill"):
                continue  # "wrap" / "clip" are explicit choices
            axis_node = sub.args[2] if len(sub.args) > 2 else keywords.get("axis")
            if axis_node is None or isinstance(axis_node, ast.Constant) and axis_node.value is None:
                axis = None
            elif isinstance(axis_node, ast.Constant) and isinstance(axis_node.value, int):
                axis = axis_node.value
            else:
                continue
            index = unparse(sub.args[1])
            if free_names(index):
                sites.append(_Site(unparse(sub), unparse(sub.args[0]), index, axis,
                                   -axis if axis is not None and axis < 0 else 0, "take"))
    return sites


def _is_ellipsis(element: ast.AST) -> bool:
    return isinstance(element, ast.Constant) and element.value is Ellipsis


def _is_none(element: ast.AST) -> bool:
    return isinstance(element, ast.Constant) and element.value is None


def _is_take(func: ast.AST, env: dict[str, Any]) -> bool:
    if not (isinstance(func, ast.Attribute) and func.attr == "take" and isinstance(func.value, ast.Name)):
        return False
    return getattr(env.get(func.value.id), "take", None) is jnp.take


def check_indices(graph: Graph, data: "_Data | dict[str, Any]") -> None:
    """Raise :class:`ModelError` for integer data indexing out of range (see :func:`check_data`)."""
    data = data if isinstance(data, _Data) else _Data(graph, data)
    for name, site in _sites(graph):
        sources = data.node_names(site.index)
        if not sources or not all(data.is_data(n) for n in sources):
            continue
        index = data.evaluate(site.index)
        if index is _UNKNOWN or _traced(index):
            continue
        static = isinstance(index, (int, np.integer))  # a Python int: JAX indexes as NumPy does, no clamping
        try:
            index = np.asarray(index)
        except Exception:  # not an array (e.g. a key): nothing to check
            continue
        if index.dtype.kind not in "iu":
            continue  # a boolean mask, a float (JAX rejects it), an object
        target = data.shape_of(site.value)
        shape = getattr(target, "shape", None)
        if shape is None:
            continue
        if site.axis is None and site.from_end == 0:
            size, axis_text = int(np.prod(shape)), "the flattened array"
        else:
            axis = site.axis if site.from_end == 0 else len(shape) - site.from_end
            if not 0 <= axis < len(shape):
                continue  # too many indices: JAX says so
            size, axis_text = int(shape[axis]), f"axis {axis}"
        bad = (index < -size if static else index < 0) | (index >= size)
        if not bool(np.any(bad)):
            continue
        position = tuple(int(i) for i in np.argwhere(bad)[0]) if index.ndim else ()
        value = int(index[position]) if index.ndim else int(index)
        raise _index_error(graph, name, site, sources, value, position, size, axis_text, int(np.sum(bad)), static)


def _index_error(graph: Graph, name: str, site: _Site, sources: list[str], value: int, position: tuple,
                 size: int, axis_text: str, count: int, static: bool = False) -> ModelError:
    node = graph.nodes[name]["node"]
    described = [_describe_source(graph, s) for s in sources]
    if site.index.replace(" ", "") == _ident(sources[0]) and len(sources) == 1:
        what = described[0]
    else:
        what = f"the index `{site.index}` (from {', '.join(described)})"
    where = f" at position {position[0] if len(position) == 1 else position}" if position else ""
    also = f" ({count} values are out of range)" if count > 1 else ""
    valid = f"{-size if static else 0} to {size - 1}" if size else "none: the axis is empty"
    effect = {"read": f"JAX would silently read index {size - 1} instead",
              "update": "JAX would silently drop the update", "take": "jnp.take would silently give NaN"}[site.kind]
    if static:
        hint = f"a Python int index must lie in [{-size}, {size})"
    elif value < 0:
        hint = (f"a negative index counts from the end of the axis (JAX would use index {value + size}); "
                f"ids must be 0-based in [0, {size}); to wrap around on purpose write `{site.index} % {size}`")
    else:
        hint = (f"{effect}; ids must be 0-based and below {size} "
                f"(for 1-based ids index with `{site.index} - 1`), or `{site.value}` must be longer")
    return ModelError(
        f"index out of range in `{site.text}`: {what} has the value {value}{where}, but {axis_text} of "
        f"`{site.value}` has size {size} (valid indices: {valid}){also}",
        node=name, model=graph.name, location=node.location, hint=hint,
    )


def _ident(name: str) -> str:
    return name.replace(".", "__")


def _describe_source(graph: Graph, name: str) -> str:
    node = graph.nodes[name]["node"]
    if isinstance(node, Argument):
        return f"argument '{name}'"
    if isinstance(node, (RandomVariable, Layer)):
        return f"observed '{name}'"
    roots = [a for a in graph.order() if a in nx.ancestors(graph, name)
             and (isinstance(graph.nodes[a]["node"], Argument) or getattr(graph.nodes[a]["node"], "observed", None))]
    return f"'{name}' (computed from {', '.join(_describe_source(graph, r) for r in roots)})" if roots else f"'{name}'"


# -- distribution parameters --------------------------------------------------------------------
_CALLS: "weakref.WeakKeyDictionary[Graph, list[tuple[str, Any, dict[str, str], str, str]]]" = weakref.WeakKeyDictionary()


def _distribution_calls(graph: Graph) -> list[tuple[str, Any, dict[str, str], str, str]]:
    """(node, callee, {parameter: source}, call source, callee source) of every distribution built.

    That is each random variable's distribution and every call of a distribution
    inside any expression: layer priors (``nn.Dense(8, dist.Normal(0.0, s))``),
    factors and deterministics (``dist.Normal(mu, s).log_prob(y)``).
    """
    if graph in _CALLS:
        return _CALLS[graph]
    from .dist import is_distribution
    from .ir.expr import join_call

    out = []
    resolved: dict[str, Any] = {}  # callee source -> object (10,000 nodes name the same few callees)
    signatures: dict[int, Any] = {}
    found: dict[tuple[str, bool], list[tuple[Any, dict[str, str], str, str]]] = {}  # (source, is dist) -> calls

    def calls_in(source: str, head: str | None) -> list[tuple[Any, dict[str, str], str, str]]:
        calls = []
        for call in ast.walk(parse_expr(source)):
            if not isinstance(call, ast.Call) or not _dotted(call.func):
                continue
            if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                continue
            shown = unparse(call.func)
            if any(graph.node_of(n) is not None for n in free_names(shown)):
                continue
            if shown not in resolved:
                try:
                    resolved[shown] = eval(compile(shown, "<ppgraph data check>", "eval"), dict(graph.env))
                except Exception:
                    resolved[shown] = _UNKNOWN
            func = resolved[shown]
            if func is _UNKNOWN:
                continue
            text = unparse(call)
            module = getattr(func, "__module__", "") or ""
            top = text == head  # a random variable's distribution: any factory
            if not (is_distribution(func) or callable(func) and (top or module.startswith(_DIST_MODULES))):
                continue
            try:
                if id(func) not in signatures:
                    signatures[id(func)] = inspect.signature(func)
                bound = signatures[id(func)].bind_partial(
                    *(unparse(a) for a in call.args), **{k.arg: unparse(k.value) for k in call.keywords})
            except (TypeError, ValueError):
                continue
            params = {k: v for k, v in bound.arguments.items() if isinstance(v, str)}
            calls.append((func, params, text, shown))
        return calls

    for name in graph.order():
        node = graph.nodes[name]["node"]
        head = None
        if isinstance(node, RandomVariable):
            chain = split_call(node.dist)
            head = join_call(chain._replace(methods=())) if chain is not None else None
        for slot, source in node.expressions().items():
            if slot == "observed":
                continue
            key = (source, head if slot == "dist" else None)
            if key not in found:  # the nodes of a large graph repeat a few sources
                found[key] = calls_in(*key)
            out.extend((name, *call) for call in found[key])
    _CALLS[graph] = out
    return out


_DIST_MODULES = ("numpyro.distributions", "ppgraph.dist")


def _dotted(expr: ast.expr) -> bool:
    while isinstance(expr, ast.Attribute):
        expr = expr.value
    return isinstance(expr, ast.Name)


_CONSTANTS_OK: "weakref.WeakKeyDictionary[Graph, set[tuple[str, str, str]]]" = weakref.WeakKeyDictionary()


def check_parameter_ranges(graph: Graph, data: "_Data | dict[str, Any]") -> None:
    """Raise :class:`SupportError` for a parameter fed by latent variables whose range leaves its constraint.

    See :mod:`ppgraph.rangecheck` (interval arithmetic over the graph).
    """
    data = data if isinstance(data, _Data) else _Data(graph, data)
    check_ranges(graph, data, _distribution_calls(graph))


def check_parameters(graph: Graph, data: "_Data | dict[str, Any]") -> None:
    """Raise :class:`SupportError` for a data-only parameter outside its constraint (see :func:`check_data`)."""
    from numpyro.distributions import constraints

    data = data if isinstance(data, _Data) else _Data(graph, data)
    checked = _CONSTANTS_OK.setdefault(graph, set())
    for name, func, params, call, shown in _distribution_calls(graph):
        known = {}
        for param, source in params.items():
            sources = data.node_names(source)
            if not sources and (name, call, param) in checked:
                continue  # a constant, found valid before
            if all(data.is_data(n) for n in sources):
                value = data.evaluate(source)
                if value is not _UNKNOWN and not _traced(value):
                    known[param] = (source, value)
        if not known:
            continue
        cls = distribution_class(func, call, data)
        if cls is None:
            continue
        arg_constraints = getattr(cls, "arg_constraints", None)
        if not isinstance(arg_constraints, dict):
            continue
        for param, (source, value) in known.items():
            constraint = arg_constraints.get(param)
            if constraint is None or constraints.is_dependent(constraint):
                continue
            try:
                array = np.asarray(value)
                if array.dtype.kind not in "biuf":
                    continue
                if param == "logits":  # -inf logits mask out classes on purpose
                    array = np.where(np.isneginf(array), 0.0, array)
                inside = np.asarray(_satisfies(constraint, array))
            except Exception:  # a shape the distribution would reject: reported when the model runs
                continue
            if bool(np.all(inside)):
                if not data.node_names(source):
                    checked.add((name, call, param))
                continue
            raise _parameter_error(graph, name, call, param, source, np.asarray(array), constraint, inside, data)


def _satisfies(constraint: Any, value: np.ndarray) -> Any:
    from numpyro.distributions import constraints

    if constraint is constraints.simplex:
        return np.all(value >= 0, axis=-1) & (np.abs(value.sum(-1) - 1) <= _SIMPLEX_TOL)
    return constraint(value)


def _parameter_error(graph: Graph, name: str, call: str, param: str, source: str, value: np.ndarray,
                     constraint: Any, inside: np.ndarray, data: _Data) -> SupportError:
    from numpyro.distributions import constraints

    node = graph.nodes[name]["node"]
    event_dim = getattr(constraint, "event_dim", 0)
    position = tuple(int(i) for i in np.argwhere(~inside)[0]) if inside.ndim else ()
    shown = value[position] if value.ndim > len(position) or position else value
    text = _show(shown)
    where = f" at index {position[0] if len(position) == 1 else position}" if position else ""
    extra = ""
    if constraint is constraints.simplex and shown.ndim == 1:
        extra = f" (it sums to {float(shown.sum()):.6g})"
    elif event_dim == 2 and shown.ndim == 2:
        try:
            symmetric = bool(np.allclose(shown, shown.T))
            extra = (f" (smallest eigenvalue {float(np.linalg.eigvalsh(shown)[0]):.4g})" if symmetric
                     else " (it is not symmetric)")
        except np.linalg.LinAlgError:
            pass
    count = int(inside.size - np.count_nonzero(inside))
    also = f"; {count} of {inside.size} values violate it" if inside.size > 1 else ""
    sources = data.node_names(source)
    args = [s for s in sources if isinstance(graph.nodes[s]["node"], Argument)]
    described = ", ".join(_describe_source(graph, s) for s in sources)
    if not sources:
        fed = f"the constant `{source}`"
    elif len(sources) == 1 and source.replace(" ", "") == _ident(sources[0]):
        fed = described
    else:
        fed = f"`{source}`, from {described}"
    fix = f"fix the data passed as {', '.join(repr(a) for a in args)}" if args else "fix the value"
    return SupportError(
        f"`{call}`: parameter '{param}' ({fed}) violates its constraint ({_constraint_text(constraint)}): "
        f"its value is {text}{where}{extra}{also}",
        node=name, model=graph.name, location=node.location,
        hint=f"{fix}; NumPyro's log density would be NaN there",
    )


_CONSTRAINT_WORDS = {
    "Positive": "positive", "Nonnegative": "non-negative", "Real": "real (finite)",
    "RealVector": "real (finite) vector", "PositiveDefinite": "positive definite",
    "CorrCholesky": "Cholesky factor of a correlation matrix", "LowerCholesky": "lower Cholesky factor",
    "IntegerNonnegative": "a non-negative integer", "IntegerPositive": "a positive integer",
    "Boolean": "0 or 1", "OrderedVector": "ordered vector",
}


def _constraint_text(constraint: Any) -> str:
    """``positive``, ``greater than 0.0``, ``in [0.0, 1.0]``, ``simplex: ...``, ``positive definite``..."""
    from numpyro.distributions import constraints

    if constraint is constraints.simplex:
        return f"simplex: non-negative, sums to 1 within {_SIMPLEX_TOL:g}"
    text = type(constraint).__name__.lstrip("_")
    if text in _CONSTRAINT_WORDS:
        return _CONSTRAINT_WORDS[text]
    lower = getattr(constraint, "lower_bound", None)
    upper = getattr(constraint, "upper_bound", None)
    integer = "an integer " if "Integer" in text else ""
    if lower is not None and upper is not None:
        left, right = ("(", ")") if "Open" in text else ("[", "]")
        return f"{integer}in {left}{_show(lower)}, {_show(upper)}{right}"
    if lower is not None:
        return f"{integer}{'>=' if 'Eq' in text or integer else '>'} {_show(lower)}"
    if upper is not None:
        return f"{integer}{'<=' if 'Eq' in text else '<'} {_show(upper)}"
    return "".join(f" {c.lower()}" if c.isupper() else c for c in text).strip()


def _show(value: Any) -> str:
    value = np.asarray(value)
    if value.ndim == 0 and value.dtype.kind in "biuf":
        return f"{value.item():.6g}" if value.dtype.kind == "f" else str(value.item())
    options = {"precision": 6, "floatmode": "maxprec"} if value.dtype.kind == "f" else {}
    return " ".join(np.array2string(value, threshold=8, separator=", ", **options).split())
