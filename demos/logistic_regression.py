"""Logistic regression on sklearn's breast-cancer data, next to sklearn's LogisticRegression.

    python demos/logistic_regression.py

The model is ``nn.Linear(30, 1)`` giving one logit per tumour (malignant = 0, benign = 1,
as sklearn labels them), trained with ``F.binary_cross_entropy_with_logits`` by
``tl.train.fit``; accuracy comes from ``tl.metrics.accuracy`` (logit > 0 means class 1).
The data is split 75/25 (stratified, fixed ``random_state``) and standardised with a
``StandardScaler`` fitted on the training part only. sklearn's ``LogisticRegression`` is
fitted on exactly the same arrays; the report prints both test accuracies, how often the
two models agree, and the features each weighs most.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F


def load_data(seed: int = 0):
    """Standardised float32 splits: ``X_train (N, 30), y_train (N, 1), X_test, y_test``, names."""
    cancer = load_breast_cancer()
    X_train, X_test, y_train, y_test = train_test_split(
        cancer.data, cancer.target, test_size=0.25, stratify=cancer.target, random_state=seed)
    scaler = StandardScaler().fit(X_train)  # statistics of the training part only
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    as_column = lambda y: y.reshape(-1, 1).astype(np.float32)  # BCE wants targets shaped like the logits
    return (X_train.astype(np.float32), as_column(y_train), X_test.astype(np.float32), as_column(y_test),
            list(cancer.feature_names))


def main(epochs: int = 60, lr: float = 0.01, batch_size: int = 32, seed: int = 0,
         show_progress: bool = True) -> dict:
    """Train, compare with sklearn, print the report; returns the key numbers as a dict."""
    X_train, y_train, X_test, y_test, feature_names = load_data(seed)
    print(f"Breast-cancer data: {len(X_train)} train / {len(X_test)} test samples, {X_train.shape[1]} "
          f"features, standardised on the training part; {y_train.mean():.0%} of the train labels are 1")

    tl.manual_seed(seed)
    model = nn.Linear(X_train.shape[1], 1)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    train_loader = tl.data.DataLoader(tl.data.TensorDataset(X_train, y_train), batch_size=batch_size,
                                      shuffle=True)
    print(f"Model: {model!r}, {sum(p.size for p in model.parameters())} parameters; "
          f"Adam(lr={lr}), batch size {batch_size}, {epochs} epochs")
    start = time.perf_counter()
    history = tl.train.fit(model, F.binary_cross_entropy_with_logits, optimizer, train_loader,
                           epochs=epochs, progress=show_progress)
    seconds = time.perf_counter() - start

    with tl.no_grad():
        train_logits = model(tl.Value(X_train))
        test_logits = model(tl.Value(X_test))
        test_loss = F.binary_cross_entropy_with_logits(test_logits, y_test).item()
    ours_train = tl.metrics.accuracy(train_logits, y_train)
    ours_test = tl.metrics.accuracy(test_logits, y_test)

    reference = LogisticRegression(max_iter=5000).fit(X_train, y_train.ravel())
    sk_train = reference.score(X_train, y_train.ravel())
    sk_test = reference.score(X_test, y_test.ravel())
    agreement = float(np.mean((test_logits.numpy().ravel() > 0) == reference.predict(X_test).astype(bool)))

    print(f"\nTrained in {seconds:.1f}s; final train loss {history['loss'][-1]:.4f}, "
          f"test loss {test_loss:.4f}")
    print(f"\n  {'':40} {'train acc':>10} {'test acc':>10}")
    print(f"  {'tinygrad_ls (Linear + BCE-with-logits)':40} {ours_train:>10.3f} {ours_test:>10.3f}")
    print(f"  {'sklearn LogisticRegression (C=1.0)':40} {sk_train:>10.3f} {sk_test:>10.3f}")
    print(f"\n  Test accuracy difference: {abs(ours_test - sk_test) * 100:.1f} points; the two models "
          f"predict the same class for {agreement:.1%} of the test samples")

    weights = model.weight.numpy().ravel()
    correlation = float(np.corrcoef(weights, reference.coef_.ravel())[0, 1])
    top = np.argsort(-np.abs(weights))[:5]
    print(f"\n  Correlation of the 30 weights with sklearn's coefficients: {correlation:.3f}")
    print("  Largest weights (negative pushes towards malignant):")
    for i in top:
        print(f"    {feature_names[i]:<24} ours {weights[i]:+.3f}   sklearn {reference.coef_[0, i]:+.3f}")
    return dict(test_accuracy=ours_test, train_accuracy=ours_train, sklearn_test_accuracy=sk_test,
                agreement=agreement, weight_correlation=correlation, history=history.history)


if __name__ == '__main__':
    main()
