"""Neural-network building blocks: Parameter, Module, layers, losses, functional, utils.

    from tinygrad_ls import nn
    from tinygrad_ls.nn import functional as F
    model = nn.MLP([2, 16, 1])
    loss = F.mse_loss(model(x), y) + 1e-4 * nn.utils.l2_penalty(model.parameters())
"""
from . import functional, init, lora, utils
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .attention import MultiheadAttention
from .containers import ModuleDict, ModuleList
from .conv import Conv1d, Conv2d
from .embedding import Embedding
from .layers import MLP, Dropout, Flatten, Identity, Linear, Sequential
from .lora import LoRALinear
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    'Parameter', 'Module', 'Linear', 'Sequential', 'MLP', 'ReLU', 'Tanh', 'Sigmoid', 'Identity',
    'Dropout', 'MSELoss', 'L1Loss', 'HuberLoss', 'BCELoss', 'BCEWithLogitsLoss', 'CrossEntropyLoss',
    'functional', 'utils',
    'ModuleList', 'ModuleDict', 'Flatten', 'init',
    'LeakyReLU', 'GELU', 'SiLU', 'ELU', 'Softplus', 'Softmax', 'LogSoftmax', 'NLLLoss',
    'Conv1d', 'Conv2d', 'MaxPool2d', 'AvgPool2d', 'AdaptiveAvgPool2d',
    'LayerNorm', 'BatchNorm1d', 'BatchNorm2d', 'Embedding',
    'LoRALinear', 'lora',
    'MultiheadAttention', 'TransformerEncoderLayer', 'TransformerEncoder',
]
