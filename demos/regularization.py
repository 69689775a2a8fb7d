"""L1 versus L2 regularisation on a regression where most features are irrelevant.

    python demos/regularization.py

The data come from ``sklearn.datasets.make_regression``: 20 features of which only 5
influence y, few samples and some noise, standardised. The model ``nn.Linear(20, 1)`` is
fitted three times by full-batch gradient descent (``optim.SGD`` with the step size
annealed to zero by ``CosineAnnealingLR``), to

    no penalty:  F.mse_loss(model(X), y)
    L1:          F.mse_loss(model(X), y) + l1 * nn.utils.l1_penalty([model.weight])   (sum |w|)
    L2:          F.mse_loss(model(X), y) + l2 * nn.utils.l2_penalty([model.weight])   (sum w^2)

The report prints the 20 weights of each fit (rounded) and how many are near zero: L1 drives
the irrelevant ones to zero (a sparse model), L2 only shrinks every weight a little.
``|w|`` has no gradient at 0, so at a constant step size a weight that L1 pushes to zero
keeps jumping across it by about ``lr * l1``; annealing the step size lets it settle, and
"near zero" means ``|w| < 1e-3``. Two checks against
closed forms: the L2 fit equals ridge regression ``tl.least_squares(X, y, l2=n * l2)``,
and the L1 fit picks the same features as sklearn's ``Lasso(alpha=l1 / 2)``.
``demos/output/regularization.png`` plots the weight magnitudes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # draws with the Agg backend, no display needed
from sklearn.datasets import make_regression
from sklearn.linear_model import Lasso
from sklearn.preprocessing import StandardScaler

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

OUTPUT_DIR = Path(__file__).resolve().parent / 'output'
NEAR_ZERO = 1e-3


def make_data(n_samples: int, n_features: int, n_informative: int, seed: int):
    """Standardised X (n, d) and y (n, 1) as float32, and the indices of the informative features."""
    X, y, coef = make_regression(n_samples=n_samples, n_features=n_features, n_informative=n_informative,
                                 noise=30.0, coef=True, random_state=seed)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    return X.astype(np.float32), y.reshape(-1, 1).astype(np.float32), np.flatnonzero(coef)


def fit(X: np.ndarray, y: np.ndarray, penalty: str, strength: float, epochs: int, lr: float,
        seed: int) -> tuple[np.ndarray, float, list[float]]:
    """Full-batch gradient descent on MSE (+ penalty); returns (weights, bias, loss per epoch)."""
    tl.manual_seed(seed)
    model = nn.Linear(X.shape[1], 1)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    # The step size shrinks to 0 by the end: with a constant one, a weight that L1 pushes to
    # zero keeps jumping across it by about lr * l1 (|w| has no gradient at 0 to settle on).
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    inputs, targets = tl.Value(X), tl.Value(y)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.mse_loss(model(inputs), targets)
        if penalty == 'L1':
            loss = loss + strength * nn.utils.l1_penalty([model.weight])
        elif penalty == 'L2':
            loss = loss + strength * nn.utils.l2_penalty([model.weight])
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return model.weight.numpy().ravel().copy(), model.bias.item(), losses


def plot(weights: dict, informative: np.ndarray, path: Path) -> None:
    n_features = len(next(iter(weights.values())))
    index = np.arange(n_features)
    width = 0.8 / len(weights)
    fig = Figure(figsize=(12, 4.8))
    ax = fig.subplots()
    for i, (name, w) in enumerate(weights.items()):
        ax.bar(index + (i - (len(weights) - 1) / 2) * width, np.abs(w), width, label=name)
    ax.set_yscale('symlog', linthresh=NEAR_ZERO)  # linear below the threshold, log above
    ax.axhline(NEAR_ZERO, color='black', ls=':', lw=1, label=f'|w| = {NEAR_ZERO} ("near zero" below)')
    ax.set_xticks(index, [f"x{j}{'*' if j in informative else ''}" for j in index])
    for label in ax.get_xticklabels():
        if label.get_text().endswith('*'):
            label.set_fontweight('bold')
    ax.set_xlabel('feature (* bold: one of the informative features)')
    ax.set_ylabel(f'|weight| (linear below {NEAR_ZERO:g}, log above)')
    ax.set_title('Weight magnitudes: L1 zeroes the irrelevant features, L2 only shrinks them')
    ax.set_ylim(0, 10 * max(np.abs(w).max() for w in weights.values()))  # room for the legend
    ax.legend(fontsize=9, ncol=4, loc='upper center')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(epochs: int = 1500, n_samples: int = 60, n_features: int = 20, n_informative: int = 5,
         l1: float = 0.15, l2: float = 0.1, lr: float = 0.05, seed: int = 0,
         output_dir: str | Path = OUTPUT_DIR, show_progress: bool = True) -> dict:
    """Fit the three models, print the weights, check against the closed forms, save the plot.

    Returns ``{'weights': {name: (d,) array}, 'near_zero': {name: count}, 'informative',
    'ridge_diff', 'lasso_same_support', 'plot'}``. ``show_progress`` is accepted for symmetry
    with the other demos (the fits print nothing while they run)."""
    X, y, informative = make_data(n_samples, n_features, n_informative, seed)
    print(f"make_regression: {n_samples} samples, {n_features} features, informative ones "
          f"{informative.tolist()}; X and y standardised")
    print(f"Full-batch SGD(lr={lr}, cosine-annealed to 0) for {epochs} epochs on MSE, "
          f"MSE + {l1} * l1_penalty(weight) and MSE + {l2} * l2_penalty(weight)\n")

    fits = {'no penalty': fit(X, y, 'none', 0.0, epochs, lr, seed),
            f'L1 ({l1})': fit(X, y, 'L1', l1, epochs, lr, seed),
            f'L2 ({l2})': fit(X, y, 'L2', l2, epochs, lr, seed)}
    weights = {name: w for name, (w, _, _) in fits.items()}
    near_zero = {name: int(np.sum(np.abs(w) < NEAR_ZERO)) for name, w in weights.items()}

    print(f"  {'feature':>8} " + ' '.join(f"{name:>11}" for name in weights))
    for j in range(n_features):
        mark = '*' if j in informative else ' '
        print(f"  {f'x{j}{mark}':>8} " + ' '.join(f"{round(w[j], 3) + 0.0:>11.3f}" for w in weights.values()))
    print(f"  {'|w|<1e-3':>8} " + ' '.join(f"{near_zero[name]:>11}" for name in weights))
    irrelevant = n_features - len(informative)
    print(f"\n  (* informative.) Near-zero weights out of the {irrelevant} irrelevant features: "
          + ', '.join(f"{name}: {int(np.sum(np.abs(np.delete(w, informative)) < NEAR_ZERO))}"
                      for name, w in weights.items()))

    w_l2 = weights[f'L2 ({l2})']
    w_ridge, _ = tl.least_squares(X.astype(np.float64), y[:, 0].astype(np.float64), l2=n_samples * l2)
    ridge_diff = float(np.max(np.abs(w_l2 - w_ridge)))
    print(f"\n  L2 fit vs closed-form ridge tl.least_squares(X, y, l2={n_samples} * {l2}): "
          f"max |difference| {ridge_diff:.1e}")
    lasso = Lasso(alpha=l1 / 2).fit(X, y[:, 0])  # sklearn minimises MSE / 2 + alpha * sum|w|
    w_l1 = weights[f'L1 ({l1})']
    same_support = bool(np.array_equal(np.abs(w_l1) >= NEAR_ZERO, lasso.coef_ != 0))
    print(f"  L1 fit vs sklearn Lasso(alpha={l1 / 2:g}): same non-zero features: {same_support}; "
          f"max |difference| {np.max(np.abs(w_l1 - lasso.coef_)):.1e}")

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / 'regularization.png'
    plot(weights, informative, path)
    print(f"\n  Plot of the weight magnitudes: {path}")
    return dict(weights=weights, near_zero=near_zero, informative=informative, ridge_diff=ridge_diff,
                lasso_same_support=same_support, plot=path)


if __name__ == '__main__':
    main()
