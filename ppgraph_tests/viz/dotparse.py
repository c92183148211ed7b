"""A parser for the DOT that ``pg.to_dot`` writes (one statement per line, ids quoted)."""

from __future__ import annotations

import re

_STRING = r'"((?:[^"\\]|\\.)*)"'
NODE = re.compile(rf"^\s*{_STRING} \[(.*)\];$")
EDGE = re.compile(rf"^\s*{_STRING} -> {_STRING}(?: \[(.*)\])?;$")
ATTR = re.compile(rf"(\w+)={_STRING}")


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def attrs(text: str | None) -> dict[str, str]:
    return {k: unquote(v) for k, v in ATTR.findall(text or "")}


def parse(dot: str) -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], dict[str, str]]]:
    """Node statements (id -> attributes) and edge statements ((u, v) -> attributes).

    Every line of the body must be a node, an edge or a default-attribute statement.
    """
    lines = dot.strip().splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{"), lines[0]
    assert lines[-1] == "}"
    nodes: dict[str, dict[str, str]] = {}
    edges: dict[tuple[str, str], dict[str, str]] = {}
    for line in lines[1:-1]:
        if re.match(r"^\s*(graph|node|edge) \[", line):
            continue
        edge = EDGE.match(line)
        if edge:
            key = (unquote(edge.group(1)), unquote(edge.group(2)))
            assert key not in edges, f"edge {key} written twice"
            edges[key] = attrs(edge.group(3))
            continue
        node = NODE.match(line)
        assert node, f"unparsable DOT line: {line!r}"
        name = unquote(node.group(1))
        assert name not in nodes, f"node {name} written twice"
        nodes[name] = attrs(node.group(2))
    return nodes, edges
