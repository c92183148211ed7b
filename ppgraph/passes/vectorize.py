"""``vectorize``: merge repeated random variables into batched nodes and lift Markov chains.

Graphs built node by node (``GraphBuilder`` loops, generated models) often hold
thousands of scalar random variables of the same form.  XLA compiles a function
of 10,000 separate scalars very slowly; the same model written with arrays
compiles in a second.  This pass rewrites the graph into the array form:

*Siblings*: latent random variables with the same distribution expression up
to the nodes it reads, whose parents are the same nodes (or are themselves
merged, member by member), become one node::

    x0 ~ Normal(mu, 1.0), ..., x9 ~ Normal(mu, 1.0)      ->  x0_to_x9 ~ Normal(mu, 1.0) x 10
    y0 ~ Normal(x0, 1.0), ..., y9 ~ Normal(x9, 1.0)      ->  y0_to_y9 ~ Normal(x0_to_x9, 1.0)

*Chains*: a first-order chain ``x0 ~ D0``, ``x_i ~ D(x_{i-1})`` (the same
expression ``D`` for every step, its other parents shared) becomes one node
with a :class:`MarkovChain` distribution: its log density is computed for all
steps at once (``D(x[:-1]).log_prob(x[1:])``: the values are known, so no
scan is needed); its draws use ``jax.lax.scan``.

Children of merged nodes read them by index (``x0_to_x9[3]`` for ``x3``).  Each
merged node records its members in ``info``: ``("vectorized_of", "x0,x1,...")``
(:func:`members`); :func:`unstack` maps draws of the merged nodes back to the
members' names, on the host.

Only what is provably the same model is merged: observed variables, returned
nodes, nodes another pass wrote (any ``info``), discrete variables and nodes
read by node kinds the pass cannot rewrite are left alone.  Whether the
members are scalars is known only when the model runs: a merged node whose
members are not scalars (or a chain whose support changes with the state)
raises :class:`NotVectorizable` when evaluated, and ``pg.sample`` then runs the
graph as written.  The pass is linear in the number of nodes (signatures are
hashed, never compared pairwise), pure and idempotent.

Examples
--------
>>> import ppgraph as pg
>>> from ppgraph import dist
>>> g = pg.GraphBuilder("iid")
>>> mu = g.random("mu", dist.Normal, 0.0, 1.0)
>>> xs = [g.random(f"x{i}", dist.Normal, mu, 1.0) for i in range(5)]
>>> v = vectorize(g.build().graph)
>>> sorted(v.nodes)
['mu', 'x0_to_x4']
>>> members(v)
{'x0_to_x4': ('x0', 'x1', 'x2', 'x3', 'x4')}
>>> c = pg.GraphBuilder("walk")
>>> prev = c.random("z0", dist.Normal, 0.0, 1.0)
>>> for i in range(1, 6):
...     prev = c.random(f"z{i}", dist.Normal, prev, 1.0)
>>> sorted(vectorize(c.build().graph).nodes)
['z0_to_z5']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from .. import dist as pg_dist
from ..cache import ProgramCache
from ..errors import ModelError
from ..ir import Argument, Deterministic, Factor, Graph, Layer, Node, Parameter, RandomVariable, validate
from ..ir.expr import free_names, ident, rename, split_call
from ..supports import support_of
from .base import graph_of, register_pass

__all__ = [
    "vectorize",
    "members",
    "unstack",
    "user_names",
    "MarkovChain",
    "NotVectorizable",
    "INFO_KEY",
    "LIFTED_CHAINS",
]

INFO_KEY = "vectorized_of"
_STACK = "_ppgraph_stack"
_CHAIN = "_ppgraph_chain"
_REAL = "_real"  # suffix of the helpers for real-valued members
_SLOT = "_vz"
_PREV = "_vz_prev"
# node kinds whose expressions this pass can rewrite (slot name == field name)
_REWRITABLE = (RandomVariable, Deterministic, Factor, Layer, Parameter, Argument)


class NotVectorizable(ModelError):
    """A merged node whose members turn out not to be scalars (raised when the model runs)."""


def _refuse(name: str, why: str) -> NotVectorizable:
    return NotVectorizable(
        f"the vectorised node '{name}' cannot batch its members: {why}",
        node=name,
        hint="run without the vectorize pass (pg.sample(..., vectorize=False))",
    )


def _is_scalar(value: Any) -> bool:
    try:
        return jnp.shape(value) == ()
    except Exception:  # noqa: BLE001 - not an array: cannot be batched
        return False


def stack(name: str, n: int, make: Callable[..., Any], per_member: tuple[bool, ...], *args: Any) -> Any:
    """The distribution of ``n`` members ``make(*args_k)``: per-member arguments are stacked arrays.

    Without per-member arguments the members are i.i.d. and may have any shape
    (``make(*args).expand((n, *batch_shape))``); with them, members must be
    scalar distributions with scalar shared arguments.
    """
    member = make(*[a[0] if p else a for a, p in zip(args, per_member)])
    if not any(per_member):
        return member.expand((n, *member.batch_shape))
    if member.batch_shape != () or member.event_shape != ():
        raise _refuse(name, f"a member has batch shape {member.batch_shape} and event shape {member.event_shape}")
    if not all(_is_scalar(a) for a, p in zip(args, per_member) if not p):
        raise _refuse(name, "a shared parameter is not a scalar")
    if any(jnp.shape(a)[:1] != (n,) for a, p in zip(args, per_member) if p):
        raise _refuse(name, "a per-member parameter is not a scalar")
    return make(*args).expand((n,))


class MarkovChain(pg_dist.Distribution):
    """``x[0] ~ init``, ``x[i] ~ step(x[i-1])``: a first-order chain of scalars as one vector.

    ``log_prob`` evaluates all steps at once (the values are given); ``sample``
    runs ``jax.lax.scan``.  The support is that of ``init`` when every step has
    the same fixed support.

    Examples
    --------
    >>> from ppgraph import dist
    >>> walk = MarkovChain(dist.Normal(0.0, 1.0), lambda prev: dist.Normal(prev, 1.0), 4)
    >>> walk.event_shape
    (4,)
    >>> x = jnp.array([0.1, 0.3, -0.2, 0.0])
    >>> bool(jnp.isclose(walk.log_prob(x), dist.Normal(0.0, 1.0).log_prob(x[0])
    ...      + dist.Normal(x[:-1], 1.0).log_prob(x[1:]).sum()))
    True
    >>> walk.sample(jax.random.key(0)).shape
    (4,)
    """

    arg_constraints: dict = {}
    pytree_aux_fields = ("init", "step", "length", "name")

    def __init__(self, init: Any, step: Callable[[Any], Any], length: int, *, name: str = "chain",
                 validate_args: Any = None) -> None:
        self.init, self.step, self.length, self.name = init, step, int(length), name
        if init.batch_shape != () or init.event_shape != ():
            raise _refuse(name, f"its first value has shape {init.batch_shape + init.event_shape}, not a scalar")
        probe = step(jnp.zeros((), dtype=jnp.result_type(float)))
        if probe.batch_shape != () or probe.event_shape != ():
            raise _refuse(name, f"a step has shape {probe.batch_shape + probe.event_shape}, not a scalar")
        support = init.support
        if probe.support is not support or isinstance(support, pg_dist.constraints._Dependent):
            raise _refuse(name, "the support of a step differs from that of the first value")
        self._support = support
        super().__init__(batch_shape=(), event_shape=(self.length,), validate_args=validate_args)

    @property
    def support(self) -> Any:  # type: ignore[override]
        return pg_dist.constraints.independent(self._support, 1)

    def log_prob(self, value: Any) -> Any:
        head = self.init.log_prob(value[..., 0])
        if self.length == 1:
            return head
        return head + jnp.sum(self.step(value[..., :-1]).log_prob(value[..., 1:]), axis=-1)

    def sample(self, key: Any, sample_shape: tuple[int, ...] = ()) -> Any:
        k0, k1 = jax.random.split(key)
        x0 = self.init.sample(k0, sample_shape)
        if self.length == 1:
            return x0[..., None]

        def body(prev: Any, k: Any) -> tuple[Any, Any]:
            x = self.step(prev).sample(k)
            return x, x

        _, xs = jax.lax.scan(body, x0, jax.random.split(k1, self.length - 1))
        return jnp.concatenate([x0[..., None], jnp.moveaxis(xs, 0, -1)], axis=-1)


def _chain(name: str, init: Any, step: Callable[[Any], Any], length: int) -> MarkovChain:
    return MarkovChain(init, step, length, name=name)


def _real(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` for members known to be real-valued: ``support_of`` reads ``.support`` (no unconstraining)."""

    def real(name: str, *args: Any) -> Any:
        d = fn(name, *args)
        support = d.support
        while isinstance(support, pg_dist.constraints.independent):
            support = support.base_constraint
        if support is not pg_dist.constraints.real:
            raise _refuse(name, f"its members are not real-valued ({type(support).__name__})")
        return d

    real.support = pg_dist.constraints.real  # type: ignore[attr-defined]
    real.__name__ = real.__qualname__ = f"{fn.__name__}_real"
    return real


_stack_real, _chain_real = _real(stack), _real(_chain)
LIFTED_CHAINS = (_chain, _chain_real)
"""The callables a lifted chain node's distribution calls (``_ppgraph_chain``, ``_ppgraph_chain_real``)."""


# -- the pass -------------------------------------------------------------------------------------


def members(graph: Any) -> dict[str, tuple[str, ...]]:
    """Merged node -> the names of its members, in order (from ``info``).

    Follows ``to_unconstrained`` twins: the key is the name of the merged node
    as the model's variables are (``x0_to_x9``, not ``x0_to_x9_unconstrained``).
    """
    graph = graph_of(graph)
    out: dict[str, tuple[str, ...]] = {}
    for name, node in graph.nodes(data="node"):
        value = node.get_info(INFO_KEY)
        if value:
            out[node.get_info("unconstrained_of") or name] = tuple(value.split(","))
    return out


def user_names(graph: Any, names: Any) -> tuple[str, ...]:
    """``names`` with members of merged nodes replaced by their merged node (each once, in order)."""
    owner = {m: merged for merged, ms in members(graph).items() for m in ms}
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(owner.get(name, name), None)
    return tuple(seen)


def unstack(graph: Any, samples: Mapping[str, Any], axis: int = 2) -> dict[str, Any]:
    """Draws of merged nodes split into their members' names (on the host, as NumPy arrays).

    ``axis`` is the members' axis in the merged node's draws (2 for
    ``(chains, draws, members, ...)``).  Other entries are kept as they are.
    """
    groups = members(graph)
    if not any(k in groups for k in samples):
        return dict(samples)
    out: dict[str, Any] = {}
    for key, value in samples.items():
        if key not in groups:
            out[key] = value
            continue
        array = np.asarray(value)
        for i, member in enumerate(groups[key]):
            out[member] = np.take(array, i, axis=axis)
    return out


def _name_for(first: str, last: str, taken: Any) -> str:
    base = f"{first}_to_{last}"
    name, i = base, 1
    while name in taken or ident(name) in taken:
        name, i = f"{base}_{i}", i + 1
    return name


class _Plan:
    """What the pass merges: members per merged node and how children index them."""

    def __init__(self, graph: Graph, min_group: int, min_chain: int) -> None:
        self.graph = graph
        self.min_group, self.min_chain = min_group, min_chain
        self.order = graph.order()
        returns = set(graph.returns())
        self.candidate: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (template, parent names)
        for name in self.order:
            node = graph.nodes[name]["node"]
            if (type(node) is not RandomVariable or node.observed is not None or node.info or name in returns
                    or split_call(node.dist) is None):
                continue
            support = support_of(node, graph)
            if getattr(support, "is_discrete", False):
                continue
            if not all(isinstance(graph.nodes[c]["node"], _REWRITABLE) for c in graph.successors(name)):
                continue
            refs = [r for r in free_names(node.dist) if graph.node_of(r) is not None]
            if any(r.startswith(_SLOT) for r in free_names(node.dist)):
                continue
            template = rename(node.dist, {r: f"{_SLOT}{j}" for j, r in enumerate(refs)})
            self.candidate[name] = (template, tuple(graph.node_of(r) for r in refs))

    def siblings(self) -> list[list[str]]:
        """Groups of candidates with the same template whose parents are shared or merged member by member.

        Candidates are first bucketed by (template, bucket of each parent), in
        topological order; a bucket is then split by what each parent turned
        into (an unmerged node, or a merged group), parents' buckets first.
        """
        ids: dict[Any, int] = {}
        bucket_of: dict[str, int] = {}
        buckets: dict[int, list[str]] = {}
        for name in self.order:
            if name not in self.candidate:
                continue
            template, parents = self.candidate[name]
            key = (template, tuple(("g", bucket_of[p]) if p in bucket_of else ("n", p) for p in parents))
            bucket = ids.setdefault(key, len(ids))
            bucket_of[name] = bucket
            buckets.setdefault(bucket, []).append(name)
        owner: dict[str, int] = {}  # member -> index of its group in `groups`
        groups: list[list[str]] = []
        for bucket in sorted(buckets):  # a bucket's parents are in earlier buckets
            members_ = buckets[bucket]
            if len(members_) < self.min_group:
                continue
            parts: dict[tuple, list[str]] = {}
            for m in members_:
                key = tuple(("u", owner[p]) if p in owner else ("n", p) for p in self.candidate[m][1])
                parts.setdefault(key, []).append(m)
            for part in parts.values():
                if len(part) >= self.min_group:
                    for m in part:
                        owner[m] = len(groups)
                    groups.append(part)
        return groups

    def chains(self, taken: set[str]) -> list[list[str]]:
        """Maximal first-order chains among candidates not merged as siblings."""
        chain_of: dict[str, int] = {}
        chains: list[list[str]] = []
        keys: list[Any] = []
        for name in self.order:
            if name not in self.candidate or name in taken:
                continue
            template, parents = self.candidate[name]
            for j, p in enumerate(parents):
                if p not in self.candidate or p in taken or parents.count(p) != 1:
                    continue
                key = (template, j, parents[:j] + parents[j + 1:])
                if p in chain_of and chains[chain_of[p]] == [chains[chain_of[p]][0], p] and keys[chain_of[p]] != key:
                    # p ends a two-node chain of another form: it starts this one instead
                    cid = chain_of.pop(p)
                    chains[cid].pop()
                    keys[cid] = None
                if p in chain_of:
                    cid = chain_of[p]
                    if chains[cid][-1] != p or keys[cid] not in (None, key):
                        continue
                    keys[cid] = key
                    chains[cid].append(name)
                else:
                    cid = len(chains)
                    chains.append([p, name])
                    keys.append(key)
                    chain_of[p] = cid
                chain_of[name] = cid
                break
        return [c for c in chains if len(c) >= self.min_chain]


def _rewrite_refs(node: Node, mapping: dict[str, str]) -> Node:
    changes = {}
    for slot, source in node.expressions().items():
        new = rename(source, mapping)
        if new != source:
            changes[slot] = new
    return node.replace(**changes) if changes else node


def _build(graph: Graph, plan: _Plan, groups: list[list[str]], chains: list[list[str]]) -> Graph | None:
    """The rewritten graph, or ``None`` when merging would create a cycle."""
    if not groups and not chains:
        return None
    taken = set(graph.nodes)
    position: dict[str, tuple[str, int]] = {}  # member -> (merged name, index)
    merged_nodes: dict[str, Node] = {}  # first member -> merged node (placed there)
    removed: set[str] = set()
    env: dict[str, Any] = {}
    for group in groups:
        name = _name_for(group[0], group[-1], taken)
        taken.add(name)
        for i, m in enumerate(group):
            position[m] = (name, i)
    for chain in chains:
        name = _name_for(chain[0], chain[-1], taken)
        taken.add(name)
        for i, m in enumerate(chain):
            position[m] = (name, i)
    for group in groups:
        name = position[group[0]][0]
        template, parents = plan.candidate[group[0]]
        args, flags = [], []
        for j, p in enumerate(parents):
            ps = [plan.candidate[m][1][j] for m in group]
            if all(q == p for q in ps):  # the same node for every member (merged or not)
                args.append(ident(p) if p not in position else f"{ident(position[p][0])}[{position[p][1]}]")
                flags.append(False)
                continue
            owner = position[p][0]
            idx = [position[q][1] for q in ps]
            if idx == list(range(len(idx))) and len([m for m in position if position[m][0] == owner]) == len(idx):
                args.append(ident(owner))
            else:
                index_name = f"_ppgraph_index_{ident(name)}_{j}"
                env[index_name] = np.asarray(idx, dtype=np.int32)
                args.append(f"{ident(owner)}[{index_name}]")
            flags.append(True)
        slots = ", ".join(f"{_SLOT}{j}" for j in range(len(parents)))
        make = f"lambda {slots}: {template}" if parents else f"lambda: {template}"
        flag_src = "(" + "".join(f"{f}, " for f in flags) + ")"
        helper = _STACK + (_REAL if _real_support(graph.nodes[group[0]]["node"], graph) else "")
        source = f"{helper}({name!r}, {len(group)}, {make}, {flag_src}{''.join(', ' + a for a in args)})"
        if not any(flags):  # i.i.d. members of any shape: the member's own distribution, batched
            source = f"{graph.nodes[group[0]]['node'].dist}.expand_by([{len(group)}])"
        merged_nodes[group[0]] = RandomVariable(name, dist=source, location=graph.nodes[group[0]]["node"].location,
                                                info=((INFO_KEY, ",".join(group)),))
        removed.update(group)
    for chain in chains:
        name = position[chain[0]][0]
        head = graph.nodes[chain[0]]["node"]
        template, parents = plan.candidate[chain[1]]
        prev = chain[0]
        j = plan.candidate[chain[1]][1].index(prev)
        mapping = {f"{_SLOT}{k}": (_PREV if k == j else ident(p)) for k, p in enumerate(parents)}
        step = rename(template, mapping)
        real = _real_support(head, graph) and _real_support(graph.nodes[chain[1]]["node"], graph)
        source = f"{_CHAIN}{_REAL if real else ''}({name!r}, {head.dist}, lambda {_PREV}: {step}, {len(chain)})"
        merged_nodes[chain[0]] = RandomVariable(name, dist=source, location=head.location,
                                                info=((INFO_KEY, ",".join(chain)),))
        removed.update(chain)
    env[_STACK], env[_CHAIN], env[_STACK + _REAL], env[_CHAIN + _REAL] = stack, _chain, _stack_real, _chain_real
    new = Graph(**{k: v for k, v in graph.graph.items() if k != "env"}, env=dict(graph.env))
    for key, value in env.items():
        if key in new.env and new.env[key] is not value and not isinstance(value, np.ndarray):
            raise ModelError(f"vectorize needs the name '{key}', which the model uses for something else",
                             model=graph.name)
        new.env[key] = value
    for name in graph.nodes:
        node = graph.nodes[name]["node"]
        if name in merged_nodes:
            node = merged_nodes[name]
            new.add_node(node.name, node=_rewrite_refs(node, _index_map(node, graph, position)))
        elif name not in removed:
            new.add_node(name, node=_rewrite_refs(node, _index_map(node, graph, position)))
    new.link()
    if not nx.is_directed_acyclic_graph(new):
        return None
    return validate(new)


def _real_support(node: Node, graph: Graph) -> bool:
    """Whether the node's distribution is known, without running it, to be real-valued."""
    support = support_of(node, graph)
    return support is pg_dist.constraints.real


def _index_map(node: Node, graph: Graph, position: dict[str, tuple[str, int]]) -> dict[str, str]:
    out = {}
    for ref in node.references():
        target = graph.node_of(ref)
        if target in position:
            owner, i = position[target]
            out[ref] = f"{ident(owner)}[{i}]"
    return out


@register_pass("vectorize")
def vectorize(graph: Any, *, min_group: int = 4, min_chain: int = 4) -> Graph:
    """Merge repeated latent random variables into batched nodes; lift first-order chains.

    Parameters
    ----------
    graph
        A model or graph (not modified).
    min_group
        Merge sibling groups of at least this many members.
    min_chain
        Lift chains of at least this many nodes (the first included).

    Returns
    -------
    Graph
        The new graph (a copy when nothing is merged); running the pass again
        returns an equal graph.  :func:`members` lists what was merged,
        :func:`unstack` maps draws back to the members' names.

    Examples
    --------
    >>> import ppgraph as pg
    >>> from ppgraph import dist
    >>> g = pg.GraphBuilder("m")
    >>> mu = g.random("mu", dist.Normal, 0.0, 1.0)
    >>> xs = [g.random(f"x{i}", dist.Normal, mu, 1.0) for i in range(3)]
    >>> v = vectorize(g.build().graph, min_group=2)
    >>> v.obj("x0_to_x2").dist
    'dist.Normal(mu, 1.0).expand_by([3])'
    """
    source = graph_of(graph)
    key = _content_key(source, min_group, min_chain)
    if key is None:
        return _vectorize(source, min_group, min_chain)
    # the same graph again (pg.sample's reparam candidates, then its problem): each caller gets a copy
    _, out = _RESULTS.get(key, lambda: (dict(source.env), _vectorize(source, min_group, min_chain)))
    return out.copy()


def _vectorize(source: Graph, min_group: int, min_chain: int) -> Graph:
    out = _vectorize_once(source, min_group, min_chain)
    # to a fixed point: a merge can make other nodes identical siblings (their parents merged),
    # so one sweep is not always idempotent; merged nodes are never merged again, so this ends
    while out.number_of_nodes() < source.number_of_nodes():
        source, out = out, _vectorize_once(out, min_group, min_chain)
    return out


# Results for large graphs, by the content of their input: the frozen node objects with their
# source locations, the graph's attributes and the identity of every external name (the entry keeps
# the names' objects alive, so an identity is never reused while it is a key).  A pure pass on an
# equal graph gives an equal graph.  pg.clear_cache() empties it.
_RESULTS = ProgramCache("vectorize", maxsize=4)
_REMEMBER_FROM = 1_000  # nodes: below this the pass is cheaper than describing its input


def _content_key(graph: Graph, min_group: int, min_chain: int) -> Any:
    """A hashable description of everything the pass reads from ``graph`` (``None``: small or not hashable)."""
    if graph.number_of_nodes() < _REMEMBER_FROM:
        return None
    try:
        attributes = tuple(sorted((k, v) for k, v in graph.graph.items() if k != "env"))
        names = tuple(sorted((k, id(v)) for k, v in graph.env.items()))
        nodes = tuple((n, graph.nodes[n]["node"], graph.nodes[n]["node"].location) for n in graph.nodes)
        key = (min_group, min_chain, attributes, names, nodes)
        hash(key)
    except TypeError:
        return None
    return key


def _vectorize_once(source: Graph, min_group: int, min_chain: int) -> Graph:
    """One sweep of :func:`vectorize`: the groups and chains of ``source`` merged."""
    plan = _Plan(source, max(int(min_group), 2), max(int(min_chain), 2))
    groups = plan.siblings()
    grouped = {m for g in groups for m in g}
    chains = plan.chains(grouped)
    out = _build(source, plan, groups, chains)
    if out is None and chains and groups:  # a cycle through a merged node: try less
        out = _build(source, plan, groups, []) or _build(source, plan, [], chains)
    return out if out is not None else source.copy()
