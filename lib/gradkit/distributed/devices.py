"""Device and communication-backend selection, the same code on a laptop and a GPU cluster.

Three decisions live here and nowhere else:

* whether to use GPUs (``use_gpu="auto"``: yes when the Ray cluster, or this machine,
  has any);
* how many GPUs each actor asks Ray for: 1 when there is a GPU per worker, otherwise a
  fraction so that several workers share one GPU (Ray then sets the same
  ``CUDA_VISIBLE_DEVICES`` for them);
* which ``torch.distributed`` backend to use: NCCL between distinct GPUs, gloo otherwise
  (NCCL refuses two ranks on one GPU, gloo works with CPU tensors and CUDA tensors alike).
"""

from __future__ import annotations

import math

import ray
import torch

from gradkit.torch_basics import check_count

__all__ = [
    "DeviceMismatchError",
    "resolve_use_gpu",
    "gpus_per_worker",
    "worker_resources",
    "actor_device",
    "actor_gpu_ids",
    "collective_backend",
    "check_device",
]


class DeviceMismatchError(ValueError):
    """A tensor is on a different device from the one its worker computes on."""


def _gpus_present() -> float:
    if ray.is_initialized():
        return float(ray.cluster_resources().get("GPU", 0.0))
    return float(torch.cuda.device_count())


def resolve_use_gpu(use_gpu: bool | str = "auto") -> bool:
    """Turn ``"auto"``/``True``/``False`` into a decision, failing loudly on ``True`` without GPUs.

    With Ray running, the cluster's GPU count decides (the driver may sit on a CPU-only
    head node while the workers have GPUs); without Ray, this machine's CUDA does.
    """
    if use_gpu == "auto":
        return _gpus_present() > 0
    if use_gpu is True:
        present = _gpus_present()
        if present <= 0:
            raise ValueError("use_gpu=True but no GPU is present (Ray cluster / torch.cuda "
                             "reports 0 GPUs); pass use_gpu='auto' or False to run on CPU")
        return True
    if use_gpu is False:
        return False
    raise ValueError(f"use_gpu must be True, False or 'auto', got {use_gpu!r}")


def gpus_per_worker(workers: int, gpus_present: float | None = None) -> float:
    """GPUs each of ``workers`` actors should request: 1, or an equal share of what exists.

    ``gpus_per_worker(2, 4) == 1``; ``gpus_per_worker(3, 1) == 0.3333`` (three workers
    share one GPU). Rounded *down* to Ray's 1e-4 resolution so the shares always fit.
    """
    check_count(workers, "workers", "gpus_per_worker")
    present = _gpus_present() if gpus_present is None else float(gpus_present)
    if present <= 0:
        return 0.0
    if present >= workers:
        return 1.0
    return math.floor(present / workers * 10_000) / 10_000


def worker_resources(workers: int, use_gpu: bool, cpus_per_worker: float = 1.0) -> dict:
    """The Ray resource request for one worker actor, e.g. ``{"CPU": 1, "GPU": 0.5}``."""
    request = {"CPU": float(cpus_per_worker)}
    if use_gpu:
        request["GPU"] = gpus_per_worker(workers)
    return request


def actor_gpu_ids() -> list:
    """The physical GPU ids Ray assigned to the calling actor (empty on CPU)."""
    return list(ray.get_gpu_ids()) if ray.is_initialized() else []


def actor_device() -> torch.device:
    """The ``torch.device`` the calling actor should compute on.

    Ray narrows ``CUDA_VISIBLE_DEVICES`` to the actor's assigned GPU(s), so inside the
    actor its GPU is always ``cuda:0``, whatever its physical index.
    """
    if actor_gpu_ids() and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def collective_backend(devices: list[str], gpu_ids: list[list]) -> str:
    """``"nccl"`` when every rank has its own GPU, otherwise ``"gloo"``.

    ``devices`` are the ranks' device strings, ``gpu_ids`` their physical GPU ids; when two
    ranks share a GPU (fractional ``num_gpus``) NCCL would fail, so gloo is used with the
    CUDA tensors instead (slower, but correct).
    """
    if devices and all(str(d).startswith("cuda") for d in devices):
        physical = [tuple(ids) for ids in gpu_ids]
        if len(set(physical)) == len(physical):
            return "nccl"
    return "gloo"


def check_device(tensor: torch.Tensor, expected: torch.device | str, what: str) -> None:
    """Raise :class:`DeviceMismatchError` naming ``what`` if ``tensor`` is not on ``expected``."""
    expected = torch.device(expected)
    got = tensor.device
    same = got.type == expected.type and (expected.index is None or got.index in (None, expected.index))
    if not same:
        raise DeviceMismatchError(
            f"{what}: expected a tensor on {expected}, got one on {got} "
            f"(shape {tuple(tensor.shape)}); move it with .to({str(expected)!r})")


class TensorHolder:
    """Mix into a Ray actor that holds one tensor on its own device (tests, benchmarks, demos).

    The collective mixed in beside it (the ring, a torch process group) keeps the buffer;
    this part only places tensors: a CPU tensor from the driver moves to the actor's device,
    and anything else must already be there (the collective's buffer check says so).
    """

    def __init__(self, device: str | None = None) -> None:
        self.device = torch.device(device) if device else actor_device()
        torch.set_num_threads(1)   # one core per actor: several actors share a machine

    def ready(self) -> bool:
        return True

    def placed(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` on this actor's device if it came from the CPU, else unchanged."""
        return tensor.to(self.device) if tensor.device.type == "cpu" else tensor

    def random_tensor(self, numel: int, seed: int) -> torch.Tensor:
        """A seeded random vector made in the actor (no driver-to-actor transfer)."""
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(numel, generator=generator).to(self.device)
