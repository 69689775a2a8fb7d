"""Pictures of computation graphs with ``tl.draw_graph``: see what a model computes and how
the gradient flows back through it.

    python demos/graph_viz.py            # writes demos/output/*.svg
    python demos/graph_viz.py --docs     # rewrites docs/images/*.svg, the pictures of docs/visualization.md
                                         # and docs/compile.md

Six pictures, each an ``.svg`` file:

- ``micrograd_expression.svg``: the scalar expression from micrograd's README, every value
  with its data and gradient (dg/da = 138.8, dg/db = 645.6);
- ``mlp_training_step.svg``: one training step of a small MLP (forward, MSE loss, backward),
  the nodes of each layer in a box named as in ``model.named_parameters()``;
- ``vanishing_gradient.svg``: a deep stack of Linear + sigmoid blocks, each block collapsed
  to one node; the colour of the parameter gradients fades from green (healthy) near the
  loss to dark blue (vanished) at the input;
- ``cnn_training_step.svg``: one training step of a small CNN (conv → batch norm → ReLU →
  max-pool → linear), each layer in a box, each op labelled with its kernel, stride and
  padding;
- ``gpt_training_step.svg``: one training step of a two-block GPT, each block's attention,
  MLP and LayerNorms collapsed to one node apiece, so the picture stays readable;
- ``compiled_plan.svg``: not a graph of Values but what ``tl.compile`` recorded of an Adam
  training step of a small MLP (``tl.render.draw_plan``): the forward ops, the backward
  calls, the gradient bookkeeping and the replayed optimizer calls, in execution order.

Rendering needs the Graphviz program (``apt-get install graphviz``, ``brew install
graphviz``, ...) or ``pip install graphviz-pure``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from micrograd_expression import build as build_micrograd_expression  # the sibling demo

import tinygrad_ls as tl
from tinygrad_ls import Value, nn
from tinygrad_ls.nn import functional as F

ROOT = Path(__file__).resolve().parent
OUTPUT_DIR = ROOT / 'output'
DOCS_IMAGES = ROOT.parent / 'docs' / 'images'


def micrograd_expression():
    """micrograd's README expression (built by demos/micrograd_expression.py), backpropagated;
    returns ``(a, b, g)``."""
    a, b, g = build_micrograd_expression()
    g.backward()
    return a, b, g


def mlp_training_step(seed: int = 0):
    """One step of fitting ``y = sin(x0) + x1`` with ``nn.MLP([2, 3, 3, 1])``: forward, MSE
    loss, backward (the picture is drawn before ``optimizer.step()`` changes the weights).
    Returns ``(model, loss)``."""
    tl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(-2, 2, size=(8, 2)).astype(np.float32)
    targets = (np.sin(inputs[:, :1]) + inputs[:, 1:]).astype(np.float32)
    model = nn.MLP([2, 3, 3, 1])
    optimizer = tl.optim.SGD(model.parameters(), lr=0.1)
    x, y = Value(inputs, name='x'), Value(targets, name='y')
    optimizer.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.name = 'loss'
    loss.backward()
    return model, loss


class SigmoidBlock(nn.Module):
    """``sigmoid(linear(x))``: the derivative of the sigmoid is at most 1/4, so every block
    shrinks the gradient that passes back through it."""

    def __init__(self, features: int):
        super().__init__()
        self.linear = nn.Linear(features, features)

    def forward(self, x):
        return self.linear(x).sigmoid()


class DeepSigmoidNet(nn.Module):
    """``depth`` SigmoidBlocks of width ``features`` and a Linear head to one output."""

    def __init__(self, depth: int = 10, features: int = 4):
        super().__init__()
        self.blocks = nn.Sequential(*[SigmoidBlock(features) for _ in range(depth)])
        self.head = nn.Linear(features, 1)

    def forward(self, x):
        return self.head(self.blocks(x))


def vanishing_gradient(depth: int = 10, seed: int = 0):
    """A DeepSigmoidNet of ``depth`` blocks after one backward pass; returns ``(model, loss)``."""
    tl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DeepSigmoidNet(depth)
    x = Value(rng.standard_normal((16, 4)).astype(np.float32), name='x')
    y = Value(rng.standard_normal((16, 1)).astype(np.float32), name='y')
    loss = F.mse_loss(model(x), y)
    loss.name = 'loss'
    loss.backward()
    return model, loss


def cnn_training_step(seed: int = 0):
    """One step of a CNN on two 6x6 one-channel images: Conv2d(1, 4, 3, padding=1) ->
    BatchNorm2d -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(36, 3), cross-entropy, backward.
    Returns ``(model, loss)``."""
    tl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
    images = Value(rng.uniform(0, 1, (2, 1, 6, 6)).astype(np.float32), name='images')
    loss = F.cross_entropy(model(images), np.array([0, 2]))
    loss.name = 'loss'
    loss.backward()
    return model, loss


def gpt_training_step(seed: int = 0):
    """One step of a tiny GPT (2 blocks, width 16) on random tokens; returns ``(model, loss)``."""
    tl.manual_seed(seed)
    model = tl.models.GPT(tl.models.GPTConfig(vocab_size=32, block_size=8, n_layer=2, n_head=2, n_embd=16))
    tokens = np.random.default_rng(seed).integers(0, 32, (2, 9))
    _, loss = model(tokens[:, :-1], tokens[:, 1:])
    loss.name = 'loss'
    loss.backward()
    return model, loss


def compiled_training_step(seed: int = 0):
    """``tl.compile`` of one Adam step of ``nn.MLP([4, 8, 3])`` with cross-entropy, called on
    two batches: recorded at the first call, replayed at the second. Returns the compiled
    step."""
    tl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nn.MLP([4, 8, 3])
    optimizer = tl.optim.Adam(model.parameters(), lr=1e-2)

    @tl.compile
    def train_step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(2):
        train_step(rng.standard_normal((5, 4)).astype(np.float32), rng.integers(0, 3, 5))
    return train_step


def plan_drawing():
    """The picture of the compiled step's plan (``compiled_plan.svg``)."""
    return tl.render.draw_plan(compiled_training_step(), title='tl.compile plan of an Adam step of '
                               'nn.MLP([4, 8, 3]) with cross-entropy')


def drawings() -> dict:
    """File name -> drawing, for the five pictures."""
    _, _, g = micrograd_expression()
    mlp, mlp_loss = mlp_training_step()
    deep, deep_loss = vanishing_gradient()
    cnn, cnn_loss = cnn_training_step()
    gpt, gpt_loss = gpt_training_step()
    blocks = [f"blocks.{i}" for i in range(len(deep.blocks))]
    gpt_parts = [f"transformer.h.{i}.{part}" for i in range(len(gpt.transformer.h))
                 for part in ('ln_1', 'attn', 'ln_2', 'mlp')]
    return {
        'micrograd_expression.svg': tl.draw_graph(g, rankdir='TB'),
        'mlp_training_step.svg': tl.draw_graph(mlp_loss, module=mlp),
        'vanishing_gradient.svg': tl.draw_graph(deep_loss, module=deep, collapse=blocks, rankdir='TB'),
        'cnn_training_step.svg': tl.draw_graph(cnn_loss, module=cnn),
        'gpt_training_step.svg': tl.draw_graph(gpt_loss, module=gpt, collapse=gpt_parts),
    }


def _folder(output_dir: Path | None, docs: bool) -> Path:
    folder = Path(output_dir) if output_dir is not None else DOCS_IMAGES if docs else OUTPUT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def main(output_dir: Path | None = None, docs: bool = False) -> dict:
    """Write the five computation-graph pictures to ``output_dir`` (default demos/output/, or
    docs/images/ with ``docs=True``); returns file name -> path."""
    folder = _folder(output_dir, docs)
    paths = {}
    for name, drawing in drawings().items():
        paths[name] = tl.save_graph(drawing, folder / name)
        print(f"wrote {paths[name]}")
    return paths


def main_plan(output_dir: Path | None = None, docs: bool = False) -> Path:
    """Write ``compiled_plan.svg`` to the same folder as ``main``; returns its path."""
    path = tl.save_graph(plan_drawing(), _folder(output_dir, docs) / 'compiled_plan.svg')
    print(f"wrote {path}")
    return path


if __name__ == '__main__':
    main(docs='--docs' in sys.argv[1:])
    main_plan(docs='--docs' in sys.argv[1:])
