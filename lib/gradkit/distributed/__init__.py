"""gradkit.distributed: data- and model-parallel training of PyTorch models on Ray.

Modules, each with one job (read them in this order):

- ``devices``: GPU or CPU, GPUs per actor (fractions allowed), NCCL or gloo.
- ``sharding``: ``ShardedSampler``, the torch sampler over ``gradkit.data.sharding``'s
  per-worker shards (reshuffled each epoch, disjoint, equal in size).
- ``local_training``: what one replica does: build the model, compute a gradient.
- ``ring_allreduce``: reduce-scatter + all-gather between Ray actors (object store).
- ``torch_allreduce``: the same averaging with ``torch.distributed.all_reduce``.
- ``parameter_server``: synchronous and bounded-staleness asynchronous servers.
- ``worker``: the data-parallel worker actor used by the strategies.
- ``results``: ``TrainResult`` and the per-epoch record every strategy reports.
- ``trainer``: ``train(model_fn, (X, y), strategy=...)``, one interface for all of
  ``"ps-sync"``, ``"ps-async"``, ``"ring"``, ``"torch-allreduce"`` and ``"ddp"``.
- ``ddp``: the production path, Ray Train's ``TorchTrainer`` with DDP.
- ``pipeline``: model parallelism, naive and GPipe micro-batches (and 1F1B).
- ``pipeline_timeline``: the pipeline's bubble, measured and in theory; a Gantt chart.
- ``errors``: failures that name the dead worker or stage (``wait_for``,
  ``names_failure``).
- ``examples``: picklable model factories and data for the labs and benchmarks.
"""

import importlib

# Names are imported lazily, on first use (PEP 562 module __getattr__): most modules
# here import torch, and trainer imports every strategy, which takes seconds.
_EXPORTS = {
    "DeviceMismatchError": "devices",
    "ActorDiedError": "errors",
    "DistributedTrainingError": "errors",
    "ShardedSampler": "sharding",
    "shard_indices": "sharding",
    "TrainResult": "results",
    "STRATEGIES": "trainer",
    "train": "trainer",
    "WorkerError": "worker",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import the submodule that defines ``name`` and return the name."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gradkit.distributed' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gradkit.distributed.{_EXPORTS[name]}"), name)
    globals()[name] = value  # cached: the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
