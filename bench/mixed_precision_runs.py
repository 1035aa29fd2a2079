"""The mixed-precision benchmark's harness: one timed training run in float32 or in mixed precision.

``gradkit.compress.mixed_precision`` holds the concept (which half type autocast uses,
loss scaling by hand); this module puts torch's pieces together for a measurement:
``torch.autocast`` in ``autocast_dtype(device)`` and ``torch.amp.GradScaler`` (enabled
only for float16: bfloat16 does not underflow), with the final accuracy, the seconds per
step and, on CUDA, the peak memory. Used by ``bench_compress.py`` (one run per fresh
process) and ``gpu_check.py`` (check 4b, float16 on a GPU).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from gradkit.compress.mixed_precision import autocast_dtype
from gradkit.torch_basics import choose_device, shuffled_batches

__all__ = ["MixedPrecisionResult", "train_classifier"]


@dataclass
class MixedPrecisionResult:
    """One training run: final accuracy, seconds per step, peak memory (CUDA only, else None)."""

    precision: str
    accuracy: float
    seconds_per_step: float
    peak_memory_bytes: int | None
    losses: list[float] = field(repr=False)


def train_classifier(model: torch.nn.Module, X_train, y_train, X_test, y_test, *, precision: str = "float32",
                     epochs: int = 10, batch_size: int = 64, lr: float = 0.05, seed: int = 0,
                     device: str | torch.device | None = None) -> MixedPrecisionResult:
    """Train with SGD + momentum in ``precision``: "float32" or "mixed" (autocast + GradScaler).

    Mixed uses ``autocast_dtype(device)``; the GradScaler is enabled only for float16
    (bfloat16 does not underflow). Peak memory is measured on CUDA only.
    """
    if precision not in ("float32", "mixed"):
        raise ValueError(f"train_classifier: precision must be 'float32' or 'mixed', got {precision!r}")
    device = choose_device(device)
    torch.manual_seed(seed)
    model = model.to(device)
    X_train, y_train = torch.as_tensor(X_train, device=device), torch.as_tensor(y_train, device=device)
    X_test, y_test = torch.as_tensor(X_test, device=device), torch.as_tensor(y_test, device=device)
    half = autocast_dtype(device)
    use_amp = precision == "mixed"
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and half == torch.float16)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    losses, steps = [], 0
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in shuffled_batches(len(X_train), batch_size, generator):
            batch = batch.to(device)
            with torch.autocast(device.type, dtype=half, enabled=use_amp):
                loss = torch.nn.functional.cross_entropy(model(X_train[batch]), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
            steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    with torch.no_grad(), torch.autocast(device.type, dtype=half, enabled=use_amp):
        accuracy = float((model(X_test).argmax(dim=1) == y_test).float().mean())
    peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    return MixedPrecisionResult(precision, accuracy, seconds / steps, peak, losses)
