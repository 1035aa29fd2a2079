"""Optimizers and learning-rate schedules for gradkit parameters (numpy only).

Modules, each with one job:

- ``optimizer``: ``Optimizer``, the base class: the parameter list, ``zero_grad``, ``step``.
- ``sgd``: ``SGD`` with momentum, Nesterov and weight decay.
- ``adam``: ``Adam``.
- ``schedules``: ``StepLR``, ``CosineAnnealing`` and ``LinearWarmup`` as schedulers
  attached to an optimizer, and as pure functions of the step number
  (``step_lr``, ``cosine_annealing``, ``linear_warmup``, ``scaled_lr``).

``SGD`` and ``Adam`` follow ``torch.optim``'s update rules exactly.
"""

from gradkit.optim.adam import Adam
from gradkit.optim.optimizer import Optimizer
from gradkit.optim.schedules import (
    CosineAnnealing,
    LinearWarmup,
    LRScheduler,
    StepLR,
    cosine_annealing,
    linear_warmup,
    scaled_lr,
    step_lr,
)
from gradkit.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "CosineAnnealing",
    "LRScheduler",
    "LinearWarmup",
    "Optimizer",
    "StepLR",
    "cosine_annealing",
    "linear_warmup",
    "scaled_lr",
    "step_lr",
]
