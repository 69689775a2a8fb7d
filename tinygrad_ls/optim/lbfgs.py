"""L-BFGS with an optional strong-Wolfe line search: PyTorch's algorithm (after minFunc), step for step.

L-BFGS works on one flat vector: the concatenation of every parameter, raveled in
``param_groups[0]['params']`` order (a parameter whose grad is None counts as a zero
gradient). Scalars derived from the flat vectors (``gtd``, ``t``, ``ys``, ...) stay NumPy
scalars of the parameters' dtype, as PyTorch keeps them 0-d tensors. The line search is in
``line_search.py``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..checks import is_number
from ..mode import enable_grad
from ..value import Value
from .line_search import strong_wolfe
from .optimizer import Optimizer


def lbfgs_direction(flat_grad: np.ndarray, old_dirs: list[np.ndarray], old_stps: list[np.ndarray],
                    ro: list, h_diag) -> np.ndarray:
    """The two-loop recursion: ``d = -H g`` for the L-BFGS inverse-Hessian estimate ``H``
    built from the pairs ``y_i = old_dirs[i]``, ``s_i = old_stps[i]``, ``ro_i = 1 / (y_i . s_i)``::

        q = -g
        for i = k-1 .. 0:  al_i = ro_i (s_i . q);  q = q - al_i y_i
        r = h_diag q
        for i = 0 .. k-1:  be_i = ro_i (y_i . r);  r = r + (al_i - be_i) s_i
        d = r
    """
    num_old = len(old_dirs)
    al = [None] * num_old
    q = -flat_grad
    for i in range(num_old - 1, -1, -1):
        al[i] = old_stps[i].dot(q) * ro[i]
        q += -al[i] * old_dirs[i]
    r = q * h_diag
    for i in range(num_old):
        be_i = old_dirs[i].dot(r) * ro[i]
        r += (al[i] - be_i) * old_stps[i]
    return r


class LBFGS(Optimizer):
    """``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
    history_size=100, line_search_fn=None)``; ``max_eval`` defaults to ``max_iter * 5 // 4``.

    ``step(closure)`` runs up to ``max_iter`` iterations; ``closure()`` must zero the grads,
    compute the loss, call ``backward()`` and return the loss, and is called again as needed.
    Returns the loss of the first evaluation. One parameter group only. Per iteration::

        if first iteration ever:  d = -g;  t = min(1, 1 / sum|g|) * lr
        else:
            y = g - g_prev;  s = t_prev d_prev
            if y.s > 1e-10:  store (y, s, 1 / y.s), dropping the oldest beyond history_size;
                             h_diag = y.s / y.y
            d = two-loop recursion (lbfgs_direction);  t = lr
        if g.d > -tolerance_change:  stop
        line_search_fn None:           x = x + t d, then re-evaluate (except in the last iteration)
        line_search_fn 'strong_wolfe': t from strong_wolfe(...), then x = x + t d
        stop at max_iter iterations or max_eval evaluations, when max|g| <= tolerance_grad,
        max|t d| <= tolerance_change, or |loss - prev_loss| < tolerance_change

    The state (``func_evals``, ``n_iter``, ``d``, ``t``, the history, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``) lives in ``state[first parameter]``, as in PyTorch.
    """

    _non_negative_options = ('tolerance_grad', 'tolerance_change')
    _infinite_options = ('tolerance_grad', 'tolerance_change')  # inf: stop after the first iteration

    def __init__(self, params: Iterable[Value] | Iterable[dict], lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None) -> None:
        if max_eval is None and is_number(max_iter):  # (a bad max_iter is refused by the base)
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size,
                        line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        self._params = self.param_groups[0]['params']

    def _check_options(self, options: dict[str, Any]) -> None:
        if not is_number(options['max_eval']):  # its default, None, is not a number
            raise TypeError(f"Invalid max_eval value: {options['max_eval']!r} (a number is expected)")
        for name in ('max_iter', 'max_eval', 'history_size'):
            if not 1 <= options[name]:
                raise ValueError(f"Invalid {name} value: {options[name]} (must be at least 1)")
        if options['line_search_fn'] not in (None, 'strong_wolfe'):
            raise ValueError(f"Invalid line_search_fn: {options['line_search_fn']!r} "
                             "(only None and 'strong_wolfe' are supported)")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """LBFGS has one parameter group; adding a second raises ValueError."""
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ---- flat-vector helpers ----------------------------------------------------------------
    def _gather_flat_grad(self) -> np.ndarray:
        return np.concatenate([np.zeros(p.size, p.dtype) if p._grad is None else np.ravel(p._grad)
                               for p in self._params])

    def _add_grad(self, step_size, update: np.ndarray) -> None:
        """``x = x + step_size * update`` on the parameters, in place."""
        offset = 0
        for p in self._params:
            p._data += step_size * update[offset:offset + p.size].reshape(p.shape)
            offset += p.size

    def _clone_param(self) -> list[np.ndarray]:
        return [p._data.copy() for p in self._params]

    def _set_param(self, params_data: list[np.ndarray]) -> None:
        for p, data in zip(self._params, params_data):
            p._data[...] = data

    def _directional_evaluate(self, closure: Callable, x: list[np.ndarray], t, d: np.ndarray):
        """Loss and flat gradient at ``x + t d``; the parameters are put back to ``x``."""
        self._add_grad(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ---- the algorithm ----------------------------------------------------------------------
    def _step(self, closure: Callable | None):
        """``step(closure)``: run up to ``max_iter`` L-BFGS iterations, calling ``closure()`` for
        each evaluation; returns the loss of the first evaluation (what ``closure()`` returned)."""
        if closure is None:
            raise TypeError("LBFGS.step() needs a closure that re-evaluates the model and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group['lr'], group['max_iter'], group['max_eval']
        tolerance_grad, tolerance_change = group['tolerance_grad'], group['tolerance_change']
        line_search_fn, history_size = group['line_search_fn'], group['history_size']

        state = self.state.setdefault(self._params[0], {})
        state.setdefault('func_evals', 0)
        state.setdefault('n_iter', 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state['func_evals'] += 1

        flat_grad = self._gather_flat_grad()
        opt_cond = np.abs(flat_grad).max() <= tolerance_grad
        if opt_cond:
            return orig_loss

        d, t = state.get('d'), state.get('t')
        old_dirs, old_stps, ro = state.get('old_dirs'), state.get('old_stps'), state.get('ro')
        h_diag = state.get('H_diag')
        prev_flat_grad, prev_loss = state.get('prev_flat_grad'), state.get('prev_loss')

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state['n_iter'] += 1

            # descent direction
            if state['n_iter'] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)
                d = lbfgs_direction(flat_grad, old_dirs, old_stps, ro, h_diag)

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # step length
            if state['n_iter'] == 1:
                t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                t = lr

            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # re-evaluate only if not in the last iteration (in a stochastic setting
                    # that evaluation would be wasted)
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state['func_evals'] += ls_func_evals

            # stopping conditions
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    # ---- saving -----------------------------------------------------------------------------
    def _flat_dtype(self) -> np.dtype:
        return np.result_type(*(p.dtype for p in self._params))

    def _pack_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """Plain arrays and numbers: the history lists become 2-D arrays (one row per stored
        pair), ``ro`` a 1-D array, NumPy scalars Python numbers."""
        n, dtype = sum(p.size for p in self._params), self._flat_dtype()
        packed = {}
        for key, value in state.items():
            if key in ('old_dirs', 'old_stps'):
                packed[key] = np.array(value, dtype=dtype) if value else np.zeros((0, n), dtype)
            elif key == 'ro':
                packed[key] = np.array(value, dtype=dtype)
            elif isinstance(value, np.ndarray):
                packed[key] = value.copy()
            elif isinstance(value, np.generic):
                packed[key] = value.item()
            else:
                packed[key] = value
        return packed

    def _unpack_state(self, param: Value, packed: dict[str, Any]) -> dict[str, Any]:
        """Inverse of ``_pack_state``; floating scalars become scalars of the parameters' dtype."""
        dtype = self._flat_dtype()
        state = {}
        for key, value in packed.items():
            if key in ('old_dirs', 'old_stps'):
                state[key] = [np.array(row, dtype=dtype) for row in value]
            elif key == 'ro':
                state[key] = [dtype.type(v) for v in np.asarray(value)]
            elif key in ('d', 'prev_flat_grad'):
                state[key] = np.array(value, dtype=dtype)
            elif key in ('func_evals', 'n_iter'):
                state[key] = int(value)
            elif key in ('t', 'H_diag') and np.asarray(value).dtype.kind == 'f':
                state[key] = dtype.type(value)
            elif key == 'prev_loss':
                state[key] = float(value)
            else:
                state[key] = value
        return state

    def _check_state(self, param: Value, state: dict[str, Any], where: str) -> None:
        n = sum(p.size for p in self._params)
        history = len(state.get('ro', ()))
        shapes = {'d': (n,), 'prev_flat_grad': (n,), 'old_dirs': (history, n), 'old_stps': (history, n)}
        for key, shape in shapes.items():
            if key in state and np.shape(state[key]) != shape:
                raise ValueError(f"load_state_dict: {where}[{key!r}] has shape {np.shape(state[key])}, "
                                 f"expected {shape} for {n} parameter elements and {history} stored pairs")
