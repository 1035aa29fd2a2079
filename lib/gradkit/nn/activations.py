"""Activation layers: thin ``Module`` wrappers over ``gradkit.nn.activation_functions``.

They hold no parameters; having them as modules lets a ``Sequential`` list them
between layers, e.g. ``Sequential(Linear(64, 128), ReLU(), Linear(128, 10))``.
"""

from __future__ import annotations

from typing import Any

from gradkit.autodiff.tensor import Tensor
from gradkit.nn import activation_functions as F
from gradkit.nn.module import Module


class ReLU(Module):
    """max(0, x): cheap, and does not saturate for positive inputs."""

    def forward(self, x: Any) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), the logistic function, range (0, 1)."""

    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x) = 2 sigmoid(2x) - 1, a zero-centred sigmoid with range (-1, 1)."""

    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


class Arctan(Module):
    """arctan(x), range (-pi/2, pi/2); saturates more slowly than tanh."""

    def forward(self, x: Any) -> Tensor:
        return F.arctan(x)


class Softmax(Module):
    """exp(x_i) / sum_j exp(x_j) along ``axis``: scores to probabilities."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Any) -> Tensor:
        return F.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``axis``, computed stably."""

    def forward(self, x: Any) -> Tensor:
        return F.log_softmax(x, axis=self.axis)
