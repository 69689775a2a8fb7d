"""Mermaid output: ``to_mermaid`` writes the graph that ``draw_graph`` draws as a Mermaid
flowchart — plain text that GitHub, GitLab and most Markdown viewers render with no program
installed. Same nodes, numbering, clusters and collapsing as ``draw_graph``; node kinds are
told by shape and fill, the gradient colour scale by a thick border.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence

from ..nn.module import Module
from ..value import Value
from .graph import HIDDEN_ID, Cluster, Graph, ModuleNode, OpNode, Params, ValueNode, extract, nest
from .labels import (
    DIRECTIONS,
    GRAD_SCALE,
    HEALTHY_FILL,
    KIND_STYLES,
    NONFINITE_BORDER,
    NONFINITE_FILL,
    ValueText,
    all_finite,
    grad_colors,
    mermaid_text,
    value_text,
)

# kind -> (opening, closing) brackets of the Mermaid node shape
SHAPES = {
    'output': ('[', ']'), 'intermediate': ('[', ']'), 'parameter': ('[(', ')]'),
    'leaf': ('([', '])'), 'data': ('[/', '/]'), 'op': ('((', '))'), 'module': ('[[', ']]'),
}


def _node(node_id: str, lines: list, kind: str, finite: bool = True) -> str:
    """A node in the shape of its kind, of the class of its kind, or 'nonfinite'."""
    opening, closing = SHAPES[kind]
    return f'{node_id}{opening}"{"<br/>".join(lines)}"{closing}:::{kind if finite else "nonfinite"}'


def _value_lines(text: ValueText, show_data: bool, prefix: str = '') -> tuple[list, str | None]:
    """A Value's label lines and the border colour its gradient asks for (None on the healthy
    range or without a gradient)."""
    lines = []
    if text.name:
        lines.append(f"<b>{mermaid_text(text.name)}</b>")
    elif text.kind:
        lines.append(f"<i>{text.kind}</i>")
    lines.append(f"{prefix}{text.shape}")
    if show_data:
        lines.append(mermaid_text(f"data {text.data}"))
    border = None
    if text.grad_rms is not None:
        lines.append(mermaid_text(f"grad {text.grad}"))
        fill, _, line = grad_colors(text.grad_rms)
        border = None if fill == HEALTHY_FILL else line  # only what is off the healthy range
    elif text.grad is not None:
        lines.append('grad none')
    return lines, border


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
    if rankdir not in DIRECTIONS:
        raise ValueError(f"rankdir must be one of {', '.join(DIRECTIONS)}, got {rankdir!r}")
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
    styles = []

    def statement(node: ValueNode | OpNode | ModuleNode) -> str:
        if isinstance(node, ValueNode):
            return _value_node(node, show_data, show_grad, styles)
        if isinstance(node, OpNode):
            settings = [mermaid_text(node.settings)] if node.settings else []
            return _node(node.id, [mermaid_text(_op_text(node)), *settings], 'op')
        return _module_node(node, show_data, show_grad)

    hidden = f'{HIDDEN_ID}>"… {graph.hidden} more values (max_nodes={graph.max_nodes})"]'
    lines = nest(graph, statement, hidden, '    ', _subgraph, 'end')
    lines += [f'    {tail} -->|"{label}"| {head}' if label else f"    {tail} --> {head}"
              for tail, head, label in graph.edges]
    return lines + styles


def _subgraph(cluster: Cluster) -> list:
    label = mermaid_text(f"{cluster.name} · {cluster.type_name}")
    return [f'subgraph {cluster.id}["{label}"]']


def _op_text(op: OpNode) -> str:
    if all(arg is None for arg in op.args):
        return op.name
    return f"{op.name}({', '.join('·' if arg is None else arg for arg in op.args)})"


def _value_node(node: ValueNode, show_data: bool, show_grad: bool, styles: list) -> str:
    text = value_text(node.value, node.name, node.kind, show_grad)
    lines, border = _value_lines(text, show_data)
    if text.finite and border is not None:
        styles.append(f"    style {node.id} stroke:{border},stroke-width:4px")
    return _node(node.id, lines, node.kind, text.finite)


def _module_node(node: ModuleNode, show_data: bool, show_grad: bool) -> str:
    lines = [f"<b>{mermaid_text(node.name)}</b> {mermaid_text(node.type_name)}",
             f"{node.n_ops} ops, {len(node.parameters)} parameters"]
    for output in node.outputs[:3]:
        lines += _value_lines(value_text(output.value, show_grad=show_grad), show_data, 'out ')[0]
    return _node(node.id, lines, 'module', all_finite(v.value for v in node.values))


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
