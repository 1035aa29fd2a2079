"""The small torch tools that ``gradkit.gan``, ``gradkit.compress`` and ``gradkit.distributed`` share.

Each is written once, here, so that the packages differ only in what they teach:

- ``check_count``: an argument that must be a whole number (``steps``, ``hidden``,
  ``workers``, ...), with a message that names the function and the argument;
- ``choose_device``: the device a run computes on: the one asked for, else CUDA when
  there is a GPU, else the CPU;
- ``mlp``: ``Linear -> activation -> ... -> Linear``, the multi-layer perceptron of
  assignment 3 in torch (parameter names ``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...);
- ``shuffled_batches``: one epoch's mini-batches of row indices, drawn from a seeded
  ``torch.Generator`` so that a run repeats;
- ``to_numpy``: a tensor (on any device, with or without a graph) or an array-like as a
  numpy array, for the measures and plots that work in numpy.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["check_count", "choose_device", "mlp", "shuffled_batches", "to_numpy"]


def check_count(value, name: str, where: str, minimum: int = 1) -> int:
    """``value`` as an int when it is a whole number >= ``minimum``, else a ValueError naming it.

    Python and numpy integers pass; ``True`` and ``2.0`` do not (a bool or a float where
    a count belongs is a mistake in the call, not a count).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{where}: {name} must be {wanted}, got {value!r}")
    return int(value)


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when ``torch.cuda.is_available()``, else the CPU.

    The same code then runs on a laptop and on a GPU machine; ``"cpu"`` forces the CPU.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:0', ... or None, got {device!r}") from err


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.ReLU,
        seed: int | None = None) -> nn.Sequential:
    """``Linear`` layers through ``sizes`` (inputs, hidden..., outputs), ``activation()`` between them.

    No activation after the last layer: a classifier's logits, a generator's sample, a
    discriminator's logit. ``seed`` seeds torch's global generator first, so the same
    seed gives the same initial weights.
    """
    sizes = [check_count(size, "every size", "mlp") for size in sizes]
    if len(sizes) < 2:
        raise ValueError(f"mlp: need at least (inputs, outputs), got sizes {sizes}")
    if seed is not None:
        torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), activation()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch: the indices ``0..n-1`` in an order drawn from ``generator``, cut into batches.

    The last batch is smaller when ``batch_size`` does not divide ``n``. The generator's
    state moves on, so the next call gives the next epoch's order.
    """
    order = torch.randperm(check_count(n, "n", "shuffled_batches"), generator=generator)
    batch_size = check_count(batch_size, "batch_size", "shuffled_batches")
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def to_numpy(x, dtype=np.float64) -> np.ndarray:
    """``x`` as a numpy array of ``dtype``: a tensor is detached and copied to the CPU first."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)
