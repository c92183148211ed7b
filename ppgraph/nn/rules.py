"""Codegen rules of ``Layer`` nodes (registered when :mod:`ppgraph.nn` is imported).

``sample``
    ``net = <spec>.sample(keys[i], jnp.shape(<input>), name='net')``: one key
    per layer node, split by the layer into one key per weight.
``logpdf``
    ``lp += <spec>.log_prob(net)`` then ``net = <spec>.network(net, ...)`` so
    later expressions call ``net(x)``.

Observed layers (after ``observe`` / ``do``) and layers whose value is given
(``sample_predictive``, ``deterministics``) wrap the bound weights with
``<spec>.network(...)``, checked against the input's shape.

Examples
--------
The generated log density of a one-layer model:

>>> import ppgraph as pg
>>> from ppgraph import dist, nn
>>> g = pg.GraphBuilder("bnn")
>>> x = g.argument("x")
>>> net = g.layer("net", g.call(nn.Dense, 2, g.call(dist.Normal, 0.0, 1.0)))
>>> y = g.deterministic("y", net(x))
>>> print(pg.source(g.build(), "logpdf"))  # doctest: +NORMALIZE_WHITESPACE
def bnn_logpdf(x, *, net):
    \"\"\"Joint log density of bnn.\"\"\"
    lp = 0.0
    lp += nn.Dense(2, dist.Normal(0.0, 1.0)).log_prob(net)
    net = nn.Dense(2, dist.Normal(0.0, 1.0)).network(net, jnp.shape(x), name='net')
    y = net(x)
    return lp
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from ..codegen import rule
from ..codegen.base import Context
from ..errors import ModelError
from ..ir import Layer
from ..ir.expr import ident

__all__ = ["layer_sample", "layer_logpdf"]


def _shape_arg(node: Layer, ctx: Context) -> str:
    return "" if node.input is None else f", {ctx.jnp}.shape({node.input})"


def _wrap(node: Layer, ctx: Context, value: str) -> str:
    return f"{ident(node.name)} = {node.spec}.network({value}{_shape_arg(node, ctx)}, name={node.name!r})"


@rule("sample", Layer)
def layer_sample(node: Layer, ctx: Context) -> list[str]:
    """Draw the layer's weights from their priors (or wrap given / observed weights)."""
    name = ident(node.name)
    if node.name in ctx.given:
        return [_wrap(node, ctx, name)]
    if node.observed is not None:
        return [_wrap(node, ctx, node.observed)]
    # without an input (the layer is never called as `net(x)`), the input shape is None: layers whose weight
    # shapes need it raise the "never applied to an input" error (Layer.shapes); lifted modules do not need it
    shape = "None" if node.input is None else f"{ctx.jnp}.shape({node.input})"
    return [f"{name} = {node.spec}.sample({ctx.key()}, {shape}, name={node.name!r})"]


@rule("logpdf", Layer)
def layer_logpdf(node: Layer, ctx: Context) -> list[str]:
    """Add the prior log density of the weights, then make the value callable."""
    name = ident(node.name)
    stmts = []
    if node.observed is not None and node.name not in ctx.given:
        stmts.append(f"{name} = {node.observed}")
    stmts.append(ctx.add_term(node, f"{node.spec}.log_prob({name})"))
    stmts.append(_wrap(node, ctx, name))
    return stmts


# -- reparameterize: non-centred weight priors ---------------------------------------------------
def _nn_name(graph: Any, pg_nn: ModuleType) -> tuple[str, dict[str, Any]]:
    for name in ("nn", "ppgraph_nn", "_ppgraph_nn"):
        if graph.env.get(name, pg_nn) is pg_nn and graph.node_of(name) is None:
            return name, {name: pg_nn}
    raise ModelError("reparameterize needs a free name for ppgraph.nn", model=graph.name)  # pragma: no cover


def _reparameterize_layer(node: Layer, graph: Any, *, pg_nn: ModuleType) -> Any:
    """``net <~ S`` -> ``net_decentered <~ nn.NonCentered(S)``; ``net = net_decentered.centered()``."""
    from ..ir import Deterministic
    from ..passes.base import Rewrite
    from ..passes.reparam import SUFFIX, NotReparameterizable

    if node.get_info("decentered_of") is not None:
        return None
    if node.observed is not None:
        raise NotReparameterizable("it is observed (only latent layers are reparameterised)")
    nn_name, env = _nn_name(graph, pg_nn)
    z_name = node.name + SUFFIX
    info = dict(node.info)
    # ("layer_spec", not "prior": observe/do restore random variables from a "prior" entry)
    info.update(reparameterized="NonCentered", decentered=z_name, layer_spec=node.spec)
    return Rewrite(
        [
            Layer(z_name, spec=f"{nn_name}.NonCentered({node.spec})", input=node.input,
                  location=node.location, info=(("decentered_of", node.name),)),
            Deterministic(node.name, expr=f"{ident(z_name)}.centered()", location=node.location,
                          info=tuple(sorted(info.items()))),
        ],
        env,
    )


def register_reparameterizer(pg_nn: ModuleType) -> None:
    """Register the non-centring of layers with ``reparameterize``.

    ``pg_nn`` is the :mod:`ppgraph.nn` package (which calls this when imported):
    rewritten specs refer to ``nn.NonCentered`` through it.
    """
    from ..passes.reparam import register_reparameterizer as register

    register(Layer)(functools.partial(_reparameterize_layer, pg_nn=pg_nn))
