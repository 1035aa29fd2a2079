"""The data-parallel worker actor: one model replica and one shard of the data.

The same actor serves the ring strategy (it is a :class:`RingMember`), the
``torch.distributed`` all-reduce (it is a :class:`TorchCollectiveMember`), the synchronous
parameter server (``ps_compute``) and the asynchronous one (``ps_async_epoch``, where it
drives its own loop against the servers). Every public method re-raises a failure as
:class:`WorkerError` naming the worker's rank, so that the driver's message says *which*
worker broke, not only what.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import ray
import torch
from torch.utils.data import BatchSampler

from gradkit.distributed.devices import actor_device
from gradkit.distributed.errors import names_failure
from gradkit.distributed.local_training import (as_tensors, build_model, compute_gradients,
                                                flatten_gradients, load_flat_gradients,
                                                load_flat_parameters, resolve_loss)
from gradkit.distributed.ring_allreduce import RingMember
from gradkit.distributed.sharding import ShardedSampler
from gradkit.distributed.torch_allreduce import TorchCollectiveMember

__all__ = ["DataParallelWorker", "WorkerError"]


class WorkerError(RuntimeError):
    """A data-parallel worker raised; the message starts with the worker's rank."""


# Any exception in a worker method becomes a WorkerError that starts with the rank.
_names_rank = names_failure(WorkerError, "data-parallel worker rank", "rank")


@ray.remote
class DataParallelWorker(RingMember, TorchCollectiveMember):
    """Replica ``rank`` of ``world_size``: trains ``model_fn()`` on its shard of ``(X, y)``."""

    def __init__(self, rank: int, world_size: int, model_fn: Callable, X: np.ndarray,
                 y: np.ndarray, batch_size: int, lr: float, seed: int, loss) -> None:
        torch.set_num_threads(1)  # one core per worker; several workers share a machine
        self.rank = rank
        self.world_size = world_size
        self.batch_size = batch_size
        self.device = actor_device()
        self.model = build_model(model_fn, seed, self.device)
        self.loss_fn = resolve_loss(loss, y)
        self.inputs, self.targets = as_tensors(X, y, self.device)
        self.sampler = ShardedSampler(len(self.inputs), rank, world_size, seed=seed)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.compute_seconds = 0.0
        self._batches = iter(())

    def ready(self) -> bool:
        return True

    def where(self) -> dict:
        """Which node and device this replica runs on (for reports and the GPU check)."""
        return {"rank": self.rank, "node": ray.util.get_node_ip_address(),
                "device": str(self.device), "gpu_ids": list(ray.get_gpu_ids())}

    @_names_rank
    def start_epoch(self, epoch: int) -> int:
        """Reshuffle for ``epoch``; return the number of full batches this worker will take."""
        self.sampler.set_epoch(epoch)
        batches = BatchSampler(self.sampler, self.batch_size, drop_last=True)
        self._batches = iter(batches)
        return len(batches)

    def _step_gradients(self) -> float:
        indices = next(self._batches)
        loss, seconds = compute_gradients(self.model, self.loss_fn,
                                          self.inputs[indices], self.targets[indices])
        self.compute_seconds += seconds
        return loss

    def take_compute_seconds(self) -> float:
        """Seconds spent in forward/backward/update since the last call (then reset)."""
        seconds, self.compute_seconds = self.compute_seconds, 0.0
        return seconds

    def state_dict(self) -> dict:
        return {name: value.detach().cpu() for name, value in self.model.state_dict().items()}

    # ---- ring all-reduce ----------------------------------------------------------
    @_names_rank
    def ring_compute(self) -> float:
        """Compute this step's gradient and put it in the ring buffer; return the loss."""
        loss = self._step_gradients()
        self.ring_set_buffer(flatten_gradients(self.model))
        return loss

    @_names_rank
    def ring_apply(self) -> None:
        """Take one SGD step with the averaged gradient the ring left in the buffer."""
        start = time.perf_counter()
        load_flat_gradients(self.model, self._ring_buffer)
        self.optimizer.step()
        self.compute_seconds += time.perf_counter() - start

    # ---- torch.distributed all-reduce -----------------------------------------------
    @_names_rank
    def allreduce_step(self) -> float:
        """A whole step in one call: compute, average the gradient across ranks, update.

        ``dist.all_reduce`` blocks until every rank has contributed, so the ranks stay in
        lock-step by themselves and the driver needs only one call per rank per step.
        """
        loss = self._step_gradients()
        self.dist_set_buffer(flatten_gradients(self.model))
        self.dist_all_reduce(average=True)  # communication: not counted as compute
        start = time.perf_counter()
        load_flat_gradients(self.model, self._dist_buffer)
        self.optimizer.step()
        self.compute_seconds += time.perf_counter() - start
        return loss

    # ---- synchronous parameter server ---------------------------------------------
    @_names_rank
    def ps_compute(self, *parameter_slices: np.ndarray):
        """Load the servers' slices, compute a gradient, return its slices and the loss."""
        self._load(parameter_slices)
        loss = self._step_gradients()
        return (*self._split(flatten_gradients(self.model)), loss)

    def _load(self, parameter_slices) -> None:
        flat = torch.from_numpy(np.concatenate(parameter_slices)).to(self.device)
        load_flat_parameters(self.model, flat)

    def _split(self, flat: torch.Tensor) -> list[np.ndarray]:
        flat = flat.cpu().numpy()
        return [flat[start:stop] for start, stop in self.shard_bounds]

    def set_shard_bounds(self, bounds: list[tuple[int, int]]) -> None:
        self.shard_bounds = bounds

    # ---- asynchronous parameter server --------------------------------------------
    @_names_rank
    def ps_async_epoch(self, servers: list, first_step: int, num_steps: int) -> dict:
        """Run ``num_steps`` pull-compute-push rounds against the servers on our own.

        Returns the losses and the staleness of every read (the largest over shards).
        Pushes are not waited for one by one (that is the asynchrony); all of them are
        awaited at the end so that a failed push is reported.
        """
        losses, staleness, pushes = [], [], []
        for step in range(first_step, first_step + num_steps):
            replies = ray.get([server.pull.remote(self.rank, step) for server in servers])
            self._load([parameters for parameters, _ in replies])
            staleness.append(max(stale for _, stale in replies))
            losses.append(self._step_gradients())
            gradient_slices = self._split(flatten_gradients(self.model))
            pushes += [server.push.remote(self.rank, step, part)
                       for server, part in zip(servers, gradient_slices)]
        ray.get(pushes)
        return {"losses": losses, "staleness": staleness}

    @_names_rank
    def load_parameters(self, *parameter_slices: np.ndarray) -> None:
        self._load(parameter_slices)
