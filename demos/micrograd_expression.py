"""The scalar expression from micrograd's README, built with Values and backpropagated.

    python demos/micrograd_expression.py

Prints every intermediate value with its gradient; the expected answer is
g = 24.7041, dg/da = 138.8338, dg/db = 645.5773.

``build`` is the one place the expression is written: demos/graph_viz.py draws it and the
tests check its gradients.
"""
import numpy as np

import tinygrad_ls as tl
from tinygrad_ls import Value


def build(a_value: float = -4.0, b_value: float = 2.0):
    """Return the leaves ``a``, ``b`` and the output ``g`` of micrograd's README expression."""
    a = Value(a_value, requires_grad=True, dtype=np.float64, name='a')
    b = Value(b_value, requires_grad=True, dtype=np.float64, name='b')
    c = a + b
    d = a * b + b**3
    c = c + (c + 1)
    c = c + (1 + c + (-a))
    d = d + (d * 2 + (b + a).relu())
    d = d + (3 * d + (b - a).relu())
    e = c - d
    f = e**2
    g = f / 2 + 10 / f
    g.name = 'g'
    return a, b, g


def main() -> None:
    a, b, g = build()
    g.backward()
    print(f"g     = {g.item():.4f}")
    print(f"dg/da = {a.grad.item():.4f}")
    print(f"dg/db = {b.grad.item():.4f}")
    a2, b2, g2 = build()
    (dg_da,) = tl.grad(g2, a2, create_graph=True)
    (d2g_da2,) = tl.grad(dg_da, a2)
    print(f"d2g/da2 = {d2g_da2.item():.4f}  (second derivative via create_graph=True)")


if __name__ == '__main__':
    main()
