"""nn.utils: clip_grad_value_, parameters_to_vector (differentiable) and vector_to_parameters
(in place, same Parameter objects, length checked); behind the ``torch`` fixture (a skip
without PyTorch), the same numbers and gradients as torch.nn.utils."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import nn


def params_with_grads() -> list:
    a = nn.Parameter(np.array([1.0, -2.0, 0.5]))
    b = nn.Parameter(np.array([[3.0, -0.25], [0.0, 9.0]]))
    frozen = nn.Parameter(np.ones(2))  # grad None: skipped
    a.grad, b.grad = a.data * 2, b.data * -1
    return [a, b, frozen]


# ---- clip_grad_value_ ------------------------------------------------------------------------
def test_clip_grad_value_clips_each_entry_in_place():
    a, b, frozen = params_with_grads()
    grad = a.grad
    assert nn.utils.clip_grad_value_([a, b, frozen], 1.5) is None
    assert a.grad is grad
    np.testing.assert_array_equal(a.grad, [1.5, -1.5, 1.0])
    np.testing.assert_array_equal(b.grad, [[-1.5, 0.25], [0.0, -1.5]])
    assert frozen.grad is None
    nn.utils.clip_grad_value_(a, 0)  # a single Value; 0 zeroes every gradient
    assert not a.grad.any()


@pytest.mark.parametrize('clip_value, kind, message', [
    (-1.0, ValueError, "clip_value must be non-negative, got -1.0"),
    (float('nan'), ValueError, "non-negative, got nan"),
    ('1', TypeError, "clip_grad_value_: clip_value must be a number"),
])
def test_clip_grad_value_errors_change_nothing(clip_value, kind, message):
    params = params_with_grads()
    with pytest.raises(kind, match=message):
        nn.utils.clip_grad_value_(params, clip_value)
    np.testing.assert_array_equal(params[0].grad, [2.0, -4.0, 1.0])
    with pytest.raises(TypeError, match="item 1 is ndarray"):
        nn.utils.clip_grad_value_([params[0], np.ones(2)], 1.0)


# ---- parameters_to_vector / vector_to_parameters ------------------------------------------------
def test_parameters_to_vector_is_flat_ordered_and_differentiable():
    model = nn.MLP([3, 4, 2], dtype=np.float64)
    vec = nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 4 + 4 + 4 * 2 + 2,) and vec.dtype == np.float64
    np.testing.assert_array_equal(vec.data, np.concatenate([p.data.reshape(-1) for p in model.parameters()]))
    weights = np.arange(vec.size, dtype=np.float64)
    (vec * tl.Value(weights)).sum().backward()  # d/dp = the matching slice of weights
    offset = 0
    for param in model.parameters():
        np.testing.assert_array_equal(param.grad, weights[offset:offset + param.size].reshape(param.shape))
        offset += param.size
    assert nn.utils.parameters_to_vector(leaf(5.0)).shape == (1,)  # a 0-d Value gives one entry
    assert tl.gradcheck(lambda a, b: nn.utils.parameters_to_vector([a, b]) ** 2,
                        (leaf(np.ones((2, 3))), leaf([0.5, -1.0])))


def test_vector_to_parameters_copies_in_place_and_round_trips():
    model = nn.MLP([3, 4, 2])
    params, arrays = list(model.parameters()), [p.data for p in model.parameters()]
    optimizer = tl.optim.SGD(model.parameters(), lr=0.1)
    vec = np.linspace(-1, 1, 26)  # float64 into float32 parameters: cast
    assert nn.utils.vector_to_parameters(vec, model.parameters()) is None
    for param, kept, array in zip(model.parameters(), params, arrays):
        assert param is kept and param.data is array and param.dtype == np.float32 and param._version == 1
    np.testing.assert_allclose(nn.utils.parameters_to_vector(model.parameters()).data, vec, rtol=1e-6)
    vec[:] = 0  # copied, not shared
    assert model.layers[0].weight.data[0, 0] == np.float32(-1.0)
    nn.utils.vector_to_parameters(tl.Value(np.zeros(26)), params)
    assert not any(p.data.any() for p in params)
    model(tl.ones((1, 3))).sum().backward()
    optimizer.step()  # the optimizer still updates the same objects
    assert model.layers[2].bias.data.any()


def test_vector_to_parameters_replaces_read_only_arrays():
    frozen = nn.Parameter(np.broadcast_to(np.ones(1), (3,)))  # a read-only view
    nn.utils.vector_to_parameters(np.arange(3.0), [frozen])
    np.testing.assert_array_equal(frozen.data, [0.0, 1.0, 2.0])


@pytest.mark.parametrize('vec, kind, message', [
    (np.zeros(5), ValueError,
     r"vec has 5 elements but the parameters have 7 together \(shapes \[\(3,\), \(2, 2\)\]\)"),
    (np.zeros((7, 1)), ValueError, r"vec must be a 1-D numeric vector, got shape \(7, 1\)"),
    (np.array(['a'] * 7), ValueError, "1-D numeric vector"),
    ([0.0] * 7, TypeError, "vec must be a Value or an ndarray, got list"),
])
def test_vector_to_parameters_errors_change_nothing(vec, kind, message):
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones((2, 2)))
    with pytest.raises(kind, match=message):
        nn.utils.vector_to_parameters(vec, [a, b])
    assert (a.data == 1).all() and (b.data == 1).all() and a._version == b._version == 0


def test_parameters_to_vector_needs_parameters():
    with pytest.raises(ValueError, match="parameters_to_vector: got no parameters"):
        nn.utils.parameters_to_vector([])
    with pytest.raises(TypeError, match="parameters_to_vector: expected Values"):
        nn.utils.parameters_to_vector([np.ones(2)])


# ---- PyTorch parity ----------------------------------------------------------------------------
def twin_models(torch):
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.torch
def test_torch_clip_grad_value(torch):
    ours, theirs = twin_models(torch)
    x = np.random.default_rng(0).standard_normal((8, 3)) * 10
    (ours(x) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    nn.utils.clip_grad_value_(ours.parameters(), 0.3)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.3)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-12)


@pytest.mark.torch
def test_torch_parameters_to_vector_and_back(torch):
    ours, theirs = twin_models(torch)
    vec = nn.utils.parameters_to_vector(ours.parameters())
    reference = torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(vec.data, reference.detach().numpy())
    weights = np.random.default_rng(1).standard_normal(vec.size)
    (vec * vec * tl.Value(weights)).sum().backward()
    (reference * reference * torch.tensor(weights)).sum().backward()
    for mine, theirs_param in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(mine.grad, theirs_param.grad.numpy(), rtol=1e-12)
    new = np.random.default_rng(2).standard_normal(vec.size)
    nn.utils.vector_to_parameters(new, ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs.parameters())
    x = np.random.default_rng(3).standard_normal((5, 3))
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)
