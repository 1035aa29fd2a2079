"""What a data-parallel training run returns: :class:`TrainResult` and its per-epoch rows.

Every strategy, hand-written (``trainer.py``) or Ray Train's DDP (``ddp.py``), reports
its epochs with :func:`epoch_record`, so that their histories can be compared field by
field. This module imports neither torch nor Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TrainResult", "epoch_record"]


@dataclass
class TrainResult:
    """What ``gradkit.distributed.trainer.train`` returns.

    ``history`` has one dict per epoch (see :func:`epoch_record`); ``state_dict`` holds
    the trained weights (CPU tensors), ``startup_s`` the seconds from the call to the
    first step, ``placement`` one dict per worker (rank, node, device, ...).
    """

    state_dict: dict
    history: list[dict]
    strategy: str
    workers: int
    device: str
    startup_s: float
    placement: list[dict] = field(default_factory=list)


def epoch_record(epoch: int, loss: float, samples: int, seconds: float, compute_s: float,
                 **extra) -> dict:
    """One row of ``TrainResult.history``.

    ``loss`` is the epoch's mean batch loss (averaged over the workers too),
    ``samples_per_s`` counts the samples of all workers, ``compute_s`` is the time in
    forward, backward and update (mean over workers) and ``communication_s`` the rest
    of the wall time: transfers, waiting, scheduling. ``extra`` adds strategy-specific
    fields (``ps-async``: ``max_staleness`` and ``staleness``; ``ddp``: ``resumed``).
    """
    return {"epoch": epoch, "loss": float(loss), "samples_per_s": samples / seconds,
            "seconds": seconds, "compute_s": compute_s,
            "communication_s": max(seconds - compute_s, 0.0), **extra}
