"""``Posterior``: the draws of ``pg.sample`` with their statistics, summary and ArviZ view.

Examples
--------
>>> import numpy as np
>>> post = Posterior({"mu": np.zeros((2, 3))}, {"diverging": np.zeros((2, 3), bool)})
>>> post.num_chains, post.num_draws, post["mu"].shape
(2, 3, (2, 3))
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Posterior", "Summary", "SamplingWarning", "diagnostics_warnings", "ARVIZ_STATS"]

# ppgraph statistic name -> ArviZ sample_stats name
ARVIZ_STATS = {
    "diverging": "diverging",
    "acceptance_rate": "acceptance_rate",
    "step_size": "step_size",
    "num_steps": "n_steps",
    "tree_depth": "tree_depth",
    "energy": "energy",
    "lp": "lp",
}


class SamplingWarning(UserWarning):
    """A sampler diagnostic: divergent transitions or r_hat above 1.01."""


class Summary(pd.DataFrame):
    """A ``pandas.DataFrame`` that prints every column (no ``...``)."""

    @property
    def _constructor(self) -> type:
        return Summary

    def __repr__(self) -> str:
        return self.to_string()

    __str__ = __repr__


class Posterior:
    """Posterior draws of a model.

    Attributes
    ----------
    samples
        Name -> array ``(chains, draws, ...)`` for every latent random variable and
        deterministic node, in constrained space.
    stats
        Sampler statistics, name -> array ``(chains, draws)``: ``diverging``,
        ``acceptance_rate``, ``step_size``, ``num_steps``, ``tree_depth`` (NUTS),
        ``energy``, ``lp`` (log density in the sampler's space).
    model, args, observed
        The model, its arguments and the observed values of the run; reused by
        ``pg.sample_predictive``.
    info
        Other results of the evaluator (e.g. ``info["adaptation"]``: step sizes
        and inverse mass matrices per chain).
    """

    def __init__(
        self,
        samples: dict[str, Any],
        stats: dict[str, Any] | None = None,
        *,
        model: Any = None,
        args: dict[str, Any] | None = None,
        observed: dict[str, Any] | None = None,
        kernel: str = "",
        info: dict[str, Any] | None = None,
    ) -> None:
        self.samples = dict(samples)
        self.stats = dict(stats or {})
        self.model = model
        self.args = dict(args or {})
        self.observed = dict(observed or {})
        self.kernel = kernel
        self.info = dict(info or {})

    def _leading_shape(self) -> tuple[int, ...]:
        # the first value may be a sampled network (a pytree): use its first array leaf
        import jax

        return np.shape(jax.tree_util.tree_leaves(next(iter(self.samples.values())))[0])

    @property
    def num_chains(self) -> int:
        """Number of chains."""
        return int(self._leading_shape()[0])

    @property
    def num_draws(self) -> int:
        """Number of draws per chain."""
        return int(self._leading_shape()[1])

    def __getitem__(self, name: str) -> Any:
        return self.samples[name]

    def __repr__(self) -> str:
        model = getattr(self.model, "name", None)
        names = ", ".join(self.samples)
        return (f"<Posterior of {model!r}: {self.num_chains} chains x {self.num_draws} draws"
                f"{f' ({self.kernel})' if self.kernel else ''}; variables: {names}>")

    def to_arviz(self) -> Any:
        """An ``arviz.InferenceData`` with ``posterior``, ``sample_stats`` and ``observed_data`` groups."""
        import arviz as az

        posterior = {k: _numpy(v) for k, v in self.samples.items() if _is_array(v)}
        stats = {ARVIZ_STATS.get(k, k): _numpy(v) for k, v in self.stats.items()}
        observed = {k: _numpy(v) for k, v in self.observed.items() if _is_array(v)}
        return az.from_dict(
            posterior=posterior,
            sample_stats=stats or None,
            observed_data=observed or None,
        )

    def summary(self, var_names: list[str] | None = None, *, quantiles: tuple[float, ...] = (0.05, 0.5, 0.95),
                round_to: int = 3) -> Summary:
        """Mean, sd, quantiles, MCSE, bulk and tail ESS and r_hat of every variable (ArviZ).

        Parameters
        ----------
        var_names
            Restrict to these variables (default: all in ``samples``).
        quantiles
            The quantile columns (``5%``, ``50%``, ``95%``).
        round_to
            Decimals shown.

        Returns
        -------
        Summary
            A ``pandas.DataFrame`` (one row per scalar, ``theta[0]``...) that prints in full.
        """
        import arviz as az

        idata = self.to_arviz()
        funcs = {"mean": np.mean, "sd": functools.partial(np.std, ddof=1)}
        for q in quantiles:
            funcs[f"{100 * q:g}%"] = functools.partial(np.quantile, q=q)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # arviz on one chain / constant draws
            stats = az.summary(idata, var_names=var_names, kind="stats", stat_funcs=funcs, extend=False,
                               round_to="none")
            diag = az.summary(idata, var_names=var_names, kind="diagnostics", round_to="none")
        table = pd.concat([stats, diag[["mcse_mean", "ess_bulk", "ess_tail", "r_hat"]]], axis=1)
        table = table.astype(float)
        rank = {name: i for i, name in enumerate(self.samples)}
        rows = sorted(range(len(table)), key=lambda i: (rank.get(str(table.index[i]).split("[")[0], len(rank)), i))
        table = table.iloc[rows]
        for col in ("ess_bulk", "ess_tail"):
            table[col] = table[col].round(0)
        table = table.round({c: round_to for c in table.columns if c not in ("ess_bulk", "ess_tail", "r_hat")})
        table["r_hat"] = table["r_hat"].round(3)
        return Summary(table)

    def warnings(self, r_hat_threshold: float = 1.01) -> list[str]:
        """Diagnostic messages: divergent transitions, r_hat above the threshold."""
        return diagnostics_warnings(self, r_hat_threshold)


def diagnostics_warnings(post: Posterior, r_hat_threshold: float = 1.01) -> list[str]:
    """Messages for divergences and large r_hat (latent variables only; needs two chains)."""
    messages = []
    diverging = post.stats.get("diverging")
    if diverging is not None:
        n = int(np.sum(np.asarray(diverging)))
        if n:
            total = int(np.size(diverging))
            messages.append(
                f"{n} of {total} transitions after warmup were divergent: the posterior may be biased. "
                "Raise target_accept (kernel=NUTS(target_accept=0.95)) or reparameterize the model "
                "(ppgraph.passes.reparameterize)"
            )
    if post.num_chains >= 2 and post.num_draws >= 4:
        import arviz as az

        latent = {
            n: _numpy(v) for n, v in post.samples.items()
            if _is_array(v) and (post.model is None or _is_latent(post.model, n))
            and _numpy(v).dtype.kind in "fc" and np.size(v)
        }
        bad = []
        if latent:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                r_hat = az.rhat(az.from_dict(posterior=latent))
            for name in latent:
                values = np.asarray(r_hat[name].values, dtype=float)
                worst = np.nanmax(values) if np.any(np.isfinite(values)) else np.nan
                if np.isfinite(worst) and worst > r_hat_threshold:
                    bad.append(f"{name} ({worst:.3f})")
        if bad:
            messages.append(
                f"r_hat above {r_hat_threshold} for {', '.join(bad)}: the chains have not mixed. "
                "Run more warmup and draws, or reparameterize the model"
            )
    return messages


def _is_latent(model: Any, name: str) -> bool:
    from ..ir import Deterministic

    graph = getattr(model, "graph", model)
    return not (name in graph.nodes and isinstance(graph.nodes[name]["node"], Deterministic))


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value)
