"""Hypothesis strategies for property tests of tinygrad_ls code.

    from hypothesis import given
    from tinygrad_ls.testing import strategies as tls

    @given(tls.values(elements=tls.well_conditioned('log')))
    def test_log_grad(x):
        assert tl.gradcheck(lambda v: v.log(), x)

- ``values(shape, dtype, elements, requires_grad, unique)``: ``tl.Value`` leaves;
- ``broadcastable_shapes(n, min_dims, max_dims)``: tuples of ``n`` shapes that broadcast;
- ``well_conditioned(fn_name)``: floats away from the function's kinks and poles, for
  ``values(elements=...)``; ``WELL_CONDITIONED`` lists the names it knows.

Needs hypothesis (``pip install hypothesis``, or the ``dev`` extra); nothing else in
tinygrad_ls imports this module.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("tinygrad_ls.testing.strategies needs hypothesis: pip install hypothesis "
                      "(or pip install 'tinygrad_ls[dev]')") from error

from ..value import Value

__all__ = ['values', 'broadcastable_shapes', 'well_conditioned', 'WELL_CONDITIONED']

MAX_DIMS = 3
MAX_SIDE = 4
LIMIT = 10.0   # default element magnitude: exp(10) ~ 2.2e4 stays finite even in float16
MARGIN = 0.1   # distance kept from a kink or a pole; gradcheck's eps is 1e-6


def _moderate(low: float = -LIMIT, high: float = LIMIT) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _shapes(shape) -> st.SearchStrategy[tuple]:
    if shape is None:
        return hnp.array_shapes(min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE)
    if isinstance(shape, st.SearchStrategy):
        return shape
    return st.just((shape,) if isinstance(shape, (int, np.integer)) else tuple(shape))


def _default_elements(dtype: np.dtype) -> st.SearchStrategy:
    if dtype.kind == 'f':
        return _moderate()
    if dtype.kind == 'b':
        return st.booleans()
    if dtype.kind in 'iu':
        return st.integers(0 if dtype.kind == 'u' else -int(LIMIT), int(LIMIT))
    raise TypeError(f"values: dtype must be float, int or bool, got {dtype}")


def values(shape=None, dtype=np.float64, elements: st.SearchStrategy | None = None,
           requires_grad: bool = True, *, unique: bool = False) -> st.SearchStrategy[Value]:
    """A strategy of ``tl.Value`` leaves.

    ``shape``: a tuple (or int) for a fixed shape, a strategy of shapes, or None for any
    shape of up to 3 dims of sides 1..4 (``()`` included). ``dtype``: the Value's dtype.
    ``elements``: a strategy of Python numbers (default: finite floats in [-10, 10] for
    float dtypes, integers in [-10, 10] for int dtypes); float elements are drawn in float64
    and cast, so any float strategy serves float16/32 too. ``requires_grad`` is applied to
    float dtypes only. ``unique``: no two elements equal (for max/min reductions, whose
    finite differences disagree with the analytic gradient at a tie of three or more).
    """
    dtype = np.dtype(dtype)
    if elements is None:
        elements = _default_elements(dtype)
    draw_dtype = np.dtype(np.float64) if dtype.kind == 'f' else dtype
    arrays = hnp.arrays(draw_dtype, _shapes(shape), elements=elements, unique=unique)
    grad = requires_grad and dtype.kind == 'f'
    return arrays.map(lambda array: Value(array.astype(dtype), requires_grad=grad))


def broadcastable_shapes(n: int = 2, min_dims: int = 0, max_dims: int = MAX_DIMS
                         ) -> st.SearchStrategy[tuple]:
    """A strategy of tuples of ``n`` shapes that broadcast together (sides 1..4).

    ``np.broadcast_shapes(*shapes)`` gives their common shape. Combine with ``values``::

        @given(st.data(), tls.broadcastable_shapes(2))
        def test_add(data, shapes):
            a, b = (data.draw(tls.values(shape)) for shape in shapes)
    """
    if n < 1:
        raise ValueError(f"broadcastable_shapes: n must be at least 1, got {n}")
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=max_dims,
                                             min_side=1, max_side=MAX_SIDE).map(
        lambda drawn: tuple(drawn.input_shapes))


def _away_from_zero(high: float = LIMIT) -> st.SearchStrategy[float]:
    return _moderate(MARGIN, high) | _moderate(-high, -MARGIN)


def _outside_bounds(low: float | None, high: float | None) -> st.SearchStrategy[float]:
    """Floats at least MARGIN from each given bound of clip/clamp (either may be None)."""
    if low is not None and high is not None and high - low < 2 * MARGIN:
        raise ValueError(f"well_conditioned('clip'): bounds ({low}, {high}) are closer than "
                         f"{2 * MARGIN}; there is no room between them")
    pieces = []
    if low is not None:
        pieces.append(_moderate(low - LIMIT, low - MARGIN))
    if high is not None:
        pieces.append(_moderate(high + MARGIN, high + LIMIT))
    if low is not None:
        inside_low = low + MARGIN
        inside_high = high - MARGIN if high is not None else inside_low + LIMIT
    else:
        inside_high = high - MARGIN if high is not None else LIMIT
        inside_low = inside_high - 2 * LIMIT if high is not None else -LIMIT
    pieces.append(_moderate(inside_low, inside_high))
    return st.one_of(pieces)


def _grid() -> st.SearchStrategy[float]:
    """Multiples of 1/8 in [-10, 10]: two draws tie exactly or differ by at least 0.125."""
    return st.integers(-int(8 * LIMIT), int(8 * LIMIT)).map(lambda k: k / 8)


# name -> (what is kept away from, the strategy's maker)
WELL_CONDITIONED: dict[str, tuple[str, Callable[[], st.SearchStrategy[float]]]] = {
    'abs': ("0 (the kink); |x| in [0.1, 10]", _away_from_zero),
    'relu': ("0 (the kink); |x| in [0.1, 10]", _away_from_zero),
    'div': ("0 (the pole); for the divisor, |x| in [0.1, 10]", _away_from_zero),
    'log': ("0 and the negatives; x in [0.1, 10]", lambda: _moderate(MARGIN, LIMIT)),
    'sqrt': ("0 (infinite slope) and the negatives; x in [0.1, 10]", lambda: _moderate(MARGIN, LIMIT)),
    'log1p': ("-1 and below; x in [-0.9, 10]", lambda: _moderate(-1 + MARGIN, LIMIT)),
    'pow': ("bases <= 0 (d/dy x**y = x**y log x); base in [0.1, 5]", lambda: _moderate(MARGIN, 5.0)),
    'exp': ("overflow; x in [-10, 10]", _moderate),
    'expm1': ("overflow; x in [-10, 10]", _moderate),
    'sigmoid': ("overflow and saturation; x in [-10, 10]", _moderate),
    'tanh': ("saturation; x in [-10, 10]", _moderate),
    'sin': ("nothing (smooth); x in [-10, 10]", _moderate),
    'cos': ("nothing (smooth); x in [-10, 10]", _moderate),
    'clip': ("the bounds (default (-1, 1)); at least 0.1 from each", _outside_bounds),
    'clamp': ("the bounds (default (-1, 1)); at least 0.1 from each", _outside_bounds),
    'max': ("near-ties: a grid of step 1/8 in [-10, 10]; exact ties remain (values(unique=True))", _grid),
    'min': ("near-ties: a grid of step 1/8 in [-10, 10]; exact ties remain (values(unique=True))", _grid),
    'maximum': ("near-ties: a grid of step 1/8 in [-10, 10]; exact ties of two are fine", _grid),
    'minimum': ("near-ties: a grid of step 1/8 in [-10, 10]; exact ties of two are fine", _grid),
}


def well_conditioned(fn_name: str, *, bounds: tuple | None = None) -> st.SearchStrategy[float]:
    """Floats where ``fn_name`` is smooth: away from its kinks and poles, of moderate size.

    For ``values(elements=...)``; finite differences (``tl.gradcheck``, eps 1e-6) agree with
    the analytic gradient on every draw. Keeps a margin of 0.1:

    - ``abs``, ``relu``: away from 0; ``div``: a divisor away from 0;
    - ``log``, ``sqrt``: in [0.1, 10]; ``log1p``: in [-0.9, 10]; ``pow``: a base in [0.1, 5];
    - ``exp``, ``expm1``, ``sigmoid``, ``tanh``, ``sin``, ``cos``: in [-10, 10];
    - ``clip``/``clamp``: at least 0.1 from each of ``bounds=(low, high)`` (default
      ``(-1, 1)``; either may be None, as in ``x.clip(None, 1)``);
    - ``max``, ``min``, ``maximum``, ``minimum``: multiples of 1/8, so two elements tie
      exactly or differ by 1/8. Ties of two split the gradient 1/2 each, as finite
      differences do; a max/min *reduction* over three or more tied elements does not
      agree with finite differences, so draw its input with ``values(..., unique=True)``.

    An unknown name raises ValueError listing the known ones (``WELL_CONDITIONED``).
    """
    if fn_name not in WELL_CONDITIONED:
        raise ValueError(f"well_conditioned: unknown function {fn_name!r}; known: "
                         f"{', '.join(sorted(WELL_CONDITIONED))}")
    make = WELL_CONDITIONED[fn_name][1]
    if fn_name in ('clip', 'clamp'):
        low, high = (-1.0, 1.0) if bounds is None else bounds
        return make(low, high)
    if bounds is not None:
        raise ValueError(f"well_conditioned: bounds= is for 'clip'/'clamp', not {fn_name!r}")
    return make()
