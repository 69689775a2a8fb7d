"""Graph pictures: tl.draw_graph (DOT source, clusters, collapsing, the node cap, escaping,
determinism, rendering with dot / graphviz-pure / neither), tl.to_mermaid and tl.save_graph.

Rendering tests need the Graphviz program (CI installs it) and skip without it; the fallback
test needs `graphviz-pure` (`pip install graphviz-pure`) and skips without it.
"""
from __future__ import annotations

import re
import shutil
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import numpy as np
import pytest
from graphviz.backend import dot_command
from helpers import load_demo

import tinygrad_ls as tl
from tinygrad_ls import Value, nn
from tinygrad_ls.nn import functional as F
from tinygrad_ls.render import GraphDrawing, GraphvizNotFoundError, find_layout_program
from tinygrad_ls.render.graph import extract
from tinygrad_ls.render.labels import GRAD_SCALE, grad_colors, html_text, mermaid_text

HAS_DOT = shutil.which('dot') is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="the Graphviz program `dot` is not installed")


def value_nodes(source: str) -> list:
    return re.findall(r'^\s*(v\d+) \[', source, re.M)


def op_nodes(source: str) -> list:
    return re.findall(r'^\s*(op\d+) \[', source, re.M)


def edges(source: str) -> list:
    return re.findall(r'^\s*(\w+) -> (\w+)', source, re.M)


def small_graph():
    """a, b leaves; c = a * b; d = c + a; e = relu(d) * 2 (a constant argument)."""
    a = Value(2.0, requires_grad=True, name='a')
    b = Value(3.0, requires_grad=True, name='b')
    c = a * b
    d = c + a
    e = d.relu() * 2
    e.name = 'e'
    return a, b, e


def mlp_step(seed: int = 0):
    tl.manual_seed(seed)
    model = nn.MLP([2, 3, 1])
    x = Value(np.random.default_rng(seed).standard_normal((5, 2)).astype(np.float32), name='x')
    y = Value(np.zeros((5, 1), np.float32), name='y')
    loss = F.mse_loss(model(x), y)
    loss.backward()
    return model, loss


def assert_svg(data) -> ET.Element:
    root = ET.fromstring(data if isinstance(data, (bytes, str)) else data.read_bytes())
    assert root.tag.endswith('svg')
    return root


# ---- structure of the DOT source -------------------------------------------------------------
def test_known_graph_has_one_node_per_value_and_op_and_edges_in_data_flow_order():
    a, b, e = small_graph()
    e.backward()
    drawing = tl.draw_graph(e)
    assert isinstance(drawing, graphviz.Digraph)
    source = drawing.source
    # values: e, relu-out... e, mul-out of relu*2 is e itself: e, relu(d), d, c, a, b
    assert len(value_nodes(source)) == 6
    assert len(op_nodes(source)) == 4          # mul, add, relu, mul
    assert len(edges(source)) == 4 + 2 + 2 + 1 + 1   # op->out each, mul a b, add c a, relu d, mul relu
    assert ('op0', 'v0') in edges(source)     # the root's op points to the root
    assert 'v0' in value_nodes(source) and '<b>e</b>' in source
    assert '<b>a</b>' in source and '<b>b</b>' in source
    assert 'mul<font point-size="9">(·, 2)</font>' in source   # the constant 2 is in the op label
    assert 'rankdir=LR' in source


def test_data_grad_shape_and_dtype_are_shown():
    a, b, e = small_graph()
    e.backward()
    source = tl.draw_graph(e).source
    assert 'scalar · float32' in source
    assert '>6<' in source and '>16<' in source      # c = a * b = 6, e = 2 relu(c + a) = 16
    assert '>8<' in source and '>4<' in source       # de/da = 2 (b + 1) = 8, de/db = 2 a = 4
    assert 'data' in source and 'grad' in source
    hidden = tl.draw_graph(e, show_data=False, show_grad=False).source
    assert '>data<' not in hidden and '>grad<' not in hidden


def test_tensor_summaries_and_parameter_names():
    model, loss = mlp_step()
    source = tl.draw_graph(loss, params=dict(model.named_parameters())).source
    for name, _ in model.named_parameters():
        assert f'<b>{name}</b>' in source
    assert '(3, 2) · float32' in source and '(5, 2) · float32' in source
    assert 'μ ' in source and 'σ ' in source and 'norm ' in source and 'rms ' in source
    assert '<b>x</b>' in source     # Value.name is used where params has no name


def test_parameter_names_from_pairs_and_errors():
    model, loss = mlp_step()
    source = tl.draw_graph(loss, params=model.named_parameters()).source
    assert '<b>layers.0.weight</b>' in source
    with pytest.raises(TypeError, match='params'):
        tl.draw_graph(loss, params={'w': 3.0})
    with pytest.raises(TypeError, match='Value'):
        tl.draw_graph(3.0)
    with pytest.raises(ValueError, match='rankdir'):
        tl.draw_graph(loss, rankdir='XY')


def test_values_that_do_not_require_grad_are_drawn():
    x = Value([1.0, 2.0], requires_grad=True, name='x')
    c = Value([10.0, 20.0], name='c')            # no grad: engine.toposort would skip it
    y = (x * c).sum()
    y.backward()
    graph = extract(y)
    assert [(node.name, node.kind) for node in graph.values] == [
        (None, 'output'), (None, 'intermediate'), ('x', 'leaf'), ('c', 'data')]
    source = tl.draw_graph(y).source
    assert '<b>c</b>' in source and len(edges(source)) == 5     # x, c -> mul -> . -> sum -> y


def test_argument_positions_label_edges_of_ops_where_order_matters():
    a = Value(1.0, requires_grad=True, name='a')
    b = Value(2.0, requires_grad=True, name='b')
    source = tl.draw_graph(a - b).source
    assert re.search(r'v1 -> op0 \[headlabel="0"\]', source)
    assert re.search(r'v2 -> op0 \[headlabel="1"\]', source)
    assert 'headlabel' not in tl.draw_graph(a + b).source


def test_several_roots_and_a_leaf_root():
    a = Value(1.0, requires_grad=True, name='a')
    u, v = a * 2, a * 3
    source = tl.draw_graph([u, v]).source
    assert len(value_nodes(source)) == 3 and len(op_nodes(source)) == 2
    assert len(value_nodes(tl.draw_graph(Value(1.0)).source)) == 1


# ---- gradient health ---------------------------------------------------------------------------
def test_grad_colour_scale_by_rms_size():
    assert grad_colors(0.0)[0] == GRAD_SCALE[0][1]
    assert grad_colors(1e-9)[0] == GRAD_SCALE[0][1]
    assert grad_colors(1e-7)[0] == GRAD_SCALE[1][1]
    assert grad_colors(0.5)[0] == GRAD_SCALE[4][1]     # healthy
    assert grad_colors(1e5)[0] == GRAD_SCALE[-1][1]
    assert grad_colors(float('nan'))[0] == grad_colors(float('inf'))[0] != GRAD_SCALE[-1][1]
    tiny = Value(1e-3, requires_grad=True, name='w')
    (tiny * 1e-7).backward()                            # grad of w is 1e-7
    assert f'bgcolor="{GRAD_SCALE[1][1]}"' in tl.draw_graph(tiny * 1e-7).source
    big = Value(np.ones(16, np.float32), requires_grad=True)
    big.grad = np.full(16, 500.0, np.float32)           # rms 500: exploding
    assert f'bgcolor="{GRAD_SCALE[6][1]}"' in tl.draw_graph(big).source


def test_nan_and_inf_are_marked():
    x = Value([1.0, 0.0, -1.0], requires_grad=True, name='x')
    with np.errstate(all='ignore'):
        y = x.log()                               # log(0) = -inf, log(-1) = nan
        y.sum().backward()
    source = tl.draw_graph(y).source
    assert '1 nan, 1 inf of 3' in source
    assert 'border="3"' in source and 'color="#dc2626"' in source   # the red border
    ok = tl.draw_graph(Value(1.0, requires_grad=True)).source
    assert 'border="3"' not in ok.split('label=<<table border="0"')[0]


def test_legend_explains_kinds_and_scale():
    a, b, e = small_graph()
    e.backward()
    source = tl.draw_graph(e).source
    assert 'How to read this graph' in source and 'NaN or inf' in source
    for *_, label in GRAD_SCALE:
        assert html_text(label) in source
    assert 'leaf that requires grad' in source
    assert 'How to read' not in tl.draw_graph(e, legend=False).source


# ---- escaping ----------------------------------------------------------------------------------
NASTY = 'w<1> {x} | "q" & \'s\'\nline2\ttab\x01'


def test_labels_are_escaped():
    assert html_text(NASTY) == ('w&lt;1&gt; {x} | &quot;q&quot; &amp; &#39;s&#39;<br/>line2 tab?')
    x = Value(1.0, requires_grad=True, name=NASTY)
    source = tl.draw_graph(x * 2).source
    assert NASTY not in source and html_text(NASTY) in source
    assert mermaid_text('a"b<c>#d&') == 'a#quot;b#lt;c#gt;#35;d#amp;'


@needs_dot
def test_escaped_labels_render(tmp_path):
    model = nn.Sequential({'odd<name>': nn.Linear(2, 2)})
    x = Value(np.ones((1, 2), np.float32), name=NASTY)
    loss = model(x).sum()
    loss.name = '}{|"<>'
    loss.backward()
    drawing = tl.draw_graph(loss, module=model, params={NASTY + 'p': model[0].weight})
    assert_svg(drawing.pipe(format='svg'))


# ---- determinism -------------------------------------------------------------------------------
def test_same_graph_same_source():
    first = tl.draw_graph(mlp_step(1)[1]).source
    tl.draw_graph(small_graph()[2])             # other ops in between move the op counter on
    model, loss = mlp_step(1)
    assert tl.draw_graph(loss).source == first
    assert tl.draw_graph(loss, module=model).source == tl.draw_graph(loss, module=model).source
    text = tl.to_mermaid(loss, module=model)
    model, loss = mlp_step(1)
    assert tl.to_mermaid(loss, module=model) == text


# ---- modules -----------------------------------------------------------------------------------
def test_module_call_records_its_span():
    layer = nn.Linear(2, 2)
    y = layer(Value(np.ones((1, 2), np.float32)))
    start, end = layer._last_call_span
    assert start < y._fn.sequence < end


def test_module_clusters():
    model, loss = mlp_step()
    graph = extract(loss, module=model)
    clusters = {node.name: node.cluster for node in graph.values if node.name}
    assert clusters['layers.0.weight'] == 'layers.0' and clusters['layers.2.bias'] == 'layers.2'
    assert clusters['x'] == '' and clusters['y'] == ''
    ops = {(op.name, op.cluster) for op in graph.ops}
    assert ops == {('linear', 'layers.0'), ('relu', 'layers.1'), ('linear', 'layers.2'), ('mse_loss', '')}
    assert [c.name for c in graph.clusters] == ['layers', 'layers.0', 'layers.1', 'layers.2']
    source = tl.draw_graph(loss, module=model).source
    assert source.count('subgraph cluster_') == 4
    assert '<b>layers.0 </b><font color="#475569">Linear</font>' in source
    assert '<b>layers.0.weight</b>' in source          # names from module.named_parameters()
    # the parameter's statement sits inside its module's cluster
    inner = source.split('<b>layers.0 </b>', 1)[1].split('}', 1)[0]
    assert '<b>layers.0.weight</b>' in inner and '<b>layers.2.weight</b>' not in inner
    assert 'subgraph' not in tl.draw_graph(loss, module=model, cluster_modules=False).source


def test_clusters_follow_the_most_recent_call():
    model, loss = mlp_step()
    model(Value(np.ones((1, 2), np.float32)))   # a later call: the spans move on
    with pytest.warns(UserWarning, match='most recent call'):
        graph = extract(loss, module=model)
    assert not graph.clusters


def test_collapse_modules():
    model, loss = mlp_step()
    graph = extract(loss, module=model, collapse='layers.0')
    assert [m.name for m in graph.modules] == ['layers.0']
    collapsed = graph.modules[0]
    assert collapsed.n_ops == 1 and len(collapsed.parameters) == 2 and len(collapsed.outputs) == 1
    assert all(node.module != 'layers.0' for node in graph.values)
    ids = {node.name: node.id for node in graph.values if node.name}
    assert (ids['x'], 'm0', '') in graph.edges
    source = tl.draw_graph(loss, module=model, collapse=['layers.0']).source
    assert '<b>layers.0 </b><font color="#475569">Linear</font>' in source
    assert '1 op, 2 parameters (9 numbers)' in source
    assert 'collapsed module' in source                     # in the legend
    assert len(value_nodes(source)) == len(value_nodes(tl.draw_graph(loss).source)) - 3
    whole = extract(loss, module=model, collapse=('layers', 'layers.0'))
    assert [m.name for m in whole.modules] == ['layers']    # the outer one wins
    with pytest.raises(ValueError, match="no submodule named 'nope'.*'layers.0'"):
        tl.draw_graph(loss, module=model, collapse='nope')
    with pytest.raises(ValueError, match='module='):
        tl.draw_graph(loss, collapse='layers.0')


# ---- large graphs ------------------------------------------------------------------------------
def test_100k_op_chain_without_recursion():
    x = Value(1.0, requires_grad=True, dtype=np.float64, name='x')
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    source = tl.draw_graph(y, max_nodes=None).source
    assert source.count(' -> ') == 200_000
    assert len(value_nodes(source)) == 100_001
    with pytest.warns(UserWarning, match=r'2000 values nearest the output.*98001 more'):
        capped = tl.draw_graph(y).source
    assert len(value_nodes(capped)) == 2000
    assert 'hidden -> op1999' in capped and '98001 more values' in capped
    assert 'max_nodes=None' in capped


def test_max_nodes_is_checked_and_mermaid_is_capped():
    a, b, e = small_graph()
    with pytest.raises(ValueError, match='max_nodes'):
        tl.draw_graph(e, max_nodes=0)
    with pytest.warns(UserWarning, match='to_mermaid'):
        text = tl.to_mermaid(e, max_nodes=2)
    assert 'hidden>' in text


# ---- rendering ---------------------------------------------------------------------------------
@needs_dot
def test_render_to_svg_png_and_files(tmp_path):
    model, loss = mlp_step()
    drawing = tl.draw_graph(loss, module=model)
    root = assert_svg(drawing.pipe(format='svg'))
    assert any('layers.0.weight' in (t.text or '') for t in root.iter())
    assert drawing.pipe(format='png')[:8] == b'\x89PNG\r\n\x1a\n'
    for suffix in ('svg', 'png', 'pdf', 'dot'):
        path = tl.save_graph(drawing, tmp_path / f"graph.{suffix}")
        assert path.stat().st_size > 100
    assert_svg(tmp_path / 'graph.svg')
    assert (tmp_path / 'graph.pdf').read_bytes()[:4] == b'%PDF'
    assert (tmp_path / 'graph.dot').read_text() == drawing.source
    out = drawing.render(outfile=tmp_path / 'rendered.svg')
    assert_svg(Path(out)) and (tmp_path / 'rendered.gv').exists()
    out = drawing.render('plain', directory=tmp_path, cleanup=True)
    assert out.endswith('plain.svg') and not (tmp_path / 'plain').exists()
    bundle = drawing._repr_mimebundle_()                    # what Jupyter shows inline
    assert_svg(bundle['image/svg+xml'].encode())
    plain = graphviz.Digraph()                              # any graphviz graph can be saved
    plain.edge('a', 'b')
    assert_svg(tl.save_graph(plain, tmp_path / 'plain.svg'))
    assert drawing.copy().source == drawing.source


def test_save_graph_dot_and_mermaid_need_no_program(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, 'which', lambda *args, **kwargs: None)
    a, b, e = small_graph()
    e.backward()
    assert tl.save_graph(e, tmp_path / 'g.dot', rankdir='TB').read_text().startswith('digraph')
    assert tl.save_graph(e, tmp_path / 'g.mmd').read_text().startswith('flowchart LR')
    with pytest.raises(ValueError, match='format'):
        tl.save_graph(e, tmp_path / 'noext')
    with pytest.raises(TypeError, match='only taken with a Value'):
        tl.save_graph(tl.draw_graph(e), tmp_path / 'g.dot', rankdir='TB')
    with pytest.raises(TypeError, match='Mermaid'):
        tl.save_graph(tl.draw_graph(e), tmp_path / 'g.mmd')


HELP_LINES = ('apt-get install graphviz', 'brew install graphviz', 'conda install graphviz',
              'choco install graphviz', 'pip install graphviz-pure', 'tinygrad_ls[render]')


def test_missing_program_error_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, 'which', lambda *args, **kwargs: None)
    assert find_layout_program() is None
    a, b, e = small_graph()
    drawing = tl.draw_graph(e)
    assert drawing.source.startswith('digraph')               # the source needs nothing
    for attempt in (lambda: drawing.pipe(format='svg'),
                    lambda: drawing.render(directory=tmp_path),
                    lambda: drawing._repr_mimebundle_(),
                    lambda: tl.save_graph(drawing, tmp_path / 'g.svg')):
        with pytest.raises(GraphvizNotFoundError) as info:
            attempt()
        assert isinstance(info.value, RuntimeError)
        for line in HELP_LINES:
            assert line in str(info.value)
    assert list(tmp_path.iterdir()) == []                      # not even the DOT source


def test_dot_found_but_not_runnable_gives_the_same_error(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, 'which', lambda name, *a, **k: '/nonexistent/dot' if name == 'dot' else None)
    monkeypatch.setenv('PATH', str(tmp_path))                  # graphviz runs `dot` from PATH
    drawing = tl.draw_graph(small_graph()[2])
    for attempt in (drawing.pipe, lambda: drawing.render(directory=tmp_path),
                    lambda: tl.save_graph(drawing, tmp_path / 'g.png')):
        with pytest.raises(GraphvizNotFoundError, match='pip install graphviz-pure'):
            attempt()


def test_save_graph_takes_graphviz_graphs_only(tmp_path):
    class SourceOnly:
        source = 'digraph { a -> b }'
    for graph in (SourceOnly(), 'digraph { a -> b }', None):
        with pytest.raises(TypeError, match='expected a drawing'):
            tl.save_graph(graph, tmp_path / 'g.dot')
    source = graphviz.Source('digraph { a -> b }')
    assert tl.save_graph(source, tmp_path / 'g.gv').read_text() == source.source


REAL_WHICH = shutil.which


def which_without_dot(name, *args, **kwargs):
    """shutil.which on a machine where the Graphviz program is missing."""
    return None if name == 'dot' else REAL_WHICH(name, *args, **kwargs)


def _graphviz_pure() -> str | None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shutil, 'which', which_without_dot)
        found = find_layout_program()
    return found[1] if found else None


@pytest.mark.skipif(_graphviz_pure() is None, reason='graphviz-pure is not installed')
def test_graphviz_pure_is_the_fallback(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, 'which', which_without_dot)
    assert find_layout_program()[0] == 'graphviz-pure'
    model, loss = mlp_step()
    drawing = tl.draw_graph(loss, module=model)
    assert_svg(drawing.pipe(format='svg'))
    assert_svg(drawing._repr_mimebundle_()['image/svg+xml'].encode())
    assert tl.save_graph(drawing, tmp_path / 'g.png').read_bytes()[:4] == b'\x89PNG'
    assert_svg(Path(drawing.render(outfile=tmp_path / 'r.svg')))
    out = drawing.render('plain', directory=tmp_path, cleanup=True)   # graphviz's `-O` naming
    assert_svg(Path(out)) and out.endswith('plain.svg') and not (tmp_path / 'plain').exists()
    with pytest.raises(graphviz.CalledProcessError):
        drawing.pipe(format='pdf', quiet=True)                  # graphviz-pure has no pdf
    assert dot_command.DOT_BINARY == Path('dot')                # graphviz's default put back


# ---- Mermaid -----------------------------------------------------------------------------------
def test_mermaid_output():
    a, b, e = small_graph()
    e.backward()
    text = tl.to_mermaid(e)
    lines = text.splitlines()
    assert lines[0] == 'flowchart LR'
    assert len([ln for ln in lines if re.match(r'\s*v\d+[\[(]', ln)]) == 6
    assert len([ln for ln in lines if re.match(r'\s*op\d+\(\(', ln)]) == 4
    assert len([ln for ln in lines if ' --> ' in ln]) == 10
    assert '<b>a</b>' in text and 'scalar · float32' in text and 'grad' in text
    assert 'classDef leaf' in text and ':::output' in text and ':::leaf' in text
    assert 'classDef parameter' not in text                  # only the classes in use
    assert tl.to_mermaid(e, rankdir='TB').startswith('flowchart TB')


def test_mermaid_modules_escaping_and_legend():
    model, loss = mlp_step()
    text = tl.to_mermaid(loss, module=model, collapse='layers.2', legend=True)
    assert text.count('subgraph ') == text.count('\n    end') + text.count('\n        end') \
        or text.count('subgraph ') == len(re.findall(r'^\s*end$', text, re.M))
    assert 'subgraph cluster_1["layers.0 · Linear"]' in text
    assert 'm0[["<b>layers.2</b> Linear' in text
    assert 'subgraph legend' in text
    x = Value(1.0, requires_grad=True, name='a"<b>#')
    assert 'a#quot;#lt;b#gt;#35;' in tl.to_mermaid(x * 2)


def test_mermaid_marks_unhealthy_nodes():
    w = Value(np.ones(8, np.float32), requires_grad=True, name='w')
    w.grad = np.full(8, 1e-9, np.float32)
    text = tl.to_mermaid(w)
    assert f'style v0 stroke:{GRAD_SCALE[0][3]}' in text
    bad = Value([np.nan, 1.0], name='bad')
    assert ':::nonfinite' in tl.to_mermaid(bad)


def test_collapsed_module_with_nan_inside_is_marked_in_both_outputs():
    """A collapsed module is marked when NaN or inf is anywhere inside it (here a parameter's
    grad), not only in its outputs: the same rule for Graphviz and Mermaid."""
    model, loss = mlp_step()
    model.layers[0].weight.grad[0, 0] = np.nan
    text = tl.to_mermaid(loss, module=model, collapse='layers.0')
    assert re.search(r'm0\[\[.*\]\]:::nonfinite', text) and 'classDef nonfinite' in text
    source = tl.draw_graph(loss, module=model, collapse='layers.0').source
    assert re.search(r'm0 \[label=<<table border="3"[^>]*color="#dc2626"', source)


# ---- the demo ----------------------------------------------------------------------------------


def test_demo_graphs_tell_their_story():
    demo = load_demo('graph_viz')
    a, b, g = demo.micrograd_expression()
    assert a.grad == pytest.approx(138.8338, abs=1e-3) and b.grad == pytest.approx(645.5773, abs=1e-3)
    deep, _ = demo.vanishing_gradient()
    first = deep.blocks[0].linear.weight.grad
    last = deep.blocks[len(deep.blocks) - 1].linear.weight.grad
    assert np.sqrt(np.mean(first ** 2)) < 1e-8 < 1e-3 < np.sqrt(np.mean(last ** 2))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        drawings = demo.drawings()
    assert set(drawings) == {'micrograd_expression.svg', 'mlp_training_step.svg', 'vanishing_gradient.svg',
                             'cnn_training_step.svg', 'gpt_training_step.svg'}
    cnn_source = drawings['cnn_training_step.svg'].source
    assert 'conv2d' in cnn_source and 'padding=(1, 1)' in cnn_source and 'kernel_size=(2, 2)' in cnn_source
    assert all(isinstance(d, GraphDrawing) for d in drawings.values())


@needs_dot
def test_demo_writes_svgs(tmp_path, capsys):
    paths = load_demo('graph_viz').main(output_dir=tmp_path)
    assert len(paths) == 5
    for path in paths.values():
        assert_svg(path)
    assert 'wrote' in capsys.readouterr().out


def test_op_settings_show_under_the_op_name():
    """An op's ``extra_repr()`` (a convolution's kernel, stride, padding) is drawn in its node."""
    from tinygrad_ls.ops.base import Function

    class Scaled(Function):
        name = 'scaled'

        def __init__(self, factor):
            self.factor = factor

        def forward(self, x):
            return x * self.factor

        def backward(self, grad, out, x):
            return (grad * self.factor,)

        def extra_repr(self):
            return f"factor={self.factor}"

    x = Value(np.ones(3), requires_grad=True)
    y = Scaled.apply(x, factor=2.5).sum()
    source = tl.draw_graph(y).source
    assert 'scaled<br/><font point-size="8">factor=2.5</font>' in source
    assert 'scaled<br/>factor=2.5' in tl.to_mermaid(y)
    assert 'factor' not in tl.draw_graph((x * 2).sum()).source  # ops without settings: unchanged
