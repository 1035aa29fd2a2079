"""Mixed-precision training: which half type autocast uses, and loss scaling by hand.

Half-precision numbers halve the bytes moved and run faster on hardware that has
half-precision units, but float16 has a narrow range: its smallest subnormal is
2^-24 (about 6e-8), so many gradients of a deep network round to 0 ("underflow").
**Loss scaling** multiplies the loss by S before ``backward()``; by the chain rule
every gradient is multiplied by S too and moves into float16's range. The gradients
are divided by S again (in float32) before the optimizer step.

- static scaling: a fixed S;
- dynamic scaling: start high; if any gradient is inf/nan the step is **skipped** and
  S is halved; after ``growth_interval`` clean steps in a row S is doubled. This is
  the rule of ``torch.amp.GradScaler`` (the tests compare the two scale by scale).

bfloat16 has float32's exponent range, so it needs no scaling: on CPU autocast uses
bfloat16, on CUDA float16 with the scaler (``autocast_dtype``). A training run that puts
these together (``torch.autocast`` and ``torch.amp.GradScaler``) and times it is
``bench/mixed_precision_runs.py``.
"""

from __future__ import annotations

from typing import Iterable

import torch

__all__ = [
    "autocast_dtype",
    "float16_underflow_fraction",
    "StaticLossScaler",
    "DynamicLossScaler",
    "grads_are_finite",
]


def autocast_dtype(device: str | torch.device) -> torch.dtype:
    """The half type autocast computes in: float16 on CUDA, bfloat16 on CPU."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.bfloat16


def float16_underflow_fraction(grads: torch.Tensor, scale: float = 1.0) -> float:
    """Fraction of nonzero ``grads`` (float32) that become 0 when ``grads * scale`` is cast to float16."""
    nonzero = grads[grads != 0]
    if nonzero.numel() == 0:
        raise ValueError("float16_underflow_fraction: all gradients are zero")
    return float(((nonzero * scale).to(torch.float16) == 0).float().mean())


def grads_are_finite(params: Iterable[torch.Tensor]) -> bool:
    """True when no parameter's gradient holds an inf or a nan."""
    return all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None)


class StaticLossScaler:
    """Loss scaling with a fixed scale S: backward on S * loss, divide gradients by S, step."""

    def __init__(self, scale: float = 1024.0):
        if not scale > 0:
            raise ValueError(f"StaticLossScaler: scale must be positive, got {scale!r}")
        self.scale = float(scale)

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        return loss * self.scale

    def unscale(self, params: Iterable[torch.Tensor]) -> None:
        """Divide every gradient by S, in float32."""
        for p in params:
            if p.grad is not None:
                p.grad.div_(self.scale)

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Unscale and step (a static scaler never skips). Returns True."""
        self.unscale(_optimizer_params(optimizer))
        optimizer.step()
        return True


class DynamicLossScaler(StaticLossScaler):
    """Dynamic loss scaling: halve S and skip the step on inf/nan, double it after N clean steps.

    The defaults are ``torch.amp.GradScaler``'s: S0 = 2^16, factors 2 and 0.5, N = 2000.
    """

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        super().__init__(init_scale)
        if growth_factor <= 1 or not 0 < backoff_factor < 1:
            raise ValueError(f"DynamicLossScaler: need growth_factor > 1 and 0 < backoff_factor < 1, "
                             f"got {growth_factor!r} and {backoff_factor!r}")
        if growth_interval < 1:
            raise ValueError(f"DynamicLossScaler: growth_interval must be >= 1, got {growth_interval!r}")
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = int(growth_interval)
        self.clean_steps = 0
        self.skipped = 0

    def update(self, found_inf: bool) -> None:
        """Adjust S after a step: back off on overflow, grow after growth_interval clean steps."""
        if found_inf:
            self.scale *= self.backoff_factor
            self.clean_steps = 0
        else:
            self.clean_steps += 1
            if self.clean_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self.clean_steps = 0

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Unscale; step only if every gradient is finite; update S. Returns whether it stepped."""
        params = _optimizer_params(optimizer)
        self.unscale(params)
        finite = grads_are_finite(params)
        if finite:
            optimizer.step()
        else:
            self.skipped += 1
        self.update(found_inf=not finite)
        return finite


def _optimizer_params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]
