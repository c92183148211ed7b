"""Issue 10: the cost of ``import ppgraph`` against ``import numpyro, numpyro.infer``.

Each measurement is a fresh interpreter (a subprocess) importing one side; the
two sides run interleaved in changing order (:func:`benchmarks.common.interleaved_runs`)
after one untimed run of each (byte-code caches, the disk cache).  Three figures
per run:

``cpu``
    user + system CPU seconds of the whole process (``resource.getrusage`` of the
    child): what the import costs on a loaded machine, where wall time also counts
    waiting for a CPU.  The target (ppgraph within 1.2x of NumPyro) is judged on it.
``wall``
    wall-clock seconds of the whole process (what a user waits for).
``import_cpu``
    CPU seconds of the ``import`` statement alone, measured inside the child
    (interpreter start-up excluded).

The child also reports which heavy packages the import loaded (none of BlackJAX,
Optax, ArviZ, pandas, matplotlib, Graphviz should be, for ppgraph).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any

from .common import Settings, comparison, interleaved_runs, spread

__all__ = ["run", "measure", "IMPORTS", "HEAVY"]

IMPORTS = {"ppgraph": "import ppgraph", "numpyro": "import numpyro, numpyro.infer"}
HEAVY = ("blackjax", "optax", "arviz", "pandas", "matplotlib", "graphviz", "sklearn", "flax", "equinox",
         "tensorflow", "trax")
RUNS = {"quick": 5, "full": 11}

_CHILD = """
import sys, time
t0, c0 = time.perf_counter(), time.process_time()
{statement}
t1, c1 = time.perf_counter(), time.process_time()
import json
print(json.dumps({{"import_wall": t1 - t0, "import_cpu": c1 - c0,
                  "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


def measure(statement: str) -> dict[str, Any]:
    """Run ``statement`` in a fresh interpreter: whole-process wall and CPU seconds, and the child's own figures."""
    code = _CHILD.format(statement=statement, heavy=HEAVY)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, **json.loads(proc.stdout.strip().splitlines()[-1])}


def run(settings: Settings, only_models: list[str] | None = None) -> dict[str, Any]:
    """``import ppgraph`` vs ``import numpyro, numpyro.infer``, interleaved fresh processes."""
    for statement in IMPORTS.values():  # untimed: byte-code and disk caches
        measure(statement)
    runners = {name: (lambda seed, s=statement: measure(s)) for name, statement in IMPORTS.items()}
    runs = interleaved_runs(runners, list(range(RUNS.get(settings.name, 5))), label="import")
    ok = {name: [r for r in rs if "error" not in r] for name, rs in runs.items()}
    errors = [f"{name}: {r['error']}" for name, rs in runs.items() for r in rs if "error" in r]

    def values(name: str, key: str) -> list[float]:
        return [r[key] for r in ok[name]]

    rows = [
        comparison("import ppgraph", "CPU s (whole process)", values("ppgraph", "cpu"), values("numpyro", "cpu"),
                   reference_name="import numpyro, numpyro.infer", target=1.2, higher_is_better=False),
        comparison("import ppgraph", "wall s (whole process)", values("ppgraph", "wall"),
                   values("numpyro", "wall"), reference_name="import numpyro, numpyro.infer", target=None,
                   higher_is_better=False, note="wall time on the shared machine also counts waiting for a CPU"),
        comparison("import ppgraph", "CPU s (the import statement)", values("ppgraph", "import_cpu"),
                   values("numpyro", "import_cpu"), reference_name="import numpyro, numpyro.infer", target=None,
                   higher_is_better=False),
    ]
    heavy = sorted({m for r in ok["ppgraph"] for m in r["heavy"]})
    notes = [f"Heavy packages loaded by `import ppgraph`: {', '.join(heavy) if heavy else 'none'} "
             f"(checked: {', '.join(HEAVY)})."]
    notes += [f"Failed runs: {e}" for e in errors]
    return {
        "description": "Fresh interpreters, the two imports interleaved in changing order after one untimed "
                       "run each; ratio = ppgraph / NumPyro per pair.",
        "rows": rows,
        "notes": notes,
        "runs": runs,
        "heavy_loaded": heavy,
        "cpu": {name: spread(values(name, "cpu")) for name in IMPORTS},
    }


if __name__ == "__main__":  # pragma: no cover - a quick look: python -m benchmarks.import_time
    from .common import QUICK

    out = run(QUICK)
    for row in out["rows"]:
        print(f"{row['metric']}: ppgraph {row['ppgraph']['median']:.3f}, numpyro {row['reference']['median']:.3f}, "
              f"ratio {row['ratio']:.3f} {row['ratio_range']}")
    print(out["notes"][0])
