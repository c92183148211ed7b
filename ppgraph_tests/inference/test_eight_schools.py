"""Eight schools: the centred model and its non-centred rewrite have the same posterior means."""

from __future__ import annotations

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppgraph as pg
from ppgraph.inference import NUTS
from ppgraph.passes import reparameterize

from . import inference_models as M

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
Y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ppgraph.inference.SamplingWarning")
def test_centred_and_non_centred_agree():
    runs = {}
    for label, model in (("centred", M.eight_schools_centred),
                         ("non-centred", reparameterize(M.eight_schools_centred, names=["theta"]))):
        runs[label] = pg.sample(model, jax.random.key(8), SIGMA, y=Y, num_warmup=1000, num_samples=1000,
                                num_chains=4, kernel=NUTS(target_accept=0.95), progress=False)
    c, nc = runs["centred"], runs["non-centred"]
    assert set(c.samples) == {"mu", "tau", "theta"} and set(nc.samples) == {"mu", "tau", "theta", "theta_decentered"}
    assert int(nc.stats["diverging"].sum()) < int(c.stats["diverging"].sum()) + 1
    for name in ("mu", "tau", "theta"):
        a, b = np.asarray(c.samples[name]), np.asarray(nc.samples[name])
        a, b = a.reshape(4, 1000, -1), b.reshape(4, 1000, -1)
        for i in range(a.shape[-1]):
            se = np.hypot(float(az.mcse(a[..., i])), float(az.mcse(b[..., i])))
            assert abs(a[..., i].mean() - b[..., i].mean()) < 5 * se, (name, i, a[..., i].mean(), b[..., i].mean(), se)
    # the reference posterior mean of mu is about 4.4 (posteriordb eight_schools)
    assert abs(float(nc.samples["mu"].mean()) - 4.4) < 0.5
