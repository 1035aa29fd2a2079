"""gradkit.gan.fid and digit_classifier: closed forms of the Frechet distance, and the
classifier's measures on real digits, one class of them and noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradkit.gan import data, digit_classifier, fid


def test_sqrtm_psd_squares_back():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4))
    psd = a @ a.T  # rank 4: two zero eigenvalues
    root = fid.sqrtm_psd(psd)
    np.testing.assert_allclose(root @ root, psd, atol=1e-10)
    np.testing.assert_allclose(root, root.T)
    assert np.linalg.eigvalsh(root).min() > -1e-7
    with pytest.raises(ValueError, match="symmetric"):
        fid.sqrtm_psd(np.triu(np.ones((3, 3))))


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(1)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert fid.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9 + 1)
    # diagonal (commuting) covariances: ||dm||^2 + sum (sqrt a - sqrt b)^2
    a, b = rng.uniform(0.1, 3, size=5), rng.uniform(0.1, 3, size=5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    want = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert fid.frechet_distance(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(want, rel=1e-10)
    # general: tr (S1 S2)^{1/2} = sum of the square roots of the eigenvalues of S1 S2 (real, >= 0)
    x, y = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = x @ x.T + 0.1 * np.eye(5), y @ y.T + 0.1 * np.eye(5)
    cross = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    want = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross
    assert fid.frechet_distance(m1, s1, m2, s2) == pytest.approx(want, rel=1e-9)
    assert fid.frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-9)


def test_digit_classifier_measures_on_real_digits_and_on_one_class():
    X_test, y_test = data.gan_digits("test", images=False)
    classifier = digit_classifier.digit_classifier()
    predicted = digit_classifier.predicted_classes(X_test, classifier)
    assert np.mean(predicted == y_test) > 0.93
    assert digit_classifier.classes_produced(X_test, classifier) == 10
    counts = np.bincount(predicted, minlength=10) / len(predicted)
    assert digit_classifier.class_entropy(X_test, classifier) == pytest.approx(-np.sum(counts * np.log(counts)))
    assert digit_classifier.class_entropy(X_test, classifier) > 0.95 * np.log(10)
    threes = X_test[predicted == 3]
    assert digit_classifier.classes_produced(threes, classifier) == 1
    assert digit_classifier.class_entropy(threes, classifier) == 0.0
    X_train, _ = data.gan_digits("train", images=False)
    real_vs_real = fid.feature_frechet_distance(X_train, X_test, classifier)
    real_vs_threes = fid.feature_frechet_distance(X_train, threes, classifier)
    noise = np.random.default_rng(0).uniform(-1, 1, size=(500, 64))
    real_vs_noise = fid.feature_frechet_distance(X_train, noise, classifier)
    assert real_vs_real < real_vs_threes < real_vs_noise


def test_digit_classifier_trains_even_when_first_called_under_no_grad():
    with torch.no_grad():
        classifier = digit_classifier.digit_classifier(seed=3, steps=2)
    assert not classifier.training
