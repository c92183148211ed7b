"""The benchmark models, each written three ways: ppgraph, hand-written JAX and NumPyro.

Every model comes as a :class:`Case`: synthetic data from a fixed seed, the
ppgraph model, hand-written JAX log densities (constrained and unconstrained
space, written with ``jax.scipy.stats``), the equivalent NumPyro model, and
which names are parameters and which are data.  All three implementations take
the data as *arguments*, so none of them has it baked into the compiled program
as a constant (NumPyro's ``potential_fn`` is the exception: it closes over the
model arguments, which is how NumPyro users get it).

Examples
--------
>>> case = CASES["eight_schools"]()
>>> sorted(case.init)
['mu', 'tau', 'theta_t']
>>> float(case.handwritten(case.init, case.data)) == float(
...     case.ppgraph_logpdf()(**case.data, **case.init))  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
from jax.scipy import stats

import ppgraph as pg
from ppgraph import dist

__all__ = ["Case", "CASES", "eight_schools", "logistic_regression", "hierarchical_linear"]

Params = dict[str, Any]

LOG2 = float(np.log(2.0))


@dataclass
class Case:
    """One benchmark model in every implementation, with its data.

    Attributes
    ----------
    name
        Short name used in the report.
    description
        One line for the report.
    model
        The ppgraph model.
    source
        The undecorated model function (``pg.model(source)`` parses it again).
    data
        Model arguments and observed values, keyword names as the ppgraph model uses them.
    init
        A point in the constrained parameter space (parameter name -> array).
    handwritten
        ``f(params, data) -> log density`` in constrained space (hand-written JAX).
    handwritten_unconstrained
        The same density in unconstrained space (``log`` transform of positive
        parameters, log-Jacobian included), parameters named ``<name>_unconstrained``
        for transformed ones (the names ppgraph's ``to_unconstrained`` uses).
    handwritten_dists
        ``f(params, data)`` in constrained space, hand-written with
        ``numpyro.distributions`` log densities (what ppgraph's generated code calls):
        separates the cost of the density library from the cost of code generation.
    numpyro_model
        The equivalent NumPyro model, called as ``numpyro_model(**numpyro_data)``.
    numpyro_data
        Keyword arguments of ``numpyro_model``.
    positive
        Names of the positive (log-transformed) parameters.
    """

    name: str
    description: str
    model: pg.Model
    source: Callable[..., Any]
    data: dict[str, Any]
    init: Params
    handwritten: Callable[[Params, dict[str, Any]], Any]
    handwritten_unconstrained: Callable[[Params, dict[str, Any]], Any]
    handwritten_dists: Callable[[Params, dict[str, Any]], Any]
    numpyro_model: Callable[..., None]
    numpyro_data: dict[str, Any]
    positive: tuple[str, ...] = field(default_factory=tuple)

    def init_unconstrained(self) -> Params:
        """``init`` mapped to unconstrained space, named as ppgraph's ``to_unconstrained`` names it."""
        out = {}
        for name, value in self.init.items():
            if name in self.positive:
                out[f"{name}_unconstrained"] = jnp.log(value)
            else:
                out[name] = value
        return out

    def init_numpyro(self) -> Params:
        """``init`` in NumPyro's unconstrained space (site names unchanged)."""
        return {k.removesuffix("_unconstrained"): v for k, v in self.init_unconstrained().items()}


def _halfcauchy_logpdf(x: Any, scale: float) -> Any:
    return LOG2 + stats.cauchy.logpdf(x, 0.0, scale)


def _halfnormal_logpdf(x: Any, scale: float) -> Any:
    return LOG2 + stats.norm.logpdf(x, 0.0, scale)


# -- eight schools (non-centred) ----------------------------------------------------------
# Model functions are kept undecorated (``*_source``) so the startup benchmark can time
# parsing; they are written in the model language and are not meant to be called.


def eight_schools_model_source(sigma):
    mu <~ dist.Normal(0.0, 5.0)
    tau <~ dist.HalfCauchy(5.0)
    theta_t <~ dist.Normal(0.0, 1.0).expand([8])
    theta = mu + tau * theta_t
    y <~ dist.Normal(theta, sigma)
    return y


eight_schools_model = pg.model(eight_schools_model_source, name="eight_schools")


def _eight_schools_numpyro(sigma, y=None):
    mu = numpyro.sample("mu", nd.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", nd.HalfCauchy(5.0))
    theta_t = numpyro.sample("theta_t", nd.Normal(0.0, 1.0).expand([8]))
    numpyro.sample("y", nd.Normal(mu + tau * theta_t, sigma), obs=y)


def _eight_schools_lp(p: Params, d: dict[str, Any]) -> Any:
    theta = p["mu"] + p["tau"] * p["theta_t"]
    return (
        stats.norm.logpdf(p["mu"], 0.0, 5.0)
        + _halfcauchy_logpdf(p["tau"], 5.0)
        + jnp.sum(stats.norm.logpdf(p["theta_t"]))
        + jnp.sum(stats.norm.logpdf(d["y"], theta, d["sigma"]))
    )


def _eight_schools_lp_unc(p: Params, d: dict[str, Any]) -> Any:
    tau_u = p["tau_unconstrained"]
    tau = jnp.exp(tau_u)
    theta = p["mu"] + tau * p["theta_t"]
    return (
        stats.norm.logpdf(p["mu"], 0.0, 5.0)
        + _halfcauchy_logpdf(tau, 5.0)
        + tau_u
        + jnp.sum(stats.norm.logpdf(p["theta_t"]))
        + jnp.sum(stats.norm.logpdf(d["y"], theta, d["sigma"]))
    )


def _eight_schools_lp_dists(p: Params, d: dict[str, Any]) -> Any:
    theta = p["mu"] + p["tau"] * p["theta_t"]
    return (
        nd.Normal(0.0, 5.0).log_prob(p["mu"])
        + nd.HalfCauchy(5.0).log_prob(p["tau"])
        + jnp.sum(nd.Normal(0.0, 1.0).log_prob(p["theta_t"]))
        + jnp.sum(nd.Normal(theta, d["sigma"]).log_prob(d["y"]))
    )


def eight_schools() -> Case:
    """Rubin's eight schools, non-centred (10 parameters)."""
    y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    sigma = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    return Case(
        name="eight_schools",
        description="eight schools, non-centred (10 parameters)",
        model=eight_schools_model,
        source=eight_schools_model_source,
        data={"sigma": sigma, "y": y},
        init={"mu": jnp.array(1.0), "tau": jnp.array(2.0), "theta_t": jnp.linspace(-1.0, 1.0, 8)},
        handwritten=_eight_schools_lp,
        handwritten_unconstrained=_eight_schools_lp_unc,
        handwritten_dists=_eight_schools_lp_dists,
        numpyro_model=_eight_schools_numpyro,
        numpyro_data={"sigma": sigma, "y": y},
        positive=("tau",),
    )


# -- logistic regression ------------------------------------------------------------------


def logistic_regression_model_source(X):
    alpha <~ dist.Normal(0.0, 5.0)
    beta <~ dist.Normal(0.0, 1.0).expand([X.shape[1]])
    logits = alpha + X @ beta
    y <~ dist.Bernoulli(logits=logits)
    return y


logistic_regression_model = pg.model(logistic_regression_model_source, name="logistic_regression")


def _logistic_numpyro(X, y=None):
    alpha = numpyro.sample("alpha", nd.Normal(0.0, 5.0))
    beta = numpyro.sample("beta", nd.Normal(0.0, 1.0).expand([X.shape[1]]))
    numpyro.sample("y", nd.Bernoulli(logits=alpha + X @ beta), obs=y)


def _logistic_lp(p: Params, d: dict[str, Any]) -> Any:
    logits = p["alpha"] + d["X"] @ p["beta"]
    return (
        stats.norm.logpdf(p["alpha"], 0.0, 5.0)
        + jnp.sum(stats.norm.logpdf(p["beta"]))
        + jnp.sum(d["y"] * logits - jax.nn.softplus(logits))
    )


def _logistic_lp_dists(p: Params, d: dict[str, Any]) -> Any:
    logits = p["alpha"] + d["X"] @ p["beta"]
    return (
        nd.Normal(0.0, 5.0).log_prob(p["alpha"])
        + jnp.sum(nd.Normal(0.0, 1.0).log_prob(p["beta"]))
        + jnp.sum(nd.Bernoulli(logits=logits).log_prob(d["y"]))
    )


def logistic_regression(n: int = 5000, d: int = 20, seed: int = 0) -> Case:
    """Logistic regression on synthetic data (N=5000, D=20, fixed seed; 21 parameters)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    beta = rng.normal(size=d).astype(np.float32)
    logits = 0.5 + X @ beta
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    X, y = jnp.asarray(X), jnp.asarray(y)
    return Case(
        name="logistic_regression",
        description=f"logistic regression, N={n}, D={d}, synthetic data (seed {seed}; {d + 1} parameters)",
        model=logistic_regression_model,
        source=logistic_regression_model_source,
        data={"X": X, "y": y},
        init={"alpha": jnp.array(0.1), "beta": jnp.full(d, 0.1)},
        handwritten=_logistic_lp,
        handwritten_unconstrained=_logistic_lp,
        handwritten_dists=_logistic_lp_dists,
        numpyro_model=_logistic_numpyro,
        numpyro_data={"X": X, "y": y},
    )


# -- hierarchical linear model ------------------------------------------------------------


def hierarchical_linear_model_source(x, group, num_groups):
    mu_a <~ dist.Normal(0.0, 5.0)
    tau_a <~ dist.HalfNormal(2.5)
    a_t <~ dist.Normal(0.0, 1.0).expand([num_groups])
    mu_b <~ dist.Normal(0.0, 5.0)
    tau_b <~ dist.HalfNormal(2.5)
    b_t <~ dist.Normal(0.0, 1.0).expand([num_groups])
    sigma <~ dist.HalfNormal(2.5)
    a = mu_a + tau_a * a_t
    b = mu_b + tau_b * b_t
    y <~ dist.Normal(a[group] + b[group] * x, sigma)
    return y


hierarchical_linear_model = pg.model(hierarchical_linear_model_source, name="hierarchical_linear")


def _hierarchical_numpyro(x, group, num_groups, y=None):
    mu_a = numpyro.sample("mu_a", nd.Normal(0.0, 5.0))
    tau_a = numpyro.sample("tau_a", nd.HalfNormal(2.5))
    a_t = numpyro.sample("a_t", nd.Normal(0.0, 1.0).expand([num_groups]))
    mu_b = numpyro.sample("mu_b", nd.Normal(0.0, 5.0))
    tau_b = numpyro.sample("tau_b", nd.HalfNormal(2.5))
    b_t = numpyro.sample("b_t", nd.Normal(0.0, 1.0).expand([num_groups]))
    sigma = numpyro.sample("sigma", nd.HalfNormal(2.5))
    a = mu_a + tau_a * a_t
    b = mu_b + tau_b * b_t
    numpyro.sample("y", nd.Normal(a[group] + b[group] * x, sigma), obs=y)


def _hierarchical_core(p: Params, d: dict[str, Any], tau_a: Any, tau_b: Any, sigma: Any) -> Any:
    a = p["mu_a"] + tau_a * p["a_t"]
    b = p["mu_b"] + tau_b * p["b_t"]
    g = d["group"]
    return (
        stats.norm.logpdf(p["mu_a"], 0.0, 5.0)
        + _halfnormal_logpdf(tau_a, 2.5)
        + jnp.sum(stats.norm.logpdf(p["a_t"]))
        + stats.norm.logpdf(p["mu_b"], 0.0, 5.0)
        + _halfnormal_logpdf(tau_b, 2.5)
        + jnp.sum(stats.norm.logpdf(p["b_t"]))
        + _halfnormal_logpdf(sigma, 2.5)
        + jnp.sum(stats.norm.logpdf(d["y"], a[g] + b[g] * d["x"], sigma))
    )


def _hierarchical_lp(p: Params, d: dict[str, Any]) -> Any:
    return _hierarchical_core(p, d, p["tau_a"], p["tau_b"], p["sigma"])


def _hierarchical_lp_unc(p: Params, d: dict[str, Any]) -> Any:
    u = (p["tau_a_unconstrained"], p["tau_b_unconstrained"], p["sigma_unconstrained"])
    return _hierarchical_core(p, d, *(jnp.exp(v) for v in u)) + sum(u)


def _hierarchical_lp_dists(p: Params, d: dict[str, Any]) -> Any:
    a = p["mu_a"] + p["tau_a"] * p["a_t"]
    b = p["mu_b"] + p["tau_b"] * p["b_t"]
    g = d["group"]
    return (
        nd.Normal(0.0, 5.0).log_prob(p["mu_a"])
        + nd.HalfNormal(2.5).log_prob(p["tau_a"])
        + jnp.sum(nd.Normal(0.0, 1.0).log_prob(p["a_t"]))
        + nd.Normal(0.0, 5.0).log_prob(p["mu_b"])
        + nd.HalfNormal(2.5).log_prob(p["tau_b"])
        + jnp.sum(nd.Normal(0.0, 1.0).log_prob(p["b_t"]))
        + nd.HalfNormal(2.5).log_prob(p["sigma"])
        + jnp.sum(nd.Normal(a[g] + b[g] * d["x"], p["sigma"]).log_prob(d["y"]))
    )


def hierarchical_linear(num_groups: int = 20, per_group: int = 50, seed: int = 1) -> Case:
    """Varying intercepts and slopes, non-centred (20 groups x 50 observations; 45 parameters)."""
    rng = np.random.default_rng(seed)
    n = num_groups * per_group
    group = np.repeat(np.arange(num_groups), per_group).astype(np.int32)
    x = rng.normal(size=n).astype(np.float32)
    a = 1.0 + 0.7 * rng.normal(size=num_groups)
    b = -0.5 + 0.4 * rng.normal(size=num_groups)
    y = (a[group] + b[group] * x + 0.8 * rng.normal(size=n)).astype(np.float32)
    x, y, group = jnp.asarray(x), jnp.asarray(y), jnp.asarray(group)
    init = {
        "mu_a": jnp.array(0.5), "tau_a": jnp.array(1.0), "a_t": jnp.linspace(-1, 1, num_groups),
        "mu_b": jnp.array(0.0), "tau_b": jnp.array(0.5), "b_t": jnp.linspace(1, -1, num_groups),
        "sigma": jnp.array(1.2),
    }
    return Case(
        name="hierarchical_linear",
        description=f"hierarchical linear model, varying intercepts and slopes, non-centred "
        f"({num_groups} groups x {per_group} obs; {2 * num_groups + 5} parameters)",
        model=hierarchical_linear_model,
        source=hierarchical_linear_model_source,
        # num_groups is a Python int: ppgraph's logpdf treats it as static, like NumPyro's closure
        data={"x": x, "group": group, "num_groups": num_groups, "y": y},
        init=init,
        handwritten=_hierarchical_lp,
        handwritten_unconstrained=_hierarchical_lp_unc,
        handwritten_dists=_hierarchical_lp_dists,
        numpyro_model=_hierarchical_numpyro,
        numpyro_data={"x": x, "group": group, "num_groups": num_groups, "y": y},
        positive=("tau_a", "tau_b", "sigma"),
    )


CASES: dict[str, Callable[[], Case]] = {
    "eight_schools": eight_schools,
    "logistic_regression": logistic_regression,
    "hierarchical_linear": hierarchical_linear,
}
