"""Wrong calls across the public API: each raises a clear error and changes nothing.

One table, one test. Every case is a small callable that makes one wrong call against a
"world" in the middle of training: a float32 MLP whose parameters hold gradients, an Adam
optimizer that has taken a step (so it has state), and a leaf ``x`` holding a gradient.
For each case the test checks

* the exception type;
* that the message matches every regex fragment of the case: the op or argument that is
  wrong AND the offending shape, dtype or value;
* that no parameter's data or grad, no ``x.data`` / ``x.grad`` and no optimizer state or
  option changed (a snapshot taken before the call is compared, bit for bit, after it).

Cases that load a state dict load one whose *valid* entries differ from the current ones,
so that a half-done load would show up in the snapshot.
"""
from __future__ import annotations

import copy
import math
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import Value, nn, optim
from tinygrad_ls.nn import functional as F


@dataclass
class World:
    model: nn.MLP          # 3 -> 4 -> 2, float32, every parameter holding a grad
    opt: optim.Adam        # one step taken: state for every parameter
    x: Value               # (5, 3) float32 leaf holding a grad
    logits: Value          # model(x): (5, 2), part of a live graph
    targets: np.ndarray    # (5,) int64 classes in [0, 2)
    tmp: Path


def make_world(tmp: Path) -> World:
    tl.manual_seed(0)
    model = nn.MLP([3, 4, 2])
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = Value(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    targets = np.array([0, 1, 1, 0, 1])
    F.cross_entropy(model(x), targets).backward()
    opt.step()
    logits = model(x)
    F.cross_entropy(logits, targets).backward()  # fresh grads on top of the stepped state
    return World(model, opt, x, logits, targets, tmp)


def snapshot(world: World) -> dict:
    """Copies of everything a wrong call must leave alone."""
    return {
        'params': [(name, p.data.copy(), None if p.grad is None else p.grad.copy(), p.requires_grad)
                   for name, p in world.model.named_parameters()],
        'x': (world.x.data.copy(), world.x.grad.copy()),
        'optimizer': copy.deepcopy(world.opt.state_dict()),
        'state_keys': [id(p) for p in world.opt.state],
    }


def assert_same(before, after, where: str = 'snapshot') -> None:
    if isinstance(before, np.ndarray):
        assert isinstance(after, np.ndarray), where
        assert before.dtype == after.dtype and before.shape == after.shape, where
        assert np.array_equal(before, after, equal_nan=before.dtype.kind == 'f'), where
    elif isinstance(before, dict):
        assert list(before) == list(after), where
        for key in before:
            assert_same(before[key], after[key], f"{where}[{key!r}]")
    elif isinstance(before, (list, tuple)):
        assert type(before) is type(after) and len(before) == len(after), where
        for i, (b, a) in enumerate(zip(before, after)):
            assert_same(b, a, f"{where}[{i}]")
    else:
        assert before == after, where


# ---- helpers used by the cases ----------------------------------------------------------------

def first_param(w: World) -> nn.Parameter:
    return next(w.model.parameters())


def last_param(w: World) -> nn.Parameter:
    return list(w.model.parameters())[-1]


def with_nan(shape: tuple, index: tuple) -> np.ndarray:
    array = np.ones(shape, dtype=np.float32)
    array[index] = np.nan
    return array


def changed_model_state(w: World, **edits) -> dict:
    """The model's state dict with every value changed (so a partial load would show), then
    ``edits`` applied: a key mapped to ``None`` is removed, any other value replaces."""
    state = {key: value + 1.0 for key, value in w.model.state_dict().items()}
    for key, value in edits.items():
        key = key.replace('__', '.')
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


def changed_optimizer_state(w: World, edit: Callable[[dict], None]) -> dict:
    """The optimizer's state dict with its lr and every state array changed, then ``edit``."""
    state = w.opt.state_dict()
    state['param_groups'][0]['lr'] = 0.5
    for entry in state['state'].values():
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                entry[key] = value + 1.0
    edit(state)
    return state


def backward_with_bad_hook(w: World) -> None:
    handle = w.x.register_hook(lambda grad: np.zeros(7, dtype=np.float32))
    try:
        F.cross_entropy(w.model(w.x), w.targets).backward()
    finally:
        handle.remove()


def step_with_grad(w: World, grad: np.ndarray) -> None:
    """``step()`` with the last parameter's grad replaced by ``grad`` (restored afterwards)."""
    param = last_param(w)
    saved, param.grad = param.grad, grad
    try:
        w.opt.step()
    finally:
        param.grad = saved


def step_with_read_only_param(w: World) -> None:
    param = last_param(w)
    saved = param.data
    param.data = np.broadcast_to(saved.copy(), saved.shape)  # a read-only view
    try:
        w.opt.step()
    finally:
        param.data = saved


def loader(*arrays, batch_size: int = 5) -> tl.data.DataLoader:
    return tl.data.DataLoader(tl.data.TensorDataset(*arrays), batch_size=batch_size)


def write_pickle(path: Path) -> Path:
    path.write_bytes(pickle.dumps({'w': np.ones(2)}))
    return path


# ---- the table ----------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    call: Callable[[World], object]
    error: type
    patterns: tuple  # regexes that must all occur in the message


def case(id: str, call, error: type, *patterns: str) -> Case:
    return Case(id, call, error, patterns)


S53 = r'\(5, 3\)'  # shape of x
S52 = r'\(5, 2\)'  # shape of the logits

CASES = [
    # -- Value construction and data --
    case('value-string-data', lambda w: Value('abc'), TypeError, 'Value', 'numeric', '<U3'),
    case('value-ragged-list', lambda w: Value([[1.0, 2.0], [3.0]]), ValueError, 'Value', 'inhomogeneous',
         r'\(2,\)'),
    case('value-string-dtype', lambda w: Value([1.0], dtype=str), TypeError, 'Value', 'dtype', '<U'),
    case('value-complex', lambda w: Value(np.array([1j])), TypeError, 'Value', 'complex128'),
    case('requires-grad-on-int', lambda w: Value(np.arange(3), requires_grad=True), TypeError,
         'requires_grad', 'int64'),
    case('astype-string', lambda w: w.x.astype(str), TypeError, 'cast', '<U'),
    case('item-of-many', lambda w: w.x.item(), ValueError, 'item', S53),
    # -- ops: shapes, dtypes, operands --
    case('add-shapes', lambda w: w.x + Value(np.ones(4)), ValueError, 'add', S53, r'\(4,\)'),
    case('mul-string-operand', lambda w: w.x * 'a', TypeError, 'mul', 'str', S53),
    case('matmul-shapes', lambda w: w.x @ np.ones((4, 2)), ValueError, 'matmul', S53, r'\(4, 2\)'),
    case('pow-negative-int-exponent', lambda w: Value(np.array([2])) ** np.array([-1]), ValueError,
         'pow', 'negative integer powers', r'\(1,\)'),
    case('maximum-shapes', lambda w: tl.maximum(w.x, np.ones(4)), ValueError, 'maximum', S53, r'\(4,\)'),
    case('where-shapes', lambda w: tl.where(np.ones(4, dtype=bool), w.x, 0.0), ValueError, 'where',
         r'\(4,\)', r'\(5,\s?3\)'),
    case('where-string-condition', lambda w: tl.where('yes', w.x, 0.0), TypeError, 'where', 'condition',
         '<U3'),
    case('clip-without-bounds', lambda w: w.x.clip(), ValueError, 'clip', 'min and max'),
    case('reshape-size', lambda w: w.x.reshape(4, 4), ValueError, 'reshape', 'size 15', S53),
    case('transpose-repeated-axis', lambda w: w.x.transpose(0, 0), ValueError, 'transpose', 'repeated axis',
         S53),
    case('getitem-out-of-range', lambda w: w.x[7], IndexError, 'getitem', 'index 7', S53),
    case('concat-shapes', lambda w: tl.concat([w.x, np.ones((5, 2))], axis=0), ValueError, 'concat', S53,
         r'\(5, 2\)'),
    case('stack-shapes', lambda w: tl.stack([w.x, np.ones((4, 3))]), ValueError, 'stack', S53, r'\(4, 3\)'),
    case('sum-axis-out-of-range', lambda w: w.x.sum(axis=2), ValueError, 'sum', 'axis 2', S53),
    case('sum-axis-not-int', lambda w: w.x.sum(axis=1.5), TypeError, 'sum', 'axis', '1.5', S53),
    case('mean-of-empty', lambda w: Value(np.zeros((0, 3))).mean(), ValueError, 'mean', 'empty', r'\(0, 3\)'),
    case('max-of-empty', lambda w: Value(np.zeros(0)).max(), ValueError, 'max', 'zero-size', r'\(0,\)'),
    case('softmax-axis', lambda w: w.x.softmax(axis=2), IndexError, 'softmax', 'axis 2', S53),
    # -- gradients --
    case('backward-without-grad-on-many', lambda w: (w.x * 2.0).backward(), RuntimeError, 'backward',
         'grad can be omitted', S53),
    case('backward-grad-shape', lambda w: (w.x * 2.0).backward(np.ones(3)), ValueError, 'backward',
         r'\(3,\)', S53),
    case('backward-of-constant', lambda w: Value(np.ones(3)).sum().backward(), RuntimeError, 'backward',
         'does not require grad'),
    case('hook-returns-wrong-shape', backward_with_bad_hook, ValueError, 'hook', r'\(7,\)', S53),
    case('grad-input-without-grad', lambda w: tl.grad(w.logits.sum(), [Value(np.ones(3))]), ValueError,
         'grad', 'input 0', 'does not require grad'),
    case('grad-outputs-count', lambda w: tl.grad([w.logits.sum()], [w.x], grad_outputs=[1.0, 1.0]),
         ValueError, 'grad', '1 outputs', '2 grad_outputs'),
    case('grad-output-shape', lambda w: tl.grad(w.logits, [w.x], grad_outputs=np.ones(3)), ValueError,
         'grad', r'\(3,\)', S52),
    case('gradcheck-nothing-to-check', lambda w: tl.gradcheck(lambda a: a * 2.0, [Value(np.ones(2))]),
         ValueError, 'gradcheck', 'no input requires grad'),
    # -- creation and dtypes --
    case('zeros-negative-size', lambda w: tl.zeros((2, -1)), ValueError, 'zeros', '-1', r'\(2, -1\)'),
    case('randn-fractional-size', lambda w: tl.randn(2.5), TypeError, 'randn', '2.5'),
    case('set-default-dtype-int', lambda w: tl.set_default_dtype(np.int32), TypeError, 'set_default_dtype',
         'int32'),
    # -- layers --
    case('linear-in-features', lambda w: w.model(np.ones((5, 4), dtype=np.float32)), ValueError, 'Linear',
         r'\(5, 4\)', 'in_features=3'),
    case('linear-negative-size', lambda w: nn.Linear(3, -2), ValueError, 'Linear', 'out_features', '-2'),
    case('mlp-one-size', lambda w: nn.MLP([3]), ValueError, 'MLP', 'sizes', r'\[3\]'),
    case('dropout-p-range', lambda w: nn.Dropout(1.5), ValueError, 'Dropout', 'p', '1.5'),
    case('dropout-p-string', lambda w: F.dropout(w.x, p='half'), TypeError, 'dropout', 'p', 'half'),
    case('sequential-non-module', lambda w: nn.Sequential(nn.ReLU(), 'relu'), TypeError, 'Sequential',
         'item 1', 'str'),
    case('sequential-index', lambda w: nn.Sequential(nn.ReLU())[3], IndexError, 'Sequential', 'index 3',
         '1 modules'),
    # -- losses --
    case('mse-shapes', lambda w: F.mse_loss(w.logits, np.zeros(5)), ValueError, 'mse_loss', S52, r'\(5,\)'),
    case('mse-batch-size', lambda w: F.mse_loss(w.logits, np.zeros((4, 2))), ValueError, 'mse_loss', S52,
         r'\(4, 2\)'),
    case('mse-nan-input', lambda w: F.mse_loss(Value(with_nan((2, 3), (1, 2))), np.zeros((2, 3))), ValueError,
         'mse_loss', 'input contains NaN', r'\(1, 2\)', r'\(2, 3\)'),
    case('mse-nan-target', lambda w: F.mse_loss(w.logits, with_nan((5, 2), (3, 0))), ValueError, 'mse_loss',
         'target contains NaN', r'\(3, 0\)', S52),
    case('mse-unknown-reduction', lambda w: F.mse_loss(w.logits, np.zeros((5, 2)), reduction='avg'),
         ValueError, 'mse_loss', 'reduction', "'avg'"),
    case('l1-int-input', lambda w: F.l1_loss(Value(np.arange(3)), np.zeros(3)), TypeError, 'l1_loss', 'int64',
         r'\(3,\)'),
    case('huber-delta', lambda w: F.huber_loss(w.logits, np.zeros((5, 2)), delta=0.0), ValueError,
         'huber_loss', 'delta', '0.0'),
    case('huber-string-target', lambda w: F.huber_loss(w.logits, np.full((5, 2), 'a')), TypeError,
         'huber_loss', 'target', '<U1', S52),
    case('bce-not-probabilities', lambda w: F.binary_cross_entropy(Value([0.5, 1.5]), [1.0, 0.0]),
         ValueError, 'binary_cross_entropy', r'\[0, 1\]', '1.5'),
    case('bce-nan', lambda w: F.binary_cross_entropy(Value([0.5, np.nan]), [1.0, 0.0]), ValueError,
         'binary_cross_entropy', 'NaN', r'\(1,\)'),
    case('bce-logits-nan-from-the-data',
         lambda w: F.binary_cross_entropy_with_logits(w.model(with_nan((5, 3), (2, 1))), np.zeros((5, 2))),
         ValueError, 'binary_cross_entropy_with_logits', 'input contains NaN', r'\(2, 0\)', S52),
    case('bce-logits-pos-weight', lambda w: F.binary_cross_entropy_with_logits(
        w.logits, np.zeros((5, 2)), pos_weight=np.ones(4)), ValueError, 'pos_weight', r'\(4,\)', S52),
    case('ce-target-out-of-range', lambda w: F.cross_entropy(w.logits, np.array([0, 1, 2, 0, 1])),
         ValueError, 'cross_entropy', r'\[0, 2\)', r'\[2\]'),
    case('ce-negative-target', lambda w: F.cross_entropy(w.logits, np.array([0, -1, 1, 0, 1])), ValueError,
         'cross_entropy', r'\[-1\]', 'ignore_index=-100'),
    case('ce-float-target', lambda w: F.cross_entropy(w.logits, np.zeros(5)), TypeError, 'cross_entropy',
         'target', 'float64'),
    case('ce-batch-size', lambda w: F.cross_entropy(w.logits, np.zeros(4, dtype=int)), ValueError,
         'cross_entropy', S52, r'\(4,\)'),
    case('ce-nan-logits', lambda w: F.cross_entropy(Value(with_nan((5, 2), (4, 1))), w.targets), ValueError,
         'cross_entropy', 'input contains NaN', r'\(4, 1\)'),
    case('ce-3d-input', lambda w: F.cross_entropy(Value(np.ones((2, 2, 2))), np.zeros(2, dtype=int)),
         ValueError, 'cross_entropy', r'\(2, 2, 2\)'),
    case('ce-class-weight-shape', lambda w: F.cross_entropy(w.logits, w.targets, weight=np.ones(3)),
         ValueError, 'cross_entropy', 'weight', r'\(3,\)', r'\(2,\)'),
    case('ce-label-smoothing', lambda w: F.cross_entropy(w.logits, w.targets, label_smoothing=1.5),
         ValueError, 'cross_entropy', 'label_smoothing', '1.5'),
    case('loss-module-unknown-reduction', lambda w: nn.CrossEntropyLoss(reduction='elementwise_mean'),
         ValueError, 'CrossEntropyLoss', 'reduction', 'elementwise_mean'),
    case('l2-penalty-non-value', lambda w: nn.utils.l2_penalty([np.ones(3)]), TypeError, 'l2_penalty',
         'item 0', 'ndarray'),
    case('clip-grad-norm-negative', lambda w: nn.utils.clip_grad_norm_(w.model.parameters(), -1.0),
         ValueError, 'clip_grad_norm_', 'max_norm', '-1.0'),
    case('clip-grad-norm-nan', lambda w: nn.utils.clip_grad_norm_(w.model.parameters(), math.nan),
         ValueError, 'clip_grad_norm_', 'max_norm', 'nan'),
    # -- Module.load_state_dict --
    case('model-load-missing-key', lambda w: w.model.load_state_dict(
        changed_model_state(w, layers__2__bias=None)), RuntimeError, 'Missing key', 'layers.2.bias'),
    case('model-load-unexpected-key', lambda w: w.model.load_state_dict(
        changed_model_state(w, head__weight=np.ones(2))), RuntimeError, 'Unexpected key', 'head.weight'),
    case('model-load-shape', lambda w: w.model.load_state_dict(
        changed_model_state(w, layers__0__weight=np.ones((4, 4)))), RuntimeError, 'size mismatch',
        'layers.0.weight', r'\(4, 4\)', r'\(4, 3\)'),
    case('model-load-non-numeric', lambda w: w.model.load_state_dict(
        changed_model_state(w, layers__0__bias='zeros')), RuntimeError, 'layers.0.bias', 'not numeric',
        'str'),
    case('model-load-not-a-dict', lambda w: w.model.load_state_dict([np.ones(3)]), TypeError,
         'load_state_dict', 'list'),
    # -- Optimizer.load_state_dict --
    case('optimizer-load-group-count', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['param_groups'].append({'params': [], 'lr': 0.1}))), ValueError, 'load_state_dict',
        '2 parameter groups', 'has 1'),
    case('optimizer-load-state-shape', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['state'][3].update(exp_avg=np.zeros(5, dtype=np.float32)))), ValueError,
        'load_state_dict', 'exp_avg', r'\(5,\)', r'\(2,\)'),
    case('optimizer-load-missing-moment', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['state'][3].pop('exp_avg_sq'))), ValueError, 'load_state_dict', r'state\[3\]',
        'exp_avg_sq'),
    case('optimizer-load-list-moment', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['state'][1].update(exp_avg=[0.0] * 4))), ValueError, 'load_state_dict', 'exp_avg',
        'list'),
    case('optimizer-load-bad-index', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['state'].update({'first': {}}))), ValueError, 'load_state_dict', "'first'"),
    case('optimizer-load-bad-lr', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['param_groups'][0].update(lr=-1.0))), ValueError, 'learning rate', '-1.0'),
    case('optimizer-load-group-without-params', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['param_groups'][0].pop('params'))), ValueError, r'param_groups\[0\]', "'params'"),
    # -- optimizers --
    case('sgd-no-parameters', lambda w: optim.SGD([], lr=0.1), ValueError, 'empty parameter list'),
    case('adam-non-parameter', lambda w: optim.Adam([first_param(w), np.ones(3)]), TypeError,
         r"params'\]\[1\]", 'ndarray', r'\(3,\)'),
    case('adam-given-the-module', lambda w: optim.Adam(w.model), TypeError, 'MLP', r'model\.parameters\(\)'),
    case('sgd-non-leaf', lambda w: optim.SGD([w.x * 2.0], lr=0.1), ValueError, 'non-leaf', "'mul'"),
    case('sgd-negative-lr', lambda w: optim.SGD(w.model.parameters(), lr=-0.1), ValueError, 'learning rate',
         '-0.1'),
    case('sgd-string-lr', lambda w: optim.SGD(w.model.parameters(), lr='fast'), TypeError, 'lr', "'fast'"),
    case('sgd-nesterov-without-momentum', lambda w: optim.SGD(w.model.parameters(), lr=0.1, nesterov=True),
         ValueError, 'Nesterov', 'momentum'),
    case('adam-beta', lambda w: optim.Adam(w.model.parameters(), betas=(0.9, 1.0)), ValueError,
         'beta parameter at index 1', '1.0'),
    case('adam-betas-not-a-pair', lambda w: optim.Adam(w.model.parameters(), betas=0.9), ValueError,
         'betas', '0.9'),
    case('rmsprop-alpha', lambda w: optim.RMSprop(w.model.parameters(), alpha=-1.0), ValueError, 'alpha',
         '-1.0'),
    case('lbfgs-history-size', lambda w: optim.LBFGS(w.model.parameters(), history_size=0), ValueError,
         'history_size', '0'),
    case('add-param-group-duplicate', lambda w: w.opt.add_param_group({'params': [first_param(w)]}),
         ValueError, 'more than one parameter group'),
    case('add-param-group-bad-option', lambda w: w.opt.add_param_group(
        {'params': [nn.Parameter(np.ones(2))], 'eps': -1.0}), ValueError, 'epsilon', '-1.0'),
    case('step-grad-shape', lambda w: step_with_grad(w, np.ones(7, dtype=np.float32)), ValueError, 'step',
         r"\['params'\]\[3\]", r'\(2,\)', r'\(7,\)'),
    case('step-complex-grad', lambda w: step_with_grad(w, np.ones(2, dtype=complex)), TypeError, 'step',
         r"\['params'\]\[3\]", 'complex128'),
    case('step-read-only-parameter', step_with_read_only_param, ValueError, 'step', r"\['params'\]\[3\]",
         'read-only', r'\(2,\)'),
    # -- schedulers --
    case('steplr-step-size', lambda w: optim.lr_scheduler.StepLR(w.opt, step_size=0), ValueError, 'StepLR',
         'step_size', '0'),
    case('exponentiallr-gamma', lambda w: optim.lr_scheduler.ExponentialLR(w.opt, gamma='half'), TypeError,
         'ExponentialLR', 'gamma', "'half'"),
    case('scheduler-of-a-module', lambda w: optim.lr_scheduler.CosineAnnealingLR(w.model, T_max=3),
         TypeError, 'MLP', 'Optimizer'),
    # -- data, training, metrics, least squares --
    case('dataset-lengths', lambda w: tl.data.TensorDataset(np.ones((5, 3)), np.ones(4)), ValueError,
         'TensorDataset', S53, r'\(4,\)'),
    case('dataset-strings', lambda w: tl.data.TensorDataset(np.ones((2, 3)), ['a', 'b']), TypeError,
         'TensorDataset', 'array 1', '<U1'),
    case('dataloader-batch-size', lambda w: loader(np.ones((5, 3)), batch_size=0), ValueError, 'DataLoader',
         'batch_size', '0'),
    case('dataloader-not-a-dataset', lambda w: tl.data.DataLoader(5), TypeError, 'DataLoader', 'int'),
    case('fit-epochs', lambda w: tl.train.fit(w.model, F.cross_entropy, w.opt, loader(w.x, w.targets),
                                              epochs=-1, progress=False), ValueError, 'fit', 'epochs', '-1'),
    case('fit-no-loader', lambda w: tl.train.fit(w.model, F.cross_entropy, w.opt, None, progress=False),
         TypeError, 'fit', 'train_loader', 'NoneType'),
    case('fit-patience-without-validation', lambda w: tl.train.fit(
        w.model, F.cross_entropy, w.opt, loader(w.x, w.targets), patience=2, progress=False), ValueError,
        'fit', 'patience', 'val_loader'),
    case('fit-batch-without-targets', lambda w: tl.train.fit(
        w.model, F.cross_entropy, w.opt, [(w.x,)], progress=False), ValueError, 'fit', 'batch', '1 item'),
    case('accuracy-shapes', lambda w: tl.metrics.accuracy(w.logits, np.zeros(4)), ValueError, 'accuracy',
         S52, r'\(4,\)'),
    case('least-squares-samples', lambda w: tl.least_squares(np.ones((5, 2)), np.ones(4)), ValueError,
         'least_squares', r'\(5, 2\)', r'\(4,\)'),
    case('least-squares-l2', lambda w: tl.least_squares(np.eye(3), np.ones(3), l2=-1.0), ValueError,
         'least_squares', 'l2', '-1.0'),
    # -- issue 20: inputs and loaded state that used to pass silently --
    case('reshape-minus-two', lambda w: w.x.reshape(-2, 3), ValueError, 'reshape',
         'invalid shape dimension -2', S53),
    case('linear-complex-input', lambda w: w.model(np.ones((5, 3)) * 1j), TypeError, 'Linear', 'complex128',
         S53, 'float32'),
    case('adam-infinite-lr', lambda w: optim.Adam(w.model.parameters(), lr=math.inf), ValueError,
         'learning rate', 'inf', 'finite'),
    *[case(f"{kind.__name__.lower()}-nan-lr", lambda w, kind=kind: kind(w.model.parameters(), lr=math.nan),
           ValueError, 'learning rate', 'nan')
      for kind in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad, optim.LBFGS)],
    case('sgd-infinite-momentum', lambda w: optim.SGD(w.model.parameters(), momentum=math.inf), ValueError,
         'momentum', 'inf'),
    case('optimizer-load-infinite-lr', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['param_groups'][0].update(lr=math.inf))), ValueError, 'learning rate', 'inf'),
    case('optimizer-load-negative-second-moment', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['state'][3].update(exp_avg_sq=np.array([0.1, -0.2], dtype=np.float32)))), ValueError,
        'load_state_dict', r"state\[3\]\['exp_avg_sq'\]", r'-0\.2', r'index \(1,\)', 'cannot be negative'),
    case('optimizer-load-nan-moment', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['state'][3].update(exp_avg=np.array([np.nan, 0.0], dtype=np.float32)))), ValueError,
        r"state\[3\]\['exp_avg'\]", 'nan', r'index \(0,\)', 'finite'),
    case('optimizer-load-float64-overflow', lambda w: w.opt.load_state_dict(changed_optimizer_state(
        w, lambda s: s['state'][3].update(exp_avg=np.array([0.0, 1e300])))), ValueError,
        r"state\[3\]\['exp_avg'\]", r'1e\+300', r'index \(1,\)', 'float32'),
    case('model-load-float64-overflow', lambda w: w.model.load_state_dict(
        changed_model_state(w, layers__0__bias=np.array([0.0, 1e300, 0.0, 0.0]))), RuntimeError,
        'layers.0.bias', r'1e\+300', r'index \(1,\)', 'float32'),
    case('model-load-complex', lambda w: w.model.load_state_dict(
        changed_model_state(w, layers__0__bias=np.ones(4) * 1j)), RuntimeError, 'layers.0.bias', 'complex128',
        'float32'),
    # -- save / load --
    case('save-a-value', lambda w: tl.save({'w': w.x}, w.tmp / 'ckpt.npz'), TypeError, r"state\['w'\]",
         'Value'),
    case('save-not-a-dict', lambda w: tl.save([np.ones(2)], w.tmp / 'ckpt.npz'), TypeError, 'save', 'list'),
    case('load-missing-file', lambda w: tl.load(w.tmp / 'nope.npz'), FileNotFoundError, 'load', 'nope.npz'),
    case('load-a-pickle', lambda w: tl.load(write_pickle(w.tmp / 'model.pkl')), ValueError, 'load',
         r'model\.pkl', 'pickle'),
]


def test_the_table_is_big_and_ids_are_unique():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize('bad', CASES, ids=[c.id for c in CASES])
def test_wrong_call_raises_clearly_and_changes_nothing(bad: Case, tmp_path: Path):
    world = make_world(tmp_path)
    before = snapshot(world)
    with pytest.raises(bad.error) as info:
        bad.call(world)
    message = str(info.value)
    missing = [pattern for pattern in bad.patterns if not re.search(pattern, message)]
    assert not missing, f"message {message!r} lacks {missing}"
    assert_same(before, snapshot(world))
    # and the world still works: one more training step runs and moves every parameter
    weights = [p.data.copy() for p in world.model.parameters()]
    F.cross_entropy(world.model(world.x), world.targets).backward()
    world.opt.step()
    assert all(not np.array_equal(w, p.data) for w, p in zip(weights, world.model.parameters()))


def test_backward_onto_a_wrong_shaped_grad_raises_naming_it_and_changes_nothing(tmp_path: Path):
    world = make_world(tmp_path)
    param = last_param(world)
    param.grad = np.ones(7, dtype=np.float32)  # the user's mistake
    before = snapshot(world)
    with pytest.raises((ValueError, RuntimeError)) as info:
        F.cross_entropy(world.model(world.x), world.targets).backward()
    assert re.search(r'\(7,\)', str(info.value)) and re.search(r'\(2,\)', str(info.value))
    assert 'grad' in str(info.value)
    assert_same(before, snapshot(world))


def test_backward_onto_a_broadcastable_wrong_grad_is_refused(tmp_path: Path):
    world = make_world(tmp_path)
    param = last_param(world)
    param.grad = np.zeros(1, dtype=np.float32)
    before = snapshot(world)
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*shape \(1,\)"):
        F.cross_entropy(world.model(world.x), world.targets).backward()
    assert_same(before, snapshot(world))


@pytest.mark.parametrize('hand_set', [np.zeros(2, dtype=np.float64), [0.0, 0.0]], ids=['float64', 'list'])
def test_backward_onto_a_grad_of_another_dtype_or_type_is_refused(hand_set, tmp_path: Path):
    """A float32 parameter's grad must stay a float32 ndarray: adding onto a float64 one
    would silently make it float64, onto a list would fail after other leaves were updated."""
    world = make_world(tmp_path)
    param = last_param(world)
    param.grad = hand_set
    before = snapshot(world)
    with pytest.raises(RuntimeError, match=r"backward: the leaf of shape \(2,\) and dtype float32 holds a "
                                           r"\.grad of (shape \(2,\) and dtype float64|type list)"):
        F.cross_entropy(world.model(world.x), world.targets).backward()
    assert_same(before, snapshot(world))


def test_backward_with_a_string_grad_names_backward(tmp_path: Path):
    world = make_world(tmp_path)
    with pytest.raises(TypeError, match='backward'):
        (world.x * 2.0).backward('ones')


@pytest.mark.parametrize('bad_value', [math.nan, math.inf], ids=['nan', 'inf'])
def test_fit_stops_at_a_non_finite_loss_before_anything_is_updated(bad_value, tmp_path: Path):
    """A custom loss that goes non-finite: fit raises before backward() and step(), so the
    parameters and the optimizer state are those of the previous step (fit zeroes the grads
    before each batch, as every training loop does)."""
    world = make_world(tmp_path)
    calls = []

    def loss_fn(output, target):
        calls.append(1)
        loss = F.cross_entropy(output, target)
        return loss * bad_value if len(calls) == 3 else loss

    data = loader(np.ones((10, 3), dtype=np.float32), np.arange(10) % 2, batch_size=2)
    opt = optim.SGD(world.model.parameters(), lr=0.1, momentum=0.9)
    states = []
    original_step = opt.step

    def recording_step(*args):
        original_step(*args)
        states.append(({k: v.copy() for k, v in world.model.state_dict().items()}, opt.state_dict()))

    opt.step = recording_step
    with pytest.raises(RuntimeError, match=rf"fit: the training loss of batch 2 is {bad_value}; stopped"):
        tl.train.fit(world.model, loss_fn, opt, data, epochs=1, progress=False)
    assert len(states) == 2  # two good steps, then the stop
    assert_same(states[-1], ({k: v.copy() for k, v in world.model.state_dict().items()}, opt.state_dict()))
