"""Optimizers and learning-rate schedules for gradkit parameters.

``SGD`` (momentum, Nesterov, weight decay) and ``Adam`` follow ``torch.optim``'s update
rules exactly. Schedules (``StepLR``, ``CosineAnnealing``, ``LinearWarmup``) work as
schedulers attached to an optimizer or as pure functions of the step number.
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
