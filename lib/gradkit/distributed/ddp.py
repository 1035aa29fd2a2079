"""The production path: Ray Train's ``TorchTrainer`` running PyTorch DDP.

Everything the hand-written strategies do by hand, done by libraries: Ray Train starts
one process per worker and forms the torch process group (gloo on CPU, NCCL on GPUs);
``prepare_model`` wraps the model in ``DistributedDataParallel`` (gradients are averaged
with all-reduce *during* backward, bucket by bucket, overlapping communication with
computation); ``prepare_data_loader`` moves batches to the device (it would also add
torch's ``DistributedSampler``; we pass our own ``ShardedSampler``, the same idea with
the same batches as the other strategies); ``sampler.set_epoch`` reshuffles each epoch.

Each epoch, rank 0 saves a checkpoint (model, optimizer, epoch, history) and every worker
calls ``ray.train.report``. If a worker dies, ``FailureConfig(max_failures=k)`` makes
Ray Train restart the whole worker group, and the loop resumes from the last checkpoint
(``ray.train.get_checkpoint()``): at most one epoch of work is lost. (Ray Train v2
registers a reported checkpoint when its controller next polls the workers, every 2 s by
default; a crash sooner than that after a report resumes from the checkpoint before it,
still correct, only more work is redone.)

Small-machine pitfall: in Ray Train v1 the trainer actor holds a CPU by default, so ``N``
workers on an ``N``-core machine wait forever for an ``N + 1``-th core. On v1 we reserve
nothing for the trainer (``trainer_resources={"CPU": 0}``; v2, the default since Ray
2.5x, reserves nothing and rejects the option), one CPU per worker, and check those
resources before starting, so a too-large request fails at once instead of hanging.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Callable

import numpy as np
import torch

from gradkit import runtime
from gradkit.distributed.devices import collective_backend, worker_resources
from gradkit.distributed.local_training import as_tensors, build_model, resolve_loss
from gradkit.distributed.results import TrainResult, epoch_record
from gradkit.distributed.sharding import ShardedSampler

__all__ = ["train_ddp"]

_CHECKPOINT_FILE = "state.pt"


def _gather_placement(rank: int, device: torch.device, world_size: int) -> list[dict]:
    """Every rank's node, device, GPU ids and backend, collected over the process group."""
    import ray
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL's all_gather_object sends from the current device
    where = {"rank": rank, "node": ray.util.get_node_ip_address(), "device": str(device),
             "gpu_ids": [str(i) for i in ray.get_gpu_ids()], "backend": dist.get_backend()}
    placement = [None] * world_size
    dist.all_gather_object(placement, where)
    return placement


def _mean_over_ranks(value: float) -> float:
    """The mean of ``value`` over all ranks: each rank's loss is that of its own shard only."""
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total) / dist.get_world_size()


def _ddp_loop(config: dict) -> None:
    """What every Ray Train worker runs; resumes from the last checkpoint after a restart."""
    import ray.train
    import ray.train.torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(1)
    context = ray.train.get_context()
    rank = context.get_world_rank()
    device = ray.train.torch.get_device()
    model = build_model(config["model_fn"], config["seed"], torch.device("cpu"))
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"])
    first_epoch, history = 0, []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:  # a restart after a failure: continue where we were
        with checkpoint.as_directory() as folder:
            saved = torch.load(os.path.join(folder, _CHECKPOINT_FILE), weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        first_epoch, history = saved["epoch"] + 1, saved["history"]
    model = ray.train.torch.prepare_model(model)  # DDP wrapper, on this worker's device
    placement = _gather_placement(rank, device, context.get_world_size())

    inputs, targets = as_tensors(config["X"], config["y"], torch.device("cpu"))
    # Our ShardedSampler instead of the DistributedSampler that prepare_data_loader would
    # add: the same idea, and with it DDP follows exactly the batches of the other
    # strategies (so it too equals single-process training with the combined batch).
    sampler = ShardedSampler(len(inputs), rank, context.get_world_size(), seed=config["seed"])
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=config["batch_size"],
                        sampler=sampler, drop_last=True)
    loader = ray.train.torch.prepare_data_loader(loader, add_dist_sampler=False)  # moves batches to the device
    loss_fn = resolve_loss(config["loss"], config["y"])

    for epoch in range(first_epoch, config["epochs"]):
        sampler.set_epoch(epoch)  # a new shuffle, still disjoint across workers
        start, compute, losses, samples = time.perf_counter(), 0.0, [], 0
        for batch_inputs, batch_targets in loader:
            step_start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch_inputs), batch_targets)
            loss.backward()  # DDP all-reduces gradient buckets while backward runs
            optimizer.step()
            losses.append(float(loss.detach()))
            compute += time.perf_counter() - step_start
            samples += len(batch_inputs) * context.get_world_size()
        seconds = time.perf_counter() - start
        history.append(epoch_record(epoch, _mean_over_ranks(float(np.mean(losses))), samples,
                                    seconds, compute,
                                    resumed=first_epoch > 0 and epoch == first_epoch))
        if epoch == 0 and rank == 0:
            history[-1]["startup_s"] = time.time() - config["called_wall"] - seconds
        metrics = {k: v for k, v in history[-1].items() if not isinstance(v, bool)}
        if rank == 0:
            with tempfile.TemporaryDirectory() as folder:
                unwrapped = model.module if hasattr(model, "module") else model
                torch.save({"model": {k: v.cpu() for k, v in unwrapped.state_dict().items()},
                            "optimizer": optimizer.state_dict(), "epoch": epoch, "history": history,
                            "placement": placement},
                           os.path.join(folder, _CHECKPOINT_FILE))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
        else:
            ray.train.report(metrics)


def train_ddp(model_fn: Callable, X: np.ndarray, y: np.ndarray, workers: int, use_gpu: bool,
              epochs: int, batch_size: int, lr: float, seed: int, loss, max_failures: int = 0,
              storage_path: str | None = None, called: float | None = None) -> TrainResult:
    """Run :func:`_ddp_loop` under a ``TorchTrainer``; return a :class:`TrainResult`.

    ``storage_path`` is where checkpoints go: a temporary folder by default on a one-node
    cluster; on a multi-node cluster it is required and must be a path every node can
    reach (NFS, ``s3://...``).
    """
    import ray
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    called = time.perf_counter() if called is None else called
    called_wall = time.time() - (time.perf_counter() - called)
    per_worker = worker_resources(workers, use_gpu)
    runtime.check_resources(f"train(strategy='ddp', workers={workers})", per_worker, workers)
    # NCCL needs a GPU per rank; with a shared (fractional) GPU, gloo moves CUDA tensors.
    devices = ["cuda"] * workers if use_gpu else ["cpu"] * workers
    backend = collective_backend(devices, [[rank] for rank in range(workers)]) \
        if per_worker.get("GPU", 0) >= 1 else "gloo"
    if storage_path is None:
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        if len(nodes) > 1:
            # Rank 0 writes checkpoints on its own node and this process reads the last one:
            # with several nodes that only works on storage that every node sees.
            raise ValueError(
                f"train(strategy='ddp'): the Ray cluster has {len(nodes)} nodes, so checkpoints "
                "need a folder every node can reach; pass checkpoint_dir= an NFS path or a "
                "cloud URI such as 's3://bucket/prefix'")
        storage_path = tempfile.mkdtemp(prefix="gradkit-ddp-")
    run_name = f"gradkit-ddp-{int(time.time() * 1000)}"
    scaling = {"num_workers": workers, "use_gpu": use_gpu, "resources_per_worker": per_worker}
    if not ray.train.is_v2_enabled():
        # Ray Train v1 runs the trainer in an actor holding a CPU by default; v2's
        # controller holds none (and refuses the option).
        scaling["trainer_resources"] = {"CPU": 0}
    trainer = TorchTrainer(
        _ddp_loop,
        train_loop_config={"model_fn": model_fn, "X": X, "y": y, "epochs": epochs,
                           "batch_size": batch_size, "lr": lr, "seed": seed, "loss": loss,
                           "called_wall": called_wall},
        torch_config=TorchConfig(backend=backend, timeout_s=300),
        scaling_config=ray.train.ScalingConfig(**scaling),
        run_config=ray.train.RunConfig(
            name=run_name, storage_path=storage_path,
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2)),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    with result.checkpoint.as_directory() as folder:
        saved = torch.load(os.path.join(folder, _CHECKPOINT_FILE), weights_only=False)
    startup = saved["history"][0].get("startup_s", float("nan"))
    placement = saved["placement"]
    return TrainResult(saved["model"], saved["history"], "ddp", workers, placement[0]["device"],
                       startup, placement)
