"""Fuzzing: random programs of ops over random broadcastable shapes, checked against finite
differences, plus the exact identities of the engine.

A program is drawn by hypothesis: 1 to 3 float64 inputs of mutually broadcastable shapes
(up to 3 dimensions of up to 3), then 1 to 7 steps, each applying an op to earlier results:
smooth unary functions, binary ops with broadcasting (an operand may be used twice), NumPy
arrays on the left, reductions over random axes with or without keepdims, the softmax
family, reshapes, transposes, indexing (slices, ints, repeated integer indices), broadcast,
concat, stack and where. Only smooth ops are drawn (no relu, abs, clip, max/min), so the
central differences of ``tl.gradcheck`` are exact to its tolerance everywhere.

Properties:
- ``tl.gradcheck`` passes for the program (the full Jacobian against finite differences);
- ``backward()`` twice gives exactly twice the leaves' gradients of once, and intermediate
  nodes hold the latest pass;
- ``tl.grad`` equals the gradients ``backward()`` stores, exactly; with
  ``create_graph=True`` it gives the same first derivatives;
- ``tl.gradgradcheck`` passes for short programs.

Run time: the default profile keeps the file under ~30 s in CI. For a longer search:
``FUZZ_PROFILE=long python -m pytest tests/test_fuzz.py`` (25x more examples per property,
about 4 minutes).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from helpers import broadcasts
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_ls as tl
from tinygrad_ls import Value

PROFILE = os.environ.get('FUZZ_PROFILE', 'default')
if PROFILE not in ('default', 'long'):
    raise ValueError(f"FUZZ_PROFILE must be 'default' or 'long', got {PROFILE!r}")
SCALE = 25 if PROFILE == 'long' else 1


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


ELEMENTS = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)
MAX_SIZE = 48          # no intermediate result larger than this (keeps gradcheck cheap)


def swap_last(x: Value) -> Value:
    axes = list(range(x.ndim))
    axes[-2:] = axes[-1], axes[-2]
    return x.transpose(axes)


# ---- the ops a program is made of ----------------------------------------------------------------
# Each op: a name, how many operands, a function ``(operands, params) -> Value`` and a drawer
# ``(draw, shapes of the operands) -> params or None`` (None: not applicable to these shapes).

UNARY: dict[str, Callable] = {
    'tanh': lambda x: x.tanh(),
    'sigmoid': lambda x: x.sigmoid(),
    'exp(tanh)': lambda x: x.tanh().exp(),
    'log(x^2+1)': lambda x: (x * x + 1.0).log(),
    'sqrt(x^2+1)': lambda x: (x * x + 1.0).sqrt(),
    'neg': lambda x: -x,
    'affine': lambda x: 0.5 - x * 0.75,
    'square': lambda x: x * x,
    'pow-const-exponent': lambda x: (x * x + 0.5) ** 1.5,
    'pow-const-base': lambda x: 1.5 ** x.tanh(),
    'div-by-const': lambda x: x / 1.25,
    'const-div': lambda x: 1.0 / (x * x + 1.0),
    'ndarray-times': lambda x: np.full(x.shape, 0.3) * x,
    'gram': lambda x: x @ swap_last(x) if x.ndim >= 2 else x @ x if x.ndim == 1 else x * x,
}

BINARY: dict[str, Callable] = {
    'add': lambda a, b: a + b,
    'sub': lambda a, b: a - b,
    'mul': lambda a, b: a * b,
    'div': lambda a, b: a / (b * b + 1.0),
    'pow': lambda a, b: (a * a + 1.0) ** b.tanh(),
}


@dataclass(frozen=True)
class Step:
    op: str
    operands: tuple     # indices into the pool of earlier results
    params: tuple = ()

    def apply(self, pool: list) -> Value:
        args = [pool[i] for i in self.operands]
        kind, name = self.op.split(':', 1)
        if kind == 'unary':
            return UNARY[name](args[0])
        if kind == 'binary':
            return BINARY[name](*args)
        x = args[0]
        if kind == 'reduce':
            axis, keepdims = self.params
            return getattr(x, name)(axis=axis, keepdims=keepdims)
        if kind == 'softmax':
            return getattr(x, name)(axis=self.params[0])
        if kind == 'shape':
            return SHAPE_OPS[name](x, *self.params)
        if kind == 'where':
            return tl.where(np.array(self.params[0]), args[0], args[1])
        if kind == 'concat':
            return tl.concat(args, axis=self.params[0])
        if kind == 'stack':
            return tl.stack(args, axis=self.params[0])
        raise AssertionError(self.op)


SHAPE_OPS: dict[str, Callable] = {
    'flatten': lambda x: x.flatten(),
    'unsqueeze': lambda x, at: x.reshape(x.shape[:at] + (1,) + x.shape[at:]),
    'transpose': lambda x, perm: x.transpose(perm),
    'T': lambda x: x.T,
    'reverse': lambda x: x[::-1],
    'take': lambda x, index: x[list(index)],
    'int-index': lambda x, i: x[i],
    'slice-last': lambda x: x[..., 1:],
    'broadcast': lambda x: x.broadcast_to((2,) + x.shape),
}


def draw_step(draw, shapes: list) -> Step | None:
    """One step applicable to the current pool (None if the drawn kind does not apply)."""
    kind = draw(st.sampled_from(['unary', 'unary', 'binary', 'binary', 'reduce', 'softmax', 'shape',
                                 'shape', 'where', 'concat', 'stack']))
    i = draw(st.integers(0, len(shapes) - 1))
    shape = shapes[i]
    ndim = len(shape)
    if kind == 'unary':
        return Step(f"unary:{draw(st.sampled_from(sorted(UNARY)))}", (i,))
    if kind in ('binary', 'where'):
        partners = [j for j, other in enumerate(shapes) if broadcasts(shape, other)]
        j = draw(st.sampled_from(partners))  # i itself is always a partner: one node used twice
        if kind == 'binary':
            return Step(f"binary:{draw(st.sampled_from(sorted(BINARY)))}", (i, j))
        out_shape = np.broadcast_shapes(shape, shapes[j])
        mask = draw(hnp.arrays(np.bool_, out_shape))
        return Step('where:where', (i, j), (mask.tolist(),))
    if kind == 'reduce':
        name = draw(st.sampled_from(['sum', 'mean', 'logsumexp', 'var']))
        axis = draw(st.none() | (st.integers(-ndim, ndim - 1) if ndim else st.none())
                    | st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim).map(tuple))
        if ndim == 0 and axis not in (None, ()):
            return None
        if name in ('mean', 'var', 'logsumexp') and (0 in shape or reduced_size(shape, axis) == 0):
            return None  # the mean of an empty array is an error (api.md), as is logsumexp of nothing
        return Step(f"reduce:{name}", (i,), (axis, draw(st.booleans())))
    if kind == 'softmax':
        if ndim == 0 or 0 in shape:
            return None
        return Step(f"softmax:{draw(st.sampled_from(['softmax', 'log_softmax']))}", (i,),
                    (draw(st.integers(-ndim, ndim - 1)),))
    if kind == 'shape':
        name = draw(st.sampled_from(sorted(SHAPE_OPS)))
        if name == 'unsqueeze':
            return Step('shape:unsqueeze', (i,), (draw(st.integers(0, ndim)),))
        if name == 'transpose':
            return Step('shape:transpose', (i,), (tuple(draw(st.permutations(range(ndim)))),))
        if name in ('reverse', 'take', 'int-index') and (ndim == 0 or shape[0] == 0):
            return None
        if name == 'slice-last' and ndim == 0:
            return None
        if name == 'take':
            index = draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=4))
            return Step('shape:take', (i,), (tuple(index),))
        if name == 'int-index':
            return Step('shape:int-index', (i,), (draw(st.integers(-shape[0], shape[0] - 1)),))
        return Step(f"shape:{name}", (i,))
    # concat / stack: two results of a fitting shape (possibly the same one twice)
    if kind == 'concat':
        if ndim == 0:
            return None
        axis = draw(st.integers(-ndim, ndim - 1))
        fitting = [j for j, other in enumerate(shapes) if len(other) == ndim and all(
            a == b for k, (a, b) in enumerate(zip(shape, other)) if k != axis % ndim)]
        return Step('concat:concat', (i, draw(st.sampled_from(fitting))), (axis,))
    fitting = [j for j, other in enumerate(shapes) if other == shape]
    return Step('stack:stack', (i, draw(st.sampled_from(fitting))), (draw(st.integers(-ndim - 1, ndim)),))


def reduced_size(shape: tuple, axis) -> int:
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


@dataclass
class Program:
    inputs: list        # float64 ndarrays
    steps: list

    def __call__(self, *values: Value) -> Value:
        pool = list(values)
        for step in self.steps:
            pool.append(step.apply(pool))
        return pool[-1]

    def leaves(self) -> list:
        return [Value(array.copy(), requires_grad=True) for array in self.inputs]

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        shapes = [array.shape for array in self.inputs]
        return f"Program(input shapes {shapes}, steps {[(s.op, s.operands, s.params) for s in self.steps]})"


@st.composite
def programs(draw, max_steps: int = 7) -> Program:
    count = draw(st.integers(1, 3))
    drawn = draw(hnp.mutually_broadcastable_shapes(num_shapes=count, min_dims=0, max_dims=3, max_side=3))
    inputs = [draw(hnp.arrays(np.float64, shape, elements=ELEMENTS)) for shape in drawn.input_shapes]
    pool = [Value(array) for array in inputs]
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        step = draw_step(draw, [value.shape for value in pool])
        if step is None:
            continue
        with np.errstate(all='ignore'):
            result = step.apply(pool)
        if result.size > MAX_SIZE:
            continue
        steps.append(step)
        pool.append(result)
    assume(steps)
    with np.errstate(all='ignore'):  # keep to values where finite differences are meaningful
        assume(all(np.isfinite(value.data).all() and np.abs(value.data).max(initial=0) < 1e3
                   for value in pool))
    return Program(inputs, steps)


# ---- properties ---------------------------------------------------------------------------------

def run_with_seed(program: Program, data) -> tuple:
    """Fresh leaves, the program's output on them and a random output gradient (seed)."""
    leaves = program.leaves()
    out = program(*leaves)
    return leaves, out, data.draw(hnp.arrays(np.float64, out.shape, elements=ELEMENTS))


@fuzz_settings(500)
@given(program=programs())
def test_random_programs_pass_gradcheck(program):
    assert tl.gradcheck(program, program.leaves())


@fuzz_settings(400)
@given(program=programs(), data=st.data())
def test_backward_twice_is_exactly_twice_once(program, data):
    leaves, out, seed = run_with_seed(program, data)
    out.backward(seed)
    once = [None if leaf.grad is None else leaf.grad.copy() for leaf in leaves]  # None: unused input
    intermediate = [(node, node.grad.copy()) for node in tl.engine.toposort([out]) if node._fn is not None]
    out.backward(seed)
    for leaf, grad in zip(leaves, once):
        assert (leaf.grad is None) if grad is None else np.array_equal(leaf.grad, 2 * grad)
    for node, grad in intermediate:  # intermediate nodes hold the latest pass, not a sum
        assert np.array_equal(node.grad, grad)


@fuzz_settings(400)
@given(program=programs(), data=st.data())
def test_tl_grad_equals_the_gradients_backward_stores(program, data):
    leaves, out, seed = run_with_seed(program, data)
    grads = tl.grad(out, leaves, grad_outputs=seed)
    assert all(leaf.grad is None for leaf in leaves)  # tl.grad touches no .grad
    second_order = tl.grad(out, leaves, grad_outputs=Value(seed), create_graph=True)
    out.backward(seed)
    for leaf, grad, differentiable in zip(leaves, grads, second_order):
        stored = leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data)
        assert grad.dtype == stored.dtype and grad.shape == stored.shape
        assert np.array_equal(grad.data, stored)
        np.testing.assert_allclose(differentiable.data, stored, rtol=1e-9, atol=1e-12)


@fuzz_settings(120)
@given(program=programs(max_steps=3))
@example(program=Program(  # found by the long profile: pow's second derivative at a zero exponent
    inputs=[np.array(0.0)],
    steps=[Step(op='unary:affine', operands=(0,), params=()),
           Step(op='binary:pow', operands=(1, 0), params=())]))
def test_short_random_programs_pass_gradgradcheck(program):
    assert tl.gradgradcheck(program, program.leaves())
