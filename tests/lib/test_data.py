"""gradkit.data: the bundled digits, synthetic sets and the DataLoader."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradkit.data import (
    DataLoader,
    digits_split_indices,
    gaussian_ring,
    linear_regression,
    load_digits,
    polynomial_regression,
    ring_centers,
    spirals,
)


# ----- digits ------------------------------------------------------------------------
def test_digits_shapes_classes_and_ranges():
    X, y = load_digits("all", scale=False)
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.all(X == np.round(X))
    assert set(np.unique(y)) == set(range(10))
    assert np.bincount(y).min() >= 170  # roughly balanced, about 180 per class
    Xs, _ = load_digits("all")
    np.testing.assert_allclose(Xs, X / 16.0)
    images, _ = load_digits("test", flatten=False)
    assert images.shape == (360, 8, 8)


def test_digits_split_is_fixed_disjoint_and_covering():
    train, test = digits_split_indices()
    assert len(train) == 1437 and len(test) == 360
    assert not set(train) & set(test) and set(train) | set(test) == set(range(1797))
    X_all, y_all = load_digits("all")
    X_test, y_test = load_digits("test")
    np.testing.assert_array_equal(X_test, X_all[test])
    np.testing.assert_array_equal(y_test, y_all[test])
    assert set(np.unique(y_test)) == set(range(10))
    # Fixed: a second call (and, the permutation being seeded, any process) agrees.
    again_train, again_test = digits_split_indices()
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(test, again_test)


def test_digits_arrays_are_fresh_copies():
    X, _ = load_digits("train")
    X[:] = -1
    assert load_digits("train")[0].min() == 0


def test_digits_bad_split():
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test', 'all'\), got 'valid'"):
        load_digits("valid")


def test_library_does_not_import_sklearn():
    # A fresh interpreter: this test process may have sklearn loaded for other reasons.
    code = ("import sys, gradkit.data, gradkit.training; gradkit.data.load_digits(); "
            "assert 'sklearn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----- synthetic ---------------------------------------------------------------------
def test_linear_regression_recovers_weights_by_least_squares():
    data = linear_regression(n=500, dim=3, noise=0.01, seed=1, bias=0.5)
    assert data.X.shape == (500, 3) and data.y.shape == (500,)
    design = np.hstack([data.X, np.ones((500, 1), dtype=np.float32)])
    solution, *_ = np.linalg.lstsq(design, data.y, rcond=None)
    np.testing.assert_allclose(solution, [*data.weights, 0.5], atol=0.01)
    again = linear_regression(n=500, dim=3, noise=0.01, seed=1, bias=0.5)
    np.testing.assert_array_equal(data.X, again.X)


def test_polynomial_regression_noise_free_is_exact():
    data = polynomial_regression(n=20, degree=3, noise=0.0, seed=2)
    assert data.x.shape == (20,) and data.coefficients.shape == (4,)
    assert np.all(np.abs(data.x) <= 1)
    fitted = np.polynomial.polynomial.polyfit(data.x, data.y, 3)
    np.testing.assert_allclose(fitted, data.coefficients, atol=1e-3)


def test_gaussian_ring_points_sit_near_their_modes():
    X, mode = gaussian_ring(n=2000, modes=8, radius=2.0, std=0.02, seed=3)
    assert X.shape == (2000, 2) and mode.shape == (2000,)
    assert set(np.unique(mode)) == set(range(8))
    centres = ring_centers(8, 2.0)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0, rtol=1e-6)
    distances = np.linalg.norm(X - centres[mode], axis=1)
    assert distances.max() < 0.02 * 6


def test_spirals_shapes_balance_and_radius():
    X, y = spirals(n=301, classes=3, noise=0.1, seed=4)
    assert X.shape == (301, 2) and y.shape == (301,)
    assert np.ptp(np.bincount(y)) <= 1
    assert np.linalg.norm(X, axis=1).max() <= 1.0 + 1e-6


def test_synthetic_argument_errors():
    with pytest.raises(ValueError, match="linear_regression: n must be an int >= 1, got 0"):
        linear_regression(n=0)
    with pytest.raises(ValueError, match="polynomial_regression: degree"):
        polynomial_regression(degree=-1)
    with pytest.raises(ValueError, match="spirals: classes"):
        spirals(classes=0)


# ----- DataLoader --------------------------------------------------------------------
def test_loader_batches_in_order_without_shuffle():
    X, y = np.arange(10)[:, None] * 1.0, np.arange(10)
    loader = DataLoader(X, y, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.arange(10))
    np.testing.assert_array_equal(batches[1][0][:, 0], [4, 5, 6, 7])


def test_loader_drop_last_and_x_only():
    loader = DataLoader(np.arange(10), batch_size=4, drop_last=True)
    batches = list(loader)
    assert len(loader) == 2 and all(len(b) == 4 for b in batches)


def test_seeded_shuffle_is_reproducible_and_reshuffles_each_epoch():
    X = np.arange(50)
    first = DataLoader(X, batch_size=7, shuffle=True, seed=5)
    second = DataLoader(X, batch_size=7, shuffle=True, seed=5)
    epoch0 = np.concatenate(list(first))
    np.testing.assert_array_equal(epoch0, np.concatenate(list(second)))
    epoch1 = np.concatenate(list(first))
    assert sorted(epoch0) == sorted(epoch1) == list(range(50))
    assert not np.array_equal(epoch0, epoch1)
    first.set_epoch(0)  # going back to an epoch gives its order again
    np.testing.assert_array_equal(np.concatenate(list(first)), epoch0)
    other_seed = np.concatenate(list(DataLoader(X, batch_size=7, shuffle=True, seed=6)))
    assert not np.array_equal(epoch0, other_seed)


def test_unseeded_shuffles_differ_between_loaders():
    X = np.arange(100)
    a = np.concatenate(list(DataLoader(X, batch_size=10, shuffle=True)))
    b = np.concatenate(list(DataLoader(X, batch_size=10, shuffle=True)))
    assert not np.array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    batch_size=st.integers(1, 9),
    world_size=st.integers(1, 5),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    epochs=st.integers(1, 3),
)
def test_shards_are_disjoint_near_equal_and_cover(n, batch_size, world_size, shuffle, drop_last, epochs):
    X = np.arange(n)
    full = DataLoader(X, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=11)
    shards = [full.shard(rank, world_size) for rank in range(world_size)]
    for _ in range(epochs):
        expected_batches = [len(s) for s in shards]  # len() describes the coming epoch
        batches = [list(s) for s in shards]
        assert [len(b) for b in batches] == expected_batches
        per_rank = [np.concatenate(b) if b else np.array([], dtype=int) for b in batches]
        seen = np.concatenate(per_rank)
        assert len(set(seen.tolist())) == len(seen)  # disjoint, also after reshuffling
        if not drop_last:
            assert sorted(seen.tolist()) == list(range(n))  # together they cover the data
        shares = [len(s.indices()) for s in shards]
        assert max(shares) - min(shares) <= 1 and sum(shares) == n  # near-equal


def test_sharded_batches_together_form_the_large_batch():
    # Synchronous data parallelism equals large-batch training: batch i of all ranks
    # together is batch i of one loader with world_size times the batch size.
    X = np.arange(48)
    world_size, per_rank = 4, 3
    big = list(DataLoader(X, batch_size=per_rank * world_size, shuffle=True, seed=2))
    full = DataLoader(X, batch_size=per_rank, shuffle=True, seed=2)
    rank_batches = [list(full.shard(r, world_size)) for r in range(world_size)]
    for i, large in enumerate(big):
        together = np.concatenate([rank_batches[r][i] for r in range(world_size)])
        assert sorted(together.tolist()) == sorted(large.tolist())


def test_shards_reshuffle_per_epoch():
    shard = DataLoader(np.arange(40), batch_size=5, shuffle=True, seed=3).shard(1, 2)
    first, second = np.concatenate(list(shard)), np.concatenate(list(shard))
    assert not np.array_equal(first, second)


def test_loader_errors():
    with pytest.raises(ValueError, match="X has 3 examples but y has shape"):
        DataLoader(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        DataLoader(np.zeros(3), batch_size=0)
    loader = DataLoader(np.zeros(10), batch_size=2, shuffle=True, seed=0)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 4\), got 4"):
        loader.shard(4, 4)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\), got -1"):
        loader.shard(-1, 2)
    with pytest.raises(ValueError, match="world_size must be an int >= 1"):
        loader.shard(0, 0)
    with pytest.raises(ValueError, match="already a shard"):
        loader.shard(0, 2).shard(0, 2)
    with pytest.raises(ValueError, match="needs an explicit seed"):
        DataLoader(np.zeros(10), shuffle=True).shard(0, 2)
    with pytest.raises(ValueError, match="set_epoch"):
        loader.set_epoch(-1)


def test_loader_shards_and_distributed_sampler_share_one_rule():
    # One sharding rule in the kit: DataLoader.shard keeps every sample (shards differ
    # by at most one); ShardedSampler, for workers in collectives, drops the remainder.
    from gradkit.data.sharding import shard_indices

    loader = DataLoader(np.arange(23), batch_size=4, shuffle=True, seed=7)
    for rank in range(3):
        shard = loader.shard(rank, 3)
        for epoch in range(2):
            kept = shard_indices(23, rank, 3, epoch, seed=7)
            assert shard.indices(epoch).tolist() == kept.tolist()
            cut = shard_indices(23, rank, 3, epoch, seed=7, drop_remainder=True)
            assert len(cut) == 23 // 3 and cut.tolist() == kept[:len(cut)].tolist()
