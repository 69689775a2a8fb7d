"""Readable gradcheck failures: the worst element, the two Jacobians side by side, and which
common mistake the analytic gradient looks like.

Everything here works from the Jacobians of one input, both of shape
``(output elements, input elements)``: ``analytic`` (one backward pass per output element)
and ``numeric`` (central differences). A diagnosis is only made when it is numerically
justified: after the transformation the mistake implies, the analytic Jacobian matches the
numeric one within gradcheck's own tolerance ``atol + rtol * |expected|``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

TABLE_LIMIT = 12  # side-by-side tables for Jacobians up to 12 x 12
_WIDTH = 9        # characters per number in the tables


@dataclass(frozen=True)
class Diagnosis:
    """A named mistake: ``kind`` is one of ``'zero'``, ``'spurious'``, ``'sign'``,
    ``'factor'``, ``'not_reduced'``, ``'transposed'``, ``'wrong_axis'``; ``text`` says it in
    words."""
    kind: str
    text: str

    def __str__(self) -> str:
        return self.text


def failing(analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """Boolean mask of the Jacobian entries outside ``atol + rtol * |numeric|`` (NaN fails)."""
    return ~(np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric))


def excess(analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """How far each entry is beyond the tolerance: ``-inf`` where it passes, ``inf`` for NaN."""
    bad = failing(analytic, numeric, atol, rtol)
    with np.errstate(invalid='ignore'):
        over = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    return np.where(bad, np.where(np.isnan(over), np.inf, over), -np.inf)


def _matches(analytic: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> bool:
    return not failing(analytic, expected, atol, rtol).any()


def _multi_index(flat: int, shape: tuple) -> tuple:
    return tuple(int(n) for n in np.unravel_index(flat, shape)) if shape else ()


def _factor_text(c: float) -> str:
    if abs(c - 0.5) < 1e-9:
        return "a missing factor of 2 (analytic = numeric / 2)"
    if abs(c - 2.0) < 1e-9:
        return "an extra factor of 2 (analytic = 2 * numeric)"
    if abs(c - round(c)) < 1e-9 or abs(1 / c - round(1 / c)) < 1e-9:
        shown = f"{round(c)}" if abs(c - round(c)) < 1e-9 else f"1/{round(1 / c)}"
    else:
        shown = f"{c:.6g}"
    return f"off by a constant factor of {shown} (analytic = {shown} * numeric)"


def _nice(c: float) -> float:
    """``c`` rounded to an integer or the reciprocal of one when that is within 1e-6."""
    for candidate in (round(c), 1 / round(1 / c) if abs(c) > 1e-12 and round(1 / c) else None):
        if candidate and abs(c - candidate) <= 1e-6 * abs(candidate):
            return float(candidate)
    return c


def _kept_axes(input_shape: tuple, output_shape: tuple) -> tuple | None:
    """The output axes that NumPy broadcasting lines up with the input's non-1 axes (None when
    the input does not broadcast to the output)."""
    lead = len(output_shape) - len(input_shape)
    if lead < 0:
        return None
    kept = []
    for t, size in enumerate(input_shape):
        if size == 1:
            continue
        if output_shape[lead + t] != size:
            return None
        kept.append(lead + t)
    return tuple(kept)


def _input_index(o: tuple, axes: tuple, input_shape: tuple) -> int:
    """Flat input index reached from output multi-index ``o`` by keeping ``axes`` of it (in
    order) for the input's non-1 axes and 0 for its size-1 axes."""
    picked = iter(o[a] for a in axes)
    full = tuple(next(picked) if size != 1 else 0 for size in input_shape)
    return int(np.ravel_multi_index(full, input_shape)) if input_shape else 0


def diagnose(analytic: np.ndarray, numeric: np.ndarray, input_shape: tuple,
             output_shape: tuple | None, atol: float, rtol: float) -> Diagnosis | None:
    """Which common mistake turns ``numeric`` into ``analytic``, or None for no known pattern.

    ``output_shape`` is the shape of the single output (None when ``fn`` returned several),
    needed for the broadcasting patterns.
    """
    m, n = analytic.shape
    if not (np.isfinite(analytic).all() and np.isfinite(numeric).all()):
        return None
    numeric_zero = _matches(numeric, np.zeros_like(numeric), atol, 0.0)
    if _matches(analytic, np.zeros_like(analytic), atol, 0.0):
        if numeric_zero:
            return None
        return Diagnosis('zero', "a missing gradient: the analytic gradient is zero but the "
                                 "output depends on this input (a detached or dropped term?)")
    if numeric_zero:
        return Diagnosis('spurious', "a gradient where there should be none: the output does "
                                     "not depend on this input, but the analytic gradient is "
                                     "nonzero")
    c = _nice(float(np.vdot(numeric, analytic) / np.vdot(numeric, numeric)))
    broadcast = _broadcast_info(input_shape, output_shape, m)
    if _matches(analytic, c * numeric, atol, rtol):
        if abs(c + 1) < 1e-9:
            return Diagnosis('sign', "a flipped sign (analytic = -numeric)")
        if broadcast is not None:
            for axes, k in broadcast['reductions']:
                if abs(c * k - 1) < 1e-9:
                    return Diagnosis('not_reduced', (
                        f"not reduced after broadcasting: averaged instead of summed over output "
                        f"axis {_axes_text(axes)} (analytic = numeric / {k})"
                        + ("; or a missing factor of 2" if k == 2 else '')))
        return Diagnosis('factor', _factor_text(c))
    transposed = _transposed(analytic, numeric, input_shape, atol, rtol)
    if transposed is None and output_shape is not None:
        transposed = _transposed_operand(analytic, numeric, input_shape, output_shape, atol, rtol)
    if transposed is not None:
        return transposed
    if broadcast is not None:
        found = _wrong_axis(analytic, numeric, input_shape, output_shape, broadcast, atol, rtol)
        if found is not None:
            return found
        found = _one_slice(analytic, numeric, output_shape, broadcast, atol, rtol)
        if found is not None:
            return found
    return None


def _axes_text(axes: tuple) -> str:
    return str(axes[0]) if len(axes) == 1 else str(axes)


def _broadcast_info(input_shape: tuple, output_shape: tuple | None, m: int) -> dict | None:
    """The broadcast axes of the input within the output, and the sizes of every nonempty
    subset of them (the factor by which a mean differs from a sum over those axes)."""
    if output_shape is None or int(np.prod(output_shape, dtype=np.int64)) != m:
        return None
    kept = _kept_axes(input_shape, output_shape)
    if kept is None:
        return None
    axes = [a for a in range(len(output_shape)) if a not in kept and output_shape[a] > 1]
    if not axes:
        return None
    reductions = []
    for r in range(len(axes), 0, -1):
        for subset in itertools.combinations(axes, r):
            reductions.append((subset, int(np.prod([output_shape[a] for a in subset]))))
    return {'kept': kept, 'axes': tuple(axes), 'reductions': reductions}


def _transposed(analytic, numeric, input_shape, atol, rtol) -> Diagnosis | None:
    """An input with square last two axes whose gradient came back transposed: column
    ``(.., a, b)`` of the analytic Jacobian is column ``(.., b, a)`` of the numeric one."""
    if len(input_shape) < 2 or input_shape[-1] != input_shape[-2] or input_shape[-1] < 2:
        return None
    columns = np.arange(analytic.shape[1]).reshape(input_shape).swapaxes(-1, -2).reshape(-1)
    if _matches(analytic, numeric[:, columns], atol, rtol):
        return Diagnosis('transposed', "a transposed gradient (analytic = numeric with the "
                                       "input's last two axes swapped)")
    return None


def _transposed_operand(analytic, numeric, input_shape, output_shape, atol, rtol) -> Diagnosis | None:
    """A matrix product whose backward used the other operand untransposed (``grad @ W`` for
    ``x @ W``, where ``grad @ W.T`` is right; ``A @ grad`` for ``A @ x``, where ``A.T @ grad``
    is right): the Jacobian with an output axis and an input axis of the same size (among the
    last two of each) swapped."""
    if len(input_shape) < 2 or len(output_shape) < 2 or analytic.shape[0] != int(np.prod(output_shape)):
        return None
    jacobian = numeric.reshape(tuple(output_shape) + tuple(input_shape))
    rank = len(output_shape)
    for out_axis, in_axis in ((-1, -1), (-2, -2), (-1, -2), (-2, -1)):
        if output_shape[out_axis] != input_shape[in_axis] or output_shape[out_axis] < 2:
            continue
        swapped = np.swapaxes(jacobian, rank + out_axis, rank + len(input_shape) + in_axis)
        if _matches(analytic, swapped.reshape(analytic.shape), atol, rtol):
            operand = 'W.T' if in_axis == -1 else 'A.T'
            return Diagnosis('transposed', (
                f"a transposed gradient: the backward of a matrix product used the other operand "
                f"where its transpose belongs (e.g. `grad @ W` for `x @ W`, where `grad @ W.T` is "
                f"right; `A @ grad` for `A @ x`, where `A.T @ grad` is right); analytic = numeric "
                f"with output axis {out_axis} and input axis {in_axis} swapped ({operand})"))
    return None


def _wrong_axis(analytic, numeric, input_shape, output_shape, broadcast, atol, rtol):
    """An input broadcast over some output axes whose gradient was summed over other axes of
    the same sizes (``grad.sum(axis=1)`` for a bias where ``grad.sum(axis=0)`` is right).

    Assumes each output element depends on one input element (elementwise ops): its whole
    derivative ``numeric[k].sum()`` then lands on the input element that the wrong kept axes
    point to.
    """
    m = analytic.shape[0]
    sizes = [size for size in input_shape if size != 1]
    totals = numeric.sum(axis=1)
    outputs = [_multi_index(k, output_shape) for k in range(m)]
    for axes in itertools.permutations(range(len(output_shape)), len(sizes)):
        if axes == broadcast['kept'] or [output_shape[a] for a in axes] != sizes:
            continue
        predicted = np.zeros_like(numeric)
        for k, o in enumerate(outputs):
            predicted[k, _input_index(o, axes, input_shape)] = totals[k]
        if _matches(analytic, predicted, atol, rtol):
            summed = tuple(a for a in range(len(output_shape)) if a not in axes)
            right = broadcast['axes']
            if len(axes) > 1 and sorted(axes) == sorted(broadcast['kept']):
                return Diagnosis('wrong_axis', (
                    f"the gradient summed over the right axes but kept axes {axes} in the "
                    f"wrong order (should be {broadcast['kept']})"))
            return Diagnosis('wrong_axis', (
                f"a gradient summed over the wrong axis: over output axis {_axes_text(summed)} "
                f"where it should be summed over axis {_axes_text(right)}"))
    return None


def _one_slice(analytic, numeric, output_shape, broadcast, atol, rtol):
    """An input broadcast over an output axis whose gradient took one slice of that axis
    (``grad[0]``) instead of summing over it."""
    outputs = np.array([_multi_index(k, output_shape) for k in range(analytic.shape[0])])
    for axis in broadcast['axes']:
        for s in sorted({0, output_shape[axis] - 1}):
            mask = (outputs[:, axis] == s).astype(numeric.dtype)
            if _matches(analytic, numeric * mask[:, None], atol, rtol):
                return Diagnosis('not_reduced', (
                    f"not reduced after broadcasting: only slice {s} of output axis {axis} "
                    f"reaches the gradient (it should be summed over that axis)"))
    return None


def _cell(value: float) -> str:
    return f"{value + 0.0:>{_WIDTH}.3g}"  # + 0.0 turns -0 into 0


def jacobian_table(analytic: np.ndarray, numeric: np.ndarray, input_shape: tuple,
                   worst: tuple[int, int], bad: np.ndarray) -> str:
    """Analytic and numeric Jacobians side by side, then their difference where it fails
    (``.`` where it is within tolerance; the worst entry marked ``*``); rows are output
    elements, columns input elements (by multi-index)."""
    m, n = analytic.shape
    headers = [str(_multi_index(j, input_shape)).replace(' ', '') for j in range(n)]
    header = ' '.join(f"{h:>{_WIDTH}}" for h in headers)
    label = len(str(m - 1)) + 4
    block = len(header)
    lines = [f"{'':>{label}}{'analytic':<{block}}   | numeric",
             f"{'':>{label}}{header}   | {header}"]
    for k in range(m):
        left = ' '.join(_cell(v) for v in analytic[k])
        right = ' '.join(_cell(v) for v in numeric[k])
        lines.append(f"{'out ' + str(k):>{label}}{left}   | {right}")
    lines.append(f"{'':>{label}}analytic - numeric (. within tolerance)")
    for k in range(m):
        cells = []
        for j in range(n):
            mark = '*' if (k, j) == worst else ' '
            cell = _cell(analytic[k, j] - numeric[k, j]) if bad[k, j] else f"{'.':>{_WIDTH}}"
            cells.append(cell + mark)
        lines.append(f"{'out ' + str(k):>{label}}" + ''.join(cells).rstrip())
    return '\n'.join(lines)


def failure_report(analytic: np.ndarray, numeric: np.ndarray, *, input_index: int,
                   input_name: str | None, input_shape: tuple, output_shape: tuple | None,
                   atol: float, rtol: float,
                   other_inputs: tuple = ()) -> tuple[str, Diagnosis | None, tuple[int, int]]:
    """The message of a gradcheck failure for one input, its diagnosis (or None) and the
    Jacobian entry ``(output element, input element)`` where the two differ most."""
    bad = failing(analytic, numeric, atol, rtol)
    k, j = (int(v) for v in np.unravel_index(int(np.argmax(excess(analytic, numeric, atol, rtol))),
                                             bad.shape))
    index = _multi_index(j, input_shape)
    name = f" ({input_name})" if input_name else ''
    m, n = bad.shape
    lines = [f"gradcheck: input {input_index}{name}, element {index}, output element {k}: "
             f"analytic {analytic[k, j]:.8g}, numeric {numeric[k, j]:.8g} (the largest "
             f"difference; {int(bad.sum())} of {m * n} Jacobian entries fail, at "
             f"{int(bad.any(axis=0).sum())} of {n} input elements)"]
    if other_inputs:
        lines.append(f"inputs {', '.join(map(str, other_inputs))} fail too")
    if m <= TABLE_LIMIT and n <= TABLE_LIMIT:
        lines.append(jacobian_table(analytic, numeric, input_shape, (k, j), bad))
    diagnosis = diagnose(analytic, numeric, input_shape, output_shape, atol, rtol)
    if diagnosis is not None:
        lines.append(f"This looks like: {diagnosis}")
    return '\n'.join(lines), diagnosis, (k, j)


def difference_figure(analytic: np.ndarray, numeric: np.ndarray, input_index: int,
                      worst: tuple[int, int] | None = None):
    """A matplotlib ``Figure`` (Agg, no window) with a heatmap of ``analytic - numeric``."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("gradcheck(plot=...) needs matplotlib: "
                          "pip install 'tinygrad_ls[demos]'") from error
    difference = analytic - numeric
    figure = Figure(figsize=(1.5 + 0.4 * min(difference.shape[1], 30),
                             1.5 + 0.4 * min(difference.shape[0], 30)))
    axes = figure.add_subplot()
    limit = float(np.nanmax(np.abs(difference))) or 1.0
    image = axes.imshow(difference, cmap='RdBu_r', vmin=-limit, vmax=limit, aspect='auto',
                        interpolation='nearest')
    if worst is not None:
        axes.plot(worst[1], worst[0], marker='x', color='black')
    axes.set_xlabel('input element (flat index)')
    axes.set_ylabel('output element')
    axes.set_title(f"gradcheck: input {input_index}, analytic - numeric")
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    return figure
