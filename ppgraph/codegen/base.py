"""The codegen driver: walk a graph in topological order, emit AST per node, render, exec.

A *target* (``"sample"``, ``"logpdf"``) is one generated function.  Per node kind,
a *rule* registered with :func:`rule` returns the statements for that node.  The
driver renders each statement with ``astor`` (so every generated line maps back
to its node), execs the function in the graph's environment and wraps it so an
exception inside maps to a :class:`~ppgraph.ModelError` naming the node.

Writing a rule for a new node kind::

    @rule("logpdf", MyKind)
    def _(node, ctx):
        return [f"{ctx.lp} += jnp.sum({node.expr})"]

Rules return statements as source strings or ``ast.stmt`` objects, written with
node *identifiers* (``ident(name)``) and the context's reserved names
(``ctx.jnp``, ``ctx.lp``, ``ctx.key()``...).
"""

from __future__ import annotations

import ast
import itertools
import linecache
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import astor
import jax
import jax.numpy as jnp

from ..errors import ModelError, ShapeError
from ..ir import Argument, Graph, Layer, Node
from ..ir.expr import ident

__all__ = ["rule", "Context", "Compiled", "generate", "RULES", "register_target", "TARGETS"]

RuleFn = Callable[[Node, "Context"], Iterable["str | ast.stmt"]]
RULES: dict[tuple[str, type], RuleFn] = {}
_counter = itertools.count()


def rule(target: str, *kinds: type) -> Callable[[RuleFn], RuleFn]:
    """Register a codegen rule for node kinds in a target (``"sample"`` or ``"logpdf"``)."""

    def decorate(fn: RuleFn) -> RuleFn:
        for kind in kinds:
            RULES[(target, kind)] = fn
        return fn

    return decorate


def dispatch(target: str, node: Node) -> RuleFn:
    """The rule for ``node``'s kind (walking base classes); a clear error if there is none."""
    for cls in type(node).__mro__:
        fn = RULES.get((target, cls))
        if fn is not None:
            return fn
    raise ModelError(
        f"ppgraph cannot generate '{target}' code for a {type(node).__name__} node",
        node=node.name,
        location=node.location,
        hint="import ppgraph.nn, which registers the rules of Layer nodes" if isinstance(node, Layer)
        else f"register a rule with @ppgraph.codegen.rule('{target}', {type(node).__name__})",
    )


@dataclass
class Context:
    """What a rule sees while one function is generated.

    Attributes
    ----------
    graph
        The graph being compiled.
    target
        ``"sample"`` or ``"logpdf"``.
    given
        Nodes whose values are inputs of the generated function.
    terms
        ``logpdf`` only: return a dict of per-node terms instead of their sum.
    names
        Reserved identifiers (``jax``, ``jnp``, ``rng_key``, ``keys``, ``lp``...),
        renamed when a model uses the same name.
    """

    graph: Graph
    target: str
    given: frozenset[str] = frozenset()
    terms: bool = False
    names: dict[str, str] = field(default_factory=dict)
    num_keys: int = 0

    def __getattr__(self, item: str) -> str:
        names = self.__dict__.get("names", {})
        if item in names:
            return names[item]
        raise AttributeError(item)

    def key(self) -> str:
        """Source of a fresh, never reused PRNG key for one random draw."""
        index = self.num_keys
        self.num_keys += 1
        return f"{self.names['keys']}[{index}]"

    def add_term(self, node: Node, source: str) -> str:
        """Statement adding a log-density term for ``node``."""
        if self.terms:
            return f"{self.names['terms']}[{node.name!r}] = {source}"
        return f"{self.names['lp']} += {source}"


class Compiled(NamedTuple):
    """A generated function with its source.

    ``fn`` is the raw generated function (positional model arguments, node values
    as keywords named by identifier); ``source`` its Python source;
    ``lines`` maps each source line (1-based) to the node that produced it.
    """

    fn: Callable[..., Any]
    source: str
    name: str
    target: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    lines: dict[int, str]
    graph: Graph
    filename: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return call_mapped(self, *args, **kwargs)


@dataclass
class Target:
    """How one kind of generated function starts, what it takes and what it returns."""

    name: str
    doc: str
    takes_key: bool
    prologue: Callable[[Context], list[str]]
    epilogue: Callable[[Context, list[str]], list[str]]
    outputs: Callable[[Context], list[str]]


TARGETS: dict[str, Target] = {}


def register_target(target: Target) -> Target:
    """Make a target available to :func:`generate`."""
    TARGETS[target.name] = target
    return target


_RESERVED = ("jax", "jnp", "rng_key", "keys", "lp", "terms")


def _reserve(graph: Graph) -> dict[str, str]:
    taken = {ident(n) for n in graph.nodes} | set(graph.env)
    names = {}
    for word in _RESERVED:
        candidate = word
        while candidate in taken and not (word in ("jax", "jnp") and graph.env.get(candidate) is _module(word)):
            candidate += "_"
        names[word] = candidate
    return names


def _module(word: str) -> Any:
    return {"jax": jax, "jnp": jnp}[word]


def generate(
    graph: Graph,
    target: str,
    *,
    given: Iterable[str] = (),
    terms: bool = False,
    label: str | None = None,
    doc: str | None = None,
    takes_key: bool | None = None,
) -> Compiled:
    """Generate, render and exec one target function for ``graph``.

    Parameters
    ----------
    graph
        A validated graph.
    target
        ``"sample"`` or ``"logpdf"`` (or a registered target).
    given
        Node names whose values the function takes as keyword inputs.
    terms
        For ``logpdf``: return ``{node: term}`` instead of the sum.
    label
        Name of the generated function is ``<model>_<label>`` (default: the target).
    doc
        Its docstring (``{model}`` is replaced by the model's name).
    takes_key
        Override whether the function's first parameter is a PRNG key.
    """
    if target not in TARGETS:
        raise ModelError(f"unknown codegen target '{target}'", hint=f"targets are {sorted(TARGETS)}")
    spec = TARGETS[target]
    ctx = Context(graph=graph, target=target, given=frozenset(given), terms=terms, names=_reserve(graph))
    body: list[tuple[str | None, list[str]]] = []
    order = graph.order()
    for name in order:
        node = graph.nodes[name]["node"]
        stmts = dispatch(target, node)(node, ctx)
        rendered = [s if isinstance(s, str) else astor.to_source(s).rstrip("\n") for s in stmts]
        if rendered:
            body.append((name, rendered))
    outputs = spec.outputs(ctx)
    prologue = spec.prologue(ctx)
    epilogue = spec.epilogue(ctx, outputs)

    label = label or target
    takes_key = spec.takes_key if takes_key is None else takes_key
    fn_name = f"{ident(graph.name)}_{label}" if ident(graph.name).isidentifier() else label
    params = [] if not takes_key else [ctx.names["rng_key"]]
    for arg in graph.arguments():
        node = graph.nodes[arg]["node"]
        params.append(ident(arg) if node.default is None else f"{ident(arg)}={node.default}")
    # required arguments must come before those with defaults in a def
    params = ([p for p in params if "=" not in p] + [p for p in params if "=" in p])
    inputs = [n for n in order if n in ctx.given and not isinstance(graph.nodes[n]["node"], Argument)]
    signature = ", ".join(params + (["*"] + [ident(n) for n in inputs] if inputs else []))

    docstring = (doc or spec.doc).format(model=graph.name)
    lines = [f"def {fn_name}({signature}):", f'    """{docstring}"""']
    line_nodes: dict[int, str] = {}
    for stmt in prologue:
        lines.append("    " + stmt)
    for name, stmts in body:
        for stmt in stmts:
            for piece in stmt.splitlines():
                lines.append("    " + piece)
                line_nodes[len(lines)] = name
    for stmt in epilogue:
        lines.append("    " + stmt)
    if ctx.num_keys and not takes_key:
        raise ModelError(f"target '{label}' draws random values but takes no key", model=graph.name)
    if ctx.num_keys:
        split = f"{ctx.names['keys']} = {ctx.names['jax']}.random.split({ctx.names['rng_key']}, {ctx.num_keys})"
        lines.insert(2, "    " + split)
        line_nodes = {k + 1: v for k, v in line_nodes.items()}
    source = "\n".join(lines) + "\n"

    filename = f"<ppgraph {graph.name}.{target} #{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = dict(graph.env)
    namespace[ctx.names["jax"]] = jax
    namespace[ctx.names["jnp"]] = jnp
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as err:  # a node's expression is not valid in generated code
        node = line_nodes.get(err.lineno or 0)
        raise ModelError(f"generated code does not compile: {err.msg}", node=node, model=graph.name) from err
    exec(code, namespace)
    return Compiled(
        fn=namespace[fn_name],
        source=source,
        name=fn_name,
        target=target,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        lines=line_nodes,
        graph=graph,
        filename=filename,
    )


_HINTS = (
    ("NotImplementedError", "sample", "an improper prior (Flat / ImproperUniform) cannot be sampled: "
     "observe the variable, give its value, or use a proper prior"),
    ("TracerBoolConversionError", None, "use jnp.where(cond, a, b) instead of Python `if` on traced values"),
    ("ConcretizationTypeError", None, "a shape or Python control flow depends on a traced value; "
     "pass sizes as Python ints"),
    ("has no attribute 'sample'", None, "the right side of `<~` must evaluate to a distribution"),
    ("has no attribute 'log_prob'", None, "the right side of `<~` must evaluate to a distribution"),
    ("got invalid", None, "a parameter of this node's distribution is outside its valid range "
     "(e.g. a scale that can be negative): give that parent a distribution with the right support "
     "(HalfNormal, Exponential, ...) or transform it (jnp.exp, jax.nn.softplus)"),
    ("broadcast", None, "check the shapes of this node's inputs (see pg.describe); they must broadcast"),
    ("shape", None, "check the shapes of this node's inputs (see pg.describe); they must broadcast"),
)


def call_mapped(compiled: Compiled, *args: Any, **kwargs: Any) -> Any:
    """Call a generated function; map an exception inside it to a ModelError naming the node."""
    try:
        return compiled.fn(*args, **kwargs)
    except ModelError as err:
        # a ModelError raised by a library object (e.g. a layer) without a node: name the node
        node = _failing_node(err, compiled) if err.node is None else None
        if node is None:
            raise
        where = compiled.graph.nodes[node]["node"]
        try:
            named = type(err)(err.message, node=node, model=compiled.graph.name, location=where.location,
                              hint=err.hint)
        except TypeError:  # a subclass with another signature: keep it as it is
            raise err from None
        raise named from err
    except Exception as err:
        node = _failing_node(err, compiled)
        if node is None:
            raise
        raise node_error(compiled.graph, node, err, compiled.target) from err


def node_error(graph: Graph, name: str, err: BaseException, target: str = "") -> ModelError:
    """A ModelError for exception ``err`` raised while computing node ``name``."""
    node = graph.nodes[name]["node"]
    detail = str(err).strip()
    text = f"{type(err).__name__}: {detail.splitlines()[0]}" if detail else type(err).__name__
    hint = None
    for needle, only_target, advice in _HINTS:
        if needle in type(err).__name__ or needle in str(err):
            if only_target in (None, target):
                hint = advice
                break
    exprs = "; ".join(f"{k}: {v}" for k, v in node.expressions().items())
    cls = ShapeError if hint and "shape" in hint else ModelError
    return cls(
        f"computing this {node.kind} node ({exprs}) failed with {text}",
        node=name,
        model=graph.name,
        location=node.location,
        hint=hint,
    )


def _failing_node(err: BaseException, compiled: Compiled) -> str | None:
    tb = err.__traceback__
    node = None
    filename = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == compiled.filename:
            filename = code.co_filename
            node = compiled.lines.get(tb.tb_lineno, node)
        tb = tb.tb_next
    if filename is None:
        return None
    return node

