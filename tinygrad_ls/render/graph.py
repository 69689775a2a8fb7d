"""Which nodes and edges to draw, independent of the output format.

``extract(roots, ...)`` walks the graph from ``roots`` breadth-first over every Value argument
of every recorded op (``fn.inputs``), constants and Values that do not require grad included,
with an explicit queue: no recursion, so a chain of 100 000 ops is walked like a chain of ten.
(``engine.toposort`` is not reused because it follows only the inputs that need a gradient,
and a picture must also show the data and constants.) Nodes are numbered in that order —
``v0`` is the first root, ``op3`` the op that made ``v3`` — so the same graph always gives the
same output, whatever the objects' ``id()`` or the global op counter.

Module clusters: ``Module.__call__`` brackets every forward call with two numbers from the op
counter (``mode.sequence_mark``) and keeps them as ``_last_call_span``. An op belongs to
the innermost module whose span contains its ``fn.sequence``; a Value to the module of the op
that made it; a parameter to the module that registers it (``named_parameters``). Spans are
those of each module's most recent call.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ..checks import is_int
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..value import Value
from .labels import constant_text

HIDDEN_ID = 'hidden'
Params = Mapping[str, Value] | Iterable[tuple[str, Value]] | None  # names for Values
COMMUTATIVE_OPS = frozenset({'add', 'mul', 'maximum', 'minimum'})


@dataclass(eq=False)
class ValueNode:
    """A Value to draw: ``kind`` is 'output', 'parameter', 'leaf' (requires grad), 'data' (a
    leaf without grad) or 'intermediate'; ``module`` is the dotted name of the module it
    belongs to ('' for none); ``cluster`` where it is drawn ('' at the top level)."""
    id: str
    value: Value
    kind: str
    name: str | None
    module: str = ''
    cluster: str = ''


@dataclass(eq=False)
class OpNode:
    """A recorded op: ``args`` has one entry per argument, None for a Value, else the short
    text of the constant; ``settings`` is the op's ``extra_repr()`` (kernel, stride, …)."""
    id: str
    name: str
    args: tuple
    sequence: int
    output: ValueNode
    module: str = ''
    cluster: str = ''
    settings: str = ''


@dataclass(eq=False)
class ModuleNode:
    """A module drawn as one node (``collapse=``): what it holds and what leaves it."""
    id: str
    name: str
    type_name: str
    n_ops: int = 0
    parameters: list = field(default_factory=list)   # ValueNodes
    values: list = field(default_factory=list)       # every ValueNode inside, parameters included
    outputs: list = field(default_factory=list)      # ValueNodes used outside, or roots
    module: str = ''                                 # the enclosing module
    cluster: str = ''


@dataclass
class Cluster:
    """A module drawn as a labelled box around its nodes; ``parent`` is the enclosing cluster's
    module name ('' for the top level)."""
    id: str
    name: str
    type_name: str
    parent: str
    depth: int


@dataclass
class Graph:
    """Everything an output format needs: nodes in traversal order, edges as
    ``(tail id, head id, argument position or '')`` in data-flow direction, clusters parents
    first, and how many Values were left out by ``max_nodes`` (``hidden``)."""
    values: list
    ops: list
    modules: list
    edges: list
    clusters: list
    hidden: int
    total: int
    max_nodes: int | None


def nest(graph: Graph, statement: Callable[[ValueNode | OpNode | ModuleNode], str], hidden: str,
         unit: str, opening: Callable[[Cluster], list], closing: str) -> list:
    """The lines of an output format's graph body: ``statement(node)`` of every node (Values,
    then ops, then collapsed modules; ``hidden`` for the note that stands for the Values left
    out) inside nested clusters. A cluster is its ``opening(cluster)`` lines, its nodes' statements,
    its child clusters and ``closing``; each level is indented by one more ``unit``. Depth
    first, without recursion."""
    statements = defaultdict(list)  # cluster name -> statements
    for node in graph.values + graph.ops + graph.modules:
        statements[node.cluster].append(statement(node))
    if graph.hidden:
        statements[''].append(hidden)
    children = defaultdict(list)
    for cluster in graph.clusters:
        children[cluster.parent].append(cluster)
    lines = [unit + line for line in statements['']]
    stack = [(False, cluster) for cluster in reversed(children[''])]
    while stack:
        is_end, cluster = stack.pop()
        indent = unit * (cluster.depth + 1)
        if is_end:
            lines.append(indent + closing)
            continue
        lines.extend(indent + line for line in opening(cluster))
        lines.extend(indent + unit + line for line in statements[cluster.name])
        stack.append((True, cluster))
        stack.extend((False, child) for child in reversed(children[cluster.name]))
    return lines


def as_roots(root) -> list:
    """``root`` (a Value or an iterable of Values) as a list of distinct Values."""
    roots = [root] if isinstance(root, Value) else list(root) if isinstance(root, Iterable) else None
    if roots is None or not roots or not all(isinstance(r, Value) for r in roots):
        raise TypeError(f"expected a Value or a non-empty list of Values to draw, got {type(root).__name__}")
    return list(dict.fromkeys(roots))


def walk(roots: list) -> list:
    """Every Value that ``roots`` were made from (roots first), breadth-first over each op's
    Value arguments in argument order, each once. Iterative."""
    order = list(roots)
    seen = set(order)
    i = 0
    while i < len(order):
        fn = order[i]._fn
        i += 1
        if fn is None:
            continue
        for arg in fn.inputs:
            if isinstance(arg, Value) and arg not in seen:
                seen.add(arg)
                order.append(arg)
    return order


def _parameter_names(params: Params, module: Module | None) -> dict:
    """Value -> display name, from ``params`` (a dict or ``(name, Value)`` pairs) or, without
    it, from ``module.named_parameters()``."""
    if params is None:
        params = module.named_parameters() if module is not None else ()
    items = params.items() if isinstance(params, Mapping) else params
    names = {}
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Value)):
            raise TypeError("params must map names to Values, e.g. dict(model.named_parameters()), "
                            f"got an item {item!r:.60}")
        names.setdefault(item[1], str(item[0]))
    return names


def _kind(value: Value, is_root: bool, is_named_param: bool) -> str:
    if is_root:
        return 'output'
    if isinstance(value, Parameter) or (is_named_param and value._fn is None):
        return 'parameter'
    if value._fn is not None:
        return 'intermediate'
    return 'leaf' if value.requires_grad else 'data'


def extract(root: Value | Iterable[Value], params: Params = None, module: Module | None = None,
            cluster_modules: bool = True, collapse: str | Iterable[str] = (),
            max_nodes: int | None = 2000) -> Graph:
    """The graph to draw from ``root`` (a Value or a list of Values); see ``draw_graph``."""
    if max_nodes is not None and (not is_int(max_nodes) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    if module is not None and not isinstance(module, Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    roots = as_roots(root)
    order = walk(roots)
    kept = order if max_nodes is None else order[:max_nodes]
    index = {value: i for i, value in enumerate(order)}
    names = _parameter_names(params, module)
    root_set = set(roots)

    values = [ValueNode(f"v{i}", value, _kind(value, value in root_set, value in names),
                        names.get(value) or value.name)
              for i, value in enumerate(kept)]
    ops, edges = [], []
    for node in values:
        fn = node.value._fn
        if fn is None:
            continue
        op = OpNode('op' + node.id[1:], fn.name, tuple(
            None if isinstance(arg, Value) else constant_text(arg) for arg in fn.inputs),
            fn.sequence, node, settings=fn.extra_repr())
        ops.append(op)
        positional = fn.name not in COMMUTATIVE_OPS and op.args.count(None) > 1
        hidden_edge = False
        for position, arg in enumerate(fn.inputs):
            if not isinstance(arg, Value):
                continue
            i = index[arg]
            if i < len(kept):
                edges.append((f"v{i}", op.id, str(position) if positional else ''))
            elif not hidden_edge:
                edges.append((HIDDEN_ID, op.id, ''))
                hidden_edge = True
        edges.append((op.id, node.id, ''))

    graph = Graph(values, ops, [], edges, [], len(order) - len(kept), len(order), max_nodes)
    collapse = (collapse,) if isinstance(collapse, str) else tuple(collapse or ())
    if module is None:
        if collapse:
            raise ValueError("collapse needs module=: the model whose submodules to collapse")
        return graph
    _assign_modules(graph, module)
    if collapse:
        _collapse(graph, module, collapse, root_set)
    if cluster_modules:
        _make_clusters(graph, module)
    return graph


def _assign_modules(graph: Graph, module: Module) -> None:
    """Set ``.module`` of every op (the innermost module call whose span contains the op's
    sequence number), of every Value made by an op, and of every parameter (its owner)."""
    spans = sorted(span + (name,) for name, m in module.named_modules()
                   if name and (span := vars(m).get('_last_call_span')) is not None)
    stack, next_span = [], 0
    for op in sorted(graph.ops, key=lambda op: op.sequence):  # sweep: spans nest like calls
        while next_span < len(spans) and spans[next_span][0] < op.sequence:
            while stack and stack[-1][1] < spans[next_span][0]:
                stack.pop()
            stack.append(spans[next_span])
            next_span += 1
        while stack and stack[-1][1] < op.sequence:
            stack.pop()
        op.module = stack[-1][2] if stack else ''
        op.output.module = op.module
    if graph.ops and not any(op.module for op in graph.ops):
        if spans:
            warnings.warn("draw_graph: no op of this graph was recorded during the latest call of "
                          "a submodule of `module`, so there are no module clusters. Clusters "
                          "follow each module's most recent call: draw right after the forward "
                          "pass that built this graph.", stacklevel=4)
        return  # parameters alone in their modules' boxes would mislead: no clusters at all
    owners = {param: name.rpartition('.')[0] for name, param in module.named_parameters()}
    for node in graph.values:
        if node.value._fn is None and node.value in owners:
            node.module = owners[node.value]


def _inside(name: str, outer: str) -> bool:
    return name == outer or name.startswith(outer + '.')


def _collapse(graph: Graph, module: Module, collapse: tuple, roots: set) -> None:
    """Replace the nodes of each module named in ``collapse`` (and of its submodules) by one
    ModuleNode; edges are redirected to it, internal ones dropped, duplicates merged."""
    types = {name: type(m).__name__ for name, m in module.named_modules()}
    unknown = [name for name in collapse if name not in types or not name]
    if unknown:
        known = ', '.join(repr(name) for name in types if name)
        raise ValueError(f"collapse: no submodule named {unknown[0]!r}; the submodules are {known}")
    outer = [name for name in types if name in collapse
             and not any(other != name and _inside(name, other) for other in collapse)]
    modules = {name: ModuleNode(f"m{k}", name, types[name], module=name.rpartition('.')[0])
               for k, name in enumerate(outer)}

    def container(name: str) -> ModuleNode | None:
        return next((node for outer_name, node in modules.items() if _inside(name, outer_name)), None)

    owner_of = {}  # node id -> ModuleNode
    kept_values, kept_ops = [], []
    for node in graph.values:
        holder = container(node.module) if node.module else None
        if holder is None:
            kept_values.append(node)
            continue
        owner_of[node.id] = holder
        holder.values.append(node)
        if node.kind == 'parameter':
            holder.parameters.append(node)
    for op in graph.ops:
        holder = container(op.module) if op.module else None
        if holder is None:
            kept_ops.append(op)
        else:
            owner_of[op.id] = holder
            holder.n_ops += 1
    edges, seen, leaving = [], set(), set()
    for tail, head, label in graph.edges:
        tail_holder, head_holder = owner_of.get(tail), owner_of.get(head)
        if tail_holder is not None and tail_holder is head_holder:
            continue
        if tail_holder is not None:
            leaving.add(tail)
        edge = (tail_holder.id if tail_holder else tail, head_holder.id if head_holder else head,
                '' if head_holder else label)
        if edge not in seen:
            seen.add(edge)
            edges.append(edge)
    for holder in modules.values():
        holder.outputs = [node for node in holder.values if node.id in leaving or node.value in roots]
    graph.values, graph.ops, graph.edges = kept_values, kept_ops, edges
    graph.modules = [holder for holder in modules.values() if holder.values or holder.n_ops]


def _make_clusters(graph: Graph, module: Module) -> None:
    """One cluster per module that holds a drawn node (and each module around it), nested
    as the modules are, in ``named_modules`` order; sets each node's ``cluster``."""
    for node in graph.values + graph.ops + graph.modules:
        node.cluster = node.module
    used = set()
    for node in graph.values + graph.ops + graph.modules:
        name = node.cluster
        while name and name not in used:
            used.add(name)
            name = name.rpartition('.')[0]
    k = 0
    for name, m in module.named_modules():
        if name in used:
            parent = name.rpartition('.')[0]
            graph.clusters.append(Cluster(f"cluster_{k}", name, type(m).__name__, parent,
                                          name.count('.')))
            k += 1
