"""Ring all-reduce over Ray actors and torch.distributed all-reduce, against a plain sum."""

import pytest
import torch
from hypothesis import given, settings, strategies as st

ray = pytest.importorskip("ray")

from gradkit import runtime
from gradkit.distributed.devices import DeviceMismatchError, check_device
from gradkit.distributed.ring_allreduce import RingWorker, chunk_bounds, ring_allreduce
from gradkit.distributed.torch_allreduce import (TorchAllReduceWorker, destroy_process_group,
                                                 init_process_group, torch_allreduce)


pytestmark = pytest.mark.slow   # Ray actors: left to make test-all


@pytest.fixture(scope="module")
def ring_workers():
    runtime.ensure_ray(num_cpus=4)
    workers = [RingWorker.remote() for _ in range(4)]
    runtime.wait_until_ready(workers, "test ring workers")
    yield workers
    runtime.shutdown_ray()


@settings(max_examples=60, deadline=None)
@given(numel=st.integers(0, 50), n=st.integers(1, 6))
def test_chunk_bounds_cover_range_evenly(numel, n):
    bounds = chunk_bounds(numel, n)
    assert len(bounds) == n
    assert bounds[0][0] == 0 and bounds[-1][1] == numel
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("numel", [1, 2, 3, 5, 10, 1001])
def test_ring_allreduce_equals_plain_sum(ring_workers, n, numel):
    # numel covers sizes smaller than n, not divisible by n, and divisible by n.
    members = ring_workers[:n]
    tensors = [torch.randn(numel, dtype=torch.float64, generator=torch.Generator().manual_seed(rank))
               for rank in range(n)]
    ray.get([m.set_tensor.remote(t) for m, t in zip(members, tensors)])
    ring_allreduce(members, timeout_s=60)
    expected = torch.stack(tensors).sum(dim=0)
    for result in ray.get([m.get_tensor.remote() for m in members]):
        torch.testing.assert_close(result, expected)


def test_ring_allreduce_average_keeps_shape_and_dtype(ring_workers):
    members = ring_workers[:3]
    tensors = [torch.full((7,), float(rank), dtype=torch.float32) for rank in range(3)]
    ray.get([m.set_tensor.remote(t) for m, t in zip(members, tensors)])
    ring_allreduce(members, average=True, timeout_s=60)
    for result in ray.get([m.get_tensor.remote() for m in members]):
        assert result.dtype == torch.float32
        torch.testing.assert_close(result, torch.full((7,), 1.0))


def test_ring_allreduce_rejects_different_sizes(ring_workers):
    members = ring_workers[:2]
    ray.get([members[0].set_tensor.remote(torch.ones(4)), members[1].set_tensor.remote(torch.ones(6))])
    with pytest.raises(ValueError, match="same size"):
        ring_allreduce(members, timeout_s=60)


def test_ring_worker_rejects_tensor_on_wrong_device(ring_workers):
    with pytest.raises(DeviceMismatchError, match="expected a tensor on cpu, got one on meta"):
        ray.get(ring_workers[0].set_tensor.remote(torch.empty(3, device="meta")))


def test_check_device_names_both_devices():
    check_device(torch.zeros(2), "cpu", "op")  # same device: no error
    with pytest.raises(DeviceMismatchError, match=r"my op: expected a tensor on cpu, got one on meta \(shape \(2, 3\)\)"):
        check_device(torch.empty(2, 3, device="meta"), "cpu", "my op")


def test_empty_member_list_is_an_error():
    with pytest.raises(ValueError, match="at least one member"):
        ring_allreduce([])


@pytest.mark.parametrize("n", [2, 3])
def test_torch_gloo_allreduce_matches_ring_and_plain_mean(ring_workers, n):
    torch_members = [TorchAllReduceWorker.remote() for _ in range(n)]
    try:
        assert init_process_group(torch_members, backend="auto", timeout_s=60) == "gloo"
        tensors = [torch.randn(11, generator=torch.Generator().manual_seed(10 + r)) for r in range(n)]
        ray.get([m.set_tensor.remote(t) for m, t in zip(torch_members, tensors)])
        torch_allreduce(torch_members, average=True, timeout_s=60)
        ray.get([m.set_tensor.remote(t) for m, t in zip(ring_workers[:n], tensors)])
        ring_allreduce(ring_workers[:n], average=True, timeout_s=60)
        expected = torch.stack(tensors).mean(dim=0)
        torch_results = ray.get([m.get_tensor.remote() for m in torch_members])
        ring_results = ray.get([m.get_tensor.remote() for m in ring_workers[:n]])
        for torch_result, ring_result in zip(torch_results, ring_results):
            torch.testing.assert_close(torch_result, expected)
            torch.testing.assert_close(ring_result, torch_result)
        destroy_process_group(torch_members)
    finally:
        for member in torch_members:
            ray.kill(member)
