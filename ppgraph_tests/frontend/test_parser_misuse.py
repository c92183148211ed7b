"""`=` where `<~` was meant: each is a ModelError when ``@pg.model`` is applied.

The expected line is found in the written source file (never read from ppgraph's
own ``location``): the error must name the model, the variable, ``file.py:LINE``
and suggest the `<~` statement.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ppgraph as pg
from ppgraph_tests.conftest import line_of


def check(err: pg.ModelError, path: Path, *, model: str, node: str, line_text: str, words: tuple[str, ...]) -> None:
    text = str(err)
    assert f"model '{model}'" in text and f"node '{node}'" in text
    assert f"({path.name}:{line_of(path, line_text, unique=True)})" in text, text
    assert "Hint:" in text
    for word in words:
        assert word in text, (word, text)


@pytest.mark.parametrize(
    "rhs",
    ["dist.Normal(0.0, 1.0)", "dist.Normal(0.0, 1.0).expand([3])", "dist.Categorical(probs=jnp.ones(3) / 3)",
     "dist.HalfNormal(1.0).expand([2]).to_event(1)"],
)
def test_distribution_assigned_with_equals(bad, rhs):
    err, path = bad(f'''
        @pg.model
        def assigned():
            mu = {rhs}
            y <~ dist.Normal(0.0, 1.0)
            return y
    ''')
    check(err, path, model="assigned", node="mu", line_text="mu = ",
          words=("assigns a distribution object with `=`", f"Hint: write `mu <~ {rhs}`"))


def test_lone_tilde(bad):
    err, path = bad('''
        @pg.model
        def lone_tilde():
            mu = ~dist.Normal(0.0, 1.0)
            return mu
    ''')
    check(err, path, model="lone_tilde", node="mu", line_text="mu = ~",
          words=("is `=` followed by `~`, not `<~`", "write `mu <~ dist.Normal(0.0, 1.0)`"))


def test_lone_tilde_on_a_function_returning_a_distribution(bad):
    err, path = bad('''
        def prior(scale):
            return dist.Normal(0.0, scale)

        @pg.model
        def lone_tilde_fn():
            mu = ~prior(2.0)
            return mu
    ''')
    check(err, path, model="lone_tilde_fn", node="mu", line_text="mu = ~", words=("`mu <~ prior(2.0)`",))


def test_sub_model_called_with_equals(bad):
    err, path = bad('''
        @pg.model
        def inner(s):
            z <~ dist.Normal(0.0, s)
            return z

        @pg.model
        def outer():
            w = inner(1.0)
            return w
    ''')
    check(err, path, model="outer", node="w", line_text="w = inner", words=("sub-model", "`w <~ inner(1.0)`"))


def test_factor_assigned_with_equals(bad):
    err, path = bad('''
        @pg.model
        def with_factor():
            mu <~ dist.Normal(0.0, 1.0)
            extra = pg.factor(-mu ** 2)
            return mu
    ''')
    check(err, path, model="with_factor", node="extra", line_text="extra = pg.factor",
          words=("pg.factor", "`extra <~ pg.factor(-mu ** 2)`"))


def test_layer_assigned_with_equals(bad):
    err, path = bad('''
        from ppgraph import nn

        @pg.model
        def with_layer(x):
            net = nn.Dense(2, dist.Normal(0.0, 1.0))
            out = net(x)
            return out
    ''')
    check(err, path, model="with_layer", node="net", line_text="net = nn.Dense", words=("layer", "`net <~ nn.Dense("))


def test_legitimate_uses_of_equals_and_tilde_still_parse(write_models):
    """Values computed from distributions and bitwise not of data are deterministic nodes."""
    module, _ = write_models('''
        def helper(x):
            return 2 * x

        @pg.model
        def fine(y, mask):
            mu <~ dist.Normal(0.0, 1.0)
            lp = dist.Normal(mu, 1.0).log_prob(y)
            keep = ~mask
            also = ~jnp.isnan(y)
            h = helper(mu)
            w <~ pg.factor(jnp.sum(jnp.where(keep & also, lp, 0.0)) + h)
            return mu
    ''')
    kinds = {n: type(module.fine.graph.obj(n)).__name__ for n in ("lp", "keep", "also", "h", "w")}
    assert kinds == {"lp": "Deterministic", "keep": "Deterministic", "also": "Deterministic", "h": "Deterministic",
                     "w": "Factor"}


@pytest.mark.parametrize(
    "rhs, says",
    [("jnp.exp(1.0)", "`jnp.exp` is a "), ("NUMBER", "`NUMBER` is a float, not"),
     ("a", "`a` is a variable of the model, not"), ("(a + 1.0)", "`a + 1.0` is not")],
)
def test_tilde_wording_does_not_repeat_itself(bad, rhs, says):
    err, path = bad(f'''
        NUMBER = 3.0

        @pg.model
        def not_dist():
            a <~ dist.Normal(0.0, 1.0)
            b <~ {rhs}
            return b
    ''')
    check(err, path, model="not_dist", node="b", line_text="b <~", words=(says, "a distribution, layer or model"))
    message = str(err).split("Hint:")[0]
    assert message.count("distribution") == 1, message
    assert "not a distribution, not" not in str(err) and "is not, not" not in str(err)
