"""A custom op with a wrong backward, caught and explained by one call of ``check_op``.

    python demos/custom_op.py            # the failure report, then the fixed op passing
    python demos/custom_op.py --docs     # also writes docs/images/gradcheck_failure.png

The op is ``smooth_abs(x) = sqrt(x**2 + 1) - 1`` (the pseudo-Huber function: like ``|x|``
far from 0, like ``x**2 / 2`` near it, smooth everywhere). Its derivative is

    d/dx sqrt(x**2 + 1) = 2x / (2 sqrt(x**2 + 1)) = x / sqrt(x**2 + 1) = x / (out + 1)

and the classic slip is to keep the 2 from ``d(x**2)/dx`` and forget the one from the square
root: ``2x / (out + 1)``. ``SmoothAbsWrong`` has that slip; ``tl.testing.check_op`` runs the
whole battery on it, raises ``tl.GradcheckError`` whose message shows both Jacobians and says
what the mistake looks like, and the heatmap of analytic minus numeric (``gradcheck(...,
plot=True)``) is saved as a PNG. ``SmoothAbs`` has the fix and passes every check.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tinygrad_ls as tl
from tinygrad_ls import testing
from tinygrad_ls.ops.base import Function

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = Path(__file__).resolve().parent / 'output' / 'gradcheck_failure.png'
DOCS_IMAGE = ROOT / 'docs' / 'images' / 'gradcheck_failure.png'


class SmoothAbs(Function):
    """``sqrt(x**2 + 1) - 1``, gradient ``x / sqrt(x**2 + 1) = x / (out + 1)``. The backward
    uses only operators that ndarrays and Values share, so second derivatives work too."""
    name = 'smooth_abs'
    saves_output = True  # backward reads its own result as well as its input

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x * x + 1.0) - 1.0

    def backward(self, grad, out, x):
        return (grad * x / (out + 1.0),)


class SmoothAbsWrong(SmoothAbs):
    """The same op with the slip on purpose: a backward twice too large."""

    def backward(self, grad, out, x):
        return (grad * 2.0 * x / (out + 1.0),)  # wrong: the 2 of d(x**2) is not cancelled


def smooth_abs(x) -> tl.Value:
    """The public face of the op: ``smooth_abs(x) = sqrt(x**2 + 1) - 1``, elementwise."""
    return SmoothAbs.apply(x)


def example_input() -> tl.Value:
    """A small (2, 3) input, so the report can print the whole Jacobians."""
    return tl.Value([[-1.5, -0.5, 0.25], [0.75, 1.0, 2.0]], requires_grad=True)


def main(plot_path: str | Path | None = None) -> testing.CheckReport:
    """Check the wrong op (print the failure), then the fixed one (print the pass); with
    ``plot_path``, save the heatmap of the wrong op's Jacobian error there."""
    x = example_input()
    print('smooth_abs with the wrong backward:')
    try:
        testing.check_op(SmoothAbsWrong.apply, x)
    except tl.GradcheckError as error:
        print(error)
    else:
        raise AssertionError('check_op did not catch the wrong backward')

    if plot_path is not None:
        try:
            tl.gradcheck(SmoothAbsWrong.apply, [x], plot=True)
        except tl.GradcheckError as error:
            plot_path = Path(plot_path)
            plot_path.parent.mkdir(parents=True, exist_ok=True)
            error.figure.savefig(plot_path, dpi=100)
            print(f'\nheatmap of analytic - numeric written to {plot_path}')

    print('\nsmooth_abs with the fixed backward:')
    report = testing.check_op(SmoothAbs.apply, x)
    print(report)
    ran = [check for check in report.checks if check.passed is not None]
    print(f'\nsmooth_abs: all {len(ran)} checks passed')
    return report


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--docs', action='store_true',
                        help=f'write the heatmap to {DOCS_IMAGE.relative_to(ROOT)}')
    arguments = parser.parse_args()
    main(plot_path=DOCS_IMAGE if arguments.docs else OUTPUT)
