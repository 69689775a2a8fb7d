"""``gradcheck`` / ``gradgradcheck``: compare analytic gradients with central finite
differences in float64, for users' own tests as much as ours."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .combine import concat
from .engine import grad as autograd_grad
from .value import Value, data_of


class GradcheckError(RuntimeError):
    """An analytic gradient disagrees with the finite-difference one."""


def _as_tuple(items) -> tuple:
    return tuple(items) if isinstance(items, (tuple, list)) else (items,)


def _float64_copies(inputs: Sequence) -> tuple:
    """Fresh float64 leaves for float Values (keeping requires_grad); others as given."""
    copies = []
    for item in inputs:
        if isinstance(item, Value) and item.dtype.kind == 'f':
            copies.append(Value(item.data.astype(np.float64), requires_grad=item.requires_grad,
                                name=item.name))
        else:
            copies.append(item)
    return tuple(copies)


def _flat_output(fn: Callable, inputs: tuple) -> Value:
    """``fn(*inputs)`` as one flat float64 Value (tuple outputs are concatenated)."""
    outputs = [out if isinstance(out, Value) else Value(out) for out in _as_tuple(fn(*inputs))]
    return concat([out.astype(np.float64).reshape(-1) for out in outputs])


def gradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Check the gradient of ``fn(*inputs)`` for every input Value that requires grad.

    The full Jacobian is compared: one backward pass per output element against central
    differences ``(f(x + eps) - f(x - eps)) / (2 eps)`` per input element, all in float64,
    with ``|analytic - numeric| <= atol + rtol * |numeric|``. ``fn`` may return a Value of
    any shape or a tuple of Values. Returns True or raises ``GradcheckError`` naming the
    input, the element, the output element and both values.
    """
    inputs = _float64_copies(_as_tuple(inputs))
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Value) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    flat = _flat_output(fn, inputs)
    analytic = {i: np.zeros((flat.size, inputs[i].size)) for i in checked}
    if flat.requires_grad:
        wrt = [inputs[i] for i in checked]
        for k in range(flat.size):
            seed = np.zeros(flat.shape)
            seed[k] = 1.0
            for i, row in zip(checked, autograd_grad(flat, wrt, grad_outputs=seed)):
                analytic[i][k] = row.data.reshape(-1)
    for i in checked:
        data = inputs[i].data
        for j in range(data.size):
            index = np.unravel_index(j, data.shape)
            original = data[index]
            data[index] = original + eps
            plus = _flat_output(fn, inputs).data
            data[index] = original - eps
            minus = _flat_output(fn, inputs).data
            data[index] = original
            numeric = (plus - minus) / (2 * eps)
            column = analytic[i][:, j]
            bad = np.flatnonzero(~(np.abs(column - numeric) <= atol + rtol * np.abs(numeric)))
            if bad.size:
                k = int(bad[0])
                name = f" ({inputs[i].name})" if inputs[i].name else ''
                raise GradcheckError(
                    f"gradcheck: input {i}{name}, element {tuple(int(n) for n in index)}, "
                    f"output element {k}: analytic {column[k]:.8g}, numeric {numeric[k]:.8g}")
    return True


def gradgradcheck(fn: Callable, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3) -> bool:
    """Check second derivatives: ``gradcheck`` of ``x -> grad(fn(x), x, v, create_graph=True)``.

    ``grad_outputs`` (``v``, one per output of ``fn``) defaults to fixed random normals.
    """
    inputs = _float64_copies(_as_tuple(inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(Value(rng.standard_normal(np.shape(data_of(out))))
                             for out in _as_tuple(fn(*inputs)))
    grad_outputs = tuple(Value(v).astype(np.float64) for v in _as_tuple(grad_outputs))

    def first_derivatives(*xs):
        wrt = [x for x in xs if isinstance(x, Value) and x.requires_grad]
        return autograd_grad(_as_tuple(fn(*xs)), wrt, grad_outputs=grad_outputs, create_graph=True)

    return gradcheck(first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol)
