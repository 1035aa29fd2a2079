"""Ring all-reduce between Ray actors: reduce-scatter, then all-gather, chunk by chunk.

The picture from the lecture, with ``n`` workers in a ring, each holding a vector cut
into ``n`` chunks:

* **reduce-scatter**, ``n - 1`` steps: in step ``s`` worker ``i`` sends chunk
  ``(i - s) mod n`` to its right neighbour ``i + 1``, which adds it into its own copy of
  that chunk. After the last step worker ``i`` holds the complete sum of chunk
  ``(i + 1) mod n``.
* **all-gather**, ``n - 1`` steps: in step ``s`` worker ``i`` sends chunk
  ``(i + 1 - s) mod n`` (a finished sum) to ``i + 1``, which overwrites its copy.
  After the last step every worker holds every summed chunk.

Each worker sends and receives ``2 (n - 1) / n`` times the vector's size in total,
independent of ``n``: that is why the ring is bandwidth-optimal.

**Transport: the Ray object store.** A message is the return value of a call on the
sender, an ``ObjectRef`` that the driver hands to ``ring_receive`` on the neighbour;
Ray moves the bytes from sender to receiver (shared memory on one node, the network
between nodes) without passing them through the driver. We chose this over
``ray.util.collective`` point-to-point because (1) it uses only the primitives the
course teaches (actors, tasks, object refs) and runs on every Ray install and device
without a process group; (2) ``ray.util.collective``'s CPU backend is torch's own gloo,
so the benchmark against ``torch.distributed`` would compare gloo with itself. The cost:
every message is copied into the object store, and CUDA tensors are staged through host
memory (NCCL would move them GPU to GPU; see ``torch_allreduce.py``).

One call per member per step: ``ring_receive`` takes the left neighbour's message,
adds (or copies) it into this member's chunk, and *returns* this member's message for
the next step, which the driver hands on to the right neighbour. The driver only
*submits* calls and never waits between steps: Ray starts a ``ring_receive`` as soon as
the message it is given exists, so the steps pipeline by themselves, and a member cannot
send step ``s + 1`` before it has received step ``s``. (Separate send and receive calls
would be just as correct; one call per step halves the number of Ray calls, whose cost
dominates for small tensors.)
"""

from __future__ import annotations

import numpy as np
import ray
import torch

from gradkit.distributed.devices import TensorHolder, actor_device, check_device

__all__ = ["RingMember", "RingWorker", "ring_allreduce", "ring_allreduce_refs", "chunk_bounds",
           "ring_schedule"]

REDUCE_SCATTER = "reduce-scatter"
ALL_GATHER = "all-gather"


def chunk_bounds(numel: int, n: int) -> list[tuple[int, int]]:
    """Split ``range(numel)`` into ``n`` contiguous chunks whose sizes differ by at most one.

    Works when ``numel`` is not divisible by ``n`` and when ``numel < n`` (then some chunks
    are empty and those steps send empty messages).
    """
    base, extra = divmod(numel, n)
    bounds, start = [], 0
    for index in range(n):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def chunk_to_send(phase: str, rank: int, step: int, n: int) -> int:
    """Index of the chunk worker ``rank`` sends in ``step`` of ``phase`` (the lecture's rule)."""
    if phase == REDUCE_SCATTER:
        return (rank - step) % n
    if phase == ALL_GATHER:
        return (rank + 1 - step) % n
    raise ValueError(f"ring all-reduce: phase must be {REDUCE_SCATTER!r} or {ALL_GATHER!r}, got {phase!r}")


def ring_schedule(n: int) -> list[tuple[str, int]]:
    """The ``(phase, step)`` pairs of a ring of ``n``, in order: ``n - 1`` of each phase."""
    return [(REDUCE_SCATTER, step) for step in range(n - 1)] + [(ALL_GATHER, step) for step in range(n - 1)]


class RingMember:
    """Mix this into a Ray actor class so that :func:`ring_allreduce` can use its buffer.

    The actor puts the vector to reduce in place with :meth:`ring_set_buffer`; after the
    all-reduce the same buffer holds the sum (or mean). Only the ``ring_*`` methods are
    called by the driver.
    """

    def ring_set_buffer(self, tensor: torch.Tensor) -> None:
        """Adopt ``tensor`` (flattened, contiguous, on this worker's device) as the ring buffer."""
        device = getattr(self, "device", None) or actor_device()
        check_device(tensor, device, f"ring all-reduce buffer of worker {type(self).__name__}")
        self._ring_buffer = tensor.detach().reshape(-1).contiguous()

    def ring_begin(self, rank: int, world_size: int) -> tuple[int, np.ndarray] | None:
        """Take place ``rank`` in the ring, cut the buffer into chunks, return the first message."""
        if not hasattr(self, "_ring_buffer"):
            raise RuntimeError(f"ring all-reduce: rank {rank} has no buffer; call ring_set_buffer first")
        self._ring_rank, self._ring_size = rank, world_size
        self._ring_bounds = chunk_bounds(self._ring_buffer.numel(), world_size)
        self._ring_plan = ring_schedule(world_size)
        return self._ring_message(0)

    def _ring_chunk(self, index: int) -> torch.Tensor:
        start, stop = self._ring_bounds[index]
        return self._ring_buffer[start:stop]  # a view: writes go into the buffer

    def _ring_message(self, position: int) -> tuple[int, np.ndarray] | None:
        """What we send in step ``position`` of the plan: ``(chunk index, values)``; None after the last."""
        if position >= len(self._ring_plan):
            return None
        phase, step = self._ring_plan[position]
        index = chunk_to_send(phase, self._ring_rank, step, self._ring_size)
        # For a CPU tensor .numpy() is a view, and Ray copies it into the object store
        # once, when this method returns; a CUDA chunk is first staged in host memory.
        return index, self._ring_chunk(index).cpu().numpy()

    def ring_receive(self, phase: str, step: int, message: tuple[int, np.ndarray]):
        """Add (reduce-scatter) or copy (all-gather) the left neighbour's chunk into ours,
        then return our message for the next step (None after the last step)."""
        index, values = message
        left = (self._ring_rank - 1) % self._ring_size
        expected = chunk_to_send(phase, left, step, self._ring_size)
        target = self._ring_chunk(index)
        if index != expected or values.shape[0] != target.numel():
            raise ValueError(
                f"ring all-reduce ({phase}, step {step}): rank {self._ring_rank} expected chunk "
                f"{expected} of {target.numel()} elements from rank {left}, got chunk {index} of "
                f"{values.shape[0]}; every member must reduce a tensor of the same size "
                f"(this one holds {self._ring_buffer.numel()})")
        if target.device.type == "cpu":
            # In place on a numpy view of our buffer; ``values`` is itself a zero-copy
            # view of the object store, so the chunk is read once and written once.
            out = target.numpy()
            if phase == REDUCE_SCATTER:
                np.add(out, values, out=out)
            else:
                out[...] = values
        else:
            incoming = torch.tensor(values, device=target.device)  # one host -> device copy
            if phase == REDUCE_SCATTER:
                target.add_(incoming)
            else:
                target.copy_(incoming)
        return self._ring_message(self._ring_plan.index((phase, step)) + 1)

    def ring_end(self, average: bool) -> None:
        """Divide by the world size when a mean was asked for (gradient averaging)."""
        if average:
            self._ring_buffer.div_(self._ring_size)


@ray.remote
class RingWorker(RingMember, TensorHolder):
    """A ring member that only holds a tensor: for tests, benchmarks and the lecture demo."""

    def set_tensor(self, tensor: torch.Tensor) -> None:
        """Adopt a tensor sent by the driver; CPU tensors are moved to this worker's device.

        Any other device (a CUDA tensor given to a CPU worker, a ``meta`` tensor) is a
        :class:`~gradkit.distributed.devices.DeviceMismatchError`.
        """
        self.ring_set_buffer(self.placed(tensor))

    def make_tensor(self, numel: int, seed: int) -> None:
        """Create a random buffer in the actor (benchmarks: no driver-to-actor transfer)."""
        self.ring_set_buffer(self.random_tensor(numel, seed))

    def get_tensor(self) -> torch.Tensor:
        return self._ring_buffer.cpu()

    def buffer_device(self) -> str:
        return str(self._ring_buffer.device)

    def gpu_ids(self) -> list:
        return list(ray.get_gpu_ids())


def ring_allreduce_refs(members: list, average: bool = False) -> list:
    """Submit a full ring all-reduce over ``members`` and return the refs to wait on.

    ``members[i]`` is rank ``i``; its right neighbour is ``members[(i + 1) % n]``. The
    refs are those of every call, so that any failure surfaces with its own message.
    """
    n = len(members)
    if n < 1:
        raise ValueError("ring all-reduce needs at least one member, got an empty list")
    messages = [member.ring_begin.remote(rank, n) for rank, member in enumerate(members)]
    refs = list(messages)
    for phase, step in ring_schedule(n):
        # Rank r receives what its left neighbour r - 1 sent; each call returns the next message.
        messages = [member.ring_receive.remote(phase, step, messages[(rank - 1) % n])
                    for rank, member in enumerate(members)]
        refs += messages
    return refs + [member.ring_end.remote(average) for member in members]


def ring_allreduce(members: list, average: bool = False, timeout_s: float | None = None) -> None:
    """Run a ring all-reduce over ``members`` and wait for it (sum, or mean if ``average``)."""
    ray.get(ring_allreduce_refs(members, average), timeout=timeout_s)
