"""Handing a model to PyTorch and back: ``model.state_dict()`` of an MLP, the digits CNN
(demos/cnn_digits.py, with BatchNorm's running statistics and ``num_batches_tracked``) and a
``TransformerEncoderLayer`` loads with ``strict=True`` into the same architecture built from
``torch.nn`` and gives the same outputs; the reverse; the same through files (``tl.save`` ->
``tl.load`` -> torch, and ``torch.save`` -> ``torch.load(weights_only=True)`` -> tl); and
three optimizer steps after the hand-off leave the same parameters in both.

docs/moving_on.md shows the same hand-off as a worked example. The whole module is skipped
when torch is not installed.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import load_demo

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


# ---- the hand-off, exactly as docs/moving_on.md writes it ------------------------------------
def to_torch_state(state: dict) -> dict:
    """A tinygrad_ls state_dict (name -> ndarray) as a torch one (name -> Tensor)."""
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


def to_numpy_state(state: dict) -> dict:
    """A torch state_dict as a tinygrad_ls one."""
    return {k: v.detach().numpy() for k, v in state.items()}


# ---- the same architectures in both libraries ------------------------------------------------
class TorchMLP(torch.nn.Module):
    """torch's twin of ``nn.MLP(sizes)``: one Sequential ``layers`` with Linears at even
    positions and ReLUs at odd ones, so the keys read ``layers.0.weight``, ``layers.2.bias``."""

    def __init__(self, sizes):
        super().__init__()
        layers = []
        for i, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(torch.nn.ReLU())
            layers.append(torch.nn.Linear(size_in, size_out))
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


def torch_cnn(channels: tuple[int, int]) -> torch.nn.Sequential:
    """torch's twin of demos/cnn_digits.py ``make_cnn``: the same layers at the same indices."""
    first, second = channels
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, first, 3, padding=1), tnn.BatchNorm2d(first), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(first, second, 3, padding=1), tnn.BatchNorm2d(second), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(second * 2 * 2, 10),
    )


MLP_SIZES = [6, 16, 12, 3]
CNN_CHANNELS = (4, 8)
ENCODER = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)


def build_pair(case: str, dtype) -> tuple:
    """(tinygrad_ls model, torch model, input array) for ``case`` in ``dtype``, each model with
    its own random weights, both in eval mode."""
    rng = np.random.default_rng(0)
    if case == 'mlp':
        ours = nn.MLP(MLP_SIZES, dtype=dtype)
        theirs = TorchMLP(MLP_SIZES)
        x = rng.standard_normal((5, MLP_SIZES[0]))
    elif case == 'cnn':
        saved = tl.get_default_dtype()
        tl.set_default_dtype(dtype)  # make_cnn takes no dtype: its layers use the default
        try:
            ours = load_demo('cnn_digits').make_cnn(CNN_CHANNELS)
        finally:
            tl.set_default_dtype(saved)
        theirs = torch_cnn(CNN_CHANNELS)
        x = rng.uniform(0.0, 1.0, (5, 1, 8, 8))
    else:
        activation, norm_first = case.split('-')[1:]
        options = dict(ENCODER, activation=activation, norm_first=norm_first == 'pre')
        ours = nn.TransformerEncoderLayer(**options, dtype=dtype)
        theirs = torch.nn.TransformerEncoderLayer(**options)
        x = rng.standard_normal((3, 4, ENCODER['d_model']))
    theirs = theirs.to(TORCH_DTYPE[dtype])
    ours.eval()
    theirs.eval()
    return ours, theirs, x.astype(dtype)


CASES = ['mlp', 'cnn', 'encoder-relu-post', 'encoder-gelu-pre', 'encoder-relu-pre', 'encoder-gelu-post']
DTYPES = [pytest.param(np.float32, id='float32'), pytest.param(np.float64, id='float64')]


def nontrivial(state: dict, seed: int = 1) -> dict:
    """``state`` with every constant array (the fresh ones and zeros of norm weights and
    biases, attention biases, running statistics) replaced by random numbers, and a batch
    count, so that a key or layout mixed up in the hand-off changes the outputs."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, array in state.items():
        if key.endswith('num_batches_tracked'):
            out[key] = np.full_like(array, 7)
        elif array.size > 1 and np.all(array == array.flat[0]):
            draw = rng.uniform(0.5, 2.0, array.shape) if key.endswith('running_var') or array.flat[0] == 1 \
                else rng.normal(0.0, 0.3, array.shape)
            out[key] = draw.astype(array.dtype)
        else:
            out[key] = array
    return out


def outputs(ours, theirs, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    return ours(tl.Value(x)).data, expected


def assert_same_state(ours, theirs, dtype) -> None:
    """The same keys in the same order, and equal arrays of the same shapes and dtypes."""
    mine, other = ours.state_dict(), to_numpy_state(theirs.state_dict())
    assert list(mine) == list(other)
    for key in mine:
        assert mine[key].shape == other[key].shape, key
        assert mine[key].dtype == other[key].dtype, key
        np.testing.assert_allclose(mine[key], other[key], err_msg=key, **TOLERANCE[dtype])


# ---- tl -> torch and torch -> tl -------------------------------------------------------------
@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('case', CASES)
def test_keys_shapes_and_dtypes_are_the_same(case, dtype):
    ours, theirs, _ = build_pair(case, dtype)
    mine = {k: (v.shape, v.dtype) for k, v in ours.state_dict().items()}
    other = {k: (v.shape, v.dtype) for k, v in to_numpy_state(theirs.state_dict()).items()}
    assert list(mine.items()) == list(other.items())


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('case', CASES)
def test_tl_state_dict_loads_into_torch_strictly_and_gives_the_same_outputs(case, dtype):
    ours, theirs, x = build_pair(case, dtype)
    ours.load_state_dict(nontrivial(ours.state_dict()))
    result = theirs.load_state_dict(to_torch_state(ours.state_dict()), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert_same_state(ours, theirs, dtype)
    mine, expected = outputs(ours, theirs, x)
    assert mine.dtype == dtype and mine.shape == expected.shape
    np.testing.assert_allclose(mine, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('case', CASES)
def test_torch_state_dict_loads_into_tl_strictly_and_gives_the_same_outputs(case, dtype):
    ours, theirs, x = build_pair(case, dtype)
    theirs.load_state_dict(to_torch_state(nontrivial(to_numpy_state(theirs.state_dict()))))
    result = ours.load_state_dict(to_numpy_state(theirs.state_dict()))  # strict=True by default
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert_same_state(ours, theirs, dtype)
    mine, expected = outputs(ours, theirs, x)
    assert mine.dtype == dtype
    np.testing.assert_allclose(mine, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize('case', ['mlp', 'cnn', 'encoder-relu-post'])
def test_a_missing_or_extra_key_is_refused_both_ways(case):
    ours, theirs, _ = build_pair(case, np.float32)
    state = ours.state_dict()
    first = next(iter(state))
    fewer = {k: v for k, v in state.items() if k != first}
    with pytest.raises(RuntimeError, match='Missing key'):
        theirs.load_state_dict(to_torch_state(fewer), strict=True)
    extra = dict(to_numpy_state(theirs.state_dict()), unused=np.zeros(1, np.float32))
    with pytest.raises(RuntimeError, match='Unexpected key'):
        ours.load_state_dict(extra)


# ---- through files ---------------------------------------------------------------------------
@pytest.mark.parametrize('case', CASES[:3])
def test_tl_save_then_tl_load_then_torch(case, tmp_path):
    ours, theirs, x = build_pair(case, np.float32)
    ours.load_state_dict(nontrivial(ours.state_dict()))
    path = tmp_path / 'model.npz'
    tl.save(ours.state_dict(), path)
    with np.load(path, allow_pickle=False) as archive:  # an ordinary .npz, no pickle inside
        assert set(ours.state_dict()) <= set(archive.files)
    theirs.load_state_dict(to_torch_state(tl.load(path)), strict=True)
    assert_same_state(ours, theirs, np.float32)
    np.testing.assert_allclose(*outputs(ours, theirs, x), **TOLERANCE[np.float32])


@pytest.mark.parametrize('case', CASES[:3])
def test_torch_save_then_torch_load_then_tl(case, tmp_path):
    ours, theirs, x = build_pair(case, np.float32)
    theirs.load_state_dict(to_torch_state(nontrivial(to_numpy_state(theirs.state_dict()))))
    path = tmp_path / 'model.pt'
    torch.save(theirs.state_dict(), path)
    ours.load_state_dict(to_numpy_state(torch.load(path, weights_only=True)))
    assert_same_state(ours, theirs, np.float32)
    np.testing.assert_allclose(*outputs(ours, theirs, x), **TOLERANCE[np.float32])


# ---- after the hand-off ----------------------------------------------------------------------
@pytest.mark.parametrize('dtype', DTYPES)
def test_cnn_batchnorm_in_training_mode_updates_the_same_running_statistics(dtype):
    ours, theirs, x = build_pair('cnn', dtype)
    ours.load_state_dict(nontrivial(ours.state_dict()))
    theirs.load_state_dict(to_torch_state(ours.state_dict()), strict=True)
    ours.train()
    theirs.train()
    for _ in range(2):
        mine, expected = outputs(ours, theirs, x)
        np.testing.assert_allclose(mine, expected, **TOLERANCE[dtype])
    assert_same_state(ours, theirs, dtype)
    assert ours.state_dict()['1.num_batches_tracked'] == 9


OPTIMIZERS = {
    'sgd': (optim.SGD, torch.optim.SGD, dict(lr=0.1)),
    'sgd-momentum': (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-2)),
    'sgd-nesterov': (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, dampening=0)),
    'adam': (optim.Adam, torch.optim.Adam, dict(lr=1e-2)),
}


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('name', list(OPTIMIZERS))
@pytest.mark.parametrize('direction', ['tl-to-torch', 'torch-to-tl'])
def test_mlp_trains_step_for_step_the_same_after_the_hand_off(direction, name, dtype):
    ours, theirs, x = build_pair('mlp', dtype)
    if direction == 'tl-to-torch':
        theirs.load_state_dict(to_torch_state(ours.state_dict()), strict=True)
    else:
        ours.load_state_dict(to_numpy_state(theirs.state_dict()))
    ours.train()
    theirs.train()
    y = np.array([0, 2, 1, 1, 0])
    ours_class, torch_class, options = OPTIMIZERS[name]
    ours_optimizer = ours_class(ours.parameters(), **options)
    torch_optimizer = torch_class(theirs.parameters(), **options)
    for _ in range(3):
        ours_optimizer.zero_grad()
        loss = F.cross_entropy(ours(tl.Value(x)), y)
        loss.backward()
        ours_optimizer.step()
        torch_optimizer.zero_grad()
        torch_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        torch_loss.backward()
        torch_optimizer.step()
        np.testing.assert_allclose(loss.item(), torch_loss.item(), **TOLERANCE[dtype])
    assert_same_state(ours, theirs, dtype)


# ---- the table of docs/moving_on.md section 4 ------------------------------------------------
class Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)


class TorchNamed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)


TABLE = {
    'Linear': lambda T: T.Linear(3, 4),
    'Linear-no-bias': lambda T: T.Linear(3, 4, bias=False),
    'Conv1d': lambda T: T.Conv1d(2, 3, 3),
    'Conv2d': lambda T: T.Conv2d(2, 3, (3, 2)),
    'BatchNorm1d': lambda T: T.BatchNorm1d(3),
    'BatchNorm2d': lambda T: T.BatchNorm2d(3),
    'LayerNorm': lambda T: T.LayerNorm(3),
    'Embedding': lambda T: T.Embedding(5, 3),
    'MultiheadAttention': lambda T: T.MultiheadAttention(4, 2),
    'TransformerEncoder': lambda T: T.TransformerEncoder(T.TransformerEncoderLayer(4, 2, 8), 2,
                                                         norm=T.LayerNorm(4)),
    'ModuleList': lambda T: T.ModuleList([T.Linear(2, 2), T.LayerNorm(2)]),
    'ModuleDict': lambda T: T.ModuleDict({'a': T.Linear(2, 2), 'b': T.Embedding(3, 2)}),
    'Sequential-stateless-layers': lambda T: T.Sequential(
        T.Flatten(), T.Linear(4, 2), T.Dropout(), T.GELU(), T.Tanh(), T.Identity(), T.Linear(2, 2)),
    'attribute': lambda T: Named() if T is nn else TorchNamed(),
}


@pytest.mark.filterwarnings('ignore:enable_nested_tensor')  # torch's note about its fast path
@pytest.mark.parametrize('row', list(TABLE))
def test_each_row_of_the_layer_table_loads_strictly_both_ways(row):
    ours, theirs = TABLE[row](nn), TABLE[row](torch.nn)
    mine = {k: (v.shape, v.dtype) for k, v in ours.state_dict().items()}
    other = {k: (v.shape, v.dtype) for k, v in to_numpy_state(theirs.state_dict()).items()}
    assert list(mine.items()) == list(other.items())
    theirs.load_state_dict(to_torch_state(nontrivial(ours.state_dict())), strict=True)
    fresh = TABLE[row](nn)
    fresh.load_state_dict(to_numpy_state(theirs.state_dict()))
    for key, array in nontrivial(ours.state_dict()).items():
        np.testing.assert_array_equal(fresh.state_dict()[key], array, err_msg=key)


def test_a_merged_lora_model_hands_off_without_its_adapters():
    model = nn.MLP(MLP_SIZES)
    wrappers = nn.lora.inject(model, target=('layers.0', 'layers.2'), r=2)
    for wrapper in wrappers.values():
        wrapper.lora_B.data[...] = np.random.default_rng(0).normal(size=wrapper.lora_B.shape)
        wrapper.merge()
    plain = {k.replace('.base.', '.'): v for k, v in model.state_dict().items() if 'lora_' not in k}
    theirs = TorchMLP(MLP_SIZES)
    theirs.load_state_dict(to_torch_state(plain), strict=True)
    x = np.random.default_rng(1).standard_normal((4, MLP_SIZES[0])).astype(np.float32)
    np.testing.assert_allclose(*outputs(model, theirs, x), **TOLERANCE[np.float32])
