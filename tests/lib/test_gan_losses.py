"""gradkit.gan.losses against torch's binary_cross_entropy_with_logits and the formulas in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gradkit.gan import losses

EXTREME = torch.tensor([-100.0, -30.0, -1.0, 0.0, 2.5, 30.0, 100.0], dtype=torch.float64)


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def leaf(values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def grads_of(loss_fn, *inputs):
    inputs = [leaf(x.tolist()) for x in inputs]
    value = loss_fn(*inputs)
    return value, torch.autograd.grad(value, inputs)


@pytest.mark.parametrize("real, fake", [(EXTREME, EXTREME.flip(0)), (torch.zeros(3, dtype=torch.float64), EXTREME[:3])])
def test_discriminator_loss_equals_torch_bce_with_gradients(real, fake):
    ours, our_grads = grads_of(losses.discriminator_loss, real, fake)
    theirs, their_grads = grads_of(lambda r, f: bce(r, 1.0) + bce(f, 0.0), real, fake)
    assert torch.isfinite(ours)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    for a, b in zip(our_grads, their_grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_generator_losses_equal_torch_bce():
    ns, ns_grad = grads_of(losses.generator_loss_non_saturating, EXTREME)
    want, want_grad = grads_of(lambda f: bce(f, 1.0), EXTREME)
    torch.testing.assert_close(ns, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ns_grad[0], want_grad[0], rtol=1e-12, atol=1e-14)
    sat, sat_grad = grads_of(losses.generator_loss_saturating, EXTREME)
    want, want_grad = grads_of(lambda f: -bce(f, 0.0), EXTREME)   # log(1 - D) = -BCE(f, 0)
    torch.testing.assert_close(sat, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sat_grad[0], want_grad[0], rtol=1e-12, atol=1e-14)


def test_losses_match_the_formulas_in_float64_on_moderate_logits():
    rng = np.random.default_rng(0)
    r, f = rng.normal(scale=4, size=9), rng.normal(scale=4, size=11)
    D_r, D_f = 1 / (1 + np.exp(-r)), 1 / (1 + np.exp(-f))
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    cases = [
        (losses.discriminator_loss(t(r), t(f)), -np.mean(np.log(D_r)) - np.mean(np.log(1 - D_f))),
        (losses.generator_loss_saturating(t(f)), np.mean(np.log(1 - D_f))),
        (losses.generator_loss_non_saturating(t(f)), -np.mean(np.log(D_f))),
        (losses.lsgan_discriminator_loss(t(r), t(f)), 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2)),
        (losses.lsgan_generator_loss(t(f)), 0.5 * np.mean((f - 1) ** 2)),
    ]
    for got, want in cases:
        assert got.dtype == torch.float64
        np.testing.assert_allclose(got.item(), want, rtol=1e-12)


def test_extreme_logits_give_finite_values_and_the_textbook_gradients():
    """At logit -100 (D rejects the fake), the saturating loss has ~0 gradient, the non-saturating ~-1/n."""
    f = leaf([-100.0, 100.0])
    for fn in (losses.generator_loss_saturating, losses.generator_loss_non_saturating):
        assert torch.isfinite(fn(f))
    (g_sat,) = torch.autograd.grad(losses.generator_loss_saturating(f), f)
    (g_ns,) = torch.autograd.grad(losses.generator_loss_non_saturating(f), f)
    assert abs(g_sat[0].item()) < 1e-40 and g_sat[1].item() == pytest.approx(-0.5)
    assert g_ns[0].item() == pytest.approx(-0.5) and abs(g_ns[1].item()) < 1e-40
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([-100.0, 100.0], dtype=dtype)
        # np.logaddexp(0, x) = log(e^0 + e^x), computed stably in float64
        np.testing.assert_allclose(losses.softplus(x).numpy(), np.logaddexp(0.0, x.double().numpy()),
                                   rtol=1e-6, atol=1e-40)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-120, 120), min_size=1, max_size=20), st.lists(st.floats(-120, 120), min_size=1, max_size=20))
def test_discriminator_loss_matches_bce_for_any_batch(real, fake):
    r, f = torch.tensor(real, dtype=torch.float64), torch.tensor(fake, dtype=torch.float64)
    torch.testing.assert_close(losses.discriminator_loss(r, f), bce(r, 1.0) + bce(f, 0.0), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(losses.generator_loss_non_saturating(f), bce(f, 1.0), rtol=1e-10, atol=1e-12)


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="discriminator_loss real_logits: expected a torch.Tensor"):
        losses.discriminator_loss([1.0], torch.zeros(1))
    with pytest.raises(TypeError, match="floating-point"):
        losses.generator_loss_non_saturating(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        losses.lsgan_generator_loss(torch.zeros(0))
