"""``reparameterize``: same joint distribution, exact shapes, clear errors, an extension registry."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from numpyro.distributions import transforms as T
from numpyro.distributions.transforms import biject_to
from scipy import stats

import ppgraph as pg
from ppgraph import dist
from ppgraph.compile import compiled
from ppgraph.errors import ModelError
from ppgraph.ir import Factor, RandomVariable
from ppgraph.passes import LOC_SCALE_FAMILIES, REPARAMETERIZERS, observe, reparameterize
from ppgraph_tests.passes.spec_tools import LOC_SCALE, node_dist
from ppgraph_tests.strategies import model_specs


def _loc_scale(d):
    """loc and scale of a (possibly expanded) NumPyro loc-scale distribution, broadcast to its batch shape."""
    base = d.base_dist if isinstance(d, dist.ExpandedDistribution) else d
    return jnp.broadcast_to(base.loc, d.batch_shape), jnp.broadcast_to(base.scale, d.batch_shape)


# -- the joint density: lp_reparam(z) = lp_centred(x(z)) + log|dx/dz| ------------------------------------
@settings(derandomize=True, max_examples=15, deadline=None, database=None)
@given(model_specs(max_random=6, family_names=list(LOC_SCALE) + ["HalfNormal", "Gamma", "Uniform"], layers=False))
def test_random_models_keep_the_joint_density(spec):
    """Random models with arguments, factors and deterministic chains (layers: ppgraph_tests/nn)."""
    model = spec.build()
    data = spec.argument_values()
    g = reparameterize(model)
    rng = np.random.default_rng(0)
    values, z_inputs, log_jac = {}, {}, 0.0
    for node in spec.nodes:
        if not node.is_random:
            continue
        name = node.name
        d = node_dist(spec, name, values)
        if node.family in LOC_SCALE:
            assert name + "_decentered" in g.nodes and g.obj(name).kind == "deterministic"
            loc, scale = _loc_scale(d)
            z = jnp.asarray(rng.normal(size=d.batch_shape), dtype=jnp.float32)
            affine = T.AffineTransform(loc, scale)
            transform = T.ComposeTransform([affine, T.ExpTransform()]) if node.family == "LogNormal" else affine
            values[name] = transform(z)
            log_jac += jnp.sum(transform.log_abs_det_jacobian(z, values[name]))
            z_inputs[name + "_decentered"] = z
        else:
            assert name + "_decentered" not in g.nodes
            to = biject_to(d.support)
            values[name] = to(jnp.asarray(rng.normal(size=to.inverse_shape(d.batch_shape + d.event_shape)),
                                          dtype=jnp.float32))
            z_inputs[name] = values[name]
    lp_z = pg.logpdf(g)(**data, **z_inputs)
    lp_x = pg.logpdf(model)(**data, **values)
    assert np.isfinite(lp_z)
    np.testing.assert_allclose(lp_z, lp_x + log_jac, rtol=2e-4, atol=2e-4)
    # the user-facing variables keep their names and values
    det = compiled(g, "deterministics").fn(**data, **z_inputs)
    for name in values:
        if name + "_decentered" in g.nodes:
            np.testing.assert_allclose(det[name], values[name], rtol=1e-5, atol=1e-5)


# -- forward samples: same distribution ------------------------------------------------------------------
@pg.model
def families(s):
    mu <~ dist.Normal(1.0, 0.5)
    tau <~ dist.HalfNormal(s)
    normal <~ dist.Normal(mu, tau + 0.5).expand([2])
    student <~ dist.StudentT(6.0, mu, 2.0)
    cauchy <~ dist.Cauchy(mu, tau + 0.1)
    laplace <~ dist.Laplace(mu, scale=1.5)
    lognormal <~ dist.LogNormal(0.2 * mu, 0.3)
    return normal


@pytest.fixture(scope="module")
def forward_draws():
    n = 20000
    centred = pg.sample_forward(families, jax.random.key(0), s=1.0, num_samples=n)
    noncentred = pg.sample_forward(reparameterize(families), jax.random.key(1), s=1.0, num_samples=n)
    return centred, noncentred


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mu", "normal", "student", "cauchy", "laplace", "lognormal"])
def test_forward_samples_have_the_same_distribution(name, forward_draws):
    n = 20000
    centred, noncentred = forward_draws[0][name], forward_draws[1][name]
    assert centred.shape == noncentred.shape
    a, b = np.asarray(centred).reshape(n, -1)[:, 0], np.asarray(noncentred).reshape(n, -1)[:, 0]
    assert stats.ks_2samp(a, b).pvalue > 1e-3
    if name == "cauchy":  # no moments: median and interquartile range
        q_a, q_b = np.percentile(a, [25, 50, 75]), np.percentile(b, [25, 50, 75])
        assert abs(q_a[1] - q_b[1]) < 0.1 * (q_a[2] - q_a[0])
        assert (q_b[2] - q_b[0]) == pytest.approx(q_a[2] - q_a[0], rel=0.08)
    else:
        se = np.sqrt((a.var() + b.var()) / n)
        assert abs(a.mean() - b.mean()) < 5 * se
        assert b.std() == pytest.approx(a.std(), rel=0.06)


def test_centred_variables_are_not_left_in_the_density():
    g = reparameterize(families)
    lp = pg.logpdf(g)
    assert set(lp.compiled.inputs) == {
        "mu_decentered", "tau", "normal_decentered", "student_decentered", "cauchy_decentered",
        "laplace_decentered", "lognormal_decentered",
    }


# -- shapes ------------------------------------------------------------------------------------------------
@pg.model
def broadcast(loc, scale):
    x <~ dist.Normal(loc, scale)
    y <~ dist.StudentT(jnp.full((4, 1, 1), 5.0), x, 1.0)
    w <~ dist.Normal(0.0, scale).expand([5, 2, 3]).to_event(1)
    return w


def test_batch_shape_is_the_exact_broadcast_plus_the_chain():
    loc, scale = jnp.zeros(3), jnp.ones((2, 1))
    g = reparameterize(broadcast)
    centred = pg.sample_forward(broadcast, jax.random.key(0), loc, scale)
    out = pg.sample_forward(g, jax.random.key(0), loc, scale)
    assert out["x_decentered"].shape == centred["x"].shape == out["x"].shape == (2, 3)
    assert out["y_decentered"].shape == centred["y"].shape == out["y"].shape == (4, 2, 3)  # df broadcasts too
    assert out["w_decentered"].shape == centred["w"].shape == (5, 2, 3)
    assert g.obj("w_decentered").dist.endswith(".expand([5, 2, 3]).to_event(1)")
    assert g.obj("y_decentered").dist.startswith("dist.StudentT(jnp.full((4, 1, 1), 5.0), 0.0, 1.0)")
    # the event dimension is kept: one log-density term per batch element of w
    lp_terms = pg.logpdf(g, terms=True)(loc, scale, **{k: out[k] for k in ("x_decentered", "y_decentered", "w_decentered")})
    np.testing.assert_allclose(lp_terms["w_decentered"], jnp.sum(dist.Normal(0.0, 1.0).log_prob(out["w_decentered"])),
                               rtol=1e-5)


# -- selection, idempotence, errors -------------------------------------------------------------------------
@pg.model
def eight_schools(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta <~ dist.Normal(mu, tau).expand([8])
    y <~ dist.Normal(theta, sigma)
    return y


def test_named_nodes_only_and_idempotent():
    g = reparameterize(eight_schools, names=["theta"])
    assert [n for n in g.nodes if n.endswith("_decentered")] == ["theta_decentered"]
    assert g.obj("theta").expr == "mu + tau * theta_decentered"
    assert dict(g.obj("theta").info) == {
        "decentered": "theta_decentered", "prior": "dist.Normal(mu, tau).expand([8])", "reparameterized": "Normal"}
    assert reparameterize(g, names="theta").obj("theta") == g.obj("theta")
    assert set(reparameterize(g).nodes) == set(reparameterize(eight_schools).nodes)


def test_observed_nodes_are_left_alone():
    g = reparameterize(observe(eight_schools, y=jnp.zeros(8)))
    assert g.obj("y").kind == "random" and "y_decentered" not in g.nodes
    assert "theta_decentered" in g.nodes and "mu_decentered" in g.nodes


def test_standard_variables_are_not_rewritten():
    @pg.model
    def m():
        z <~ dist.Normal(0.0, 1.0).expand([3])
        return z

    assert reparameterize(m).obj("z") == m.graph.obj("z")


@pytest.mark.parametrize(
    "names, message",
    [
        (["nope"], "no such node"),
        (["tau"], "not a loc-scale family"),
        (["sigma"], "it is an argument node"),
    ],
)
def test_errors_name_the_node(names, message):
    with pytest.raises(ModelError, match=message) as info:
        reparameterize(eight_schools, names=names)
    if names != ["nope"]:
        assert info.value.node == names[0]


def test_error_for_observed_and_deterministic_nodes():
    with pytest.raises(ModelError, match="observed"):
        reparameterize(observe(eight_schools, y=jnp.zeros(8)), names=["y"])

    @pg.model
    def m():
        a <~ dist.Normal(0.0, 2.0)
        b = 2.0 * a
        return b

    with pytest.raises(ModelError, match="deterministic node"):
        reparameterize(m, names="b")
    with pytest.raises(ModelError, match=r"\.mask"):
        reparameterize(_masked, names="a")


@pg.model
def _masked():
    a <~ dist.Normal(1.0, 2.0).mask(True)
    return a


def test_registry_extends_families_and_node_kinds(monkeypatch):
    @pg.model
    def m():
        a <~ dist.Gumbel(1.0, 2.0)
        f <~ pg.factor(0.5 * a)
        return a

    assert "a_decentered" not in reparameterize(m).nodes
    from ppgraph.passes.reparam import LocScale

    monkeypatch.setitem(LOC_SCALE_FAMILIES, dist.Gumbel, LocScale((("loc", "0.0"), ("scale", "1.0"))))
    g = reparameterize(m)
    assert g.obj("a_decentered").dist == "dist.Gumbel(0.0, 1.0)"
    assert g.obj("a").expr == "1.0 + 2.0 * a_decentered"

    def factor_rule(node, graph):  # a rule for another node kind: scale every factor by 2
        if node.get_info("doubled"):
            return None
        return [node.replace(expr=f"2.0 * ({node.expr})").with_info(doubled="yes", reparameterized="factor")]

    monkeypatch.setitem(REPARAMETERIZERS, Factor, factor_rule)
    g = reparameterize(m)
    factor = next(g.objs(Factor))
    assert factor.expr.startswith("2.0 * ")
    assert reparameterize(g).nodes[factor.name]["node"] == factor
    assert isinstance(g.obj("a_decentered"), RandomVariable)


@pg.model
def keywords():
    mu <~ dist.Normal(0.0, 1.0)
    a <~ dist.Normal(mu, scale=2.0, validate_args=True).expand_by([3])
    b <~ dist.Laplace(scale=mu * mu + 1.0)
    return a


def test_keyword_parameters_validate_args_and_expand_by():
    g = reparameterize(keywords)
    assert g.obj("a_decentered").dist == (
        "dist.Normal(0.0, 1.0, validate_args=True).expand(jnp.broadcast_shapes(jnp.shape(mu))).expand_by([3])")
    assert g.obj("a").expr == "mu + 2.0 * a_decentered"
    assert g.obj("b").expr == "(mu * mu + 1.0) * b_decentered"  # loc defaults to 0
    z = {"mu": 0.5, "a_decentered": jnp.array([0.1, -0.2, 0.3]), "b_decentered": -0.7}
    out = compiled(g, "deterministics").fn(**z)
    np.testing.assert_allclose(out["a"], 0.5 + 2.0 * z["a_decentered"], rtol=1e-6)
    np.testing.assert_allclose(out["b"], 1.25 * -0.7, rtol=1e-6)


# -- learnable_centeredness (the VIP form; its density is checked in ppgraph_tests/inference/test_autoreparam.py)
@settings(derandomize=True, max_examples=20, deadline=None, database=None)
@given(model_specs(max_random=6, family_names=list(LOC_SCALE) + ["HalfNormal", "Gamma"], layers=False))
def test_learnable_centeredness_pure_idempotent_and_only_hierarchical(spec):
    import networkx as nx

    from ppgraph.passes import centeredness_candidates, learnable_centeredness
    from ppgraph_tests.passes.graphcheck import assert_graphs_equal, assert_unchanged, snapshot

    g = spec.build().graph
    before = snapshot(g)
    names = centeredness_candidates(g)
    once = learnable_centeredness(g)
    assert_unchanged(g, before)
    assert_graphs_equal(learnable_centeredness(once), once)
    assert_graphs_equal(learnable_centeredness(once, names=names), once)  # named again: nothing to do
    for name in names:  # every candidate: a loc-scale latent with a latent ancestor, rewritten with a Parameter
        assert g.nodes[name]["node"].kind == "random" and g.nodes[name]["node"].observed is None
        assert any(g.nodes[a]["node"].kind == "random" for a in nx.ancestors(g, name))
        assert once.obj(name + "_centeredness_logit").kind == "parameter"
        assert once.obj(name).kind == "deterministic"
    rewritten = {n for n in once.nodes if n.endswith("_decentered")}
    assert rewritten == {n + "_decentered" for n in names}


def test_learnable_centeredness_refuses_other_nodes_with_a_hint():
    from ppgraph.passes import learnable_centeredness

    with pytest.raises(ModelError, match="cannot learn the centredness of 'tau'.*not a loc-scale family"):
        learnable_centeredness(eight_schools, names=["tau"])
    with pytest.raises(ModelError, match="no such node"):
        learnable_centeredness(eight_schools, names=["thetta"])


# -- Gaussian random walks lifted by vectorize: non-centred into their innovations ------------------
def _walk(n: int, step_loc: str = "prev + 0.5", *, latent_scale: bool = False) -> pg.Model:
    """x0 ~ Normal(1, 2), x_i ~ Normal(<step_loc>, s) with s = 0.3 (or a latent HalfNormal)."""
    g = pg.GraphBuilder("walk")
    s = g.random("s", dist.HalfNormal, 0.5) if latent_scale else 0.3
    prev = g.random("x0", dist.Normal, 1.0, 2.0)
    for i in range(1, n):
        loc = {"prev + 0.5": prev + 0.5, "prev": prev, "0.9 * prev": 0.9 * prev,
               "tanh(prev)": g.call(jnp.tanh, prev)}[step_loc]
        prev = g.random(f"x{i}", g.call(dist.Normal, loc, s))
    g.random("last", g.call(dist.Normal, prev, 1.0))
    return g.build()


def test_a_lifted_random_walk_is_a_candidate_and_becomes_its_innovations():
    from ppgraph.passes.vectorize import vectorize

    g = vectorize(_walk(8))
    chain = "x0_to_x7"
    assert pg.passes.reparam.centeredness_candidates(g) == [chain, "last"]
    nc = reparameterize(g, names=[chain])
    assert nc.obj(chain).expr == "1.0 + jnp.cumsum(jnp.concatenate([2.0 * x0_to_x7_decentered[:1], "\
                                 "0.5 + 0.3 * x0_to_x7_decentered[1:]]))"
    assert nc.obj(chain).get_info("vectorized_of") == ",".join(f"x{i}" for i in range(8))  # names kept
    again = reparameterize(nc, names=[chain])  # idempotent
    assert set(again.nodes) == set(nc.nodes) and all(again.obj(n) == nc.obj(n) for n in nc.nodes)
    assert g.obj(chain).kind == "random"  # the input is not modified
    # forward draws against the exact walk: E[x_i] = 1 + 0.5 i, Var[x_i] = 4 + 0.09 i
    draws = pg.sample_forward(nc, jax.random.key(0), num_samples=20_000)
    x = np.asarray(draws[chain])
    i = np.arange(8)
    np.testing.assert_allclose(x.mean(0), 1.0 + 0.5 * i, atol=0.06)
    np.testing.assert_allclose(x.var(0), 4.0 + 0.09 * i, rtol=0.05)


@pytest.mark.parametrize("step_loc", ["prev + 0.5", "0.9 * prev"])
def test_the_chain_density_is_kept_by_change_of_variables(step_loc):
    # log p_z(z) = log p_x(x(z)) + log |dx/dz|, |dx/dz| = s0 * s ** (n - 1) (a triangular map)
    from ppgraph.passes.vectorize import vectorize

    n, chain = 6, "x0_to_x5"
    g = vectorize(_walk(n, step_loc, latent_scale=True))
    nc = reparameterize(g, names=[chain])
    z = jax.random.normal(jax.random.key(1), (n,))
    s = jnp.asarray(0.7)
    x = nc.obj(chain)  # evaluate the deterministic's expression with the same values
    values = pg.sample_forward(nc, jax.random.key(2), x0_to_x5_decentered=z, s=s, last=0.3)
    lp_nc = pg.logpdf(nc)(x0_to_x5_decentered=z, s=s, last=0.3)
    lp_c = pg.logpdf(g)(x0_to_x5=values[chain], s=s, last=0.3)
    assert x.kind == "deterministic"
    np.testing.assert_allclose(lp_nc, lp_c + jnp.log(2.0) + (n - 1) * jnp.log(s), rtol=1e-5)


def test_an_ar1_chain_becomes_a_linear_recurrence_of_its_innovations():
    from ppgraph.passes.reparam import is_gaussian_chain, linear_recurrence
    from ppgraph.passes.vectorize import vectorize

    g = vectorize(_walk(8, "0.9 * prev"))
    assert is_gaussian_chain(g, "x0_to_x7") and "x0_to_x7" in pg.passes.reparam.centeredness_candidates(g)
    nc = reparameterize(g, names=["x0_to_x7"])
    assert nc.obj("x0_to_x7").expr == ("_ppgraph_linear_recurrence(0.9, 1.0 + 2.0 * x0_to_x7_decentered[0], "
                                       "0.3 * x0_to_x7_decentered[1:])")
    # exact AR(1) moments: E[x_i] = 0.9**i, Var[x_i] = 4 * 0.81**i + 0.09 * (1 - 0.81**i) / 0.19
    x = np.asarray(pg.sample_forward(nc, jax.random.key(0), num_samples=20_000)["x0_to_x7"])
    i = np.arange(8)
    np.testing.assert_allclose(x.mean(0), 0.9**i, atol=0.06)
    np.testing.assert_allclose(x.var(0), 4 * 0.81**i + 0.09 * (1 - 0.81**i) / 0.19, rtol=0.05)
    # the recurrence against a loop
    a, first, inc = -0.7, 0.4, np.random.default_rng(0).normal(size=9)
    loop = [first]
    for c in inc:
        loop.append(a * loop[-1] + c)
    np.testing.assert_allclose(linear_recurrence(a, first, jnp.asarray(inc)), loop, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make_loc, a, d", [
    (lambda prev: prev - 0.5, 1.0, -0.5),
    (lambda prev: 0.5 - 0.8 * prev, -0.8, 0.5),
    (lambda prev: 0.5 - prev, -1.0, 0.5),
    (lambda prev: 0.2 + prev * 0.7, 0.7, 0.2),
])
def test_linear_steps_written_with_minus_or_on_the_right(make_loc, a, d):
    from ppgraph.passes.vectorize import vectorize

    g = pg.GraphBuilder("walk")
    prev = g.random("x0", dist.Normal, 1.0, 2.0)
    for i in range(1, 8):
        prev = g.random(f"x{i}", g.call(dist.Normal, make_loc(prev), 0.3))
    g.random("last", g.call(dist.Normal, prev, 1.0))
    nc = reparameterize(vectorize(g.build()), names=["x0_to_x7"])
    x = np.asarray(pg.sample_forward(nc, jax.random.key(0), num_samples=20_000)["x0_to_x7"])
    mean, var = [1.0], [4.0]  # x_i = a x_{i-1} + d + 0.3 z_i
    for _ in range(7):
        mean.append(a * mean[-1] + d)
        var.append(a * a * var[-1] + 0.09)
    np.testing.assert_allclose(x.mean(0), mean, atol=0.08)
    np.testing.assert_allclose(x.var(0), var, rtol=0.06)


def test_only_linear_gaussian_chains_are_rewritten_whole():
    from ppgraph.passes.vectorize import vectorize

    g = vectorize(_walk(8, "tanh(prev)"))  # lifted, but its step is not linear in the previous value
    assert "x0_to_x7" not in pg.passes.reparam.centeredness_candidates(g)
    with pytest.raises(ModelError, match="not linear in the previous value"):
        reparameterize(g, names=["x0_to_x7"])


def test_sampling_a_long_walk_non_centres_it_and_keeps_every_name():
    n = 300
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one chain: no r_hat
        post = pg.sample(_walk(n, "prev"), 0, num_warmup=300, num_samples=300, num_chains=1, progress=False)
    info = post.info["reparam"]
    assert f"x0_to_x{n - 1}" in info["noncentered"]
    assert {f"x{i}" for i in range(n)} <= set(post.samples)
    # i.i.d. innovations: short trajectories (the centred walk takes the maximum of 1023 steps per draw)
    assert np.median(np.asarray(post.stats["num_steps"])) < 64
    last = np.asarray(post.samples[f"x{n - 1}"]).ravel()
    assert last.var() == pytest.approx(4.0 + 0.09 * (n - 1), rel=0.35)  # Var[x_i] = 4 + 0.09 i
