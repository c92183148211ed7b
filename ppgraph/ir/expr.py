"""Expressions: the Python source snippets that node objects carry.

Every distribution, deterministic expression and layer specification in the IR is
stored as a string of Python source.  Names in it are either *node identifiers*
(``ident(node_name)``) or names of the graph's environment (modules, functions,
constants).  This module parses them, finds their free names and renames them.

Examples
--------
>>> sorted(free_names("mu + tau * jnp.exp(theta_t[0])"))
['jnp', 'mu', 'tau', 'theta_t']
>>> rename("a + f(b)", {"a": "z__a"})
'z__a + f(b)'
>>> split_call("dist.Normal(mu, scale=2.0).expand([8])")
CallChain(func='dist.Normal', args=('mu',), kwargs=(('scale', '2.0'),), methods=(('expand', ('[8]',), ()),))
"""

from __future__ import annotations

import ast
import builtins
import functools
from typing import NamedTuple

__all__ = [
    "ident",
    "parse_expr",
    "free_names",
    "rename",
    "unparse",
    "split_call",
    "join_call",
    "CallChain",
    "BUILTINS",
]

BUILTINS = frozenset(dir(builtins))


def ident(name: str) -> str:
    """The Python identifier that stands for node ``name`` in expressions and generated code.

    Scoped names of inlined sub-models (``"z.mu"``) become ``"z__mu"``.
    """
    return name.replace(".", "__")


@functools.lru_cache(maxsize=65536)
def _parse_cached(source: str) -> ast.expr:
    return ast.parse(source, mode="eval").body


def parse_expr(source: str) -> ast.expr:
    """Parse an expression; the result is a fresh tree the caller may modify."""
    # ast trees are mutable, so callers get a fresh tree: parsing again is several
    # times faster than deep-copying a cached one (it dominated building large graphs).
    return ast.parse(source, mode="eval").body


def unparse(tree: ast.AST) -> str:
    """Source of an expression tree (``ast.unparse``: stable, round-trips through ``parse_expr``)."""
    return ast.unparse(tree)


class _FreeNames(ast.NodeVisitor):
    """Collect names read by an expression, respecting lambda and comprehension scopes."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.bound: list[set[str]] = [set()]

    def _is_bound(self, name: str) -> bool:
        return any(name in scope for scope in self.bound)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and not self._is_bound(node.id):
            if node.id not in self.names:
                self.names.append(node.id)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(default)
        args = node.args
        names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        if args.vararg:
            names.add(args.vararg.arg)
        if args.kwarg:
            names.add(args.kwarg.arg)
        self.bound.append(names)
        self.visit(node.body)
        self.bound.pop()

    def _comprehension(self, node: ast.AST, elements: list[ast.AST]) -> None:
        scope: set[str] = set()
        self.bound.append(scope)
        for gen in node.generators:  # type: ignore[attr-defined]
            self.visit(gen.iter)
            for target in ast.walk(gen.target):
                if isinstance(target, ast.Name):
                    scope.add(target.id)
            for cond in gen.ifs:
                self.visit(cond)
        for element in elements:
            self.visit(element)
        self.bound.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp  # type: ignore[assignment]
    visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)


@functools.lru_cache(maxsize=65536)
def free_names(source: str) -> tuple[str, ...]:
    """Names an expression reads from its surroundings, in order of first use."""
    visitor = _FreeNames()
    visitor.visit(_parse_cached(source))
    return tuple(visitor.names)


class _Renamer(ast.NodeTransformer):
    """Rename free occurrences only: names bound by a lambda or comprehension stay."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        self.free = None
        self.bound: list[set[str]] = []

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.mapping and node.id in self.free and not any(node.id in s for s in self.bound):
            return ast.copy_location(ast.Name(id=self.mapping[node.id], ctx=node.ctx), node)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.Lambda:
        args = node.args
        args.defaults = [self.visit(d) for d in args.defaults]
        args.kw_defaults = [d if d is None else self.visit(d) for d in args.kw_defaults]
        names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        self.bound.append(names)
        node.body = self.visit(node.body)
        self.bound.pop()
        return node

    def _comprehension(self, node: ast.AST) -> ast.AST:
        scope = {t.id for gen in node.generators for t in ast.walk(gen.target) if isinstance(t, ast.Name)}  # type: ignore[attr-defined]
        self.bound.append(scope)
        self.generic_visit(node)
        self.bound.pop()
        return node

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


def rename(source: str, mapping: dict[str, str]) -> str:
    """Rename free names of an expression.

    Only names that are free in the expression are renamed (a lambda parameter that
    shadows a node name is left alone).
    """
    free = set(free_names(source))
    if not free & set(mapping):
        return source
    renamer = _Renamer(mapping)
    renamer.free = {n for n in free if n in mapping}
    tree = renamer.visit(parse_expr(source))
    return unparse(tree)


class CallChain(NamedTuple):
    """``func(*args, **kwargs).method(...)...`` split into its parts (all as source)."""

    func: str
    args: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...]
    methods: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], ...]

    def kwarg(self, name: str) -> str | None:
        """Source of keyword argument ``name``, if given."""
        return dict(self.kwargs).get(name)


def _call_parts(call: ast.Call) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    args = tuple(unparse(a) for a in call.args)
    kwargs = tuple((k.arg, unparse(k.value)) for k in call.keywords)  # type: ignore[misc]
    return args, kwargs


@functools.lru_cache(maxsize=65536)  # CallChain is immutable; large graphs repeat the same sources
def split_call(source: str) -> CallChain | None:
    """Split ``F(args).m(args)...`` into a :class:`CallChain`; ``None`` if it has another form."""
    node = _parse_cached(source)
    methods = []
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
    ):
        parts = _call_parts(node)
        if parts is None:
            return None
        methods.append((node.func.attr, *parts))
        node = node.func.value
    if not isinstance(node, ast.Call):
        return None
    parts = _call_parts(node)
    if parts is None:
        return None
    return CallChain(unparse(node.func), parts[0], parts[1], tuple(reversed(methods)))


def join_call(chain: CallChain) -> str:
    """Inverse of :func:`split_call`."""

    def call(func: str, args: tuple[str, ...], kwargs: tuple[tuple[str, str], ...]) -> str:
        inner = ", ".join([*args, *(f"{k}={v}" for k, v in kwargs)])
        return f"{func}({inner})"

    text = call(chain.func, chain.args, chain.kwargs)
    for name, args, kwargs in chain.methods:
        text = call(f"{text}.{name}", args, kwargs)
    return unparse(parse_expr(text))
