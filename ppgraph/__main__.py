"""``python -m ppgraph``: the ``ppgraph`` command line (see :mod:`ppgraph.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
