"""A whole small CNN (conv, batch norm, ReLU, max-pool, flatten, linear) against PyTorch: a
PyTorch state_dict loads under the same keys and gives the same outputs, in eval and in
training mode, with the same gradients and the same running statistics afterwards."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F

pytestmark = pytest.mark.torch


def ours():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding='same', bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


def theirs(torch):
    t = torch.nn
    return t.Sequential(t.Conv2d(1, 4, 3, padding=1), t.BatchNorm2d(4), t.ReLU(), t.MaxPool2d(2),
                        t.Conv2d(4, 6, 3, padding='same', bias=False), t.BatchNorm2d(6), t.ReLU(),
                        t.AdaptiveAvgPool2d(1), t.Flatten(), t.Linear(6, 3))


@pytest.fixture
def pair(torch):
    """A PyTorch CNN after two training steps (so its running statistics are not the
    defaults), and ours with its state_dict loaded, both in float64."""
    torch.manual_seed(0)
    reference = theirs(torch).double()
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(2):
        optimizer.zero_grad()
        x = torch.tensor(rng.standard_normal((5, 1, 8, 8)))
        torch.nn.functional.cross_entropy(reference(x), torch.tensor([0, 1, 2, 0, 1])).backward()
        optimizer.step()
    model = ours().double()
    state = reference.state_dict()
    assert list(model.state_dict()) == list(state)
    model.load_state_dict({key: value.numpy() for key, value in state.items()})
    return reference, model


def test_a_torch_state_dict_loads_and_gives_the_same_outputs_in_eval(pair, torch):
    reference, model = pair
    reference.eval()
    model.eval()
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8))
    with torch.no_grad():
        expected = reference(torch.tensor(x)).numpy()
    np.testing.assert_allclose(model(tl.Value(x)).data, expected, rtol=1e-10, atol=1e-12)


def test_training_step_matches_gradients_and_running_statistics(pair, torch):
    reference, model = pair
    x = np.random.default_rng(2).standard_normal((4, 1, 8, 8))
    y = np.array([2, 0, 1, 1])
    reference.zero_grad()
    loss_t = torch.nn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(y))
    loss_t.backward()
    loss = F.cross_entropy(model(tl.Value(x)), y)
    loss.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-10)
    for (name, p), (name_t, p_t) in zip(model.named_parameters(), reference.named_parameters()):
        assert name == name_t
        np.testing.assert_allclose(p.grad, p_t.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)
    state_t = reference.state_dict()
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value, state_t[key].numpy(), rtol=1e-10, err_msg=key)


def test_bad_input_names_the_layer_and_shapes():
    model = ours()
    with pytest.raises(ValueError, match=r'Conv2d.*channel'):
        model(tl.Value(np.zeros((2, 3, 8, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match='Conv2d'):
        nn.Conv2d(1, 2, 5)(tl.Value(np.zeros((1, 1, 3, 3), dtype=np.float32)))
