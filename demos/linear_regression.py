"""Least squares three ways: the closed form, gradient descent and L-BFGS, side by side.

    python demos/linear_regression.py

The model is ``nn.Linear(1, 1)`` (``y = w x + b``) and the loss ``F.mse_loss``; every
iterative method uses the same forward and backward pass (``mse_and_backward`` below) and
differs only in how it steps:

- closed form: ``tl.least_squares(X, y)`` (no iterations, the reference);
- gradient descent: full-batch ``optim.SGD``, mini-batch SGD over a ``DataLoader``, SGD
  with momentum, and ``optim.Adam``;
- L-BFGS: ``optim.LBFGS(..., line_search_fn='strong_wolfe')`` driven by a closure.

Two problems: 200 noisy points on y = 3x + 2, and the four points x = 1, 2, 3, 4,
y = 2, 4, 6, 8 (exactly y = 2x + 0). The report prints, per method, the fitted w and b,
the final loss and the distance to the closed form; ``demos/output/linear_regression.png``
shows the fits and the loss curves. Computed in float64 so that agreement with the closed
form can be read to many digits.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # draws with the Agg backend, no display needed

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

OUTPUT_DIR = Path(__file__).resolve().parent / 'output'

# Per-problem settings: learning rates chosen for each problem's curvature, mini-batch size.
PROBLEMS = {
    'noisy line': dict(sgd_lr=0.3, minibatch_lr=0.1, batch_size=20, momentum_lr=0.05, adam_lr=0.1),
    'four points': dict(sgd_lr=0.1, minibatch_lr=0.05, batch_size=2, momentum_lr=0.02, adam_lr=0.1),
}


def make_problems(n_points: int = 200, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``name -> (X, y)``, X of shape (n, 1) and y of shape (n, 1), float64."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2.0, size=(n_points, 1))
    y = 3.0 * x + 2.0 + rng.normal(0.0, 0.5, size=(n_points, 1))
    four_x = np.array([[1.0], [2.0], [3.0], [4.0]])
    four_y = np.array([[2.0], [4.0], [6.0], [8.0]])
    return {'noisy line': (x, y), 'four points': (four_x, four_y)}


def mse_and_backward(model: nn.Module, x, y) -> tl.Value:
    """The one forward + backward pass every iterative method uses: MSE, then gradients."""
    loss = F.mse_loss(model(x), y)
    loss.backward()
    return loss


def full_loss(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """The MSE on the whole data set (no graph recorded)."""
    with tl.no_grad():
        return F.mse_loss(model(tl.Value(X)), tl.Value(y)).item()


def fresh_model(seed: int) -> nn.Linear:
    """The same initial w and b for every method."""
    tl.manual_seed(seed)
    return nn.Linear(1, 1)


def run_gradient_method(model, optimizer, loader, X, y, epochs: int) -> list[float]:
    """Plain training loop; returns the full-data loss before training and after each epoch."""
    losses = [full_loss(model, X, y)]
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            mse_and_backward(model, xb, yb)
            optimizer.step()
        losses.append(full_loss(model, X, y))
    return losses


def run_lbfgs(model, X, y, steps: int) -> list[float]:
    """L-BFGS with a strong-Wolfe line search; returns the full-data loss before training and
    at every closure call (each call is one full forward + backward pass, like one GD epoch)."""
    optimizer = optim.LBFGS(model.parameters(), lr=1, max_iter=20, line_search_fn='strong_wolfe')
    x, target = tl.Value(X), tl.Value(y)
    losses = [full_loss(model, X, y)]

    def closure():
        optimizer.zero_grad()
        loss = mse_and_backward(model, x, target)
        losses.append(loss.item())
        return loss

    for _ in range(steps):
        optimizer.step(closure)
    losses.append(full_loss(model, X, y))  # where the last step left the parameters
    return losses


def solve_problem(X: np.ndarray, y: np.ndarray, settings: dict, epochs: int, lbfgs_steps: int,
                  seed: int) -> tuple[dict, dict]:
    """Fit ``y = w x + b`` every way. Returns ``(results, curves)``: results maps a method to
    ``{'w', 'b', 'loss', 'diff', 'seconds'}``, curves maps it to its list of losses."""
    w_ls, b_ls = tl.least_squares(X, y[:, 0])
    closed_loss = float(np.mean((X[:, 0] * w_ls[0] + b_ls - y[:, 0]) ** 2))
    results = {'closed form': dict(w=float(w_ls[0]), b=b_ls, loss=closed_loss, diff=0.0, seconds=0.0)}
    curves = {}

    full_batch = tl.data.DataLoader(tl.data.TensorDataset(X, y), batch_size=len(X))
    mini_batch = tl.data.DataLoader(tl.data.TensorDataset(X, y), batch_size=settings['batch_size'],
                                    shuffle=True)
    methods = {
        'GD (full-batch SGD)': (lambda p: optim.SGD(p, lr=settings['sgd_lr']), full_batch),
        f"mini-batch SGD (batch {settings['batch_size']})":
            (lambda p: optim.SGD(p, lr=settings['minibatch_lr']), mini_batch),
        'SGD + momentum 0.9': (lambda p: optim.SGD(p, lr=settings['momentum_lr'], momentum=0.9), full_batch),
        'Adam': (lambda p: optim.Adam(p, lr=settings['adam_lr']), full_batch),
    }
    for name, (make_optimizer, loader) in methods.items():
        model = fresh_model(seed)
        start = time.perf_counter()
        curves[name] = run_gradient_method(model, make_optimizer(model.parameters()), loader, X, y, epochs)
        results[name] = _summary(model, curves[name][-1], w_ls[0], b_ls, time.perf_counter() - start)

    model = fresh_model(seed)
    start = time.perf_counter()
    curves['L-BFGS (strong Wolfe)'] = run_lbfgs(model, X, y, lbfgs_steps)
    results['L-BFGS (strong Wolfe)'] = _summary(model, curves['L-BFGS (strong Wolfe)'][-1], w_ls[0], b_ls,
                                                time.perf_counter() - start)
    results['L-BFGS (strong Wolfe)']['closure_calls'] = len(curves['L-BFGS (strong Wolfe)']) - 2
    return results, curves


def _summary(model: nn.Linear, loss: float, w_ref: float, b_ref: float, seconds: float) -> dict:
    w, b = model.weight.item(), model.bias.item()
    return dict(w=w, b=b, loss=loss, diff=max(abs(w - w_ref), abs(b - b_ref)), seconds=seconds)


def print_table(title: str, results: dict) -> None:
    print(f"\n{title}")
    header = f"  {'method':<28} {'w':>11} {'b':>11} {'final MSE':>12} {'|diff| to closed':>17} {'time':>7}"
    print(header)
    print('  ' + '-' * (len(header) - 2))
    for name, r in results.items():
        print(f"  {name:<28} {r['w']:>11.6f} {r['b']:>11.6f} {r['loss']:>12.4e} {r['diff']:>17.2e} "
              f"{r['seconds']:>6.2f}s")


def _line(w: float, b: float) -> str:
    """``'2.000x + 0.000'`` (never ``-0.000``)."""
    w, b = round(w, 3) + 0.0, round(b, 3) + 0.0
    return f"{w:.3f}x {'-' if b < 0 else '+'} {abs(b):.3f}"


def plot(problems: dict, all_results: dict, all_curves: dict, path: Path) -> None:
    fig = Figure(figsize=(6 * len(problems), 9))
    axes = fig.subplots(2, len(problems))
    for column, (title, (X, y)) in enumerate(problems.items()):
        results, curves = all_results[title], all_curves[title]
        ax = axes[0, column]
        ax.scatter(X[:, 0], y[:, 0], s=14 if len(X) > 10 else 50, color='0.55', label='data', zorder=1)
        grid = np.linspace(X.min() - 0.2, X.max() + 0.2, 2)
        for i, (name, r) in enumerate(results.items()):
            style = dict(lw=3, color='black') if name == 'closed form' else dict(lw=1.3, ls='--')
            ax.plot(grid, r['w'] * grid + r['b'], label=f"{name}: {_line(r['w'], r['b'])}",
                    zorder=2 + i, **style)
        ax.set_title(f"{title}: fitted lines (they overlap)")
        ax.set_xlabel('x')
        ax.set_ylabel('y')
        ax.legend(fontsize=8)

        ax = axes[1, column]
        floor = results['closed form']['loss']
        for name, losses in curves.items():
            excess = np.maximum(np.asarray(losses) - floor, 1e-16)
            ax.plot(np.arange(len(excess)), excess, label=name, marker='o' if 'L-BFGS' in name else None,
                    ms=3)
        ax.set_yscale('log')
        ax.set_xscale('symlog', linthresh=10, linscale=0.6)  # linear up to 10, where L-BFGS is done
        ax.set_xlim(0, max(len(losses) for losses in curves.values()) - 1)
        ax.set_title(f"{title}: MSE minus the closed-form MSE (floor 1e-16)")
        ax.set_xlabel('passes over the data (epochs; for L-BFGS, closure calls)')
        ax.set_ylabel('excess MSE (log scale)')
        ax.grid(True, which='major', alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(epochs: int = 300, lbfgs_steps: int = 1, n_points: int = 200, seed: int = 0,
         output_dir: str | Path = OUTPUT_DIR, show_progress: bool = True) -> dict:
    """Run every method on both problems, print the tables, save the plot.

    Returns ``{'results': {problem: {method: {...}}}, 'plot': Path}``. ``show_progress`` is
    accepted for symmetry with the other demos (this one prints a table, not a progress bar).
    """
    previous_dtype = tl.get_default_dtype()
    tl.set_default_dtype(np.float64)  # to compare with the closed form beyond float32's 7 digits
    try:
        problems = make_problems(n_points, seed)
        all_results, all_curves = {}, {}
        for title, (X, y) in problems.items():
            all_results[title], all_curves[title] = solve_problem(X, y, PROBLEMS[title], epochs,
                                                                  lbfgs_steps, seed)
    finally:
        tl.set_default_dtype(previous_dtype)

    print(f"Least squares with nn.Linear(1, 1) and F.mse_loss: {epochs} epochs for the gradient "
          f"methods, {lbfgs_steps} L-BFGS step(closure) call(s) of up to 20 iterations")
    for title, results in all_results.items():
        X, _ = problems[title]
        truth = 'y = 3x + 2 + N(0, 0.5^2)' if title == 'noisy line' else 'y = 2x + 0 exactly'
        print_table(f"{title} ({len(X)} points, {truth})", results)
        calls = results['L-BFGS (strong Wolfe)']['closure_calls']
        print(f"  L-BFGS used {calls} closure calls (each a full forward + backward pass)")

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / 'linear_regression.png'
    plot(problems, all_results, all_curves, path)
    print(f"\nPlot of the fits and loss curves: {path}")
    return {'results': all_results, 'plot': path}


if __name__ == '__main__':
    main()
