"""What a node says and how it is coloured: number formatting, data and gradient summaries,
what a Value's node says (``value_text``), the gradient colour scale, the colours of node
kinds, and escaping for DOT HTML labels and Mermaid text. Shared by the Graphviz and the
Mermaid output, which only add their markup.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

# rankdir -> the direction in words
DIRECTIONS = {'LR': 'left to right', 'RL': 'right to left', 'TB': 'top to bottom',
              'BT': 'bottom to top'}

# ---- node kinds --------------------------------------------------------------------------------
# kind -> (fill of the header row / node, border colour, text shown in the legend)
KIND_STYLES = {
    'output': ('#fecdd3', '#e11d48', 'output (the root you drew)'),
    'parameter': ('#fde68a', '#d97706', 'parameter'),
    'leaf': ('#99f6e4', '#0d9488', 'leaf that requires grad'),
    'data': ('#e5e7eb', '#6b7280', 'data / constant (no grad)'),
    'intermediate': ('#ffffff', '#94a3b8', 'intermediate value'),
    'op': ('#e0e7ff', '#6366f1', 'op'),
    'module': ('#ddd6fe', '#7c3aed', 'collapsed module'),
}

# ---- gradient colour scale ---------------------------------------------------------------------
# The colour of a gradient is set by its root-mean-square size, sqrt(mean(g**2)) (|g| for a
# scalar), so a scalar and a large tensor are on one scale. Each row: (upper bound, fill, text
# colour, a stronger line colour for borders, legend text); a size falls in the first row whose
# bound it is below. Blue: vanishing; green: healthy; orange to red: exploding.
GRAD_SCALE = (
    (1e-8, '#08306b', '#ffffff', '#08306b', '< 1e-8 or 0'),
    (1e-6, '#2171b5', '#ffffff', '#2171b5', '1e-8 – 1e-6'),
    (1e-4, '#6baed6', '#0f172a', '#4292c6', '1e-6 – 1e-4'),
    (1e-3, '#c6dbef', '#0f172a', '#6baed6', '1e-4 – 1e-3'),
    (1e1, '#dcfce7', '#0f172a', '#22c55e', '1e-3 – 10'),
    (1e2, '#fed7aa', '#0f172a', '#f97316', '10 – 100'),
    (1e4, '#fb923c', '#0f172a', '#ea580c', '100 – 1e4'),
    (math.inf, '#b91c1c', '#ffffff', '#b91c1c', '≥ 1e4'),
)
HEALTHY_FILL = GRAD_SCALE[4][1]
NONFINITE_FILL, NONFINITE_TEXT, NONFINITE_BORDER = '#facc15', '#b91c1c', '#dc2626'
NO_GRAD_TEXT = '#94a3b8'


def grad_colors(size: float) -> tuple[str, str, str]:
    """(fill, text colour, line colour) of the gradient scale for an rms size; NaN or inf gets
    the warning colours."""
    if not math.isfinite(size):
        return NONFINITE_FILL, NONFINITE_TEXT, NONFINITE_BORDER
    for bound, fill, text, line, _ in GRAD_SCALE:
        if size < bound:
            return fill, text, line
    return GRAD_SCALE[-1][1:4]  # unreachable: the last bound is inf


# ---- numbers and summaries ---------------------------------------------------------------------
def fmt(x) -> str:
    """A number in at most 4 significant digits: ``24.7``, ``-0.0123``, ``1.5e-08``, ``nan``."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if x == 0:
        return '0'
    if not math.isfinite(x):
        return 'nan' if math.isnan(x) else ('inf' if x > 0 else '-inf')
    return f"{x:.4g}"


def shape_text(shape: tuple) -> str:
    """The shape as Python prints it: ``()``, ``(4,)``, ``(3, 4)``."""
    return str(tuple(int(n) for n in shape))


def is_finite(array: np.ndarray) -> bool:
    """True unless a float array holds NaN or inf (other dtypes always are)."""
    if array.dtype.kind == 'f' and array.size == 1:
        return math.isfinite(array.item())
    return array.dtype.kind not in 'fc' or bool(np.isfinite(array).all())


def _nonfinite_text(array: np.ndarray) -> str:
    if array.size == 1:
        return fmt(array.item())
    nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
    parts = ([f"{nan} nan"] if nan else []) + ([f"{inf} inf"] if inf else [])
    return ', '.join(parts) + f" of {array.size}"


def data_summary(array: np.ndarray) -> tuple[str, bool]:
    """(text, finite): the number for one element; up to 4 elements listed; else
    ``μ mean  σ std  [min, max]`` (floats), ``[min, max]`` (ints) or ``k of n true`` (bools);
    for NaN or inf how many there are. ``finite`` is False if NaN or inf is present."""
    if array.size == 1 and array.dtype.kind != 'c':  # the common case, fast
        x = array.item()
        return fmt(x), not isinstance(x, float) or math.isfinite(x)
    if array.size == 0:
        return 'empty', True
    if not is_finite(array):
        return _nonfinite_text(array), False
    if array.size <= 4:
        return '[' + ', '.join(fmt(x) for x in array.ravel().tolist()) + ']', True
    if array.dtype.kind == 'b':
        return f"{int(array.sum())} of {array.size} true", True
    if array.dtype.kind in 'iu':
        return f"[{fmt(array.min())}, {fmt(array.max())}]", True
    wide = array.astype(np.float64)
    return f"μ {fmt(wide.mean())}  σ {fmt(wide.std())}  [{fmt(wide.min())}, {fmt(wide.max())}]", True


def grad_summary(grad: np.ndarray) -> tuple[str, float]:
    """(text, rms): the number for one element; up to 4 elements listed; else
    ``norm n  rms r`` (the L2 norm and the root-mean-square). ``rms`` = sqrt(mean(g**2)) (|g|
    for a scalar) sets the colour; it is NaN if the gradient holds NaN or inf."""
    if grad.size == 1 and grad.dtype.kind == 'f':  # the common case, fast
        x = grad.item()
        return fmt(x), abs(x) if math.isfinite(x) else math.nan
    if grad.size == 0:
        return 'empty', 0.0
    if not is_finite(grad):
        return _nonfinite_text(grad), math.nan
    wide = np.abs(grad).astype(np.float64)
    largest = float(wide.max())
    rms = largest * math.sqrt(float(np.mean((wide / largest) ** 2))) if largest > 0 else 0.0
    if grad.size <= 4:
        return data_summary(grad)[0], rms
    return f"norm {fmt(rms * math.sqrt(grad.size))}  rms {fmt(rms)}", rms


def constant_text(arg) -> str:
    """A non-Value op argument, short: ``2``, ``0.5``, ``array(3, 4)``."""
    if isinstance(arg, np.ndarray):
        return fmt(arg.item()) if arg.size == 1 else 'array' + shape_text(arg.shape)
    if isinstance(arg, (int, float, np.generic)):
        return fmt(arg)
    return type(arg).__name__


# ---- what a Value's node says ----------------------------------------------------------------
class ValueText(NamedTuple):
    """A Value's node as plain text, before each output format's markup and escaping.

    ``name``: the name in bold, or None; ``kind``: shown in italics where there is no name
    (None for intermediates); ``shape``: ``'(3, 4) · float32'`` or ``'scalar · float32'``;
    ``data``: the data summary and ``data_finite``; ``grad``: the gradient summary, ``'none'``
    for a Value that requires grad but has none yet, or None for no grad row; ``grad_rms``:
    the gradient's rms size (NaN for NaN or inf, None without a gradient)."""
    name: str | None
    kind: str | None
    shape: str
    data: str
    data_finite: bool
    grad: str | None
    grad_rms: float | None

    @property
    def finite(self) -> bool:
        """False if the data or the grad shown holds NaN or inf."""
        return self.data_finite and not (self.grad_rms is not None and math.isnan(self.grad_rms))


def value_text(value, name: str | None = None, kind: str = '', show_grad: bool = True) -> ValueText:
    """What the node of ``value`` (a Value) says; ``kind`` is its ValueNode kind ('' for none).
    The grad row is there with ``show_grad`` for a Value that requires grad or has a grad."""
    data = value.data
    shape = 'scalar' if data.ndim == 0 else shape_text(data.shape)
    text, finite = data_summary(data)
    grad, rms = None, None
    if show_grad and (value.requires_grad or value.grad is not None):
        grad, rms = ('none', None) if value.grad is None else grad_summary(np.asarray(value.grad))
    return ValueText(name or None, kind if not name and kind not in ('', 'intermediate') else None,
                     f"{shape} · {data.dtype}", text, finite, grad, rms)


def all_finite(values: Iterable) -> bool:
    """True unless the data or the grad of one of ``values`` (Values) holds NaN or inf."""
    return all(is_finite(v.data) and (v.grad is None or is_finite(np.asarray(v.grad))) for v in values)


# ---- escaping ----------------------------------------------------------------------------------
_CONTROL = re.compile(r'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
_HTML = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}
_HTML_RE = re.compile('[&<>"\']')
_SPECIAL = re.compile('[&<>"\'\x00-\x1f\x7f]')


def html_text(text: str) -> str:
    """Plain text for a DOT HTML-like label: markup characters escaped, line breaks as
    ``<br/>``, tabs as spaces and other control characters (which DOT rejects) as ``?``."""
    text = str(text)
    if _SPECIAL.search(text) is None:
        return text
    text = _HTML_RE.sub(lambda m: _HTML[m.group()], str(text))
    text = _CONTROL.sub('?', text.replace('\t', ' '))
    return text.replace('\r\n', '\n').replace('\r', '\n').replace('\n', '<br/>')


_MERMAID = {'#': '#35;', '"': '#quot;', '<': '#lt;', '>': '#gt;', '&': '#amp;'}
_MERMAID_RE = re.compile('[#"<>&]')


def mermaid_text(text: str) -> str:
    """Plain text for a quoted Mermaid label: ``# " < > &`` as Mermaid entity codes, line
    breaks as ``<br/>``, control characters as ``?``."""
    text = _MERMAID_RE.sub(lambda m: _MERMAID[m.group()], str(text))
    text = _CONTROL.sub('?', text.replace('\t', ' '))
    return text.replace('\r\n', '\n').replace('\r', '\n').replace('\n', '<br/>')
