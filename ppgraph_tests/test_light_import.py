"""``import ppgraph`` stays light: samplers, optimisers and plotting load on first use.

Each check runs in a fresh interpreter (a subprocess), since this test process
has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ppgraph

HEAVY = ("blackjax", "optax", "arviz", "matplotlib", "graphviz", "trax", "tensorflow", "flax", "equinox",
         "sklearn", "pandas")


def run(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object, returned here."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def loaded(before: str = "") -> str:
    return f"import json, sys\nimport ppgraph\n{before}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"


def test_import_ppgraph_loads_no_heavy_package():
    assert run(loaded()) == []


def test_the_check_sees_a_loaded_package():
    # the same check, after a first use of pg.sample: BlackJAX is there (the check can fail)
    assert "blackjax" in run(loaded("ppgraph.sample"))


def test_fit_loads_optax_not_blackjax():
    found = run(loaded("ppgraph.fit"))
    assert "optax" in found and "blackjax" not in found


def test_building_and_compiling_a_model_loads_no_sampler():
    code = loaded(
        "import jax.numpy as jnp\n"
        "from ppgraph import dist\n"
        "g = ppgraph.GraphBuilder('m')\n"
        "mu = g.random('mu', dist.Normal, 0.0, 1.0)\n"
        "g.random('y', dist.Normal, mu, 1.0)\n"
        "m = g.build()\n"
        "repr(m)\n"
        "float(ppgraph.logpdf(m)(mu=0.1, y=0.3))\n"
    )
    assert run(code) == []


@pytest.mark.parametrize("name", ppgraph.__all__)
def test_every_public_name_resolves(name):
    assert name in dir(ppgraph)
    assert getattr(ppgraph, name) is not None


def test_lazy_names_are_the_defining_objects():
    from ppgraph.inference.fit import fit
    from ppgraph.inference.hmc import NUTS
    from ppgraph.inference.posterior import Posterior
    from ppgraph.inference.sample import sample

    assert (ppgraph.fit, ppgraph.sample, ppgraph.Posterior) == (fit, sample, Posterior)
    assert ppgraph.inference.NUTS is NUTS
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        ppgraph.no_such_name  # noqa: B018


def test_sample_stays_the_function_when_its_module_is_imported_first():
    # importing the submodule ppgraph.inference.sample sets the package attribute of that name
    code = (
        "import importlib, json, ppgraph\n"
        "importlib.import_module('ppgraph.inference.sample')\n"
        "from ppgraph.inference import sample\n"
        "print(json.dumps([callable(sample), type(sample).__name__, type(ppgraph.sample).__name__]))"
    )
    assert run(code) == [True, "function", "function"]


def test_a_layer_node_without_ppgraph_nn_says_to_import_it():
    # ppgraph.nn (which registers the codegen rules of Layer nodes) loads on first use
    code = (
        "import json, ppgraph as pg\n"
        "from ppgraph.ir import Argument, Graph, Layer\n"
        "g = Graph(name='m', env={'Thing': object})\n"
        "g.add(Argument('x'))\n"
        "g.add(Layer('net', spec='Thing()', input='x'))\n"
        "try:\n"
        "    pg.source(pg.Model(g), 'logpdf')\n"
        "except pg.ModelError as err:\n"
        "    print(json.dumps([err.node, str(err)]))\n"
    )
    node, message = run(code)
    assert node == "net"
    assert "import ppgraph.nn, which registers the rules of Layer nodes" in message


@pytest.mark.parametrize("package", ["ppgraph", "ppgraph.inference"])
def test_the_type_checking_imports_match_the_lazy_table(package):
    # the `if TYPE_CHECKING:` block (what type checkers see) lists exactly the lazily imported names
    import ast
    import importlib
    import pathlib

    module = importlib.import_module(package)
    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    declared = {a.asname or a.name for stmt in block.body for a in stmt.names}
    lazy = set(module._ppgraph_lazy) | {n for n in ("inference", "metrics", "nn") if package == "ppgraph"}
    assert declared == lazy
    assert set(module.__all__) <= set(dir(module))
