"""A picture of a ``tl.compile`` plan: ``draw_plan(step)`` (a ``graphviz.Digraph``).

One node per statement of ``plan.statements``, in execution order (each node says its
number, what it computes and the locals it defines), one node per input buffer the plan
reads (``a0``, ``a1``, …), and an arrow from the statement that defines a local to each
statement that reads it; a local defined twice (a gradient summed into, a gradient reduced
to its input's shape) is read from its latest definition before the reader. Replayed calls
and ``store gradients`` act on the world outside the plan (parameters, ``.grad``, learning
rates), so dashed grey arrows keep them in order with the statements beside them.

Colours say what a statement is: a forward op, a backward call, gradient bookkeeping (seed,
add gradients, sum to shape, hooks, store gradients), a replayed call (an optimizer, a
scheduler, a function marked ``tl.compiler.eager``) or a read of a parameter's data. The
legend under the picture counts each kind. Fonts, the op colour, the parameter colour,
``GraphDrawing`` (rendering by ``dot`` or ``graphviz-pure``) and escaping are those of
``draw_graph``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..compiler import Compiled, Plan
from .dot import FONT, MUTED, GraphDrawing
from .labels import DIRECTIONS, KIND_STYLES, html_text

# kind -> (fill, border colour, text shown in the legend); 'forward' and 'read' are the op and
# parameter colours of draw_graph, so the two pictures agree.
PLAN_STYLES = {
    'forward': KIND_STYLES['op'][:2] + ('forward op',),
    'backward': ('#ffedd5', '#ea580c', 'backward call'),
    'gradient': ('#dcfce7', '#16a34a', 'gradient bookkeeping'),
    'call': ('#ddd6fe', '#7c3aed', 'replayed call'),
    'read': KIND_STYLES['parameter'][:2] + ('parameter read',),
}
INPUT_STYLE = KIND_STYLES['data'][:2]
# the labels of the backward sweep's own statements (compiler/backward.py)
GRADIENT_LABELS = frozenset({'seed', 'add gradients', 'sum to shape', 'hooks', 'store gradients'})
# statements with effects outside the plan's locals: kept in order by dashed arrows
ORDERED_KINDS = frozenset({'call'})


@dataclass
class PlanNode:
    """A statement to draw: ``index`` its position in execution order, ``kind`` a key of
    PLAN_STYLES."""
    id: str
    index: int
    kind: str
    label: str
    defs: tuple


# helper statements that only repackage data (a fresh Value around an array, the result's
# tuple, an op rebuilt around this batch's data): not drawn, their locals stand for their inputs
PASS_THROUGH_LABELS = frozenset({'wrap', 'result', 'arguments', 'settings'})


def statement_kind(statement) -> str:
    """'forward', 'backward', 'gradient', 'call' or 'read' for a ``compiler.code.Statement``."""
    if statement.kind in ('input', 'read', 'forward', 'backward', 'gradient'):
        return 'read' if statement.kind == 'input' else statement.kind
    return 'call'


def newest_plan(plan: Plan | Compiled) -> Plan:
    """``plan`` itself, or the newest plan a compiled function recorded."""
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, Compiled):
        if not plan.plans:
            why = '; '.join(dict.fromkeys(plan.eager_keys.values()))
            raise ValueError("draw_plan: this compiled function has recorded no plan yet"
                             + (f" (its calls run eagerly: {why})" if why else "; call it once first"))
        return next(reversed(plan.plans.values()))[-1]
    raise TypeError("draw_plan: expected a tl.compile function or one of its Plans, "
                    f"got {type(plan).__name__}")


def plan_graph(plan: Plan) -> tuple[list, list, list]:
    """(nodes, inputs, edges): a PlanNode per statement (the inputs' own statements, anomaly
    checks and the helpers that only repackage data are left out), the inputs read (``a0``,
    …) in order, and edges ``(tail id, head id, locals, style)`` with style 'data' or 'order'."""
    nodes, edges, inputs = [], {}, {}
    defined_by = {}  # local -> id of the latest statement (or input) that defined it
    uses = plan.code.uses

    def link(tail: str, head: str, local: str | None, style: str = 'data') -> None:
        locals_ = edges.setdefault((tail, head), {'locals': [], 'style': style})['locals']
        if local is not None:
            locals_.append(local)

    previous = None
    for index, statement in enumerate(plan.statements):
        if statement.kind == 'input':  # a0 = inputs[0] (and a Value's a1 = x0._data)
            source = next(iter(uses(statement)), None)
            for local in statement.outs:
                defined_by[local] = defined_by.get(source) or f"a{statement.func}"
                inputs[defined_by[local]] = True
            continue
        if statement.kind == 'check' or statement.label in PASS_THROUGH_LABELS or statement.func == 'make_op':
            tails = [defined_by[local] for local in uses(statement) if local in defined_by]
            for local in statement.outs:
                if tails:
                    defined_by[local] = tails[0]
            continue
        node = PlanNode(f"s{index}", index, statement_kind(statement), statement.label, statement.outs)
        for local in dict.fromkeys(uses(statement)):
            if local in defined_by and defined_by[local] != node.id:
                link(defined_by[local], node.id, local)
        if previous is not None and (node.kind in ORDERED_KINDS or previous.kind in ORDERED_KINDS
                                     or previous.label == 'store gradients'):
            link(previous.id, node.id, None, 'order')
        for local in statement.outs:
            defined_by[local] = node.id
        nodes.append(node)
        previous = node
    edge_list = [(tail, head, tuple(edge['locals']), edge['style']) for (tail, head), edge in edges.items()]
    return nodes, sorted(inputs, key=lambda name: int(name[1:])), edge_list


def plan_counts(nodes: list) -> dict:
    """kind -> how many statements of that kind, for every kind of PLAN_STYLES."""
    counts = Counter(node.kind for node in nodes)
    return {kind: counts.get(kind, 0) for kind in PLAN_STYLES}


def caption(counts: dict) -> str:
    """``'4 forward ops, 4 backward calls, 2 replayed calls, 2 gradient bookkeeping, 4 parameter
    reads'``."""
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'s' * (n != 1)}"
    return ', '.join([plural(counts['forward'], 'forward op'), plural(counts['backward'], 'backward call'),
                      plural(counts['call'], 'replayed call'), f"{counts['gradient']} gradient bookkeeping",
                      plural(counts['read'], 'parameter read')])


def _node_statement(node: PlanNode) -> str:
    fill, border, _ = PLAN_STYLES[node.kind]
    defined = f"  → {', '.join(node.defs)}" if node.defs else ''
    label = (f'<<b>{html_text(node.label)}</b><br/><font color="{MUTED}" point-size="8">'
             f'{node.index}{html_text(defined)}</font>>')
    return f'{node.id} [label={label} fillcolor="{fill}" color="{border}"]'


def _legend(counts: dict, n_statements: int, title: str | None, rankdir: str) -> str:
    cells = ''.join(f'<td bgcolor="{fill}" color="{border}" border="1">{text} ({counts[kind]})</td>'
                    for kind, (fill, border, text) in PLAN_STYLES.items())
    rows = [f'<tr><td align="left"><b>{html_text(title)}</b></td></tr>'] if title else []
    rows += [f'<tr><td align="left"><b>{n_statements} statements: </b>{html_text(caption(counts))}</td></tr>',
             f'<tr><td align="left"><table border="0" cellspacing="3" cellpadding="3"><tr>{cells}</tr>'
             '</table></td></tr>',
             f'<tr><td align="left"><font color="{MUTED}">Execution order {DIRECTIONS[rankdir]}; a box '
             'per statement: what it computes, its number in the plan, the locals it defines.'
             '</font></td></tr>',
             f'<tr><td align="left"><font color="{MUTED}">Arrows: a local, from the statement that '
             'defines it to each one that reads it (grey boxes: input buffers); dashed: the order of '
             'calls with effects outside the plan.</font></td></tr>']
    return f'<<table border="0" cellborder="0" cellspacing="2" cellpadding="2">{"".join(rows)}</table>>'


def draw_plan(plan: Plan | Compiled, title: str | None = None, rankdir: str = 'TB', *,
              edge_labels: bool = False, legend: bool = True) -> GraphDrawing:
    """Draw a recorded ``tl.compile`` plan as a ``graphviz.Digraph``.

    ``plan``: a ``Plan`` or a compiled function (``tl.compile(fn)``, its newest plan is
    drawn; ValueError if it has none yet). One box per statement in execution order
    (``rankdir``: 'TB', 'LR', 'BT' or 'RL'), coloured by kind — forward op, backward call,
    gradient bookkeeping, replayed call, parameter read — with its number in the plan and the
    locals it defines; an arrow from each statement that defines a local to each statement
    that reads it (``edge_labels=True`` writes the locals on the arrows). ``legend=True``
    adds the title, the counts of each kind and what the colours mean under the picture.
    ``.source`` needs no program; rendering needs ``dot`` or ``graphviz-pure``, as for
    ``draw_graph``.
    """
    if rankdir not in DIRECTIONS:
        raise ValueError(f"rankdir must be one of {', '.join(DIRECTIONS)}, got {rankdir!r}")
    plan = newest_plan(plan)
    nodes, inputs, edges = plan_graph(plan)
    drawing = GraphDrawing(
        'compiled_plan', format='svg',
        graph_attr={'rankdir': rankdir, 'fontname': FONT, 'fontsize': '11', 'bgcolor': 'white',
                    'nodesep': '0.25', 'ranksep': '0.3', 'pad': '0.2'},
        node_attr={'shape': 'box', 'style': 'rounded,filled', 'fontname': FONT, 'fontsize': '11',
                   'margin': '0.1,0.04', 'height': '0.3'},
        edge_attr={'color': '#64748b', 'arrowsize': '0.6', 'fontname': FONT, 'fontsize': '8',
                   'fontcolor': '#64748b'})
    lines = [f'{name} [label="{name}" shape=box style=filled fillcolor="{INPUT_STYLE[0]}" '
             f'color="{INPUT_STYLE[1]}" fontsize=9 height=0.25]' for name in inputs]
    lines += [_node_statement(node) for node in nodes]
    for tail, head, locals_, style in edges:
        attributes = ['style=dashed color="#cbd5e1"'] if style == 'order' else []
        if edge_labels and locals_:
            attributes.append(f'label="{", ".join(locals_)}"')
        lines.append(f"{tail} -> {head}" + (f" [{' '.join(attributes)}]" if attributes else ''))
    drawing.body.extend(f"\t{line}\n" for line in lines)
    if legend:
        drawing.body.append(f"\tlabel={_legend(plan_counts(nodes), len(nodes), title, rankdir)}\n"
                            "\tlabelloc=b\n\tlabeljust=l\n")
    return drawing
