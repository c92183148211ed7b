"""Every ```python block of ``README.md`` and ``docs/*.md`` runs.

The blocks of one file run in order in one namespace: they are written to a
temporary module (models must live in files, the parser reads their source) which
is then imported.  Blocks fenced as ```python no-run are skipped.  A failure names
the Markdown file and the line of the failing statement in it.
"""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

import pytest

from ppgraph_tests.conftest import load_module

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)$")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of every block fenced ```python (not ```python no-run)."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        info = match["info"].strip().split()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
        if info[:1] == ["python"] and "no-run" not in info[1:]:
            indent = len(match["indent"])
            blocks.append((i + 2, "\n".join(line[indent:] for line in lines[i + 1 : end])))
        i = end + 1
    return blocks


def module_source(blocks: list[tuple[int, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The module text and, per block, (first module line, first Markdown line)."""
    parts, starts, line = [], [], 1
    for md_line, source in blocks:
        parts.append(f"# --- block at line {md_line}\n")
        line += 1
        starts.append((line, md_line))
        parts.append(source.rstrip("\n") + "\n\n")
        line += source.rstrip("\n").count("\n") + 2
    return "".join(parts), starts


def markdown_line(module_line: int, starts: list[tuple[int, int]]) -> int:
    first, md = max((s for s in starts if s[0] <= module_line), default=(1, 1))
    return md + module_line - first


def test_python_blocks_are_found_and_no_run_skipped():
    text = "x\n```python\na = 1\n```\n```python no-run\nboom()\n```\n  ```python\n  b = a + 1\n  ```\n"
    assert python_blocks(text) == [(3, "a = 1"), (9, "b = a + 1")]
    source, starts = module_source(python_blocks(text))
    namespace: dict = {}
    exec(compile(source, "<doc>", "exec"), namespace)
    assert namespace["b"] == 2
    assert markdown_line(5, starts) == 9


# Pages without ```python blocks (the index, the generated API reference, benchmark tables) have
# nothing to run; they are left out instead of being collected as skipped tests.
RUNNABLE = [p for p in FILES if python_blocks(p.read_text())]


def test_the_main_pages_have_runnable_blocks():
    names = {p.name for p in RUNNABLE}
    assert {"README.md", "quickstart.md", "concepts.md", "passes.md", "evaluators.md", "nn.md"} <= names


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.relative_to(ROOT).as_posix() for p in RUNNABLE])
def test_markdown_code_blocks_run(path, tmp_path, monkeypatch):
    blocks = python_blocks(path.read_text())
    source, starts = module_source(blocks)
    module_path = tmp_path / ("doc_" + re.sub(r"\W", "_", path.stem) + ".py")
    module_path.write_text(source)
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    monkeypatch.setattr(sys, "argv", [str(module_path)])
    try:
        load_module(module_path)
    except Exception as err:  # report the Markdown line, not the temporary module's
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(module_path)]
        where = f"{path.relative_to(ROOT)}:{markdown_line(frames[-1].lineno, starts)}" if frames else path.name
        pytest.fail(f"{where}: {type(err).__name__}: {err}", pytrace=False)
