"""Write docs/api.md from the docstrings of ppgraph's public names.

Run:  python tools/make_api_docs.py        (a test checks the committed page is current)
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

SECTIONS = [
    ("ppgraph", "Top level (`import ppgraph as pg`)"),
    ("ppgraph.passes", "Passes (`ppgraph.passes`)"),
    ("ppgraph.ir", "The IR (`ppgraph.ir`)"),
    ("ppgraph.codegen", "Codegen (`ppgraph.codegen`)"),
    ("ppgraph.nn", "Neural-network layers (`ppgraph.nn`)"),
    ("ppgraph.inference", "Inference (`ppgraph.inference`)"),
]
SKIP = {"__version__", "dist", "nn", "ir", "RULES", "TARGETS", "PASSES", "NODE_KINDS", "REPARAMETERIZERS"}


def summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    paragraph = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return paragraph or "(no docstring)"


def signature(name: str, obj: object) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return name
    return f"{name}{sig}"


def render() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `python tools/make_api_docs.py`; the full docstrings "
        "(parameters, examples) are in the code and in `help()`.",
        "",
    ]
    seen: set[int] = set()
    for module_name, title in SECTIONS:
        module = importlib.import_module(module_name)
        lines += [f"## {title}", ""]
        for name in module.__all__:
            if name in SKIP:
                continue
            obj = getattr(module, name)
            if id(obj) in seen and module_name != "ppgraph":
                continue
            seen.add(id(obj))
            kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "object"
            shown = signature(name, obj) if kind != "object" else name
            lines += [f"### `{shown}`", "", f"*{kind}* — {summary(obj)}", ""]
    lines += [
        "## Distributions (`ppgraph.dist`)",
        "",
        "Every name of `numpyro.distributions` (`Normal`, `HalfCauchy`, `Dirichlet`, `LKJCholesky`, "
        "...), plus:",
        "",
    ]
    dist = importlib.import_module("ppgraph.dist")
    for name in ("Flat", "HalfFlat", "Unconstrained", "is_distribution", "is_discrete"):
        obj = getattr(dist, name)
        lines += [f"### `{signature(name, obj)}`", "", summary(obj), ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    path = Path(__file__).resolve().parents[1] / "docs" / "api.md"
    path.write_text(render())
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
