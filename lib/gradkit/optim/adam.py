"""Adam (Kingma and Ba, 2015), with exactly ``torch.optim.Adam``'s update (amsgrad off).

For step t = 1, 2, ... and each parameter p with gradient g:

    g = g + weight_decay * p                          (L2 penalty, as in torch's Adam)
    m = beta1 * m + (1 - beta1) * g                   (first moment: a running mean)
    v = beta2 * v + (1 - beta2) * g^2                 (second moment: running mean square)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

The (1 - beta^t) factors undo the bias towards zero of m and v, which start at 0.
Each coordinate's step is scaled by its own gradient size, so lr is roughly the
largest step a parameter takes.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from gradkit.autodiff.tensor import Tensor
from gradkit.optim.optimizer import Optimizer, check_non_negative


class Adam(Optimizer):
    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        beta1, beta2 = betas
        for name, beta in (("betas[0]", beta1), ("betas[1]", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Adam: {name} must be in [0, 1), got {beta!r}")
        check_non_negative("Adam", eps=eps, weight_decay=weight_decay)
        self.betas = (float(beta1), float(beta2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.first_moment: dict[int, np.ndarray] = {}
        self.second_moment: dict[int, np.ndarray] = {}
        self.steps: dict[int, int] = {}  # per parameter: one may skip steps with no grad

    def update(self, index: int, param: Tensor, grad: np.ndarray) -> None:
        beta1, beta2 = self.betas
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if index not in self.steps:
            self.steps[index] = 0
            self.first_moment[index] = np.zeros_like(param.data)
            self.second_moment[index] = np.zeros_like(param.data)
        self.steps[index] += 1
        t = self.steps[index]
        m, v = self.first_moment[index], self.second_moment[index]
        m *= beta1
        m += (1.0 - beta1) * grad
        v *= beta2
        v += (1.0 - beta2) * grad * grad
        step_size = self.lr / (1.0 - beta1**t)
        denominator = np.sqrt(v) / math.sqrt(1.0 - beta2**t) + self.eps
        param.data -= step_size * m / denominator

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}
