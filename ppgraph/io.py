"""Saving and loading model graphs: ``pg.save(model, path)`` / ``pg.load(path)``.

The file is JSON: networkx *node-link* data of the graph, where each node holds
its kind and its fields as Python source, each edge its slots, plus the graph's
attributes and its environment (the names the expressions use):

* modules by import name (``{"type": "module", "name": "jax.numpy"}``);
* functions and classes by ``module:qualname``, checked at save time to import
  back as the very same object (a lambda, a nested function or a function of
  ``__main__`` cannot be saved: move it to a module);
* numbers, strings, ``None``, lists, tuples, dicts with string keys;
* arrays (NumPy or JAX) with their dtype, shape and data.

A ``format`` and ``version`` identify the file.  Loading rebuilds the graph,
recomputes its edges from the node sources and checks them against the file,
and validates it, so a corrupted or hand-edited file raises a
:class:`~ppgraph.SaveFileError` naming what is wrong (never a half-loaded graph).

Examples
--------
>>> import os, tempfile
>>> from ppgraph.ir import Graph, RandomVariable
>>> from ppgraph import dist
>>> from ppgraph.model import Model
>>> g = Graph(name="m", env={"dist": dist})
>>> g.add(RandomVariable("mu", dist="dist.Normal(0.0, 1.0)"))
>>> path = os.path.join(tempfile.mkdtemp(), "m.json")
>>> save(Model(g), path)
>>> load(path).graph.obj("mu").dist
'dist.Normal(0.0, 1.0)'
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import pathlib
import types
from typing import Any

import networkx as nx
import numpy as np

from ._version import __version__
from .errors import ModelError, SaveFileError
from .ir import NODE_KINDS, Graph, Node, validate
from .ir.expr import free_names, parse_expr

__all__ = ["save", "load", "to_json", "from_json", "FORMAT", "VERSION"]

FORMAT = "ppgraph-graph"
VERSION = 1


# -- encoding the environment ---------------------------------------------------------------------
def _users(graph: Graph, name: str) -> list[str]:
    return [n for n, node in graph.nodes(data="node") if any(name in free_names(s) for s in node.expressions().values())]


def _save_error(graph: Graph, name: str, what: str, hint: str) -> ModelError:
    users = _users(graph, name)
    return ModelError(
        f"cannot save the {what} '{name}' used by the model",
        node=users[0] if users else None,
        model=graph.name,
        location=graph.nodes[users[0]]["node"].location if users else None,
        hint=hint,
    )


def _public_module_names(module: str) -> list[str]:
    """Candidate public modules for an object defined in ``module`` (``jax._src.nn.functions`` -> ``jax.nn``...)."""
    parts = module.split(".")
    public = [p for p in parts if not p.startswith("_")]
    candidates = [".".join(public[:i]) for i in range(len(public), 0, -1)]
    return [c for c in candidates if c != module] + [module]


def _import_ref(ref: str) -> Any:
    module_name, _, qualname = ref.partition(":")
    value: Any = importlib.import_module(module_name)
    for attr in qualname.split("."):
        value = getattr(value, attr)
    return value


def _object_ref(value: Any) -> str | None:
    """``module:qualname`` that imports back as ``value``, or ``None``."""
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return None
    for candidate in _public_module_names(module):
        for name in dict.fromkeys([qualname, qualname.rsplit(".", 1)[-1]]):
            ref = f"{candidate}:{name}"
            try:
                if _import_ref(ref) is value:
                    return ref
            except Exception:
                continue
    return None


def _encode(value: Any, graph: Graph, name: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return {"type": "value", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(value)}
    if isinstance(value, complex):
        return {"type": "complex", "value": [repr(value.real), repr(value.imag)]}
    if isinstance(value, types.ModuleType):
        try:
            if importlib.import_module(value.__name__) is value:
                return {"type": "module", "name": value.__name__}
        except ImportError:
            pass
        raise _save_error(graph, name, "module", "use modules that can be imported by name")
    if isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "items": [_encode(v, graph, name) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _save_error(graph, name, "dict constant", "only dicts with string keys can be saved")
        return {"type": "dict", "items": {k: _encode(v, graph, name) for k, v in value.items()}}
    if isinstance(value, (np.ndarray, np.generic)) or (hasattr(value, "__array__") and hasattr(value, "dtype") and hasattr(value, "shape")):
        array = np.asarray(value)
        if array.dtype == object:
            raise _save_error(graph, name, "object array", "save arrays of numbers or booleans")
        data = array.ravel().tolist()
        if np.issubdtype(array.dtype, np.complexfloating):
            data = [[repr(float(z.real)), repr(float(z.imag))] for z in data]
        elif np.issubdtype(array.dtype, np.floating):
            data = [repr(float(x)) for x in data]
        return {
            "type": "array",
            "library": "numpy" if isinstance(value, (np.ndarray, np.generic)) else "jax",
            "scalar": isinstance(value, np.generic),
            "dtype": str(array.dtype),
            "shape": list(array.shape),
            "data": data,
        }
    if callable(value):
        ref = _object_ref(value)
        if ref is None:
            where = getattr(value, "__module__", None)
            why = (
                "it is defined in __main__ (a script or notebook)"
                if where == "__main__"
                else "it is a lambda or a nested function"
                if "<" in (getattr(value, "__qualname__", "") or "")
                else "it cannot be imported back by name"
            )
            raise _save_error(
                graph, name, "function", f"{why}; define it at the top level of an importable module and use it from there"
            )
        return {"type": "object", "ref": ref}
    raise _save_error(
        graph, name, f"{type(value).__name__} constant",
        "only modules, importable functions and classes, numbers, strings, arrays, lists, tuples and dicts can be saved",
    )


# -- decoding --------------------------------------------------------------------------------------
class _Bad(Exception):
    """A problem in the file, described for the user."""


def _decode(data: Any, where: str) -> Any:
    if not isinstance(data, dict) or "type" not in data:
        raise _Bad(f"{where}: expected an object with a 'type'")
    kind = data["type"]
    try:
        if kind == "value":
            value = data["value"]
            if value is not None and not isinstance(value, (bool, str)):
                raise _Bad(f"{where}: a 'value' entry holds null, a boolean or a string")
            return value
        if kind == "int":
            return int(data["value"])
        if kind == "float":
            return float(data["value"])
        if kind == "complex":
            re_, im = data["value"]
            return complex(float(re_), float(im))
        if kind == "module":
            try:
                return importlib.import_module(data["name"])
            except ImportError as err:
                raise _Bad(f"{where}: cannot import module '{data['name']}' ({err})") from None
        if kind == "object":
            ref = data["ref"]
            if not isinstance(ref, str) or ":" not in ref:
                raise _Bad(f"{where}: a reference is written 'module:qualname', got {ref!r}")
            try:
                return _import_ref(ref)
            except (ImportError, AttributeError) as err:
                raise _Bad(f"{where}: cannot import '{ref}' ({err})") from None
        if kind in ("list", "tuple"):
            items = [_decode(v, f"{where}[{i}]") for i, v in enumerate(_as(data["items"], list, where))]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {k: _decode(v, f"{where}.{k}") for k, v in _as(data["items"], dict, where).items()}
        if kind == "array":
            return _decode_array(data, where)
    except KeyError as err:
        raise _Bad(f"{where}: the {kind!r} entry lacks the field {err}") from None
    except (TypeError, ValueError) as err:
        raise _Bad(f"{where}: malformed {kind!r} entry ({err})") from None
    raise _Bad(f"{where}: unknown entry type {kind!r}")


def _as(value: Any, cls: type, where: str) -> Any:
    if not isinstance(value, cls):
        raise _Bad(f"{where}: expected a JSON {'array' if cls is list else 'object'}, got {type(value).__name__}")
    return value


def _decode_array(data: dict, where: str) -> Any:
    dtype = np.dtype(data["dtype"])
    shape = tuple(int(d) for d in _as(data["shape"], list, where))
    raw = _as(data["data"], list, where)
    if len(raw) != math.prod(shape):
        raise _Bad(f"{where}: the array has shape {shape} but {len(raw)} values")
    if np.issubdtype(dtype, np.complexfloating):
        values = [complex(float(a), float(b)) for a, b in raw]
    elif np.issubdtype(dtype, np.floating):
        values = [float(x) for x in raw]
    else:
        values = raw
    array = np.asarray(values, dtype=dtype).reshape(shape)
    if data.get("scalar"):
        return array[()]
    if data.get("library") == "jax":
        import jax.numpy as jnp

        return jnp.asarray(array)
    return array


# -- graphs ----------------------------------------------------------------------------------------
def _node_fields(node: Node) -> dict[str, Any]:
    return {
        f.name: getattr(node, f.name)
        for f in dataclasses.fields(node)
        if f.name not in ("name", "location", "info")
    }


def to_json(model: Any) -> dict[str, Any]:
    """The JSON-able dict :func:`save` writes (see module docstring).

    Raises
    ------
    ModelError
        For an environment entry that cannot be saved, naming it and a node using it.
    """
    from .model import as_graph, as_model

    graph = as_graph(model)
    plain = nx.DiGraph()
    for name in graph.order():
        node = graph.nodes[name]["node"]
        if node.kind not in NODE_KINDS:
            raise ModelError(
                f"cannot save a {type(node).__name__} node: it is not one of the saved node kinds "
                f"({', '.join(sorted(NODE_KINDS))})",
                node=name, model=graph.name, location=node.location,
                hint="save the model before the pass that made this node (e.g. marginalize), and run the pass "
                "again after loading",
            )
        plain.add_node(
            name,
            kind=node.kind,
            fields=_node_fields(node),
            info=[list(pair) for pair in node.info],
            location=node.location,
        )
    for u, v, slots in graph.edges(data="slots"):
        plain.add_edge(u, v, slots=list(slots or ()))
    plain.graph.update(
        name=graph.name,
        returns=list(graph.returns()) if graph.graph.get("returns") is not None else None,
        returns_tuple=bool(graph.graph.get("returns_tuple", False)),
        doc=as_model(model).__doc__ if not isinstance(model, Graph) else None,
        env={key: _encode(value, graph, key) for key, value in sorted(graph.env.items())},
    )
    extra = sorted(k for k in graph.graph if k not in ("name", "returns", "returns_tuple", "env"))
    for key in extra:
        try:
            json.dumps(graph.graph[key])
        except (TypeError, ValueError):
            raise ModelError(f"cannot save the graph attribute '{key}' (not JSON data)", model=graph.name) from None
        plain.graph.setdefault("attributes", {})[key] = graph.graph[key]
    data = nx.node_link_data(plain, edges="edges")
    return {"format": FORMAT, "version": VERSION, "ppgraph_version": __version__, "graph": data}


def save(model: Any, path: str | pathlib.Path) -> None:
    """Save a model (or graph) to a JSON file from which :func:`load` rebuilds it exactly.

    Parameters
    ----------
    model
        A :class:`~ppgraph.Model` or :class:`~ppgraph.Graph` (e.g. after passes).
    path
        The file to write (conventionally ``.json``).

    Raises
    ------
    ModelError
        If the graph uses something that cannot be saved (a lambda, a function
        defined in ``__main__``, an arbitrary object): the message names it, a
        node using it, and how to fix it.  Nothing is written then.
    """
    text = _dumps(to_json(model))
    pathlib.Path(path).write_text(text + "\n", encoding="utf-8")


def _dumps(value: Any, indent: str = "") -> str:
    """JSON with one key per line, but lists of scalars (array data, slots) on one line."""
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        if all(isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v) for v in value):
            return "[" + ", ".join(json.dumps(v, allow_nan=False) for v in value) + "]"
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, allow_nan=False)


def _build_node(name: Any, data: dict, where: str) -> Node:
    if not isinstance(name, str) or not name:
        raise _Bad(f"{where}: a node id must be a non-empty string, got {name!r}")
    kind = data.get("kind")
    cls = NODE_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise _Bad(f"node '{name}': unknown kind {kind!r} (kinds are {', '.join(NODE_KINDS)})")
    fields = data.get("fields")
    if not isinstance(fields, dict):
        raise _Bad(f"node '{name}': missing or malformed 'fields'")
    expected = {f.name for f in dataclasses.fields(cls)} - {"name", "location", "info"}
    unknown = sorted(set(fields) - expected)
    if unknown:
        raise _Bad(f"node '{name}': unknown field(s) {unknown} for a {kind} node (fields are {sorted(expected)})")
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise _Bad(f"node '{name}': field '{key}' must be Python source (a string) or null, got {type(value).__name__}")
        if isinstance(value, str):
            try:
                parse_expr(value)
            except SyntaxError as err:
                raise _Bad(f"node '{name}': field '{key}' is not a valid Python expression: {value!r} ({err.msg})") from None
    info = data.get("info", [])
    if not isinstance(info, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in info
    ):
        raise _Bad(f"node '{name}': 'info' must be a list of [key, value] string pairs")
    location = data.get("location")
    if location is not None and not isinstance(location, str):
        raise _Bad(f"node '{name}': 'location' must be a string or null")
    try:
        return cls(name, location=location, info=tuple(tuple(p) for p in info), **fields)
    except TypeError as err:
        raise _Bad(f"node '{name}': {err}") from None


def from_json(data: Any, *, source: str = "the data") -> Any:
    """Rebuild a :class:`~ppgraph.Model` from the dict :func:`to_json` made.

    Raises
    ------
    SaveFileError
        Naming what is wrong in ``source`` (the file name in messages).
    """
    try:
        return _from_json(data, source)
    except _Bad as err:
        raise SaveFileError(f"{source}: {err}", hint="the file is corrupted or was edited by hand; save the model again") from None
    except ModelError as err:
        raise SaveFileError(
            f"{source}: the saved graph is not valid: {err}",
            hint="the file is corrupted or was edited by hand; save the model again",
        ) from None
    except Exception as err:  # anything else malformed: still one clear error, never a half-loaded graph
        raise SaveFileError(
            f"{source}: malformed file ({type(err).__name__}: {err})",
            hint="the file is corrupted or was edited by hand; save the model again",
        ) from None


def _from_json(data: Any, source: str) -> Any:
    from .model import Model

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _Bad(f"not a ppgraph graph file (expected \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise _Bad(f"malformed format version {version!r}")
    if version > VERSION:
        raise _Bad(f"the file has format version {version}, newer than this ppgraph reads ({VERSION}); upgrade ppgraph")
    body = data.get("graph")
    if not isinstance(body, dict):
        raise _Bad("missing the 'graph' object")
    nodes = _as(body.get("nodes"), list, "'graph.nodes'")
    edges = _as(body.get("edges"), list, "'graph.edges'")
    attrs = _as(body.get("graph"), dict, "'graph.graph'")
    if not body.get("directed", False) or body.get("multigraph", False):
        raise _Bad("the graph must be directed and not a multigraph")
    name = attrs.get("name")
    if not isinstance(name, str):
        raise _Bad("the graph has no name")
    env_data = _as(attrs.get("env", {}), dict, "'graph.graph.env'")
    env = {key: _decode(value, f"env entry '{key}'") for key, value in env_data.items()}
    returns = attrs.get("returns")
    if returns is not None and not (isinstance(returns, list) and all(isinstance(r, str) for r in returns)):
        raise _Bad("'returns' must be a list of node names or null")
    graph = Graph(name=name, env=env)
    graph.graph["returns"] = tuple(returns) if returns is not None else None
    graph.graph["returns_tuple"] = bool(attrs.get("returns_tuple", False))
    graph.graph.update(_as(attrs.get("attributes", {}), dict, "'graph.graph.attributes'"))
    for i, entry in enumerate(nodes):
        entry = _as(entry, dict, f"node #{i}")
        node_id = entry.get("id")
        if node_id in graph.nodes:
            raise _Bad(f"node '{node_id}' appears twice")
        graph.add_node(node_id, node=_build_node(node_id, entry, f"node #{i}"))
    graph.link()
    saved: dict[tuple[str, str], tuple[str, ...]] = {}
    for i, entry in enumerate(edges):
        entry = _as(entry, dict, f"edge #{i}")
        u, v, slots = entry.get("source"), entry.get("target"), entry.get("slots", [])
        if u not in graph.nodes or v not in graph.nodes:
            raise _Bad(f"edge #{i} ({u!r} -> {v!r}) refers to a node that does not exist")
        if not isinstance(slots, list):
            raise _Bad(f"edge {u} -> {v}: 'slots' must be a list")
        saved[(u, v)] = tuple(slots)
    actual = {(u, v): tuple(s or ()) for u, v, s in graph.edges(data="slots")}
    if saved != actual:
        extra = sorted(set(saved) - set(actual))
        missing = sorted(set(actual) - set(saved))
        differ = sorted(e for e in set(saved) & set(actual) if saved[e] != actual[e])
        parts = []
        if extra:
            parts.append("edges no node uses: " + ", ".join(f"{u} -> {v}" for u, v in extra))
        if missing:
            parts.append("uses without an edge: " + ", ".join(f"{u} -> {v}" for u, v in missing))
        if differ:
            parts.append("edges with other slots: " + ", ".join(f"{u} -> {v}" for u, v in differ))
        raise _Bad("the edges do not match what the nodes use (" + "; ".join(parts) + ")")
    validate(graph)
    doc = attrs.get("doc")
    return Model(graph, doc=doc if isinstance(doc, str) else None)


def load(path: str | pathlib.Path) -> Any:
    """Load a model saved with :func:`save`.

    Parameters
    ----------
    path
        The JSON file.

    Returns
    -------
    Model
        The same graph (node objects, edges, environment, name, returns); its
        compiled functions are identical to the original's.

    Raises
    ------
    SaveFileError
        If the file is missing, not JSON, not a ppgraph file, of a newer format
        version, or corrupted / edited inconsistently (the message says what).
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SaveFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SaveFileError(f"{path}: cannot read the file ({err})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SaveFileError(
            f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})",
            hint="the file is corrupted or was edited by hand; save the model again",
        ) from None
    return from_json(data, source=str(path))

