"""Entry point: ``python -m benchmarks.run [--quick] [--only NAME] [--models M,...] [--output PATH]``.

Runs the benchmark sections (see ``MODULES``: ``logpdf``, ``startup``, ``nuts``, ``bnn``,
``import``, ``indexed``, ``vectorize``, ``discrete``, ``lifted``, ``sgmcmc``, ``adaptation``, ``reparam``), writes the
raw numbers to ``<output>.json`` and renders ``<output>`` (markdown).  With
``--only``, the new section is merged into the existing JSON and the page is
re-rendered.  ``--quick`` uses tiny settings (a smoke test, not results) and by
default writes to a temporary directory, so it never overwrites the real results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import FULL, QUICK, load_average, machine_info

__all__ = ["main", "SECTIONS"]

# section name -> module of this package with ``run(settings, only_models) -> dict``
MODULES = {"logpdf": "logpdf", "startup": "startup", "nuts": "nuts", "bnn": "bnn", "import": "import_time",
           "indexed": "indexed", "vectorize": "vectorize", "discrete": "discrete",
           "lifted": "lifted", "sgmcmc": "sgmcmc", "adaptation": "adaptation",
           "reparam": "reparam"}
SECTIONS = tuple(MODULES)
DEFAULT_OUTPUT = Path("docs/benchmarks.md")


def _section_module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"{__package__}.{MODULES[name]}")


def _json_default(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="tiny settings: check the scripts run")
    parser.add_argument("--only", action="append", choices=SECTIONS, metavar="NAME",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    parser.add_argument("--models", help="comma-separated subset of eight_schools, logistic_regression, "
                        "hierarchical_linear")
    parser.add_argument("--output", type=Path, help="markdown file to write (JSON beside it); default "
                        f"{DEFAULT_OUTPUT} (or a temporary directory with --quick)")
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else FULL
    output = args.output or (Path(tempfile.gettempdir()) / "ppgraph-benchmarks" / "benchmarks.md"
                             if args.quick else DEFAULT_OUTPUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    json_path = output.with_suffix(".json")
    models = args.models.split(",") if args.models else None
    command = "python -m benchmarks.run" + ("".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])))

    data: dict[str, Any] = {"sections": {}}
    if args.only and json_path.exists():
        data = json.loads(json_path.read_text())
    for name in args.only or SECTIONS:
        print(f"[{name}] {settings.name} settings", flush=True)
        load_before = load_average()
        t0 = time.perf_counter()
        try:
            module = _section_module(name)
        except ModuleNotFoundError as err:
            print(f"[{name}] skipped: {err}", flush=True)
            continue
        results = module.run(settings, models)
        data["sections"][name] = {
            "meta": {
                "command": command,
                "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "settings": settings.name,
                "duration": time.perf_counter() - t0,
                "load_before": load_before,
                "load_after": load_average(),
            },
            "results": results,
        }
    data["command"] = command
    data["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data["machine"] = machine_info()
    json_path.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    from .report import render

    output.write_text(render(data))
    print(f"wrote {output} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
