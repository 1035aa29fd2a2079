"""Loss scaling by hand against torch.amp.GradScaler, float16 underflow, autocast's half type.

A whole mixed-precision training run is the benchmark's (bench/mixed_precision_runs.py).
"""

from __future__ import annotations

import pytest
import torch

from gradkit.compress.mixed_precision import (
    DynamicLossScaler,
    StaticLossScaler,
    autocast_dtype,
    float16_underflow_fraction,
)


def run_steps(scaler_kind, poison_steps, steps=12, growth_interval=3):
    """SGD on loss = sum(p * c); c holds inf on the poisoned steps. Returns (scales, final p)."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    optimizer = torch.optim.SGD([p], lr=0.1)
    if scaler_kind == "torch":
        scaler = torch.amp.GradScaler("cpu", init_scale=256.0, growth_interval=growth_interval)
    else:
        scaler = DynamicLossScaler(init_scale=256.0, growth_interval=growth_interval)
    scales = []
    for step in range(steps):
        c = torch.linspace(-1, 1, 5)
        if step in poison_steps:
            c = c.clone()
            c[2] = float("inf")
        loss = (p * c).sum()
        optimizer.zero_grad()
        if scaler_kind == "torch":
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scales.append(scaler.get_scale())
        else:
            scaler.scale_loss(loss).backward()
            scaler.step(optimizer)
            scales.append(scaler.scale)
    return scales, p.detach()


@pytest.mark.parametrize("poison", [set(), {0}, {1, 2}, {4, 9, 10}])
def test_dynamic_scaler_matches_torch_grad_scaler(poison):
    ours, p_ours = run_steps("ours", poison)
    theirs, p_theirs = run_steps("torch", poison)
    assert ours == theirs
    assert torch.allclose(p_ours, p_theirs)


def test_overflow_skips_the_step_and_halves_the_scale():
    scaler = DynamicLossScaler(init_scale=8.0, growth_interval=2)
    p = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([p], lr=1.0)
    p.grad = torch.tensor([float("nan"), 1.0])
    assert scaler.step(optimizer) is False
    assert torch.equal(p.detach(), torch.ones(2)) and scaler.scale == 4.0 and scaler.skipped == 1
    for _ in range(2):
        p.grad = torch.tensor([4.0, 4.0])
        assert scaler.step(optimizer)
    assert scaler.scale == 8.0  # grown after two clean steps
    assert torch.allclose(p.detach(), torch.ones(2) - 2 * 1.0)  # each step used the unscaled gradient 1


def test_small_float16_gradients_underflow_without_scaling():
    grads = torch.full((1000,), 1e-8) * torch.linspace(0.5, 2.0, 1000)
    assert float16_underflow_fraction(grads, scale=1.0) > 0.5
    assert float16_underflow_fraction(grads, scale=1024.0) == 0.0
    # the float16 backward of a tiny loss: its gradients vanish unless the loss is scaled
    w = torch.full((64,), 1e-3, dtype=torch.float16, requires_grad=True)
    x = torch.full((64,), 1e-6, dtype=torch.float16)
    ((w * x).sum() * 1e-3).backward()  # dL/dw = 1e-9, below float16's smallest subnormal
    assert torch.all(w.grad == 0)
    w.grad = None
    StaticLossScaler(2.0**14).scale_loss((w * x).sum() * 1e-3).backward()
    assert torch.all(w.grad > 0)


def test_autocast_dtype_per_device():
    assert autocast_dtype("cpu") == torch.bfloat16
    assert autocast_dtype("cuda") == torch.float16

