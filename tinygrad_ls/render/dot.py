"""Graphviz output: ``draw_graph`` (a ``graphviz.Digraph`` of a computation graph) and
``save_graph`` (straight to ``.svg`` / ``.png`` / ``.pdf`` / ``.dot`` by file name). Which
program lays the graph out is ``layout.py``'s business.
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import graphviz
import numpy as np

from ..nn.module import Module
from ..value import Value
from .graph import HIDDEN_ID, Cluster, Graph, ModuleNode, OpNode, Params, ValueNode, as_roots, extract, nest
from .labels import (
    DIRECTIONS,
    GRAD_SCALE,
    KIND_STYLES,
    NO_GRAD_TEXT,
    NONFINITE_BORDER,
    NONFINITE_FILL,
    NONFINITE_TEXT,
    ValueText,
    all_finite,
    grad_colors,
    grad_summary,
    html_text,
    value_text,
)
from .layout import layout_program

FONT = 'Arial'  # on every system, or a metric-compatible substitute (Liberation Sans, Arimo)
MUTED = '#475569'
CLUSTER_FILLS = ('#f8fafc', '#f1f5f9', '#e2e8f0')


class GraphDrawing(graphviz.Digraph):
    """The ``graphviz.Digraph`` that ``draw_graph`` returns. ``.source`` is the DOT text;
    ``pipe()``, ``render()``, ``view()`` and Jupyter's inline display are graphviz's, with the
    same arguments, run by the Graphviz ``dot`` program, or ``graphviz-pure`` where ``dot`` is
    missing; where both are, they raise ``GraphvizNotFoundError`` (a RuntimeError saying how
    to install one) and write nothing."""

    def pipe(self, *args, **kwargs):
        """``graphviz.Digraph.pipe`` by ``dot`` or ``graphviz-pure``: the rendered bytes (str
        with ``encoding=``)."""
        with layout_program():
            return super().pipe(*args, **kwargs)

    def render(self, *args, **kwargs) -> str:
        """``graphviz.Digraph.render`` by ``dot`` or ``graphviz-pure``: saves the source and the
        rendered file, returns the rendered file's path."""
        with layout_program():
            return super().render(*args, **kwargs)


# ---- labels ------------------------------------------------------------------------------------
def _row(key: str, text: str, fill: str | None = None, color: str | None = None) -> str:
    """A two-cell row: a small key ('data', 'grad') and the text, both on ``fill``."""
    background = f' bgcolor="{fill}"' if fill else ''
    body = f'<font color="{color}">{text}</font>' if color else text
    key_color = color if fill and color else MUTED
    return (f'<tr><td align="left"{background}><font color="{key_color}" point-size="9">{key}</font></td>'
            f'<td align="left"{background}>{body}</td></tr>')


def _grad_row(text: str, rms: float | None, key: str = 'grad') -> str:
    """The grad row, coloured by the gradient's rms size (None: no gradient yet)."""
    if rms is None:
        return _row(key, 'none', color=NO_GRAD_TEXT)
    fill, color, _ = grad_colors(rms)
    return _row(key, f'<b>{html_text(text)}</b>' if math.isnan(rms) else html_text(text), fill, color)


def _summary_rows(text: ValueText, show_data: bool, prefix: str = '') -> list:
    """The shape, data and grad rows of a Value."""
    rows = [f'<tr><td colspan="2" align="left"><font color="{MUTED}" point-size="9">'
            f'{prefix}{text.shape}</font></td></tr>']  # digits and dtype names: no escaping
    if show_data:
        rows.append(_row('data', html_text(text.data)) if text.data_finite else
                    _row('data', f'<b>{html_text(text.data)}</b>', NONFINITE_FILL, NONFINITE_TEXT))
    if text.grad is not None:
        rows.append(_grad_row(text.grad, text.grad_rms))
    return rows


def _table(rows: list, border_color: str, border: int) -> str:
    return (f'<<table border="{border}" cellborder="0" cellspacing="0" cellpadding="3" '
            f'color="{border_color}" bgcolor="white">{"".join(rows)}</table>>')


def _value_label(node: ValueNode, show_data: bool, show_grad: bool) -> str:
    fill, border_color, _ = KIND_STYLES[node.kind]
    text = value_text(node.value, node.name, node.kind, show_grad)
    rows = []
    if text.name or text.kind:
        title = f'<b>{html_text(text.name)}</b>' if text.name else f'<i>{text.kind}</i>'
        rows.append(f'<tr><td colspan="2" align="left" bgcolor="{fill}">{title}</td></tr>')
    rows += _summary_rows(text, show_data)
    if not text.finite:
        return _table(rows, NONFINITE_BORDER, 3)
    return _table(rows, border_color, 2 if node.kind == 'output' else 1)


def _op_label(op: OpNode) -> str:
    settings = f'<br/><font point-size="8">{html_text(op.settings)}</font>' if op.settings else ''
    if all(arg is None for arg in op.args):
        return f'<{html_text(op.name)}{settings}>'
    args = ', '.join('·' if arg is None else arg for arg in op.args)
    return f'<{html_text(op.name)}<font point-size="9">({html_text(args)})</font>{settings}>'


def _module_label(node: ModuleNode, show_data: bool, show_grad: bool) -> str:
    fill, border_color, _ = KIND_STYLES['module']
    n_values = sum(p.value.size for p in node.parameters)
    parts = [f"{node.n_ops} op{'s' * (node.n_ops != 1)}"]
    if node.parameters:
        parts.append(f"{len(node.parameters)} parameter{'s' * (len(node.parameters) != 1)} "
                     f"({n_values} numbers)")
    rows = [f'<tr><td colspan="2" align="left" bgcolor="{fill}"><b>{html_text(node.name)} </b>'
            f'<font color="{MUTED}">{html_text(node.type_name)}</font></td></tr>',
            f'<tr><td colspan="2" align="left"><font color="{MUTED}" point-size="9">'
            f'{html_text(", ".join(parts))}</font></td></tr>']
    for output in node.outputs[:3]:
        rows += _summary_rows(value_text(output.value, show_grad=show_grad), show_data, 'out ')
    if len(node.outputs) > 3:
        rows.append(f'<tr><td colspan="2" align="left">… {len(node.outputs) - 3} more outputs</td></tr>')
    grads = [np.asarray(p.value.grad).ravel() for p in node.parameters if p.value.grad is not None]
    if show_grad and grads:
        rows.append(_grad_row(*grad_summary(np.concatenate(grads)), 'param grad'))
    if not all_finite(v.value for v in node.values):
        return _table(rows, NONFINITE_BORDER, 3)
    return _table(rows, border_color, 2)


def _legend(graph: Graph, show_grad: bool, rankdir: str) -> str:
    """The graph's label: what the colours, shapes and numbers mean."""
    present = {node.kind for node in graph.values} | ({'op'} if graph.ops else set()) \
        | ({'module'} if graph.modules else set())
    kinds = [kind for kind in KIND_STYLES if kind in present]
    kind_cells = ''.join(f'<td bgcolor="{KIND_STYLES[k][0]}" color="{KIND_STYLES[k][1]}" border="1">'
                         f'{KIND_STYLES[k][2]}</td>' for k in kinds)
    rows = [f'<tr><td align="left"><b>How to read this graph   </b>'
            f'<font color="{MUTED}">values are boxes, ops are ovals; data flows '
            f'{DIRECTIONS[rankdir]}</font></td></tr>',
            f'<tr><td align="left"><table border="0" cellspacing="3" cellpadding="3">'
            f'<tr>{kind_cells}</tr></table></td></tr>']
    if show_grad:
        grad_cells = ''.join(f'<td bgcolor="{fill}" border="1" color="#cbd5e1"><font color="{text}">'
                             f'{html_text(label)}</font></td>' for _, fill, text, _, label in GRAD_SCALE)
        grad_cells += (f'<td bgcolor="{NONFINITE_FILL}" border="3" color="{NONFINITE_BORDER}">'
                       f'<font color="{NONFINITE_TEXT}"><b>NaN or inf</b></font></td>')
        rows += ['<tr><td align="left">Colour of a <b>grad </b>row: its root-mean-square size '
                 '√mean(g²) (|g| for a scalar) — '
                 'blue: vanishing, green: healthy, orange to red: exploding</td></tr>',
                 f'<tr><td align="left"><table border="0" cellspacing="2" cellpadding="3">'
                 f'<tr>{grad_cells}</tr></table></td></tr>']
    positions = ' Small numbers at arrow heads: argument position.' \
        if any(label for _, _, label in graph.edges) else ''
    rows.append(f'<tr><td align="left"><font color="{MUTED}">Tensors: data μ mean, σ std, [min, max]; '
                f'grad norm (L2) and rms. Red border: NaN or inf in data or grad.{positions}'
                '</font></td></tr>')
    if graph.hidden:
        rows.append(f'<tr><td align="left" bgcolor="#fef9c3">{_hidden_text(graph)}</td></tr>')
    return (f'<<table border="0" cellborder="0" cellspacing="2" cellpadding="2">{"".join(rows)}</table>>')


def _hidden_text(graph: Graph) -> str:
    return (f"Only the {graph.max_nodes} values nearest the output are drawn "
            f"(max_nodes={graph.max_nodes}); {graph.hidden} more of the {graph.total} are hidden. "
            f"Pass max_nodes=None to draw all, or collapse modules with collapse=.")


# ---- the drawing -------------------------------------------------------------------------------
def draw_graph(root: Value | Sequence[Value], params: Params = None, show_data: bool = True,
               show_grad: bool = True,
               rankdir: str = 'LR', *, module: Module | None = None, cluster_modules: bool = True,
               collapse: str | Iterable[str] = (), max_nodes: int | None = 2000,
               legend: bool = True) -> GraphDrawing:
    """Draw the computation graph that made ``root`` as a ``graphviz.Digraph``.

    ``root``: a Value, or a list of Values drawn together. One box per Value: its name (from
    ``params``, a dict such as ``dict(model.named_parameters())``, else ``Value.name``), shape
    and dtype, data and grad (the number for a scalar; for a tensor mean μ, std σ, [min, max]
    of the data and the L2 norm and rms of the gradient). One oval per op, edges in the direction data
    flows (``rankdir``: 'LR', 'RL', 'TB' or 'BT'). The grad row is coloured by the gradient's
    rms size (blue: vanishing, green: healthy, orange-red: exploding); NaN or inf in data or
    grad gives a yellow row and a red border. ``legend=True`` explains all this under the graph.

    ``module``: the model (an ``nn.Module``) whose forward built the graph. Its parameters are
    named as in ``named_parameters`` (unless ``params`` is given) and, with
    ``cluster_modules=True``, the nodes of each submodule call sit in a box labelled with its
    name and class, nested like the modules. Clusters follow each module's most recent call, so
    draw right after the forward pass. ``collapse``: names of submodules (e.g. ``'layers.0'``
    or ``('encoder', 'head')``) to draw as one node each.

    ``max_nodes``: at most this many Values are drawn — the ones nearest the output, in
    breadth-first order — and one note stands for the rest (with a UserWarning); None draws
    every Value. Nodes are numbered in that breadth-first order (``v0`` is the output), so one
    graph always gives the same DOT source. ``.source`` needs no program; ``.render()``,
    ``.pipe()``, ``save_graph`` and Jupyter's display need ``dot`` or ``graphviz-pure``.
    """
    if rankdir not in DIRECTIONS:
        raise ValueError(f"rankdir must be one of {', '.join(DIRECTIONS)}, got {rankdir!r}")
    graph = extract(root, params, module, cluster_modules, collapse, max_nodes)
    if graph.hidden:
        text = _hidden_text(graph)
        warnings.warn(f"draw_graph: {text[0].lower()}{text[1:]}", UserWarning, stacklevel=2)
    drawing = GraphDrawing(
        'computation_graph', format='svg',
        graph_attr={'rankdir': rankdir, 'fontname': FONT, 'fontsize': '11', 'bgcolor': 'white',
                    'nodesep': '0.25', 'ranksep': '0.35', 'pad': '0.2'},
        node_attr={'shape': 'plain', 'fontname': FONT, 'fontsize': '11'},
        edge_attr={'color': '#64748b', 'arrowsize': '0.7', 'fontname': FONT,
                   'labelfontsize': '9', 'labelfontcolor': '#64748b', 'labeldistance': '1.6'})
    drawing.body.extend(_body(graph, show_data, show_grad))
    if legend:
        drawing.body.append(f"\tlabel={_legend(graph, show_grad, rankdir)}\n"
                            "\tlabelloc=b\n\tlabeljust=l\n")
    return drawing


def _body(graph: Graph, show_data: bool, show_grad: bool) -> list:
    """DOT statements: nodes (inside their clusters), then edges."""
    op_fill, op_border, _ = KIND_STYLES['op']

    def statement(node: ValueNode | OpNode | ModuleNode) -> str:
        if isinstance(node, ValueNode):
            return f"{node.id} [label={_value_label(node, show_data, show_grad)}]"
        if isinstance(node, OpNode):
            return (f'{node.id} [label={_op_label(node)} shape=ellipse style=filled '
                    f'fillcolor="{op_fill}" color="{op_border}" margin="0.06,0.02" height=0.3]')
        return f"{node.id} [label={_module_label(node, show_data, show_grad)}]"

    hidden = (f'{HIDDEN_ID} [label=<… {graph.hidden} more values<br/>'
              f'<font point-size="9">(max_nodes={graph.max_nodes})</font>> shape=note '
              f'style=filled fillcolor="#fef9c3" color="#ca8a04"]')
    lines = nest(graph, statement, hidden, '\t', _cluster_header, '}')
    lines += [f'\t{tail} -> {head} [headlabel="{label}"]' if label else f"\t{tail} -> {head}"
              for tail, head, label in graph.edges]
    return [line + '\n' for line in lines]


def _cluster_header(cluster: Cluster) -> list:
    fill = CLUSTER_FILLS[min(cluster.depth, len(CLUSTER_FILLS) - 1)]
    return [f"subgraph {cluster.id} {{",
            f'\tgraph [label=<<b>{html_text(cluster.name)} </b>'
            f'<font color="{MUTED}">{html_text(cluster.type_name)}</font>> '
            f'style="rounded,filled" fillcolor="{fill}" color="#94a3b8" labeljust=l '
            f'labelloc=t fontsize=10 margin=10]']


# ---- saving ------------------------------------------------------------------------------------
def save_graph(graph: graphviz.Graph | graphviz.Digraph | graphviz.Source | Value | Sequence[Value],
               path: str | os.PathLike, *, format: str | None = None, **options) -> Path:
    """Write a drawing to ``path``, the format taken from its suffix (or ``format``):
    ``.svg``, ``.png``, ``.pdf``, ... rendered by ``dot`` (or ``graphviz-pure``, which has no
    pdf), ``.dot`` / ``.gv`` the DOT source (no program needed). ``graph`` is a drawing from
    ``draw_graph`` (or any graphviz graph), or a Value (or list of Values), drawn with
    ``draw_graph(graph, **options)``; with a Value, ``.mmd`` writes ``to_mermaid(graph, **options)``.
    Returns the path."""
    path = Path(path)
    fmt_name = (format or path.suffix[1:]).lower()
    if not fmt_name:
        raise ValueError(f"save_graph: cannot tell the format of {os.fspath(path)!r}; give a suffix "
                         "such as .svg, .png, .pdf or .dot, or format=")
    is_value = isinstance(graph, Value) or (isinstance(graph, (list, tuple)) and graph
                                            and all(isinstance(v, Value) for v in graph))
    if is_value:
        if fmt_name in ('mmd', 'mermaid'):
            from .mermaid import to_mermaid
            path.write_text(to_mermaid(as_roots(graph), **options), encoding='utf-8')
            return path
        graph = draw_graph(graph, **options)
    elif options:
        raise TypeError(f"save_graph: drawing options ({', '.join(options)}) are only taken with a "
                        "Value; pass them to draw_graph instead")
    if not isinstance(graph, (graphviz.Graph, graphviz.Digraph, graphviz.Source)):
        raise TypeError("save_graph: expected a drawing from draw_graph (or a graphviz graph) or a "
                        f"Value, got {type(graph).__name__}")
    if fmt_name in ('dot', 'gv'):
        path.write_text(graph.source, encoding='utf-8')
    elif fmt_name in ('mmd', 'mermaid'):
        raise TypeError("save_graph: Mermaid text is made from the Values, not from a drawing: "
                        "save_graph(root, 'graph.mmd') or tl.to_mermaid(root)")
    else:
        with layout_program():
            path.write_bytes(graph.pipe(format=fmt_name))
    return path


