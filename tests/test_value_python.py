"""How a Value behaves as a Python object, the way a PyTorch tensor does: ``==``/``!=``
elementwise, hashing by identity, ``bool``, ``int``, ``float``, ``round``, ``format``, ``index``,
``len``, ``iter``, ``tolist``. PyTorch is the oracle where installed."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import Value


def test_eq_and_ne_are_elementwise_bool_values_without_grad():
    x = Value([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in ((x == Value([1.0, 0.0, 3.0]), [True, False, True]),
                             (x != 2.0, [True, False, True]), (x.eq([1.0, 2.0, 0.0]), [True, True, False]),
                             (x.ne(x), [False, False, False]), (2.0 == x, [False, True, False])):
        assert isinstance(result, Value) and result.dtype == np.bool_
        assert not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)


def test_values_hash_by_identity_in_sets_and_dicts():
    a, b = Value([1.0, 2.0]), Value([1.0, 2.0])
    assert len({a, b}) == 2 and {a: 1, b: 2}[a] == 1
    assert a in [a, b] and a in {a}
    assert hash(a) != hash(b)


def test_bool_of_one_element_and_the_ambiguous_error_for_more():
    assert bool(Value(1.0)) and not bool(Value([0.0]))
    assert bool(Value(2.0) > 1)
    with pytest.raises(RuntimeError, match='ambiguous'):
        bool(Value([1.0, 2.0]))
    with pytest.raises(RuntimeError, match='ambiguous'):
        if Value([1.0, 2.0]) == Value([1.0, 2.0]):
            pass


def test_number_conversions():
    loss = Value(0.123456)
    assert f"{loss:.4f}" == '0.1235' and f"{loss}" == format(loss.item())
    assert f"{Value([2.5]):.1f}" == '2.5'
    assert int(Value(3.9)) == 3 and float(Value(2)) == 2.0
    assert isinstance(round(Value(2.567), 2), Value)
    assert round(Value(2.567), 2).item() == pytest.approx(2.57)
    np.testing.assert_array_equal(round(Value([0.5, 1.5, 2.4])).data, [0.0, 2.0, 2.0])
    with pytest.raises(TypeError, match='format'):
        f"{Value([1.0, 2.0]):.2f}"
    assert str(Value([1.0, 2.0])) in f"{Value([1.0, 2.0])}"
    with pytest.raises(ValueError, match='one element'):
        int(Value([1.0, 2.0]))


def test_index_for_integer_single_element_values():
    i = Value(np.array(2))
    assert [10, 20, 30][i] == 30 and list(range(i)) == [0, 1]
    assert Value(np.arange(5))[Value(np.array(1))].item() == 1
    with pytest.raises(TypeError, match='integer'):
        [1, 2][Value(1.0)]
    with pytest.raises(TypeError, match='integer'):
        [1, 2][Value(np.array([0, 1]))]


def test_len_iter_tolist_numel():
    x = Value(np.arange(6.0).reshape(3, 2), requires_grad=True)
    assert len(x) == 3 and x.numel() == 6
    rows = list(x)
    assert [row.shape for row in rows] == [(2,)] * 3
    sum(row.sum() for row in rows).backward()  # iteration keeps the graph
    np.testing.assert_allclose(x.grad, np.ones((3, 2)))
    assert x.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]] and Value(1.5).tolist() == 1.5
    with pytest.raises(TypeError, match='0-d'):
        len(Value(1.0))


def test_identity_based_code_paths_still_work_with_elementwise_eq():
    """The engine, the optimizers, modules and the renderer must not rely on ``==``."""
    model = tl.nn.MLP([3, 4, 2])
    opt = tl.optim.Adam(model.parameters(), lr=0.01)
    x = Value(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    loss = tl.nn.functional.cross_entropy(model(x), np.array([0, 1, 0, 1, 1]))
    loss.backward()
    opt.step()
    opt.load_state_dict(opt.state_dict())
    assert len(list(model.parameters())) == 4
    tl.draw_graph(loss, params=dict(model.named_parameters()))
    tl.to_mermaid(loss)
    h = next(model.parameters())
    assert tl.grad((h * h).sum(), [h, h])[0].shape == h.shape


@pytest.mark.torch
def test_conversions_match_pytorch():
    torch = pytest.importorskip('torch')
    data = np.array([0.5, 1.5, -2.5, 3.25])
    t, v = torch.tensor(data), Value(data)
    reverse = data[::-1].copy()
    np.testing.assert_array_equal((v == Value(reverse)).data, (t == torch.tensor(reverse)).numpy())
    np.testing.assert_array_equal((v != 1.5).data, (t != 1.5).numpy())
    np.testing.assert_array_equal(round(v).data, torch.round(t).numpy())
    np.testing.assert_array_equal(round(v, 1).data, torch.round(t, decimals=1).numpy())
    assert v.tolist() == t.tolist()
    # round passes a zero gradient, as torch.round does (and finite differences away from .5)
    x, tx = Value(data + 0.1, requires_grad=True), torch.tensor(data + 0.1, requires_grad=True)
    (round(x) * 3).sum().backward()
    (torch.round(tx) * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    assert tl.gradcheck(lambda a: round(a, 1) * a, (Value(data + 0.01, requires_grad=True),))
    scalar = torch.tensor(2.75)
    assert f"{Value(2.75):.3f}" == f"{scalar:.3f}" and int(Value(2.75)) == int(scalar)
    with pytest.raises(RuntimeError):
        bool(t)
