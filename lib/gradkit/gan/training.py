"""Training a GAN: alternating discriminator and generator updates (Goodfellow et al. 2014).

One training step is ``d_steps`` discriminator updates followed by one generator update:

1. discriminator: on a batch of real samples and a batch of fakes ``G(z)``, *detached*
   from the generator's graph (this step changes D only; without ``detach`` the
   backward pass would also run through G for nothing, and G's gradients would
   accumulate into its next update), minimise the discriminator loss;
2. generator: on fresh noise, minimise the generator loss of ``D(G(z))``; the gradient
   flows through D into G, and only G's optimizer steps.

Each update zeroes its optimizer's gradients first: PyTorch adds every ``backward`` to
``.grad``. Adam with betas (0.5, 0.999) is the usual GAN default (DCGAN): a short
memory for the first moment, because the other player keeps moving the target.

The same code runs on CUDA when there is a GPU and on the CPU otherwise
(``gradkit.torch_basics.choose_device``); ``device=`` overrides. On the CPU a run with the same seed (and the same initial weights) repeats
exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from gradkit.gan.losses import GENERATOR_LOSSES
from gradkit.gan.models import MLPDiscriminator, MLPGenerator
from gradkit.torch_basics import check_count, choose_device

__all__ = [
    "GanHistory",
    "GanRun",
    "discriminator_step",
    "generator_step",
    "train_step",
    "sample",
    "train_gan",
    "train_mixture_gan",
]


def _losses(loss: str) -> tuple[Callable, Callable]:
    if loss not in GENERATOR_LOSSES:
        raise ValueError(f"loss must be one of {sorted(GENERATOR_LOSSES)}, got {loss!r}")
    return GENERATOR_LOSSES[loss]


def _mean_output(logits: torch.Tensor, loss: str) -> float:
    """Mean D output: the probability ``sigmoid(logit)``, or the raw output for least squares."""
    values = logits if loss == "lsgan" else torch.sigmoid(logits)
    return float(values.detach().mean())


def discriminator_step(generator: nn.Module, discriminator: nn.Module, d_optimizer: torch.optim.Optimizer,
                       real: torch.Tensor, z: torch.Tensor, loss: str = "non_saturating"
                       ) -> tuple[float, float, float]:
    """One discriminator update; returns (its loss, mean D(x), mean D(G(z)))."""
    d_loss_fn, _ = _losses(loss)
    fake = generator(z).detach()  # a constant for this step: D's loss must not reach G
    real_logits = discriminator(real)
    fake_logits = discriminator(fake)
    d_loss = d_loss_fn(real_logits, fake_logits)
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()
    return float(d_loss.detach()), _mean_output(real_logits, loss), _mean_output(fake_logits, loss)


def generator_step(generator: nn.Module, discriminator: nn.Module, g_optimizer: torch.optim.Optimizer,
                   z: torch.Tensor, loss: str = "non_saturating") -> float:
    """One generator update through the (unchanged) discriminator; returns the generator loss.

    The backward pass also leaves gradients in D's parameters; the discriminator step
    zeroes them before its own backward, so they never reach D's update.
    """
    _, g_loss_fn = _losses(loss)
    g_loss = g_loss_fn(discriminator(generator(z)))
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    return float(g_loss.detach())


def train_step(generator: nn.Module, discriminator: nn.Module, g_optimizer: torch.optim.Optimizer,
               d_optimizer: torch.optim.Optimizer, real: torch.Tensor, z_d: torch.Tensor, z_g: torch.Tensor,
               loss: str = "non_saturating") -> dict[str, float]:
    """One discriminator update on (real, G(z_d)), then one generator update on z_g.

    Returns ``{"d_loss", "g_loss", "d_real", "d_fake"}`` (D's outputs are those of its step).
    """
    d_loss, d_real, d_fake = discriminator_step(generator, discriminator, d_optimizer, real, z_d, loss)
    g_loss = generator_step(generator, discriminator, g_optimizer, z_g, loss)
    return {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake}


@dataclass
class GanHistory:
    """Per training step: both losses and D's mean output on real and on generated samples.

    ``snapshots`` holds ``(step, samples)`` pairs: generated samples from one fixed
    noise batch, taken every ``snapshot_every`` steps (and at the end).
    """

    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def record(self, step: dict[str, float]) -> None:
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            getattr(self, key).append(step[key])


@dataclass
class GanRun:
    """What ``train_gan`` returns: the trained pair, the history, where and how long it ran."""

    generator: nn.Module
    discriminator: nn.Module
    history: GanHistory
    device: torch.device
    seconds: float


def noise_dim_of(generator: nn.Module) -> int:
    """The generator's ``noise_dim`` attribute (every generator in ``gradkit.gan.models`` has one)."""
    noise_dim = getattr(generator, "noise_dim", None)
    if not isinstance(noise_dim, int) or noise_dim < 1:
        raise ValueError(f"{type(generator).__name__} has no positive int attribute noise_dim; "
                         "set generator.noise_dim to the size of its input noise")
    return noise_dim


@torch.no_grad()
def sample(generator: nn.Module, n: int, z: torch.Tensor | None = None, seed: int = 0,
           device: str | torch.device | None = None) -> np.ndarray:
    """``n`` generated samples as a numpy array, in eval mode (batch norm uses its running statistics).

    ``z`` gives the noise; otherwise it is drawn from a generator seeded with ``seed``.
    """
    device = choose_device(device) if device is not None else next(generator.parameters()).device
    if z is None:
        rng = torch.Generator(device=device).manual_seed(seed)
        z = torch.randn(n, noise_dim_of(generator), generator=rng, device=device)
    was_training = generator.training
    generator.eval()
    try:
        return generator(z.to(device)).cpu().numpy()
    finally:
        generator.train(was_training)


def train_gan(generator: nn.Module, discriminator: nn.Module, data, *, steps: int = 5000, batch_size: int = 512,
              loss: str = "non_saturating", d_steps: int = 1, lr: float | tuple[float, float] = 2e-3,
              betas: tuple[float, float] = (0.5, 0.999), seed: int = 0, device: str | torch.device | None = None,
              decay: bool = True, snapshot_every: int = 0, snapshot_size: int = 1000,
              progress: bool = True) -> GanRun:
    """Train ``generator`` against ``discriminator`` on the real samples ``data``.

    Args:
        data: real samples, a numpy array or tensor with one sample per row (points
            (n, 2) or images (n, 1, 8, 8)); batches are drawn from it with replacement.
        steps: generator updates; each comes after ``d_steps`` discriminator updates.
            The default is the ring of 8's (``gradkit.gan.data.RING_RECIPE``); the grid
            of 25 needs more (``train_mixture_gan``).
        loss: "non_saturating" (default), "saturating" or "lsgan" (``gradkit.gan.losses``).
        lr: one learning rate for both players, or (generator's, discriminator's).
        betas: Adam's betas, (0.5, 0.999) as in DCGAN.
        decay: let both learning rates fall linearly to 0 over the run, so that the
            game settles at the end instead of circling its equilibrium (sharper samples).
        seed: seeds the batches and the noise; with the same initial weights, a CPU run
            repeats exactly (build the models after ``torch.manual_seed``).
        device: None picks CUDA when available, else the CPU; "cpu"/"cuda" override.
        snapshot_every: keep generated samples every this many steps (0: only at the end).

    The models are moved to ``device`` and trained in place; the history holds both
    losses and D's mean outputs per step (for the bce losses, D(x) = sigmoid(logit)).
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("d_steps", d_steps),
                        ("snapshot_size", snapshot_size)):
        check_count(value, name, "train_gan")
    check_count(snapshot_every, "snapshot_every", "train_gan", minimum=0)
    _losses(loss)
    lr_g, lr_d = lr if isinstance(lr, (tuple, list)) else (lr, lr)
    device = choose_device(device)
    real_data = torch.as_tensor(np.asarray(data) if not isinstance(data, torch.Tensor) else data)
    if real_data.ndim < 2 or len(real_data) == 0:
        raise ValueError(f"train_gan: data must hold one sample per row, got shape {tuple(real_data.shape)}")
    real_data = real_data.to(device=device, dtype=torch.float32)
    generator.to(device).train()
    discriminator.to(device).train()
    noise_dim = noise_dim_of(generator)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)

    schedules = [torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / steps if decay else 1.0)
                 for opt in (g_optimizer, d_optimizer)]
    rng = torch.Generator(device=device).manual_seed(seed)
    fixed_noise = torch.randn(snapshot_size, noise_dim, generator=rng, device=device)

    def noise() -> torch.Tensor:
        return torch.randn(batch_size, noise_dim, generator=rng, device=device)

    def real_batch() -> torch.Tensor:
        return real_data[torch.randint(len(real_data), (batch_size,), generator=rng, device=device)]

    history = GanHistory()
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=f"train_gan ({loss}, {device.type})", disable=not progress,
               mininterval=0.5)
    for step in bar:
        for _ in range(d_steps):
            d_loss, d_real, d_fake = discriminator_step(generator, discriminator, d_optimizer,
                                                        real_batch(), noise(), loss)
        g_loss = generator_step(generator, discriminator, g_optimizer, noise(), loss)
        for schedule in schedules:
            schedule.step()
        history.record({"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake})
        if (snapshot_every and step % snapshot_every == 0) or step == steps:
            history.snapshots.append((step, sample(generator, snapshot_size, z=fixed_noise)))
        if step % 100 == 0:
            bar.set_postfix(d_loss=f"{d_loss:.3f}", g_loss=f"{g_loss:.3f}", refresh=False)
    return GanRun(generator, discriminator, history, device, time.perf_counter() - start)


def train_mixture_gan(mixture, *, seed: int = 0, loss: str = "non_saturating",
                      device: str | torch.device | None = None, progress: bool = True, **train_kwargs) -> GanRun:
    """Build the MLP pair for a Gaussian mixture and train it with the mixture's recipe.

    ``mixture`` comes from ``gradkit.gan.data``'s ``ring_of_gaussians`` or ``grid_of_gaussians``;
    its ``recipe`` gives the pair's depth, the generator's noise skip and the steps
    (``gradkit.gan.data.Recipe``), the rest is ``train_gan``'s defaults. The pair is built after ``torch.manual_seed(seed)``,
    so a CPU run repeats exactly. ``train_kwargs`` (``steps=``, ``lr=``, ...) override
    ``train_gan``'s arguments.
    """
    recipe = mixture.recipe
    torch.manual_seed(seed)
    generator = MLPGenerator(depth=recipe.depth, out_dim=mixture.X.shape[1], noise_skip=recipe.noise_skip)
    discriminator = MLPDiscriminator(in_dim=mixture.X.shape[1], depth=recipe.depth)
    train_kwargs.setdefault("steps", recipe.steps)
    return train_gan(generator, discriminator, mixture.X, seed=seed, loss=loss, device=device,
                     progress=progress, **train_kwargs)
