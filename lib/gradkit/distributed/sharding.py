"""``ShardedSampler``: the kit's sharding rule as a ``torch.utils.data`` sampler.

The rule itself (a shared permutation per epoch, worker ``rank`` taking every
``world_size``-th position, and why that lines up with large-batch training) lives in
``gradkit.data.sharding``, next to the numpy ``DataLoader`` that uses it too. The
workers here run collectives, so every worker must take the same number of steps: the
sampler always cuts the permutation to a multiple of ``world_size``
(``drop_remainder=True``, like torch's ``DistributedSampler(drop_last=True)``).
``tests/lib/test_distributed_trainer.py`` checks that the strategies built on it equal
single-process training with the combined batch.
"""

from __future__ import annotations

from typing import Iterator

from torch.utils.data import Sampler

from gradkit.data.sharding import shard_indices

__all__ = ["ShardedSampler"]


class ShardedSampler(Sampler[int]):
    """A sampler yielding worker ``rank``'s shard of each epoch; call :meth:`set_epoch` each epoch.

    Use it like ``DataLoader(dataset, batch_size=b, sampler=ShardedSampler(len(dataset),
    rank, world_size, seed=0), drop_last=True)``. Same idea as torch's
    ``DistributedSampler``, written out so that students can read it.
    """

    def __init__(self, num_samples: int, rank: int, world_size: int, seed: int = 0,
                 shuffle: bool = True) -> None:
        # Validates rank, world_size and that every worker gets at least one sample.
        shard_indices(num_samples, rank, world_size, drop_remainder=True, shuffle=False,
                      where="ShardedSampler")
        self.num_samples = num_samples
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation the next iteration follows (reshuffles)."""
        self.epoch = int(epoch)

    def indices(self) -> list[int]:
        """This worker's sample indices in the current epoch, in order."""
        return shard_indices(self.num_samples, self.rank, self.world_size, self.epoch,
                             self.seed, self.shuffle, drop_remainder=True,
                             where="ShardedSampler").tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return self.num_samples // self.world_size
