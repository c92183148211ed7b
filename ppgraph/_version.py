"""The package version (read by :mod:`ppgraph` and written into saved graphs by :mod:`ppgraph.io`)."""

__version__ = "0.1.0"
