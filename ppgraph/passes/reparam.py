"""``reparameterize``: non-centred (loc-scale) rewrite of latent random variables.

A latent ``x ~ Normal(loc, scale)`` becomes two nodes::

    x_decentered ~ Normal(0.0, 1.0).expand(<broadcast shape of loc, scale>)
    x = loc + scale * x_decentered                  # Deterministic

so ``x`` keeps its name (and its values in samples) while the sampler moves in
the standardised ``x_decentered``: the funnel of hierarchical models goes away.
The same works for ``StudentT(df, loc, scale)`` (``df`` stays on the standard
variable), ``Cauchy``, ``Laplace`` and ``LogNormal`` (``x = exp(loc + scale *
x_decentered)``).  ``.expand(...)`` and ``.to_event(...)`` chains are kept on the
standard variable, whose batch shape is exactly ``broadcast(shape(loc),
shape(scale)[, shape(df)])`` followed by the chain.

A Gaussian random walk that :func:`~ppgraph.passes.vectorize` lifted into one
node (``x[0] ~ Normal(m0, s0)``, ``x[i] ~ Normal(x[i-1] + d, s)``, built node by
node) is non-centred whole, into its innovations, in closed form::

    x_decentered ~ Normal(0.0, 1.0).expand([n])
    x = m0 + cumsum(concatenate([s0 * x_decentered[:1], d + s * x_decentered[1:]]))

and an AR(1) step ``Normal(a * x[i-1] + d, s)`` the recurrence
``x = linear_recurrence(a, m0 + s0 * x_decentered[0], d + s * x_decentered[1:])``
(:func:`is_gaussian_chain`, :func:`linear_recurrence`): the sampler then moves in
independent coordinates instead of a chain whose correlations span its length.

Observed random variables are left alone; already standard variables
(``Normal(0, 1)``...) and nodes this pass wrote are skipped, so the pass is
idempotent.

Extending
---------
``LOC_SCALE_FAMILIES`` maps distribution classes to their :class:`LocScale`
description (add e.g. ``dist.Logistic``).  ``REPARAMETERIZERS`` maps a node kind
to a rule ``rule(node, graph) -> list[Node] | Rewrite | None`` that raises
:class:`NotReparameterizable` with a reason when the node cannot be rewritten;
:mod:`ppgraph.nn` registers the rule for ``Layer`` nodes (weight priors) with
:func:`register_reparameterizer`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from .. import dist as pg_dist
from ..errors import ModelError
from ..ir import Deterministic, Graph, Node, Parameter, RandomVariable
from ..ir.expr import CallChain, free_names, ident, join_call, parse_expr, split_call
from ..ir.graph import _close_names, _resolve
from .base import Rewrite, graph_of, register_pass, rewrite_nodes
from .vectorize import INFO_KEY as _VECTORIZED, LIFTED_CHAINS

__all__ = [
    "reparameterize",
    "learnable_centeredness",
    "centeredness_candidates",
    "loc_scale_parameters",
    "is_gaussian_chain",
    "linear_recurrence",
    "LocScale",
    "LOC_SCALE_FAMILIES",
    "REPARAMETERIZERS",
    "register_reparameterizer",
    "NotReparameterizable",
    "SUFFIX",
]

SUFFIX = "_decentered"
CENTEREDNESS = "_centeredness"

Rule = Callable[[Node, Graph], "list[Node] | Rewrite | None"]
REPARAMETERIZERS: dict[type, Rule] = {}
"""Node kind -> reparameterisation rule (see module docstring)."""


class NotReparameterizable(Exception):
    """Raised by a rule for a node it cannot rewrite; the message says why."""


def register_reparameterizer(kind: type) -> Callable[[Rule], Rule]:
    """Register the reparameterisation rule of a node kind (decorator).

    Examples
    --------
    >>> from ppgraph.ir import Node
    >>> class Custom(Node):                        # a node kind of your own
    ...     kind = "custom"
    >>> @register_reparameterizer(Custom)
    ... def _custom_rule(node, graph):
    ...     raise NotReparameterizable("no non-centred form for this node")
    >>> REPARAMETERIZERS[Custom] is _custom_rule
    True
    >>> del REPARAMETERIZERS[Custom]               # (keep the doctest side-effect free)

    ``ppgraph.nn`` registers its rule for ``Layer`` nodes this way.
    """

    def decorate(fn: Rule) -> Rule:
        REPARAMETERIZERS[kind] = fn
        return fn

    return decorate


@dataclass(frozen=True)
class LocScale:
    """How a distribution family is written as a transform of a standard variable.

    Attributes
    ----------
    params
        Constructor parameter names in order, with their defaults (source or ``None``).
    standard
        Source of the standard parameters, e.g. ``{"loc": "0.0", "scale": "1.0"}``;
        parameters not named here (``df``) are kept on the standard variable.
    output
        Format of ``x`` given ``{affine}`` (``loc + scale * z``), e.g. ``"{jnp}.exp({affine})"``.
    base
        The family of the standard variable ``z`` (``None``: the same family;
        ``Normal`` for ``LogNormal``).
    """

    params: tuple[tuple[str, str | None], ...]
    standard: tuple[tuple[str, str], ...] = (("loc", "0.0"), ("scale", "1.0"))
    output: str = "{affine}"
    base: type | None = None


_LOC_SCALE = (("loc", "0.0"), ("scale", "1.0"))
LOC_SCALE_FAMILIES: dict[type, LocScale] = {
    pg_dist.Normal: LocScale(_LOC_SCALE),
    pg_dist.Cauchy: LocScale(_LOC_SCALE),
    pg_dist.Laplace: LocScale(_LOC_SCALE),
    pg_dist.StudentT: LocScale((("df", None),) + _LOC_SCALE),
    pg_dist.LogNormal: LocScale(_LOC_SCALE, output="{jnp}.exp({affine})", base=pg_dist.Normal),
}
"""Distribution class -> :class:`LocScale` (exact classes; subclasses are not assumed to match)."""

_KEPT_METHODS = ("expand", "expand_by", "to_event")


def _number(source: str) -> float | None:
    """The value of a numeric literal (``1.0``, ``-2``), else ``None``."""
    try:
        value = ast.literal_eval(source)
    except (ValueError, SyntaxError, MemoryError, TypeError):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _bind(family: LocScale, chain: CallChain) -> dict[str, str]:
    names = [n for n, _ in family.params]
    if len(chain.args) > len(names):
        raise NotReparameterizable(f"it has {len(chain.args)} positional arguments, more than {names}")
    bound = dict(zip(names, chain.args))
    for key, value in chain.kwargs:
        if key == "validate_args":
            continue
        if key not in names or key in bound:
            raise NotReparameterizable(f"unexpected argument '{key}'")
        bound[key] = value
    for name, default in family.params:
        if name not in bound:
            if default is None:
                raise NotReparameterizable(f"the required parameter '{name}' is missing")
            bound[name] = default
    return bound


def _jnp_name(graph: Graph) -> tuple[str, dict[str, Any]]:
    for name in ("jnp", "ppgraph_jnp", "_ppgraph_jnp"):
        if graph.env.get(name, jnp) is jnp and graph.node_of(name) is None:
            return name, {name: jnp}
    raise ModelError("reparameterize needs a free name for jax.numpy", model=graph.name)  # pragma: no cover


def _name_for(cls: type, like: str, graph: Graph) -> tuple[str, dict[str, Any]]:
    """Source naming ``cls`` next to ``like`` (``dist.LogNormal`` -> ``dist.Normal``), adding an env name if needed."""
    if "." in like:
        candidate = like.rsplit(".", 1)[0] + "." + cls.__name__
        if _resolve(candidate, graph.env) is cls:
            return candidate, {}
    for name in (cls.__name__, f"ppgraph_{cls.__name__}"):
        if graph.env.get(name, cls) is cls and graph.node_of(name) is None:
            return name, {name: cls}
    raise ModelError(f"reparameterize needs a free name for {cls.__name__}", model=graph.name)  # pragma: no cover


def _family(cls: Any, chain: CallChain) -> LocScale:
    """The :class:`LocScale` of the resolved callee ``cls`` of ``chain``, else :class:`NotReparameterizable`."""
    family = LOC_SCALE_FAMILIES.get(cls) if isinstance(cls, type) else None
    if family is None:
        known = ", ".join(sorted(c.__name__ for c in LOC_SCALE_FAMILIES))
        raise NotReparameterizable(f"`{chain.func}` is not a loc-scale family ({known})")
    return family


def _paren(source: str) -> str:
    return f"({source})"


def _loc_scale_rule(node: Node, graph: Graph, centeredness: str | None = None) -> Rewrite | None:
    """The rule for random variables of a loc-scale family (see module docstring).

    ``centeredness``: the source of a centredness ``c`` in [0, 1] (a name or a
    number), for the partially centred form of :func:`learnable_centeredness`::

        x_decentered ~ Family(c * loc, scale ** c)
        x = loc + scale ** (1 - c) * (x_decentered - c * loc)

    (``c = 0``: non-centred; ``c = 1``: centred, ``x = x_decentered``).
    """
    assert isinstance(node, RandomVariable)
    if node.get_info("decentered_of") is not None:
        return None  # written by this pass
    if node.observed is not None:
        raise NotReparameterizable("it is observed (only latent variables are reparameterised)")
    chain = split_call(node.dist)
    if chain is None:
        raise NotReparameterizable(f"its distribution `{node.dist}` is not a constructor call")
    cls = _resolve(chain.func, graph.env)
    if cls in LIFTED_CHAINS:
        if centeredness is not None:
            raise NotReparameterizable("a chain lifted by vectorize is non-centred whole, not partially")
        return _gaussian_chain_rule(node, graph, chain)
    family = _family(cls, chain)
    for method, _, _ in chain.methods:
        if method not in _KEPT_METHODS:
            raise NotReparameterizable(f"its distribution calls `.{method}(...)`, which the rewrite cannot keep")
    bound = _bind(family, chain)
    standard = dict(family.standard)
    if centeredness is None and all(_number(bound[k]) == float(v) for k, v in standard.items()) \
            and family.base is None:
        return None  # already standard: nothing to do
    if centeredness is not None:  # the partially centred form: Family(c * loc, scale ** c)
        c = _paren(centeredness)
        standard = {"loc": f"{c} * {_paren(bound['loc'])}", "scale": f"{_paren(bound['scale'])} ** {c}"}
    jnp_name, env = _jnp_name(graph)
    # the standard variable: standard loc/scale, other parameters kept
    std_args = [standard.get(name, bound[name]) for name, _ in family.params]
    z_func = chain.func
    if family.base is not None:
        z_func, base_env = _name_for(family.base, chain.func, graph)
        env.update(base_env)
        std_args = [standard.get(name, bound[name]) for name, _ in family.params if name in standard or family.base is cls]
    z_dist = f"{z_func}({', '.join(std_args)}"
    validate = chain.kwarg("validate_args")
    z_dist += f", validate_args={validate})" if validate is not None else ")"
    shaped = [bound[name] for name, _ in family.params if _number(bound[name]) is None]
    if shaped:
        shapes = ", ".join(f"{jnp_name}.shape({s})" for s in shaped)
        z_dist += f".expand({jnp_name}.broadcast_shapes({shapes}))"
    z_chain = split_call(z_dist)
    assert z_chain is not None
    z_dist = join_call(z_chain._replace(methods=z_chain.methods + chain.methods))
    z_name = node.name + SUFFIX
    z = ident(z_name)
    loc, scale = bound["loc"], bound["scale"]
    if centeredness is not None:
        c = _paren(centeredness)
        affine = f"{_paren(loc)} + {_paren(scale)} ** (1.0 - {c}) * ({z} - {c} * {_paren(loc)})"
    else:
        term = z if _number(scale) == 1.0 else f"{_paren(scale)} * {z}"
        affine = term if _number(loc) == 0.0 else f"{_paren(loc)} + {term}"
    expr = family.output.format(jnp=jnp_name, affine=affine)
    expr = ast.unparse(parse_expr(expr))
    info = dict(node.info)
    info.update(reparameterized=cls.__name__, decentered=z_name, prior=node.dist)
    return Rewrite(
        [
            RandomVariable(z_name, dist=z_dist, location=node.location, info=(("decentered_of", node.name),)),
            Deterministic(node.name, expr=expr, location=node.location, info=tuple(sorted(info.items()))),
        ],
        env,
    )


def _linear_loc(loc: ast.expr, prev: str) -> tuple[str | None, str | None]:
    """``(a, d)`` of a step loc ``a * prev + d`` (``None`` for ``a = 1`` and for no ``d``), else raise."""
    def reads(tree: ast.expr) -> bool:
        return prev in free_names(ast.unparse(tree))

    def coefficient(tree: ast.expr) -> str | None:
        if isinstance(tree, ast.Name) and tree.id == prev:
            return None
        if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Mult):
            for this, other in ((tree.left, tree.right), (tree.right, tree.left)):
                if isinstance(this, ast.Name) and this.id == prev and not reads(other):
                    return ast.unparse(other)
        raise NotReparameterizable("the loc of its step is not linear in the previous value (a * prev + d)")

    if isinstance(loc, ast.BinOp) and isinstance(loc.op, ast.Add):
        for this, other in ((loc.left, loc.right), (loc.right, loc.left)):
            if reads(this) and not reads(other):
                return coefficient(this), ast.unparse(other)
    if isinstance(loc, ast.BinOp) and isinstance(loc.op, ast.Sub):
        if reads(loc.left) and not reads(loc.right):  # a * prev - d
            return coefficient(loc.left), f"-({ast.unparse(loc.right)})"
        if reads(loc.right) and not reads(loc.left):  # d - a * prev
            a = coefficient(loc.right)
            return ("-1.0" if a is None else f"-({a})"), ast.unparse(loc.left)
    return coefficient(loc), None


def _gaussian_chain(graph: Graph, chain: CallChain
                 ) -> tuple[dict[str, str], str, str | None, str | None, str, str]:
    """``(init's {loc, scale}, step scale, drift, coefficient, length, source naming Normal)`` of a lifted chain.

    The chain ``vectorize`` lifts (``_ppgraph_chain_real(name, init, lambda prev: step, n)``)
    qualifies when ``init`` is ``Normal(m0, s0)`` and ``step`` is ``Normal(a * prev + d, s)``
    (``a`` and ``d`` optional) with ``a``, ``d`` and ``s`` not reading ``prev``: a Gaussian random
    walk (``a = 1``) or an AR(1) chain.
    """
    if chain.methods or len(chain.args) != 4 or chain.kwargs:
        raise NotReparameterizable("its chain is not in the form vectorize writes")
    _, init_src, step_src, length = chain.args
    normal = LOC_SCALE_FAMILIES[pg_dist.Normal]
    init = split_call(init_src)
    if init is None or init.methods or _resolve(init.func, graph.env) is not pg_dist.Normal:
        raise NotReparameterizable("its first value is not a Normal")
    step = parse_expr(step_src)
    if not isinstance(step, ast.Lambda) or len(step.args.args) != 1:
        raise NotReparameterizable("its step is not a one-argument lambda")
    prev = step.args.args[0].arg
    body = split_call(ast.unparse(step.body))
    if body is None or body.methods or _resolve(body.func, graph.env) is not pg_dist.Normal:
        raise NotReparameterizable("its step is not a Normal")
    bound = _bind(normal, body)
    loc, scale = parse_expr(bound["loc"]), bound["scale"]
    if prev in free_names(scale):
        raise NotReparameterizable("the scale of its step reads the previous value")
    coefficient, drift = _linear_loc(loc, prev)
    if coefficient is not None and _number(coefficient) == 1.0:
        coefficient = None
    return _bind(normal, init), scale, drift, coefficient, length, init.func


def linear_recurrence(a: Any, first: Any, increments: Any) -> Any:
    """``x[0] = first``, ``x[i] = a * x[i-1] + increments[i-1]``, in parallel (``jax.lax.associative_scan``).

    The closed form of a non-centred AR(1) chain (:func:`reparameterize`): each
    step is the affine map ``x -> a x + c``, and the scan composes them in
    ``O(log n)`` depth.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> linear_recurrence(0.5, 2.0, jnp.array([1.0, 1.0, 0.0]))
    Array([2., 2., 2., 1.], dtype=float32)
    """
    increments = jnp.asarray(increments)
    dtype = jnp.result_type(first, increments, a, float)
    coefficients = jnp.concatenate([jnp.zeros(1, dtype), jnp.broadcast_to(jnp.asarray(a, dtype), increments.shape)])
    offsets = jnp.concatenate([jnp.reshape(jnp.asarray(first, dtype), (1,)), increments.astype(dtype)])

    def compose(earlier: tuple, later: tuple) -> tuple:
        return later[0] * earlier[0], later[0] * earlier[1] + later[1]

    return jax.lax.associative_scan(compose, (coefficients, offsets))[1]


_RECURRENCE = "_ppgraph_linear_recurrence"


def _gaussian_chain_rule(node: Node, graph: Graph, chain: CallChain) -> Rewrite:
    """The non-centred form of a Gaussian chain lifted by ``vectorize``: its innovations.

    ``x[0] ~ Normal(m0, s0)``, ``x[i] ~ Normal(x[i-1] + d, s)`` becomes::

        x_decentered ~ Normal(0.0, 1.0).expand([n])                 # i.i.d.
        x = m0 + cumsum(concatenate([s0 * z[:1], d + s * z[1:]]))   # Deterministic

    and an AR(1) step ``Normal(a * x[i-1] + d, s)`` the recurrence
    ``x = linear_recurrence(a, m0 + s0 * z[0], d + s * z[1:])``: the closed form
    of the chain.  NUTS then samples independent innovations instead of a chain
    whose posterior correlations span its whole length.
    """
    init, scale, drift, coefficient, length, normal = _gaussian_chain(graph, chain)
    jnp_name, env = _jnp_name(graph)
    z_name = node.name + SUFFIX
    z = ident(z_name)
    step = f"{_paren(scale)} * {z}[1:]" if _number(scale) != 1.0 else f"{z}[1:]"
    if drift is not None:
        step = f"{_paren(drift)} + {step}"

    def first(index: str) -> str:  # s0 * z[index]
        return f"{z}[{index}]" if _number(init["scale"]) == 1.0 else f"{_paren(init['scale'])} * {z}[{index}]"

    if coefficient is not None:  # AR(1): x[i] = a x[i-1] + (d + s z[i])
        if graph.env.get(_RECURRENCE, linear_recurrence) is not linear_recurrence or graph.node_of(_RECURRENCE):
            raise NotReparameterizable(f"the name {_RECURRENCE} is taken")  # pragma: no cover
        start = first("0")
        if _number(init["loc"]) != 0.0:
            start = f"{_paren(init['loc'])} + {start}"
        expr = f"{_RECURRENCE}({coefficient}, {start}, {step})"
        env = {**env, _RECURRENCE: linear_recurrence}
    else:
        expr = (f"{jnp_name}.cumsum({z})" if (first(":1"), step) == (f"{z}[:1]", f"{z}[1:]")
                else f"{jnp_name}.cumsum({jnp_name}.concatenate([{first(':1')}, {step}]))")
        if _number(init["loc"]) != 0.0:
            expr = f"{_paren(init['loc'])} + {expr}"
    info = dict(node.info)  # the members: unstack maps the deterministic's draws to their names
    info.update(reparameterized="MarkovChain", decentered=z_name, prior=node.dist)
    return Rewrite(
        [
            RandomVariable(z_name, dist=f"{normal}(0.0, 1.0).expand([{length}])", location=node.location,
                           info=(("decentered_of", node.name),)),
            Deterministic(node.name, expr=ast.unparse(parse_expr(expr)), location=node.location,
                          info=tuple(sorted(info.items()))),
        ],
        env,
    )


def is_gaussian_chain(graph: Any, name: str) -> bool:
    """Whether ``name`` is a Gaussian random walk or AR(1) chain lifted by ``vectorize`` (which
    :func:`reparameterize` non-centres whole)."""
    source = graph_of(graph)
    node = source.nodes[name]["node"] if name in source.nodes else None
    if not isinstance(node, RandomVariable) or node.observed is not None or node.get_info(_VECTORIZED) is None:
        return False
    chain = split_call(node.dist)
    if chain is None or _resolve(chain.func, source.env) not in LIFTED_CHAINS:
        return False
    try:
        _gaussian_chain(source, chain)
    except NotReparameterizable:
        return False
    return True


REPARAMETERIZERS[RandomVariable] = _loc_scale_rule


def loc_scale_parameters(graph: Any, name: str) -> dict[str, str]:
    """The sources of ``loc`` and ``scale`` of the loc-scale random variable ``name``.

    Raises :class:`NotReparameterizable` when ``name`` is not a random variable
    of a family in :data:`LOC_SCALE_FAMILIES`.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m():
    ...     tau <~ dist.HalfNormal(1.0)
    ...     x <~ dist.Normal(0.0, scale=2.0 * tau).expand([3])
    >>> loc_scale_parameters(m, "x")
    {'loc': '0.0', 'scale': '2.0 * tau'}
    """
    source = graph_of(graph)
    node = source.obj(name)
    if not isinstance(node, RandomVariable):
        raise NotReparameterizable(f"'{name}' is not a random variable")
    chain = split_call(node.dist)
    if chain is None:
        raise NotReparameterizable(f"the distribution of '{name}' is not a constructor call")
    bound = _bind(_family(_resolve(chain.func, source.env), chain), chain)
    return {"loc": bound["loc"], "scale": bound["scale"]}


def _rule_for(node: Node) -> Rule | None:
    for cls in type(node).__mro__:
        if cls in REPARAMETERIZERS:
            return REPARAMETERIZERS[cls]
    return None


def _resolve_names(graph: Graph, names: str | Iterable[str]) -> set[str]:
    if isinstance(names, str):
        names = [names]
    out = set()
    for key in names:
        name = graph.node_of(key) if key not in graph.nodes else key
        if name is None:
            close = _close_names(key, graph.nodes)
            raise ModelError(
                f"cannot reparameterize '{key}': no such node",
                model=graph.name,
                hint=f"did you mean {close}?" if close else f"the nodes are {sorted(graph.nodes)}",
            )
        out.add(name)
    return out


@register_pass("reparameterize")
def reparameterize(graph: Any, names: str | Iterable[str] | None = None) -> Graph:
    """Non-centred rewrite of latent loc-scale random variables (see module docstring).

    Parameters
    ----------
    graph
        A model or graph (not modified).
    names
        Rewrite only these nodes (a name or names); each must be reparameterisable,
        else a :class:`~ppgraph.ModelError` says why.  ``None``: every node a rule
        applies to (others are left alone).

    Returns
    -------
    Graph
        The new graph; running the pass again returns an equal graph.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m():
    ...     mu <~ dist.Normal(0.0, 5.0)
    ...     tau <~ dist.HalfNormal(1.0)
    ...     theta <~ dist.Normal(mu, tau).expand([8])
    ...     return theta
    >>> g = reparameterize(m)
    >>> g.obj("theta_decentered").dist
    'dist.Normal(0.0, 1.0).expand(jnp.broadcast_shapes(jnp.shape(mu), jnp.shape(tau))).expand([8])'
    >>> g.obj("theta").expr
    'mu + tau * theta_decentered'
    >>> g.obj("mu").expr
    '5.0 * mu_decentered'
    """
    source = graph_of(graph)
    selected = None if names is None else _resolve_names(source, names)

    def rewrite(node: Node, g: Graph) -> list[Node] | Rewrite | None:
        if selected is not None and node.name not in selected:
            return None
        if node.get_info("reparameterized") is not None:
            return None  # done before: idempotent
        rule = _rule_for(node)
        if rule is None:
            if selected is None:
                return None
            raise ModelError(
                f"cannot reparameterize '{node.name}': it is {'an' if node.kind[0] in 'aeiou' else 'a'} {node.kind} node",
                node=node.name,
                model=g.name,
                location=node.location,
                hint="reparameterize takes latent random variables of a loc-scale family "
                "(Normal, StudentT, Cauchy, Laplace, LogNormal)"
                + ("; import ppgraph.nn for layers" if node.kind == "layer" else ""),
            )
        try:
            return rule(node, g)
        except NotReparameterizable as err:
            if selected is None:
                return None
            raise ModelError(
                f"cannot reparameterize '{node.name}': {err}",
                node=node.name,
                model=g.name,
                location=node.location,
                hint="leave it out of `names`, or write it with a loc-scale family "
                "(add others to ppgraph.passes.reparam.LOC_SCALE_FAMILIES)",
            ) from None

    return rewrite_nodes(source, rewrite)



def _latent_nodes(graph: Graph) -> set[str]:
    return {n.name for n in graph.objs(RandomVariable) if n.observed is None}


def centeredness_candidates(graph: Any) -> list[str]:
    """The latent loc-scale variables whose parameterisation matters, in graph order.

    A latent random variable of a family in :data:`LOC_SCALE_FAMILIES` whose
    ``loc`` or ``scale`` depends on another latent random variable (the
    hierarchical ones: ``theta ~ Normal(mu, tau)``), that this module can
    rewrite and that no pass has rewritten yet.  For a variable whose
    parameters are constants or data, centring and non-centring differ by a
    fixed affine map that the sampler's mass-matrix adaptation absorbs.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m(sigma):
    ...     mu <~ dist.Normal(0.0, 5.0)
    ...     tau <~ dist.HalfNormal(5.0)
    ...     theta <~ dist.Normal(mu, tau).expand([8])
    ...     y <~ dist.Normal(theta, sigma)
    ...     return y
    >>> centeredness_candidates(pg.passes.observe(m, y=[0.0] * 8))
    ['theta']
    """
    source = graph_of(graph)
    latent = _latent_nodes(source)
    below_latent: set[str] = set()  # nodes with a latent ancestor: one sweep in topological order (linear)
    out = []
    for name in source.order():
        if any(p in latent or p in below_latent for p in source.predecessors(name)):
            below_latent.add(name)
        node = source.nodes[name]["node"]
        if is_gaussian_chain(source, name):
            out.append(name)  # each step's loc is the previous latent value: hierarchical by construction
            continue
        if not isinstance(node, RandomVariable) or node.observed is not None or node.info:
            continue
        if name not in below_latent:
            continue
        try:
            if _loc_scale_rule(node, source) is None:
                continue
        except NotReparameterizable:
            continue
        out.append(name)
    return out


@register_pass("learnable_centeredness")
def learnable_centeredness(graph: Any, names: str | Iterable[str] | None = None) -> Graph:
    """The variationally inferred parameterisation (VIP) of latent loc-scale variables.

    Each named variable ``x ~ Family(loc, scale)`` gets a trainable centredness
    ``c = sigmoid(x_centeredness_logit)`` (a :class:`~ppgraph.ir.Parameter`,
    starting at ``c = 0.5``) and is written in the partially centred form of
    Gorinova, Moore & Hoffman (2020), "Automatic Reparameterisation of
    Probabilistic Programs"::

        x_centeredness = 1 / (1 + exp(-x_centeredness_logit))
        x_decentered ~ Family(c * loc, scale ** c)
        x = loc + scale ** (1 - c) * (x_decentered - c * loc)

    The joint distribution of the model's variables is the same for every
    ``c``; ``c = 1`` is the centred form, ``c = 0`` the non-centred form.
    Maximising the evidence lower bound of a mean-field Gaussian over ``c``
    too (``pg.fit``) finds the parameterisation in which the posterior is
    closest to independent Gaussians, which is the one NUTS with a diagonal
    mass matrix samples best; ``pg.sample(reparam="auto")`` does that.

    Parameters
    ----------
    graph
        A model or graph (not modified).
    names
        The variables (default: :func:`centeredness_candidates`).

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m():
    ...     mu <~ dist.Normal(0.0, 5.0)
    ...     tau <~ dist.HalfNormal(5.0)
    ...     theta <~ dist.Normal(mu, tau).expand([8])
    ...     return theta
    >>> g = learnable_centeredness(m)
    >>> g.obj("theta_decentered").dist
    'dist.Normal(theta_centeredness * mu, tau ** theta_centeredness).expand(jnp.broadcast_shapes(jnp.shape(mu), jnp.shape(tau))).expand([8])'
    >>> g.obj("theta").expr
    'mu + tau ** (1.0 - theta_centeredness) * (theta_decentered - theta_centeredness * mu)'
    """
    source = graph_of(graph)
    selected = set(centeredness_candidates(source)) if names is None else _resolve_names(source, names)

    def rewrite(node: Node, g: Graph) -> Rewrite | None:
        if node.name not in selected or node.get_info("reparameterized") is not None:
            return None  # not named, or done before: idempotent
        if not isinstance(node, RandomVariable):
            raise ModelError(f"cannot learn the centredness of '{node.name}': it is a {node.kind} node",
                             node=node.name, model=g.name, location=node.location,
                             hint="name latent random variables of a loc-scale family")
        c = node.name + CENTEREDNESS
        try:
            out = _loc_scale_rule(node, g, centeredness=c)
        except NotReparameterizable as err:
            raise ModelError(f"cannot learn the centredness of '{node.name}': {err}", node=node.name,
                             model=g.name, location=node.location,
                             hint="leave it out of `names`") from None
        if out is None:  # pragma: no cover - a rewritten node (the rule returns None only then)
            return None
        jnp_name, env = _jnp_name(g)
        logit = c + "_logit"
        extra = [
            Parameter(logit, init="0.0", location=node.location, info=(("centeredness_of", node.name),)),
            Deterministic(c, expr=f"1.0 / (1.0 + {jnp_name}.exp(-{logit}))", location=node.location,
                          info=(("centeredness_of", node.name),)),
        ]
        return Rewrite(extra + out.nodes, {**out.env, **env})

    return rewrite_nodes(source, rewrite)
