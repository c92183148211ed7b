"""Generated code: readable source, jit / grad of ``pg.logpdf``, and codegen speed on big graphs."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppgraph as pg
from ppgraph import dist
from ppgraph.codegen import generate
from ppgraph.ir import validate
from ppgraph_tests import compile_models as M

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])

EIGHT_SCHOOLS_LOGPDF = '''\
def eight_schools_logpdf(sigma, *, mu, tau, theta_t, y):
    """Joint log density of eight_schools."""
    lp = 0.0
    lp += jnp.sum(dist.Normal(0.0, 5.0).log_prob(mu))
    lp += jnp.sum(dist.HalfCauchy(5.0).log_prob(tau))
    lp += jnp.sum(dist.Normal(0.0, 1.0).expand([8]).log_prob(theta_t))
    theta = mu + tau * theta_t
    lp += jnp.sum(dist.Normal(theta, sigma).log_prob(y))
    return lp
'''

EIGHT_SCHOOLS_SAMPLE = '''\
def eight_schools_sample_forward(rng_key, sigma):
    """Draw one joint sample of eight_schools (one fresh key per random variable)."""
    keys = jax.random.split(rng_key, 4)
    mu = dist.Normal(0.0, 5.0).sample(keys[0])
    tau = dist.HalfCauchy(5.0).sample(keys[1])
    theta_t = dist.Normal(0.0, 1.0).expand([8]).sample(keys[2])
    theta = mu + tau * theta_t
    y = dist.Normal(theta, sigma).sample(keys[3])
    return {'mu': mu, 'tau': tau, 'theta_t': theta_t, 'theta': theta, 'y': y}
'''


def test_eight_schools_logpdf_source_is_exactly_one_line_per_node():
    assert pg.source(M.eight_schools, "logpdf") == EIGHT_SCHOOLS_LOGPDF


def test_eight_schools_sample_source():
    assert pg.source(M.eight_schools, "sample_forward") == EIGHT_SCHOOLS_SAMPLE


def test_source_lines_map_back_to_nodes():
    compiled = pg.compile.compiled(M.eight_schools, "logpdf")
    lines = compiled.source.splitlines()
    by_node = {node: lines[number - 1].strip() for number, node in compiled.lines.items()}
    assert by_node["theta"] == "theta = mu + tau * theta_t"
    assert "log_prob(y)" in by_node["y"]
    assert set(compiled.lines.values()) == {"mu", "tau", "theta_t", "theta", "y"}


def test_model_names_that_clash_with_reserved_words_are_renamed(write_models):
    module, _ = write_models('''
        @pg.model
        def clash(keys):
            lp <~ dist.Normal(0.0, 1.0)
            rng_key <~ dist.Normal(lp, keys)
            return rng_key
    ''')
    source = pg.source(module.clash, "sample_forward")
    assert "keys_ = jax.random.split(rng_key_, 2)" in source
    draws = pg.sample_forward(module.clash, jax.random.key(0), keys=1.0, num_samples=3)
    assert draws["rng_key"].shape == (3,)
    got = pg.logpdf(module.clash)(keys=2.0, lp=0.5, rng_key=1.0)
    np.testing.assert_allclose(got, dist.Normal(0.0, 1.0).log_prob(0.5) + dist.Normal(0.5, 2.0).log_prob(1.0), rtol=1e-6)


# -- jit and grad --------------------------------------------------------------------------------
POINT = dict(mu=0.3, tau=1.7, theta_t=jnp.linspace(-1.0, 1.0, 8), y=jnp.arange(8.0))


def scipy_logpdf(mu: float, tau: float = 1.7) -> float:
    """The eight schools joint log density at POINT (with ``mu``, ``tau``), written with scipy in float64."""
    theta_t, y, sigma = (np.asarray(v, dtype=np.float64) for v in (POINT["theta_t"], POINT["y"], SIGMA))
    return float(
        stats.norm(0, 5).logpdf(mu) + stats.halfcauchy(scale=5).logpdf(tau) + stats.norm().logpdf(theta_t).sum()
        + stats.norm(mu + tau * theta_t, sigma).logpdf(y).sum()
    )


def test_logpdf_under_jax_jit_equals_the_plain_function_and_scipy():
    lp = pg.logpdf(M.eight_schools)
    raw = pg.compile.compiled(M.eight_schools, "logpdf").fn  # the generated function, not jitted
    expected = scipy_logpdf(0.3, 1.7)  # the independent oracle
    jitted = jax.jit(lambda mu, tau: lp(sigma=SIGMA, mu=mu, tau=tau, theta_t=POINT["theta_t"], y=POINT["y"]))
    np.testing.assert_allclose(jitted(0.3, 1.7), expected, rtol=1e-5)
    np.testing.assert_allclose(lp(sigma=SIGMA, **POINT), expected, rtol=1e-5)
    np.testing.assert_allclose(raw(SIGMA, **POINT), jitted(0.3, 1.7), rtol=1e-6)  # and jit == no jit
    # vmap over a batch of points agrees with a loop and with scipy
    mus = jnp.linspace(-1.0, 1.0, 5)
    batched = jax.vmap(lambda m: lp(sigma=SIGMA, **{**POINT, "mu": m}))(mus)
    np.testing.assert_allclose(batched, [raw(SIGMA, **{**POINT, "mu": m}) for m in mus], rtol=1e-5)
    np.testing.assert_allclose(batched, [scipy_logpdf(float(m)) for m in mus], rtol=1e-5)


def test_grad_of_logpdf_agrees_with_finite_differences_and_the_analytic_gradient():
    lp = pg.logpdf(M.eight_schools)

    def f(params):
        return lp(sigma=SIGMA, mu=params["mu"], tau=params["tau"], theta_t=params["theta_t"], y=POINT["y"])

    params = {"mu": jnp.float32(0.3), "tau": jnp.float32(1.7), "theta_t": POINT["theta_t"]}
    grads = jax.jit(jax.grad(f))(params)
    np.testing.assert_allclose(jax.grad(f)(params)["mu"], grads["mu"], rtol=1e-5)
    # analytic d/dmu: -mu/25 + sum((y - theta) / sigma^2)
    theta = 0.3 + 1.7 * POINT["theta_t"]
    analytic = -0.3 / 25 + jnp.sum((POINT["y"] - theta) / SIGMA**2)
    np.testing.assert_allclose(grads["mu"], analytic, rtol=1e-4)
    # central finite differences in float64 numpy of the float32 function: loose tolerance
    h = 1e-2
    for name in ("mu", "tau"):
        up = dict(params, **{name: params[name] + h})
        down = dict(params, **{name: params[name] - h})
        fd = (f(up) - f(down)) / (2 * h)
        np.testing.assert_allclose(grads[name], fd, rtol=2e-2, atol=2e-3)
    for i in (0, 5):
        e = jnp.zeros(8).at[i].set(h)
        fd = (f(dict(params, theta_t=params["theta_t"] + e)) - f(dict(params, theta_t=params["theta_t"] - e))) / (2 * h)
        np.testing.assert_allclose(grads["theta_t"][i], fd, rtol=2e-2, atol=2e-3)


def test_value_and_grad_under_jit_with_keyword_arguments():
    lp = pg.logpdf(M.eight_schools)
    vg = jax.jit(jax.value_and_grad(lambda mu: lp(sigma=SIGMA, **{**POINT, "mu": mu})))
    value, grad = vg(0.3)
    np.testing.assert_allclose(value, scipy_logpdf(0.3), rtol=1e-5)
    theta = 0.3 + 1.7 * POINT["theta_t"]
    np.testing.assert_allclose(grad, -0.3 / 25 + jnp.sum((POINT["y"] - theta) / SIGMA**2), rtol=1e-4)  # analytic


# -- codegen speed ---------------------------------------------------------------------------------
def chain(n: int) -> pg.Model:
    g = pg.GraphBuilder(f"chain_{n}")
    x = g.random("x0", dist.Normal, 0.0, 1.0)
    for i in range(1, n):
        x = g.random(f"x{i}", dist.Normal, x, 1.0)
    return g.build()


def test_ten_thousand_node_chain_builds_validates_and_generates_quickly():
    """CPU time of this process (the test machine is shared: wall time would measure the neighbours)."""
    start = time.process_time()
    model = chain(10_000)
    validate(model.graph)
    compiled = generate(model.graph, "logpdf", given=list(model.graph.nodes))
    elapsed = time.process_time() - start
    assert len(compiled.source.splitlines()) == 10_000 + 4
    assert "lp += jnp.sum(dist.Normal(x9998, 1.0).log_prob(x9999))" in compiled.source
    assert elapsed < 5.0, f"10,000-node chain took {elapsed:.1f} s"


def test_chain_logpdf_is_correct():
    model = chain(50)
    values = {f"x{i}": float(np.sin(i)) for i in range(50)}
    got = pg.logpdf(model)(**values)
    xs = np.array([values[f"x{i}"] for i in range(50)])
    expected = dist.Normal(0.0, 1.0).log_prob(xs[0]) + jnp.sum(dist.Normal(xs[:-1], 1.0).log_prob(xs[1:]))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
