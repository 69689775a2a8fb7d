"""Ready-made models: ``tl.models.GPT`` (gpt.py, one file read top to bottom)."""
from .gpt import GPT, Block, CausalSelfAttention, GPTConfig, KVCache

__all__ = ['GPT', 'GPTConfig', 'Block', 'CausalSelfAttention', 'KVCache']
