"""The ``ppgraph`` command line (also ``python -m ppgraph``).

``ppgraph inspect FILE.py:MODEL [--data DATA.json] [--passes P1,P2] [--source TARGET]
[--dot OUT.dot] [--draw OUT.svg] [--draw-diff OUT.svg] [--save OUT.json]``
    prints the model's node table (shapes need ``--data``), the generated source
    of the targets asked for, and writes drawings; ``--passes`` transforms the
    graph first (``to_unconstrained,reparameterize``; any registered pass).
``ppgraph sample FILE.py:MODEL --data DATA.json [--chains 4] [--draws 1000]
[--warmup N] [--seed S] --out POSTERIOR.nc``
    runs NUTS (``pg.sample``) with a progress bar, writes the posterior as an
    ArviZ netCDF file and prints its summary.

``FILE.py:MODEL`` names a ``@pg.model`` in a Python file (``:MODEL`` may be left
out when the file defines one model); a ``.json`` file saved with ``pg.save``
works too.  ``DATA.json`` is an object mapping argument and observed-variable
names to numbers or (nested) lists.  Every error is one line on stderr and a
non-zero exit status (``--traceback`` shows the Python traceback instead).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys
from typing import Any, Sequence

__all__ = ["main", "build_parser", "load_target", "load_data", "CLIError"]


class CLIError(Exception):
    """A user error on the command line (printed as one line)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ppgraph`` command."""
    from .compile import TARGET_NAMES

    parser = argparse.ArgumentParser(
        prog="ppgraph",
        description="Inspect, draw and sample ppgraph models.",
        epilog="Run 'ppgraph COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ins = sub.add_parser("inspect", help="print the node table, generated source and drawings of a model")
    ins.add_argument("target", metavar="FILE.py:MODEL", help="a @pg.model in a Python file, or a saved .json graph")
    ins.add_argument("--data", metavar="DATA.json", help="arguments (and observed values) as JSON, to show shapes")
    ins.add_argument("--passes", metavar="P1,P2", help="apply these registered passes first (comma-separated)")
    ins.add_argument("--source", metavar="TARGET", action="append", choices=TARGET_NAMES, default=[],
                     help=f"print the generated source of a target ({', '.join(TARGET_NAMES)}); repeatable")
    ins.add_argument("--dot", metavar="OUT", help="write the Graphviz DOT source ('-' for stdout)")
    ins.add_argument("--draw", metavar="OUT", help="draw the graph to OUT (.svg, .png or .pdf)")
    ins.add_argument("--draw-diff", metavar="OUT", help="with --passes: draw what the passes changed")
    ins.add_argument("--save", metavar="OUT.json", help="save the (transformed) graph with pg.save")

    smp = sub.add_parser("sample", help="run NUTS and write the posterior as ArviZ netCDF")
    smp.add_argument("target", metavar="FILE.py:MODEL", help="a @pg.model in a Python file, or a saved .json graph")
    smp.add_argument("--data", metavar="DATA.json", required=True, help="arguments and observed values as JSON")
    smp.add_argument("--out", metavar="POSTERIOR.nc", required=True, help="netCDF file to write")
    smp.add_argument("--chains", type=_positive, default=4, help="number of chains (default 4)")
    smp.add_argument("--draws", type=_positive, default=1000, help="draws per chain (default 1000)")
    smp.add_argument("--warmup", type=_positive, default=None, help="warm-up steps per chain (default: --draws)")
    smp.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    smp.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _module_name(path: pathlib.Path) -> str:
    stem = path.stem
    if stem.isidentifier() and stem not in sys.modules:
        return stem
    return f"_ppgraph_cli_{abs(hash(str(path.resolve())))}"


def _import_file(path: pathlib.Path) -> Any:
    """Import a Python file as a module (its directory goes on ``sys.path``)."""
    from .errors import ModelError

    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot import '{path}' as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ModelError:
        raise
    except SyntaxError as err:
        raise CLIError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    except Exception as err:
        raise CLIError(f"running {path} failed: {type(err).__name__}: {err}") from None
    return module


def load_target(target: str) -> Any:
    """The model named by ``FILE.py:MODEL``, ``FILE.py`` (one model) or ``FILE.json`` (saved graph)."""
    from .model import Model

    file_part, _, name = target.rpartition(":") if ":" in target else (target, "", "")
    path = pathlib.Path(file_part)
    if not path.exists():
        raise CLIError(f"no such file: '{path}'")
    if path.suffix == ".json":
        from .io import load

        return load(path)
    if path.suffix != ".py":
        raise CLIError(f"'{path}' is neither a Python file (.py) nor a saved graph (.json)")
    module = _import_file(path)
    models = {k: v for k, v in vars(module).items() if isinstance(v, Model) and not k.startswith("_")}
    if not name:
        if len(models) == 1:
            return next(iter(models.values()))
        listed = ", ".join(sorted(models)) or "none"
        raise CLIError(f"'{path}' defines {len(models)} models ({listed}); name one as {path}:MODEL")
    if name not in vars(module):
        import difflib

        close = difflib.get_close_matches(name, list(models), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; its models are: {', '.join(sorted(models)) or 'none'}"
        raise CLIError(f"'{path}' has no model named '{name}'{hint}")
    value = vars(module)[name]
    if not isinstance(value, Model):
        raise CLIError(f"'{name}' in '{path}' is a {type(value).__name__}, not a @pg.model")
    return value


def _to_value(name: str, value: Any) -> Any:
    import numpy as np

    if isinstance(value, bool) or value is None:
        raise CLIError(f"data '{name}': expected a number or a list of numbers, got {json.dumps(value)}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        try:
            array = np.asarray(value)
        except ValueError:
            raise CLIError(f"data '{name}': the nested lists are ragged (rows of different lengths)") from None
        if array.dtype.kind not in "iuf":
            raise CLIError(f"data '{name}': expected numbers, got values of type {array.dtype}")
        return array
    raise CLIError(f"data '{name}': expected a number or a list of numbers, got {type(value).__name__}")


def load_data(path: str) -> dict[str, Any]:
    """Read ``DATA.json``: an object of names -> numbers / nested lists (lists become NumPy arrays)."""
    file = pathlib.Path(path)
    if not file.exists():
        raise CLIError(f"no such data file: '{file}'")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CLIError(f"{file}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CLIError(f"cannot read '{file}': {err}") from None
    if not isinstance(data, dict):
        raise CLIError(f"{file}: the data must be a JSON object mapping names to values")
    return {key: _to_value(key, value) for key, value in data.items()}


def _inspect(args: argparse.Namespace) -> int:
    from .compile import source
    from .model import Model
    from .passes import compose
    from .viz.describe import format_table
    from .viz.dot import to_dot
    from .viz.draw import draw, draw_diff

    from .viz.draw import check_format

    for out in (args.draw, args.draw_diff):
        if out:
            check_format(out)
    model = load_target(args.target)
    data = load_data(args.data) if args.data else {}
    shown: Any = model
    if args.passes:
        names = [p.strip() for p in args.passes.split(",") if p.strip()]
        if not names:
            raise CLIError("--passes needs pass names, e.g. --passes to_unconstrained,reparameterize")
        graph = compose(*names)(model.graph)
        shown = Model(graph, doc=model.__doc__)
    elif args.draw_diff:
        raise CLIError("--draw-diff shows what passes changed: give --passes too")
    print(format_table(shown, **data))
    for target in args.source:
        print(f"\n# {target}")
        print(source(model, target, graph=shown.graph if shown is not model else None), end="")
    if args.dot:
        text = to_dot(shown, **data)
        if args.dot == "-":
            print(text, end="")
        else:
            pathlib.Path(args.dot).write_text(text, encoding="utf-8")
            print(f"wrote {args.dot}")
    if args.draw:
        print(f"wrote {draw(shown, args.draw, **data)}")
    if args.draw_diff:
        print(f"wrote {draw_diff(model, shown, args.draw_diff)}")
    if args.save:
        from .io import save

        save(shown, args.save)
        print(f"wrote {args.save}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import jax

    import ppgraph

    model = load_target(args.target)
    data = load_data(args.data)
    sample = getattr(ppgraph, "sample", None)
    if sample is None:
        try:
            from .inference import sample  # type: ignore[no-redef]
        except ImportError:
            raise CLIError("this installation of ppgraph has no sampler (ppgraph.sample is missing)") from None
    out = pathlib.Path(args.out)
    if out.suffix not in (".nc", ".netcdf", ".nc4"):
        raise CLIError(f"--out '{out}': write the posterior to a netCDF file ending in .nc")
    posterior = sample(
        model,
        jax.random.key(args.seed),
        num_warmup=args.warmup or args.draws,
        num_samples=args.draws,
        num_chains=args.chains,
        progress=not args.no_progress,
        **data,
    )
    posterior.to_arviz().to_netcdf(str(out))
    print(posterior.summary())
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ppgraph`` command; returns the exit status (0 on success)."""
    from .errors import ModelError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _inspect(args) if args.command == "inspect" else _sample(args)
    except (CLIError, ModelError, ValueError, OSError) as err:
        if args.traceback:
            raise
        _fail(str(err))
    except Exception as err:  # an internal error: still one line unless --traceback
        if args.traceback:
            raise
        _fail(f"{type(err).__name__}: {err} (run with --traceback for details)")
    return 1


def _fail(message: str) -> None:
    print(f"ppgraph: error: {' '.join(message.split())}", file=sys.stderr)
