"""tl.onnx.export on the tape, tried the attacker's way: the file equals the library on new
data (masks, one_hot, indices an op made from the data are read from the graph, never baked
in), or the export raises ExportError naming the op, the module and the line, and writes
nothing. Names, opsets and dtypes onnx or onnxruntime cannot load are refused; writes are
atomic; large models use external data."""
import inspect
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F
from tinygrad_ls.onnx import ExportError, UnsupportedOpError, export
from tinygrad_ls.ops.draws import Randn

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

TRACE_BATCH, OTHER_BATCH = 4, 7
HERE = os.path.basename(__file__)


def floats(batch, *shape, seed=None, dtype=np.float32):
    rng = np.random.default_rng(batch if seed is None else seed)
    return rng.standard_normal((batch, *shape)).astype(dtype)


def tokens(batch, length, vocab, seed=None):
    return np.random.default_rng(batch if seed is None else seed).integers(0, vocab, (batch, length))


def run(path, *inputs) -> list:
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def library(model, *inputs) -> list:
    if hasattr(model, 'eval'):
        model.eval()
    with tl.no_grad():
        result = model(*(tl.Value(x) for x in inputs))
    return [v.data for v in (result if isinstance(result, tuple) else (result,)) if isinstance(v, tl.Value)]


def assert_same(model, path, *inputs, atol=1e-5):
    """onnxruntime on ``inputs`` equals the library within ``atol``."""
    expected, got = library(model, *inputs), run(path, *inputs)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, atol=atol, rtol=1e-5)


def refused(model, inputs, tmp_path, match: str, **options) -> ExportError:
    """The export raises ExportError matching ``match``, and nothing is left in ``tmp_path``."""
    path = tmp_path / 'refused.onnx'
    with pytest.raises(ExportError, match=match) as caught:
        export(model, inputs, path, **options)
    assert os.listdir(tmp_path) == []
    return caught.value


@pytest.fixture(autouse=True)
def seeded():
    tl.manual_seed(0)


class Lambda(nn.Module):
    """A module whose forward is ``body(self, *inputs)``, with one Linear(5, 6) as ``lin``."""

    def __init__(self, body, features=5):
        super().__init__()
        self.lin = nn.Linear(features, 6)
        self.body = body

    def forward(self, *inputs):
        return self.body(self, *inputs)


# ---- what the graph reads: masks, indices and one_hot made from the data --------------------
def test_where_mask_follows_new_data_at_another_batch(tmp_path):
    def body(self, x):
        h = self.lin(x)
        return tl.where(h > 0, h, h * 0.1)
    model = Lambda(body)
    path = tmp_path / 'where.onnx'
    proto = export(model, floats(TRACE_BATCH, 5), path)
    assert 'Greater' in {node.op_type for node in proto.graph.node}
    assert all(init.data_type != onnx.TensorProto.BOOL for init in proto.graph.initializer)
    assert_same(model, path, floats(OTHER_BATCH, 5))
    assert_same(model, path, floats(OTHER_BATCH, 5, seed=99))


def test_masked_fill_and_mask_arithmetic(tmp_path):
    def body(self, x):
        h = self.lin(x)
        kept = h.masked_fill(h < -0.2, 0.0)
        return kept * (x.sum(axis=1, keepdims=True) > 0) + (h >= 0.5).float()
    model = Lambda(body)
    export(model, floats(TRACE_BATCH, 5), tmp_path / 'm.onnx')
    assert_same(model, tmp_path / 'm.onnx', floats(OTHER_BATCH, 5))


def test_one_hot_of_an_int_input_reads_the_graph_input(tmp_path):
    model = Lambda(lambda self, t: self.lin(F.one_hot(t, 5).float()))
    path = tmp_path / 'one_hot.onnx'
    proto = export(model, tokens(TRACE_BATCH, 1, 5)[:, 0], path, input_names=['classes'])
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert any('classes' in node.input for node in proto.graph.node)
    first, second = np.array([0, 1, 2, 3, 4, 4, 0]), np.array([4, 4, 3, 2, 1, 0, 0])
    assert_same(model, path, first)
    assert_same(model, path, second)
    assert not np.allclose(run(path, first)[0], run(path, second)[0])


def test_int_input_comparisons_argmax_and_round(tmp_path):
    def body(self, t, x):
        big = (t > 2).float()
        h = self.lin(x) * big[:, :1] + t[:, 1:2].float()
        return h.argmax(axis=1), round(h, 1), h.argmax()
    model = Lambda(body)
    make = lambda b: (tokens(b, 2, 5), floats(b, 5))  # noqa: E731
    export(model, make(TRACE_BATCH), tmp_path / 'm.onnx')
    assert_same(model, tmp_path / 'm.onnx', *make(OTHER_BATCH))


def test_attention_mask_made_from_the_tokens(tmp_path):
    """A padding mask built by ops from an int input: additive_mask and dead_rows are nodes."""
    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(6, 8)

        def forward(self, t):
            x = self.embed(t)
            keep = (t != 0).reshape(t.shape[0], 1, t.shape[1])
            return F.scaled_dot_product_attention(x, x, x, attn_mask=keep)
    model = Attend()
    path = tmp_path / 'attend.onnx'
    export(model, tokens(TRACE_BATCH, 5, 6), path)
    other = tokens(OTHER_BATCH, 5, 6)
    other[2] = 0  # a row with every key masked out: zeros, as the library gives
    other[3, 1:] = 0
    assert_same(model, path, other)


SETTINGS = {  # a body, and whether it takes the int input t besides x
    'where': (lambda self, x: tl.where((x > 0)._data, x, -x), False),
    'embedding': (lambda self, x, t: F.embedding(t, self.lin.weight.T) * x.sum(), True),
    'getitem': (lambda self, x, t: x[t._data] * 2, True),
    'batch_norm': (lambda self, x: F.batch_norm(x, self.lin.weight[0].tanh(), self.lin.weight[1] ** 2 + 0.5),
                   False),
    'clip': (lambda self, x: x.clip(x.mean(axis=0)._data, None), False),
}


@pytest.mark.parametrize('setting', list(SETTINGS))
def test_array_settings_made_by_ops_are_read_from_the_graph(setting, tmp_path):
    """Settings that hold the call's own data (a condition, indices, statistics, a bound) are
    the ONNX values that made them — here even when passed as the raw array of a Value."""
    body, with_tokens = SETTINGS[setting]
    model = Lambda(body)

    def make(batch, seed=None):
        x = floats(batch, 5, seed=seed)
        return (x, tokens(batch, 3, 5, seed=seed) % batch) if with_tokens else (x,)
    export(model, make(TRACE_BATCH), tmp_path / 'm.onnx')
    assert_same(model, tmp_path / 'm.onnx', *make(TRACE_BATCH, seed=11))
    assert_same(model, tmp_path / 'm.onnx', *make(OTHER_BATCH))


@pytest.mark.parametrize('body, what', [
    (lambda self, x: x.var(axis=0), r"4\.0 \(float32\) at the example and 5\.0"),
    (lambda self, x: x + tl.zeros(x.shape[0], 5), r"an array of shape \(4, 5\)"),
    (lambda self, x: x + tl.arange(x.shape[0]).reshape(-1, 1), r"\[0, 1, 2, 3\]"),
])
def test_numbers_computed_from_the_batch_size_are_refused_with_a_dynamic_batch(body, what, tmp_path):
    """Traced at two batch sizes, the graphs differ: a count or a constant is baked in."""
    error = refused(Lambda(body), floats(TRACE_BATCH, 5), tmp_path,
                    r"computed in Python from the batch size or the data.*" + what)
    assert error.site.startswith(__file__) and error.module == 'the model (Lambda)'
    model = Lambda(body)
    export(model, floats(TRACE_BATCH, 5), tmp_path / 'fixed.onnx', dynamic_batch=False)
    assert_same(model, tmp_path / 'fixed.onnx', floats(TRACE_BATCH, 5, seed=3))


def test_a_numpy_copy_of_the_call_data_is_caught_by_the_second_trace(tmp_path):
    """NumPy on the private ``_data`` making a copy reports nothing; the second trace (other
    rows) gives another constant, so the export is refused all the same."""
    refused(Lambda(lambda self, x: x + x._data.mean(axis=0)), floats(TRACE_BATCH, 5), tmp_path,
            r"from the batch size or the data is baked in: an array of shape \(5,\)")


def test_negative_indices_and_open_slices_keep_the_batch_free(tmp_path):
    model = Lambda(lambda self, x: tl.concat([x[-1:], x[:-1], x[::-1], x[-2::-2]], axis=0) * x[-1])
    export(model, floats(TRACE_BATCH, 5), tmp_path / 'm.onnx')
    assert_same(model, tmp_path / 'm.onnx', floats(OTHER_BATCH, 5))


def test_dead_ops_are_pruned_and_not_refused(tmp_path):
    """Ops the outputs do not depend on are not exported (a loss computed beside is fine)."""
    def body(self, x):
        h = self.lin(x)
        F.mse_loss(h, tl.zeros(*h.shape))
        return h
    proto = export(Lambda(body), floats(TRACE_BATCH, 5), tmp_path / 'm.onnx')
    assert [node.op_type for node in proto.graph.node] == ['Gemm', 'Identity']


# ---- escapes: ExportError naming the reason, the op, the module and the line; nothing written --
class Reader(nn.Module):
    """``forward`` runs ``self.act(x)`` (one escape) after a Linear, inside a Sequential."""

    def __init__(self, act):
        super().__init__()
        self.act = act

    def forward(self, x):
        return self.act(x)


def _grad_read(x):
    assert x.grad is None
    return x


def _inplace(x):
    y = x * 1
    y.add_(1.0)
    return y


def _backward(x):
    w = tl.Value(np.ones(3, np.float32), requires_grad=True)
    with tl.enable_grad():
        (w * 2).sum().backward()
    return x


def _swallowed(x):
    try:
        float(x.sum())
    except BaseException:  # an attacker's guard: the refusal comes after the call anyway
        pass
    return x


ESCAPES = {
    '.data': (lambda x: x * (x.data > 0), r"reads the numbers.*\(\.data\)"),
    'item': (lambda x: x * x.sum().item(), r"\(item\(\)\)"),
    'float': (lambda x: x * float(x.sum()), r"\(float\(\)\)"),
    'int': (lambda x: x * int(x.sum() > 0), r"\(int\(\)\)"),
    'bool': (lambda x: x if x.sum() > 0 else -x, r"\(bool\(\)\)"),
    'numpy': (lambda x: x + x.numpy()[0], r"\(numpy\(\)\)"),
    'tolist': (lambda x: x * len(x.tolist()), r"\(tolist\(\)\)"),
    'format': (lambda x: x if f"{x.sum():.2f}" else x, r"\(formatting\)"),
    'asarray': (lambda x: x + np.asarray(x).mean(), r"np\.asarray"),
    'repr': (lambda x: x if repr(x) else x, r"\(repr\(\)\)"),
    'grad read': (_grad_read, r"reading \.grad.*no gradients"),
    'grad set': (lambda x: setattr(x, 'grad', None) or x, r"assigning \.grad"),
    'zero_grad': (lambda x: x.zero_grad() or x, r"zero_grad.*cannot call Python"),
    'in place': (_inplace, r"in-place update \(add_\)"),
    'data set': (lambda x: setattr(x, 'data', x._data * 2) or x, r"assigning \.data"),
    'backward': (_backward, r"backward\(\) or tl\.grad"),
    'optimizer': (lambda x: tl.optim.SGD([nn.Parameter(np.ones(2))], lr=0.1).zero_grad() or x,
                  r"a call of .*zero_grad"),
    'swallowed': (_swallowed, r"\(float\(\)\)"),
}


@pytest.mark.parametrize('case', list(ESCAPES))
def test_escapes_are_refused_naming_module_and_line(case, tmp_path):
    act, match = ESCAPES[case]
    model = nn.Sequential(nn.Linear(5, 5), Reader(act))
    error = refused(model, floats(TRACE_BATCH, 5), tmp_path, match)
    assert error.module == "'1' (Reader)"
    assert error.site.startswith(__file__ + ':')


RNG = np.random.default_rng(0)


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.rng = np.random.default_rng(1)

    def forward(self, x):
        return x + self.rng.standard_normal(x.shape).astype(np.float32)


def _closure_noise():
    rng = np.random.default_rng(2)
    return lambda x: x * rng.random()


@pytest.mark.parametrize('model, match', [
    (Reader(lambda x: x + RNG.standard_normal(x.shape).astype(np.float32)), r"global 'RNG' read by"),
    (Noisy(), r"attribute 'rng' of module the model \(Noisy\)"),
    (Reader(_closure_noise()), r"closure variable 'rng' of"),
    (Reader(lambda x: x * np.random.rand()), r"np\.random's global generator"),
])
def test_numpy_random_draws_are_refused(model, match, tmp_path):
    state = np.random.get_state()
    refused(model, floats(TRACE_BATCH, 5), tmp_path, r"NumPy random draw during the call.*" + match)
    np.random.set_state(state)


def test_library_random_ops_inside_forward_are_refused(tmp_path):
    refused(Lambda(lambda self, x: self.lin(x) + tl.randn(x.shape[0], 6)), floats(TRACE_BATCH, 5), tmp_path,
            r"'randn'")


def test_escape_names_the_op_that_made_the_value_and_its_line(tmp_path):
    def body(self, x):
        h = self.lin(x).relu()
        return h * len(h.tolist())
    line = inspect.getsourcelines(body)[1] + 2
    error = refused(Lambda(body), floats(TRACE_BATCH, 5), tmp_path, r"result of 'relu'")
    assert error.op == 'relu' and error.module == 'the model (Lambda)'
    assert error.site == f"{__file__}:{line}"
    assert f"{HERE}:{line}" in str(error) and 'nothing was written' in str(error)


def test_module_path_of_nested_modules(tmp_path):
    model = nn.Sequential(nn.Sequential(nn.Linear(5, 5), Reader(lambda x: x * x.sum().item())))
    error = refused(model, floats(TRACE_BATCH, 5), tmp_path, r"\(item\(\)\)")
    assert error.module == "'0.1' (Reader)" and error.op == 'sum' and isinstance(error, RuntimeError)


def test_numpy_view_of_the_call_data_is_refused(tmp_path):
    """An array made by NumPy from a Value's raw array beside the ops (the attacker reads the
    private ``_data``, which reports nothing): a view of the call's data, refused."""
    refused(Lambda(lambda self, x: x + x._data[::-1]), floats(TRACE_BATCH, 5), tmp_path, r"view of the call")
    refused(Lambda(lambda self, x: tl.where((x > 0)._data.T.T, x, 0.0)), floats(TRACE_BATCH, 5), tmp_path,
            r"\(bool\) that is a view of the call")


@pytest.mark.parametrize('body, match', [
    (lambda self, x: F.mse_loss(self.lin(x), tl.zeros(x.shape[0], 6)), r"'mse_loss' is a loss"),
    (lambda self, x: self.lin(x) + Randn.apply(shape=(x.shape[0], 6), dtype=np.float32),
     r"'randn' draws random numbers"),
    (lambda self, x: F.dropout(x, 0.5, training=True), r"'dropout' with p=0.5"),
    (lambda self, x: x[x._data > 0], r"'getitem' with index"),
])
def test_unsupported_ops_are_export_errors_and_not_implemented(body, match, tmp_path):
    error = refused(Lambda(body), floats(TRACE_BATCH, 5), tmp_path, match)
    assert isinstance(error, UnsupportedOpError) and isinstance(error, NotImplementedError)
    assert error.module == 'the model (Lambda)' and error.site.startswith(__file__)


# ---- a property: random small MLPs, exported and compared on new data ------------------------
ACTIVATIONS = [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, lambda: nn.LeakyReLU(0.3), nn.ELU,
               nn.Softplus, lambda: nn.Softmax(dim=-1)]


@settings(max_examples=12, deadline=None)
@given(widths=st.lists(st.integers(1, 9), min_size=2, max_size=4),
       activations=st.lists(st.integers(0, len(ACTIVATIONS) - 1), min_size=3, max_size=3),
       trace_batch=st.integers(1, 5), other_batch=st.integers(1, 9), masked=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_mlps_match_the_library(tmp_path_factory, widths, activations, trace_batch, other_batch,
                                       masked, seed):
    tl.manual_seed(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers += [nn.Linear(n_in, n_out), ACTIVATIONS[activations[i]]()]
    model = nn.Sequential(*layers)
    if masked:
        model = nn.Sequential(model, Reader(lambda x: tl.where(x > x.mean(axis=-1, keepdims=True), x, -x)))
    path = tmp_path_factory.mktemp('mlp') / 'mlp.onnx'
    export(model, floats(trace_batch, widths[0], seed=seed), path)
    assert_same(model, path, floats(other_batch, widths[0], seed=seed + 1))
