"""GAN losses, all computed from the discriminator's logits (its output before a sigmoid).

Notation: ``r`` are the logits on real samples, ``f`` the logits on generated ones,
``D = sigmoid(logit)`` the probability the discriminator gives to "real", and every
loss is a mean over the batch. Working with logits keeps the losses finite: with
``softplus(t) = log(1 + e^t)``, ``-log D = softplus(-logit)`` and
``-log(1 - D) = softplus(logit)``, and softplus is computed without overflow even at
logits of +-100, where ``log(sigmoid(.))`` would give ``-inf``.
"""

from __future__ import annotations

import torch

__all__ = [
    "softplus",
    "discriminator_loss",
    "generator_loss_saturating",
    "generator_loss_non_saturating",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "GENERATOR_LOSSES",
]


def _logits(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of logits, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name}: expected floating-point logits, got dtype {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name}: expected at least one logit, got an empty tensor")
    return x


def softplus(t: torch.Tensor) -> torch.Tensor:
    """``log(1 + e^t)`` without overflow: ``max(t, 0) + log1p(e^{-|t|})``.

    The exponent is never positive, so ``e^{-|t|}`` lies in (0, 1] for any t. Written
    with ``torch.where`` on ``t > 0`` rather than ``clamp``/``abs``, whose autograd
    picks one side at ``t = 0``: this way the gradient there is the true ``sigmoid(0) = 1/2``.
    """
    positive = t > 0
    minus_abs = torch.where(positive, -t, t)  # -|t|, with slope +1 at t = 0
    return torch.where(positive, t, torch.zeros_like(t)) + torch.log1p(torch.exp(minus_abs))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss: binary cross-entropy with "real" = 1 and "fake" = 0.

    ``L_D = -mean log D(x) - mean log(1 - D(G(z))) = mean softplus(-r) + mean softplus(f)``.
    It equals ``BCEWithLogits(r, 1) + BCEWithLogits(f, 0)``.
    """
    real_logits = _logits(real_logits, "discriminator_loss real_logits")
    fake_logits = _logits(fake_logits, "discriminator_loss fake_logits")
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()


def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the original minimax game: minimise ``mean log(1 - D(G(z)))``.

    ``L_G = mean log(1 - D(G(z))) = -mean softplus(f)``. Its gradient with respect to
    a logit is ``-sigmoid(f) / n``, which vanishes when the discriminator rejects the
    fakes (``f`` very negative): early in training the generator barely learns.
    """
    return -softplus(_logits(fake_logits, "generator_loss_saturating fake_logits")).mean()


def generator_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss: maximise ``log D(G(z))`` instead.

    ``L_G = -mean log D(G(z)) = mean softplus(-f)``. Its gradient with respect to a
    logit is ``-sigmoid(-f) / n``, close to ``-1/n`` exactly when the discriminator
    rejects the fakes, so the generator learns fastest when it is worst.
    """
    return softplus(-_logits(fake_logits, "generator_loss_non_saturating fake_logits")).mean()


def lsgan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN (Mao et al. 2017), discriminator: ``1/2 mean (r - 1)^2 + 1/2 mean f^2``.

    The discriminator's raw output is regressed to 1 on real and 0 on fake samples
    (no sigmoid), so the loss never saturates.
    """
    real_logits = _logits(real_logits, "lsgan_discriminator_loss real_logits")
    fake_logits = _logits(fake_logits, "lsgan_discriminator_loss fake_logits")
    return 0.5 * ((real_logits - 1.0) ** 2).mean() + 0.5 * (fake_logits**2).mean()


def lsgan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN, generator: ``1/2 mean (f - 1)^2`` (push fakes towards "real" = 1)."""
    return 0.5 * ((_logits(fake_logits, "lsgan_generator_loss fake_logits") - 1.0) ** 2).mean()


# loss name -> (discriminator loss, generator loss); train_gan's loss= picks one.
GENERATOR_LOSSES = {
    "non_saturating": (discriminator_loss, generator_loss_non_saturating),
    "saturating": (discriminator_loss, generator_loss_saturating),
    "lsgan": (lsgan_discriminator_loss, lsgan_generator_loss),
}
