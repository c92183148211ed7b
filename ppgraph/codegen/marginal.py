"""Code generation for :class:`~ppgraph.ir.marginal.Marginalized` nodes.

A marginalised group of discrete latents becomes one nested function in the
generated ``logpdf``, named after the group, whose ``site(name, dist)`` calls
mark the discrete variables; the runtime :mod:`ppgraph.enumeration` (bound to
``marginal`` in the graph's environment by the pass) enumerates them and they
are summed out exactly::

    def z_enumerated(site):
        z = site('z', dist.Categorical(w).expand([n]))
        mu = locs[z]
        y = y_observed
        return {'y': dist.Normal(mu, s).log_prob(y)}
    z_logp = marginal.log_joint(z_enumerated)
    lp += jnp.sum(jax.scipy.special.logsumexp(z_logp, axis=0))

(:func:`ppgraph.enumeration.log_joint`: the block's log density at every value of
``z``, axis 0; groups of several variables and Markov chains call
:func:`ppgraph.enumeration.sum_out` instead).  The ``recover`` target calls :func:`ppgraph.enumeration.draw` on the same
nested functions: one exact draw of the discrete values given the others.
"""

from __future__ import annotations

from typing import Any

from ..ir import Argument, Deterministic, Factor, RandomVariable
from ..ir.expr import ident
from ..ir.marginal import Marginalized
from .base import Context, Target, register_target, rule
from .targets import _deterministic

__all__ = ["RECOVER", "block_function"]


# -- codegen ----------------------------------------------------------------------------------------
def block_function(node: Marginalized, ctx: Context) -> tuple[str, list[str]]:
    """Name and source lines of the nested function of a marginalised block."""
    fn = f"{ident(node.name)}_enumerated"
    shown = ", ".join(f"'{n}'" for n in node.latents)
    lines = [f"def {fn}(site):",
             f'    """Terms of the discrete {shown} and the nodes depending on them (summed out)."""']
    terms = []
    for inner in node.block:
        name = ident(inner.name)
        if isinstance(inner, RandomVariable) and inner.name in node.latents:
            lines.append(f"    {name} = site({inner.name!r}, {inner.dist})")
        elif isinstance(inner, RandomVariable):
            lines.append(f"    {name} = {inner.observed}")
            terms.append(f"{inner.name!r}: {inner.dist}.log_prob({name})")
        elif isinstance(inner, Deterministic):
            lines.append(f"    {name} = {inner.expr}")
        elif isinstance(inner, Factor):
            terms.append(f"{inner.name!r}: {ctx.jnp}.asarray({inner.expr})")
    lines.append(f"    return {{{', '.join(terms)}}}")
    return fn, lines


def runtime_name(node: Marginalized) -> str:
    """The environment name the pass bound this module to."""
    return node.get_info("runtime", "marginal")


@rule("logpdf", Marginalized)
def _marginalized_logpdf(node: Marginalized, ctx: Context) -> list[str]:
    fn, lines = block_function(node, ctx)
    if node.get_info("enumeration") == "single":  # the logsumexp over the variable's values, in sight
        joint = f"{ident(node.name)}_logp"
        return ["\n".join(lines), f"{joint} = {runtime_name(node)}.log_joint({fn})",
                ctx.add_term(node, f"{ctx.jnp}.sum({ctx.jax}.scipy.special.logsumexp({joint}, axis=0))")]
    return ["\n".join(lines), ctx.add_term(node, f"{runtime_name(node)}.sum_out({fn})")]


@rule("sample", Marginalized)
def _marginalized_sample(node: Marginalized, ctx: Context) -> list[str]:
    # The block's values are not functions of the other nodes: ppgraph.inference.discrete
    # recovers them from the original model; forward sampling uses the original model too.
    return [f"{ident(node.name)} = None"]


def _recover_epilogue(ctx: Context, outputs: list[str]) -> list[str]:
    return [f"return {ctx.names['terms']}"]


RECOVER = register_target(
    Target(
        name="recover",
        doc="Draw the summed-out discrete variables of {model} from their conditional distribution.",
        takes_key=True,
        prologue=lambda ctx: [f"{ctx.names['terms']} = {{}}"],
        epilogue=_recover_epilogue,
        outputs=lambda ctx: [],
    )
)


@rule("recover", Argument)
@rule("recover", Factor)
def _nothing(node: Any, ctx: Context) -> list[str]:
    return []


@rule("recover", RandomVariable)
def _random_recover(node: RandomVariable, ctx: Context) -> list[str]:
    if node.observed is not None and node.name not in ctx.given:
        return [f"{ident(node.name)} = {node.observed}"]
    return []


rule("recover", Deterministic)(_deterministic)


@rule("recover", Marginalized)
def _marginalized_recover(node: Marginalized, ctx: Context) -> list[str]:
    fn, lines = block_function(node, ctx)
    return ["\n".join(lines), f"{ctx.names['terms']}.update({runtime_name(node)}.draw({fn}, {ctx.key()}))"]


