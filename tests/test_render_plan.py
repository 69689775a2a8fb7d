"""Pictures of tl.compile plans: tl.render.draw_plan (a node per statement coloured by kind,
edges from definitions to uses, the counts in the legend, Compiled objects, rendering).

Rendering needs the Graphviz program `dot` and skips without it, as in test_render.py.
"""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
import pytest
from helpers import load_demo

import tinygrad_ls as tl
from tinygrad_ls import Value
from tinygrad_ls.render import GraphDrawing, draw_plan
from tinygrad_ls.render.plan import PLAN_STYLES, plan_graph, statement_kind

needs_dot = pytest.mark.skipif(shutil.which('dot') is None,
                               reason="the Graphviz program `dot` is not installed")
NODE = re.compile(r'^\s*(s\d+) \[label=<<b>(.*?)</b>.*fillcolor="(#\w+)"', re.M)
EDGE = re.compile(r'^\s*(\w+) -> (\w+)( \[style=dashed[^\]]*\])?', re.M)


def mlp_step():
    """The demo's compiled Adam step of nn.MLP([4, 8, 3]), called twice (recorded, then replayed)."""
    return load_demo('graph_viz').compiled_training_step()


def newest(step):
    return next(reversed(step.plans.values()))[-1]


def nodes_of(source: str) -> dict:
    return {node: (label, fill) for node, label, fill in NODE.findall(source)}


def data_edges(source: str) -> set:
    return {(tail, head) for tail, head, dashed in EDGE.findall(source) if not dashed}


def expected_edges(plan) -> set:
    """From each drawn statement that defines a local to each later one that reads it (its
    latest definition before the reader), and from each input a<i> to its readers; the
    statements that only repackage data (inputs, checks, wraps, packs, rebuilt ops) hand their
    inputs' sources on."""
    drawn = {node.index for node in plan_graph(plan)[0]}
    edges, source_of = set(), {}
    for index, statement in enumerate(plan.statements):
        uses = plan.code.uses(statement)
        if statement.kind == 'input':
            for local in statement.outs:
                source_of[local] = source_of.get(uses[0]) if uses else f"a{statement.func}"
            continue
        if index not in drawn:
            for local in statement.outs:
                tails = [source_of[used] for used in uses if used in source_of]
                if tails:
                    source_of[local] = tails[0]
            continue
        edges.update((source_of[local], f"s{index}") for local in uses if local in source_of)
        for local in statement.outs:
            source_of[local] = f"s{index}"
    return edges


def test_one_node_per_statement_coloured_by_kind():
    step = mlp_step()
    plan = newest(step)
    drawing = draw_plan(plan)
    assert isinstance(drawing, graphviz.Digraph) and isinstance(drawing, GraphDrawing)
    nodes = nodes_of(drawing.source)
    drawn = plan_graph(plan)[0]
    assert len(nodes) == len(drawn) == 16
    labels = [nodes[node.id][0] for node in drawn]
    assert labels == [plan.statements[node.index].label for node in drawn]
    assert labels[0] == 'Optimizer.zero_grad' and labels[-1] == 'Optimizer.step'
    fill = {kind: style[0] for kind, style in PLAN_STYLES.items()}
    expected = {'Optimizer.zero_grad': 'call', 'Optimizer.step': 'call', 'linear': 'forward',
                'relu': 'forward', 'cross_entropy': 'forward', 'seed': 'gradient',
                'store gradients': 'gradient', 'linear backward': 'backward',
                'relu backward': 'backward', 'cross_entropy backward': 'backward'}
    for label, colour in nodes.values():
        kind = 'read' if label.startswith('read ') else expected[label]
        assert colour == fill[kind], label
    assert len(set(fill.values())) == len(fill)                 # the kinds look different


def test_edges_follow_definitions_and_uses():
    plan = newest(mlp_step())
    source = draw_plan(plan).source
    assert data_edges(source) == expected_edges(plan)
    index = {plan.statements[node.index].label: node.index for node in plan_graph(plan)[0]}
    assert (f"s{index['cross_entropy']}", f"s{index['seed']}") in data_edges(source)
    assert (f"s{index['seed']}", f"s{index['cross_entropy backward']}") in data_edges(source)
    # the optimizer calls touch no locals: dashed arrows keep them in order
    dashed = {(tail, head) for tail, head, d in EDGE.findall(source) if d}
    assert (f"s{index['store gradients']}", f"s{index['Optimizer.step']}") in dashed
    first, second = plan_graph(plan)[0][:2]
    assert (first.id, second.id) in dashed
    assert 'a0 [label="a0"' in source


def test_a_redefined_gradient_is_read_from_its_latest_definition():
    """w used twice (add gradients) and broadcast against x (sum to shape)."""
    w = Value(np.array([1.0, 2.0, 3.0]), requires_grad=True, name='w')

    @tl.compile
    def step(x):
        loss = (x * w + w).sum()
        loss.backward()
        return loss

    for _ in range(2):
        step(np.ones((4, 3)))
    plan = newest(step)
    kinds = {s.label: statement_kind(s) for s in plan.statements}
    assert kinds['sum to shape'] == kinds['add gradients'] == kinds['seed'] == 'gradient'
    assert kinds['read w'] == 'read' and kinds['mul'] == 'forward' and kinds['mul backward'] == 'backward'
    source = draw_plan(step, edge_labels=True).source
    assert data_edges(source) == expected_edges(plan)
    adds = [i for i, s in enumerate(plan.statements) if s.label == 'add gradients']
    store = next(i for i, s in enumerate(plan.statements) if s.label == 'store gradients')
    assert (f"s{adds[-1]}", f"s{store}") in data_edges(source)
    # each gradient edge into 'store gradients' carries the local it hands over
    (local,) = plan.statements[adds[-1]].outs
    assert f's{adds[-1]} -> s{store} [label="{local}"]' in source


def test_legend_counts_each_kind():
    step = mlp_step()
    source = draw_plan(step, title='one Adam step').source
    assert 'one Adam step' in source
    assert ('16 statements: </b>4 forward ops, 4 backward calls, 2 replayed calls, 2 gradient '
            'bookkeeping, 4 parameter reads') in source
    assert 'forward op (4)' in source and 'replayed call (2)' in source and 'parameter read (4)' in source
    _, _, edges = plan_graph(newest(step))
    assert '\tlabel=' not in draw_plan(step, legend=False).source
    assert all(style in ('data', 'order') for *_, style in edges)


def test_compiled_object_draws_its_newest_plan():
    step = mlp_step()
    assert draw_plan(step).source == draw_plan(newest(step)).source
    step(np.zeros((2, 4), np.float32), np.array([0, 1]))       # a new shape: a second plan
    assert sum(len(p) for p in step.plans.values()) == 2
    assert draw_plan(step).source == draw_plan(newest(step)).source
    with pytest.raises(ValueError, match='no plan'):
        draw_plan(tl.compile(lambda x: x))
    with pytest.raises(TypeError, match='tl.compile'):
        draw_plan(lambda x: x)
    with pytest.raises(ValueError, match='rankdir'):
        draw_plan(step, rankdir='XY')


def test_same_plan_gives_the_same_source():
    assert draw_plan(mlp_step()).source == draw_plan(mlp_step()).source


@needs_dot
def test_renders_to_svg(tmp_path):
    step = mlp_step()
    root = ET.fromstring(draw_plan(step, rankdir='LR').pipe(format='svg'))
    assert root.tag.endswith('svg')
    path = tl.save_graph(draw_plan(step), tmp_path / 'plan.svg')
    assert ET.fromstring(path.read_bytes()).tag.endswith('svg')


def test_demo_draws_the_compiled_plan():
    demo = load_demo('graph_viz')
    source = demo.plan_drawing().source
    assert 'Optimizer.step' in source and 'linear backward' in source and 'cross_entropy' in source


@needs_dot
def test_demo_writes_the_plan_svg(tmp_path, capsys):
    path = load_demo('graph_viz').main_plan(output_dir=tmp_path)
    assert path.name == 'compiled_plan.svg' and ET.fromstring(path.read_bytes()).tag.endswith('svg')
    assert 'wrote' in capsys.readouterr().out
