"""Learning-rate schedules, as pure functions of the step number and as schedulers.

Each schedule is first a formula, ``lr_at(step)``, so it can be plotted or tested
without an optimizer. A scheduler object attached to an optimizer counts steps:
``scheduler.step()`` advances the counter and writes the new rate into
``optimizer.lr``. As in PyTorch, call it once per epoch (or once per iteration,
if you count steps in iterations) *after* ``optimizer.step()``; right after
construction the optimizer runs at ``lr_at(0)``.

The large-batch recipe of Goyal et al. (2017), "Accurate, Large Minibatch SGD":
when the batch grows k times, multiply the learning rate by k (the *linear
scaling rule*, ``scaled_lr``), but start training at the small-batch rate and
ramp up to the scaled one over the first few epochs (``LinearWarmup`` with
``start_factor=1/k``), because the early, fast-changing network cannot take the
full step yet.
"""

from __future__ import annotations

import math

from gradkit.optim.optimizer import Optimizer, check_non_negative


# ----- formulas ----------------------------------------------------------------------
def step_lr(step: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Multiply ``base_lr`` by ``gamma`` every ``step_size`` steps."""
    return base_lr * gamma ** (step // step_size)


def cosine_annealing(step: int, base_lr: float, total_steps: int, min_lr: float = 0.0) -> float:
    """Half a cosine from ``base_lr`` at step 0 down to ``min_lr`` at ``total_steps``.

    After ``total_steps`` the rate stays at ``min_lr`` (PyTorch's CosineAnnealingLR
    would climb back up; it agrees with this up to ``total_steps``).
    """
    progress = min(step, total_steps) / total_steps
    return min_lr + (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress)) / 2.0


def linear_warmup(step: int, base_lr: float, warmup_steps: int, start_factor: float) -> float:
    """Rise linearly from ``start_factor * base_lr`` to ``base_lr`` over ``warmup_steps``, then hold."""
    if warmup_steps == 0:
        return base_lr
    progress = min(step, warmup_steps) / warmup_steps
    return base_lr * (start_factor + (1.0 - start_factor) * progress)


def scaled_lr(base_lr: float, base_batch_size: int, batch_size: int) -> float:
    """The linear scaling rule: the rate tuned for ``base_batch_size``, scaled to ``batch_size``."""
    if base_batch_size < 1 or batch_size < 1:
        raise ValueError(
            f"scaled_lr: batch sizes must be >= 1, got base_batch_size={base_batch_size}, batch_size={batch_size}"
        )
    return base_lr * batch_size / base_batch_size


# ----- schedulers --------------------------------------------------------------------
class LRScheduler:
    """Base class: holds the step counter and the base rate; subclasses give ``lr_at``.

    Pass an ``optimizer`` (its current ``lr`` becomes the base rate) or, to use the
    schedule on its own, a ``base_lr``.
    """

    def __init__(self, optimizer: Optimizer | None = None, base_lr: float | None = None) -> None:
        where = type(self).__name__
        if (optimizer is None) == (base_lr is None):
            raise ValueError(f"{where}: pass exactly one of optimizer or base_lr")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr if optimizer is not None else base_lr)
        check_non_negative(where, base_lr=self.base_lr)
        self.last_step = 0
        self._apply()

    def lr_at(self, step: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> float:
        """The rate for the current step."""
        return self.lr_at(self.last_step)

    def step(self) -> float:
        """Advance one step, update the optimizer, and return the new rate."""
        self.last_step += 1
        return self._apply()

    def _apply(self) -> float:
        lr = self.get_lr()
        if self.optimizer is not None:
            self.optimizer.lr = lr
        return lr


class StepLR(LRScheduler):
    """``base_lr * gamma ** (step // step_size)``, like ``torch.optim.lr_scheduler.StepLR``."""

    def __init__(self, optimizer: Optimizer | None = None, step_size: int = 10, gamma: float = 0.1,
                 base_lr: float | None = None) -> None:
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be an int >= 1, got {step_size!r}")
        check_non_negative("StepLR", gamma=gamma)
        self.step_size, self.gamma = step_size, float(gamma)
        super().__init__(optimizer, base_lr)

    def lr_at(self, step: int) -> float:
        return step_lr(step, self.base_lr, self.step_size, self.gamma)


class CosineAnnealing(LRScheduler):
    """Cosine decay to ``min_lr`` over ``total_steps`` (``CosineAnnealingLR`` up to T_max)."""

    def __init__(self, optimizer: Optimizer | None = None, total_steps: int = 100, min_lr: float = 0.0,
                 base_lr: float | None = None) -> None:
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"CosineAnnealing: total_steps must be an int >= 1, got {total_steps!r}")
        check_non_negative("CosineAnnealing", min_lr=min_lr)
        self.total_steps, self.min_lr = total_steps, float(min_lr)
        super().__init__(optimizer, base_lr)

    def lr_at(self, step: int) -> float:
        return cosine_annealing(step, self.base_lr, self.total_steps, self.min_lr)


class LinearWarmup(LRScheduler):
    """Warm up from ``start_factor * base_lr`` to ``base_lr`` over ``warmup_steps`` steps.

    For the linear scaling rule with a batch k times larger: set the optimizer's lr to
    ``scaled_lr(lr, b, k * b)`` and use ``start_factor = 1 / k``, so training starts at
    the small-batch rate. Same formula as ``torch.optim.lr_scheduler.LinearLR`` with
    ``end_factor=1``.
    """

    def __init__(self, optimizer: Optimizer | None = None, warmup_steps: int = 5, start_factor: float = 0.1,
                 base_lr: float | None = None) -> None:
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"LinearWarmup: warmup_steps must be an int >= 0, got {warmup_steps!r}")
        if not 0.0 < start_factor <= 1.0:
            raise ValueError(f"LinearWarmup: start_factor must be in (0, 1], got {start_factor!r}")
        self.warmup_steps, self.start_factor = warmup_steps, float(start_factor)
        super().__init__(optimizer, base_lr)

    def lr_at(self, step: int) -> float:
        return linear_warmup(step, self.base_lr, self.warmup_steps, self.start_factor)
