"""Model parallelism: a model cut into stages, each stage a Ray actor, batches pipelined.

* :func:`split_sequential` cuts an ``nn.Sequential`` into ``p`` contiguous stages (the
  layers keep their names, so the stages' state dicts merge back into the original's).
* :class:`PipelineStage` is one stage: it runs forward passes, keeps what backward
  needs, runs backward passes, accumulates gradients, and records a timeline.
* :class:`Pipeline` drives a training step with ``m`` micro-batches:

  - ``micro_batches=1`` is *naive model parallel*: one batch walks through the stages,
    and only one stage works at any time;
  - ``schedule="gpipe"``: all ``m`` forwards, then all backwards; stage ``k`` works on
    micro-batch ``i + 1`` while stage ``k + 1`` works on ``i``. Idle fraction
    ``(p - 1) / (m + p - 1)``;
  - ``schedule="1f1b"``: after a warm-up each stage alternates one forward and one
    backward, so it holds at most ``p - k`` micro-batches' activations instead of ``m``.
    Same bubble, less memory.

The gradient of the whole batch is the sum over micro-batches of each micro-batch's mean
loss weighted by its share of the batch, so the stages end with exactly the gradient of
single-process training on the whole batch (``tests/lib/test_distributed_pipeline.py``).

Activations and gradients travel between stages through the Ray object store (host
memory; a CUDA stage copies them to and from its GPU).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import ray
import torch

from gradkit import runtime
from gradkit.distributed.devices import actor_device, resolve_use_gpu, worker_resources
from gradkit.distributed.errors import names_failure, wait_for
from gradkit.distributed.local_training import resolve_loss
from gradkit.distributed.pipeline_timeline import measured_bubble, theoretical_bubble
from gradkit.distributed.ring_allreduce import chunk_bounds

__all__ = ["split_sequential", "PipelineStage", "Pipeline", "StepReport", "StageError",
           "schedule_ops"]

SCHEDULES = ("gpipe", "1f1b")


class StageError(RuntimeError):
    """A pipeline stage raised; the message starts with the stage index."""


def split_sequential(model: torch.nn.Sequential, num_stages: int) -> list[torch.nn.Sequential]:
    """Cut ``model`` into ``num_stages`` contiguous groups of layers with near-equal parameters.

    Parameter count stands in for compute (true for linear layers). Every stage gets at
    least one layer; layers without parameters (activations) go with their neighbours.
    """
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"split_sequential: expected a torch.nn.Sequential, got {type(model).__name__}")
    layers = list(model.named_children())
    if not 1 <= num_stages <= len(layers):
        raise ValueError(f"split_sequential: num_stages must be in [1, {len(layers)}] "
                         f"(the model has {len(layers)} layers), got {num_stages}")
    cumulative = np.cumsum([0] + [sum(p.numel() for p in layer.parameters()) for _, layer in layers])
    cuts = [0]
    for k in range(1, num_stages):
        target = cumulative[-1] * k / num_stages
        # The cut may go anywhere that leaves a layer for this stage and each stage after.
        allowed = range(cuts[-1] + 1, len(layers) - (num_stages - k) + 1)
        # Closest to the target; on a tie the later cut, keeping an activation with its layer.
        cuts.append(min(allowed, key=lambda cut: (abs(cumulative[cut] - target), -cut)))
    cuts.append(len(layers))
    return [torch.nn.Sequential(collections.OrderedDict(layers[start:stop]))
            for start, stop in zip(cuts, cuts[1:])]


def schedule_ops(schedule: str, stage: int, stages: int, micro_batches: int) -> list[tuple[str, int]]:
    """The order in which ``stage`` runs its ``("F", i)`` and ``("B", i)`` operations."""
    m = micro_batches
    if schedule == "gpipe":
        # All forwards, then backwards newest first (its activations are the freshest).
        return [("F", i) for i in range(m)] + [("B", i) for i in reversed(range(m))]
    if schedule == "1f1b":
        warmup = min(stages - stage - 1, m)
        ops = [("F", i) for i in range(warmup)]
        for i in range(m - warmup):
            ops += [("F", warmup + i), ("B", i)]
        return ops + [("B", i) for i in range(m - warmup, m)]
    raise ValueError(f"pipeline: schedule must be one of {SCHEDULES}, got {schedule!r}")


# Any exception in a stage method becomes a StageError naming the stage index.
_names_stage = names_failure(StageError, "pipeline stage", "index")


@ray.remote
class PipelineStage:
    """Stage ``index`` of the pipeline; the last stage also computes the loss."""

    def __init__(self, index: int, module: torch.nn.Module, loss, lr: float) -> None:
        torch.set_num_threads(1)
        self.index = index
        self.device = actor_device()
        self.module = module.to(self.device)
        self.loss_fn = loss
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=lr)
        self.saved = {}  # micro-batch -> (input that needs a gradient, output or weighted loss)
        self.events = []

    def ready(self) -> bool:
        return True

    def where(self) -> dict:
        return {"stage": self.index, "node": ray.util.get_node_ip_address(),
                "device": str(self.device), "gpu_ids": list(ray.get_gpu_ids())}

    def _record(self, kind: str, micro_batch: int, start: float) -> None:
        self.events.append({"stage": self.index, "kind": kind, "micro_batch": micro_batch,
                            "start": start, "end": time.time()})

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        return torch.tensor(array, device=self.device)  # a copy: object-store arrays are read-only

    @_names_stage
    def forward(self, micro_batch: int, activation: np.ndarray) -> np.ndarray:
        """Run this stage on one micro-batch, keep what backward needs, pass the output on."""
        start = time.time()
        inputs = self._to_device(activation).requires_grad_(self.index > 0)
        outputs = self.module(inputs)
        self.saved[micro_batch] = (inputs, outputs)
        result = outputs.detach().cpu().numpy()
        self._record("F", micro_batch, start)
        return result

    @_names_stage
    def forward_loss(self, micro_batch: int, activation: np.ndarray, targets: np.ndarray,
                     weight: float) -> float:
        """Last stage: forward and the micro-batch's loss, weighted by its share of the batch."""
        start = time.time()
        inputs = self._to_device(activation).requires_grad_(self.index > 0)
        loss = self.loss_fn(self.module(inputs), torch.tensor(targets, device=self.device)) * weight
        self.saved[micro_batch] = (inputs, loss)
        value = float(loss.detach())
        self._record("F", micro_batch, start)
        return value

    @_names_stage
    def backward(self, micro_batch: int, grad_output: np.ndarray | None = None):
        """Backpropagate one micro-batch; return the gradient for the previous stage.

        ``grad_output`` is ``None`` on the last stage (its output is the loss). Parameter
        gradients add up over micro-batches until :meth:`step`.
        """
        start = time.time()
        inputs, outputs = self.saved.pop(micro_batch)  # frees the activations
        if grad_output is None:
            outputs.backward()
        else:
            outputs.backward(self._to_device(grad_output))
        result = inputs.grad.cpu().numpy() if inputs.requires_grad else None
        self._record("B", micro_batch, start)
        return result

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.optimizer.step()

    def gradients(self) -> dict:
        return {name: p.grad.detach().cpu().clone() for name, p in self.module.named_parameters()
                if p.grad is not None}

    def state_dict(self) -> dict:
        return {name: value.detach().cpu() for name, value in self.module.state_dict().items()}

    def take_events(self) -> list[dict]:
        events, self.events = self.events, []
        return events


@dataclass
class StepReport:
    """One training step: loss, wall seconds, timeline events, measured and theoretical bubble."""

    loss: float
    seconds: float
    events: list
    bubble: float
    theoretical_bubble: float


class Pipeline:
    """Stages on Ray actors (one GPU each when there are enough), trained with SGD.

    ``Pipeline(split_sequential(model, 2), lr=0.1)`` then ``pipeline.train_step(X, y,
    micro_batches=4)``. Call :meth:`shutdown` (or use it as a context manager) to free
    the actors.
    """

    def __init__(self, stages: list[torch.nn.Module], loss: str | Callable = "cross_entropy",
                 lr: float = 0.1, use_gpu: bool | str = "auto", address: str | None = None,
                 timeout_s: float = 300.0) -> None:
        if not stages:
            raise ValueError("Pipeline needs at least one stage, got an empty list")
        runtime.ensure_ray(address=address)
        self.num_stages = len(stages)
        self.timeout_s = timeout_s
        per_stage = worker_resources(self.num_stages, resolve_use_gpu(use_gpu))
        runtime.check_resources(f"Pipeline with {self.num_stages} stages", per_stage, self.num_stages)
        loss_fn = resolve_loss(loss, np.zeros(1, dtype=np.int64)) if isinstance(loss, str) else loss
        self.stages = [PipelineStage.options(num_cpus=per_stage["CPU"], num_gpus=per_stage.get("GPU", 0))
                       .remote(index, module, loss_fn, lr) for index, module in enumerate(stages)]
        runtime.wait_until_ready(self.stages, "pipeline stages", timeout_s=min(timeout_s, 120.0))

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        for stage in self.stages:
            ray.kill(stage)
        self.stages = []

    def _wait(self, refs: list, what: str):
        return wait_for(refs, self.stages, "pipeline stage", what, self.timeout_s,
                        "Create a new Pipeline; the stage's parameters since the last "
                        "state_dict() are lost.")

    def train_step(self, X, y, micro_batches: int = 1, schedule: str = "gpipe",
                   step: bool = True) -> StepReport:
        """Forward and backward of the batch ``(X, y)`` in ``micro_batches`` pieces, then SGD.

        Gradients are zeroed first. ``step=False`` leaves the accumulated gradients in
        place and the parameters unchanged (to inspect them with :meth:`gradients`).
        """
        X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
        if not 1 <= micro_batches <= len(X):
            raise ValueError(f"train_step: micro_batches must be in [1, {len(X)}] (the batch size), "
                             f"got {micro_batches}")
        if len(X) != len(y):
            raise ValueError(f"train_step: X has {len(X)} rows but y has {len(y)}")
        plans = [schedule_ops(schedule, k, self.num_stages, micro_batches) for k in range(self.num_stages)]
        pieces = [(X[a:b], y[a:b], (b - a) / len(X)) for a, b in chunk_bounds(len(X), micro_batches)]
        for stage in self.stages:
            stage.zero_grad.remote()  # runs before this step's operations (same caller, in order)
        started = time.perf_counter()
        loss_refs, all_refs = self._submit(plans, pieces)
        what = f"pipeline train_step ({schedule}, {micro_batches} micro-batches)"
        self._wait(all_refs, what)
        seconds = time.perf_counter() - started
        loss = float(sum(ray.get(loss_refs)))
        if step:
            self._wait([stage.step.remote() for stage in self.stages], what)
        events = [e for stage_events in ray.get([s.take_events.remote() for s in self.stages])
                  for e in stage_events]
        return StepReport(loss, seconds, events, measured_bubble(events, self.num_stages),
                          theoretical_bubble(self.num_stages, micro_batches))

    def _submit(self, plans: list, pieces: list) -> tuple[list, list]:
        """Submit every stage's operations in its planned order, as soon as inputs exist.

        Each operation needs a reference to its input: the previous stage's forward
        output, or the next stage's backward output. We sweep over the stages, submitting
        the next planned operation of a stage whenever that reference already exists;
        Ray then runs each stage's calls in submission order and starts each one when its
        input is ready. A sweep that submits nothing means the plans are inconsistent.
        """
        last = self.num_stages - 1
        forward_out, backward_out = {}, {}
        inputs = [ray.put(piece_x) for piece_x, _, _ in pieces]
        loss_refs, all_refs = [], []
        position = [0] * self.num_stages
        while any(position[k] < len(plans[k]) for k in range(self.num_stages)):
            progressed = False
            for k, stage in enumerate(self.stages):
                while position[k] < len(plans[k]):
                    kind, i = plans[k][position[k]]
                    if kind == "F":
                        source = inputs[i] if k == 0 else forward_out.get((k - 1, i))
                        if source is None:
                            break
                        if k == last:
                            _, piece_y, weight = pieces[i]
                            ref = stage.forward_loss.remote(i, source, piece_y, weight)
                            loss_refs.append(ref)
                        else:
                            ref = stage.forward.remote(i, source)
                        forward_out[(k, i)] = ref
                    else:
                        if k == last:
                            ref = stage.backward.remote(i, None)
                        elif (k + 1, i) in backward_out:
                            ref = stage.backward.remote(i, backward_out[(k + 1, i)])
                        else:
                            break
                        backward_out[(k, i)] = ref
                    all_refs.append(ref)
                    position[k] += 1
                    progressed = True
            if not progressed:
                raise RuntimeError(f"pipeline: schedule deadlocks at positions {position}")
        return loss_refs, all_refs

    def gradients(self) -> dict:
        """Accumulated parameter gradients, keyed like the original model's parameters."""
        merged = {}
        for part in ray.get([stage.gradients.remote() for stage in self.stages]):
            merged.update(part)
        return merged

    def state_dict(self) -> dict:
        merged = {}
        for part in self._wait([stage.state_dict.remote() for stage in self.stages], "state_dict"):
            merged.update(part)
        return merged

    def placement(self) -> list[dict]:
        return ray.get([stage.where.remote() for stage in self.stages])
