"""``Optimizer``: the part every update rule shares.

An optimizer holds references to the parameters (the same objects the model uses),
so ``step()`` changes the model in place. It reads each ``param.grad`` that the last
``backward()`` left there; ``zero_grad()`` clears them because gradients accumulate.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from gradkit.autodiff.tensor import Tensor


def check_non_negative(where: str, **values: float) -> None:
    """Raise ``ValueError`` naming the first argument that is negative (or not a number)."""
    for name, value in values.items():
        if not isinstance(value, (int, float, np.floating, np.integer)) or not value >= 0:
            raise ValueError(f"{where}: {name} must be a number >= 0, got {value!r}")


class Optimizer:
    """Base class: subclasses implement ``update(index, param, grad)`` for one parameter."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        where = type(self).__name__
        # Two easy slips: a model instead of model.parameters(), and a lone tensor
        # (which Python would iterate row by row).
        if hasattr(params, "parameters"):
            raise TypeError(f"{where}: pass model.parameters(), not the model itself")
        if isinstance(params, Tensor):
            raise TypeError(f"{where}: pass a list of tensors, not a single Tensor")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{where}: got an empty parameter list")
        for i, param in enumerate(self.params):
            if not isinstance(param, Tensor) or not param.requires_grad:
                raise TypeError(f"{where}: parameter {i} must be a Tensor with requires_grad=True, got {param!r}")
        check_non_negative(where, lr=lr)
        self.lr = float(lr)  # learning-rate schedules overwrite this between steps
        self.step_count = 0

    def zero_grad(self) -> None:
        """Clear every parameter's gradient before the next ``backward()``."""
        for param in self.params:
            param.zero_grad()

    def step(self) -> None:
        """Update every parameter that has a gradient (parameters without one are skipped)."""
        self.step_count += 1
        for index, param in enumerate(self.params):
            if param.grad is not None:
                self.update(index, param, np.asarray(param.grad))

    def update(self, index: int, param: Tensor, grad: np.ndarray) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({settings})"

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr}
