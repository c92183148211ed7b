"""Fixtures of the nn tests: the optional trax dependency.

trax tests skip when trax is not installed, except when ``PPGRAPH_REQUIRE_EXTRAS=1``
(CI installs the extra): then a missing trax fails them.
"""

import pytest

from ppgraph_tests.conftest import skip_or_fail


@pytest.fixture(scope="session")
def trax_layers():
    """``trax.layers``, imported through ``ppgraph.nn.trax`` (lazily: it starts TensorFlow)."""
    try:
        import ppgraph.nn.trax  # noqa: F401 - imports trax without its slow inspect.stack() calls
        import trax.layers as tl
    except ImportError as err:
        skip_or_fail(f"trax cannot be imported ({err}); pip install 'ppgraph[trax]'")
    return tl
