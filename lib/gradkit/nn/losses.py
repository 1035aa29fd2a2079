"""Loss modules: the functions of ``gradkit.nn.loss_functions`` with their options bound."""

from __future__ import annotations

from typing import Any

from gradkit.autodiff.tensor import Tensor
from gradkit.nn import loss_functions as F
from gradkit.nn.module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in F.REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {F.REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return F.mse_loss(prediction, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy from logits and integer class targets."""

    def forward(self, logits: Tensor, targets: Any) -> Tensor:
        return F.cross_entropy(logits, targets, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy from probabilities."""

    def forward(self, probabilities: Tensor, targets: Any) -> Tensor:
        return F.binary_cross_entropy(probabilities, targets, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy from logits (stable; prefer it to Sigmoid + BCELoss)."""

    def forward(self, logits: Tensor, targets: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets, self.reduction)


class MultiClassHingeLoss(_Loss):
    """Weston-Watkins multiclass SVM loss (see ``loss_functions.multiclass_hinge_loss``)."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, scores: Tensor, targets: Any) -> Tensor:
        return F.multiclass_hinge_loss(scores, targets, self.margin, self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"
