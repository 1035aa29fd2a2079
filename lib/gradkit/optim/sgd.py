"""Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

The update is exactly ``torch.optim.SGD``'s (with dampening 0), so the two can be
compared step by step:

    g = grad + weight_decay * p                  (L2 penalty folded into the gradient)
    v = g                        on the first step
    v = momentum * v + g         afterwards      (a running sum of past gradients)
    d = g + momentum * v         if nesterov     (look one step ahead along v)
    d = v                        otherwise       (d = g when momentum is 0)
    p = p - lr * d
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from gradkit.autodiff.tensor import Tensor
from gradkit.optim.optimizer import Optimizer, check_non_negative


class SGD(Optimizer):
    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        check_non_negative("SGD", momentum=momentum, weight_decay=weight_decay)
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.velocity: dict[int, np.ndarray] = {}

    def update(self, index: int, param: Tensor, grad: np.ndarray) -> None:
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if self.momentum:
            if index not in self.velocity:
                self.velocity[index] = np.array(grad, dtype=param.data.dtype, copy=True)
            else:
                velocity = self.velocity[index]
                velocity *= self.momentum
                velocity += grad
            velocity = self.velocity[index]
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        param.data -= self.lr * grad  # in place: the model holds this same array

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}
