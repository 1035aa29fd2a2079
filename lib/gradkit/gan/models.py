"""Generator and discriminator pairs as ``torch.nn.Module`` classes.

- ``MLPGenerator`` / ``MLPDiscriminator``: for 2-D points (the Gaussian mixtures).
- ``ConvGenerator`` / ``ConvDiscriminator``: DCGAN-style (Radford et al. 2016) for 8x8
  images: transposed convolutions that double the resolution 2 -> 4 -> 8, batch norm in
  the generator's hidden layers and the discriminator's middle layer (not on the
  generator's output nor the discriminator's input, where it hurts), ReLU in the
  generator, LeakyReLU(0.2) in the discriminator, tanh output in [-1, 1].

Every generator maps noise ``z`` of shape ``(n, noise_dim)`` to samples; every
discriminator returns one logit per sample, shape ``(n,)`` (the losses apply the
sigmoid). The default sizes train in seconds on a 2-core laptop.
"""

from __future__ import annotations

import torch
from torch import nn

from gradkit.torch_basics import check_count, mlp

__all__ = ["MLPGenerator", "MLPDiscriminator", "ConvGenerator", "ConvDiscriminator"]


def _check_input(x, features: int, where: str, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: expected a torch.Tensor of {what}, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != features:
        raise ValueError(f"{where}: expected {what} of shape (n, {features}), got {tuple(x.shape)}")
    return x


class MLPGenerator(nn.Module):
    """``z -> Linear -> ReLU -> ... -> Linear -> point``: ``depth`` hidden layers of ``hidden`` units.

    ``noise_skip = s > 0`` adds the noise itself, scaled: ``G(z) = s * z + net(z)`` (it needs
    ``noise_dim == out_dim``). A freshly initialised ``net`` outputs values near 0, so a plain
    generator starts with all its samples in one small blob and spreads out slowly, finding
    the modes near the centre first; far ones can be left out for good (bench/README.md
    shows it on the grid of 25). With the skip, the first samples already form a broad
    Gaussian of standard deviation ``s`` over the data, and ``net`` only has to pull that
    mass into the modes. ``s`` is fixed, not learned.
    """

    def __init__(self, noise_dim: int = 2, hidden: int = 128, depth: int = 2, out_dim: int = 2,
                 noise_skip: float = 0.0) -> None:
        super().__init__()
        where = "MLPGenerator"
        self.noise_dim = check_count(noise_dim, "noise_dim", where)
        self.out_dim = check_count(out_dim, "out_dim", where)
        if isinstance(noise_skip, bool) or not isinstance(noise_skip, (int, float)) or not noise_skip >= 0:
            raise ValueError(f"{where}: noise_skip must be a number >= 0, got {noise_skip!r}")
        if noise_skip and noise_dim != out_dim:
            raise ValueError(f"{where}: noise_skip adds the noise to the output, so it needs noise_dim == out_dim, "
                             f"got noise_dim={noise_dim}, out_dim={out_dim}")
        self.noise_skip = float(noise_skip)
        sizes = [noise_dim] + [check_count(hidden, "hidden", where)] * check_count(depth, "depth", where)
        self.net = mlp(sizes + [out_dim], nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = _check_input(z, self.noise_dim, "MLPGenerator", "noise")
        if self.noise_skip:
            return self.noise_skip * z + self.net(z)
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``x -> Linear -> LeakyReLU(0.2) -> ... -> Linear -> logit``, one logit per point."""

    def __init__(self, in_dim: int = 2, hidden: int = 128, depth: int = 2) -> None:
        super().__init__()
        where = "MLPDiscriminator"
        self.in_dim = check_count(in_dim, "in_dim", where)
        sizes = [in_dim] + [check_count(hidden, "hidden", where)] * check_count(depth, "depth", where)
        self.net = mlp(sizes + [1], lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_check_input(x, self.in_dim, "MLPDiscriminator", "samples")).squeeze(1)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02).

    Use as ``model.apply(dcgan_init)``; the conv pairs below call it themselves.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ConvGenerator(nn.Module):
    """DCGAN-style generator for 8x8 images: noise -> (n, 1, 8, 8) in [-1, 1].

    ``z`` is read as a 1x1 image with ``noise_dim`` channels; three transposed
    convolutions grow it to 2x2 (``4 * width`` channels), 4x4 (``2 * width``) and 8x8 (1).
    """

    def __init__(self, noise_dim: int = 32, width: int = 32) -> None:
        super().__init__()
        self.noise_dim = check_count(noise_dim, "noise_dim", "ConvGenerator")
        w = check_count(width, "width", "ConvGenerator")
        self.net = nn.Sequential(
            nn.ConvTranspose2d(noise_dim, 4 * w, kernel_size=2, stride=1, padding=0, bias=False),  # 1 -> 2
            nn.BatchNorm2d(4 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, kernel_size=4, stride=2, padding=1, bias=False),  # 2 -> 4
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, 1, kernel_size=4, stride=2, padding=1),  # 4 -> 8
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = _check_input(z, self.noise_dim, "ConvGenerator", "noise")
        return self.net(z[:, :, None, None])


class ConvDiscriminator(nn.Module):
    """DCGAN-style discriminator for 8x8 images (or rows of 64 pixels): one logit per image.

    Strided convolutions halve the resolution 8 -> 4 -> 2, then a 2x2 convolution gives
    the logit. No batch norm on the input layer.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = check_count(width, "width", "ConvDiscriminator")
        self.net = nn.Sequential(
            nn.Conv2d(1, w, kernel_size=4, stride=2, padding=1),  # 8 -> 4
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, kernel_size=4, stride=2, padding=1, bias=False),  # 4 -> 2
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 1, kernel_size=2, stride=1, padding=0),  # 2 -> 1
        )
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"ConvDiscriminator: expected a torch.Tensor of images, got {type(x).__name__}")
        if x.ndim == 2 and x.shape[1] == 64:
            x = x.reshape(-1, 1, 8, 8)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ValueError(f"ConvDiscriminator: expected images of shape (n, 1, 8, 8) or (n, 64), "
                             f"got {tuple(x.shape)}")
        return self.net(x).reshape(-1)
