"""The built-in codegen targets and the rules of the core node kinds.

``sample``
    ``f(rng_key, *arguments, *, given...) -> {node: value}``: draws every random
    variable not given (one fresh key each) and computes every deterministic.
``logpdf``
    ``f(*arguments, *, values...) -> scalar``: the joint log density, one line
    per term (``terms=True``: a dict of per-node terms).

Layer nodes get their rules from :mod:`ppgraph.nn`.
"""

from __future__ import annotations

from ..ir import Argument, Deterministic, Factor, Layer, Node, Parameter, RandomVariable
from ..ir.expr import ident
from .base import Context, Target, register_target, rule

__all__ = ["SAMPLE", "LOGPDF"]


def _sample_outputs(ctx: Context) -> list[str]:
    # A given layer is returned too: its rule turns the given weights into a callable network.
    return [
        name
        for name, node in ((n, ctx.graph.nodes[n]["node"]) for n in ctx.graph.order())
        if not isinstance(node, (Argument, Factor)) and (name not in ctx.given or isinstance(node, Layer))
    ]


def _dict_return(ctx: Context, outputs: list[str]) -> list[str]:
    items = ", ".join(f"{name!r}: {ident(name)}" for name in outputs)
    return [f"return {{{items}}}"]


SAMPLE = register_target(
    Target(
        name="sample",
        doc="Draw one joint sample of {model}: every node not given, one fresh key per random draw.",
        takes_key=True,
        prologue=lambda ctx: [],
        epilogue=_dict_return,
        outputs=_sample_outputs,
    )
)

LOGPDF = register_target(
    Target(
        name="logpdf",
        doc="Joint log density of {model}.",
        takes_key=False,
        prologue=lambda ctx: [f"{ctx.names['terms']} = {{}}" if ctx.terms else f"{ctx.lp} = 0.0"],
        epilogue=lambda ctx, outputs: [f"return {ctx.names['terms'] if ctx.terms else ctx.lp}"],
        outputs=lambda ctx: [],
    )
)


# -- Argument: a parameter of the generated function ----------------------------------------
@rule("sample", Argument)
@rule("logpdf", Argument)
def _argument(node: Node, ctx: Context) -> list[str]:
    return []


# -- RandomVariable ----------------------------------------------------------------------------
@rule("sample", RandomVariable)
def _random_sample(node: RandomVariable, ctx: Context) -> list[str]:
    if node.name in ctx.given:
        return []
    if node.observed is not None:
        return [f"{ident(node.name)} = {node.observed}"]
    return [f"{ident(node.name)} = {node.dist}.sample({ctx.key()})"]


@rule("logpdf", RandomVariable)
def _random_logpdf(node: RandomVariable, ctx: Context) -> list[str]:
    name = ident(node.name)
    stmts = []
    if node.observed is not None and node.name not in ctx.given:
        stmts.append(f"{name} = {node.observed}")
    stmts.append(ctx.add_term(node, f"{ctx.jnp}.sum({node.dist}.log_prob({name}))"))
    return stmts


# -- Deterministic -------------------------------------------------------------------------------
@rule("sample", Deterministic)
@rule("logpdf", Deterministic)
def _deterministic(node: Deterministic, ctx: Context) -> list[str]:
    if node.name in ctx.given:
        return []
    return [f"{ident(node.name)} = {node.expr}"]


# -- Factor ----------------------------------------------------------------------------------------
@rule("sample", Factor)
def _factor_sample(node: Factor, ctx: Context) -> list[str]:
    return []


@rule("logpdf", Factor)
def _factor_logpdf(node: Factor, ctx: Context) -> list[str]:
    return [ctx.add_term(node, f"{ctx.jnp}.sum({node.expr})")]


# -- Parameter: an input of logpdf; its initial value when sampling ---------------------------------
# A trainable layer (info "trainable_layer", made by ppgraph.passes.bnn_to_trainable) has a value
# that is a weights pytree; its `init` evaluates to a TrainableLayer, which gives initial weights
# (`.init(key)`) and binds weights into a callable network (`.network(weights)`) for later nodes.
def _bind_network(node: Parameter, value: str) -> str:
    return f"{ident(node.name)} = {node.init}.network({value}, name={node.name!r})"


@rule("sample", Parameter)
def _parameter_sample(node: Parameter, ctx: Context) -> list[str]:
    if node.get_info("trainable_layer") is not None:
        given = node.name in ctx.given
        value = ident(node.name) if given else f"{node.init}.init({ctx.key()}, name={node.name!r})"
        return [_bind_network(node, value)]
    if node.name in ctx.given:
        return []
    return [f"{ident(node.name)} = {node.init}"]


@rule("logpdf", Parameter)
def _parameter_logpdf(node: Parameter, ctx: Context) -> list[str]:
    stmts = []
    if node.prior is not None:
        stmts.append(ctx.add_term(node, f"{ctx.jnp}.sum({node.prior}.log_prob({ident(node.name)}))"))
    if node.get_info("trainable_layer") is not None:
        stmts.append(_bind_network(node, ident(node.name)))
    return stmts
