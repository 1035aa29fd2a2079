"""Magnitude pruning of a torch model: masks, keeping them during fine-tuning, schedules.

Han et al. (Learning both Weights and Connections, 2015; step 1 of Deep Compression):
weights of small magnitude contribute little, so set the smallest fraction to zero,
then **retrain** the survivors so the network recovers, and repeat with a higher
sparsity. A mask m (1 = keep, 0 = pruned) per weight tensor records the choice; the
pruned network computes with W * m.

- **layer-wise**: each layer loses the same fraction of its own weights;
- **global**: one threshold over all layers together, so layers with many small
  weights (typically the big fully connected ones) lose more.

The k = round(amount * n) weights of smallest |w| are pruned, chosen with
``torch.topk`` exactly as ``torch.nn.utils.prune.l1_unstructured`` /
``global_unstructured`` do, so the masks agree with torch's. Pruning is by the
**absolute** value: a large negative weight matters as much as a large positive one.

During fine-tuning the optimizer would move pruned weights away from zero (through
momentum, weight decay, or their own gradient), so the masks are re-applied after
every optimizer step (``keep_masks_applied`` registers a step hook).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

__all__ = [
    "prunable_weights",
    "magnitude_masks",
    "apply_masks",
    "keep_masks_applied",
    "sparsity",
    "iterative_pruning",
]

SCOPES = ("layer", "global")


def prunable_weights(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The weight matrices/kernels of ``model`` (parameters with >= 2 dims), by name; biases are kept."""
    weights = {name: p for name, p in model.named_parameters() if p.dim() >= 2}
    if not weights:
        raise ValueError(f"prunable_weights: {type(model).__name__} has no parameter with 2 or more dimensions")
    return weights


def _check_amount(amount: float) -> float:
    if not isinstance(amount, (int, float)) or not 0.0 <= float(amount) <= 1.0:
        raise ValueError(f"magnitude_masks: amount must be a fraction in [0, 1], got {amount!r}")
    return float(amount)


def _smallest_magnitude_mask(values: torch.Tensor, amount: float) -> torch.Tensor:
    """A flat 0/1 mask with 0 at the round(amount * n) entries of smallest |value|."""
    flat = values.detach().reshape(-1)
    n_prune = int(round(amount * flat.numel()))
    mask = torch.ones_like(flat)
    if n_prune > 0:
        smallest = torch.topk(flat.abs(), k=n_prune, largest=False).indices
        mask[smallest] = 0.0
    return mask


def magnitude_masks(weights: dict[str, torch.Tensor] | torch.nn.Module, amount: float,
                    scope: str = "layer") -> dict[str, torch.Tensor]:
    """Masks that prune the fraction ``amount`` of smallest-magnitude weights.

    ``weights``: {name: tensor} or a model (its ``prunable_weights``). ``scope="layer"``
    prunes ``amount`` of each tensor; ``scope="global"`` prunes ``amount`` of all of
    them together with one threshold. Returns {name: mask} with masks of the weights'
    shapes and dtypes (1.0 keep, 0.0 pruned).
    """
    if isinstance(weights, torch.nn.Module):
        weights = prunable_weights(weights)
    if scope not in SCOPES:
        raise ValueError(f"magnitude_masks: scope must be one of {SCOPES}, got {scope!r}")
    amount = _check_amount(amount)
    if not weights:
        raise ValueError("magnitude_masks: no weights given")
    if scope == "layer":
        return {name: _smallest_magnitude_mask(w, amount).reshape(w.shape) for name, w in weights.items()}
    flat = torch.cat([w.detach().reshape(-1) for w in weights.values()])
    mask = _smallest_magnitude_mask(flat, amount)
    masks, start = {}, 0
    for name, w in weights.items():
        masks[name] = mask[start:start + w.numel()].reshape(w.shape).to(w.dtype)
        start += w.numel()
    return masks


def apply_masks(model: torch.nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the pruned weights in place: W <- W * m for every masked parameter."""
    params = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise ValueError(f"apply_masks: the model has no parameters named {unknown}")
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].device))


def keep_masks_applied(optimizer: torch.optim.Optimizer, model: torch.nn.Module,
                       masks: dict[str, torch.Tensor]):
    """Re-apply ``masks`` after every ``optimizer.step()``, so pruned weights stay exactly 0.

    Returns the hook handle: ``handle.remove()`` stops it (for example before the
    next, sparser round of pruning installs its own).
    """
    apply_masks(model, masks)
    return optimizer.register_step_post_hook(lambda *_: apply_masks(model, masks))


def sparsity(masks_or_model: dict[str, torch.Tensor] | torch.nn.Module) -> float:
    """Fraction of zero entries over all masks (or over a model's prunable weights)."""
    if isinstance(masks_or_model, torch.nn.Module):
        tensors = list(prunable_weights(masks_or_model).values())
    else:
        tensors = list(masks_or_model.values())
    zeros = sum(int((t == 0).sum()) for t in tensors)
    return zeros / sum(t.numel() for t in tensors)


def iterative_pruning(model: torch.nn.Module, schedule: Sequence[float],
                      finetune: Callable[[torch.nn.Module, dict[str, torch.Tensor]], object],
                      scope: str = "layer") -> list[dict]:
    """Prune to each sparsity in ``schedule`` (increasing), fine-tuning after every round.

    ``finetune(model, masks)`` trains the model with the masks kept applied (see
    ``keep_masks_applied``) and returns anything (say, the accuracy), recorded per round.
    Pruned weights are 0 and so have the smallest magnitude: each round's mask
    contains the previous one. Returns [{"sparsity", "masks", "result"}] per round.
    """
    if list(schedule) != sorted(schedule):
        raise ValueError(f"iterative_pruning: the schedule must not decrease, got {list(schedule)}")
    rounds = []
    for amount in schedule:
        masks = magnitude_masks(model, amount, scope=scope)
        apply_masks(model, masks)
        result = finetune(model, masks)
        rounds.append({"sparsity": sparsity(masks), "masks": masks, "result": result})
    return rounds
