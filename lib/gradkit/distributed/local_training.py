"""What one worker does on its own: build the model, pick the loss, compute a gradient.

Shared by every strategy (and by the single-process baseline) so that the strategies
differ only in how gradients and parameters travel, which is the point of comparing them.
Parameters and gradients travel as one flat vector: ``flatten_*`` and ``load_flat_*``
convert between a model and that vector, in the order of ``model.parameters()``.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["build_model", "resolve_loss", "as_tensors", "flatten_parameters",
           "flatten_gradients", "load_flat_parameters", "load_flat_gradients",
           "compute_gradients"]


def build_model(model_fn: Callable[[], torch.nn.Module], seed: int,
                device: torch.device) -> torch.nn.Module:
    """Call ``model_fn`` under ``seed`` so every worker starts from identical weights."""
    torch.manual_seed(seed)
    model = model_fn()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model_fn must return a torch.nn.Module, got {type(model).__name__}")
    return model.to(device)


def resolve_loss(loss: str | Callable, y: np.ndarray) -> Callable:
    """``"auto"``: cross-entropy for integer labels, mean squared error for float targets."""
    if callable(loss):
        return loss
    if loss == "auto":
        loss = "cross_entropy" if np.issubdtype(np.asarray(y).dtype, np.integer) else "mse"
    if loss == "cross_entropy":
        return F.cross_entropy
    if loss == "mse":
        return F.mse_loss
    raise ValueError(f"loss must be 'auto', 'cross_entropy', 'mse' or a callable, got {loss!r}")


def as_tensors(X: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy numpy data to ``device``: float32 inputs, int64 labels or float32 targets."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 2 or len(X) != len(y):
        raise ValueError(f"data must be (X, y) with X of shape (n, features...) and y of shape (n,...); "
                         f"got X {X.shape} and y {y.shape}")
    inputs = torch.tensor(X, dtype=torch.float32, device=device)
    label_dtype = torch.int64 if np.issubdtype(y.dtype, np.integer) else torch.float32
    return inputs, torch.tensor(y, dtype=label_dtype, device=device)


def flatten_parameters(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def flatten_gradients(model: torch.nn.Module) -> torch.Tensor:
    """All gradients as one vector; a parameter that got no gradient contributes zeros."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                      for p in model.parameters()])


def _check_size(model: torch.nn.Module, flat: torch.Tensor, what: str) -> None:
    expected = sum(p.numel() for p in model.parameters())
    if flat.numel() != expected:
        raise ValueError(f"{what}: the model has {expected} parameters but the vector has {flat.numel()}")


@torch.no_grad()
def load_flat_parameters(model: torch.nn.Module, flat: torch.Tensor) -> None:
    _check_size(model, flat, "load_flat_parameters")
    offset = 0
    for p in model.parameters():
        p.copy_(flat[offset:offset + p.numel()].view_as(p))
        offset += p.numel()


def load_flat_gradients(model: torch.nn.Module, flat: torch.Tensor) -> None:
    _check_size(model, flat, "load_flat_gradients")
    offset = 0
    for p in model.parameters():
        p.grad = flat[offset:offset + p.numel()].view_as(p).clone()
        offset += p.numel()


def compute_gradients(model: torch.nn.Module, loss_fn: Callable, inputs: torch.Tensor,
                      targets: torch.Tensor) -> tuple[float, float]:
    """Forward and backward on one batch; return (loss, seconds spent computing)."""
    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    value = float(loss.detach())  # forces the (possibly asynchronous CUDA) work to finish
    return value, time.perf_counter() - start
