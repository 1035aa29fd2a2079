"""The Frechet distance of generated digits from real ones: a digits-sized FID.

``frechet_distance`` is the distance between two Gaussians,
``||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})``;
``feature_frechet_distance`` fits a Gaussian to the hidden features of real and of
generated samples in the digits classifier (``gradkit.gan.digit_classifier``) and
compares them: the FID of Heusel et al. (2017), with a digits-sized classifier in place
of Inception. Lower is closer; it sees both quality (features off the real ones) and
variety (a generator that makes one digit has the wrong covariance).

The matrix square root is written with numpy (``sqrtm_psd``): for a symmetric
positive semi-definite ``A = V diag(l) V^T``, ``A^{1/2} = V diag(sqrt(l)) V^T``.
``(S_1^{1/2} S_2 S_1^{1/2})`` is symmetric PSD, and its square root has the same trace
as ``(S_1 S_2)^{1/2}``, the usual way the formula is written.
"""

from __future__ import annotations

import numpy as np
import torch

from gradkit.gan.digit_classifier import DigitClassifier, digit_classifier, digit_pixels

__all__ = ["sqrtm_psd", "frechet_distance", "gaussian_stats", "feature_frechet_distance"]


def sqrtm_psd(matrix) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (by eigendecomposition).

    Eigenvalues that round-off made slightly negative are set to 0.
    """
    A = np.asarray(matrix, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"sqrtm_psd: expected a square matrix, got shape {A.shape}")
    if not np.allclose(A, A.T, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(A).max())):
        raise ValueError("sqrtm_psd: expected a symmetric matrix")
    eigenvalues, vectors = np.linalg.eigh((A + A.T) / 2.0)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"frechet_distance: expected means (d,) and covariances (d, d), got "
                         f"{mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    root1 = sqrtm_psd(sigma1)
    cross = sqrtm_psd(root1 @ sigma2 @ root1)
    value = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(cross)
    return float(max(value, 0.0))  # round-off can make a zero distance slightly negative


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples) of a feature matrix."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"gaussian_stats: expected at least 2 rows of features, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


@torch.no_grad()
def feature_frechet_distance(real, generated, classifier: DigitClassifier | None = None) -> float:
    """Frechet distance between Gaussians fitted to the classifier's features of real and generated samples."""
    classifier = classifier or digit_classifier()
    real_stats = gaussian_stats(classifier.features(digit_pixels(real)).numpy())
    generated_stats = gaussian_stats(classifier.features(digit_pixels(generated)).numpy())
    return frechet_distance(*real_stats, *generated_stats)
