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

Nothing is imported here: import from the module that holds a name
(``from gradkit.distributed.trainer import train``), so that ``import
gradkit.distributed`` loads neither torch nor Ray. Starting and joining Ray is
``gradkit.runtime``'s job, not this package's.
"""
