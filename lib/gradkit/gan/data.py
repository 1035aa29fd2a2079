"""Data for GANs, all in the kit (nothing is downloaded).

- ``ring_of_gaussians``: 8 Gaussians on a circle of radius 2 with standard deviation
  0.02, and ``grid_of_gaussians``: 25 Gaussians on a 5x5 grid with spacing 2 and
  standard deviation 0.05. These are the mode-collapse test beds of the Unrolled GAN,
  VEEGAN and PacGAN papers: a generator that covers every mode, and puts its samples
  close to the centres, has learnt the whole distribution.
- ``gan_digits``: the kit's 8x8 digits (``gradkit.data.load_digits``) scaled to
  [-1, 1], the range of a tanh generator.

Each mixture function returns the samples, the index of the mode each came from, the
centres and the standard deviation, so the measures in ``gradkit.gan.mode_coverage`` get
exactly the numbers the samples were drawn with, and the mixture's training ``recipe``:
the MLP pair's depth, the generator's noise skip and the number of training steps
(``gradkit.gan.training.train_mixture_gan`` uses it; ``bench/bench_gan.py`` checks it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gradkit.data import load_digits, ring_centers
from gradkit.torch_basics import check_count

__all__ = ["Recipe", "RING_RECIPE", "GRID_RECIPE", "Mixture", "ring_of_gaussians", "grid_of_gaussians",
           "grid_centers", "gan_digits"]


class Recipe(NamedTuple):
    """How the library trains a GAN on a mixture by default: the MLP pair's depth, the steps.

    Everything else is ``train_gan``'s default. The grid's 25 modes need more than the
    ring's 8: with 2-D noise the generator must fold the plane into 25 separate clusters,
    which takes a third hidden layer and twice the steps, and the generator's noise skip
    (``MLPGenerator(noise_skip=)``) starts its samples spread over the whole grid instead
    of in one blob at the centre, so that no outer mode is left out. The runs behind these
    choices are in bench/README.md (GANs).
    """

    depth: int = 2  # hidden layers of both the generator and the discriminator
    steps: int = 5000  # generator updates (train_gan's default)
    noise_skip: float = 0.0  # the generator's G(z) = noise_skip * z + net(z); 0: no skip


RING_RECIPE = Recipe(depth=2, steps=5000)
GRID_RECIPE = Recipe(depth=3, steps=10_000, noise_skip=1.5)


class Mixture(NamedTuple):
    X: np.ndarray  # (n, 2) float32 samples
    mode: np.ndarray  # (n,) int64: which Gaussian each sample came from
    centers: np.ndarray  # (modes, 2) float32
    std: float  # the standard deviation of every Gaussian
    recipe: Recipe = Recipe()  # the recommended training settings (see Recipe)


def _sample_mixture(centers: np.ndarray, n: int, std: float, seed: int, recipe: Recipe) -> Mixture:
    """n samples from equal-weight Gaussians with the given centres and one std."""
    if not std > 0:
        raise ValueError(f"a Gaussian mixture needs std > 0, got {std!r}")
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, len(centers), size=n)
    X = centers[mode] + std * rng.normal(size=(n, 2))
    return Mixture(X.astype(np.float32), mode.astype(np.int64), centers.astype(np.float32), float(std), recipe)


def ring_of_gaussians(n: int = 10_000, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                      seed: int = 0) -> Mixture:
    """``modes`` equal Gaussians on a circle of ``radius`` (centres from ``gradkit.data.ring_centers``).

    Its recipe, ``RING_RECIPE``, is the one for the default ring (8 modes, sd 0.02).
    """
    n = check_count(n, "n", "ring_of_gaussians")
    centers = ring_centers(check_count(modes, "modes", "ring_of_gaussians"), radius)
    return _sample_mixture(centers.astype(np.float64), n, std, seed, RING_RECIPE)


def grid_centers(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """The centres of a ``side`` x ``side`` grid with ``spacing``, centred on 0: shape (side**2, 2)."""
    side = check_count(side, "side", "grid_centers")
    ticks = spacing * (np.arange(side) - (side - 1) / 2.0)
    xx, yy = np.meshgrid(ticks, ticks, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)


def grid_of_gaussians(n: int = 10_000, side: int = 5, spacing: float = 2.0, std: float = 0.05,
                      seed: int = 0) -> Mixture:
    """``side**2`` equal Gaussians on a grid (5x5 at -4, -2, 0, 2, 4 by default).

    Its recipe, ``GRID_RECIPE``, is the one for the default 5x5 grid (sd 0.05).
    """
    n = check_count(n, "n", "grid_of_gaussians")
    return _sample_mixture(grid_centers(side, spacing).astype(np.float64), n, std, seed, GRID_RECIPE)


def gan_digits(split: str = "train", images: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits with pixels scaled from [0, 1] to [-1, 1]: ``(X, y)``.

    ``images=True`` gives X of shape (n, 1, 8, 8) (the conv models' layout), else (n, 64).
    """
    X, y = load_digits(split=split, scale=True, flatten=True)
    X = 2.0 * X - 1.0
    return (X.reshape(-1, 1, 8, 8) if images else X).astype(np.float32), y
