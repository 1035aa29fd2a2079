"""gradkit.gan.mode_coverage (and the mixtures of gradkit.gan.data) against cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradkit.gan import data, mode_coverage


def planted(centers, counts, offset_sd, std, rng):
    """counts[k] samples at distance offset_sd * std from centre k, in random directions."""
    points = []
    for center, count in zip(centers, counts):
        angle = rng.uniform(0, 2 * np.pi, size=count)
        points.append(center + offset_sd * std * np.stack([np.cos(angle), np.sin(angle)], axis=1))
    return np.concatenate(points)


def test_modes_covered_and_high_quality_share_on_planted_samples():
    ring = data.ring_of_gaussians(n=100)
    rng = np.random.default_rng(0)
    counts = [50, 30, 20, 19, 0, 0, 5, 100]
    good = planted(ring.centers, counts, 2.9, ring.std, rng)        # inside 3 sd
    bad = planted(ring.centers, [40] * 8, 3.2, ring.std, rng)       # just outside
    samples = np.concatenate([good, bad])
    assert mode_coverage.modes_covered(samples, ring.centers, ring.std) == 4   # 50, 30, 20, 100 >= 20
    assert mode_coverage.modes_covered(samples, ring.centers, ring.std, min_count=1) == 6
    np.testing.assert_array_equal(mode_coverage.mode_counts(samples, ring.centers, ring.std), counts)
    assert mode_coverage.high_quality_share(samples, ring.centers, ring.std) == pytest.approx(len(good) / len(samples))
    # a wider radius takes the "bad" samples in as well
    assert mode_coverage.high_quality_share(samples, ring.centers, ring.std, radius_sd=3.5) == 1.0


def test_true_mixture_samples_cover_every_mode_and_match_the_gaussian_3sd_share():
    """In 2-D, P(||x - c|| <= 3 s) = 1 - exp(-9/2) (a Rayleigh distance) = 0.98889."""
    for mixture in (data.ring_of_gaussians(n=20_000, seed=1), data.grid_of_gaussians(n=20_000, seed=1)):
        assert mode_coverage.modes_covered(mixture.X, mixture.centers, mixture.std) == len(mixture.centers)
        share = mode_coverage.high_quality_share(mixture.X, mixture.centers, mixture.std)
        assert share == pytest.approx(1 - np.exp(-4.5), abs=0.003)
        nearest, _ = mode_coverage.nearest_mode(mixture.X, mixture.centers, mixture.std)
        assert np.mean(nearest == mixture.mode) > 0.999


def test_collapsed_samples_cover_one_mode_and_torch_tensors_work():
    grid = data.grid_of_gaussians(n=10)
    assert len(grid.centers) == 25 and set(np.unique(grid.centers)) == {-4, -2, 0, 2, 4}
    collapsed = torch.tensor(grid.centers[7]).repeat(2500, 1)
    assert mode_coverage.modes_covered(collapsed, grid.centers, grid.std) == 1
    assert mode_coverage.high_quality_share(collapsed, grid.centers, grid.std) == 1.0
    with pytest.raises(ValueError, match="min_count"):
        mode_coverage.modes_covered(collapsed, grid.centers, grid.std, min_count=0)
    with pytest.raises(ValueError, match="same d"):
        mode_coverage.modes_covered(np.zeros((3, 3)), grid.centers, grid.std)


def test_gan_digits_are_in_minus_one_one():
    X, y = data.gan_digits("test")
    assert X.shape == (360, 1, 8, 8) and X.dtype == np.float32 and len(y) == 360
    assert X.min() == -1.0 and X.max() == 1.0

