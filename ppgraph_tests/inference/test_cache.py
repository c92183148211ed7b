"""Compile once per shape (issue 10): data are inputs of the compiled programs, which are cached.

A Python side effect inside the log density counts how often it is traced: a
second call with new data of the same shapes must not trace it again, and must
give exactly the draws a fresh (uncached) run on that data gives.
"""

from __future__ import annotations

import textwrap
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph import dist
from ppgraph.cache import cache_info
from ppgraph.inference import SamplingWarning

from .two_devices import run_on_two_devices

TRACES: list[int] = []
SETTINGS = dict(num_warmup=40, num_samples=30, num_chains=2, progress=False)


def counted(x):
    """0 * sum(x), recording each time it is traced (or run eagerly)."""
    TRACES.append(1)
    return 0.0 * jnp.sum(x)


@pg.model
def regression(x, n):
    sigma <~ dist.HalfNormal(1.0)
    beta <~ dist.Normal(0.0, 1.0).expand([n])
    count <~ pg.factor(counted(beta))
    y <~ dist.Normal(x @ beta, sigma)
    return y


@pg.model
def sized_by_data(idx):
    k = int(np.max(np.asarray(idx))) + 1   # NumPy needs the concrete value: the argument is baked in
    a <~ dist.Normal(0.0, 1.0).expand([k])
    y <~ dist.Normal(a[idx], 1.0)
    return y


def _data(seed: int, n_obs: int = 12, n: int = 2) -> dict:
    kx, ky = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n_obs, n))
    y = x @ jnp.arange(1.0, n + 1.0) + 0.5 * jax.random.normal(ky, (n_obs,))
    return {"x": x, "n": n, "y": y}


def _sample(seed: int = 0, **data) -> pg.Posterior:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        return pg.sample(regression, seed, **data, **SETTINGS)


def _same(a: pg.Posterior, b: pg.Posterior) -> None:
    assert set(a.samples) == set(b.samples)
    for name in a.samples:
        np.testing.assert_array_equal(a.samples[name], b.samples[name], err_msg=name)
    np.testing.assert_array_equal(a.stats["num_steps"], b.stats["num_steps"])


def test_new_data_of_same_shapes_reuses_the_compiled_sampler_and_matches_an_uncached_run():
    pg.clear_cache()
    TRACES.clear()
    first = _sample(**_data(0))
    traced = len(TRACES)
    assert traced >= 1
    second = _sample(**_data(1))               # new values, same shapes
    assert len(TRACES) == traced, "the log density was traced again for data of the same shapes"
    assert cache_info()["problems"]["hits"] >= 1
    assert not np.allclose(first.samples["beta"], second.samples["beta"])  # the new data were used
    pg.clear_cache()
    fresh = _sample(**_data(1))                # compiled from scratch on the second data set
    assert len(TRACES) > traced
    _same(second, fresh)


def test_same_key_same_draws_cached_and_uncached():
    pg.clear_cache()
    a = _sample(3, **_data(2))
    b = _sample(3, **_data(2))                 # from the cache
    pg.clear_cache()
    c = _sample(3, **_data(2))                 # recompiled
    _same(a, b)
    _same(a, c)


def test_other_shapes_compile_again():
    pg.clear_cache()
    TRACES.clear()
    _sample(**_data(0, n_obs=12))
    traced = len(TRACES)
    _sample(**_data(0, n_obs=15))              # more observations: another program
    assert len(TRACES) > traced
    traced = len(TRACES)
    _sample(**_data(0, n_obs=12, n=3))         # a static size changes the program too
    assert len(TRACES) > traced
    assert cache_info()["problems"]["misses"] == 3


def test_clear_cache_empties_every_cache():
    _sample(**_data(0))
    assert cache_info()["problems"]["size"] >= 1
    pg.clear_cache()
    assert all(info == {"hits": 0, "misses": 0, "size": 0} for info in cache_info().values())
    TRACES.clear()
    _sample(**_data(0))
    assert len(TRACES) >= 1


def test_problem_data_are_inputs_not_constants():
    from ppgraph.inference import prepare

    pg.clear_cache()
    d0, d1 = _data(0), _data(1)
    p0 = prepare(regression, (d0["x"], 2), {"y": d0["y"]}, passes=["to_unconstrained"])
    p1 = prepare(regression, (d1["x"], 2), {"y": d1["y"]}, passes=["to_unconstrained"])
    assert p0.logdensity_at is p1.logdensity_at
    assert set(p0.data) == {"x", "y_observed"}
    position = {"sigma_unconstrained": jnp.asarray(0.3), "beta": jnp.array([0.5, -1.0])}
    # oracle: NumPyro's densities of the same model at the same point (Jacobian of exp included)
    sigma = jnp.exp(0.3)
    for d, problem in ((d0, p0), (d1, p1)):
        expected = (dist.HalfNormal(1.0).log_prob(sigma) + 0.3
                    + dist.Normal(0.0, 1.0).log_prob(position["beta"]).sum()
                    + dist.Normal(d["x"] @ position["beta"], sigma).log_prob(d["y"]).sum())
        np.testing.assert_allclose(problem.logdensity(position), expected, rtol=1e-5)


def test_a_model_that_needs_concrete_arguments_bakes_them_in():
    idx = jnp.array([0, 1, 2, 1, 0, 2])
    post = pg.sample(sized_by_data, 0, idx, y=jnp.array([1.0, 2.0, 3.0, 2.0, 1.0, 3.0]), **SETTINGS)
    assert post.samples["a"].shape == (2, 30, 3)
    post = pg.sample(sized_by_data, 0, jnp.array([0, 1, 0, 1, 0, 1]), y=jnp.zeros(6), **SETTINGS)
    assert post.samples["a"].shape == (2, 30, 2)  # not the first call's program


def test_sample_predictive_and_sample_forward_reuse_their_programs():
    pg.clear_cache()
    post = _sample(**_data(0))
    TRACES.clear()
    d1 = _data(1)
    pg.sample_predictive(regression, 1, post, d1["x"], 2)
    traced = len(TRACES)
    pred = pg.sample_predictive(regression, 1, post, d1["x"] + 1.0, 2)   # new covariates, same shapes
    assert len(TRACES) == traced
    assert cache_info()["sample_predictive"]["hits"] == 1
    # oracle: the predictive mean of y is x @ beta for each draw
    mean = np.einsum("ok,cdk->cdo", np.asarray(d1["x"] + 1.0), np.asarray(post.samples["beta"]))
    resid = (np.asarray(pred["y"]) - mean) / np.asarray(post.samples["sigma"])[..., None]
    assert abs(resid.mean()) < 0.1 and 0.85 < resid.std() < 1.15

    TRACES.clear()
    pg.sample_forward(regression, 2, d1["x"], 2, num_samples=5)
    traced = len(TRACES)
    pg.sample_forward(regression, 3, d1["x"] * 2.0, 2, num_samples=5)
    assert len(TRACES) == traced


@pg.model
def prior_reads_data(scale):
    a <~ dist.Normal(0.0, 1.0)
    b <~ dist.Normal(a, scale)               # observed: ...
    c <~ dist.Normal(b, 1.0)                 # ... and a latent's prior reads it (a constant of the init code)
    return c


def _fit(seed: int = 0, **data) -> pg.FitResult:
    return pg.fit(regression, seed, **data, num_steps=60, progress=False, optimizer=_ADAM)


_ADAM = __import__("optax").adam(0.05)


def _same_fit(a: pg.FitResult, b: pg.FitResult) -> None:
    np.testing.assert_array_equal(a.losses, b.losses)
    for name in a.posterior.loc:
        np.testing.assert_array_equal(a.posterior.loc[name], b.posterior.loc[name], err_msg=name)
        np.testing.assert_array_equal(a.posterior.scale[name], b.posterior.scale[name], err_msg=name)


def test_fit_reuses_its_program_for_new_data_of_the_same_shapes():
    pg.clear_cache()
    TRACES.clear()
    first = _fit(**_data(0))
    traced = len(TRACES)
    assert traced >= 1
    second = _fit(**_data(1))                  # new values, same shapes, the same optimizer object
    assert len(TRACES) == traced, "pg.fit traced the model again for data of the same shapes"
    assert cache_info()["fit_problems"] == {"hits": 1, "misses": 1, "size": 1}
    assert not np.allclose(first.losses, second.losses)
    draws = second.posterior.sample(jax.random.key(0), 200)       # the cached value map, this call's data
    assert draws["beta"].shape == (200, 2) and np.all(np.asarray(draws["sigma"]) > 0)
    pg.clear_cache()
    _same_fit(second, _fit(**_data(1)))         # an uncached fit on the second data set
    TRACES.clear()
    _fit(**_data(0, n_obs=15))                  # other shapes: another program
    assert len(TRACES) >= 1 and cache_info()["fit_problems"]["misses"] == 2


def test_fit_default_optimizer_is_one_object_and_bad_data_are_checked_on_a_hit():
    from ppgraph.inference.fit import default_optimizer

    assert default_optimizer() is default_optimizer()
    pg.clear_cache()
    pg.fit(regression, 0, **_data(0), num_steps=5, progress=False)
    pg.fit(regression, 0, **_data(1), num_steps=5, progress=False)
    assert cache_info()["fit_problems"]["hits"] == 1
    bad = {**_data(2), "y": jnp.full((12,), jnp.nan)}
    with pytest.raises(pg.ModelError):           # a cache hit still checks the new data
        pg.fit(regression, 0, **bad, num_steps=5, progress=False)


def test_fit_with_an_observed_value_the_init_code_holds_as_a_constant():
    pg.clear_cache()
    settings = dict(num_steps=40, progress=False, optimizer=_ADAM)
    pg.fit(prior_reads_data, 0, 1.0, b=jnp.asarray(1.0), **settings)
    cached = pg.fit(prior_reads_data, 0, 1.0, b=jnp.asarray(4.0), **settings)   # not a hit: b is pinned
    pg.clear_cache()
    _same_fit(cached, pg.fit(prior_reads_data, 0, 1.0, b=jnp.asarray(4.0), **settings))
    assert float(cached.posterior.loc["c"]) > 2.0     # c's posterior sits near the new b


_DEVICES_SCRIPT = textwrap.dedent(
    """
    import warnings
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import ppgraph as pg
    from ppgraph_tests.inference.test_cache import regression, _data, SETTINGS
    warnings.simplefilter("ignore")
    assert len(jax.devices()) == 2, jax.devices()
    settings = {**SETTINGS, "num_chains": 4}
    sharded = pg.sample(regression, 5, **_data(0), **settings)
    assert len(sharded.info["devices"]) == 2, sharded.info["devices"]
    single = pg.sample(regression, 5, **_data(0), devices=1, **settings)
    assert single.info["devices"] == [jax.devices()[0]]
    from ppgraph.inference.chains import chain_devices
    assert len(chain_devices(None, 3)) == 1       # 3 chains do not split over 2 devices
    # the same chains: every tree the same size, draws equal to rounding (XLA optimises the sharded
    # program slightly differently, last-bit differences the adaptation amplifies: ~3e-8 here)
    np.testing.assert_array_equal(sharded.stats["num_steps"], single.stats["num_steps"])
    for name in sharded.samples:
        np.testing.assert_allclose(sharded.samples[name], single.samples[name], rtol=1e-7, atol=1e-9,
                                   err_msg=name)
    # without adaptation nothing depends on the batch width: bitwise identical
    short = {**settings, "num_warmup": 0}
    a = pg.sample(regression, 6, **_data(1), **short)
    b = pg.sample(regression, 6, **_data(1), devices=1, **short)
    for name in a.samples:
        np.testing.assert_array_equal(a.samples[name], b.samples[name], err_msg=name)
    print("ok")
    """
)


def test_chains_split_over_devices_give_the_draws_of_one_device():
    run_on_two_devices(_DEVICES_SCRIPT)


def test_bad_devices_argument():
    with pytest.raises(pg.ModelError, match="devices must be"):
        pg.sample(regression, 0, **_data(0), devices="gpu", **SETTINGS)
