"""tl.onnx.export: the file passes onnx.checker and onnxruntime reproduces the library's outputs
(within 1e-5, float32) at the traced batch size and at another one (dynamic batch)."""
import numpy as np
import pytest
from helpers import load_demo

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F
from tinygrad_ls.onnx import export

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

TRACE_BATCH, OTHER_BATCH = 4, 7


def run_onnx(path, inputs: tuple) -> list:
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def reference(model, inputs: tuple) -> list:
    was_training = model.training
    model.eval()
    with tl.no_grad():
        result = model(*inputs)
    model.train(was_training)
    results = result if isinstance(result, tuple) else (result,)
    return [r.data for r in results if isinstance(r, tl.Value)]


def check_export(model, make_inputs, tmp_path, atol=1e-5, **options):
    """Export with inputs of TRACE_BATCH, compare onnxruntime with the library at both sizes."""
    path = tmp_path / 'model.onnx'
    proto = export(model, make_inputs(TRACE_BATCH), path, **options)
    onnx.checker.check_model(onnx.load(str(path)))
    for batch in (TRACE_BATCH, OTHER_BATCH):
        inputs = make_inputs(batch)
        expected, got = reference(model, inputs), run_onnx(path, inputs)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            assert g.shape == e.shape
            np.testing.assert_allclose(g, e, atol=atol, rtol=1e-5)
    return proto


def floats(*shape):
    def make(batch):
        return (np.random.default_rng(batch).standard_normal((batch,) + shape).astype(np.float32),)
    return make


@pytest.fixture(autouse=True)
def seeded():
    tl.manual_seed(0)


def test_mlp(tmp_path):
    check_export(nn.MLP([10, 16, 8, 3]), floats(10), tmp_path)


def test_demo_cnn(tmp_path):
    model = load_demo('cnn_digits').make_cnn((4, 8))
    model.train()
    for xb in (floats(1, 8, 8)(16)[0], floats(1, 8, 8)(9)[0]):  # running statistics that are not 0/1
        model(tl.Value(xb))
    proto = check_export(model, floats(1, 8, 8), tmp_path)
    assert model.training  # restored after the trace
    ops = {node.op_type for node in proto.graph.node}
    assert {'Conv', 'BatchNormalization', 'MaxPool', 'Gemm', 'Relu'} <= ops
    names = {init.name for init in proto.graph.initializer}
    assert {'0.weight', '1.running_mean', '1.running_var', '9.bias'} <= names


@pytest.mark.parametrize('activation', [
    nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.GELU(), nn.GELU(approximate='tanh'), nn.SiLU(),
    nn.LeakyReLU(0.2), nn.ELU(0.7), nn.Softplus(), nn.Softplus(beta=2.0, threshold=1.0),
    nn.Softmax(dim=-1), nn.LogSoftmax(dim=1),
], ids=repr)
def test_activations(activation, tmp_path):
    model = nn.Sequential(nn.Linear(6, 5), activation, nn.Dropout(0.3))
    proto = check_export(model, lambda b: (3 * floats(6)(b)[0],), tmp_path)
    assert 'Dropout' not in {node.op_type for node in proto.graph.node}


def test_normalization_embedding_pooling(tmp_path):
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.LayerNorm(6))
    model.train()
    model(tl.Value(floats(5)(32)[0]))
    check_export(model, floats(5), tmp_path)

    class Pools(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 3, 3, padding=1)
            self.max = nn.MaxPool2d(2, padding=1)
            self.avg = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
            self.adaptive = nn.AdaptiveAvgPool2d((2, 3))

        def forward(self, x):
            y = self.conv(x.reshape(x.shape[0], 2, -1)).reshape(x.shape[0], 3, 7, 7)
            return tl.concat([self.adaptive(self.max(y)), self.adaptive(self.avg(y))], axis=1)
    check_export(Pools(), floats(2, 7, 7), tmp_path)


def test_embedding_token_input(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2))
    proto = check_export(model, lambda b: (np.random.default_rng(b).integers(0, 10, (b, 3)),), tmp_path,
                         input_names=['tokens'], output_names=['scores'])
    assert [i.name for i in proto.graph.input] == ['tokens']
    assert [o.name for o in proto.graph.output] == ['scores']
    assert 'Gather' in {node.op_type for node in proto.graph.node}


def test_multihead_attention(tmp_path):
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    make = floats(5, 8)
    proto = check_export(mha, lambda b: make(b) * 3, tmp_path, output_names=['out', 'weights'])
    assert [o.name for o in proto.graph.output] == ['out', 'weights']


def test_transformer_encoder_layer(tmp_path):
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, batch_first=True,
                                       activation='gelu')
    check_export(layer, floats(5, 8), tmp_path)


def test_gpt_logits(tmp_path):
    config = tl.models.GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.1)
    model = tl.models.GPT(config)
    proto = check_export(model, lambda b: (np.random.default_rng(b).integers(0, 13, (b, 6)),), tmp_path,
                         input_names=['idx'], output_names=['logits'])
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == 'batch'
    assert 'transformer.wte.weight' in {init.name for init in proto.graph.initializer}


def test_unmapped_op_raises_and_writes_nothing(tmp_path):
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 3)

        def forward(self, x):
            return F.mse_loss(self.linear(x), np.zeros((x.shape[0], 3), np.float32))
    path = tmp_path / 'odd.onnx'
    with pytest.raises(NotImplementedError, match="'mse_loss'.*Odd"):
        export(Odd(), floats(3)(2), path)
    assert not path.exists()


def test_bad_names(tmp_path):
    with pytest.raises(ValueError, match='input_names'):
        export(nn.Linear(2, 2), floats(2)(3), tmp_path / 'm.onnx', input_names=['a', 'b'])


def test_demo_smoke(tmp_path, capsys):
    demo = load_demo('export_onnx')
    result = demo.main(epochs=1, n_samples=300, output_dir=tmp_path, repeats=2)
    out = capsys.readouterr().out
    assert 'onnxruntime' in out
    for row in result['rows']:
        assert row['onnx_accuracy'] == pytest.approx(row['accuracy'], abs=0.01)


def test_missing_onnx_package_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__('sys').modules, 'onnx', None)  # import onnx now fails
    with pytest.raises(ImportError, match=r"pip install 'tinygrad_ls\[onnx\]'"):
        export(nn.Linear(2, 2), floats(2)(3), tmp_path / 'm.onnx')
    assert not (tmp_path / 'm.onnx').exists()
