"""Smoke tests of the demos in demos/: each main(...) at small settings, asserting its key claims.

The demos need scikit-learn and matplotlib (the dev extra installs them). Plots go to tmp_path.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import DEMOS, load_demo

import tinygrad_ls as tl

pytestmark = pytest.mark.usefixtures('restore_default_dtype')  # some demos switch to float64


def assert_png(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_linear_regression_methods_agree_with_the_closed_form(tmp_path, capsys):
    out = load_demo('linear_regression').main(output_dir=tmp_path, show_progress=False)
    noisy, four = out['results']['noisy line'], out['results']['four points']
    for results in (noisy, four):
        assert results['L-BFGS (strong Wolfe)']['diff'] < 1e-6
        assert results['SGD + momentum 0.9']['diff'] < 1e-4
        assert results['Adam']['diff'] < 0.05
        assert next(r for name, r in results.items() if name.startswith('mini-batch'))['diff'] < 0.05
    assert noisy['GD (full-batch SGD)']['diff'] < 1e-6
    assert four['GD (full-batch SGD)']['diff'] < 1e-3
    # y = 3x + 2 + noise: the closed form lands near the truth; the four points are exactly y = 2x
    assert abs(noisy['closed form']['w'] - 3) < 0.2 and abs(noisy['closed form']['b'] - 2) < 0.2
    for method in ('closed form', 'L-BFGS (strong Wolfe)'):
        assert four[method]['w'] == pytest.approx(2.0, abs=1e-6)
        assert four[method]['b'] == pytest.approx(0.0, abs=1e-6)
    assert tl.get_default_dtype() == np.float32  # the demo's float64 switch is undone
    assert_png(out['plot'])
    assert 'L-BFGS' in capsys.readouterr().out


def test_logistic_regression_matches_sklearn(capsys):
    out = load_demo('logistic_regression').main(epochs=15, show_progress=False)
    assert out['test_accuracy'] > 0.9
    assert abs(out['test_accuracy'] - out['sklearn_test_accuracy']) <= 0.03
    assert out['weight_correlation'] > 0.7
    assert 'sklearn LogisticRegression' in capsys.readouterr().out


def test_mlp_digits_learns(tmp_path, capsys):
    out = load_demo('mlp_digits').main(epochs=5, output_dir=tmp_path, show_progress=False,
                                       required_accuracy=0.9)
    assert out['test_accuracy'] >= 0.9
    assert len(out['history']['loss']) == len(out['history']['val_accuracy']) == 5
    assert out['history']['loss'][-1] < out['history']['loss'][0]
    assert_png(out['plot'])
    printed = capsys.readouterr().out
    assert 'Test accuracy' in printed and 'parameters' in printed


def test_mlp_digits_raises_below_the_required_accuracy(tmp_path):
    with pytest.raises(RuntimeError, match='below the required'):
        load_demo('mlp_digits').main(epochs=1, n_samples=300, output_dir=tmp_path, show_progress=False,
                                     required_accuracy=0.999)


def test_finetune_keeps_the_frozen_body_bit_identical(tmp_path, capsys):
    out = load_demo('finetune').main(pretrain_epochs=5, head_epochs=5, output_dir=tmp_path,
                                     show_progress=False)
    assert out['body_unchanged'] and out['frozen_grads_none']
    assert out['reloaded_accuracy'] == out['pretrain_accuracy'] > 0.9
    assert out['before'] < 0.4 < 0.85 < out['after']
    assert out['checkpoint'].exists()
    assert 'bit-identical' in capsys.readouterr().out


def test_optimizers_compares_every_run(tmp_path):
    out = load_demo('optimizers').main(epochs=5, output_dir=tmp_path, show_progress=False)
    results = out['results']
    assert len(results) == 7
    for name, r in results.items():
        assert len(r['loss']) == len(r['lrs']) == 5
        assert np.isfinite(r['loss']).all() and r['loss'][-1] < r['loss'][0], name
        if 'LR' in name:  # every schedule decays the rate from the same start
            assert r['lrs'][-1] < r['lrs'][0] == results['SGD lr=0.2']['lrs'][0], name
    assert_png(out['plot'])


def test_regularization_l1_is_sparser_than_l2(tmp_path):
    out = load_demo('regularization').main(epochs=500, output_dir=tmp_path, show_progress=False)
    near_zero = out['near_zero']
    l1, l2 = (next(count for name, count in near_zero.items() if name.startswith(p)) for p in ('L1', 'L2'))
    assert l1 > l2 and l1 >= 10 and l2 <= 2
    assert out['ridge_diff'] < 1e-3
    assert out['lasso_same_support']
    assert_png(out['plot'])


def test_micrograd_expression_runs_as_a_script():
    result = subprocess.run([sys.executable, str(DEMOS / 'micrograd_expression.py')], capture_output=True,
                            text=True, timeout=60, check=True)
    assert 'g     = 24.7041' in result.stdout
    assert 'dg/da = 138.8338' in result.stdout
    assert 'dg/db = 645.5773' in result.stdout


def test_micrograd_demo_prints_the_readme_numbers(capsys):
    load_demo('micrograd_expression').main()
    printed = capsys.readouterr().out
    assert '24.7041' in printed
    assert '138.8338' in printed
    assert '645.5773' in printed


def test_cnn_digits_trains_and_draws_its_pictures(tmp_path, capsys):
    out = load_demo('cnn_digits').main(epochs=4, n_samples=500, channels=(8, 16), compare_mlp_epochs=2,
                                       output_dir=tmp_path, show_progress=False)
    assert out['test_accuracy'] > 0.6 and 0.0 < out['mlp_test_accuracy'] <= 1.0
    assert len(out['history']['val_accuracy']) == 4 and out['history']['loss'][-1] < out['history']['loss'][0]
    assert_png(out['filters'])
    assert_png(out['confusion'])
    printed = capsys.readouterr().out
    assert 'CNN test accuracy' in printed and 'MLP test accuracy' in printed


def test_cnn_digits_raises_below_the_required_accuracy(tmp_path):
    with pytest.raises(RuntimeError, match='below the required'):
        load_demo('cnn_digits').main(epochs=1, n_samples=200, channels=(4, 8), compare_mlp_epochs=None,
                                     output_dir=tmp_path, show_progress=False, required_accuracy=0.999)


def test_gpt_pretrain_runs_reports_baselines_and_saves_a_checkpoint(tmp_path, capsys):
    out = load_demo('gpt_pretrain').main(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4,
                                         steps=30, max_chars=30_000, eval_every=10, output_dir=tmp_path,
                                         show_progress=False)
    assert out['bigram_bits'] < out['unigram_bits'] < 7.0
    assert out['history']['train_bits'][-1] < out['history']['train_bits'][0]
    assert out['sample'].startswith('Return the ') and len(out['sample']) == len('Return the ') + 200
    for path in out['plots']:
        assert_png(path)
    state = tl.load(out['checkpoint'])
    assert set(state) == {'model', 'tokenizer', 'config'} and state['config']['n_embd'] == 16
    printed = capsys.readouterr().out
    assert 'bits per character' in printed and 'bigram' in printed
