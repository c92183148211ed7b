"""One test per bad input of the model language.

Each model is written to a file (the parser reads source with ``inspect``); the
error must be raised when ``@pg.model`` is applied and name the model, the node,
the source line (``file.py:LINE``) and give a hint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ppgraph as pg
from ppgraph_tests.conftest import line_of


def check(err: pg.ModelError, path: Path, *, model: str, node: str, line_text: str, words: tuple[str, ...]) -> None:
    text = str(err)
    assert err.model == model and f"model '{model}'" in text
    assert err.node == node and f"node '{node}'" in text
    location = f"{path.name}:{line_of(path, line_text)}"
    assert err.location == location and location in text
    assert err.hint and "Hint:" in text
    for word in words:
        assert word in text, (word, text)


def test_python_if(bad):
    err, path = bad('''
        @pg.model
        def with_if(x):
            mu <~ dist.Normal(0.0, 1.0)
            if x > 0:
                y <~ dist.Normal(mu, 1.0)
            return mu
    ''')
    check(err, path, model="with_if", node="y", line_text="if x > 0", words=("`if`", "jnp.where"))


def test_python_for(bad):
    err, path = bad('''
        @pg.model
        def with_for(n):
            mu <~ dist.Normal(0.0, 1.0)
            for i in range(n):
                z = mu + i
            return mu
    ''')
    check(err, path, model="with_for", node="i", line_text="for i in", words=("`for`", "expand"))


def test_python_while(bad):
    err, path = bad('''
        @pg.model
        def with_while():
            mu <~ dist.Normal(0.0, 1.0)
            while mu > 0:
                smaller = mu - 1
            return mu
    ''')
    check(err, path, model="with_while", node="smaller", line_text="while mu > 0", words=("`while`", "jax.lax"))


def test_reused_random_variable_name(bad):
    err, path = bad('''
        @pg.model
        def reuse():
            mu <~ dist.Normal(0.0, 1.0)
            mu <~ dist.Normal(mu, 1.0)
            return mu
    ''')
    check(err, path, model="reuse", node="mu", line_text="mu <~ dist.Normal(mu", words=("defined twice",))


def test_reused_name_for_a_deterministic(bad):
    err, path = bad('''
        @pg.model
        def reuse_det():
            mu <~ dist.Normal(0.0, 1.0)
            mu = 2 * mu
            return mu
    ''')
    check(err, path, model="reuse_det", node="mu", line_text="mu = 2 * mu", words=())


@pytest.mark.parametrize(
    "rhs, what",
    [("jnp.exp(1.0)", "jnp.exp"), ("NUMBER", "float"), ("a", "variable of the model"), ("int(3)", "int")],
)
def test_tilde_on_something_not_a_distribution_or_model(bad, rhs, what):
    err, path = bad(f'''
        NUMBER = 3.0

        @pg.model
        def not_dist():
            a <~ dist.Normal(0.0, 1.0)
            b <~ {rhs}
            return b
    ''')
    check(err, path, model="not_dist", node="b", line_text="b <~", words=(what, "not a distribution"))


def test_undefined_name(bad):
    err, path = bad('''
        @pg.model
        def undefined(sigma):
            mu <~ dist.Normal(0.0, sigmaa)
            return mu
    ''')
    check(err, path, model="undefined", node="mu", line_text="sigmaa", words=("unknown name 'sigmaa'", "'sigma'"))


def test_undefined_name_in_a_deterministic(bad):
    err, path = bad('''
        @pg.model
        def undefined_det():
            mu <~ dist.Normal(0.0, 1.0)
            z = mu + nowhere_defined
            return z
    ''')
    check(err, path, model="undefined_det", node="z", line_text="nowhere_defined", words=("nowhere_defined",))


def test_name_used_before_it_is_defined(bad):
    err, path = bad('''
        @pg.model
        def too_early():
            a <~ dist.Normal(b, 1.0)
            b <~ dist.Normal(0.0, 1.0)
            return a
    ''')
    check(err, path, model="too_early", node="a", line_text="a <~", words=("unknown name 'b'",))


def test_tuple_target_of_tilde(bad):
    err, path = bad('''
        @pg.model
        def tuple_target():
            a, b <~ dist.Normal(0.0, 1.0)
            return a
    ''')
    check(err, path, model="tuple_target", node="a", line_text="a, b <~", words=("tuple targets",))


def test_subscript_target_of_tilde(bad):
    err, path = bad('''
        @pg.model
        def subscript_target():
            a <~ dist.Normal(0.0, 1.0).expand([2])
            a[0] <~ dist.Normal(0.0, 1.0)
            return a
    ''')
    assert "single name" in str(err) and err.hint
    assert err.location == f"{path.name}:{line_of(path, 'a[0] <~')}"


def test_self_reference(bad):
    err, path = bad('''
        @pg.model
        def self_ref():
            a <~ dist.Normal(a, 1.0)
            return a
    ''')
    check(err, path, model="self_ref", node="a", line_text="a <~", words=("its own definition",))


def test_model_source_without_a_file():
    """A model typed where there is no source file gets a clear error, not an OSError."""
    namespace: dict = {}
    exec(compile("import ppgraph as pg\ndef m():\n    return 1\n", "<no file>", "exec"), namespace)
    with pytest.raises(pg.ModelError, match="cannot read the source") as info:
        pg.model(namespace["m"])
    assert "pg.GraphBuilder" in info.value.hint


def test_errors_are_raised_when_the_decorator_is_applied(write_models):
    """A valid model in the same file still parses: errors are per model."""
    module, _ = write_models('''
        @pg.model
        def fine():
            a <~ dist.Normal(0.0, 1.0)
            return a
    ''')
    assert isinstance(module.fine, pg.Model)


def test_graph_builder_names_a_distribution_given_as_source_text():
    g = pg.GraphBuilder("built")
    with pytest.raises(pg.ModelError, match="the distribution of 'mu' is the string") as info:
        g.random("mu", "dist.Normal(0.0, 1.0)")
    assert info.value.node == "mu" and "test_parser_errors.py" in str(info.value.location)
    assert "g.random('mu', dist.Normal, 0.0, 1.0)" in info.value.hint
