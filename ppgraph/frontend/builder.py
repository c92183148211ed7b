"""``pg.GraphBuilder``: build model graphs from code.

The builder produces exactly the graph ``@pg.model`` would for the same model.
Methods return *symbols*: stand-ins for the node that support arithmetic,
indexing, attribute access and calls, each building the source of an expression.

Examples
--------
>>> import ppgraph as pg
>>> from ppgraph import dist
>>> g = pg.GraphBuilder("eight_schools")
>>> sigma = g.argument("sigma")
>>> mu = g.random("mu", dist.Normal, 0.0, 5.0)
>>> tau = g.random("tau", dist.HalfCauchy, 5.0)
>>> theta_t = g.random("theta_t", g.call(dist.Normal, 0.0, 1.0).expand([8]))
>>> theta = g.deterministic("theta", mu + tau * theta_t)
>>> y = g.random("y", dist.Normal, theta, sigma)
>>> g.returns(y)
>>> model = g.build()
>>> model.graph.obj("theta").expr
'mu + tau * theta_t'
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from typing import Any

import numpy as np

from ..errors import ModelError
from ..ir import Argument, Deterministic, Factor, Graph, Layer, Parameter, RandomVariable
from ..ir.expr import ident, parse_expr, unparse
from ..model import Model
from .inline import inline_model
from .layer_inputs import infer_layer_inputs

__all__ = ["GraphBuilder", "Symbol"]


class Symbol:
    """A symbolic expression in a :class:`GraphBuilder` (stands for a node or an expression of nodes)."""

    __slots__ = ("_tree", "_builder")

    def __init__(self, tree: ast.expr, builder: "GraphBuilder") -> None:
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_builder", builder)

    @property
    def source(self) -> str:
        """Python source of the expression."""
        return _canonical(self._tree)

    def __repr__(self) -> str:
        return f"Symbol({self.source})"

    def _wrap(self, tree: ast.expr) -> "Symbol":
        return Symbol(tree, self._builder)

    def _lift(self, value: Any) -> ast.expr:
        return self._builder._to_tree(value)

    def __getattr__(self, name: str) -> "Symbol":
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._wrap(ast.Attribute(value=self._tree, attr=name, ctx=ast.Load()))

    def __getitem__(self, index: Any) -> "Symbol":
        return self._wrap(ast.Subscript(value=self._tree, slice=self._builder._to_index(index), ctx=ast.Load()))

    def __call__(self, *args: Any, **kwargs: Any) -> "Symbol":
        return self._wrap(self._builder._call_tree(self._tree, args, kwargs))

    def __bool__(self) -> bool:
        raise ModelError(
            f"the truth value of symbol `{self.source}` is not known while building the graph",
            hint="use jnp.where(cond, a, b) instead of Python `if`",
        )

    def __iter__(self):
        raise ModelError(f"cannot iterate over symbol `{self.source}` while building the graph")

    __array_priority__ = 1000  # make numpy defer to our operators


def _binop(op: ast.operator, reflected: bool = False):
    def method(self: Symbol, other: Any) -> Symbol:
        left, right = self._tree, self._lift(other)
        if reflected:
            left, right = right, left
        return self._wrap(ast.BinOp(left=left, op=op, right=right))

    return method


def _cmpop(op: ast.cmpop):
    def method(self: Symbol, other: Any) -> Symbol:
        return self._wrap(ast.Compare(left=self._tree, ops=[op], comparators=[self._lift(other)]))

    return method


for _name, _op in {
    "add": ast.Add(), "sub": ast.Sub(), "mul": ast.Mult(), "truediv": ast.Div(),
    "floordiv": ast.FloorDiv(), "mod": ast.Mod(), "pow": ast.Pow(), "matmul": ast.MatMult(),
    "and": ast.BitAnd(), "or": ast.BitOr(), "xor": ast.BitXor(),
}.items():
    setattr(Symbol, f"__{_name}__", _binop(_op))
    setattr(Symbol, f"__r{_name}__", _binop(_op, reflected=True))
for _name, _op in {"lt": ast.Lt(), "le": ast.LtE(), "gt": ast.Gt(), "ge": ast.GtE()}.items():
    setattr(Symbol, f"__{_name}__", _cmpop(_op))
Symbol.__neg__ = lambda self: self._wrap(ast.UnaryOp(op=ast.USub(), operand=self._tree))  # type: ignore[attr-defined]
Symbol.__pos__ = lambda self: self._wrap(ast.UnaryOp(op=ast.UAdd(), operand=self._tree))  # type: ignore[attr-defined]
Symbol.__invert__ = lambda self: self._wrap(ast.UnaryOp(op=ast.Invert(), operand=self._tree))  # type: ignore[attr-defined]


class GraphBuilder:
    """Build a model graph programmatically.

    Parameters
    ----------
    name
        The model's name.

    Notes
    -----
    Objects used in expressions (distribution classes, ``jnp`` functions, user
    functions, arrays) are named the way a model file would name them:
    ``dist.Normal`` for :mod:`ppgraph.dist`, ``jnp.exp`` for ``jax.numpy``,
    ``jax.nn.relu`` for ``jax``; other functions by their ``__name__``; arrays
    need a name, given with :meth:`constant`.
    """

    def __init__(self, name: str = "model") -> None:
        self._graph = Graph(name=name, env={})
        self._names: dict[int, str] = {}
        self._keep: list[Any] = []
        self._explicit: set[str] = set()

    # -- nodes -------------------------------------------------------------------------
    def argument(self, name: str, default: Any = inspect.Parameter.empty) -> Symbol:
        """Add a model input; ``default`` makes it optional."""
        source = None if default is inspect.Parameter.empty else self._source(default)
        self._add(Argument(name, default=source, location=_caller()))
        return self.ref(name)

    def random(self, name: str, distribution: Any, *args: Any, **kwargs: Any) -> Symbol:
        """Add ``name ~ distribution(*args, **kwargs)``.

        ``distribution`` is a distribution class (called with ``args``/``kwargs``),
        or a symbol built with :meth:`call` (``g.call(dist.Normal, 0, 1).expand([3])``).
        """
        source = self._dist_source(name, distribution, args, kwargs)
        self._add(RandomVariable(name, dist=source, location=_caller()))
        return self.ref(name)

    def layer(self, name: str, layer: Any, *args: Any, input: Any = None, **kwargs: Any) -> Symbol:
        """Add a neural-network layer node ``name <~ layer`` (a symbol from :meth:`call`, or a class and its arguments).

        ``input`` (a symbol) is the example input fixing the weight shapes; by
        default :meth:`build` takes the argument of the first call ``name(x)``.
        """
        source = self._dist_source(name, layer, args, kwargs)
        input_src = None if input is None else self._source(input)
        self._add(Layer(name, spec=source, input=input_src, location=_caller()))
        return self.ref(name)

    def deterministic(self, name: str, value: Any) -> Symbol:
        """Add ``name = value`` (a symbol expression or a constant)."""
        self._add(Deterministic(name, expr=self._source(value), location=_caller()))
        return self.ref(name)

    def factor(self, name: str, value: Any) -> Symbol:
        """Add the log-density term ``value`` (like ``name <~ pg.factor(value)``)."""
        self._add(Factor(name, expr=self._source(value), location=_caller()))
        return self.ref(name)

    def parameter(self, name: str, init: Any, prior: Any = None) -> Symbol:
        """Add a trainable point estimate with initial value ``init`` and optional prior (a symbol)."""
        prior_src = None if prior is None else self._source(prior)
        self._add(Parameter(name, init=self._source(init), prior=prior_src, location=_caller()))
        return self.ref(name)

    def submodel(self, name: str, model: Model, *args: Any, **kwargs: Any) -> Symbol:
        """Inline ``model`` as ``name.<node>``; ``name`` is its return value (``name <~ model(...)``)."""
        if not isinstance(model, Model):
            raise ModelError(f"submodel '{name}' needs a ppgraph Model, got {type(model).__name__}")
        if name in self._graph.nodes:
            raise ModelError(f"'{name}' is defined twice", node=name, model=self._graph.name)
        inline_model(
            self._graph,
            name,
            model,
            [self._source(a) for a in args],
            {k: self._source(v) for k, v in kwargs.items()},
            location=_caller(),
        )
        return self.ref(name)

    def constant(self, name: str, value: Any) -> Symbol:
        """Make ``value`` (an array, a function, ...) available to expressions as ``name``.

        Constants registered here stay in the model's environment even if no node uses them.
        """
        self._explicit.add(name)
        return self._register(name, value)

    def _register(self, name: str, value: Any) -> Symbol:
        env = self._graph.env
        if name in env and env[name] is not value:
            raise ModelError(f"the constant name '{name}' is used already", model=self._graph.name)
        if name in self._graph.nodes:
            raise ModelError(f"'{name}' is a node name already", model=self._graph.name)
        env[name] = value
        self._names[id(value)] = name
        self._keep.append(value)
        return Symbol(ast.Name(id=name, ctx=ast.Load()), self)

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Symbol:
        """A symbol for ``fn(*args, **kwargs)``."""
        return Symbol(self._call_tree(self._to_tree(fn), args, kwargs), self)

    def ref(self, name: str) -> Symbol:
        """A symbol for the existing node ``name``."""
        if name not in self._graph.nodes:
            raise ModelError(f"no node named '{name}' yet", model=self._graph.name)
        return Symbol(ast.Name(id=ident(name), ctx=ast.Load()), self)

    def returns(self, *values: Symbol) -> None:
        """Set the model's return value(s)."""
        names = []
        for value in values:
            node = self._graph.node_of(value.source) if isinstance(value, Symbol) else None
            if node is None:
                raise ModelError("returns() takes node symbols; add expressions as deterministic nodes first")
            names.append(node)
        self._graph.graph["returns"] = tuple(names)
        self._graph.graph["returns_tuple"] = len(values) > 1

    def build(self) -> Model:
        """Validate and return the model (the builder can keep building afterwards).

        The model's environment keeps the names its nodes use and the constants given
        with :meth:`constant`; names the builder registered for symbols that no node
        ended up using are dropped, so the graph equals what ``@pg.model`` builds.
        """
        graph = self._graph.copy()
        used = {name for _, node in graph.nodes(data="node") for name in node.references()} | self._explicit
        graph.graph["env"] = {k: v for k, v in graph.env.items() if k in used}
        return Model(infer_layer_inputs(graph))

    # -- sources -----------------------------------------------------------------------
    def _add(self, node: Any) -> None:
        if node.name in self._graph.env:
            raise ModelError(
                f"'{node.name}' is also the name of a constant or function in the graph",
                node=node.name,
                model=self._graph.name,
            )
        self._graph.add(node)

    def _dist_source(self, name: str, distribution: Any, args: tuple, kwargs: dict) -> str:
        if isinstance(distribution, str):  # source text would be called as a string: "'dist.Normal(0, 1)'()"
            raise ModelError(
                f"the distribution of '{name}' is the string {distribution!r}; GraphBuilder takes the "
                "distribution (or layer) class and its arguments, not source text",
                node=name,
                model=self._graph.name,
                location=_caller(),
                hint=f"g.random({name!r}, dist.Normal, 0.0, 1.0), or g.random({name!r}, g.call(dist.Normal, 0.0, 1.0))",
            )
        if isinstance(distribution, Symbol):
            if args or kwargs:
                raise ModelError(
                    "give arguments inside the symbol: g.random(name, g.call(D, ...))",
                    node=name,
                    model=self._graph.name,
                )
            return distribution.source
        return _canonical(self._call_tree(self._to_tree(distribution), args, kwargs))

    def _source(self, value: Any) -> str:
        return _canonical(self._to_tree(value))

    def _call_tree(self, func: ast.expr, args: tuple, kwargs: dict) -> ast.Call:
        return ast.Call(
            func=func,
            args=[self._to_tree(a) for a in args],
            keywords=[ast.keyword(arg=k, value=self._to_tree(v)) for k, v in kwargs.items()],
        )

    def _to_index(self, index: Any) -> ast.expr:
        if isinstance(index, tuple):
            return ast.Tuple(elts=[self._to_index(i) for i in index], ctx=ast.Load())
        if isinstance(index, slice):
            part = lambda v: None if v is None else self._to_tree(v)  # noqa: E731
            return ast.Slice(lower=part(index.start), upper=part(index.stop), step=part(index.step))
        if index is Ellipsis:
            return ast.Constant(value=Ellipsis)
        return self._to_tree(index)

    def _to_tree(self, value: Any) -> ast.expr:
        if isinstance(value, Symbol):
            return value._tree
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, complex, str)):
            if isinstance(value, float) and not np.isfinite(value):
                return parse_expr(f"float('{value}')")
            if isinstance(value, (int, float)) and value < 0:
                return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-value))
            return ast.Constant(value=value)
        if isinstance(value, (list, tuple)):
            elts = [self._to_tree(v) for v in value]
            if isinstance(value, list):
                return ast.List(elts=elts, ctx=ast.Load())
            return ast.Tuple(elts=elts, ctx=ast.Load())
        if isinstance(value, dict):
            return ast.Dict(keys=[self._to_tree(k) for k in value], values=[self._to_tree(v) for v in value.values()])
        if isinstance(value, Model):
            raise ModelError("use g.submodel(name, model, ...) to use a model inside another")
        return parse_expr(self._name_of(value))

    def _name_of(self, obj: Any) -> str:
        """How a model file would name ``obj``; registers what is needed in the env."""
        if id(obj) in self._names:
            return self._names[id(obj)]
        from .. import dist as pg_dist

        env = self._graph.env
        for alias, module_name in (("dist", "ppgraph.dist"), ("nn", "ppgraph.nn"), ("jnp", "jax.numpy"), ("jax", "jax"), ("np", "numpy")):
            module = sys.modules.get(module_name)
            if module is None:
                continue
            path = _find_in_module(obj, module, deep=alias == "jax")
            if path is not None:
                if alias in env and env[alias] is not module:
                    break
                env[alias] = module
                return f"{alias}.{path}"
        if pg_dist.is_distribution(obj) and inspect.isclass(obj) or callable(obj):
            name = getattr(obj, "__name__", None)
            if name and name.isidentifier():
                return self._register(_fresh(name, env, self._graph), obj).source
        if hasattr(obj, "shape") or isinstance(obj, np.ndarray):
            raise ModelError(
                "arrays in expressions need a name",
                model=self._graph.name,
                hint="register them with g.constant('X', array) and use the returned symbol",
            )
        raise ModelError(f"cannot use a {type(obj).__name__} in a graph expression", model=self._graph.name)


def _canonical(tree: ast.expr) -> str:
    """Source of ``tree`` as the parser would write it.

    A symbol used twice puts one AST object in two places of a tree, and
    ``ast.unparse`` then adds redundant parentheses (``f((a + b))``); re-parsing
    normalises them.  Only sources where a parenthesis opens right after ``(``,
    ``[``, ``,`` or ``=`` can have them, so the others skip the second parse.
    """
    text = unparse(tree)
    if _REDUNDANT_PARENS.search(text) is None:
        return text
    return unparse(parse_expr(text))


_REDUNDANT_PARENS = re.compile(r"[(\[,=]\s*\(")


def _find_in_module(obj: Any, module: Any, deep: bool) -> str | None:
    name = getattr(obj, "__name__", None)
    if name and getattr(module, name, None) is obj:
        return name
    if deep and name:
        for sub in ("nn", "scipy.special", "scipy.stats", "lax", "random"):
            target = module
            for part in sub.split("."):
                target = getattr(target, part, None)
            if target is not None and getattr(target, name, None) is obj:
                return f"{sub}.{name}"
    return None


def _fresh(name: str, env: dict, graph: Graph) -> str:
    candidate, i = name, 1
    while candidate in graph.nodes or (candidate in env):
        i += 1
        candidate = f"{name}_{i}"
    return candidate


def _caller() -> str | None:
    """``file:line`` of the user's code calling the builder."""
    import os

    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename == __file__:  # the first frame outside the builder
        frame = frame.f_back
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"

