"""Smoke test of demos/gpt_finetune.py: a tiny GPT pretrained into tmp_path, then the four variants."""
import pytest
from helpers import load_demo

import tinygrad_ls as tl

pytestmark = pytest.mark.usefixtures('restore_default_dtype')

TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, steps=30, max_chars=30_000,
            eval_every=10, show_progress=False)


def test_gpt_finetune_trains_four_variants_and_prints_the_table(tmp_path, capsys):
    demo = load_demo('gpt_finetune')
    out = demo.main(per_class=12, epochs=1, batch_size=16, checkpoint=tmp_path / 'gpt_pretrain.npz',
                    pretrain=TINY)
    assert (tmp_path / 'gpt_pretrain.npz').exists()
    rows = out['rows']
    assert list(rows) == ['from scratch', 'full fine-tuning', 'frozen body + head', 'LoRA']
    for row in rows.values():
        assert 0.0 <= row['accuracy'] <= 1.0
        assert 0 < row['trainable'] <= row['total'] and row['seconds'] > 0
    assert rows['full fine-tuning']['fraction'] == rows['from scratch']['fraction'] == 1.0
    assert rows['LoRA']['fraction'] < rows['full fine-tuning']['fraction']
    assert rows['frozen body + head']['trainable'] == 16 * 8 + 8           # the head alone
    assert out['frozen_body_unchanged'] is True
    assert out['snippet_chars'] == 16 and out['n_train'] + out['n_test'] == 8 * 12
    printed = capsys.readouterr().out
    assert 'test accuracy' in printed and 'LoRA' in printed and 'trainable parameters' in printed

    # a second run finds the matching checkpoint instead of pretraining again
    demo.main(per_class=4, epochs=1, checkpoint=tmp_path / 'gpt_pretrain.npz', pretrain=TINY)
    assert 'Pretrained model:' in capsys.readouterr().out
    assert tl.load(tmp_path / 'gpt_pretrain.npz')['config']['n_embd'] == 16
