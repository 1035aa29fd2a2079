"""How good are generated digits? Measures in the feature space of a digits classifier.

- ``digit_classifier()``: a small torch MLP (64 -> 64 -> 10), trained once on the real
  training digits in [-1, 1] (about 96% test accuracy), cached for the session.
- ``classes_produced`` and ``class_entropy``: the classifier's labels of generated
  samples; a generator that covers every digit produces all 10 classes, and the
  entropy of their histogram is near ``log 10`` (2.30 nats) when they are balanced.
- ``frechet_distance``: the Frechet distance between two Gaussians,
  ``||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})``;
  ``feature_frechet_distance`` fits a Gaussian to the classifier's hidden features of
  real and of generated samples and compares them: the FID of Heusel et al. (2017),
  with a digits-sized classifier in place of Inception.

The matrix square root is written with numpy (``sqrtm_psd``): for a symmetric
positive semi-definite ``A = V diag(l) V^T``, ``A^{1/2} = V diag(sqrt(l)) V^T``.
``(S_1^{1/2} S_2 S_1^{1/2})`` is symmetric PSD, and its square root has the same trace
as ``(S_1 S_2)^{1/2}``, the usual way the formula is written.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from gradkit.gan.data import gan_digits

__all__ = ["sqrtm_psd", "frechet_distance", "gaussian_stats", "DigitClassifier", "digit_classifier",
           "classes_produced", "class_entropy", "feature_frechet_distance"]


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


class DigitClassifier(nn.Module):
    """MLP 64 -> hidden -> 10 on digits in [-1, 1]; ``features`` is the hidden layer."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(64, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(x.reshape(len(x), 64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


@functools.lru_cache(maxsize=4)
def digit_classifier(seed: int = 0, steps: int = 300) -> DigitClassifier:
    """A ``DigitClassifier`` trained on all real training digits at once (full-batch Adam, < 1 s).

    Cached: every measure in a session uses the same classifier, on the CPU.
    """
    X, y = gan_digits("train", images=False)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    with torch.random.fork_rng(), torch.enable_grad():  # a caller's no_grad must not stop training
        torch.manual_seed(seed)
        model = DigitClassifier()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def _pixels(samples) -> torch.Tensor:
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0 or samples.size % 64:
        raise ValueError(f"digit measures: expected 8x8 images ((n, 64), (n, 8, 8) or (n, 1, 8, 8)), "
                         f"got shape {samples.shape}")
    return torch.from_numpy(samples.reshape(-1, 64))


@torch.no_grad()
def predicted_classes(samples, classifier: DigitClassifier | None = None) -> np.ndarray:
    """The classifier's label (0-9) for each sample (pixels in [-1, 1])."""
    classifier = classifier or digit_classifier()
    return classifier(_pixels(samples)).argmax(dim=1).numpy()


def classes_produced(samples, classifier: DigitClassifier | None = None, min_share: float = 0.01) -> int:
    """The number of digit classes that at least ``min_share`` of the samples are labelled as."""
    counts = np.bincount(predicted_classes(samples, classifier), minlength=10)
    return int(np.sum(counts >= min_share * counts.sum()))


def class_entropy(samples, classifier: DigitClassifier | None = None) -> float:
    """Entropy (nats) of the predicted-class histogram: ``-sum_k p_k log p_k``, at most log 10."""
    p = np.bincount(predicted_classes(samples, classifier), minlength=10) / len(_pixels(samples))
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


@torch.no_grad()
def feature_frechet_distance(real, generated, classifier: DigitClassifier | None = None) -> float:
    """Frechet distance between Gaussians fitted to the classifier's features of real and generated samples."""
    classifier = classifier or digit_classifier()
    real_stats = gaussian_stats(classifier.features(_pixels(real)).numpy())
    generated_stats = gaussian_stats(classifier.features(_pixels(generated)).numpy())
    return frechet_distance(*real_stats, *generated_stats)
