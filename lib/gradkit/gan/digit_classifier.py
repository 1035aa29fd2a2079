"""A digits classifier, and what it says about generated digits: which classes, how evenly.

- ``digit_classifier()``: a small torch MLP (64 -> 64 -> 10), trained once on the real
  training digits in [-1, 1], cached for the session; its hidden layer is the feature
  space of ``gradkit.gan.fid``.
- ``classes_produced`` and ``class_entropy``: the classifier's labels of generated
  samples. A generator that covers every digit produces all 10 classes, and the entropy
  of their histogram is near ``log 10`` (2.30 nats) when they are balanced: the digits'
  counterpart of the modes covered on a Gaussian mixture.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from gradkit.gan.data import gan_digits
from gradkit.torch_basics import to_numpy

__all__ = ["DigitClassifier", "digit_classifier", "digit_pixels", "predicted_classes", "classes_produced",
           "class_entropy"]


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
    """A ``DigitClassifier`` trained on all real training digits at once (full-batch Adam).

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


def digit_pixels(samples) -> torch.Tensor:
    """8x8 images ((n, 64), (n, 8, 8) or (n, 1, 8, 8), array or tensor) as a CPU float32 tensor (n, 64)."""
    samples = to_numpy(samples, np.float32)
    if samples.size == 0 or samples.size % 64:
        raise ValueError(f"digit measures: expected 8x8 images ((n, 64), (n, 8, 8) or (n, 1, 8, 8)), "
                         f"got shape {samples.shape}")
    return torch.from_numpy(samples.reshape(-1, 64))


@torch.no_grad()
def predicted_classes(samples, classifier: DigitClassifier | None = None) -> np.ndarray:
    """The classifier's label (0-9) for each sample (pixels in [-1, 1])."""
    classifier = classifier or digit_classifier()
    return classifier(digit_pixels(samples)).argmax(dim=1).numpy()


def classes_produced(samples, classifier: DigitClassifier | None = None, min_share: float = 0.01) -> int:
    """The number of digit classes that at least ``min_share`` of the samples are labelled as."""
    counts = np.bincount(predicted_classes(samples, classifier), minlength=10)
    return int(np.sum(counts >= min_share * counts.sum()))


def class_entropy(samples, classifier: DigitClassifier | None = None) -> float:
    """Entropy (nats) of the predicted-class histogram: ``-sum_k p_k log p_k``, at most log 10."""
    p = np.bincount(predicted_classes(samples, classifier), minlength=10) / len(digit_pixels(samples))
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))
