"""gradkit.distributed: data- and model-parallel training of PyTorch models on Ray.

Modules, each with one job (read them in this order):

- ``ray_runtime``: start or join Ray; check resources before scheduling.
- ``devices``: GPU or CPU, GPUs per actor (fractions allowed), NCCL or gloo.
- ``sharding``: per-worker shards of the data, reshuffled each epoch, disjoint.
- ``local_training``: what one replica does: build the model, compute a gradient.
- ``ring_allreduce``: reduce-scatter + all-gather between Ray actors (object store).
- ``torch_allreduce``: the same averaging with ``torch.distributed.all_reduce``.
- ``parameter_server``: synchronous and bounded-staleness asynchronous servers.
- ``worker``: the data-parallel worker actor used by the strategies.
- ``trainer``: ``train(model_fn, (X, y), strategy=...)``, one interface for all of
  ``"ps-sync"``, ``"ps-async"``, ``"ring"``, ``"torch-allreduce"`` and ``"ddp"``.
- ``ddp``: the production path, Ray Train's ``TorchTrainer`` with DDP.
- ``pipeline``: model parallelism, naive and GPipe micro-batches (and 1F1B).
- ``pipeline_timeline``: the pipeline's bubble, measured and in theory; a Gantt chart.
- ``errors``: failures that name the dead worker or stage.
- ``examples``: picklable model factories and data for the labs and benchmarks.
"""

from gradkit.distributed.devices import DeviceMismatchError
from gradkit.distributed.errors import ActorDiedError, DistributedTrainingError
from gradkit.distributed.ray_runtime import InsufficientResourcesError, ensure_ray, shutdown_ray
from gradkit.distributed.sharding import ShardedSampler, shard_indices
from gradkit.distributed.trainer import STRATEGIES, TrainResult, train
from gradkit.distributed.worker import WorkerError

__all__ = [
    "ActorDiedError",
    "DeviceMismatchError",
    "DistributedTrainingError",
    "InsufficientResourcesError",
    "STRATEGIES",
    "ShardedSampler",
    "TrainResult",
    "WorkerError",
    "ensure_ray",
    "shard_indices",
    "shutdown_ray",
    "train",
]
