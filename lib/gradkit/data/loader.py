"""``DataLoader``: mini-batches over in-memory arrays, with seeded shuffling and sharding.

Epochs: every ``for batch in loader`` is one epoch. With ``shuffle=True`` the order
of epoch e is a permutation drawn from ``(seed, e)`` alone, so a run is reproducible
and each epoch sees a new order. The loader counts epochs itself (``loader.epoch`` is
the epoch the next pass will use); ``set_epoch(e)`` jumps to epoch e, e.g. when
resuming training.

Sharding for data parallelism: ``loader.shard(rank, world_size)`` gives worker
``rank`` its own loader, following the kit's one sharding rule
(``gradkit.data.sharding.shard_indices``): all ranks draw the *same* permutation
(same seed and epoch) and rank r takes positions r, r + W, r + 2W, ... of it, so the
shards are disjoint, together cover the data, differ in size by at most one, and are
reshuffled every epoch without overlapping. A useful consequence: with a per-rank
batch size b, batch i of all ranks together is batch i of an unsharded loader with
batch size b * W (when W * b divides n), which is why synchronous data parallelism
equals large-batch training.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from gradkit.data.sharding import check_shard, shard_indices


class DataLoader:
    """Iterate over ``(X[batch], y[batch])`` pairs (or ``X[batch]`` when ``y`` is None).

    Args:
        X, y: arrays with the same first dimension (``y`` optional).
        batch_size: examples per batch; the last batch may be smaller...
        drop_last: ...unless this is True, in which case it is dropped.
        shuffle: draw a new order every epoch (else keep the stored order).
        seed: seed of the shuffles; None draws one at random when the loader is made.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray | None = None, batch_size: int = 32,
                 shuffle: bool = False, drop_last: bool = False, seed: int | None = None) -> None:
        X = np.asarray(X)
        if X.ndim == 0:
            raise ValueError("DataLoader: X must have at least one dimension (the examples)")
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 0 or len(y) != len(X):
                raise ValueError(f"DataLoader: X has {len(X)} examples but y has shape {y.shape}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be an int >= 1, got {batch_size!r}")
        self.X, self.y = X, y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed_given = seed is not None
        self.seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        self.epoch = 0
        self.rank, self.world_size = 0, 1

    # ----- epochs -----------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use epoch ``epoch``'s order."""
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be an int >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def indices(self, epoch: int | None = None) -> np.ndarray:
        """The example indices this loader visits in ``epoch`` (default: the next one), in order."""
        epoch = self.epoch if epoch is None else epoch
        # Every sample is kept (the batches, not the shards, drop what drop_last drops).
        return shard_indices(len(self.X), self.rank, self.world_size, epoch, self.seed,
                             self.shuffle, drop_remainder=False)

    # ----- iteration --------------------------------------------------------------
    def _num_batches(self, n: int) -> int:
        # -(-n // b) is n / b rounded up: the short last batch counts unless dropped.
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        return self._num_batches(len(self.indices()))

    def __iter__(self) -> Iterator:
        order = self.indices()
        self.epoch += 1  # the next pass reshuffles
        for batch in range(self._num_batches(len(order))):
            rows = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            yield (self.X[rows], self.y[rows]) if self.y is not None else self.X[rows]

    # ----- data parallelism -------------------------------------------------------
    def shard(self, rank: int, world_size: int) -> "DataLoader":
        """A loader over worker ``rank``'s share of the data (see the module docstring)."""
        check_shard(rank, world_size, "DataLoader.shard")
        if self.world_size != 1:
            raise ValueError("DataLoader.shard: this loader is already a shard; shard the full loader")
        if self.shuffle and not self.seed_given:
            # Each worker process builds its own loader; only an explicit seed makes
            # them agree on the permutation, without which shards would overlap.
            raise ValueError("DataLoader.shard: shuffle=True needs an explicit seed shared by all ranks")
        shard = DataLoader(self.X, self.y, self.batch_size, self.shuffle, self.drop_last, self.seed)
        shard.epoch = self.epoch
        shard.rank, shard.world_size = int(rank), int(world_size)
        return shard

    def __repr__(self) -> str:
        share = f", rank={self.rank}/{self.world_size}" if self.world_size > 1 else ""
        return (f"DataLoader(n={len(self.X)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}{share})")
