"""Each worker sees its own shard of the data, reshuffled every epoch, disjoint across workers.

All workers compute the *same* random permutation for an epoch (same seed, same epoch
number, no communication needed) and worker ``rank`` takes every ``world_size``-th
position of it starting at ``rank``. So the shards of one epoch never overlap and
together cover the (truncated) data set, and the next epoch is a new permutation.

Why striding lines up with large-batch training: worker ``r``'s ``t``-th batch of size
``b`` is made of positions ``r + world_size * j`` for ``j`` in ``[t*b, (t+1)*b)``, all of
which fall inside ``[t*world_size*b, (t+1)*world_size*b)``. The union of the workers'
``t``-th batches is therefore exactly the ``t``-th batch of size ``world_size*b`` that a
single process would take from the same permutation; averaging the workers' gradients
gives that batch's gradient (this is what ``tests/test_distributed_trainer.py`` checks).
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["epoch_permutation", "shard_indices", "ShardedSampler"]


def epoch_permutation(num_samples: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    """The order of ``range(num_samples)`` used by every worker (and the single process) in ``epoch``."""
    if not shuffle:
        return torch.arange(num_samples)
    generator = torch.Generator()
    generator.manual_seed(seed * 100_003 + epoch)  # distinct, reproducible stream per (seed, epoch)
    return torch.randperm(num_samples, generator=generator)


def _check(num_samples: int, rank: int, world_size: int) -> None:
    if world_size < 1:
        raise ValueError(f"sharding: world_size must be >= 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"sharding: rank must be in [0, {world_size}), got {rank}")
    if num_samples < world_size:
        raise ValueError(f"sharding: {num_samples} samples cannot be split over {world_size} "
                         "workers (each needs at least one)")


def shard_indices(num_samples: int, rank: int, world_size: int, epoch: int = 0,
                  seed: int = 0, shuffle: bool = True) -> torch.Tensor:
    """Sample indices of worker ``rank`` in ``epoch``: every ``world_size``-th of the permutation.

    The permutation is first cut to a multiple of ``world_size`` so that every worker gets
    the same number of samples (workers that take different numbers of steps would wait
    for each other forever in a collective).
    """
    _check(num_samples, rank, world_size)
    order = epoch_permutation(num_samples, seed, epoch, shuffle)
    usable = num_samples - num_samples % world_size
    return order[:usable][rank::world_size]


class ShardedSampler(Sampler[int]):
    """A ``torch.utils.data`` sampler yielding :func:`shard_indices`; call :meth:`set_epoch` each epoch.

    Use it like ``DataLoader(dataset, batch_size=b, sampler=ShardedSampler(len(dataset),
    rank, world_size, seed=0), drop_last=True)``. Same idea as torch's
    ``DistributedSampler``, written out so that students can read it.
    """

    def __init__(self, num_samples: int, rank: int, world_size: int, seed: int = 0,
                 shuffle: bool = True) -> None:
        _check(num_samples, rank, world_size)
        self.num_samples = num_samples
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation the next iteration follows (reshuffles)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        indices = shard_indices(self.num_samples, self.rank, self.world_size,
                                self.epoch, self.seed, self.shuffle)
        return iter(indices.tolist())

    def __len__(self) -> int:
        return self.num_samples // self.world_size
