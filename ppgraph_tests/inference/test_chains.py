"""Chains over devices (ppgraph/inference/chains.py): ``over_chains`` runs one chain without ``jax.vmap``,
and several one after another on CPU.

Oracles: the one-chain and the sequential calls give what ``jax.vmap`` gives
(shapes and values); the invariant that makes them fast: a while-loop whose
condition depends on the chain, traced for one chain or run sequentially, has a
scalar condition (under ``jax.vmap`` the condition has a chain axis and XLA
selects between the old and new carry at every iteration, which made each NUTS
leapfrog step of a 10,000-dimensional model about 2.5x slower).
"""

from __future__ import annotations

import textwrap

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph.inference.chains import ChainProgram, over_chains

from . import inference_models as M
from .two_devices import run_on_two_devices


def _loop(key, limit, scale):
    """A while-loop whose trip count depends on the chain (as NUTS's tree building does)."""
    def cond(c):
        return c[0] < limit

    def body(c):
        i, x = c
        return i + 1, x * scale + jax.random.normal(jax.random.fold_in(key, i), x.shape)

    return jax.lax.while_loop(cond, body, (jnp.int32(0), jnp.ones(5)))


def _while_conditions(jaxpr) -> list[tuple[int, ...]]:
    """Shapes of the conditions of every while-loop in ``jaxpr`` (nested ones too).

    A condition of shape ``(chains,)`` is a batched loop: XLA runs its body for
    every chain while any chain goes on and selects the old carry where one stopped.
    """
    shapes = []

    def nested(value):
        if hasattr(value, "eqns"):
            yield value
        elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
            yield value.jaxpr
        elif isinstance(value, (tuple, list)):
            for v in value:
                yield from nested(v)

    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "while":
            shapes.append(tuple(eqn.params["cond_jaxpr"].jaxpr.outvars[0].aval.shape))
        for value in eqn.params.values():
            for sub in nested(value):
                shapes += _while_conditions(sub)
    return shapes


def test_one_chain_equals_vmap_and_keeps_the_chain_axis():
    keys = jax.random.split(jax.random.key(0), 1)
    limits = jnp.array([3])
    ours = over_chains(_loop, in_axes=(0, 0, None))(keys, limits, 0.5)
    ref = jax.vmap(_loop, in_axes=(0, 0, None))(keys, limits, 0.5)
    assert ours[0].shape == ref[0].shape == (1,) and ours[1].shape == ref[1].shape == (1, 5)
    assert int(ours[0][0]) == 3
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-6)


@pytest.mark.parametrize("sequential", [False, True])
def test_several_chains_match_vmap(sequential):
    keys = jax.random.split(jax.random.key(1), 3)
    limits = jnp.array([1, 4, 2])
    ours = over_chains(_loop, in_axes=(0, 0, None), sequential=sequential)(keys, limits, 0.5)
    ref = jax.vmap(_loop, in_axes=(0, 0, None))(keys, limits, 0.5)
    np.testing.assert_array_equal(ours[0], [1, 4, 2])
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-6)


def test_sequential_chains_loops_are_not_batched():
    args = (jax.random.split(jax.random.key(0), 3), jnp.array([1, 4, 2]), 0.5)
    jaxpr = jax.make_jaxpr(over_chains(_loop, in_axes=(0, 0, None), sequential=True))(*args).jaxpr
    assert _while_conditions(jaxpr) == [()]


def test_chain_program_starts_in_the_first_chunk_and_runs_chains_one_after_another_on_cpu():
    def advance(carry, key, data, first):
        i, x = carry
        return i + first, x + data

    cpu = jax.devices("cpu")[:1]
    keys, limits = jax.random.split(jax.random.key(0), 3), jnp.array([1, 4, 2])
    started = jax.vmap(_loop, in_axes=(0, 0, None))(keys, limits, 0.5)
    programs = [ChainProgram.build(_loop, advance, total=2, chunk=1, devices=cpu, sequential=sequential)
                for sequential in (None, False)]
    for program, loops in zip(programs, ([()], [(3,)])):
        empty = program.empty(keys, limits, 0.5)
        assert [np.shape(v) for v in empty] == [(3,), (3, 5)] and not any(np.any(v) for v in empty)
        jaxpr = jax.make_jaxpr(program.advance)(empty, keys, limits, 0.5, jnp.int32(0)).jaxpr
        assert _while_conditions(jaxpr) == loops  # None: sequential on CPU, unbatched loops
        first = program.advance(empty, keys, limits, 0.5, jnp.int32(0))  # starts the chains, then a step
        np.testing.assert_array_equal(first[0], [1, 4, 2])
        np.testing.assert_allclose(first[1], started[1] + 0.5, rtol=1e-6)
        second = program.advance(first, keys, limits, 0.5, jnp.int32(1))  # goes on from the carry
        np.testing.assert_array_equal(second[0], [2, 5, 3])
        np.testing.assert_allclose(second[1], started[1] + 1.0, rtol=1e-6)


def test_one_chain_loop_is_not_batched():
    args = (jax.random.split(jax.random.key(0), 1), jnp.array([3]), 0.5)
    one = jax.make_jaxpr(over_chains(_loop, in_axes=(0, 0, None)))(*args).jaxpr
    batched = jax.make_jaxpr(jax.vmap(_loop, in_axes=(0, 0, None)))(*args).jaxpr
    assert _while_conditions(batched) == [(1,)]  # what the one-chain path avoids
    assert _while_conditions(one) == [()]


def test_one_chain_nuts_matches_the_conjugate_posterior():
    y = np.random.default_rng(3).normal(1.5, 1.0, size=10).astype(np.float32)
    post = pg.sample(M.normal_normal, 20261201, 0.0, 10.0, 1.0, 10, y=y, num_warmup=300, num_samples=600,
                     num_chains=1, progress=False)
    mu = np.asarray(post.samples["mu"], dtype=float)
    assert mu.shape == (1, 600)
    precision = 1 / 10.0**2 + 10
    mean, sd = y.sum() / precision, precision**-0.5
    assert abs(mu.mean() - mean) < 4 * float(az.mcse(mu, method="mean"))
    assert abs(mu.std(ddof=1) - sd) < 4 * float(az.mcse(mu, method="sd"))


_ONE_PER_DEVICE = textwrap.dedent(
    """
    import warnings
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import ppgraph as pg
    from ppgraph_tests.inference import inference_models as M
    warnings.simplefilter("ignore")
    assert len(jax.devices()) == 2, jax.devices()
    y = np.random.default_rng(3).normal(1.5, 1.0, size=10)
    settings = dict(num_warmup=40, num_samples=30, num_chains=2, progress=False)
    split = pg.sample(M.normal_normal, 5, 0.0, 10.0, 1.0, 10, y=y, **settings)     # one chain per device
    assert len(split.info["devices"]) == 2, split.info["devices"]
    together = pg.sample(M.normal_normal, 5, 0.0, 10.0, 1.0, 10, y=y, devices=1, **settings)  # 2 on one
    np.testing.assert_array_equal(split.stats["num_steps"], together.stats["num_steps"])
    np.testing.assert_allclose(split.samples["mu"], together.samples["mu"], rtol=1e-7, atol=1e-9)
    print("ok")
    """
)


def test_one_chain_per_device_gives_the_draws_of_both_chains_on_one_device():
    run_on_two_devices(_ONE_PER_DEVICE)
