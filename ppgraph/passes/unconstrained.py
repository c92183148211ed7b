"""``to_unconstrained``: move constrained continuous random variables to R^n.

Each latent continuous random variable ``x ~ D`` whose support is not the real
line becomes two nodes::

    x_unconstrained ~ Unconstrained(D)       # density of D pushed to R^n, log|J| included
    x = Unconstrained(D).constrain(x_unconstrained)

``Unconstrained`` (:class:`ppgraph.dist.Unconstrained`) uses the bijector
``numpyro.distributions.transforms.biject_to(D.support)``, so every support
NumPyro knows works: positive, unit interval, intervals (with bounds that
depend on other variables), simplex, ordered and positive-ordered vectors,
Cholesky factors of correlation matrices, ...  Real-valued, discrete and
observed variables are left alone.  The log density of the result is a density
on R^n; codegen's ``logpdf_unconstrained`` target is ``logpdf`` of this graph,
and its ``deterministics`` target maps unconstrained values back.
"""

from __future__ import annotations

from typing import Any

from .. import dist as pg_dist
from ..ir import Deterministic, Graph, Node, RandomVariable
from ..supports import support_of
from .base import register_pass, rewrite_nodes

__all__ = ["to_unconstrained", "support_of", "SUFFIX"]

SUFFIX = "_unconstrained"


def _is_real(support: Any) -> bool:
    c = pg_dist.constraints
    while isinstance(support, c.independent):
        support = support.base_constraint
    return support is c.real or support is c.real_vector or support is c.real_matrix


def needs_transform(node: Node, graph: Graph) -> bool:
    """Whether ``to_unconstrained`` rewrites ``node``."""
    if not isinstance(node, RandomVariable) or node.observed is not None:
        return False
    if node.get_info("unconstrained_of") is not None:
        return False
    support = support_of(node, graph)
    if support is None:
        return True  # unknown until run: Unconstrained checks it then
    if getattr(support, "is_discrete", False):
        return False
    return not _is_real(support)


def _names(graph: Graph) -> tuple[str, dict[str, Any]]:
    for name in ("Unconstrained", "pg_Unconstrained", "ppgraph_Unconstrained"):
        if graph.env.get(name, pg_dist.Unconstrained) is pg_dist.Unconstrained and name not in graph.nodes:
            return name, {name: pg_dist.Unconstrained}
    raise AssertionError("no free name for Unconstrained")  # pragma: no cover


@register_pass("to_unconstrained")
def to_unconstrained(graph: Any) -> Graph:
    """Rewrite constrained latent random variables into unconstrained twins (see module docstring).

    Parameters
    ----------
    graph
        A model or graph (not modified).

    Returns
    -------
    Graph
        The new graph.  Running the pass again returns an equal graph.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> @pg.model
    ... def m():
    ...     tau <~ dist.HalfNormal(1.0)
    ...     return tau
    >>> g = to_unconstrained(m)
    >>> g.obj("tau_unconstrained").dist
    'Unconstrained(dist.HalfNormal(1.0))'
    >>> g.obj("tau").expr
    'Unconstrained(dist.HalfNormal(1.0)).constrain(tau_unconstrained)'
    """
    from ..model import as_graph

    source = as_graph(graph)
    fn_name, env = _names(source)

    def rewrite(node: Node, g: Graph) -> list[Node] | None:
        if not needs_transform(node, g):
            return None
        assert isinstance(node, RandomVariable)
        twin = node.name + SUFFIX
        wrapped = f"{fn_name}({node.dist})"
        from ..ir.expr import ident

        return [
            RandomVariable(twin, dist=wrapped, location=node.location, info=(("unconstrained_of", node.name),)),
            Deterministic(
                node.name,
                expr=f"{wrapped}.constrain({ident(twin)})",
                location=node.location,
                info=tuple(sorted({**dict(node.info), "constrained_from": twin, "prior": node.dist}.items())),
            ),
        ]

    return rewrite_nodes(source, rewrite, env=env)
