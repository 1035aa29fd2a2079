"""Which samples each data-parallel worker takes in an epoch: the one sharding rule of the kit.

All workers compute the *same* permutation for an epoch (same seed, same epoch number,
no communication needed) and worker ``rank`` takes every ``world_size``-th position of
it, starting at ``rank``. So the shards of one epoch never overlap, and the next epoch is
a new permutation. ``gradkit.data.DataLoader.shard`` and the torch sampler
``gradkit.distributed.sharding.ShardedSampler`` both use :func:`shard_indices`.

The remainder: when ``world_size`` does not divide the number of samples,
``drop_remainder=True`` first cuts the permutation to a multiple of ``world_size``, so
that every worker gets the same number of samples, as torch's ``DistributedSampler(...,
drop_last=True)`` does. Workers that run collectives (all-reduce) need this: a worker
with one step more would wait for its peers forever. ``drop_remainder=False`` keeps
every sample and the shards differ in size by at most one (torch would instead repeat
samples to even them out; we never count a sample twice).

Why striding lines up with large-batch training: worker ``r``'s ``t``-th batch of size
``b`` is made of positions ``r + world_size * j`` for ``j`` in ``[t*b, (t+1)*b)``, all of
which fall inside ``[t*world_size*b, (t+1)*world_size*b)``. The union of the workers'
``t``-th batches is therefore exactly the ``t``-th batch of size ``world_size*b`` that a
single process takes from the same permutation, and averaging the workers' gradients
gives that batch's gradient: synchronous data parallelism equals large-batch training.
"""

from __future__ import annotations

import numpy as np

__all__ = ["epoch_permutation", "shard_indices", "check_shard"]


def epoch_permutation(num_samples: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order of ``range(num_samples)`` that every worker (and one process) uses in ``epoch``."""
    if not shuffle:
        return np.arange(num_samples)
    # A distinct, reproducible stream per (seed, epoch).
    return np.random.default_rng([int(seed), int(epoch)]).permutation(num_samples)


def check_shard(rank, world_size, where: str = "shard_indices") -> None:
    """Raise a ValueError naming ``where`` unless ``0 <= rank < world_size`` are integers."""
    if not isinstance(world_size, (int, np.integer)) or world_size < 1:
        raise ValueError(f"{where}: world_size must be an int >= 1, got {world_size!r}")
    if not isinstance(rank, (int, np.integer)) or not 0 <= rank < world_size:
        raise ValueError(f"{where}: rank must be in [0, {world_size}), got {rank!r}")


def shard_indices(num_samples: int, rank: int, world_size: int, epoch: int = 0, seed: int = 0,
                  shuffle: bool = True, drop_remainder: bool = False,
                  where: str = "shard_indices") -> np.ndarray:
    """Sample indices of worker ``rank`` in ``epoch``: every ``world_size``-th of the permutation.

    ``drop_remainder`` chooses the rule for the last ``num_samples % world_size`` samples
    (see the module docstring); with it, each worker needs at least one sample.
    ``where`` names the caller in error messages.
    """
    check_shard(rank, world_size, where)
    order = epoch_permutation(num_samples, seed, epoch, shuffle)
    if drop_remainder:
        if num_samples < world_size:
            raise ValueError(f"{where}: {num_samples} samples cannot be split over {world_size} "
                             "workers (each needs at least one)")
        order = order[:num_samples - num_samples % world_size]
    return order[rank::world_size]
