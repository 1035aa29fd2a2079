"""gradkit.gan.models and training: shapes, clear errors, the alternating step's rules,
a short run that covers the ring, and exact repetition on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gradkit.gan import data, losses, mode_coverage, models, plots, training

pytestmark = pytest.mark.slow   # trains GANs: left to make test-all


def test_model_shapes_and_errors():
    G, D = models.MLPGenerator(noise_dim=3, hidden=16), models.MLPDiscriminator(hidden=16)
    assert G(torch.randn(5, 3)).shape == (5, 2) and D(torch.randn(5, 2)).shape == (5,)
    CG, CD = models.ConvGenerator(noise_dim=8, width=4), models.ConvDiscriminator(width=4)
    images = CG(torch.randn(6, 8))
    assert images.shape == (6, 1, 8, 8) and images.abs().max() <= 1
    assert CD(images).shape == (6,) and CD(images.reshape(6, 64)).shape == (6,)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in CG.modules())
    with pytest.raises(ValueError, match=r"MLPGenerator: expected noise of shape \(n, 3\)"):
        G(torch.randn(5, 2))
    with pytest.raises(ValueError, match="ConvDiscriminator: expected images"):
        CD(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        models.MLPDiscriminator(hidden=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        training.train_gan(G, D, np.zeros((10, 2)), loss="wasserstein", progress=False)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        training.train_gan(G, D, np.zeros((10, 2)), steps=0, progress=False)


def test_noise_skip_adds_the_scaled_noise_to_the_output():
    torch.manual_seed(0)
    G = models.MLPGenerator(hidden=16, depth=3, noise_skip=1.5)
    plain = models.MLPGenerator(hidden=16, depth=3)
    plain.load_state_dict(G.state_dict())  # the skip adds no parameters
    z = torch.randn(64, 2)
    assert torch.allclose(G(z), 1.5 * z + plain(z))
    last = [m for m in G.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    assert torch.equal(G(z), 1.5 * z)  # with net(z) = 0 the samples are the noise, scaled: sd 1.5
    with pytest.raises(ValueError, match="noise_skip .* needs noise_dim == out_dim"):
        models.MLPGenerator(noise_dim=3, out_dim=2, noise_skip=1.0)
    with pytest.raises(ValueError, match="noise_skip must be a number >= 0"):
        models.MLPGenerator(noise_skip=-1.0)
    assert models.MLPGenerator(noise_dim=3, out_dim=2).noise_skip == 0.0


def _pair(seed=0):
    torch.manual_seed(seed)
    return models.MLPGenerator(hidden=8).double(), models.MLPDiscriminator(hidden=8).double()


def test_discriminator_step_trains_d_only_on_detached_fakes():
    G, D = _pair()
    G_before = [p.detach().clone() for p in G.parameters()]
    real, z = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    D_copy = models.MLPDiscriminator(hidden=8).double()
    D_copy.load_state_dict(D.state_dict())
    loss, d_real, d_fake = training.discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.1), real, z)
    assert all(torch.equal(a, b) for a, b in zip(G_before, G.parameters()))
    assert all(p.grad is None for p in G.parameters()), "the fakes must be detached"
    # oracle: the same update written out with torch's own BCE and a manual SGD step
    bce = nn.functional.binary_cross_entropy_with_logits
    real_logits, fake_logits = D_copy(real), D_copy(G(z).detach())
    want = bce(real_logits, torch.ones(16, dtype=torch.float64)) + bce(fake_logits, torch.zeros(16, dtype=torch.float64))
    grads = torch.autograd.grad(want, list(D_copy.parameters()))
    assert loss == pytest.approx(want.item(), rel=1e-12)
    assert d_real == pytest.approx(torch.sigmoid(real_logits).mean().item(), rel=1e-12)
    assert d_fake == pytest.approx(torch.sigmoid(fake_logits).mean().item(), rel=1e-12)
    for p, p0, g in zip(D.parameters(), D_copy.parameters(), grads):
        torch.testing.assert_close(p.detach(), p0.detach() - 0.1 * g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["non_saturating", "saturating", "lsgan"])
def test_generator_step_follows_the_chosen_loss(loss):
    G, D = _pair(1)
    G_copy = models.MLPGenerator(hidden=8).double()
    G_copy.load_state_dict(G.state_dict())
    z = torch.randn(32, 2, dtype=torch.float64)
    D_before = [p.detach().clone() for p in D.parameters()]
    value = training.generator_step(G, D, torch.optim.SGD(G.parameters(), lr=0.05), z, loss)
    want = losses.GENERATOR_LOSSES[loss][1](D(G_copy(z)))
    grads = torch.autograd.grad(want, list(G_copy.parameters()))
    assert value == pytest.approx(want.item(), rel=1e-12)
    for p, p0, g in zip(G.parameters(), G_copy.parameters(), grads):
        torch.testing.assert_close(p.detach(), p0.detach() - 0.05 * g, rtol=1e-12, atol=1e-14)
    assert all(torch.equal(a, b) for a, b in zip(D_before, D.parameters())), "the generator step must not move D"


def _ring_run(seed, steps=500):
    mixture = data.ring_of_gaussians(n=5000, std=0.1, seed=seed)
    torch.manual_seed(seed)
    G, D = models.MLPGenerator(hidden=64), models.MLPDiscriminator(hidden=64)
    run = training.train_gan(G, D, mixture.X, steps=steps, batch_size=128, lr=2e-3, seed=seed, device="cpu",
                             snapshot_every=steps // 2, snapshot_size=500, progress=False)
    return mixture, run


def test_short_run_covers_the_ring_and_repeats_exactly_on_cpu():
    mixture, run = _ring_run(0)
    samples = training.sample(run.generator, 2500, seed=5)
    assert mode_coverage.modes_covered(samples, mixture.centers, mixture.std) == 8
    history = run.history
    assert len(history.d_loss) == len(history.g_loss) == len(history.d_real) == 500
    assert [step for step, _ in history.snapshots] == [250, 500]
    assert all(0 < p < 1 for p in history.d_real + history.d_fake)
    # near the game's equilibrium D gives about 1/2 to everything: far from 0 and 1
    assert 0.2 < np.mean(history.d_fake[-50:]) < 0.8
    _, again = _ring_run(0, steps=60)
    _, once_more = _ring_run(0, steps=60)
    assert again.history.d_loss == once_more.history.d_loss
    assert again.history.g_loss == once_more.history.g_loss
    for a, b in zip(again.generator.parameters(), once_more.generator.parameters()):
        assert torch.equal(a, b)
    fig = plots.plot_history(history)
    fig2 = plots.plot_snapshots_2d(history.snapshots, mixture.centers)
    fig3 = plots.plot_image_grid(np.zeros((12, 1, 8, 8)), columns=5)
    assert len(fig.axes) == 2 and len(fig2.axes) == 2 and fig3.axes
    import matplotlib.pyplot as plt
    plt.close("all")


def test_mixtures_carry_their_recipe_and_train_mixture_gan_uses_it():
    ring, grid = data.ring_of_gaussians(n=50), data.grid_of_gaussians(n=50)
    assert ring.recipe == data.RING_RECIPE and grid.recipe == data.GRID_RECIPE
    assert grid.recipe.depth > ring.recipe.depth and grid.recipe.steps > ring.recipe.steps
    run = training.train_mixture_gan(grid, steps=3, batch_size=8, device="cpu", progress=False)
    hidden_layers = sum(isinstance(m, torch.nn.Linear) for m in run.generator.modules()) - 1
    assert hidden_layers == grid.recipe.depth and len(run.history.g_loss) == 3
    assert run.generator.noise_skip == grid.recipe.noise_skip > 0 and ring.recipe.noise_skip == 0
    again = training.train_mixture_gan(grid, steps=3, batch_size=8, device="cpu", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(run.generator.parameters(), again.generator.parameters()))


def test_conv_pair_trains_a_few_steps_on_digits():
    X, _ = data.gan_digits("test")
    torch.manual_seed(0)
    G, D = models.ConvGenerator(noise_dim=8, width=8), models.ConvDiscriminator(width=8)
    run = training.train_gan(G, D, X, steps=5, batch_size=16, progress=False, device="cpu")
    assert run.history.snapshots[-1][1].shape == (1000, 1, 8, 8)
    assert all(np.isfinite(run.history.g_loss))
