"""``@pg.model``: lower a decorated Python function into the graph IR.

The function body is parsed with :mod:`ast`, never run.  Statements:

``x <~ D(...)``
    a random variable (``D`` a distribution class or function returning one),
    a neural-network layer (``nn.Serial(...)``), an extra log-density term
    (``pg.factor(expr)``) or an inlined sub-model (``other_model(a, b)``).
    Python reads it as ``x < (~D(...))``.
``x = expr``
    a deterministic node; any expression over earlier variables, arguments and
    names visible from the function (globals, closure, builtins).
``return x`` / ``return x, y``
    the model's return value.

Anything else (``if``, ``for``, ``while``, reusing a name, an undefined name, ...)
raises :class:`~ppgraph.ModelError` when the decorator is applied, naming the
model, the variable, the source line and a fix.  So do ``x = D(...)`` and
``x = ~D(...)`` for a distribution, layer, sub-model or ``pg.factor`` ``D``: a
random variable is declared with ``x <~ D(...)``.
"""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
from typing import Any, Callable

from ..errors import ModelError
from ..ir import Argument, Deterministic, Factor, Graph, Layer, RandomVariable
from ..ir.expr import BUILTINS, free_names, ident, unparse
from ..ir.graph import _close_names
from ..model import Model
from .inline import inline_model
from .layer_inputs import infer_layer_inputs

__all__ = ["model", "factor"]


class _FactorMarker:
    """``name <~ pg.factor(expr)`` adds ``expr`` to the joint log density."""

    def __repr__(self) -> str:
        return "ppgraph.factor"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ModelError(
            "pg.factor(...) is only meaningful inside a model",
            hint="write `name <~ pg.factor(log_density_term)` in a @pg.model function",
        )


factor = _FactorMarker()
factor.__doc__ = """Add an arbitrary term to the joint log density (Stan's ``target +=``).

Use it inside a model as ``name <~ pg.factor(expr)``; ``expr`` is summed if it is
not a scalar.  Like NumPyro's ``numpyro.factor``.

Examples
--------
>>> import ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def tempered(y, beta=0.5):
...     mu <~ dist.Normal(0.0, 1.0)
...     lik <~ pg.factor(beta * dist.Normal(mu, 1.0).log_prob(y))
...     return mu
>>> type(tempered.graph.obj("lik")).__name__
'Factor'
"""

_DIST_METHODS = frozenset({"expand", "expand_by", "to_event", "mask"})

_CONTROL_FLOW = {
    ast.If: ("`if`", "use jnp.where(cond, a, b) or jax.lax.cond for data-dependent choices"),
    ast.For: ("`for`", "vectorise with .expand([n]) / array operations, or use jax.lax.scan in a helper function"),
    ast.AsyncFor: ("`async for`", "models are not asynchronous"),
    ast.While: ("`while`", "use jax.lax.while_loop in a helper function"),
    ast.With: ("`with`", "plates are not needed: vectorise with .expand([n]) or batch-shaped parameters"),
    ast.Try: ("`try`", "models cannot catch exceptions"),
    ast.FunctionDef: ("a nested function definition", "define helper functions outside the model"),
    ast.Lambda: ("a lambda", "define helper functions outside the model"),
    ast.ClassDef: ("a class definition", "define classes outside the model"),
    ast.AugAssign: ("an augmented assignment (`x += ...`)", "give the new value a new name: `x2 = x + ...`"),
}


def model(fn: Callable | None = None, *, name: str | None = None) -> Model | Callable[[Callable], Model]:
    """Turn a function written in the model language into a :class:`~ppgraph.Model`.

    Parameters
    ----------
    fn
        The model function. Its body is parsed, not run.
    name
        The model's name (default: the function's name).

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        For anything the model language cannot express (see module docstring).

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def eight_schools(sigma):
    ...     mu <~ dist.Normal(0.0, 5.0)
    ...     tau <~ dist.HalfCauchy(5.0)
    ...     theta_t <~ dist.Normal(0.0, 1.0).expand([8])
    ...     theta = mu + tau * theta_t
    ...     y <~ dist.Normal(theta, sigma)
    ...     return y
    >>> list(eight_schools.graph.predecessors("theta"))
    ['mu', 'tau', 'theta_t']
    """
    if fn is None:
        return lambda f: model(f, name=name)  # type: ignore[return-value]
    if isinstance(fn, Model):
        return fn
    return _Parser(fn, name).parse()


class _Parser:
    def __init__(self, fn: Callable, name: str | None) -> None:
        if not inspect.isfunction(fn):
            raise ModelError(f"@pg.model needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or fn.__name__
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError) as err:
            raise ModelError(
                "cannot read the source of the model function",
                model=self.name,
                hint="define models in a file, register generated source with linecache and compile it "
                "with that file name (docs/concepts.md, 'Models without a source file'), or build the "
                "model with pg.GraphBuilder; source typed at an interactive prompt without a file "
                "cannot be parsed",
            ) from err
        self.tree = ast.parse(textwrap.dedent(source))
        self.filename = os.path.basename(inspect.getsourcefile(fn) or fn.__code__.co_filename or "<unknown>")
        self.first_line = fn.__code__.co_firstlineno
        self.namespace = self._namespace()
        self.graph = Graph(name=self.name, env={})
        self.defined: dict[str, str] = {}  # variable -> node name

    # -- helpers ---------------------------------------------------------------------
    def _namespace(self) -> dict[str, Any]:
        ns: dict[str, Any] = dict(self.fn.__globals__)
        code = self.fn.__code__
        if self.fn.__closure__:
            for var, cell in zip(code.co_freevars, self.fn.__closure__):
                try:
                    ns[var] = cell.cell_contents
                except ValueError:  # empty cell: defined later in the enclosing scope
                    pass
        return ns

    def where(self, node: ast.AST) -> str:
        return f"{self.filename}:{self.first_line + getattr(node, 'lineno', 1) - 1}"

    def error(self, message: str, node: ast.AST, var: str | None = None, hint: str | None = None) -> ModelError:
        return ModelError(message, node=var, model=self.name, location=self.where(node), hint=hint)

    def use(self, expr: ast.expr, var: str, stmt: ast.AST) -> str:
        """Check the names an expression reads; record external ones in the env; return its source."""
        source = unparse(expr)
        for name in free_names(source):
            if name in self.defined:
                continue
            if name == var:
                raise self.error(
                    f"'{var}' is used in its own definition",
                    stmt,
                    var,
                    hint="a variable cannot depend on itself; give the new value a new name",
                )
            if name in self.namespace:
                self._add_env(name, self.namespace[name], stmt, var)
            elif name not in BUILTINS:
                close = _close_names(name, list(self.defined) + [n for n in self.namespace if not n.startswith("__")])
                raise self.error(
                    f"unknown name '{name}'",
                    stmt,
                    var,
                    hint=f"did you mean {close}?" if close else f"define '{name}' before this line or pass it as an argument",
                )
        return source

    def _add_env(self, name: str, value: Any, stmt: ast.AST, var: str | None) -> None:
        env = self.graph.env
        if name in env and env[name] is not value:
            raise self.error(f"the name '{name}' refers to two different objects", stmt, var)
        env[name] = value

    def static_value(self, expr: ast.expr) -> tuple[bool, Any]:
        """Evaluate a dotted name of the surroundings (``dist.Normal``); (False, None) if not one."""
        parts = []
        node = expr
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id in self.defined:
            return False, None
        if node.id in self.namespace:
            value = self.namespace[node.id]
        elif node.id in BUILTINS:
            import builtins

            value = getattr(builtins, node.id)
        else:
            return False, None
        for attr in reversed(parts):
            try:
                value = getattr(value, attr)
            except AttributeError:
                return False, None
        return True, value

    def define(self, var: str, stmt: ast.AST) -> None:
        if var in self.defined:
            kind = type(self.graph.obj(self.defined[var])).__name__
            raise self.error(
                f"'{var}' is defined twice (first as a {kind})",
                stmt,
                var,
                hint="every variable of a model is a node and needs its own name; use a new name",
            )
        if var in self.graph.env:
            raise self.error(
                f"'{var}' is also the name of a global used by the model",
                stmt,
                var,
                hint="rename the variable or the global",
            )
        self.defined[var] = var

    # -- statements --------------------------------------------------------------------
    def parse(self) -> Model:
        fdef = next((n for n in self.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
        if fdef is None or isinstance(fdef, ast.AsyncFunctionDef):
            raise ModelError("@pg.model needs a plain `def` function", model=self.name)
        self._arguments(fdef)
        body = list(fdef.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body = body[1:]
        returned = False
        for stmt in body:
            if returned:
                raise self.error("statement after `return`", stmt, hint="put `return` last")
            returned = self.statement(stmt)
        return Model(infer_layer_inputs(self.graph), doc=self.fn.__doc__)

    def _arguments(self, fdef: ast.FunctionDef) -> None:
        args = fdef.args
        if args.vararg or args.kwarg:
            raise self.error(
                "`*args` / `**kwargs` cannot be model arguments",
                fdef,
                hint="name every input of the model",
            )
        positional = args.posonlyargs + args.args
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
        for arg, default in pairs:
            source = None
            if default is not None:
                source = self.use(default, arg.arg, fdef)
            self.define(arg.arg, fdef)
            self.graph.add(Argument(arg.arg, default=source, location=self.where(arg)))

    def statement(self, stmt: ast.stmt) -> bool:
        """Lower one statement; return True for `return`."""
        if isinstance(stmt, ast.Pass):
            return False
        if isinstance(stmt, ast.Return):
            self._return(stmt)
            return True
        if isinstance(stmt, ast.Assign):
            self._assign(stmt)
            return False
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            self._deterministic(stmt.target.id, stmt.value, stmt)
            return False
        if isinstance(stmt, ast.Expr):
            self._expression_statement(stmt)
            return False
        for kind, (what, hint) in _CONTROL_FLOW.items():
            if isinstance(stmt, kind):
                raise self.error(f"{what} is not part of the model language", stmt, _target_name(stmt), hint=hint)
        raise self.error(
            f"unsupported statement `{unparse(stmt).splitlines()[0]}`",
            stmt,
            hint="a model body holds `x <~ Dist(...)`, `x = expr` and `return` statements",
        )

    def _return(self, stmt: ast.Return) -> None:
        value = stmt.value
        if value is None:
            return
        elements = value.elts if isinstance(value, ast.Tuple) else [value]
        names = []
        for element in elements:
            if not isinstance(element, ast.Name) or element.id not in self.defined:
                raise self.error(
                    f"`return {unparse(value)}`: a model returns variables of the model",
                    stmt,
                    hint="assign the expression to a name first (`out = ...`) and return that name",
                )
            names.append(self.defined[element.id])
        self.graph.graph["returns"] = tuple(names)
        self.graph.graph["returns_tuple"] = isinstance(value, ast.Tuple)

    def _assign(self, stmt: ast.Assign) -> None:
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            raise self.error(
                f"assignment to `{unparse(stmt.targets[0])}`: only single names can be assigned",
                stmt,
                hint="write one `name = expr` per variable (index the result in later expressions)",
            )
        self._deterministic(stmt.targets[0].id, stmt.value, stmt)

    def _deterministic(self, var: str, value: ast.expr, stmt: ast.stmt) -> None:
        self._check_not_random(var, value, stmt)
        source = self.use(value, var, stmt)
        self.define(var, stmt)
        self.graph.add(Deterministic(var, expr=source, location=self.where(stmt)))

    def _random_kind(self, expr: ast.expr) -> str | None:
        """What ``expr`` builds if it is ``D(...)`` (optionally ``.expand(...)``...) of a distribution,
        layer, model or ``pg.factor``; else ``None``."""
        node = expr
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            if node.func.attr not in _DIST_METHODS:
                return None  # e.g. dist.Normal(mu, 1.0).log_prob(y): a value
            node = node.func.value
        if not isinstance(node, ast.Call) or _reads_variable(node.func, self.defined):
            return None
        ok, value = self.static_value(node.func)
        if not ok:
            return None
        if isinstance(value, Model):
            return "sub-model"
        if value is factor:
            return "log-density term (pg.factor)"
        if getattr(value, "__ppgraph_layer__", False):
            return "layer"
        from ..dist import is_distribution

        module = getattr(value, "__module__", "") or ""
        if is_distribution(value) or (callable(value) and module.startswith(("numpyro.distributions", "ppgraph.dist"))):
            return "distribution"
        return None

    def _check_not_random(self, var: str, value: ast.expr, stmt: ast.stmt) -> None:
        """``x = Dist(...)`` and ``x = ~Dist(...)`` are `<~` statements written wrongly."""
        inverted = isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Invert)
        rhs = value.operand if inverted else value
        kind = self._random_kind(rhs)
        if inverted and kind is None and isinstance(rhs, ast.Call) and not _reads_variable(rhs.func, self.defined):
            ok, callee = self.static_value(rhs.func)
            kind = "distribution" if ok and _classify(callee) == "random" else None  # a function returning one
        if kind is None:
            return
        fix = f"`{var} <~ {unparse(rhs)}`"
        if inverted:
            raise self.error(
                f"`{var} = ~{unparse(rhs)}` is `=` followed by `~`, not `<~`: it would make '{var}' a deterministic "
                f"node holding the bitwise not of a {kind}",
                stmt,
                var,
                hint=f"write {fix} to draw '{var}' (`<~` with no `=`); for a logical not use jnp.logical_not(...)",
            )
        raise self.error(
            f"`{var} = {unparse(rhs)}` assigns a {kind} object with `=`, which defines a deterministic value; "
            f"random variables are declared with `<~`",
            stmt,
            var,
            hint=f"write {fix}",
        )

    def _expression_statement(self, stmt: ast.Expr) -> None:
        value = stmt.value
        tilde = _as_tilde(value)
        if tilde is not None:
            target, rhs = tilde
            if not isinstance(target, ast.Name):
                raise self.error(
                    f"`{unparse(target)} <~ ...`: the left side of `<~` must be a single name",
                    stmt,
                    hint="write `x <~ Dist(...)` and index x in later expressions",
                )
            self._tilde(target.id, rhs, stmt)
            return
        if isinstance(value, ast.Tuple) and value.elts and _as_tilde(value.elts[-1]) is not None:
            names = [unparse(e) for e in value.elts[:-1]] + [unparse(_as_tilde(value.elts[-1])[0])]
            raise self.error(
                f"`{', '.join(names)} <~ ...`: tuple targets of `<~` are not supported",
                stmt,
                names[0],
                hint="draw one random variable per `<~` statement (a multivariate distribution gives an array)",
            )
        if isinstance(value, ast.Constant):
            return  # a string or other constant standing alone: a comment
        raise self.error(
            f"the expression `{unparse(value)}` has no effect in the model",
            stmt,
            hint="assign it to a name (`x = ...`), draw it with `x <~ ...`, or use `name <~ pg.factor(...)` "
            "for a log-density term",
        )

    def _tilde(self, var: str, rhs: ast.expr, stmt: ast.stmt) -> None:
        head = _call_head(rhs)
        ok, value = self.static_value(head) if head is not None else (False, None)
        if head is not None and not ok and _reads_variable(head, self.defined):
            ok = False
        if ok and isinstance(value, Model):
            if not isinstance(rhs, ast.Call) or rhs.func is not head:
                raise self.error("a sub-model must be called directly: `z <~ other(a, b)`", stmt, var)
            self._inline(var, value, rhs, stmt)
            return
        if ok and value is factor:
            if not isinstance(rhs, ast.Call) or len(rhs.args) != 1 or rhs.keywords:
                raise self.error("pg.factor takes one expression: `name <~ pg.factor(expr)`", stmt, var)
            source = self.use(rhs.args[0], var, stmt)
            self.define(var, stmt)
            self.graph.add(Factor(var, expr=source, location=self.where(stmt)))
            return
        kind = _classify(value) if ok else None
        if kind is None:
            shown = unparse(head if head is not None else rhs)
            if head is not None and _reads_variable(head, self.defined):
                what = "is a variable of the model, not"
            elif ok:
                what = f"is a {type(value).__name__}, not"
            else:
                what = "is not"
            raise self.error(
                f"`{var} <~ {unparse(rhs)}`: `{shown}` {what} a distribution, layer or model",
                stmt,
                var,
                hint="the right side of `<~` is a distribution such as dist.Normal(0., 1.), "
                "a layer such as nn.Dense(...), or another @pg.model called with its arguments; "
                "use `=` for deterministic values",
            )
        source = self.use(rhs, var, stmt)
        self.define(var, stmt)
        if kind == "layer":
            self.graph.add(Layer(var, spec=source, location=self.where(stmt)))
        else:
            self.graph.add(RandomVariable(var, dist=source, location=self.where(stmt)))

    def _inline(self, var: str, sub: Model, call: ast.Call, stmt: ast.stmt) -> None:
        arg_sources = [self.use(a, var, stmt) for a in call.args]
        kw_sources = {}
        for kw in call.keywords:
            if kw.arg is None:
                raise self.error("`**kwargs` in a sub-model call is not supported", stmt, var)
            kw_sources[kw.arg] = self.use(kw.value, var, stmt)
        self.define(var, stmt)
        try:
            inline_model(self.graph, var, sub, arg_sources, kw_sources, location=self.where(stmt))
        except ModelError as err:
            raise self.error(err.message, stmt, var, hint=err.hint) from None


def _as_tilde(value: ast.expr) -> tuple[ast.expr, ast.expr] | None:
    """``x <~ E`` parses as ``Compare(x, [Lt], [UnaryOp(Invert, E)])``."""
    if (
        isinstance(value, ast.Compare)
        and len(value.ops) == 1
        and isinstance(value.ops[0], ast.Lt)
        and isinstance(value.comparators[0], ast.UnaryOp)
        and isinstance(value.comparators[0].op, ast.Invert)
    ):
        return value.left, value.comparators[0].operand
    return None


def _call_head(rhs: ast.expr) -> ast.expr | None:
    """The callee of the innermost call in ``F(...).m(...)``, or the expression itself if no call."""
    node = rhs
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
        node = node.func.value
    if isinstance(node, ast.Call):
        return node.func
    if isinstance(node, (ast.Name, ast.Attribute)):
        return node
    return None


def _reads_variable(expr: ast.expr, defined: dict[str, str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in defined for n in ast.walk(expr))


def _classify(value: Any) -> str | None:
    """'random', 'layer' or None for what stands after `<~`."""
    from ..dist import is_distribution

    if getattr(value, "__ppgraph_layer__", False):
        return "layer"
    if is_distribution(value):
        return "random"
    if inspect.isclass(value):
        return None
    module = getattr(value, "__module__", "") or ""
    root = module.split(".")[0]
    # NumPyro's Bernoulli, Categorical, ... are factory functions (module "numpyro...")
    if inspect.isfunction(value) and root not in ("jax", "jaxlib", "numpy"):
        return "random"  # a function returning a distribution: checked when the model runs
    return None


def _target_name(stmt: ast.stmt) -> str | None:
    """The variable a statement defines: its target, else the first one defined in its body."""
    target = getattr(stmt, "target", None)
    if isinstance(target, ast.Name):
        return target.id
    for inner in ast.walk(stmt):
        if isinstance(inner, ast.Assign) and isinstance(inner.targets[0], ast.Name):
            return inner.targets[0].id
        if isinstance(inner, ast.Expr) and _as_tilde(inner.value) is not None:
            left = _as_tilde(inner.value)[0]
            if isinstance(left, ast.Name):
                return left.id
    return None
