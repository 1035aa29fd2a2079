"""Losses as plain functions on gradkit Tensors (also in ``gradkit.nn.functional``).

Losses are built from Tensor ops, so their gradients come from the engine for free.
``binary_cross_entropy`` needs a clip the engine lacks, a small custom ``Function``.
Targets may be numpy arrays or Tensors; they are treated as constants.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.autodiff.functions import Function
from gradkit.autodiff.tensor import Tensor, as_tensor

__all__ = ["REDUCTIONS", "ClipFunction", "binary_cross_entropy", "binary_cross_entropy_with_logits", "clip",
           "cross_entropy", "mse_loss", "multiclass_hinge_loss", "one_hot"]

REDUCTIONS = ("mean", "sum", "none")


class ClipFunction(Function):
    """Clip values into [low, high]; the gradient flows only where nothing was clipped."""

    op_name = "clip"

    @staticmethod
    def forward(ctx, x: np.ndarray, low: float, high: float) -> np.ndarray:
        ctx.save_for_backward((x >= low) & (x <= high))
        return np.clip(x, low, high).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad: np.ndarray) -> tuple[np.ndarray]:
        (inside,) = ctx.saved_arrays
        return (grad * inside,)


def clip(x: Tensor, low: float, high: float) -> Tensor:
    return ClipFunction.apply(as_tensor(x), low=low, high=high)


# ----- helpers -----------------------------------------------------------------------
def _as_array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _reduce(per_item: Tensor, reduction: str, where: str) -> Tensor:
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    if reduction == "none":
        return per_item
    raise ValueError(f"{where}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _class_targets(logits: Tensor, targets: Any, where: str) -> np.ndarray:
    """Check that ``targets`` holds one class index in [0, C) per row of ``logits``."""
    if logits.ndim != 2:
        raise ValueError(f"{where}: expected scores of shape (N, C), got {logits.shape}")
    n, num_classes = logits.shape
    labels = _as_array(targets)
    if labels.shape != (n,):
        raise ValueError(f"{where}: expected targets of shape ({n},) for scores {logits.shape}, got {labels.shape}")
    if labels.size and not np.all(np.equal(np.mod(labels, 1), 0)):
        raise ValueError(f"{where}: targets must be integer class indices, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{where}: targets must lie in [0, {num_classes}), got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels


def one_hot(labels: np.ndarray, num_classes: int, dtype: Any = np.float32) -> np.ndarray:
    """Rows of the identity: ``one_hot([2, 0], 3) == [[0, 0, 1], [1, 0, 0]]``."""
    encoded = np.zeros((len(labels), num_classes), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded


def _same_shape(prediction: Tensor, target: Any, where: str) -> np.ndarray:
    # Refuse broadcasting here: (N, 1) against (N,) silently makes an (N, N) loss.
    array = _as_array(target)
    if array.shape != prediction.shape:
        raise ValueError(f"{where}: input shape {prediction.shape} and target shape {array.shape} differ")
    return array.astype(prediction.dtype, copy=False)


# ----- losses ------------------------------------------------------------------------
def mse_loss(prediction: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error, averaged over every element (like ``torch.nn.functional.mse_loss``)."""
    prediction = as_tensor(prediction)
    diff = prediction - _same_shape(prediction, target, "mse_loss")
    return _reduce(diff * diff, reduction, "mse_loss")


def cross_entropy(logits: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from raw scores ``logits`` (N, C) and class indices (N,).

    Uses ``log_softmax``, which subtracts the row maximum before exponentiating, so large
    logits do not overflow. Picking the target's log-probability is a product with a
    one-hot mask; its gradient is ``softmax(logits) - one_hot(targets)`` per row.
    """
    logits = as_tensor(logits)
    labels = _class_targets(logits, targets, "cross_entropy")
    mask = one_hot(labels, logits.shape[1], dtype=logits.dtype)
    per_example = -(logits.log_softmax(axis=1) * mask).sum(axis=1)
    return _reduce(per_example, reduction, "cross_entropy")


def binary_cross_entropy(
    probabilities: Tensor, targets: Any, reduction: str = "mean", eps: float = 1e-7
) -> Tensor:
    """-[t log p + (1 - t) log(1 - p)] for probabilities p, clipped to [eps, 1 - eps].

    The clip keeps log finite when a sigmoid saturates to exactly 0 or 1 in float32.
    Prefer ``binary_cross_entropy_with_logits`` when you have the logits.
    """
    probabilities = as_tensor(probabilities)
    t = _same_shape(probabilities, targets, "binary_cross_entropy")
    p = clip(probabilities, eps, 1.0 - eps)
    per_item = -(t * p.log() + (1.0 - t) * (1.0 - p).log())
    return _reduce(per_item, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(logits: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)``, computed without forming the sigmoid.

    Uses the stable identity  loss = max(z, 0) - z t + log(1 + exp(-|z|)),
    where exp never sees a positive argument, so it cannot overflow. -|z| is written
    z - 2 relu(z): at z = 0 that form's gradient (taking relu'(0) = 0) gives the true
    derivative sigmoid(0) - t = 0.5 - t, where relu(z) + relu(-z) would give -t.
    """
    z = as_tensor(logits)
    t = _same_shape(z, targets, "binary_cross_entropy_with_logits")
    minus_abs_z = z - 2.0 * z.relu()
    per_item = z.relu() - z * t + (minus_abs_z.exp() + 1.0).log()
    return _reduce(per_item, reduction, "binary_cross_entropy_with_logits")


def multiclass_hinge_loss(
    scores: Tensor, targets: Any, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Multiclass SVM loss of Weston and Watkins (the CS231n form).

    Per example:  sum over j != y of max(0, s_j - s_y + margin).
    ``torch.nn.MultiMarginLoss`` uses the same sum but also divides it by the number of
    classes C, so ``ours == C * torch``. The other common variant, Crammer-Singer, takes
    the max over j instead of the sum.
    """
    scores = as_tensor(scores)
    labels = _class_targets(scores, targets, "multiclass_hinge_loss")
    mask = one_hot(labels, scores.shape[1], dtype=scores.dtype)
    correct = (scores * mask).sum(axis=1, keepdims=True)
    # The j == y term would add exactly `margin`, so the mask removes it.
    violations = (scores - correct + margin).relu() * (1.0 - mask)
    return _reduce(violations.sum(axis=1), reduction, "multiclass_hinge_loss")
