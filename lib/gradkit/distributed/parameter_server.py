"""Parameter servers on Ray actors: synchronous, and asynchronous with bounded staleness.

The flat parameter vector is cut into contiguous slices, one per server shard
(:func:`shard_bounds`), so that with several shards the traffic and the update work
are spread over several actors. Workers compute gradients; servers own the
parameters and apply plain SGD to their slice.

**Synchronous** (:meth:`ParameterServer.apply_sync`): the driver hands a shard the
gradient slices of all workers for one step; the shard averages them, takes one SGD step
and returns the new slice, which the workers read for the next step. Identical to
single-process training with the combined batch.

**Asynchronous with staleness bound ``s``** (:meth:`pull` / :meth:`push`): each worker
loops on its own: pull parameters for its step ``c``, compute, push the gradient, which
the shard applies by itself (``lr / n`` times the gradient, so ``n`` pushes move the
parameters as far as one synchronous step). Two waits keep the staleness bounded, in
the style of stale synchronous parallel (Ho et al., 2013):

* a **pull** for step ``c`` waits until every worker's gradients of steps ``< c - s``
  have been applied: the parameters a worker reads miss at most ``s`` steps of anybody;
* a **push** of step ``c`` waits until every worker has pulled its step ``c - s``: an
  update never reaches a worker more than ``s`` steps behind its author.

The *staleness* of a read is ``c`` minus the number of steps that every worker has had
applied; it is recorded for every pull and never exceeds ``s``. With ``s = 0`` a read at
step ``c`` sees exactly the updates of steps ``< c`` and none of step ``c``: the
synchronous algorithm again (up to float rounding, because ``n`` small updates are
added one by one instead of as one average). Large ``s`` lets fast workers run ahead.
"""

from __future__ import annotations

import asyncio

import numpy as np
import ray

from gradkit.distributed.ring_allreduce import chunk_bounds

__all__ = ["ParameterServer", "shard_bounds"]


def shard_bounds(num_parameters: int, num_shards: int) -> list[tuple[int, int]]:
    """The ``[start, stop)`` slice of the flat parameter vector that each shard owns."""
    if not 1 <= num_shards <= max(num_parameters, 1):
        raise ValueError(f"parameter server: num_shards must be in [1, {num_parameters}] "
                         f"(one parameter at least per shard), got {num_shards}")
    return chunk_bounds(num_parameters, num_shards)


@ray.remote
class ParameterServer:
    """One shard: owns ``parameters`` (a slice of the flat vector) and applies SGD to it.

    Its methods that wait are ``async``, which makes this an *async actor*: a pull that
    waits does not stop other workers' pushes from being served by the same shard.
    """

    def __init__(self, parameters: np.ndarray, lr: float, num_workers: int,
                 staleness_bound: int = 0) -> None:
        if staleness_bound < 0:
            raise ValueError(f"parameter server: staleness_bound must be >= 0, got {staleness_bound}")
        self.parameters = np.array(parameters, dtype=np.float32)  # our own writable copy
        self.lr = lr
        self.num_workers = num_workers
        self.staleness_bound = staleness_bound
        self.version = 0  # number of updates applied (a synchronous step counts once)
        self.applied = [0] * num_workers  # gradients of each worker applied so far
        self.pulled = [0] * num_workers  # steps each worker has read parameters for
        self._changed = asyncio.Condition()  # created inside the actor's event loop

    def ready(self) -> bool:
        return True

    def get_parameters(self) -> np.ndarray:
        return self.parameters.copy()

    # ---- synchronous -------------------------------------------------------------
    def apply_sync(self, *gradients: np.ndarray) -> np.ndarray:
        """Average one step's gradient slices from all workers, step, return the new slice."""
        if len(gradients) != self.num_workers:
            raise ValueError(f"parameter server: expected {self.num_workers} gradients, got {len(gradients)}")
        self.parameters -= self.lr * np.mean(np.stack(gradients), axis=0)
        self.version += 1
        return self.parameters.copy()

    # ---- asynchronous with bounded staleness ------------------------------------
    async def pull(self, worker: int, step: int) -> tuple[np.ndarray, int]:
        """Parameters for ``worker``'s ``step`` once they are at most ``s`` steps stale."""
        async with self._changed:
            await self._changed.wait_for(lambda: min(self.applied) >= step - self.staleness_bound)
            staleness = step - min(self.applied)
            self.pulled[worker] = max(self.pulled[worker], step + 1)
            self._changed.notify_all()  # pushes waiting for this read may go ahead
            return self.parameters.copy(), staleness

    async def push(self, worker: int, step: int, gradient: np.ndarray) -> int:
        """Apply ``worker``'s gradient of ``step`` once every worker has read step ``step - s``."""
        async with self._changed:
            await self._changed.wait_for(lambda: min(self.pulled) >= step - self.staleness_bound + 1)
            self.parameters -= (self.lr / self.num_workers) * gradient
            self.applied[worker] += 1
            self.version += 1
            self._changed.notify_all()  # pulls waiting for this update may go ahead
            return self.version
