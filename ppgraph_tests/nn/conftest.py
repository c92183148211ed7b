"""Fixtures of the nn tests: the optional trax dependency.

trax tests skip when trax is not installed, except when ``PPGRAPH_REQUIRE_EXTRAS=1``
(CI installs the extra): then a missing trax fails them.
"""

import os

import pytest


@pytest.fixture(scope="session")
def trax_layers():
    """``trax.layers`` (imported lazily: it starts TensorFlow)."""
    try:
        import trax.layers as tl
    except ImportError as err:
        if os.environ.get("PPGRAPH_REQUIRE_EXTRAS") == "1":
            pytest.fail(f"trax is required (PPGRAPH_REQUIRE_EXTRAS=1) but cannot be imported: {err}")
        pytest.skip("trax is not installed (pip install 'ppgraph[trax]')")
    return tl
