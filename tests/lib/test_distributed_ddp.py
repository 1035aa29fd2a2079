"""The production path: Ray Train TorchTrainer + DDP on 2 CPU workers (gloo), with a crash.

One run does it all to stay fast: worker 1 kills its own process in epoch 1; with
max_failures=1 Ray Train restarts the group, which resumes from the epoch-0 checkpoint.
The result must equal single-process training with the combined batch, as if nothing
had happened. The crash is injected here, by the model the test hands to train_ddp,
not by any hook in the library.
"""

import functools
import glob
import os
import sys
import time

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")
pytest.importorskip("ray.train")

from gradkit import runtime
from gradkit.distributed.ddp import train_ddp
from gradkit.distributed.trainer import train

pytestmark = pytest.mark.slow   # Ray Train with DDP: left to make test-all

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def small_net():
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))


class CrashOnceNet(torch.nn.Sequential):
    """``small_net`` (same layers, same initial weights) whose worker ``rank`` exits once.

    Its ``crash_at``-th forward on that rank waits until Ray Train has registered the
    last reported checkpoint, then ends the process like a kill (no exception, no
    clean-up). Ray Train v2's controller writes ``checkpoint_manager_snapshot.json`` in
    the run's folder when it registers one; waiting for it makes the crash land after
    the epoch-0 checkpoint is known, however slow the machine. ``marker`` records the
    crash, so the restarted worker (a fresh model) does not crash again.
    """

    def __init__(self, rank: int, crash_at: int, runs: str, marker: str) -> None:
        super().__init__(*small_net())
        self.crash_rank, self.crash_at, self.runs, self.marker = rank, crash_at, runs, marker
        self.forwards = 0

    def forward(self, x):
        import ray.train

        self.forwards += 1
        if (self.forwards == self.crash_at and not os.path.exists(self.marker)
                and ray.train.get_context().get_world_rank() == self.crash_rank):
            deadline = time.monotonic() + 120.0
            pattern = os.path.join(self.runs, "*", "checkpoint_manager_snapshot.json")
            while not glob.glob(pattern) and time.monotonic() < deadline:
                time.sleep(0.1)
            open(self.marker, "w").close()
            os._exit(1)
        return super().forward(x)


def crash_once_net(rank: int, crash_at: int, runs: str, marker: str) -> CrashOnceNet:
    return CrashOnceNet(rank, crash_at, runs, marker)


@pytest.fixture(scope="module", autouse=True)
def embedded_ray():
    runtime.ensure_ray(num_cpus=2)
    yield
    runtime.shutdown_ray()


def test_ddp_resumes_after_a_worker_dies_and_equals_single_process(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(96, 6)).astype(np.float32), rng.integers(0, 3, size=96)
    common = dict(epochs=3, lr=0.2, seed=5)
    reference = train(small_net, (X, y), strategy="single", batch_size=16, **common)
    # The crash comes in epoch 1 (96 samples / 2 workers / batch 8 = 6 steps an epoch:
    # the 7th forward), once Ray Train has registered the epoch-0 checkpoint.
    runs = tmp_path / "runs"
    model_fn = functools.partial(crash_once_net, rank=1, crash_at=7, runs=str(runs),
                                 marker=str(tmp_path / "crashed-once"))
    result = train_ddp(model_fn, X, y, workers=2, use_gpu=False, batch_size=8, loss="auto",
                       max_failures=1, storage_path=str(runs), **common)
    assert (tmp_path / "crashed-once").exists()  # the crash happened
    assert [epoch["epoch"] for epoch in result.history] == [0, 1, 2]
    assert result.history[1]["resumed"] and not result.history[0]["resumed"]
    for name, value in reference.state_dict.items():
        torch.testing.assert_close(result.state_dict[name], value, atol=1e-5, rtol=1e-4)
    for ours, theirs in zip(result.history, reference.history):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-4)  # mean over both ranks
    assert result.history[-1]["samples_per_s"] > 0
    assert [(p["rank"], p["device"], p["backend"]) for p in result.placement] == [(0, "cpu", "gloo"), (1, "cpu", "gloo")]


def test_ddp_refuses_more_workers_than_cpus():
    from gradkit.runtime import InsufficientResourcesError
    with pytest.raises(InsufficientResourcesError, match=r"strategy='ddp', workers=3.*CPU: 3.*CPU: 2"):
        train(small_net, (np.zeros((30, 6), np.float32), np.zeros(30, np.int64)), strategy="ddp",
              workers=3, batch_size=2, use_gpu=False)
