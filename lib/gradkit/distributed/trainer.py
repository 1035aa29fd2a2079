"""One entry point for every data-parallel strategy: :func:`train`.

``train(model_fn, (X, y), strategy=..., workers=N)`` trains the model returned by
``model_fn`` with plain SGD and returns a :class:`TrainResult`. Strategies:

* ``"single"``: this process, no Ray; the baseline every other strategy must match.
* ``"ps-sync"``: a parameter server (``server_shards`` shards) averages the workers' gradients.
* ``"ps-async"``: the workers push and pull on their own, at most ``staleness`` steps stale.
* ``"ring"``: the workers average gradients with the ring all-reduce over Ray actors.
* ``"torch-allreduce"``: the same loop, averaging with ``torch.distributed.all_reduce``
  (gloo on CPU, NCCL between GPUs) in a process group formed by the workers.
* ``"ddp"``: Ray Train's ``TorchTrainer`` with PyTorch DDP (see ``ddp.py``).

``batch_size`` is the batch of *one* worker; the combined batch is ``workers * batch_size``.
With the same ``seed``, ``"ps-sync"``, ``"ring"``, ``"torch-allreduce"`` and ``"ddp"`` over
``N`` workers with batch ``b`` (and ``"ps-async"`` with ``staleness=0``) follow the same trajectory as ``"single"`` with batch ``N * b`` (see ``sharding.py``).

Ray is joined or started by :func:`gradkit.runtime.session.ensure_ray`
(``address=None``: an embedded Ray on this machine) and left running for the next call.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import ray
import torch
from torch.utils.data import BatchSampler

from gradkit import runtime
from gradkit.distributed.ddp import train_ddp  # imports Ray Train only when it runs
from gradkit.distributed.devices import resolve_use_gpu, worker_resources
from gradkit.distributed.errors import wait_for
from gradkit.distributed.local_training import (as_tensors, build_model, compute_gradients,
                                                flatten_parameters, resolve_loss)
from gradkit.distributed.parameter_server import ParameterServer, shard_bounds
from gradkit.distributed.results import TrainResult, epoch_record
from gradkit.distributed.ring_allreduce import ring_allreduce_refs
from gradkit.distributed.sharding import ShardedSampler
from gradkit.distributed.torch_allreduce import init_process_group
from gradkit.distributed.worker import DataParallelWorker
from gradkit.torch_basics import check_count, choose_device

__all__ = ["train", "STRATEGIES"]

STRATEGIES = ("single", "ps-sync", "ps-async", "ring", "torch-allreduce", "ddp")

_RECOVERY = ("Restart train() (it starts fresh workers), or use strategy='ddp' with "
             "max_failures > 0, which restarts failed workers from the last checkpoint.")


def _validate(model_fn, data, strategy, workers, batch_size, epochs, lr, staleness, server_shards):
    if strategy not in STRATEGIES:
        raise ValueError(f"train: strategy must be one of {STRATEGIES}, got {strategy!r}")
    if not callable(model_fn):
        raise TypeError(f"train: model_fn must be a callable returning a torch.nn.Module, got {type(model_fn).__name__}")
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError("train: data must be a pair (X, y) of numpy arrays")
    for name, value in (("workers", workers), ("batch_size", batch_size), ("epochs", epochs),
                        ("server_shards", server_shards)):
        check_count(value, name, "train")
    if strategy == "single" and workers != 1:
        raise ValueError(f"train: strategy 'single' runs one process, got workers={workers}")
    if lr <= 0:
        raise ValueError(f"train: lr must be > 0, got {lr}")
    if staleness < 0:
        raise ValueError(f"train: staleness must be >= 0, got {staleness}")
    num_samples = len(data[0])
    if num_samples // workers < batch_size:
        raise ValueError(f"train: {num_samples} samples over {workers} workers give each "
                         f"{num_samples // workers}, fewer than one batch of {batch_size}")


def train(model_fn: Callable[[], torch.nn.Module], data: tuple, strategy: str = "ring",
          workers: int | None = None, use_gpu: bool | str = "auto", epochs: int = 1,
          batch_size: int = 32, lr: float = 0.1, seed: int = 0, address: str | None = None,
          loss: str | Callable = "auto", staleness: int = 2, server_shards: int = 1,
          num_cpus: int | None = None, timeout_s: float = 600.0, max_failures: int = 0,
          checkpoint_dir: str | None = None) -> TrainResult:
    """Train ``model_fn()`` on ``data = (X, y)`` with ``strategy`` over ``workers`` replicas.

    ``workers`` defaults to 1 for ``"single"`` and 2 otherwise. ``use_gpu="auto"`` uses
    GPUs when the cluster has them (fractions of one GPU when there are fewer GPUs than
    workers). ``address`` joins an existing Ray cluster; ``num_cpus`` sizes an embedded
    one. ``staleness`` is the bound for ``"ps-async"``, ``server_shards`` the number of
    parameter-server shards; ``max_failures`` and ``checkpoint_dir`` are for ``"ddp"``.
    ``timeout_s`` bounds any single wait, so a stuck run raises instead of hanging.
    """
    called = time.perf_counter()
    workers = workers if workers is not None else (1 if strategy == "single" else 2)
    _validate(model_fn, data, strategy, workers, batch_size, epochs, lr, staleness, server_shards)
    X, y = np.asarray(data[0]), np.asarray(data[1])
    if strategy == "single":
        return _train_single(model_fn, X, y, use_gpu, epochs, batch_size, lr, seed, loss, called)
    runtime.ensure_ray(address=address, num_cpus=num_cpus)
    gpu = resolve_use_gpu(use_gpu)
    if strategy == "ddp":
        return train_ddp(model_fn, X, y, workers=workers, use_gpu=gpu, epochs=epochs,
                         batch_size=batch_size, lr=lr, seed=seed, loss=loss,
                         max_failures=max_failures, storage_path=checkpoint_dir, called=called)
    return _train_on_actors(model_fn, X, y, strategy, workers, gpu, epochs, batch_size, lr,
                            seed, loss, staleness, server_shards, timeout_s, called)


def _train_single(model_fn, X, y, use_gpu, epochs, batch_size, lr, seed, loss, called) -> TrainResult:
    """The baseline: one process, one model, batches from the same permutation as the workers."""
    device = choose_device(None if resolve_use_gpu(use_gpu) else "cpu")
    model = build_model(model_fn, seed, device)
    loss_fn = resolve_loss(loss, y)
    inputs, targets = as_tensors(X, y, device)
    sampler = ShardedSampler(len(inputs), rank=0, world_size=1, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    startup = time.perf_counter() - called
    history = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        start, compute, losses = time.perf_counter(), 0.0, []
        for indices in BatchSampler(sampler, batch_size, drop_last=True):
            value, seconds = compute_gradients(model, loss_fn, inputs[indices], targets[indices])
            step_start = time.perf_counter()
            optimizer.step()
            compute += seconds + time.perf_counter() - step_start
            losses.append(value)
        history.append(epoch_record(epoch, np.mean(losses), len(losses) * batch_size,
                                    time.perf_counter() - start, compute))
    state = {name: value.detach().cpu() for name, value in model.state_dict().items()}
    return TrainResult(state, history, "single", 1, str(device), startup,
                       [{"rank": 0, "device": str(device), "node": "driver"}])


def _train_on_actors(model_fn, X, y, strategy, workers, use_gpu, epochs, batch_size, lr, seed,
                     loss, staleness, server_shards, timeout_s, called) -> TrainResult:
    """Start the worker (and server) actors, run the epochs, always clean the actors up."""
    what = f"train(strategy={strategy!r}, workers={workers})"
    per_worker = worker_resources(workers, use_gpu)
    runtime.check_resources(what, per_worker, workers)
    data_refs = ray.put(X), ray.put(y)
    replicas = [DataParallelWorker.options(num_cpus=per_worker["CPU"],
                                           num_gpus=per_worker.get("GPU", 0)).remote(
                    rank, workers, model_fn, *data_refs, batch_size, lr, seed, loss)
                for rank in range(workers)]
    servers: list = []
    try:
        if strategy in ("ps-sync", "ps-async"):  # started while the replicas start
            servers = _start_servers(model_fn, seed, replicas, lr, workers, server_shards,
                                     staleness if strategy == "ps-async" else 0)
        runtime.wait_until_ready(replicas + servers, what, timeout_s=min(timeout_s, 120.0))
        placement = ray.get([replica.where.remote() for replica in replicas])
        if strategy == "torch-allreduce":
            backend = init_process_group(replicas, backend="auto", timeout_s=min(timeout_s, 300.0))
            placement = [{**place, "backend": backend} for place in placement]
        run_epoch = {"ring": _ring_epoch, "torch-allreduce": _torch_allreduce_epoch,
                     "ps-sync": _ps_sync_epoch, "ps-async": _ps_async_epoch}[strategy]
        startup = time.perf_counter() - called
        history, context = [], {"servers": servers, "param_refs": None, "global_step": 0}
        for epoch in range(epochs):
            label = f"{what}, epoch {epoch}"
            start = time.perf_counter()
            steps = wait_for([r.start_epoch.remote(epoch) for r in replicas], replicas,
                             "worker rank", label, timeout_s, _RECOVERY)[0]
            losses, extra = run_epoch(replicas, steps, context, label, timeout_s)
            seconds = time.perf_counter() - start
            compute = np.mean(ray.get([r.take_compute_seconds.remote() for r in replicas]))
            history.append(epoch_record(epoch, np.mean(losses), steps * batch_size * workers,
                                        seconds, float(compute), **extra))
        state = _final_state(strategy, replicas, servers, timeout_s, what)
        device = placement[0]["device"]
        return TrainResult(state, history, strategy, workers, device, startup, placement)
    finally:
        for actor in replicas + servers:
            ray.kill(actor)


def _start_servers(model_fn, seed, replicas, lr, workers, num_shards, bound) -> list:
    """Parameter-server shards initialised with the same weights the replicas build."""
    initial = flatten_parameters(build_model(model_fn, seed, torch.device("cpu"))).numpy()
    bounds = shard_bounds(initial.size, num_shards)
    # Servers only add vectors: they reserve no CPU so that N workers fit on N cores.
    servers = [ParameterServer.options(num_cpus=0).remote(initial[start:stop], lr, workers, bound)
               for start, stop in bounds]
    for replica in replicas:
        replica.set_shard_bounds.remote(bounds)  # runs after the constructor, before any step
    return servers


def _ring_epoch(replicas, steps, context, label, timeout_s):
    """Each step: all compute, ring-average the gradients, all apply the same update.

    The driver keeps one step in flight ahead of the one it waits for, which keeps the
    workers busy without queueing a whole epoch of calls.
    """
    losses, previous = [], []
    for _ in range(steps):
        loss_refs = [replica.ring_compute.remote() for replica in replicas]
        ring_refs = ring_allreduce_refs(replicas, average=True)
        apply_refs = [replica.ring_apply.remote() for replica in replicas]
        if previous:
            losses.append(np.mean(wait_for(previous, replicas, "worker rank", label, timeout_s, _RECOVERY)[:len(replicas)]))
        previous = loss_refs + ring_refs + apply_refs
    losses.append(np.mean(wait_for(previous, replicas, "worker rank", label, timeout_s, _RECOVERY)[:len(replicas)]))
    return losses, {}


def _torch_allreduce_epoch(replicas, steps, context, label, timeout_s):
    """Each step is one call per worker; the all-reduce inside keeps the workers in step."""
    step_refs = [[replica.allreduce_step.remote() for replica in replicas] for _ in range(steps)]
    flat = wait_for([ref for refs in step_refs for ref in refs], replicas, "worker rank", label,
                    timeout_s, _RECOVERY)
    n = len(replicas)
    return [float(np.mean(flat[i:i + n])) for i in range(0, len(flat), n)], {}


def _ps_sync_epoch(replicas, steps, context, label, timeout_s):
    """Each step: workers compute on the servers' slices; each shard averages and steps."""
    servers = context["servers"]
    if context["param_refs"] is None:
        context["param_refs"] = [server.get_parameters.remote() for server in servers]
    shards = len(servers)
    losses, previous = [], None
    for _ in range(steps):
        outputs = [replica.ps_compute.options(num_returns=shards + 1).remote(*context["param_refs"])
                   for replica in replicas]
        context["param_refs"] = [server.apply_sync.remote(*[output[k] for output in outputs])
                                 for k, server in enumerate(servers)]
        loss_refs = [output[shards] for output in outputs]
        if previous is not None:
            losses.append(np.mean(wait_for(previous, replicas, "worker rank", label, timeout_s, _RECOVERY)))
        previous = loss_refs
    losses.append(np.mean(wait_for(previous, replicas, "worker rank", label, timeout_s, _RECOVERY)))
    wait_for(context["param_refs"], servers, "parameter server", label, timeout_s)
    return losses, {}


def _ps_async_epoch(replicas, steps, context, label, timeout_s):
    """Every worker runs the epoch's pull-compute-push loop on its own."""
    first = context["global_step"]
    runs = wait_for([replica.ps_async_epoch.remote(context["servers"], first, steps)
                     for replica in replicas], replicas, "worker rank", label, timeout_s, _RECOVERY)
    context["global_step"] = first + steps
    # Loss of step t: mean over workers, as in the synchronous strategies.
    losses = list(np.mean([run["losses"] for run in runs], axis=0))
    staleness = [value for run in runs for value in run["staleness"]]
    return losses, {"max_staleness": int(max(staleness)), "staleness": staleness}


def _final_state(strategy, replicas, servers, timeout_s, what) -> dict:
    """The trained weights: replica 0's (ring), or the servers' loaded into replica 0 (ps)."""
    if servers:
        slices = wait_for([server.get_parameters.remote() for server in servers], servers,
                          "parameter server", what, timeout_s)
        ray.get(replicas[0].load_parameters.remote(*slices))
    return ray.get(replicas[0].state_dict.remote())
