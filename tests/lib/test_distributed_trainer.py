"""train(): synchronous data parallel equals large-batch training; staleness; faults."""

import os
import sys

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from gradkit import runtime
from gradkit.data.sharding import shard_indices
from gradkit.distributed.errors import ActorDiedError
from gradkit.distributed.trainer import train
from gradkit.distributed.worker import WorkerError
from gradkit.runtime import InsufficientResourcesError

pytestmark = pytest.mark.slow   # every strategy on Ray: left to make test-all

# The models below live in this test module, which Ray's worker processes cannot import;
# ship them by value instead.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

FAIL_MARK = 1234.0  # an input value that makes FragileNet fail


def small_net():
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))


class FragileNet(torch.nn.Module):
    """A small net that raises, or kills its own process, when it sees FAIL_MARK."""

    def __init__(self, how):
        super().__init__()
        self.how = how
        self.layer = torch.nn.Linear(6, 3)

    def forward(self, x):
        if (x == FAIL_MARK).any():
            if self.how == "exit":
                os._exit(1)
            raise FloatingPointError("saw the failure mark")
        return self.layer(x)


def make_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, size=n)


@pytest.fixture(scope="module", autouse=True)
def embedded_ray():
    runtime.ensure_ray(num_cpus=4)
    yield
    runtime.shutdown_ray()


def assert_same_parameters(result, reference, atol=1e-5):
    assert result.state_dict.keys() == reference.state_dict.keys()
    for name in reference.state_dict:
        torch.testing.assert_close(result.state_dict[name], reference.state_dict[name], atol=atol, rtol=1e-4)


@pytest.mark.parametrize("strategy,workers,shards", [("ring", 2, 1), ("ring", 3, 1), ("ps-sync", 2, 2),
                                                     ("ps-sync", 3, 1), ("torch-allreduce", 2, 1)])
def test_sync_data_parallel_equals_single_process_with_combined_batch(strategy, workers, shards):
    data = make_data()
    per_worker_batch = 8
    common = dict(epochs=2, lr=0.2, seed=7, use_gpu=False)
    reference = train(small_net, data, strategy="single", batch_size=workers * per_worker_batch, **common)
    result = train(small_net, data, strategy=strategy, workers=workers, batch_size=per_worker_batch,
                   server_shards=shards, **common)
    assert_same_parameters(result, reference)
    # The model moved: equality is not the trivial "nothing happened".
    start = small_net().state_dict()
    assert any(not torch.allclose(start[k], reference.state_dict[k]) for k in start)
    for ours, theirs in zip(result.history, reference.history):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
        assert ours["samples_per_s"] > 0 and ours["compute_s"] >= 0 and ours["communication_s"] >= 0


def test_async_with_bound_zero_equals_sync_and_bound_is_never_exceeded():
    data = make_data()
    common = dict(workers=2, batch_size=8, epochs=2, lr=0.2, seed=3, use_gpu=False, server_shards=2)
    # "single" with the combined batch is the synchronous result (previous test).
    sync = train(small_net, data, strategy="single", batch_size=16, epochs=2, lr=0.2, seed=3)
    bound_zero = train(small_net, data, strategy="ps-async", staleness=0, **common)
    assert_same_parameters(bound_zero, sync)
    assert all(epoch["max_staleness"] == 0 for epoch in bound_zero.history)
    bound_two = train(small_net, data, strategy="ps-async", staleness=2, **common)
    recorded = [s for epoch in bound_two.history for s in epoch["staleness"]]
    assert len(recorded) == 2 * 2 * (120 // 2 // 8)  # every read of every worker, both epochs
    assert max(recorded) <= 2 and min(recorded) >= 0
    assert np.isfinite(bound_two.history[-1]["loss"])


def test_bad_arguments_are_named():
    data = make_data()
    with pytest.raises(ValueError, match="strategy must be one of"):
        train(small_net, data, strategy="allreduce")
    with pytest.raises(ValueError, match="'single' runs one process, got workers=2"):
        train(small_net, data, strategy="single", workers=2)
    with pytest.raises(ValueError, match="fewer than one batch of 100"):
        train(small_net, data, strategy="ring", workers=2, batch_size=100)
    with pytest.raises(ValueError, match="staleness must be >= 0"):
        train(small_net, data, strategy="ps-async", staleness=-1)


def test_world_size_larger_than_cluster_names_asked_and_present_resources():
    with pytest.raises(InsufficientResourcesError) as info:
        train(small_net, make_data(n=400), strategy="ring", workers=9, batch_size=4, use_gpu=False)
    message = str(info.value)
    assert "workers=9" in message and "CPU: 9" in message and "CPU: 4" in message


def test_use_gpu_true_without_gpus_is_a_clear_error():
    with pytest.raises(ValueError, match="use_gpu=True but no GPU is present"):
        train(small_net, make_data(), strategy="ring", workers=2, batch_size=8, use_gpu=True)


def _data_failing_on_rank(rank, workers=2, n=120):
    X, y = make_data(n)
    X[shard_indices(n, rank, workers, epoch=0, seed=0)[0]] = FAIL_MARK  # rank's first batch
    return X, y


@pytest.mark.parametrize("strategy", ["ring", "ps-async"])
def test_worker_that_raises_is_named_by_rank(strategy):
    with pytest.raises(WorkerError, match=r"worker rank 1 failed in .*FloatingPointError: saw the failure mark"):
        train(lambda: FragileNet("raise"), _data_failing_on_rank(1), strategy=strategy,
              workers=2, batch_size=8, use_gpu=False, timeout_s=60)


@pytest.mark.parametrize("strategy", ["ring", "ps-async", "torch-allreduce"])
def test_worker_killed_mid_epoch_is_reported_with_recovery_advice(strategy):
    # torch-allreduce: the surviving rank is blocked inside a gloo all-reduce waiting for
    # the dead one; the error must still come at once (and the survivor is cleaned up).
    with pytest.raises(ActorDiedError, match=r"worker rank 1 died .*max_failures"):
        train(lambda: FragileNet("exit"), _data_failing_on_rank(1), strategy=strategy,
              workers=2, batch_size=8, use_gpu=False, timeout_s=60)
