"""Sharding: disjoint, covering, reshuffled per epoch, and lined up with large batches (no Ray)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from torch.utils.data import BatchSampler

from gradkit.data.sharding import epoch_permutation, shard_indices
from gradkit.distributed.sharding import ShardedSampler


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 200), world=st.integers(1, 6), epoch=st.integers(0, 5), seed=st.integers(0, 3))
def test_shards_are_disjoint_equal_and_cover_the_truncated_epoch(n, world, epoch, seed):
    if n < world:
        with pytest.raises(ValueError, match="cannot be split"):
            shard_indices(n, 0, world, epoch, seed, drop_remainder=True)
        with pytest.raises(ValueError, match="cannot be split"):
            ShardedSampler(n, 0, world)
        return
    shards = [shard_indices(n, rank, world, epoch, seed, drop_remainder=True).tolist()
              for rank in range(world)]
    flat = [i for shard in shards for i in shard]
    assert len(set(flat)) == len(flat)  # disjoint
    assert {len(shard) for shard in shards} == {n // world}  # equal sizes
    assert set(flat) == set(epoch_permutation(n, seed, epoch)[: n - n % world].tolist())
    sampler = ShardedSampler(n, world - 1, world, seed=seed)
    sampler.set_epoch(epoch)
    assert list(sampler) == shards[-1]  # the sampler follows the same rule


def test_each_epoch_is_a_new_permutation_and_shards_stay_disjoint():
    sampler_0, sampler_1 = ShardedSampler(100, 0, 2, seed=3), ShardedSampler(100, 1, 2, seed=3)
    orders = []
    for epoch in range(3):
        sampler_0.set_epoch(epoch)
        sampler_1.set_epoch(epoch)
        first, second = list(sampler_0), list(sampler_1)
        assert not set(first) & set(second)
        assert len(first) == len(sampler_0) == 50
        orders.append(first)
    assert orders[0] != orders[1] != orders[2]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(4, 120), world=st.integers(1, 4), batch=st.integers(1, 8), epoch=st.integers(0, 3))
def test_union_of_worker_batches_is_the_large_batch(n, world, batch, epoch):
    """Worker batches of size b at step t together form the single process's batch of size world*b."""
    if n // world < batch:
        return
    per_worker = []
    for rank in range(world):
        sampler = ShardedSampler(n, rank, world, seed=1)
        sampler.set_epoch(epoch)
        per_worker.append(list(BatchSampler(sampler, batch, drop_last=True)))
    single = ShardedSampler(n, 0, 1, seed=1)
    single.set_epoch(epoch)
    big_batches = list(BatchSampler(single, world * batch, drop_last=True))
    assert len(big_batches) == len(per_worker[0])
    for step, big in enumerate(big_batches):
        assert sorted(i for worker in per_worker for i in worker[step]) == sorted(big)


def test_no_shuffle_keeps_order_and_bad_rank_is_rejected():
    assert shard_indices(6, 1, 2, shuffle=False).tolist() == [1, 3, 5]
    assert shard_indices(7, 1, 2, shuffle=False).tolist() == [1, 3, 5]
    assert shard_indices(7, 0, 2, shuffle=False).tolist() == [0, 2, 4, 6]  # keeps the remainder
    assert shard_indices(7, 0, 2, shuffle=False, drop_remainder=True).tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\), got 2"):
        ShardedSampler(10, 2, 2)
    with pytest.raises(ValueError, match="world_size must be an int >= 1"):
        shard_indices(10, 0, 0)
    assert np.array_equal(epoch_permutation(5, 0, 0, shuffle=False), np.arange(5))
