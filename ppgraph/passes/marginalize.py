"""``marginalize``: sum discrete latent variables out of the joint density.

Every unobserved random variable with a finite discrete support (Bernoulli,
Categorical, DiscreteUniform, Binomial, any distribution with
``enumerate_support``, ``.expand(...)`` of these, and
:class:`~ppgraph.dist.DiscreteMarkovChain`) is replaced, with every node that
depends on it, by one :class:`~ppgraph.ir.Marginalized` node.  Discrete
latents whose dependent nodes overlap (a latent with a discrete child, two
latents with a common child) form one group and are eliminated together, in a
valid order, by :mod:`ppgraph.enumeration` at run time (the generated code
calls it; :mod:`ppgraph.codegen.marginal` writes that code).

What is exact, and what is refused (a :class:`~ppgraph.ModelError` naming the
node and the reason):

- the nodes depending on a discrete latent must be deterministic nodes,
  observed random variables, factors, or discrete latents summed out with it;
  a *continuous latent* child is refused (observe it, or leave the discrete
  variable out with ``names=``);
- every use of a discrete-dependent value must be elementwise: arithmetic,
  comparisons, ``jnp`` ufuncs such as ``jnp.where`` / ``jnp.exp``, indexing
  *with* it (``locs[z]``), a distribution parameter; indexing *into* it
  (``z[0]``), reductions (``jnp.sum(z)``) or unknown functions are refused;
- infinite support (Poisson, Geometric) is refused (suggesting truncation or
  observing), and so is an enumeration larger than the memory limit.

Examples
--------
>>> import jax.numpy as jnp, ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def mixture(n):
...     z <~ dist.Bernoulli(0.3).expand([n])
...     y <~ dist.Normal(jnp.where(z == 1, 2.0, -2.0), 1.0)
...     return y
>>> g = marginalize(pg.passes.observe(mixture, y=jnp.array([1.5, -2.0])))
>>> g.obj("z").kind, g.obj("z").absorbed()
('marginalized', ('z', 'y'))
>>> lp = float(pg.logpdf(g)(n=2))
>>> by_hand = sum(float(jnp.logaddexp(jnp.log(0.7) + dist.Normal(-2.0, 1.0).log_prob(v),
...                                    jnp.log(0.3) + dist.Normal(2.0, 1.0).log_prob(v))) for v in (1.5, -2.0))
>>> abs(lp - by_hand) < 1e-5
True
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable
from typing import Any

import networkx as nx

from .. import enumeration as runtime
from ..errors import ModelError
from ..ir import Deterministic, Factor, Graph, Marginalized, Node, RandomVariable, validate
from ..ir.expr import ident, parse_expr, split_call
from .base import graph_of, register_pass

__all__ = ["marginalize", "discrete_latents", "support_kind", "ELEMENTWISE"]

ELEMENTWISE = frozenset(
    f"{prefix}.{name}"
    for prefix in ("jnp", "jax.numpy", "np", "numpy")
    for name in (
        "where", "exp", "log", "log1p", "expm1", "abs", "sqrt", "square", "clip", "maximum", "minimum",
        "sin", "cos", "tan", "tanh", "sinh", "cosh", "arctan", "logaddexp", "power", "sign", "floor", "ceil",
        "round", "isnan", "isfinite", "asarray", "array", "float32", "int32", "equal", "not_equal", "less",
        "greater", "less_equal", "greater_equal", "logical_and", "logical_or", "logical_not", "add",
        "subtract", "multiply", "divide", "true_divide", "negative", "reciprocal", "exp2", "log2", "log10",
        "heaviside", "mod", "remainder", "fmod", "sigmoid", "take",
    )
) | frozenset({
    "jax.nn.sigmoid", "jax.nn.softplus", "jax.nn.relu", "jax.nn.log_sigmoid", "jax.scipy.special.expit",
    "jax.scipy.special.logit", "jax.scipy.special.gammaln", "jax.scipy.special.xlogy", "float", "abs",
})
"""Functions applied elementwise: a discrete-dependent argument keeps per-element independence."""

_DIST_METHODS = frozenset({"expand", "expand_by", "to_event", "mask", "log_prob"})
_ARRAY_METHODS = frozenset({"astype"})


# -- which latents are discrete -----------------------------------------------------------------------
def _resolve(source: str, env: dict[str, Any]) -> Any:
    head, *rest = source.split(".")
    if head not in env:
        return None
    value = env[head]
    for attr in rest:
        value = getattr(value, attr, None)
        if value is None:
            return None
    return value


def _dist_class(node: RandomVariable, env: dict[str, Any]) -> type | None:
    import numpyro.distributions as nd

    chain = split_call(node.dist)
    if chain is None or "(" in chain.func:
        return None
    obj = _resolve(chain.func, env)
    if obj is not None and not isinstance(obj, type) and callable(obj):
        # numpyro's Bernoulli / Categorical / Binomial / Geometric are functions choosing a class
        obj = getattr(nd, f"{getattr(obj, '__name__', '')}Probs", None)
    return obj if isinstance(obj, type) and issubclass(obj, nd.Distribution) else None


def support_kind(cls: type | None) -> str | None:
    """``"finite"``, ``"infinite"`` (discrete), ``"continuous"``, or ``None`` (unknown) for a distribution class.

    Examples
    --------
    >>> from ppgraph import dist
    >>> support_kind(dist.BernoulliProbs), support_kind(dist.Poisson), support_kind(dist.Normal)
    ('finite', 'infinite', 'continuous')
    """
    from .. import dist as pg_dist

    if cls is None:
        return None
    if issubclass(cls, pg_dist.DiscreteMarkovChain):
        return "finite"
    support = inspect.getattr_static(cls, "support", None)
    if not pg_dist.support_is_discrete(support):
        return "continuous" if support is not None else None
    enumerable = inspect.getattr_static(cls, "has_enumerate_support", False)
    if enumerable is True:
        return "finite"
    return "infinite" if enumerable is False else None


def discrete_latents(graph: Any) -> list[str]:
    """Unobserved random variables whose distribution has a discrete support, in topological order.

    Only distributions whose class the graph's environment resolves are seen
    (``dist.X(...)`` and classes); the rest are judged when the model runs.
    """
    graph = graph_of(graph)
    out = []
    for node in graph.objs(RandomVariable):
        if node.observed is None and support_kind(_dist_class(node, graph.env)) in ("finite", "infinite"):
            out.append(node.name)
    return out


# -- elementwise analysis ---------------------------------------------------------------------------
class _Elementwise:
    """Checks that an expression uses discrete-dependent names only elementwise."""

    def __init__(self, dependent: set[str]) -> None:
        self.dependent = dependent
        self.problem: str | None = None

    def fail(self, tree: ast.AST, why: str) -> bool:
        if self.problem is None:
            self.problem = f"{why} `{ast.unparse(tree)}`"
        return True

    def dep(self, tree: ast.AST) -> bool:  # noqa: C901 - one case per expression form
        if isinstance(tree, ast.Name):
            return tree.id in self.dependent
        if isinstance(tree, ast.Constant):
            return False
        if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.MatMult):
            if self.dep(tree.left) | self.dep(tree.right):
                return self.fail(tree, "a matrix product (not elementwise) uses a discrete-dependent value in")
            return False
        if isinstance(tree, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp)):
            return any([self.dep(child) for child in ast.iter_child_nodes(tree) if isinstance(child, ast.expr)])
        if isinstance(tree, ast.Subscript):
            if self.dep(tree.value):
                return self.fail(tree, "it indexes into a discrete-dependent value in")
            index = tree.slice
            if (isinstance(index, ast.Tuple) and index.elts and not isinstance(index.elts[0], ast.Slice)
                    and all(isinstance(e, ast.Slice) and e.lower is e.upper is e.step is None for e in index.elts[1:])):
                return self.dep(index.elts[0])  # locs[z, :] is locs[z]
            if isinstance(index, (ast.Tuple, ast.Slice)):
                if any(self.dep(c) for c in ast.walk(index) if isinstance(c, ast.Name)):
                    return self.fail(tree, "it indexes with a discrete-dependent value inside a tuple or slice in")
                return False
            return self.dep(tree.slice)
        if isinstance(tree, ast.Attribute):
            if self.dep(tree.value):
                return self.fail(tree, "it reads an attribute of a discrete-dependent value in")
            return False
        if isinstance(tree, ast.Call):
            return self._call(tree)
        if isinstance(tree, (ast.List, ast.Tuple)):
            if any([self.dep(e) for e in tree.elts]):
                return self.fail(tree, "it puts a discrete-dependent value in a list or tuple in")
            return False
        if any(isinstance(n, ast.Name) and n.id in self.dependent for n in ast.walk(tree)):
            return self.fail(tree, "it uses a discrete-dependent value in a construct ppgraph cannot analyse:")
        return False

    def _call(self, tree: ast.Call) -> bool:
        args = list(tree.args) + [k.value for k in tree.keywords]
        arg_dep = [self.dep(a) for a in args]
        func = tree.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call) and self.dep(func.value):
            # a method of a discrete-dependent distribution: dist.Normal(mu, s).expand([n])
            if func.attr in _DIST_METHODS:
                if func.attr in ("expand", "expand_by", "to_event") and any(arg_dep):
                    return self.fail(tree, "its shape depends on a discrete value in")
                return True
            return self.fail(tree, f"it calls .{func.attr} on a discrete-dependent value in")
        if isinstance(func, ast.Attribute) and self.dep(func.value):
            if func.attr in _ARRAY_METHODS:
                return True
            return self.fail(tree, f"it calls .{func.attr} on a discrete-dependent value in")
        if not any(arg_dep):
            return self.dep(func) if not isinstance(func, (ast.Name, ast.Attribute)) else False
        callee = ast.unparse(func)
        if callee in ELEMENTWISE or callee.startswith("dist."):
            return True
        return self.fail(tree, f"it passes a discrete-dependent value to `{callee}`, which is not known to be "
                               "elementwise, in")


def _check_elementwise(node: Node, dependent: set[str], latents: tuple[str, ...], graph: Graph) -> None:
    checker = _Elementwise({ident(n) for n in dependent})
    for slot, source in node.expressions().items():
        checker.dep(parse_expr(source))
        if checker.problem is not None:
            raise ModelError(
                f"cannot sum out {', '.join(repr(z) for z in latents)}: '{node.name}' does not provably depend "
                f"on it elementwise: {checker.problem}",
                node=node.name,
                model=graph.name,
                location=node.location,
                hint="write the dependence with elementwise operations (arithmetic, jnp.where, indexing an "
                "array *with* the discrete value such as locs[z]), observe the discrete variable, or sum it "
                "out by hand with jax.scipy.special.logsumexp and pg.factor",
            )


# -- the pass ----------------------------------------------------------------------------------------
def _select(graph: Graph, names: Iterable[str] | None) -> list[str]:
    if names is None:
        chosen = discrete_latents(graph)
    else:
        chosen = []
        for name in ([names] if isinstance(names, str) else list(names)):
            node = graph.obj(name)
            if isinstance(node, Marginalized) or any(
                    isinstance(n, Marginalized) and name in n.absorbed() for _, n in graph.nodes(data="node")):
                continue
            if not isinstance(node, RandomVariable) or node.observed is not None:
                raise ModelError(f"'{name}' is not a latent random variable: only those can be summed out",
                                 node=name, model=graph.name, location=node.location)
            if support_kind(_dist_class(node, graph.env)) == "continuous":
                raise ModelError(f"'{name}' is a continuous random variable: only discrete ones can be summed out",
                                 node=name, model=graph.name, location=node.location)
            chosen.append(name)
    for name in chosen:
        node = graph.nodes[name]["node"]
        if support_kind(_dist_class(node, graph.env)) == "infinite":
            raise ModelError(
                f"'{name}' has infinite support ({node.dist}): its values cannot be summed out",
                node=name, model=graph.name, location=node.location,
                hint=f"observe it (pg.sample(..., {ident(name)}=values)), or give it a finite support: "
                "truncate it to 0..K-1 with dist.Categorical(probs) over the truncated probabilities",
            )
    return chosen


def _groups(graph: Graph, chosen: list[str]) -> list[list[str]]:
    """Discrete latents whose dependent nodes overlap, joined (in topological order)."""
    below = {z: nx.descendants(graph, z) for z in chosen}
    joined = nx.Graph()
    joined.add_nodes_from(chosen)
    for i, a in enumerate(chosen):
        for b in chosen[i + 1:]:
            if b in below[a] or a in below[b] or below[a] & below[b]:
                joined.add_edge(a, b)
    position = {n: i for i, n in enumerate(graph.order())}
    groups = [sorted(c, key=position.__getitem__) for c in nx.connected_components(joined)]
    return sorted(groups, key=lambda g: position[g[0]])


def _block(graph: Graph, group: list[str], chosen: set[str]) -> list[str]:
    members = set(group)
    for z in group:
        members |= nx.descendants(graph, z)
    order = [n for n in graph.order() if n in members]
    for name in order:
        node = graph.nodes[name]["node"]
        ok = (
            isinstance(node, (Deterministic, Factor))
            or isinstance(node, RandomVariable) and (node.observed is not None or name in chosen)
        )
        if not ok:
            what = "a continuous latent random variable" if isinstance(node, RandomVariable) else f"a {node.kind} node"
            latents = ", ".join(f"'{z}'" for z in group if z in nx.ancestors(graph, name))
            raise ModelError(
                f"'{name}' is {what} that depends on the discrete {latents}: ppgraph sums a discrete variable "
                "out only when everything depending on it is deterministic, observed, or discrete",
                node=name, model=graph.name, location=node.location,
                hint=f"observe '{name}' (pass its value to pg.sample / pg.passes.observe before marginalising), "
                "or leave the discrete variable out with marginalize(graph, names=[...])",
            )
    return order


def _runtime_name(graph: Graph) -> str:
    name = "marginal"
    while (name in graph.env and graph.env[name] is not runtime) or graph.node_of(name) is not None:
        name += "_"
    return name


@register_pass("marginalize")
def marginalize(graph: Any, names: Iterable[str] | None = None) -> Graph:
    """Sum discrete latent random variables out of the joint density (a pure pass).

    Parameters
    ----------
    graph
        A model or graph (not modified).
    names
        The discrete latents to sum out; by default every unobserved random
        variable with a discrete support.

    Returns
    -------
    Graph
        A new graph where each group of discrete latents and the nodes depending
        on them is one :class:`~ppgraph.ir.Marginalized` node named after the
        group's first latent.  Running the pass again changes nothing.

    Raises
    ------
    ModelError
        A latent with infinite support, a continuous latent depending on a
        discrete one, a dependence the pass cannot prove elementwise, or a named
        node that is not a discrete latent.
    """
    graph = graph_of(graph)
    chosen = _select(graph, names)
    if not chosen:
        return graph.copy()
    work = graph.copy()
    env_name = _runtime_name(graph)
    work.env[env_name] = runtime
    absorbed: set[str] = set()
    for group in _groups(graph, chosen):
        order = _block(graph, group, set(chosen))
        dependent = set(order)
        for name in order:
            node = graph.nodes[name]["node"]
            if isinstance(node, RandomVariable) and name in group:
                # its own distribution may depend on other latents of the group (z2 ~ Categorical(P[z1]))
                _check_elementwise(node, dependent - {name}, tuple(group), graph)
            else:
                _check_elementwise(node, dependent, tuple(group), graph)
        first = graph.nodes[group[0]]["node"]
        block = tuple(graph.nodes[n]["node"] for n in order)
        cls = _dist_class(first, graph.env)
        single = len(group) == 1 and support_kind(cls) == "finite" and cls.__name__ != "DiscreteMarkovChain"
        mode = "single" if single else ("chain" if cls is not None and cls.__name__ == "DiscreteMarkovChain"
                                        else "joint")
        merged = Marginalized(group[0], latents=tuple(group), block=block, location=first.location,
                              info=(("enumeration", mode), ("runtime", env_name)))
        work.remove_nodes_from(order)
        work.add_node(merged.name, node=merged)
        absorbed |= set(order)
    returns = work.graph.get("returns")
    if returns:
        work.graph["returns"] = tuple(r for r in returns if r in work.nodes)
    work.link()
    return validate(work)
