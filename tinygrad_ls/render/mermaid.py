"""Mermaid output: ``to_mermaid`` writes the graph that ``draw_graph`` draws as a Mermaid
flowchart — plain text that GitHub, GitLab and most Markdown viewers render with no program
installed. Same nodes, numbering, clusters and collapsing as ``draw_graph``; node kinds are
told by shape and fill, the gradient colour scale by a thick border.
"""
from __future__ import annotations

import math
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from ..nn.module import Module
from ..value import Value
from .graph import HIDDEN_ID, Graph, ModuleNode, OpNode, Params, ValueNode, extract
from .labels import (
    GRAD_SCALE,
    HEALTHY_FILL,
    KIND_STYLES,
    NONFINITE_BORDER,
    NONFINITE_FILL,
    data_summary,
    grad_colors,
    grad_summary,
    mermaid_text,
    shape_text,
)

# kind -> (opening, closing) brackets of the Mermaid node shape
SHAPES = {
    'output': ('[', ']'), 'intermediate': ('[', ']'), 'parameter': ('[(', ')]'),
    'leaf': ('([', '])'), 'data': ('[/', '/]'), 'op': ('((', '))'), 'module': ('[[', ']]'),
}


def _node(node_id: str, lines: list, kind: str) -> str:
    opening, closing = SHAPES[kind]
    return f'{node_id}{opening}"{"<br/>".join(lines)}"{closing}:::{kind}'


def _value_lines(value, name: str | None, kind: str, show_data: bool, show_grad: bool,
                 prefix: str = '') -> tuple[list, str | None, bool]:
    """A Value's label lines, the border colour its gradient asks for (None on the healthy
    range or without a gradient), and whether its data and grad are free of NaN and inf."""
    data = value.data
    lines = []
    if name:
        lines.append(f"<b>{mermaid_text(name)}</b>")
    elif kind and kind != 'intermediate':
        lines.append(f"<i>{kind}</i>")
    shape = 'scalar' if data.ndim == 0 else shape_text(data.shape)
    lines.append(f"{prefix}{shape} · {data.dtype}")
    text, healthy = data_summary(data)
    if show_data:
        lines.append(mermaid_text(f"data {text}"))
    border = None
    if show_grad and (value.requires_grad or value.grad is not None):
        if value.grad is None:
            lines.append('grad none')
        else:
            text, rms = grad_summary(np.asarray(value.grad))
            lines.append(mermaid_text(f"grad {text}"))
            fill, _, line = grad_colors(rms)
            border = None if fill == HEALTHY_FILL else line  # only what is off the healthy range
            healthy = healthy and not math.isnan(rms)
    return lines, border, healthy


def to_mermaid(root: Value | Sequence[Value], params: Params = None, show_data: bool = True,
               show_grad: bool = True, rankdir: str = 'LR', *, module: Module | None = None,
               cluster_modules: bool = True, collapse: str | Iterable[str] = (),
               max_nodes: int | None = 300, legend: bool = False) -> str:
    """The graph that made ``root`` as Mermaid flowchart text (``flowchart LR`` ...).

    Arguments as for ``draw_graph``. Shapes: values are rectangles, parameters cylinders,
    leaves that require grad stadiums, data and constants parallelograms, ops circles,
    collapsed modules subroutine boxes. A Value's border is coloured by the rms size of its
    gradient on ``draw_graph``'s scale; NaN or inf gives a yellow fill and a red border.
    ``legend=True`` adds a legend box. The default ``max_nodes`` is lower than
    ``draw_graph``'s because Markdown viewers refuse very large diagrams.
    """
    if rankdir not in ('LR', 'RL', 'TB', 'BT'):
        raise ValueError(f"rankdir must be one of LR, RL, TB, BT, got {rankdir!r}")
    graph = extract(root, params, module, cluster_modules, collapse, max_nodes)
    if graph.hidden:
        warnings.warn(f"to_mermaid: only the {graph.max_nodes} values nearest the output are "
                      f"drawn; {graph.hidden} more are hidden (pass max_nodes=None to draw all)",
                      UserWarning, stacklevel=2)
    lines = [f"flowchart {rankdir}"]
    lines += _body(graph, show_data, show_grad)
    if legend:
        lines += _legend(show_grad)
    used = {name for line in lines for name in re.findall(r':::(\w+)', line)}
    for kind, (fill, border, _) in KIND_STYLES.items():
        if kind in used:
            width = '2px' if kind in ('output', 'module') else '1px'
            lines.append(f"    classDef {kind} fill:{fill},stroke:{border},stroke-width:{width},"
                         "color:#0f172a")
    if 'nonfinite' in used:
        lines.append(f"    classDef nonfinite fill:{NONFINITE_FILL},stroke:{NONFINITE_BORDER},"
                     "stroke-width:4px,color:#0f172a")
    return '\n'.join(lines) + '\n'


def _body(graph: Graph, show_data: bool, show_grad: bool) -> list:
    nodes = defaultdict(list)  # cluster name -> statements
    styles = []
    for node in graph.values:
        nodes[node.cluster].append(_value_node(node, show_data, show_grad, styles))
    for op in graph.ops:
        nodes[op.cluster].append(_node(op.id, [mermaid_text(_op_text(op))], 'op'))
    for node in graph.modules:
        nodes[node.cluster].append(_module_node(node, show_data, show_grad, styles))
    if graph.hidden:
        nodes[''].append(f'{HIDDEN_ID}>"… {graph.hidden} more values (max_nodes={graph.max_nodes})"]')
    lines = [f"    {statement}" for statement in nodes['']]
    children = defaultdict(list)
    for cluster in graph.clusters:
        children[cluster.parent].append(cluster)
    stack = [(False, cluster) for cluster in reversed(children[''])]
    while stack:  # nested subgraphs without recursion
        closing, cluster = stack.pop()
        indent = '    ' * (cluster.depth + 1)
        if closing:
            lines.append(f"{indent}end")
            continue
        label = mermaid_text(f"{cluster.name} · {cluster.type_name}")
        lines.append(f'{indent}subgraph {cluster.id}["{label}"]')
        lines.extend(f"{indent}    {statement}" for statement in nodes[cluster.name])
        stack.append((True, cluster))
        stack.extend((False, child) for child in reversed(children[cluster.name]))
    for tail, head, label in graph.edges:
        lines.append(f'    {tail} -->|"{label}"| {head}' if label else f"    {tail} --> {head}")
    return lines + styles


def _op_text(op: OpNode) -> str:
    if all(arg is None for arg in op.args):
        return op.name
    return f"{op.name}({', '.join('·' if arg is None else arg for arg in op.args)})"


def _value_node(node: ValueNode, show_data: bool, show_grad: bool, styles: list) -> str:
    lines, border, healthy = _value_lines(node.value, node.name, node.kind, show_data, show_grad)
    statement = _node(node.id, lines, node.kind)
    if not healthy:
        return statement.rsplit(':::', 1)[0] + ':::nonfinite'
    if border is not None:
        styles.append(f"    style {node.id} stroke:{border},stroke-width:4px")
    return statement


def _module_node(node: ModuleNode, show_data: bool, show_grad: bool, styles: list) -> str:
    lines = [f"<b>{mermaid_text(node.name)}</b> {mermaid_text(node.type_name)}",
             f"{node.n_ops} ops, {len(node.parameters)} parameters"]
    healthy = True
    for output in node.outputs[:3]:
        out_lines, _, out_healthy = _value_lines(output.value, None, '', show_data, show_grad, 'out ')
        lines += out_lines
        healthy = healthy and out_healthy
    statement = _node(node.id, lines, 'module')
    return statement if healthy else statement.rsplit(':::', 1)[0] + ':::nonfinite'


def _legend(show_grad: bool) -> list:
    lines = ['    subgraph legend["How to read this graph"]', '        direction LR']
    for kind, (_, _, text) in KIND_STYLES.items():
        lines.append(f"        {_node(f'legend_{kind}', [mermaid_text(text)], kind)}")
    if show_grad:
        for i, (_, fill, _, line, label) in enumerate(GRAD_SCALE):
            if fill == HEALTHY_FILL:
                lines.append(f'        legend_grad{i}["grad rms {mermaid_text(label)}: healthy, no border"]')
                continue
            lines.append(f'        legend_grad{i}["grad rms {mermaid_text(label)}"]')
            lines.append(f"        style legend_grad{i} stroke:{line},stroke-width:4px")
        lines.append('        legend_nonfinite["NaN or inf"]:::nonfinite')
    lines.append('    end')
    return lines
