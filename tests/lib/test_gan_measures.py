"""gradkit.gan.measures and digit_measures against cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradkit.gan import data, digit_measures, measures


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
    assert measures.modes_covered(samples, ring.centers, ring.std) == 4   # 50, 30, 20, 100 >= 20
    assert measures.modes_covered(samples, ring.centers, ring.std, min_count=1) == 6
    np.testing.assert_array_equal(measures.mode_counts(samples, ring.centers, ring.std), counts)
    assert measures.high_quality_share(samples, ring.centers, ring.std) == pytest.approx(len(good) / len(samples))
    # a wider radius takes the "bad" samples in as well
    assert measures.high_quality_share(samples, ring.centers, ring.std, radius_sd=3.5) == 1.0


def test_true_mixture_samples_cover_every_mode_and_match_the_gaussian_3sd_share():
    """In 2-D, P(||x - c|| <= 3 s) = 1 - exp(-9/2) (a Rayleigh distance) = 0.98889."""
    for mixture in (data.ring_of_gaussians(n=20_000, seed=1), data.grid_of_gaussians(n=20_000, seed=1)):
        assert measures.modes_covered(mixture.X, mixture.centers, mixture.std) == len(mixture.centers)
        share = measures.high_quality_share(mixture.X, mixture.centers, mixture.std)
        assert share == pytest.approx(1 - np.exp(-4.5), abs=0.003)
        nearest, _ = measures.nearest_mode(mixture.X, mixture.centers, mixture.std)
        assert np.mean(nearest == mixture.mode) > 0.999


def test_collapsed_samples_cover_one_mode_and_torch_tensors_work():
    grid = data.grid_of_gaussians(n=10)
    assert len(grid.centers) == 25 and set(np.unique(grid.centers)) == {-4, -2, 0, 2, 4}
    collapsed = torch.tensor(grid.centers[7]).repeat(2500, 1)
    assert measures.modes_covered(collapsed, grid.centers, grid.std) == 1
    assert measures.high_quality_share(collapsed, grid.centers, grid.std) == 1.0
    with pytest.raises(ValueError, match="min_count"):
        measures.modes_covered(collapsed, grid.centers, grid.std, min_count=0)
    with pytest.raises(ValueError, match="same d"):
        measures.modes_covered(np.zeros((3, 3)), grid.centers, grid.std)


def test_gan_digits_are_in_minus_one_one():
    X, y = data.gan_digits("test")
    assert X.shape == (360, 1, 8, 8) and X.dtype == np.float32 and len(y) == 360
    assert X.min() == -1.0 and X.max() == 1.0


def test_sqrtm_psd_squares_back():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4))
    psd = a @ a.T  # rank 4: two zero eigenvalues
    root = digit_measures.sqrtm_psd(psd)
    np.testing.assert_allclose(root @ root, psd, atol=1e-10)
    np.testing.assert_allclose(root, root.T)
    assert np.linalg.eigvalsh(root).min() > -1e-7
    with pytest.raises(ValueError, match="symmetric"):
        digit_measures.sqrtm_psd(np.triu(np.ones((3, 3))))


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(1)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert digit_measures.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9 + 1)
    # diagonal (commuting) covariances: ||dm||^2 + sum (sqrt a - sqrt b)^2
    a, b = rng.uniform(0.1, 3, size=5), rng.uniform(0.1, 3, size=5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    want = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert digit_measures.frechet_distance(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(want, rel=1e-10)
    # general: tr (S1 S2)^{1/2} = sum of the square roots of the eigenvalues of S1 S2 (real, >= 0)
    x, y = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = x @ x.T + 0.1 * np.eye(5), y @ y.T + 0.1 * np.eye(5)
    cross = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    want = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross
    assert digit_measures.frechet_distance(m1, s1, m2, s2) == pytest.approx(want, rel=1e-9)
    assert digit_measures.frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-9)


def test_digit_classifier_measures_on_real_digits_and_on_one_class():
    X_test, y_test = data.gan_digits("test", images=False)
    classifier = digit_measures.digit_classifier()
    predicted = digit_measures.predicted_classes(X_test, classifier)
    assert np.mean(predicted == y_test) > 0.93
    assert digit_measures.classes_produced(X_test, classifier) == 10
    counts = np.bincount(predicted, minlength=10) / len(predicted)
    assert digit_measures.class_entropy(X_test, classifier) == pytest.approx(-np.sum(counts * np.log(counts)))
    assert digit_measures.class_entropy(X_test, classifier) > 0.95 * np.log(10)
    threes = X_test[predicted == 3]
    assert digit_measures.classes_produced(threes, classifier) == 1
    assert digit_measures.class_entropy(threes, classifier) == 0.0
    X_train, _ = data.gan_digits("train", images=False)
    real_vs_real = digit_measures.feature_frechet_distance(X_train, X_test, classifier)
    real_vs_threes = digit_measures.feature_frechet_distance(X_train, threes, classifier)
    noise = np.random.default_rng(0).uniform(-1, 1, size=(500, 64))
    real_vs_noise = digit_measures.feature_frechet_distance(X_train, noise, classifier)
    assert real_vs_real < real_vs_threes < real_vs_noise


def test_digit_classifier_trains_even_when_first_called_under_no_grad():
    with torch.no_grad():
        classifier = digit_measures.digit_classifier(seed=3, steps=2)
    assert not classifier.training
