"""GPU decisions: GPUs per worker, NCCL or gloo, and fractional placement on one GPU.

The placement test declares one *logical* GPU to Ray (``num_gpus=1``) on this CPU
machine: Ray then schedules and accounts for GPU shares exactly as on a real one-GPU
machine and gives each actor its GPU id, while torch, seeing no CUDA, computes on the
CPU. What runs on a real GPU is ``bench/gpu_check.py``'s job.
"""

import sys

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from gradkit import runtime
from gradkit.distributed.devices import (collective_backend, gpus_per_worker, resolve_use_gpu,
                                         worker_resources)
from gradkit.distributed.pipeline import Pipeline, split_sequential
from gradkit.distributed.trainer import train

pytestmark = pytest.mark.slow   # Ray with a logical GPU: left to make test-all

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def small_net():
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))


@pytest.mark.parametrize("workers,gpus,share", [(2, 4, 1.0), (4, 4, 1.0), (2, 1, 0.5), (3, 1, 0.3333),
                                                (3, 2, 0.6666), (5, 0, 0.0)])
def test_gpus_per_worker_gives_whole_gpus_or_equal_shares_that_fit(workers, gpus, share):
    assert gpus_per_worker(workers, gpus) == share
    assert workers * gpus_per_worker(workers, gpus) <= max(gpus, 0)


def test_gpus_per_worker_rejects_no_workers():
    with pytest.raises(ValueError, match="gpus_per_worker: workers must be a positive int, got 0"):
        gpus_per_worker(0, 1)


def test_nccl_only_when_every_rank_has_its_own_gpu():
    assert collective_backend(["cuda:0", "cuda:0"], [[0], [1]]) == "nccl"
    assert collective_backend(["cuda:0", "cuda:0"], [[0], [0]]) == "gloo"  # a shared GPU
    assert collective_backend(["cuda:0", "cpu"], [[0], []]) == "gloo"
    assert collective_backend(["cpu", "cpu"], [[], []]) == "gloo"


def test_use_gpu_must_be_a_known_value():
    with pytest.raises(ValueError, match="use_gpu must be True, False or 'auto', got 'yes'"):
        resolve_use_gpu("yes")


@pytest.fixture(scope="module")
def ray_with_one_logical_gpu():
    if ray.is_initialized():
        pytest.skip("needs its own Ray instance")
    runtime.ensure_ray(num_cpus=4, num_gpus=1)
    yield
    runtime.shutdown_ray()


def test_workers_share_one_gpu_and_still_equal_single_process(ray_with_one_logical_gpu):
    assert resolve_use_gpu("auto") is True  # the cluster reports a GPU
    assert worker_resources(2, use_gpu=True) == {"CPU": 1.0, "GPU": 0.5}
    rng = np.random.default_rng(0)
    data = rng.normal(size=(64, 6)).astype(np.float32), rng.integers(0, 3, size=64)
    reference = train(small_net, data, strategy="single", batch_size=16, epochs=1, lr=0.2, use_gpu=False)
    result = train(small_net, data, strategy="ring", workers=2, batch_size=8, epochs=1, lr=0.2)
    # Both replicas were placed on the one GPU (id 0), half of it each.
    assert [[str(i) for i in place["gpu_ids"]] for place in result.placement] == [["0"], ["0"]]
    expected_device = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert {place["device"] for place in result.placement} == {expected_device}
    for name, value in reference.state_dict.items():
        torch.testing.assert_close(result.state_dict[name], value, atol=1e-5, rtol=1e-4)


def test_pipeline_stages_share_one_gpu(ray_with_one_logical_gpu):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with Pipeline(split_sequential(model, 2), use_gpu="auto") as pipe:
        assert [[str(i) for i in place["gpu_ids"]] for place in pipe.placement()] == [["0"], ["0"]]
        free = ray.available_resources().get("GPU", 0.0)
        assert free == pytest.approx(0.0, abs=1e-3)  # two halves of the one GPU are taken
