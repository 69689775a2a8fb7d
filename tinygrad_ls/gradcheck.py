"""``gradcheck`` / ``gradgradcheck``: compare analytic gradients with central finite
differences in float64, for users' own tests as much as ours."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from .combine import concat
from .derivatives import jacobian_rows
from .engine import grad as autograd_grad
from .value import Value, data_of


class GradcheckError(RuntimeError):
    """An analytic gradient disagrees with the finite-difference one.

    For the input reported: ``input_index``, ``analytic`` and ``numeric`` (its Jacobians, shape
    ``(output elements, input elements)``), ``diagnosis`` (a
    ``tinygrad_ls.testing.diagnosis.Diagnosis`` naming the mistake it looks like, or None) and
    ``figure`` (a matplotlib Figure of ``analytic - numeric`` with ``plot=...``, else None).
    """

    def __init__(self, message: str, *, input_index: int | None = None, analytic=None,
                 numeric=None, diagnosis=None, figure=None):
        super().__init__(message)
        self.input_index = input_index
        self.analytic = analytic
        self.numeric = numeric
        self.diagnosis = diagnosis
        self.figure = figure


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


def _outputs(fn: Callable, inputs: tuple) -> list:
    return [out if isinstance(out, Value) else Value(out) for out in _as_tuple(fn(*inputs))]


def _flat(outputs: list) -> Value:
    """The outputs as one flat float64 Value (several are concatenated)."""
    return concat([out.astype(np.float64).reshape(-1) for out in outputs])


def _flat_output(fn: Callable, inputs: tuple) -> Value:
    """``fn(*inputs)`` as one flat float64 Value (tuple outputs are concatenated)."""
    return _flat(_outputs(fn, inputs))


def gradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              *, plot: bool | str | os.PathLike = False) -> bool:
    """Check the gradient of ``fn(*inputs)`` for every input Value that requires grad.

    The full Jacobian is compared: one backward pass per output element against central
    differences ``(f(x + eps) - f(x - eps)) / (2 eps)`` per input element, all in float64,
    with ``|analytic - numeric| <= atol + rtol * |numeric|``. ``fn`` may return a Value of
    any shape or a tuple of Values. Returns True or raises ``GradcheckError`` naming the
    input, the element where the two differ most, the output element and both values; for
    Jacobians up to 12 x 12 the message shows both side by side and their difference, and it
    names the mistake the gradient looks like (a factor of 2, a flipped sign, a transpose, a
    sum over the wrong axis, a broadcast not reduced, a missing gradient) when one fits.

    ``plot=True`` attaches a matplotlib heatmap of ``analytic - numeric`` to the error as
    ``error.figure``; ``plot=<path>`` also saves it there as a PNG (needs matplotlib).
    """
    inputs = _float64_copies(_as_tuple(inputs))
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Value) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    outputs = _outputs(fn, inputs)
    flat = _flat(outputs)
    analytic = {i: np.zeros((flat.size, inputs[i].size)) for i in checked}
    numeric = {i: np.empty((flat.size, inputs[i].size)) for i in checked}
    if flat.requires_grad:
        wrt = [inputs[i] for i in checked]
        for k, gradients in enumerate(jacobian_rows(flat, wrt)):
            for i, row in zip(checked, gradients):
                analytic[i][k] = row.data.reshape(-1)
    failed = []
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
            numeric[i][:, j] = (plus - minus) / (2 * eps)
        if not np.all(np.abs(analytic[i] - numeric[i]) <= atol + rtol * np.abs(numeric[i])):
            failed.append(i)
    if failed:
        output_shape = outputs[0].shape if len(outputs) == 1 else None
        raise _failure(inputs, failed, analytic, numeric, output_shape, atol, rtol, plot)
    return True


def _failure(inputs: tuple, failed: list, analytic: dict, numeric: dict, output_shape,
             atol: float, rtol: float, plot) -> GradcheckError:
    """The error for the failed input whose Jacobian entry is furthest out of tolerance."""
    from .testing import diagnosis  # only on failure: keeps the passing path and imports lean

    i = max(failed, key=lambda f: diagnosis.excess(analytic[f], numeric[f], atol, rtol).max())
    message, found, worst = diagnosis.failure_report(
        analytic[i], numeric[i], input_index=i, input_name=inputs[i].name,
        input_shape=inputs[i].shape, output_shape=output_shape, atol=atol, rtol=rtol,
        other_inputs=tuple(f for f in failed if f != i))
    figure = None
    if plot is not False and plot is not None:
        figure = diagnosis.difference_figure(analytic[i], numeric[i], i, worst)
        if plot is not True:
            figure.savefig(os.fspath(plot), dpi=100)
            message += f"\nheatmap of analytic - numeric saved to {os.fspath(plot)}"
    return GradcheckError(message, input_index=i, analytic=analytic[i], numeric=numeric[i],
                          diagnosis=found, figure=figure)


def gradgradcheck(fn: Callable, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, *, plot: bool | str | os.PathLike = False) -> bool:
    """Check second derivatives: ``gradcheck`` of ``x -> grad(fn(x), x, v, create_graph=True)``.

    ``grad_outputs`` (``v``, one per output of ``fn``) defaults to fixed random normals.
    A failure is reported (and ``plot`` handled) as in ``gradcheck``; its outputs are the
    first derivatives, one per input that requires grad, concatenated.
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

    return gradcheck(first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol, plot=plot)
