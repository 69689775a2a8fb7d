"""The statements of the docs that once contradicted the code (issue 21, item 7), each checked
against the code, and the doc text that states it now checked to be there."""
from pathlib import Path

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls.nn import functional as F
from tinygrad_ls.ops.base import Function

DOCS = Path(__file__).resolve().parent.parent / 'docs'


def _doc(name: str) -> str:
    return ' '.join((DOCS / name).read_text().split())  # line breaks do not matter


def test_zeros_takes_separate_ints_and_a_tuple():
    assert tl.zeros(2, 3).shape == tl.zeros((2, 3)).shape == (2, 3)
    assert 'TypeError (options are keyword-only); pass a tuple' not in _doc('api.md')
    assert '`zeros(2, 3)` or `zeros((2, 3))`' in _doc('api.md')


def test_item_assignment_works_in_place():
    v = tl.Value([1.0, 2.0, 3.0])
    version = v._version
    v[0] = 10.0
    v[v > 2.5] = 0.0
    np.testing.assert_array_equal(v.data, [0.0, 2.0, 0.0])
    assert v._version > version
    leaf = tl.Value([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        leaf[0] = 1.0
    with tl.no_grad():
        leaf[0] = 5.0
    assert leaf.data[0] == 5.0 and leaf.requires_grad
    assert 'is not supported (`TypeError`)' not in _doc('api.md')
    assert 'Item assignment (`v[0] = 1`, `v[mask] = 0`) changes `v`\'s data in place' in _doc('api.md')


def test_cross_entropy_takes_class_probabilities():
    logits = tl.Value(np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]]), requires_grad=True)
    indices = np.array([1, 2])
    one_hot = np.eye(3)[indices]
    by_index = F.cross_entropy(logits, indices)
    by_probability = F.cross_entropy(logits, one_hot)
    np.testing.assert_allclose(by_index.item(), by_probability.item(), rtol=1e-12)
    assert 'integer class indices only' not in _doc('api.md')
    assert 'or float class probabilities of the input\'s shape' in _doc('api.md')


def test_list_dtypes_of_value_dataset_and_torch():
    assert tl.Value([1, 2]).dtype == tl.get_default_dtype() == np.float32
    assert tl.Value([1.0, 2.0]).dtype == np.float32
    assert tl.data.TensorDataset([1, 2])[0][0].dtype == np.int64  # labels, as torch.tensor
    text = _doc('pytorch.md')
    assert '| default dtype of a Python list | float32 | float32' not in text
    assert '`torch.tensor([1, 2])` int64' in text and '`tl.data.TensorDataset([1, 2])` int64' in text
    assert '`tl.data.TensorDataset([1, 2])` gives int64' in _doc('api.md')


def test_full_makes_the_default_float_dtype():
    assert tl.full((2,), 1).dtype == np.float32
    assert tl.full((2,), 1, dtype=np.int64).dtype == np.int64
    row = '| `full(shape, 1)` | int64 (the dtype of the fill value) | the default float dtype |'
    assert row in _doc('pytorch.md')
    assert 'the same arguments and dtypes, but `tl.full`' in _doc('pytorch.md')
    assert '`tl.full(shape, fill_value)` (the default float dtype' in _doc('api.md')


def test_torch_agrees_with_what_the_docs_say_of_it():
    torch = pytest.importorskip('torch')
    assert torch.tensor([1, 2]).dtype == torch.int64
    assert torch.tensor([1.0, 2.0]).dtype == torch.float32
    assert torch.full((2,), 1).dtype == torch.int64


def test_layer_norm_batch_norm_and_embedding_exist():
    x = tl.Value(np.ones((4, 3)))
    assert tl.nn.LayerNorm(3)(x).shape == (4, 3)
    assert tl.nn.BatchNorm1d(3)(x).shape == (4, 3)
    assert tl.nn.Embedding(5, 2)(np.array([0, 4])).shape == (2, 2)
    assert 'No `LayerNorm`, `BatchNorm1d` or `Embedding` yet' not in _doc('modules.md')


def test_no_page_points_to_api_md():
    """The team's contract is not shipped: the pages users read must not send them to it."""
    pages = sorted(DOCS.glob('*.md')) + [DOCS.parent / 'README.md']
    assert [page.name for page in pages if 'API.md' in page.read_text()] == []


class _ReadsResult(Function):
    name = 'reads_result'

    def forward(self, x):
        return np.exp(x)

    def backward(self, grad, out, x):
        return (grad * out,)


class _ReadsResultChecked(_ReadsResult):
    saves_output = True


def test_backward_always_gets_out_and_saves_output_only_guards_it():
    for op in (_ReadsResult, _ReadsResultChecked):
        x = tl.Value([0.0, 1.0], requires_grad=True)
        op.apply(x).sum().backward()
        np.testing.assert_allclose(x.grad, np.exp([0.0, 1.0]), rtol=1e-6)
    x = tl.Value([0.0, 1.0], requires_grad=True)
    unchecked = _ReadsResult.apply(x)
    checked = _ReadsResultChecked.apply(x)
    with tl.no_grad():
        unchecked += 1.0
        checked += 1.0
    unchecked.sum().backward()  # not told: the gradient reads the changed result, silently
    with pytest.raises(RuntimeError, match='modified by an in-place operation'):
        checked.sum().backward()
    text = _doc('testing.md')
    assert 'always receives the result `out`' in text
    assert '# backward reads its result as well as its input' not in text


def test_readme_says_what_each_demo_and_test_needs():
    text = (DOCS.parent / 'README.md').read_text()
    readme = ' '.join(text.split())
    rows = {line.split('|')[1].strip(' `'): line for line in text.splitlines()
            if line.startswith('| `') and '.py` |' in line}
    assert "[onnx]" in rows['export_onnx.py'] and "[distributed]" in rows['ddp_digits.py']
    assert 'mpirun' in rows['ddp_digits.py'] and 'minutes' in rows['gpt_pretrain.py']
    assert 'minutes' in rows['gpt_finetune.py']
    for needed in ("`[torch]`", "`[onnx]`", "`[distributed]`", 'parity tests', 'TL_THREADS', 'pytest -rs'):
        assert needed in readme, needed
    assert (DOCS.parent / 'demos' / 'blas_threads.py').exists()
