"""Bad data is an error before anything is compiled or sampled (``ppgraph.datachecks``).

Integer index arrays out of range of the axis they index, and distribution
parameters computed from data that violate NumPyro's ``arg_constraints``, are
reported by every entry point that takes concrete data: ``pg.sample``,
``pg.sample_forward``, ``pg.sample_predictive`` and ``pg.fit``.
Expected lines are found in the written source file; expected offending
positions are computed with NumPy from the data itself.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ppgraph as pg
from ppgraph import dist
from ppgraph.errors import SupportError
from ppgraph.inference.posterior import Posterior

TINY = dict(num_warmup=5, num_samples=5, num_chains=1, progress=False)

MODELS = '''
@pg.model
def radon(county, sigma):
    a <~ dist.Normal(0.0, 1.0).expand([30])
    y <~ dist.Normal(a[county], sigma)
    return y


@pg.model
def one_based(county_id):
    a <~ dist.Normal(0.0, 1.0).expand([4])
    idx = county_id - 1
    mu = a[idx]
    return mu


@pg.model
def grid(row, col):
    b <~ dist.Normal(0.0, 1.0).expand([3, 5])
    picked = b[row, col]
    return picked


@pg.model
def last_axis(col):
    b <~ dist.Normal(0.0, 1.0).expand([3, 5])
    last = b[..., col]
    return last


@pg.model
def taken(idx):
    a <~ dist.Normal(0.0, 1.0).expand([6])
    t = jnp.take(a, idx)
    return t


@pg.model
def updated(idx):
    a <~ dist.Normal(0.0, 1.0)
    u = jnp.zeros(6).at[idx].add(a)
    return u


@pg.model
def observed_index(p):
    group <~ dist.Categorical(probs=p)
    effect <~ dist.Normal(0.0, 1.0).expand([3])
    y <~ dist.Normal(effect[group], 1.0)
    return y


@pg.model
def scales(s, p, cov):
    mu <~ dist.Normal(0.0, 2.0 * s)
    c <~ dist.Categorical(probs=p)
    z <~ dist.MultivariateNormal(jnp.zeros(2), covariance_matrix=cov)
    return mu


@pg.model
def masked(logits, k):
    a <~ dist.Normal(0.0, 1.0).expand([5])
    last = a[k]
    c <~ dist.Categorical(logits=logits)
    return c


@pg.model
def sized(idx, n):
    a <~ dist.Normal(0.0, 1.0).expand([n])
    y = a[idx]
    return y


@pg.model
def with_layer(x, s, t):
    net <~ nn.Dense(2, dist.Normal(0.0, s))
    out = net(x)
    mu <~ dist.Normal(0.0, 1.0)
    lik <~ pg.factor(dist.Normal(mu, t).log_prob(out).sum())
    return out


@pg.model
def latent_scale():
    mu <~ dist.Normal(0.0, 1.0)
    y <~ dist.Normal(0.0, mu)
    return y
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from ppgraph_tests.conftest import HEADER, load_module

    path = tmp_path_factory.mktemp("bad_data") / "bad_data_models.py"
    path.write_text(HEADER + "from ppgraph import nn\n" + MODELS)
    return load_module(path), path


def line_of(path: Path, needle: str) -> int:
    found = [n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def where(path: Path, needle: str) -> str:
    return f"({path.name}:{line_of(path, needle)})"


COUNTY = np.arange(40) % 30


# -- integer indices ----------------------------------------------------------------------------------
def test_jax_would_silently_clamp_the_index(models):
    """Why the check exists: without it, county 45 is county 29 (the log density is not checked)."""
    m, _ = models
    lp = pg.logpdf(m.radon)
    a = jnp.linspace(-1.0, 1.0, 30)
    assert float(lp(jnp.array([45]), 1.0, a=a, y=jnp.array([0.3]))) == pytest.approx(
        float(lp(jnp.array([29]), 1.0, a=a, y=jnp.array([0.3]))))


@pytest.mark.parametrize("entry", ["sample", "sample_forward", "sample_predictive"])
def test_index_too_large(models, entry):
    m, path = models
    county = COUNTY.copy()
    county[[12, 31]] = [45, 30]
    first = int(np.flatnonzero(county >= 30)[0])
    with pytest.raises(pg.ModelError) as info:
        if entry == "sample":
            pg.sample(m.radon, 0, county, 1.0, y=np.zeros(40), **TINY)
        elif entry == "sample_forward":
            pg.sample_forward(m.radon, 0, county, 1.0)
        else:
            post = Posterior({"a": jnp.zeros((1, 3, 30))}, model=m.radon, args={"county": COUNTY, "sigma": 1.0})
            pg.sample_predictive(m.radon, 0, post, county=county)
    text = str(info.value)
    assert not isinstance(info.value, SupportError)
    assert "node 'y'" in text and where(path, "y <~ dist.Normal(a[county]") in text
    assert f"argument 'county' has the value 45 at position {first}" in text
    assert "axis 0 of `a` has size 30 (valid indices: 0 to 29)" in text and "(2 values are out of range)" in text
    assert "Hint: JAX would silently read index 29" in text and "`county - 1`" in text


def test_negative_index(models):
    m, path = models
    county = COUNTY.copy()
    county[7] = -2
    with pytest.raises(pg.ModelError) as info:
        pg.sample_forward(m.radon, 0, county, 1.0)
    text = str(info.value)
    assert "argument 'county' has the value -2 at position 7" in text and where(path, "y <~ dist.Normal(a[") in text
    assert "negative index counts from the end" in text and "would use index 28" in text and "`county % 30`" in text


def test_valid_indices_pass(models):
    m, _ = models
    draws = pg.sample_forward(m.radon, 0, COUNTY, 1.0)
    assert draws["y"].shape == (40,)


def test_index_computed_from_an_argument(models):
    """1-based ids forgotten: `idx = county_id - 1` is evaluated from the data and checked."""
    m, path = models
    assert pg.sample_forward(m.one_based, 0, np.array([1, 4, 2]))["mu"].shape == (3,)
    with pytest.raises(pg.ModelError) as info:
        pg.sample_forward(m.one_based, 0, np.array([1, 4, 0, 2]))  # 0 is not a 1-based id
    text = str(info.value)
    assert "node 'mu'" in text and where(path, "mu = a[idx]") in text
    assert "'idx' (computed from argument 'county_id') has the value -1 at position 2" in text


@pytest.mark.parametrize("row, col, node, needle, detail", [
    ([0, 3], [0, 1], "picked", "picked = b[row, col]", "argument 'row' has the value 3 at position 1, but axis 0"),
    ([0, 2], [5, 1], "picked", "picked = b[row, col]", "argument 'col' has the value 5 at position 0, but axis 1"),
])
def test_tuple_index_checks_each_axis(models, row, col, node, needle, detail):
    m, path = models
    with pytest.raises(pg.ModelError) as info:
        pg.sample_forward(m.grid, 0, np.array(row), np.array(col))
    text = str(info.value)
    assert f"node '{node}'" in text and where(path, needle) in text and detail in text


def test_index_after_an_ellipsis_counts_from_the_end(models):
    m, path = models
    assert pg.sample_forward(m.last_axis, 0, np.array([4, 0]))["last"].shape == (3, 2)
    with pytest.raises(pg.ModelError) as info:
        pg.sample_forward(m.last_axis, 0, np.array([4, 5]))
    text = str(info.value)
    assert where(path, "last = b[..., col]") in text
    assert "argument 'col' has the value 5 at position 1, but axis 1 of `b` has size 5" in text


def test_take_fills_with_nan(models):
    m, path = models
    with pytest.raises(pg.ModelError) as info:
        pg.sample_forward(m.taken, 0, np.array([0, 6]))
    text = str(info.value)
    assert "node 't'" in text and where(path, "t = jnp.take(a, idx)") in text
    assert "the flattened array of `a` has size 6" in text and "jnp.take would silently give NaN" in text


def test_at_update_out_of_range(models):
    m, path = models
    with pytest.raises(pg.ModelError) as info:
        pg.sample_forward(m.updated, 0, np.array([2, 6]))
    text = str(info.value)
    assert "node 'u'" in text and where(path, "u = jnp.zeros(6).at[idx]") in text
    assert "argument 'idx' has the value 6 at position 1" in text and "silently drop the update" in text


def test_observed_value_used_as_an_index(models):
    m, path = models
    p = jnp.array([0.2, 0.3, 0.5])
    with pytest.raises(pg.ModelError) as info:
        pg.sample(m.observed_index, 0, p, group=jnp.array([0, 2, 3]), y=jnp.zeros(3), **TINY)
    text = str(info.value)
    assert "node 'y'" in text and where(path, "y <~ dist.Normal(effect[group]") in text
    assert "observed 'group' has the value 3 at position 2" in text


# -- distribution parameters from data ------------------------------------------------------------
GOOD = dict(s=1.0, p=jnp.array([0.2, 0.8]), cov=jnp.eye(2))


@pytest.mark.parametrize("entry", ["sample", "sample_forward"])
def test_negative_scale_from_data(models, entry):
    m, path = models
    with pytest.raises(SupportError) as info:
        if entry == "sample":
            pg.sample(m.scales, 0, **{**GOOD, "s": -0.5}, c=1, z=jnp.zeros(2), **TINY)
        else:
            pg.sample_forward(m.scales, 0, **{**GOOD, "s": -0.5})
    text = str(info.value)
    assert "node 'mu'" in text and where(path, "mu <~ dist.Normal(0.0, 2.0 * s)") in text
    assert "parameter 'scale' (`2.0 * s`, from argument 's') violates its constraint (positive)" in text
    assert "its value is -1." in text and "Hint: fix the data passed as 's'" in text


def test_probabilities_not_summing_to_one(models):
    m, path = models
    p = jnp.array([[0.2, 0.8], [0.5, 0.6], [0.1, 0.9]])
    first = int(np.flatnonzero(np.abs(np.asarray(p).sum(-1) - 1) > 1e-4)[0])
    with pytest.raises(SupportError) as info:
        pg.sample_forward(m.scales, 0, **{**GOOD, "p": p})
    text = str(info.value)
    assert "node 'c'" in text and where(path, "c <~ dist.Categorical(probs=p)") in text
    assert "parameter 'probs' (argument 'p') violates its constraint (simplex" in text
    assert f"its value is [0.5, 0.6] at index {first} (it sums to 1.1)" in text


def test_negative_probability(models):
    m, _ = models
    with pytest.raises(SupportError, match=r"'probs' .* its value is \[-0.2, 1.2\]"):
        pg.sample_forward(m.scales, 0, **{**GOOD, "p": jnp.array([-0.2, 1.2])})


def test_covariance_not_positive_definite(models):
    m, path = models
    cov = jnp.array([[1.0, 2.0], [2.0, 1.0]])
    smallest = float(np.linalg.eigvalsh(np.asarray(cov))[0])
    with pytest.raises(SupportError) as info:
        pg.sample_forward(m.scales, 0, **{**GOOD, "cov": cov})
    text = str(info.value)
    assert "node 'z'" in text and where(path, "z <~ dist.MultivariateNormal") in text
    assert "parameter 'covariance_matrix' (argument 'cov') violates its constraint (positive definite)" in text
    assert f"(smallest eigenvalue {smallest:.4g})" in text


def test_valid_parameters_pass_and_latent_parameters_are_judged_by_their_range(models):
    m, _ = models
    assert pg.sample_forward(m.scales, 0, **GOOD)["z"].shape == (2,)
    from ppgraph.datachecks import check_data, check_parameters

    check_parameters(m.latent_scale.graph, {})  # scale = mu is latent: no data value to judge
    with pytest.raises(SupportError, match=r"node 'y'.*'mu' is a latent Normal variable with values in \(-inf"):
        check_data(m.latent_scale.graph, {})  # but its range, all reals, is judged from the graph


def test_traced_data_is_not_checked(models):
    """Inside jax.jit the data are abstract: nothing to check, no error from the checker."""
    m, _ = models
    from ppgraph.datachecks import check_data

    @jax.jit
    def run(s):
        check_data(m.scales.graph, {**GOOD, "s": s})
        return s

    assert float(run(-1.0)) == -1.0


def test_python_int_index_may_count_from_the_end_and_logits_may_be_minus_inf(models):
    m, path = models
    logits = jnp.array([0.0, -jnp.inf, 1.0])
    draws = pg.sample_forward(m.masked, 0, logits, -1, num_samples=20)
    assert bool(jnp.all(draws["c"] != 1)) and bool(jnp.all(draws["last"] == draws["a"][:, -1]))
    with pytest.raises(pg.ModelError) as info:
        pg.sample_forward(m.masked, 0, logits, -6)
    assert "argument 'k' has the value -6, but axis 0 of `a` has size 5 (valid indices: -5 to 4)" in str(info.value)
    assert where(path, "last = a[k]") in str(info.value)
    with pytest.raises(SupportError, match=r"parameter 'logits' \(argument 'logits'\) violates .*nan"):
        pg.sample_forward(m.masked, 0, jnp.array([0.0, jnp.nan, 1.0]), 0)


def test_deep_builder_graph_is_checked_without_recursion():
    """A 600-node chain (deeper than Python's recursion limit allows for recursive evaluation)."""
    g = pg.GraphBuilder("deep")
    idx = g.argument("idx")
    x = g.random("a", g.call(dist.Normal, 0.0, 1.0).expand([5]))
    for i in range(600):
        x = g.deterministic(f"x{i}", x + 1.0)
    g.returns(g.deterministic("y", x[idx]))
    model = g.build()
    from ppgraph.datachecks import check_data

    check_data(model.graph, {"idx": np.array([0, 4])})
    with pytest.raises(pg.ModelError) as info:
        check_data(model.graph, {"idx": np.array([0, 5])})
    statement = 'g.returns(g.deterministic("y", x[idx]))'  # builders record their call sites
    (line,) = [n for n, text in enumerate(Path(__file__).read_text().splitlines(), 1) if text.strip() == statement]
    assert (f"node 'y' (test_bad_data.py:{line}): index out of range in `x599[idx]`: argument 'idx' has the value 5 "
            "at position 1, but axis 0 of `x599` has size 5") in str(info.value)


def test_fit_checks_the_data(models):
    m, path = models
    county = COUNTY.copy()
    county[3] = 30
    with pytest.raises(pg.ModelError) as info:
        pg.fit(m.radon, 0, county, 1.0, y=np.zeros(40), num_steps=2, progress=False)
    assert "argument 'county' has the value 30 at position 3" in str(info.value)
    assert where(path, "y <~ dist.Normal(a[county]") in str(info.value)
    with pytest.raises(SupportError, match=r"parameter 'scale' \(argument 'sigma'\) violates .*its value is -2"):
        pg.fit(m.radon, 0, COUNTY, -2.0, y=np.zeros(40), num_steps=2, progress=False)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(n=st.integers(1, 6), idx=st.lists(st.integers(-3, 8), min_size=1, max_size=6))
def test_the_checker_agrees_with_numpy_on_random_indices(models, n, idx):
    """An error exactly when some index is outside [0, n); it names the first one (found with NumPy)."""
    m, _ = models
    from ppgraph.datachecks import check_data

    idx = np.asarray(idx, dtype=np.int32)
    outside = np.flatnonzero((idx < 0) | (idx >= n))
    if outside.size == 0:
        check_data(m.sized.graph, {"idx": idx, "n": n})
        return
    with pytest.raises(pg.ModelError) as info:
        check_data(m.sized.graph, {"idx": idx, "n": n})
    first = int(outside[0])
    assert (f"argument 'idx' has the value {idx[first]} at position {first}, but axis 0 of `a` has size {n}"
            in str(info.value))


@pytest.mark.parametrize("bad, node, needle, call, arg", [
    (dict(s=-1.0, t=1.0), "net", "net <~ nn.Dense(2, dist.Normal(0.0, s))", "`dist.Normal(0.0, s)`", "s"),
    (dict(s=1.0, t=-1.0), "lik", "lik <~ pg.factor(dist.Normal(mu, t)", "`dist.Normal(mu, t)`", "t"),
])
def test_distributions_inside_layers_and_factors(models, bad, node, needle, call, arg):
    m, path = models
    x = jnp.ones((3, 4))
    assert pg.sample_forward(m.with_layer, 0, x, 1.0, 1.0)["out"].shape == (3, 2)
    with pytest.raises(SupportError) as info:
        pg.sample_forward(m.with_layer, 0, x, **bad)
    text = str(info.value)
    assert f"node '{node}'" in text and where(path, needle) in text
    assert f"{call}: parameter 'scale' (argument '{arg}') violates its constraint (positive): its value is -1" in text
