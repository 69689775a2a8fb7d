"""Learning-rate schedulers with PyTorch's names, arguments and lr sequences, float for float.

    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        train_one_epoch()            # ... optimizer.step() for every batch
        scheduler.step()             # after optimizer.step(), once per epoch

A scheduler sets ``group['lr']`` of every parameter group of its optimizer; see
``scheduler_base.LRScheduler``. The schedules live by concern: functions of the epoch in
``epoch_schedules``, the 1cycle policy in ``one_cycle``, ``ReduceLROnPlateau`` (driven by a
metric: ``step(val_loss)``) in ``plateau``.
"""
from .epoch_schedules import (
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    StepLR,
)
from .one_cycle import OneCycleLR
from .plateau import ReduceLROnPlateau
from .scheduler_base import LRScheduler

__all__ = ['LRScheduler', 'StepLR', 'MultiStepLR', 'ExponentialLR', 'LinearLR', 'LambdaLR',
           'CosineAnnealingLR', 'CosineAnnealingWarmRestarts', 'OneCycleLR', 'ReduceLROnPlateau']
