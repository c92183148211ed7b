"""``pg.laplace``: a Gaussian approximation at the posterior mode, in unconstrained space.

:func:`laplace` finds the maximum a posteriori (MAP) point of the model's log
density in unconstrained space (the ``to_unconstrained`` pass: the density
there includes the log-det-Jacobian of every bijector) with full-batch L-BFGS
(``optax.lbfgs``), then fits a Gaussian whose precision is the negative
Hessian of the log density at the mode:

``hessian="full"``
    the dense Hessian of every latent coordinate (small models; exact for a
    Gaussian-conjugate model);
``hessian="diag"``
    only its diagonal (one Hessian-vector product per coordinate, never the
    dense matrix): a mean-field approximation for networks;
``hessian="last_layer"``
    the dense Hessian of the *last layer* of every network (the last group of
    weights, e.g. ``"2"`` of ``nn.Serial(Dense, Tanh, Dense)``) and of the
    model's other latents, the rest of the weights fixed at the MAP
    (Kristiadi et al., 2020).

Coordinates the log density does not depend on (an exactly zero row of the
Hessian: e.g. the parameters of a partially stochastic network that ``pg.fit``
trained and ``fit.model`` fixed) are left out and stay at their values.

Draws (:meth:`Laplace.sample`) are mapped back to the model's variables:
constrained values, networks as (batched) network objects, deterministic nodes
computed.  :meth:`Laplace.posterior` wraps draws as a one-chain
:class:`~ppgraph.inference.posterior.Posterior`, so ``pg.sample_predictive``,
``summary`` and ``to_arviz`` work; :meth:`Laplace.predictive` is a shortcut.
``temperature=T`` scales the covariance by ``T`` (the tempered posterior
``p ** (1 / T)``).

Examples
--------
>>> import jax, jax.numpy as jnp, ppgraph as pg
>>> from ppgraph import dist
>>> @pg.model
... def mean():
...     mu <~ dist.Normal(0.0, 1.0)
...     y <~ dist.Normal(mu, 1.0)
...     return y
>>> approx = pg.laplace(mean, 0, y=jnp.array([1.0, 2.0, 3.0]))
>>> round(float(approx.mean["mu"]), 4), round(float(approx.covariance()[0, 0]), 4)   # exact: 6/4, 1/4
(1.5, 0.25)
>>> approx.sample(1, 100)["mu"].shape
(100,)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from ..errors import ModelError
from ..ir import Graph, Layer
from ..keys import as_key
from ..model import Model, weights_of
from .posterior import Posterior
from .problem import Problem, prepare

__all__ = ["laplace", "Laplace", "HESSIANS", "last_layer_mask", "weight_paths"]

HESSIANS = ("full", "diag", "last_layer")


# ------------------------------------------------------------------------------------------------
# last layer of a network's weights
# ------------------------------------------------------------------------------------------------
def _key_name(entry: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def _order(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def weight_paths(weights: Any) -> list[str]:
    """The "/"-joined path of every leaf of a weights pytree, in flattening order.

    Examples
    --------
    >>> weight_paths({"0": {"kernel": 1.0, "bias": 2.0}, "head/kernel": 3.0})
    ['0/bias', '0/kernel', 'head/kernel']
    """
    leaves = jax.tree_util.tree_flatten_with_path(weights)[0]
    return ["/".join(_key_name(e) for e in path) for path, _ in leaves]


def last_layer_mask(weights: Any, pattern: str | None = None, *, node: str | None = None) -> Any:
    """A pytree of booleans like ``weights``: ``True`` on the leaves of the last layer.

    With ``pattern`` (an ``fnmatch`` glob over "/"-joined weight paths, e.g.
    ``"head/*"``), the leaves it matches.  Without, the weights are grouped by
    the path of their parent (a layer's ``kernel`` and ``bias`` share one) and
    the last group is taken where the order of layers is known: positions
    (``nn.Serial``, ``nnx.Sequential``, lists) compared as numbers.

    Raises
    ------
    ModelError
        When the order of the layers is not known (named attributes, e.g. a flax
        module with ``self.body`` and ``self.head``: their order in the pytree is
        alphabetical, not the order of the computation), or ``pattern`` matches
        nothing.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> w = {"0": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)},
    ...      "10": {"kernel": jnp.ones((3, 1)), "bias": jnp.ones(1)},
    ...      "2": {"kernel": jnp.ones((3, 3)), "bias": jnp.ones(3)}}
    >>> mask = last_layer_mask(w)
    >>> mask["10"]["kernel"], mask["2"]["kernel"]
    (True, False)
    >>> last_layer_mask({"body/kernel": 1.0, "head/kernel": 2.0}, "head/*")
    {'body/kernel': False, 'head/kernel': True}
    """
    import fnmatch

    paths = weight_paths(weights)
    treedef = jax.tree.structure(weights)
    if pattern is not None:
        chosen = [fnmatch.fnmatchcase(p, pattern) for p in paths]
        if not any(chosen):
            raise ModelError(f"last_layer={pattern!r} matches none of the weights {paths}", node=node,
                             hint="use a glob over these paths, e.g. 'head/*'")
        return jax.tree.unflatten(treedef, chosen)
    groups = [tuple(p.split("/")[:-1]) for p in paths]
    distinct = sorted(set(groups), key=lambda g: tuple(_order(k) for k in g))
    if len(distinct) > 1:
        a, b = distinct[-2], distinct[-1]
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        if first >= min(len(a), len(b)) or not (a[first].isdigit() and b[first].isdigit()):
            shown = ", ".join(repr("/".join(g) + "/*") for g in distinct)
            raise ModelError(
                "the last layer of this network is not known from its weights (layers named, not numbered, "
                "are stored in alphabetical order)",
                node=node,
                hint=f"name it: pg.laplace(..., hessian='last_layer', last_layer=PATTERN), one of {shown}",
            )
    last = distinct[-1]
    return jax.tree.unflatten(treedef, [g == last for g in groups])


# ------------------------------------------------------------------------------------------------
# the approximation
# ------------------------------------------------------------------------------------------------
class Laplace:
    """A Gaussian approximation of a posterior in unconstrained space (what :func:`laplace` returns).

    Attributes
    ----------
    model
        The model.
    hessian
        ``"full"``, ``"diag"`` or ``"last_layer"``.
    loc
        The MAP point: unconstrained latent name -> value (a layer's weights pytree).
    mean
        The model's latent variables and deterministic nodes at the MAP
        (constrained values; networks as network objects).  For a variable
        without a constraint this is the mean of the Gaussian.
    precision
        ``"full"`` and ``"last_layer"``: the dense precision matrix of the covered
        coordinates; ``"diag"``: the vector of its diagonal.
    covered
        Indices, in the flattened position (``jax.flatten_util.ravel_pytree(loc)``),
        of the coordinates that vary (all of them except for ``"last_layer"``).
    log_density
        The log density (unconstrained space) at the MAP.
    """

    def __init__(self, problem: Problem, loc: dict[str, Any], hessian: str, precision: jax.Array,
                 covered: np.ndarray, log_density: float, temperature: float = 1.0) -> None:
        self.problem = problem
        self.model = problem.model
        self.hessian = hessian
        self.loc = loc
        self.precision = precision
        self.covered = covered
        self.log_density = log_density
        self.temperature = float(temperature)
        self._flat, self._unravel = ravel_pytree(loc)
        if hessian == "diag":
            self._scale = jnp.sqrt(self.temperature / precision)
        else:
            self._chol = jnp.linalg.cholesky(precision)  # precision = L L^T
        self.mean = problem.constrain(loc)

    @property
    def num_parameters(self) -> int:
        """Number of coordinates the Gaussian covers."""
        return int(len(self.covered))

    def covariance(self) -> jax.Array:
        """The dense covariance of the flattened unconstrained position (zero where fixed).

        A ``(d, d)`` matrix, ``d`` the size of the whole position: for small
        models (a network's is large).
        """
        d = self._flat.size
        idx = jnp.asarray(self.covered)
        if self.hessian == "diag":
            block = jnp.diag(self._scale**2)
        else:
            block = self.temperature * jnp.linalg.inv(self.precision)
        return jnp.zeros((d, d), self._flat.dtype).at[idx[:, None], idx[None, :]].set(block)

    def sample_unconstrained(self, rng_key: Any, num_samples: int) -> dict[str, Any]:
        """Draws of the unconstrained position (leading axis ``num_samples``)."""
        key = as_key(rng_key)
        _check_count(num_samples)
        z = jax.random.normal(key, (num_samples, len(self.covered)), self._flat.dtype)
        if self.hessian == "diag":
            delta = z * self._scale
        else:  # x = mean + L^{-T} z has covariance (L L^T)^{-1}
            delta = jax.scipy.linalg.solve_triangular(self._chol, z.T, lower=True, trans="T").T
            delta = delta * math.sqrt(self.temperature)
        flat = jnp.broadcast_to(self._flat, (num_samples, self._flat.size)).at[:, jnp.asarray(self.covered)].add(delta)
        return jax.vmap(self._unravel)(flat)

    def sample(self, rng_key: Any, num_samples: int) -> dict[str, Any]:
        """``num_samples`` draws of the model's latent variables and deterministic nodes.

        Constrained values with a leading axis ``num_samples``; a network is one
        batched network object (callable; ``net[i]`` is the ``i``-th).
        """
        draws = self.sample_unconstrained(rng_key, num_samples)
        return jax.jit(jax.vmap(self.problem.constrain))(draws)

    def posterior(self, rng_key: Any, num_samples: int = 1000) -> Posterior:
        """Draws as a one-chain :class:`Posterior` (for ``pg.sample_predictive``, ``summary``, ``to_arviz``)."""
        draws = self.sample(rng_key, num_samples)
        samples = {k: jax.tree.map(lambda v: v[None], v) for k, v in draws.items()}
        return Posterior(samples, {}, model=self.problem.model, args=self.problem.args,
                         observed=self.problem.observed, kernel=f"laplace-{self.hessian}",
                         info={"laplace": self})

    def predictive(self, rng_key: Any, *args: Any, num_samples: int = 1000, **kwargs: Any) -> dict[str, Any]:
        """Posterior predictive draws (``pg.sample_predictive`` on :meth:`posterior`), shaped ``(1, num_samples, ...)``."""
        from .predictive import sample_predictive

        post_key, pred_key = jax.random.split(as_key(rng_key))
        return sample_predictive(self.model, pred_key, self.posterior(post_key, num_samples), *args, **kwargs)

    def __repr__(self) -> str:
        names = ", ".join(self.loc)
        return (f"<Laplace ({self.hessian}) of {self.model.name!r}: {self.num_parameters} of "
                f"{self._flat.size} coordinates; latents: {names}>")


def _check_count(num_samples: Any) -> None:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ModelError(f"num_samples must be a positive int, got {num_samples!r}")


# ------------------------------------------------------------------------------------------------
# the mode and the Hessian
# ------------------------------------------------------------------------------------------------
def _find_mode(logdensity: Callable[[jax.Array], jax.Array], x0: jax.Array, num_steps: int,
               tol: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Maximise ``logdensity`` with L-BFGS from ``x0``: (mode, log density there, steps taken)."""
    solver = optax.lbfgs()
    loss = lambda x: -logdensity(x)  # noqa: E731
    value_and_grad = optax.value_and_grad_from_state(loss)

    def cond(carry: tuple) -> jax.Array:
        x, state, i, gnorm = carry
        return (i < num_steps) & (gnorm > tol)

    def body(carry: tuple) -> tuple:
        x, state, i, _ = carry
        value, grad = value_and_grad(x, state=state)
        updates, state = solver.update(grad, state, x, value=value, grad=grad, value_fn=loss)
        x = optax.apply_updates(x, updates)
        return x, state, i + 1, optax.tree.norm(grad) / jnp.maximum(1.0, jnp.abs(value))

    @jax.jit
    def run(x0: jax.Array) -> tuple:
        init = (x0, solver.init(x0), jnp.asarray(0), jnp.asarray(jnp.inf, x0.dtype))
        x, _, steps, _ = jax.lax.while_loop(cond, body, init)
        return x, logdensity(x), steps

    return run(x0)


def _diag_hessian(f: Callable[[jax.Array], jax.Array], x: jax.Array, chunk: int = 64) -> jax.Array:
    """The diagonal of the Hessian of ``f`` at ``x`` by Hessian-vector products, ``chunk`` at a time."""
    d = x.size
    grad = jax.grad(f)

    def column(i: jax.Array) -> jax.Array:
        e = jnp.zeros_like(x).at[i].set(1.0)
        return jax.jvp(grad, (x,), (e,))[1][i]

    pad = (-d) % chunk
    index = jnp.concatenate([jnp.arange(d), jnp.zeros(pad, int)]).reshape(-1, chunk)
    return jax.lax.map(jax.vmap(column), index).reshape(-1)[:d]


def laplace(
    model: Model | Graph,
    rng_key: Any,
    *args: Any,
    hessian: str = "full",
    last_layer: str | None = None,
    init: Any = None,
    num_steps: int = 1000,
    tol: float = 1e-6,
    temperature: float = 1.0,
    **observed: Any,
) -> Laplace:
    """A Laplace approximation of the posterior at its mode, in unconstrained space.

    Parameters
    ----------
    model
        A model (or graph); every unobserved random variable and layer must be
        continuous.
    rng_key
        A ``jax.random`` key or an ``int`` seed (the starting point of the search).
    *args, **observed
        The model's arguments and observed values, as for ``pg.sample``.
    hessian
        ``"full"``, ``"diag"`` or ``"last_layer"`` (see the module docstring).
    last_layer
        For ``hessian="last_layer"``: an ``fnmatch`` glob over the "/"-joined
        weight paths of the networks choosing the last layer (``"head/*"``);
        ``None``: the last of the numbered layers (see :func:`last_layer_mask`).
    init
        Where the search for the mode starts: ``None`` (uniform in (-2, 2) in
        unconstrained space, as ``pg.sample``; layer weights from the layer's
        initialiser), a dict of unconstrained values (partial dicts are filled
        in), or the result of ``pg.fit`` (its trained weights and variational
        means: Laplace around a network trained with minibatches).
    num_steps, tol
        At most ``num_steps`` L-BFGS steps; stop when the gradient norm divided
        by ``max(1, |log density|)`` falls below ``tol``.
    temperature
        Approximate ``p(z | data) ** (1 / temperature)``: the covariance is multiplied by it.

    Returns
    -------
    Laplace
        ``.mean``, ``.loc``, ``.sample(rng_key, num_samples)``, ``.covariance()``,
        ``.posterior(rng_key, num_samples)``, ``.predictive(rng_key, ...)``.

    Raises
    ------
    ModelError
        An unknown ``hessian``; a discrete latent; no network for
        ``"last_layer"``; a Hessian at the end of the search that is not negative
        definite (not a mode: raise ``num_steps`` or start elsewhere) or a log
        density that is not finite there.
    """
    if hessian not in HESSIANS:
        raise ModelError(f"unknown hessian {hessian!r}", hint=f"use one of {', '.join(map(repr, HESSIANS))}")
    if last_layer is not None and hessian != "last_layer":
        raise ModelError(f"last_layer={last_layer!r} is an option of hessian='last_layer', not of {hessian!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not 0 < temperature < math.inf:
        raise ModelError(f"temperature must be a positive number, got {temperature!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
        raise ModelError(f"num_steps must be a non-negative int, got {num_steps!r}")
    key = as_key(rng_key)
    problem = prepare(model, args, observed, passes=("to_unconstrained",))
    start = _start(problem, key, init)
    x0, unravel = ravel_pytree(start)
    logdensity = lambda x: problem.logdensity(unravel(x))  # noqa: E731
    x, lp, _ = _find_mode(logdensity, x0, num_steps, tol)
    if not bool(jnp.isfinite(lp)) or not bool(jnp.all(jnp.isfinite(x))):
        raise problem.diagnose(unravel(x))
    loc = unravel(x)

    if hessian == "last_layer":
        covered = _last_layer_indices(problem, loc, last_layer)
    else:
        covered = np.arange(x.size)
    idx = jnp.asarray(covered)
    sub = lambda s: logdensity(x.at[idx].set(s))  # noqa: E731
    if hessian == "diag":
        precision = -_diag_hessian(logdensity, x)
        active = np.asarray(precision != 0)
        covered, precision = covered[active], precision[jnp.asarray(active)]
        _check_positive(problem, unravel, precision, covered, x)
    else:
        precision = -jax.jit(jax.hessian(sub))(x[idx])
        precision = (precision + precision.T) / 2
        active = np.asarray(jnp.any(precision != 0, axis=1))
        covered, precision = covered[active], precision[jnp.asarray(active)][:, jnp.asarray(active)]
    if not covered.size:
        raise ModelError("the log density does not depend on any of the coordinates to approximate",
                         model=problem.model.name)
    if hessian != "diag":
        if not bool(jnp.all(jnp.isfinite(jnp.linalg.cholesky(precision)))):
            eig = np.linalg.eigvalsh(np.asarray(precision))
            raise ModelError(
                f"the negative Hessian of the log density at the end of the search is not positive definite "
                f"(smallest eigenvalue {eig[0]:.3g}): not a mode, or the posterior is flat in some direction",
                model=problem.model.name,
                hint="raise num_steps, start from a trained network (init=pg.fit(...)), or use hessian='diag' "
                "or 'last_layer'",
            )
    return Laplace(problem, loc, hessian, precision, covered, float(lp), temperature)


def _start(problem: Problem, key: jax.Array, init: Any) -> dict[str, Any]:
    """The starting point of the search: ``pg.sample``'s uniform start, layers from their initialiser, ``init``."""
    from .fit_problem import FitProblem

    start = jax.tree.map(lambda v: v[0], problem.initial_positions(key, 1))
    layers = [n for n in problem.latents if isinstance(problem.graph.obj(n), Layer)]
    given: dict[str, Any] = {}
    if init is not None and hasattr(init, "weights") and hasattr(init, "posterior"):  # a FitResult
        given = {**dict(getattr(init.posterior, "loc", {})), **init.weights}
    elif isinstance(init, dict):
        given = dict(init)
    elif init is not None:
        raise ModelError(f"init must be None, a dict of unconstrained values or a pg.fit result, got "
                         f"{type(init).__name__}")
    if layers and not all(n in given for n in layers):
        fitting = FitProblem.build(problem.model, (), {**problem.args, **problem.observed}, bounded=False)
        params = fitting.init(jax.random.fold_in(key, 1))["params"]
        start.update({n: params[n] for n in layers if n in params})
    unknown = sorted(set(given) - set(problem.latents))
    if unknown:
        raise ModelError(f"init names {unknown}, which are not latent variables of the model in "
                         f"unconstrained space", model=problem.model.name,
                         hint=f"the latents are {list(problem.latents)}")
    for name, value in given.items():
        value = weights_of(value)
        shape = jax.tree.map(jnp.shape, start[name])
        if jax.tree.structure(value) != jax.tree.structure(start[name]) or jax.tree.map(jnp.shape, value) != shape:
            raise ModelError(f"init value of '{name}' does not match its shape {shape}", node=name,
                             model=problem.model.name)
        start[name] = jax.tree.map(lambda v, s: jnp.asarray(v, jnp.result_type(s)), value, start[name])
    return start


def _last_layer_indices(problem: Problem, loc: dict[str, Any], pattern: str | None) -> np.ndarray:
    layers = [n for n in problem.latents if isinstance(problem.graph.obj(n), Layer)]
    if not layers:
        raise ModelError("hessian='last_layer' needs a network (a layer node), and the model has none",
                         model=problem.model.name, hint="use hessian='full' or 'diag'")
    mask = {n: (last_layer_mask(v, pattern, node=n) if n in layers else jax.tree.map(lambda _: True, v))
            for n, v in loc.items()}
    masks = jax.tree.map(lambda m, v: jnp.full(jnp.shape(v), m, bool), mask, loc)
    flat, _ = ravel_pytree(masks)
    return np.flatnonzero(np.asarray(flat))


def _check_positive(problem: Problem, unravel: Callable, precision: jax.Array, covered: np.ndarray,
                    x: jax.Array) -> None:
    bad = ~(precision > 0)
    if not bool(jnp.any(bad)):
        return
    where = jax.tree.map(lambda b: bool(jnp.any(b)), unravel(jnp.zeros_like(x).at[covered].set(bad.astype(x.dtype))))
    names = [n for n, b in where.items() if any(jax.tree.leaves(b))]
    raise ModelError(
        f"the Hessian diagonal of the log density is not negative at the end of the search for "
        f"{int(bad.sum())} coordinate(s) (of {', '.join(map(repr, names))}): not a mode",
        node=names[0] if names else None,
        model=problem.model.name,
        hint="raise num_steps, or start from a trained network (init=pg.fit(...))",
    )
