"""Chains over devices: mapped within a device, a 1-D mesh of devices across them.

A sampler written per chain (``start(key, position, data)`` and
``advance(carry, key, data, first)``, which runs ``chunk`` steps from step
``first``) becomes a :class:`ChainProgram`: both functions mapped over
chains (one after another on CPU, with ``jax.vmap`` on accelerators; a
device's only chain runs unbatched: :func:`over_chains`) and, when several
devices are used, split over a 1-D
:class:`jax.sharding.Mesh` whose axis ``"chains"`` carries the chain axis
(``jax.shard_map``: every device runs its own chains, with its own NUTS
while-loops, and never waits for another device's chains).  Keys, positions
and the carried state are sharded along that axis; the data are replicated.
``start`` runs inside the first chunk (``jax.lax.cond`` on ``first == 0``),
so a run compiles one program, not two: a separate ``start`` program cost
0.4-0.9 s of compilation per sampler on the models measured, 10-20% of a
first ``pg.sample`` call.  It is compiled once (``jax.jit``; the carry is
donated).

The mesh may span several hosts: after ``jax.distributed.initialize()`` on
every process, ``jax.devices()`` lists the devices of all hosts, the inputs
are assembled into global arrays (:func:`jax.make_array_from_callback`, every
process computing the same keys and initial values) and the draws gathered back
to every host (:func:`jax.experimental.multihost_utils.process_allgather`).
See ``docs/scaling.md``.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> chain_devices(None, 4) == jax.devices()[:len(chain_devices(None, 4))]
True
>>> def start(key, position, data):
...     return position
>>> def advance(carry, key, data, first):
...     return carry + data["step"]
>>> program = ChainProgram.build(start, advance, total=2, chunk=1, devices=chain_devices(None, 2))
>>> keys, positions = program.place_chains((jax.random.split(jax.random.key(0), 2), jnp.ones(2)))
>>> data = program.place_data({"step": jnp.asarray(1.0)})
>>> carry = program.empty(keys, positions, data)  # zeros: the first chunk starts the chains
>>> for first in range(0, program.total, program.chunk):
...     carry = program.advance(carry, keys, positions, data, program.place_data(jnp.int32(first)))
>>> gather(carry).tolist()
[3.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..errors import ModelError

__all__ = ["ChainProgram", "chain_devices", "gather", "over_chains", "AXIS"]

AXIS = "chains"


def chain_devices(devices: Any, num_chains: int) -> list[Any]:
    """The devices the chains run on.

    Parameters
    ----------
    devices
        ``None``: every device (``jax.devices()``: all local devices, or every
        host's after ``jax.distributed.initialize``); an ``int`` n: the first n;
        or a sequence of :class:`jax.Device`.
    num_chains
        The chains are split evenly: the largest number of the given devices
        that divides ``num_chains`` is used (4 chains on 3 devices use 2).

    Raises
    ------
    ModelError
        An empty or malformed ``devices``.
    """
    if devices is None:
        pool = list(jax.devices())
    elif isinstance(devices, int) and not isinstance(devices, bool):
        if devices < 1:
            raise ModelError(f"devices must be at least 1, got {devices}")
        pool = list(jax.devices())[:devices]
    elif isinstance(devices, Sequence) and devices and all(isinstance(d, jax.Device) for d in devices):
        pool = list(devices)
    else:
        raise ModelError(
            f"devices must be None, an int or a list of jax devices, got {devices!r}",
            hint="e.g. devices=jax.local_devices() or devices=2",
        )
    count = max(n for n in range(1, len(pool) + 1) if num_chains % n == 0)
    return pool[:count]


def over_chains(fn: Callable[..., Any], in_axes: tuple[int | None, ...], *,
                sequential: bool = False) -> Callable[..., Any]:
    """``fn`` over the leading chain axis of the arguments whose ``in_axes`` is 0.

    ``jax.vmap(fn, in_axes)``; or, with ``sequential``, ``jax.lax.map``: the
    chains run one after another, each unbatched; and one chain (on a device)
    is always a plain call of ``fn`` on the chain's values (the axis is dropped,
    then put back on every output).  A vmapped ``jax.lax.while_loop`` whose
    condition depends on the chain, as in NUTS, runs its body while any chain
    goes on and selects between the old and the new value of its whole carry at
    every iteration: each leapfrog step of one chain of a 10,000-dimensional
    model was about 2.5x slower under ``jax.vmap``, and four vmapped chains
    cost more CPU on every model measured than the same chains one after
    another (``ChainProgram`` runs chains sequentially on CPU).  The number of
    chains is read from the shapes when ``fn`` is traced (under
    ``jax.shard_map``: the chains of one device).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> f = over_chains(lambda x, y: x * y, in_axes=(0, None))
    >>> f(jnp.ones((1, 3)), 2.0).shape, f(jnp.ones((4, 3)), 2.0).shape
    ((1, 3), (4, 3))
    >>> over_chains(lambda x, y: x * y, in_axes=(0, None), sequential=True)(jnp.ones((4, 3)), 2.0).shape
    (4, 3)
    """
    batched = jax.vmap(fn, in_axes=in_axes)

    def each(chained: list[Any], args: tuple) -> Any:
        values = iter(chained)
        return fn(*[next(values) if axis == 0 else arg for arg, axis in zip(args, in_axes)])

    def call(*args: Any) -> Any:
        chained = [arg for arg, axis in zip(args, in_axes) if axis == 0]
        sizes = {leaf.shape[0] for leaf in jax.tree.leaves(chained)}
        if sizes == {1}:
            return jax.tree.map(lambda v: jnp.expand_dims(v, 0), each(jax.tree.map(lambda v: v[0], chained), args))
        if sequential:
            return jax.lax.map(lambda one: each(one, args), chained)
        return batched(*args)

    return call


def _sharded(x: Any, sharding: NamedSharding) -> Any:
    """``x`` as a global array with ``sharding`` (each process holds the same full value)."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
        impl = jax.random.key_impl(x)
        data = _sharded(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(data, impl=impl)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def gather(tree: Any) -> Any:
    """Every leaf of ``tree`` as an array addressable from this process (all hosts' shards gathered)."""
    def one(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return multihost_utils.process_allgather(x, tiled=True)
        return x

    return jax.tree.map(one, tree)


def _zeros(shape: jax.ShapeDtypeStruct) -> Any:
    """Zeros of an abstract value, made on the host (no compiled program per shape)."""
    if jax.dtypes.issubdtype(shape.dtype, jax.dtypes.prng_key):
        key = jax.random.key(0)
        data = jax.random.key_data(key)
        return jax.random.wrap_key_data(np.zeros((*shape.shape, *data.shape), data.dtype),
                                        impl=jax.random.key_impl(key))
    return np.zeros(shape.shape, shape.dtype)


@dataclass(frozen=True)
class ChainProgram:
    """Compiled per-chain functions vectorised over chains (see the module docstring).

    Attributes
    ----------
    empty
        ``empty(keys, positions, data) -> carry``: zeros of the shapes of
        ``start``'s carry (made on the host, nothing compiled): the carry of the
        first call of ``advance``, which replaces it by ``start``'s.
    advance
        ``advance(carry, keys, positions, data, first) -> carry``: ``chunk``
        steps from step ``first`` (leading chain axis on keys, positions and
        every leaf of the carry); at ``first == 0`` the chains start from
        ``positions`` first.
    place_chains, place_data
        Put values with a leading chain axis (keys, positions) and replicated
        values (data, ``first``) where the program wants them (call once per run).
    total, chunk
        Steps in all and per call of ``advance``.
    devices
        The devices of the chain mesh (one device: no mesh).
    """

    empty: Callable[..., Any]
    advance: Callable[..., Any]
    place_chains: Callable[[Any], Any]
    place_data: Callable[[Any], Any]
    total: int
    chunk: int
    devices: tuple[Any, ...]

    @classmethod
    def build(cls, start: Callable[..., Any], advance: Callable[..., Any], *, total: int, chunk: int,
              devices: Sequence[Any], sequential: bool | None = None) -> "ChainProgram":
        """Map ``start(key, position, data)`` and ``advance(carry, key, data, first)`` over chains.

        ``sequential``: a device's chains run one after another
        (:func:`over_chains`); ``None``: on CPU, where that costs less than
        ``jax.vmap`` (accelerators vmap them).
        """
        devices = tuple(devices)
        if sequential is None:
            sequential = devices[0].platform == "cpu"

        def chunk_from(carry: Any, key: Any, position: Any, data: Any, first: Any) -> Any:
            carry = jax.lax.cond(first == 0, lambda: start(key, position, data), lambda: carry)
            return advance(carry, key, data, first)

        start_all = over_chains(start, in_axes=(0, 0, None), sequential=sequential)
        advance_all = over_chains(chunk_from, in_axes=(0, 0, 0, None, None), sequential=sequential)
        if len(devices) == 1:
            device = devices[0]
            place_chains = place_data = lambda x: jax.device_put(x, device)  # noqa: E731
            advance_jit = jax.jit(advance_all, donate_argnums=0)
        else:
            mesh = Mesh(np.asarray(devices), (AXIS,))
            split, same = PartitionSpec(AXIS), PartitionSpec()
            chains, replicated = NamedSharding(mesh, split), NamedSharding(mesh, same)
            start_all = jax.shard_map(start_all, mesh=mesh, in_specs=(split, split, same), out_specs=split,
                                      check_vma=False)
            advance_jit = jax.jit(jax.shard_map(advance_all, mesh=mesh, in_specs=(split, split, split, same, same),
                                                out_specs=split, check_vma=False), donate_argnums=0)
            place_chains = lambda x: jax.tree.map(lambda v: _sharded(v, chains), x)  # noqa: E731
            place_data = lambda x: jax.tree.map(lambda v: _sharded(v, replicated), x)  # noqa: E731

        def empty(keys: Any, positions: Any, data: Any) -> Any:
            return place_chains(jax.tree.map(_zeros, jax.eval_shape(start_all, keys, positions, data)))

        return cls(empty=empty, advance=advance_jit, place_chains=place_chains, place_data=place_data,
                   total=total, chunk=chunk, devices=devices)
