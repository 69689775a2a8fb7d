"""Neural-network building blocks: Parameter, Module, layers, losses, functional, utils."""
from .parameter import Parameter

__all__ = ['Parameter']
