"""The Evaluator protocol: the example random-walk Metropolis, custom passes, what run() receives."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import ppgraph as pg
from ppgraph.inference import Draws, Evaluator, Problem

from . import inference_models as M

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_evaluator.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("example_custom_evaluator", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_example_random_walk_metropolis_recovers_the_beta_posterior(capsys):
    example = _load_example()
    assert isinstance(example.RandomWalkMetropolis(), Evaluator)
    out = example.main()
    post = out["posterior"]
    assert post.kernel == "rwm" and post.samples["p"].shape == (4, 2000)
    p = np.asarray(post.samples["p"])
    oracle = scipy.stats.beta(2 + 36, 2 + 14)
    assert abs(p.mean() - oracle.mean()) < 4 * float(az.mcse(p))
    assert abs(p.std() - oracle.std()) < 4 * float(az.mcse(p, method="sd"))
    assert 0.2 < float(post.stats["accepted"].mean()) < 0.8
    assert "exact 0.704" in capsys.readouterr().out


class Recorder:
    """An evaluator that records what it is given and returns each chain's initial point."""

    name = "recorder"

    def __init__(self, passes):
        self.passes = passes
        self.seen = {}

    def run(self, problem, rng_key, initial_position, *, num_warmup, num_samples, progress):
        self.seen.update(problem=problem, initial=initial_position, counts=(num_warmup, num_samples, progress))
        constrained = jax.vmap(problem.constrain)(initial_position)
        samples = jax.tree.map(lambda v: jnp.repeat(v[:, None], num_samples, axis=1), constrained)
        return Draws(samples, {})


def _double_scale(graph):
    """A user pass: every HalfNormal(1.0) prior becomes HalfNormal(2.0)."""
    from ppgraph.ir import RandomVariable
    from ppgraph.passes import rewrite_nodes

    def rule(node, g):
        if isinstance(node, RandomVariable) and node.dist == "dist.HalfNormal(1.0)":
            return [node.replace(dist="dist.HalfNormal(2.0)")]
        return None

    return rewrite_nodes(graph, rule)


def test_passes_are_applied_in_order_and_run_gets_the_problem():
    ev = Recorder(passes=(_double_scale, "to_unconstrained"))
    post = pg.sample(M.traced, jax.random.key(3), 1.0, y=0.2, num_warmup=7, num_samples=4, num_chains=3,
                     kernel=ev, progress=False)
    problem = ev.seen["problem"]
    assert isinstance(problem, Problem)
    assert problem.latents == ("mu", "tau_unconstrained")
    assert problem.graph.obj("tau").get_info("prior") == "dist.HalfNormal(2.0)"
    assert ev.seen["counts"] == (7, 4, False)
    init = ev.seen["initial"]
    assert init["mu"].shape == (3,) and np.all(np.abs(np.asarray(init["mu"])) < 2)
    # the density handed over is the transformed model's: HalfNormal(2) on tau, log-Jacobian included
    position = {"mu": jnp.array(0.1), "tau_unconstrained": jnp.array(0.3)}
    tau = np.exp(0.3)
    expected = (scipy.stats.norm.logpdf(0.1) + scipy.stats.halfnorm.logpdf(tau, scale=2.0) + 0.3
                + scipy.stats.norm.logpdf(0.2, 0.1, 1.0 * tau))
    np.testing.assert_allclose(float(problem.logdensity(position)), expected, rtol=1e-5)
    assert post.samples["tau"].shape == (3, 4)
    np.testing.assert_allclose(post.samples["tau"][:, 0], np.exp(np.asarray(init["tau_unconstrained"])), rtol=1e-5)


def test_a_non_evaluator_is_refused():
    with pytest.raises(pg.ModelError, match="Evaluator"):
        pg.sample(M.traced, jax.random.key(0), 1.0, y=0.2, kernel=object(), progress=False)
