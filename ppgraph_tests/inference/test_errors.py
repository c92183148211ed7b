"""pg.sample's errors: each names the node and says how to fix it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import ppgraph as pg
from ppgraph.errors import SupportError
from ppgraph_tests.conftest import line_of

from . import inference_models as M

KEY = jax.random.key(0)
TINY = dict(num_warmup=10, num_samples=5, num_chains=1, progress=False)


def _raises(cls, match, *args, **kwargs):
    with pytest.raises(cls, match=match) as info:
        pg.sample(*args, **{**TINY, **kwargs})
    return info.value


def test_observed_count_outside_support():
    err = _raises(SupportError, "outside the support of Poisson", M.poisson_rate, KEY, k=jnp.array([1, 2, -1, 3]))
    line = line_of(M.__file__, "k <~", after="def poisson_rate(")
    assert err.node == "k" and err.location == f"inference_models.py:{line}"
    assert "-1" in str(err) and "index (2,)" in str(err) and err.hint


def test_observed_value_outside_static_support_below_a_latent_parent():
    err = _raises(SupportError, "outside the support of Beta", M.beta_obs, KEY, x=jnp.array([0.2, 1.5, 0.3]))
    assert err.node == "x" and "1.5" in str(err)


def test_fractional_floats_for_a_count_distribution():
    err = _raises(SupportError, "dtype float32 and has non-integer values", M.poisson_rate, KEY,
                  k=jnp.array([1.5, 2.0, 0.0, 1.0]))
    assert err.node == "k" and "Poisson is a distribution over integers" in str(err)
    assert "dtype=jnp.int32" in err.hint


def test_float_indices_for_categorical():
    err = _raises(SupportError, "cannot be used as integers", M.categorical_obs, KEY,
                  c=jnp.array([0.0, 1.0, 2.0, 1.0]))
    assert err.node == "c"


@pytest.mark.filterwarnings("ignore::ppgraph.inference.SamplingWarning")
def test_integral_floats_for_a_count_distribution_are_accepted():
    post = pg.sample(M.poisson_rate, KEY, k=jnp.array([1.0, 2.0, 0.0, 3.0]), **TINY)
    assert post.samples["rate"].shape == (1, 5)


def test_missing_argument():
    err = _raises(pg.ModelError, "missing argument", M.normal_normal, KEY, y=jnp.zeros(3))
    assert err.node == "m0" and "m0=..." in err.hint


def test_unknown_keyword():
    _raises(pg.ModelError, "'yy', which is not a node", M.beta_binomial, KEY, 2.0, 3.0, 20, yy=3)


def test_non_finite_log_density_at_initialisation_names_the_node():
    err = _raises(pg.ModelError, "not finite at 20 random initial value", M.impossible, KEY)
    assert err.node == "wall" and "the term of 'wall' is -inf" in str(err)
    assert "factor" in err.hint


def test_invalid_distribution_parameter_names_the_node():
    # checked against NumPyro's arg_constraints before compiling (ppgraph.datachecks)
    err = _raises(SupportError, "parameter 'scale' .argument 'scale'. violates its constraint .positive.: "
                  "its value is -1", M.bad_scale, KEY, -1.0, y=0.5)
    assert err.node == "y" and "dist.Normal(mu, scale)" in str(err) and "_ppgraph" not in str(err)


def test_discrete_latent_variable_without_marginalisation():
    err = _raises(pg.ModelError, "'k' is a discrete latent variable", M.discrete_latent, KEY, 0.3, y=0.5,
                  marginalize=False)
    assert err.node == "k"
    assert "observe it" in err.hint and "marginalize=True" in err.hint and "pg.factor" in err.hint


def test_discrete_latent_variable_is_summed_out_by_default():
    # y = 0.5 is equally likely under k = 0 and k = 1 (Normal(0, 1) vs Normal(1, 1)), so the
    # exact posterior of k is its prior: P(k = 1 | y) = p = 0.3.
    post = pg.sample(M.discrete_latent, KEY, 0.3, y=0.5, num_warmup=10, num_samples=4000, num_chains=2,
                     progress=False)
    k = jnp.asarray(post.samples["k"])
    assert k.shape == (2, 4000)
    assert abs(float(k.mean()) - 0.3) < 0.03


def test_everything_observed():
    _raises(pg.ModelError, "no latent random variable", M.beta_binomial.graph.copy(), KEY, 2.0, 3.0, 20, k=3,
            p=0.5)
