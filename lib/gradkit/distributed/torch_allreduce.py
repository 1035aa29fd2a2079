"""The same gradient averaging through ``torch.distributed.all_reduce``, inside Ray actors.

Ray places the processes; torch forms a process group among them and does the
communication (gloo over TCP on CPU, NCCL GPU-to-GPU). The set-up is what
``torch.distributed`` always needs: every rank must know one rendezvous address, which
we take from rank 0's actor (its node IP and a free port) and hand to all ranks.

Compare with ``ring_allreduce.py``: there the algorithm is ours and the bytes go through
Ray's object store; here both the algorithm (gloo/NCCL choose their own, often a ring)
and the transport are torch's.
"""

from __future__ import annotations

import datetime
import socket

import ray
import torch
import torch.distributed as dist

from gradkit.distributed.devices import (TensorHolder, actor_device, actor_gpu_ids, check_device,
                                         collective_backend)

__all__ = ["TorchCollectiveMember", "TorchAllReduceWorker", "init_process_group",
           "torch_allreduce", "destroy_process_group"]


class TorchCollectiveMember:
    """Mix into a Ray actor class: joins a torch process group and all-reduces a buffer."""

    def dist_rendezvous(self) -> tuple[str, int]:
        """This node's IP and a port that is free right now (rank 0 hosts the rendezvous)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("", 0))
            port = sock.getsockname()[1]
        return ray.util.get_node_ip_address(), port

    def dist_device_info(self) -> tuple[str, list]:
        """(device string, physical GPU ids) of this actor, for choosing the backend."""
        device = getattr(self, "device", None) or actor_device()
        return str(device), actor_gpu_ids()

    def dist_init(self, rank: int, world_size: int, init_method: str, backend: str,
                  timeout_s: float) -> None:
        """Join the process group; a missing peer raises after ``timeout_s`` instead of hanging."""
        if dist.is_initialized():
            dist.destroy_process_group()
        dist.init_process_group(backend=backend, init_method=init_method, rank=rank,
                                world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout_s))
        self._dist_rank = rank

    def dist_set_buffer(self, tensor: torch.Tensor) -> None:
        device = getattr(self, "device", None) or actor_device()
        check_device(tensor, device, f"torch all-reduce buffer of worker {type(self).__name__}")
        self._dist_buffer = tensor.detach().reshape(-1).contiguous()

    def dist_all_reduce(self, average: bool) -> None:
        """Sum the buffer across ranks in place (then divide by the world size for a mean)."""
        dist.all_reduce(self._dist_buffer, op=dist.ReduceOp.SUM)
        if average:
            self._dist_buffer.div_(dist.get_world_size())

    def dist_destroy(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


@ray.remote
class TorchAllReduceWorker(TorchCollectiveMember, TensorHolder):
    """A process-group member that only holds a tensor: for tests and benchmarks."""

    def set_tensor(self, tensor: torch.Tensor) -> None:
        """Adopt a tensor sent by the driver (CPU tensors move to this worker's device)."""
        self.dist_set_buffer(self.placed(tensor))

    def make_tensor(self, numel: int, seed: int) -> None:
        """Create a random buffer in the actor (benchmarks: no driver-to-actor transfer)."""
        self.dist_set_buffer(self.random_tensor(numel, seed))

    def get_tensor(self) -> torch.Tensor:
        return self._dist_buffer.cpu()


def init_process_group(members: list, backend: str = "auto", timeout_s: float = 60.0) -> str:
    """Make ``members`` (rank = list position) one torch process group; return the backend used.

    ``backend="auto"`` picks NCCL when every member has its own GPU, gloo otherwise.
    """
    if not members:
        raise ValueError("init_process_group needs at least one member, got an empty list")
    infos = ray.get([member.dist_device_info.remote() for member in members])
    if backend == "auto":
        backend = collective_backend([d for d, _ in infos], [ids for _, ids in infos])
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"init_process_group: backend must be 'auto', 'gloo' or 'nccl', got {backend!r}")
    host, port = ray.get(members[0].dist_rendezvous.remote())
    init_method = f"tcp://{host}:{port}"
    ray.get([member.dist_init.remote(rank, len(members), init_method, backend, timeout_s)
             for rank, member in enumerate(members)])
    return backend


def torch_allreduce(members: list, average: bool = False, timeout_s: float | None = None) -> None:
    """All-reduce every member's buffer with ``torch.distributed`` (sum, or mean if ``average``)."""
    ray.get([member.dist_all_reduce.remote(average) for member in members], timeout=timeout_s)


def destroy_process_group(members: list) -> None:
    ray.get([member.dist_destroy.remote() for member in members])
