"""Source of assignments/a4_pytorch_gans/pytorch_gans.ipynb (built by assignments/tools/build_notebooks.py).

Assignment 4, "From gradkit to PyTorch; GANs". Lectures 000 (PyTorch: layers and models
as Python classes, a generator and a discriminator as two models with their own losses,
automatic differentiation) and 001 (mini-batch training). The library counterpart is
gradkit.gan (withheld while grading: losses, models, mode_coverage, training).
"""

# %% [markdown]
# # Assignment 4: From gradkit to PyTorch; generative adversarial networks
#
# So far you have trained networks with the course library, `gradkit`, whose insides you
# wrote. Real work uses a framework such as **PyTorch**: the same ideas (tensors, a graph
# recorded as you compute, reverse-mode differentiation, modules, optimisers) with fast
# kernels, GPUs and a large ecosystem. Part 1 moves the Assignment 3 MLP to PyTorch and
# checks, to the last digits, that both libraries compute the same gradients.
#
# Then a model that needs two networks at once: a **generative adversarial network**
# (GAN). A *generator* $G$ turns random noise $z$ into samples; a *discriminator* $D$
# tells real samples from generated ones. They are trained against each other. You will
# write both networks as `torch.nn.Module` classes, their losses, and the alternating
# training step; train on a ring of 8 Gaussians; measure **mode collapse**; see why one
# form of the generator loss stalls at the start; and finally generate handwritten digits.
#
# The code runs on a GPU when there is one (`DEVICE` below) and on the CPU otherwise.
# Do not import `gradkit.gan.losses`, `gradkit.gan.models`, `gradkit.gan.mode_coverage` or
# `gradkit.gan.training` (they hold the library's answers and are absent while grading).
#
# **How this notebook works** (as before): fill in the cells marked `# YOUR CODE HERE`,
# run the visible tests under each, and restart-and-run-all then *Validate* before you
# submit. Hidden tests run your code on fresh inputs; the grader compares the results
# with the reference solution's.
#
# **Points** (one line per graded test cell):
#
# {{points_table}}

# %% [locked id=setup]
# Set-up: run this cell first. It imports what the notebook uses and defines the
# small helpers that the visible tests call. You do not need to change it.
# {{include _helpers.py}}
import time

import torch
import torch.nn.functional as F
from torch import nn

from gradkit import Tensor
from gradkit.gan.data import gan_digits, ring_of_gaussians
from gradkit.gan.digit_classifier import class_entropy, classes_produced
from gradkit.gan.fid import feature_frechet_distance
from gradkit.gan.plots import plot_history, plot_image_grid, plot_samples_2d
from gradkit.nn import mlp
from gradkit.nn.functional import cross_entropy

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
print(f"torch {torch.__version__}, computing on {DEVICE}")
plt.rcParams["figure.figsize"] = (6.4, 4.0)

# %% [markdown]
# ## Part 1. From gradkit to PyTorch
#
# In PyTorch a layer is a `torch.nn.Module`, a model is a module made of modules, and
# `nn.Sequential` chains them, as in `gradkit.nn`. `nn.Linear(n_in, n_out)` stores its
# weight as `(n_out, n_in)` and computes $x W^\top + b$: the same layout as `gradkit.nn.Linear`,
# so weights copy across without a transpose. A tensor with `requires_grad=True` records
# the operations on it; `loss.backward()` fills each parameter's `.grad`.
#
# Write
#
# - `torch_mlp(sizes)`: a torch model of `nn.Linear` layers of the given sizes with a ReLU
#   between them (none after the last), computing exactly what `gradkit.nn.mlp(sizes)` computes.
#   The simplest is an `nn.Sequential` of `nn.Linear` and `nn.ReLU()`: it has the same parameter
#   names as the gradkit model (`"0.weight"`, `"0.bias"`, `"2.weight"`, ...). A module class
#   of your own with a `forward` (and `F.relu`) is fine too, as long as its parameters come in
#   the same order;
# - `copy_weights(gradkit_model, torch_model)`: copy every parameter of the gradkit model into
#   the torch model, keeping the dtype of the gradkit arrays (float64 stays float64); return
#   the torch model;
# - `torch_gradients(model, X, y)`: for any torch classifier `model` (not only yours), the mean
#   cross-entropy of `model(X)` against the labels `y`, back-propagated with torch's autograd;
#   return the loss as a float and the gradients of `model.parameters()` in order, as a list of
#   numpy arrays.
#
# The tests compare what your functions compute (outputs, loss, gradients) with gradkit and
# the reference, not how you wrote them.

# %% [solution id=torch_mlp]
def torch_mlp(sizes):
    """nn.Sequential(Linear, ReLU, Linear, ..., Linear) with the given layer sizes."""
    ### BEGIN SOLUTION
    layers = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
    ### END SOLUTION


def copy_weights(gradkit_model, torch_model):
    """Copy gradkit_model's parameters into torch_model (same names, same dtype). Returns torch_model."""
    ### BEGIN SOLUTION
    state = {name: torch.from_numpy(array) for name, array in gradkit_model.state_dict().items()}
    torch_model.to(next(iter(state.values())).dtype)
    torch_model.load_state_dict(state)
    return torch_model
    ### END SOLUTION


def torch_gradients(model, X, y):
    """(loss as a float, [gradient of each parameter as a numpy array]) of the mean cross-entropy."""
    ### BEGIN SOLUTION
    model.zero_grad()
    loss = F.cross_entropy(model(torch.as_tensor(X)), torch.as_tensor(y))
    loss.backward()
    return loss.item(), [p.grad.detach().cpu().numpy() for p in model.parameters()]
    ### END SOLUTION

# %% [locked id=gradkit_helpers]
def gradkit_gradients(model, X, y):
    """The same with gradkit (given): loss and gradients of the mean cross-entropy."""
    model.zero_grad()
    loss = cross_entropy(model(Tensor(X)), y)
    loss.backward()
    return float(loss.data), [p.grad for p in model.parameters()]


def gradkit_mlp_float64(sizes, seed):
    """gradkit.nn.mlp with its parameters in float64, for a comparison to the last digits."""
    model = mlp(sizes, seed=seed)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    return model

# %% [tests id=test_torch_mlp points=4]
with checking("torch_mlp, copy_weights, torch_gradients"):
    model_t = torch_mlp([3, 4, 2])
    model_g = gradkit_mlp_float64([3, 4, 2], seed=0)
    copy_weights(model_g, model_t)
    X_small = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]])
    out_t = model_t(torch.from_numpy(X_small)).detach().numpy()
    loss_t, grads_t = torch_gradients(model_t, X_small, np.array([0, 1]))
expect_close("outputs of torch_mlp([3, 4, 2]) with the gradkit weights: torch vs gradkit", out_t,
             model_g(Tensor(X_small)).data, rtol=1e-12, atol=1e-14)
loss_g, grads_g = gradkit_gradients(model_g, X_small, np.array([0, 1]))
expect_close("loss: torch vs gradkit", loss_t, loss_g, rtol=1e-12)
for name, a, b in zip(["0.weight", "0.bias", "2.weight", "2.bias"], grads_t, grads_g):
    expect_close(f"gradient of {name}: torch vs gradkit (float64)", a, b, rtol=1e-10, atol=1e-12)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from gradkit.nn import mlp as _mlp
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_outputs = Check("torch_mlp", "outputs of a random-size MLP with gradkit's weights copied in (copy_weights)",
                 hint="nn.Linear layers with a ReLU between two layers and none after the last, so the output "
                      "layer gives raw logits as gradkit.nn.mlp does; copy_weights keeps gradkit's float64")
_gradients = Check("torch_gradients", "losses and parameter gradients (of your MLP and of another classifier)",
                   hint="differentiate the model it is given, any torch classifier, with torch's autograd: the "
                        "mean cross-entropy of model(X) against y, backward, then each parameter's .grad in the "
                        "order of model.parameters()")
_rng = grading_rng("test_torch_mlp")
_sizes = [int(_rng.integers(2, 9)), int(_rng.integers(2, 17)), int(_rng.integers(2, 17)), 10]
_X = _rng.normal(size=(int(_rng.integers(3, 40)), _sizes[0]))
_y = _rng.integers(0, 10, size=len(_X))
_gk = _mlp(_sizes, seed=int(_rng.integers(2**31)))
for _p in _gk.parameters():
    _p.data = _p.data.astype(_np.float64)
# behaviour, not form: whatever module torch_mlp builds, with gradkit's weights copied in it must
# compute gradkit's outputs, loss and gradients
_model = torch_mlp(_sizes)
_copied = copy_weights(_gk, _model)
_model = _copied if isinstance(_copied, _torch.nn.Module) else _model   # filled in place or returned
with _torch.no_grad():
    report("torch_mlp_outputs", _np.asarray(_model(_torch.from_numpy(_X)).cpu()), rtol=1e-10, atol=1e-12,
           check=_outputs, example=f"torch_mlp({_sizes}) on {len(_X)} random inputs")
_loss, _grads = torch_gradients(_model, _X, _y)
_example = f"your torch_mlp({_sizes}), {len(_X)} random inputs"
report("torch_mlp_loss", _loss, rtol=1e-10, atol=1e-12, check=_gradients, example=_example)
for _k, _g in enumerate(_grads):
    report(f"torch_mlp_grad_{_k}", _g, rtol=1e-9, atol=1e-12, check=_gradients, example=_example)
# torch_gradients differentiates any torch classifier with torch (here one with a tanh layer)
_other = _torch.nn.Sequential(_torch.nn.Linear(_sizes[0], 5), _torch.nn.Tanh(), _torch.nn.Linear(5, 10)).double()
with _torch.no_grad():
    for _p in _other.parameters():
        _p.copy_(_torch.from_numpy(_rng.normal(size=tuple(_p.shape))))
_loss, _grads = torch_gradients(_other, _X, _y)
_example = f"a classifier Linear({_sizes[0]}, 5), Tanh, Linear(5, 10) that is not an MLP of yours"
report("torch_gradients_tanh_loss", _loss, rtol=1e-10, atol=1e-12, check=_gradients, example=_example)
for _k, _g in enumerate(_grads):
    report(f"torch_gradients_tanh_grad_{_k}", _g, rtol=1e-9, atol=1e-12, check=_gradients, example=_example)
### END HIDDEN TESTS

# %% [markdown]
# Same numbers; now the speed. The cell below times one training step (forward, backward,
# SGD update) of the 64-128-10 digits MLP in both libraries, float32, at a few batch sizes.
# On a CPU and for layers this small the two are close: both spend their time in the same
# kind of matrix-multiply kernels, and gradkit's `Tensor` was written to keep its Python
# overhead low. PyTorch pulls ahead with what gradkit does not have: GPUs, fused kernels
# and fast convolutions, which Part 7 needs. (Try it: move `pt_model` and the batch to
# `DEVICE` on a machine with a GPU.)

# %% [code]
if GRADING:
    print("The speed of gradkit against torch: skipped while grading (a demonstration, no points).")
else:
    with checking("torch_mlp"):
        torch_mlp([2, 2])   # the speed comparison below needs your torch_mlp
    X_digits, y_digits = gan_digits("train", images=False)
    speed = []
    for batch_size in (32, 256, 1024):
        rows = np.arange(batch_size) % len(X_digits)
        Xb, yb = X_digits[rows], y_digits[rows]
        gk_model = mlp([64, 128, 10], seed=0)
        pt_model = torch_mlp([64, 128, 10])
        pt_optimizer = torch.optim.SGD(pt_model.parameters(), lr=0.01)
        Xb_t, yb_t = torch.from_numpy(Xb), torch.from_numpy(yb)

        def gradkit_step():
            loss = cross_entropy(gk_model(Tensor(Xb)), yb)
            gk_model.zero_grad()
            loss.backward()
            for p in gk_model.parameters():
                p.data -= 0.01 * p.grad

        def torch_step():
            loss = F.cross_entropy(pt_model(Xb_t), yb_t)
            pt_optimizer.zero_grad()
            loss.backward()
            pt_optimizer.step()

        timings = []
        for step in (gradkit_step, torch_step):
            step()  # warm-up
            start = time.perf_counter()
            for _ in range(20):
                step()
            timings.append((time.perf_counter() - start) / 20)
        speed.append((batch_size, *timings))
        print(f"batch {batch_size:5d}: gradkit {timings[0] * 1e3:7.2f} ms/step, torch {timings[1] * 1e3:7.2f} ms/step, "
              f"torch is {timings[0] / timings[1]:.1f}x faster")

# %% [markdown]
# ## Part 2. A generator and a discriminator
#
# The data: 8 Gaussians with standard deviation $\sigma = 0.02$ on a circle of radius 2, the
# standard test of whether a GAN learns *every* part of a distribution.
#
# The **generator** $G_\theta$ maps noise $z \sim \mathcal N(0, I_2)$ to a point in the plane; the
# **discriminator** $D_\phi$ maps a point to a *logit* $\ell$ and $D(x) = \sigma(\ell)$ is its
# probability that $x$ is real. Write both as `nn.Module` classes, with exactly these layers
# in an `nn.Sequential` stored as `self.net` (the hidden tests fill the parameters in order):
#
# - `Generator(noise_dim=2, hidden=128, out_dim=2)`: `Linear(noise_dim, hidden)`, `ReLU`,
#   `Linear(hidden, hidden)`, `ReLU`, `Linear(hidden, out_dim)`; keep `self.noise_dim`;
# - `Discriminator(in_dim=2, hidden=128)`: `Linear(in_dim, hidden)`, `LeakyReLU(0.2)`,
#   `Linear(hidden, hidden)`, `LeakyReLU(0.2)`, `Linear(hidden, 1)`; `forward` returns the
#   logits as a vector of shape `(n,)`, not `(n, 1)`.
#
# (LeakyReLU in the discriminator keeps a small gradient for negative inputs, so the
# generator gets a signal everywhere.)

# %% [solution id=gan_models]
class Generator(nn.Module):
    """noise (n, noise_dim) -> samples (n, out_dim)."""

    def __init__(self, noise_dim=2, hidden=128, out_dim=2):
        super().__init__()
        ### BEGIN SOLUTION
        self.noise_dim = noise_dim
        self.net = nn.Sequential(nn.Linear(noise_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_dim))
        ### END SOLUTION

    def forward(self, z):
        ### BEGIN SOLUTION
        return self.net(z)
        ### END SOLUTION


class Discriminator(nn.Module):
    """samples (n, in_dim) -> logits (n,)."""

    def __init__(self, in_dim=2, hidden=128):
        super().__init__()
        ### BEGIN SOLUTION
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.net(x).squeeze(1)
        ### END SOLUTION

# %% [tests id=test_gan_models points=3]
with checking("Generator and Discriminator"):
    G_check, D_check = Generator(noise_dim=3, hidden=16), Discriminator(hidden=16)
    expect_equal("Generator(3, 16) output shape for 5 noise vectors", tuple(G_check(torch.randn(5, 3)).shape), (5, 2))
    expect_equal("Discriminator(hidden=16) output shape for 5 points", tuple(D_check(torch.randn(5, 2)).shape), (5,))
    expect_equal("Generator(3, 16) parameter count", sum(p.numel() for p in G_check.parameters()),
                 (3 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2))
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_model_checks = {
    "generator": (
        Check("Generator", "numbers in the parameter shapes for a random noise_dim and hidden",
              hint="self.net holds exactly the listed layers in order: Linear(noise_dim, hidden), ReLU, "
                   "Linear(hidden, hidden), ReLU, Linear(hidden, out_dim)"),
        Check("Generator.forward", "coordinates of samples for random noise, with random weights filled in",
              hint="forward runs z through self.net, the layers in the order listed (ReLU between the Linear "
                   "layers, nothing after the last)")),
    "discriminator": (
        Check("Discriminator", "numbers in the parameter shapes for a random hidden",
              hint="self.net holds exactly the listed layers in order: Linear(in_dim, hidden), LeakyReLU(0.2), "
                   "Linear(hidden, hidden), LeakyReLU(0.2), Linear(hidden, 1)"),
        Check("Discriminator.forward", "logits for random points, with random weights filled in",
              hint="forward runs x through self.net (LeakyReLU with slope 0.2) and returns the logits as a "
                   "vector of shape (n,), not (n, 1)")),
}
_rng = grading_rng("test_gan_models")
_noise, _hidden = int(_rng.integers(1, 6)), int(_rng.integers(3, 20))
for _name, _model, _inputs in [("generator", Generator(noise_dim=_noise, hidden=_hidden), _rng.normal(size=(9, _noise))),
                               ("discriminator", Discriminator(hidden=_hidden), _rng.normal(size=(9, 2)))]:
    _model = _model.double()
    with _torch.no_grad():
        for _p in _model.parameters():
            _p.copy_(_torch.from_numpy(_rng.normal(scale=0.5, size=tuple(_p.shape))))
        _example = (f"Generator(noise_dim={_noise}, hidden={_hidden})" if _name == "generator"
                    else f"Discriminator(hidden={_hidden})")
        report(f"{_name}_parameter_shapes", [float(n) for p in _model.parameters() for n in p.shape],
               check=_model_checks[_name][0], example=_example)
        report(f"{_name}_output", _model(_torch.from_numpy(_inputs)).numpy(), rtol=1e-9, atol=1e-12,
               check=_model_checks[_name][1], example=_example)
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3. The losses
#
# The discriminator is a binary classifier, real = 1 and fake = 0, trained with the
# binary cross-entropy:
#
# $$L_D = -\frac1n\sum_i \log D(x_i) \;-\; \frac1n\sum_i \log\big(1 - D(G(z_i))\big).$$
#
# The original GAN game is **minimax**: the generator minimises the same quantity's second
# term, the **saturating** loss $L_G^{\text{sat}} = \frac1n\sum_i \log\big(1 - D(G(z_i))\big)$.
# In practice one uses the **non-saturating** loss $L_G^{\text{ns}} = -\frac1n\sum_i \log D(G(z_i))$
# (maximise the probability that D calls the fakes real); Part 6 shows why.
#
# Compute all three **from logits** with `F.binary_cross_entropy_with_logits`, which is stable
# for any logit: note $-\log\sigma(\ell) = \text{BCE}(\ell, 1)$ and $-\log(1 - \sigma(\ell)) = \text{BCE}(\ell, 0)$.
# Writing `torch.log(torch.sigmoid(logits))` instead gives `-inf` at a logit of $-100$.

# %% [solution id=gan_losses]
def d_loss(real_logits, fake_logits):
    """L_D = -mean log D(x) - mean log(1 - D(G(z))), from logits."""
    ### BEGIN SOLUTION
    real_term = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake_term = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_term + fake_term
    ### END SOLUTION


def g_loss_saturating(fake_logits):
    """L_G = mean log(1 - D(G(z))), the minimax generator loss."""
    ### BEGIN SOLUTION
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    ### END SOLUTION


def g_loss_non_saturating(fake_logits):
    """L_G = -mean log D(G(z))."""
    ### BEGIN SOLUTION
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    ### END SOLUTION

# %% [tests id=test_gan_losses points=4]
zero = torch.zeros(4)
with checking("d_loss, g_loss_saturating, g_loss_non_saturating"):
    expect_close("d_loss at logits 0 (D = 1/2 everywhere): 2 log 2", float(d_loss(zero, zero)), 2 * np.log(2))
    expect_close("g_loss_saturating at logit 0: log(1/2)", float(g_loss_saturating(zero)), np.log(0.5))
    expect_close("g_loss_non_saturating at logit 0: -log(1/2)", float(g_loss_non_saturating(zero)), np.log(2))
    expect_close("d_loss with real logit +100 and fake logit -100 (a perfect D): 0",
                 float(d_loss(torch.tensor([100.0]), torch.tensor([-100.0]))), 0.0, atol=1e-6)
    expect_close("g_loss_non_saturating at fake logit -100: 100 (finite!)",
                 float(g_loss_non_saturating(torch.tensor([-100.0]))), 100.0)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_d_loss = Check("d_loss", "results (the loss, its gradients for real and for fake logits) at random logits",
                hint="the discriminator is a binary classifier with real = 1 and fake = 0: "
                     "$-\\text{mean}\\log D(x) - \\text{mean}\\log(1 - D(G(z)))$, from logits with "
                     "F.binary_cross_entropy_with_logits")
_g_loss_checks = {
    "saturating": Check("g_loss_saturating", "results (the loss and its gradient) at random fake logits",
                        hint="the minimax loss $\\frac1n\\sum\\log(1 - D(G(z)))$ itself, from logits: "
                             "$-\\log(1-\\sigma(\\ell))$ is the binary cross-entropy with target 0 (mind the "
                             "sign)"),
    "non_saturating": Check("g_loss_non_saturating", "results (the loss and its gradient) at random fake logits",
                            hint="$-\\frac1n\\sum\\log D(G(z))$ from logits: $-\\log\\sigma(\\ell)$ is the "
                                 "binary cross-entropy with target 1, finite even at a logit of -100"),
}
_rng = grading_rng("test_gan_losses")
_real = _np.concatenate([_rng.normal(scale=5, size=7), [100.0, -100.0]])
_fake = _np.concatenate([_rng.normal(scale=5, size=5), [-100.0, 100.0, 0.0]])
_r = _torch.tensor(_real, requires_grad=True)
_f = _torch.tensor(_fake, requires_grad=True)
_value = d_loss(_r, _f)
_value.backward()
report("d_loss_value", _value.item(), rtol=1e-9, atol=1e-12, check=_d_loss)
report("d_loss_grad_real", _r.grad.numpy(), rtol=1e-9, atol=1e-14, check=_d_loss)
report("d_loss_grad_fake", _f.grad.numpy(), rtol=1e-9, atol=1e-14, check=_d_loss)
for _name, _loss in [("saturating", g_loss_saturating), ("non_saturating", g_loss_non_saturating)]:
    _f = _torch.tensor(_fake, requires_grad=True)
    _value = _loss(_f)
    _value.backward()
    report(f"g_loss_{_name}_value", _value.item(), rtol=1e-9, atol=1e-12, check=_g_loss_checks[_name])
    report(f"g_loss_{_name}_grad", _f.grad.numpy(), rtol=1e-9, atol=1e-14, check=_g_loss_checks[_name])
### END HIDDEN TESTS

# %% [markdown]
# ## Part 4. Alternating updates
#
# One training step of a GAN is two updates, each with its own optimiser:
#
# 1. **discriminator step**: generate fakes `G(z_d)` and **detach** them (this step trains D
#    only: without `.detach()` the backward pass would also run through G and leave
#    gradients in G's parameters); compute `d_loss` on `D(real)` and `D(fakes)`; zero D's
#    gradients, back-propagate, step D's optimiser;
# 2. **generator step**: on fresh noise `z_g`, compute the generator loss of `D(G(z_g))`
#    (`"non_saturating"` or `"saturating"`, the `loss` argument); zero G's gradients,
#    back-propagate (through D into G), step G's optimiser.
#
# PyTorch *adds* every backward pass to `.grad`, so each update must zero its optimiser's
# gradients before its backward pass. (The generator step also leaves gradients in D's
# parameters; the next discriminator step zeroes them.)
#
# Write `discriminator_step` and `generator_step`, and `train_step`, which calls one then
# the other and returns a dictionary with the discriminator's loss and mean outputs
# $\frac1n\sum\sigma(\ell)$ on real and fake samples, and the generator's loss.

# %% [solution id=train_step]
def discriminator_step(G, D, opt_D, real, z):
    """One update of D on real samples and detached fakes G(z). Returns (loss, mean D(real), mean D(fake))."""
    ### BEGIN SOLUTION
    fake = G(z).detach()
    real_logits, fake_logits = D(real), D(fake)
    loss = d_loss(real_logits, fake_logits)
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item(), torch.sigmoid(real_logits).mean().item(), torch.sigmoid(fake_logits).mean().item()
    ### END SOLUTION


def generator_step(G, D, opt_G, z, loss="non_saturating"):
    """One update of G through D on noise z, with the named generator loss. Returns the loss."""
    ### BEGIN SOLUTION
    loss_fn = g_loss_non_saturating if loss == "non_saturating" else g_loss_saturating
    value = loss_fn(D(G(z)))
    opt_G.zero_grad()
    value.backward()
    opt_G.step()
    return value.item()
    ### END SOLUTION


def train_step(G, D, opt_G, opt_D, real, z_d, z_g, loss="non_saturating"):
    """discriminator_step on (real, z_d), then generator_step on z_g.

    Returns {"d_loss": ..., "g_loss": ..., "d_real": mean D(real), "d_fake": mean D(G(z_d))}.
    """
    ### BEGIN SOLUTION
    d_value, d_real, d_fake = discriminator_step(G, D, opt_D, real, z_d)
    g_value = generator_step(G, D, opt_G, z_g, loss)
    return {"d_loss": d_value, "g_loss": g_value, "d_real": d_real, "d_fake": d_fake}
    ### END SOLUTION

# %% [tests id=test_train_step points=5]
torch.manual_seed(0)
with checking("Generator and Discriminator"):
    G_toy, D_toy = Generator(hidden=8), Discriminator(hidden=8)
G_before = [p.detach().clone() for p in G_toy.parameters()]
D_before = [p.detach().clone() for p in D_toy.parameters()]
with checking("discriminator_step"):
    d_value, d_real, d_fake = discriminator_step(G_toy, D_toy, torch.optim.SGD(D_toy.parameters(), lr=0.1),
                                                 torch.randn(16, 2), torch.randn(16, 2))
if not all(torch.equal(a, b) for a, b in zip(G_before, G_toy.parameters())):
    raise AssertionError("discriminator_step changed the generator's parameters: it must update D only")
if any(p.grad is not None and p.grad.abs().sum() > 0 for p in G_toy.parameters()):
    raise AssertionError("discriminator_step left gradients in the generator: detach the fakes")
if all(torch.equal(a, b) for a, b in zip(D_before, D_toy.parameters())):
    raise AssertionError("discriminator_step did not change the discriminator")
if not (0 < d_real < 1 and 0 < d_fake < 1):
    raise AssertionError(f"mean D outputs are probabilities in (0, 1); got {d_real}, {d_fake}")
with checking("train_step"):
    out = train_step(G_toy, D_toy, torch.optim.SGD(G_toy.parameters(), lr=0.1),
                     torch.optim.SGD(D_toy.parameters(), lr=0.1), torch.randn(16, 2), torch.randn(16, 2),
                     torch.randn(16, 2))
expect_equal("keys returned by train_step", sorted(out), ["d_fake", "d_loss", "d_real", "g_loss"])
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_d_step = Check("discriminator_step", "results of one step on small random networks (its outputs, D's new weights)",
                hint="d_loss on D(real) and D(fakes), then zero D's gradients, back-propagate and step D's "
                     "optimiser; return the loss and the means of $\\sigma(\\ell)$ on the real and the fake "
                     "samples")
_detach = Check("discriminator_step", "sums of the gradients it leaves in the generator's parameters",
                hint="the discriminator step trains D only: detach the fakes G(z), so that its backward pass "
                     "does not run through G and leaves no gradient in G's parameters")
_first_step = Check("train_step", "first steps from small random networks (the returned losses and mean outputs)",
                    hint="one step is discriminator_step on (real, z_d), then generator_step on z_g with the "
                         "generator loss that the `loss` argument names (non-saturating by default, saturating "
                         "only when asked)")
_later_steps = Check("train_step", "later steps and final weights of 3 steps with SGD with momentum",
                     hint="PyTorch adds every backward pass to .grad: each update zeroes its own optimiser's "
                          "gradients before its backward pass, or the earlier steps' gradients (also those the "
                          "generator step leaves in D) pile up")
_rng = grading_rng("test_train_step")


def _toy_pair():
    """Small G and D of plain torch layers, weights from the grading rng (float64)."""
    _G = _torch.nn.Sequential(_torch.nn.Linear(2, 6), _torch.nn.Tanh(), _torch.nn.Linear(6, 2)).double()
    _D = _torch.nn.Sequential(_torch.nn.Linear(2, 6), _torch.nn.LeakyReLU(0.2), _torch.nn.Linear(6, 1),
                              _torch.nn.Flatten(0)).double()
    with _torch.no_grad():
        for _p in list(_G.parameters()) + list(_D.parameters()):
            _p.copy_(_torch.from_numpy(_rng.normal(size=tuple(_p.shape))))
    return _G, _D


def _batch(n):
    return _torch.from_numpy(_rng.normal(size=(n, 2)))


_G, _D = _toy_pair()
_value, _dr, _df = discriminator_step(_G, _D, _torch.optim.SGD(_D.parameters(), lr=0.05), _batch(12), _batch(12))
report("d_step_outputs", [_value, _dr, _df], rtol=1e-9, atol=1e-12, check=_d_step)
report("d_step_generator_grad", sum(float(p.grad.abs().sum()) for p in _G.parameters() if p.grad is not None),
       atol=1e-12, check=_detach)
report("d_step_weights", _np.concatenate([p.detach().numpy().ravel() for p in _D.parameters()]), rtol=1e-9, atol=1e-12,
       check=_d_step)
for _loss in ("non_saturating", "saturating"):
    _G, _D = _toy_pair()
    _opt_G = _torch.optim.SGD(_G.parameters(), lr=0.05, momentum=0.5)
    _opt_D = _torch.optim.SGD(_D.parameters(), lr=0.05, momentum=0.5)
    for _k in range(3):
        _out = train_step(_G, _D, _opt_G, _opt_D, _batch(10), _batch(10), _batch(10), loss=_loss)
        report(f"train_step_{_loss}_{_k}", [_out["d_loss"], _out["g_loss"], _out["d_real"], _out["d_fake"]],
               rtol=1e-8, atol=1e-12, check=_first_step if _k == 0 else _later_steps,
               example=f"loss={_loss!r}, step {_k + 1} of 3")
    report(f"train_step_{_loss}_weights",
           _np.concatenate([p.detach().numpy().ravel() for p in list(_G.parameters()) + list(_D.parameters())]),
           rtol=1e-8, atol=1e-12, check=_later_steps, example=f"loss={_loss!r}, after 3 steps")
### END HIDDEN TESTS

# %% [markdown]
# ## Part 5. Counting modes
#
# How do we know whether the generator learnt all 8 Gaussians? The mode-collapse papers
# (Unrolled GAN, VEEGAN, PacGAN) use two numbers, for a mixture with centres $c_k$ and
# standard deviation $\sigma$:
#
# - a sample is **high quality** when it lies within $3\sigma$ of some centre:
#   $\min_k \lVert x - c_k\rVert \le 3\sigma$;
# - a mode is **covered** when at least `min_count` high-quality samples are nearest to it
#   (20 out of 2500 samples, as in PacGAN).
#
# Write `count_modes(samples, centers, std, min_count=20)` and `high_quality_share(samples,
# centers, std)` with numpy (`samples` is an `(n, 2)` array, `centers` `(k, 2)`).

# %% [solution id=mode_counter]
def nearest_centers(samples, centers):
    """(index of the nearest centre, distance to it) for each sample."""
    ### BEGIN SOLUTION
    distances = np.linalg.norm(np.asarray(samples)[:, None, :] - np.asarray(centers)[None, :, :], axis=2)
    nearest = np.argmin(distances, axis=1)
    return nearest, distances[np.arange(len(distances)), nearest]
    ### END SOLUTION


def count_modes(samples, centers, std, min_count=20):
    """The number of centres with at least min_count samples within 3 std of them."""
    ### BEGIN SOLUTION
    nearest, distance = nearest_centers(samples, centers)
    counts = np.bincount(nearest[distance <= 3 * std], minlength=len(centers))
    return int(np.sum(counts >= min_count))
    ### END SOLUTION


def high_quality_share(samples, centers, std):
    """The share of samples within 3 std of some centre."""
    ### BEGIN SOLUTION
    _, distance = nearest_centers(samples, centers)
    return float(np.mean(distance <= 3 * std))
    ### END SOLUTION

# %% [tests id=test_mode_counter points=4]
square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
with checking("count_modes and high_quality_share"):
    on_two = np.concatenate([np.repeat(square[:1], 30, axis=0), np.repeat(square[1:2] + [0.05, 0], 25, axis=0),
                             np.repeat(square[2:3] + [0.2, 0], 40, axis=0)])  # with std 0.04: 0, 1.25 and 5 std away
    expect_equal("modes covered (std 0.04): 30 samples on mode 0, 25 at 1.25 std from mode 1, 40 at 5 std from mode 2",
                 count_modes(on_two, square, std=0.04), 2)
    expect_equal("with min_count=26 only mode 0 counts", count_modes(on_two, square, std=0.04, min_count=26), 1)
    expect_close("high-quality share of the same samples", high_quality_share(on_two, square, std=0.04), 55 / 95)
### BEGIN HIDDEN TESTS
import numpy as _np
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_modes = Check("count_modes", "random mixtures and values of min_count",
               hint="a mode is covered when at least min_count high-quality samples are nearest to it: samples "
                    "within 3 standard deviations of their nearest centre (the radius is measured in std)")
_share = Check("high_quality_share", "random mixtures",
               hint="the share of all samples that lie within 3 standard deviations (3 * std) of their nearest "
                    "centre")
_rng = grading_rng("test_mode_counter")
for _case in range(3):
    _k = int(_rng.integers(4, 26))
    _centers = _rng.uniform(-10, 10, size=(_k, 2))
    _std = float(_rng.uniform(0.01, 0.1))
    _counts = _rng.integers(0, 60, size=_k)
    _mode = _np.repeat(_np.arange(_k), _counts)
    _angle = _rng.uniform(0, 2 * _np.pi, size=len(_mode))
    _radius = _std * _rng.choice([0.5, 1.5, 2.5, 2.9, 3.1, 3.5, 4.5, 8.0], size=len(_mode))  # never exactly 3 std
    _samples = _centers[_mode] + _radius[:, None] * _np.stack([_np.cos(_angle), _np.sin(_angle)], axis=1)
    for _min_count in (1, 10, 20):
        report(f"count_modes_{_case}_{_min_count}", count_modes(_samples, _centers, _std, min_count=_min_count),
               check=_modes, example=f"{_k} centres, std = {_std:.3f}, min_count = {_min_count}")
    report(f"high_quality_share_{_case}", high_quality_share(_samples, _centers, _std), rtol=1e-12,
           check=_share, example=f"{_k} centres, std = {_std:.3f}")
### END HIDDEN TESTS

# %% [markdown]
# ## Part 6. Training on the ring
#
# Now put it together. `train_ring_gan(seed)` builds a `Generator` and a `Discriminator`
# after `torch.manual_seed(seed)`, makes an Adam optimiser for each with learning rate
# $2\cdot10^{-3}$ and the usual GAN betas $(0.5, 0.999)$ (a short memory for the first moment,
# because the other player keeps moving the target), lets both learning rates fall linearly
# to 0 over the run (`torch.optim.lr_scheduler.LambdaLR` with factor $1 - k/\text{steps}$ after
# step $k$: the two players otherwise keep circling the equilibrium and the samples stay
# blurred around the modes), and runs `steps` training steps on
# batches of 256 real points (drawn at random from `ring.X`) and 256 noise vectors for each
# player. It returns the generator. Use `DEVICE` for the models and the tensors, so the same
# code runs on a GPU.
#
# The hidden test trains your GAN once, on a seed of its own, and checks what a GAN must do:
# its samples cover at least 6 of the 8 modes; they are new points, not copies of the
# training points; the generator is a continuous function of $z$ (the same $z$ gives the same
# sample, a nearby $z$ a nearby sample, different $z$ different samples); and its parameters
# were trained away from their initial values.

# %% [locked id=ring_data]
ring = ring_of_gaussians(n=20_000, seed=0)
print(f"{len(ring.X)} real points from {len(ring.centers)} Gaussians with std {ring.std}")


@torch.no_grad()
def generate(G, n, seed=123):
    """n samples of G on the CPU as a numpy array, from fixed noise."""
    z = torch.randn(n, G.noise_dim, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    return G.eval()(z).cpu().numpy()

# %% [solution id=train_ring]
def train_ring_gan(seed=0, steps=1500, loss="non_saturating", history=None):
    """Train a GAN on ring.X; append each step's train_step dictionary to history (a list) if given."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    G, D = Generator().to(DEVICE), Discriminator().to(DEVICE)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    schedules = [torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / steps) for opt in (opt_G, opt_D)]
    real_data = torch.from_numpy(ring.X).to(DEVICE)
    for _ in range(steps):
        real = real_data[torch.randint(len(real_data), (256,), device=DEVICE)]
        z_d, z_g = torch.randn(256, 2, device=DEVICE), torch.randn(256, 2, device=DEVICE)
        out = train_step(G, D, opt_G, opt_D, real, z_d, z_g, loss=loss)
        for schedule in schedules:
            schedule.step()
        if history is not None:
            history.append(out)
    return G
    ### END SOLUTION

# %% [code]
if GRADING:
    print("A GAN trained on the ring: skipped while grading (a demonstration, no points).")
else:
    start = time.perf_counter()
    ring_history = []
    with checking("train_ring_gan"):
        G_ring = train_ring_gan(seed=0, history=ring_history)
    print(f"trained in {time.perf_counter() - start:.1f} s on {DEVICE}")
    ring_samples = generate(G_ring, 2500)
    print(f"modes covered {count_modes(ring_samples, ring.centers, ring.std)} of 8, "
          f"high-quality samples {high_quality_share(ring_samples, ring.centers, ring.std):.0%}")
    fig, (ax_samples, ax_out) = plt.subplots(1, 2, figsize=(10, 4))
    plot_samples_2d(ring_samples, ring.centers, real=ring.X[:2500], title="generated (blue) and real (grey)",
                    ax=ax_samples)
    ax_out.plot([h["d_real"] for h in ring_history], label="mean D(x), real")
    ax_out.plot([h["d_fake"] for h in ring_history], label="mean D(G(z)), generated")
    ax_out.axhline(0.5, color="k", linewidth=0.5)
    ax_out.set_xlabel("step")
    ax_out.legend()
    plt.show()

# %% [tests id=test_train_ring points=4]
with checking("train_ring_gan"):
    G_small = train_ring_gan(seed=1, steps=3)
expect_equal("train_ring_gan returns a Generator", isinstance(G_small, Generator), True)
expect_equal("samples of the trained generator", generate(G_small, 7).shape, (7, 2))
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from gradkit.gan.data import ring_of_gaussians as _ring_of_gaussians
from gradkit_autograder.kernel.channel import Check, Rule, grading_rng, report

_ring_modes = Check("train_ring_gan", "samples of the trained generator (the modes they cover)",
                    hint="train both players for all the steps (Adam, learning rate 2e-3 falling linearly to 0, "
                         "betas (0.5, 0.999), batches of 256), so that the samples cover the modes of the ring")
_ring_new = Check("train_ring_gan", "samples of the trained generator (new points or copies)",
                  hint="a generator makes new points: its samples must not be copies of the training points "
                       "in ring.X")
_ring_same = Check("train_ring_gan", "samples of the trained generator, drawn again from the same z",
                   hint="the generator is a function of z: the same z must give the same sample, so it adds no "
                        "randomness of its own")
_ring_nearby = Check("train_ring_gan", "samples of the trained generator for z moved slightly",
                     hint="the generator is a continuous function of z: a nearby z gives a nearby sample (no jumps, "
                          "as a table of stored points would make)")
_ring_distinct = Check("train_ring_gan", "samples of the trained generator for different z",
                       hint="different z give different samples: the generator's output varies with z, it is not "
                            "a table of a few answers")
_ring_trained = Check("train_ring_gan", "parameters of the returned generator",
                      hint="return the Generator your training loop updated: its parameters must have moved away "
                           "from the ones Generator() drew after torch.manual_seed(seed)")
_rng = grading_rng("test_train_ring")
_device = _torch.device("cuda" if _torch.cuda.is_available() else "cpu")
_ring = _ring_of_gaussians(n=20_000, seed=0)   # the notebook's ring.X and centres, made afresh
_seed = int(_rng.integers(2**31))
_torch.manual_seed(_seed)   # the weights Generator() draws first after this seed: where training starts
_initial = _torch.nn.Sequential(_torch.nn.Linear(2, 128), _torch.nn.ReLU(), _torch.nn.Linear(128, 128),
                                _torch.nn.ReLU(), _torch.nn.Linear(128, 2))
_G = train_ring_gan(seed=_seed)   # trained once; every check below reads this generator
_z = _torch.from_numpy(_rng.normal(size=(2500, _G.noise_dim))).float()
_step = _rng.normal(size=(500, _G.noise_dim))
_step = _torch.from_numpy(1e-4 * _step / _np.linalg.norm(_step, axis=1, keepdims=True)).float()
_G.eval()
with _torch.no_grad():
    _samples = _np.asarray(_G(_z.to(_device)).cpu(), dtype=_np.float64)
    _again = _np.asarray(_G(_z[:500].to(_device)).cpu(), dtype=_np.float64)
    _nudged = _np.asarray(_G((_z[:500] + _step).to(_device)).cpu(), dtype=_np.float64)
_weights = _np.concatenate([_np.asarray(_p.detach().cpu(), dtype=_np.float64).ravel() for _p in _G.parameters()])
_start = _np.concatenate([_np.asarray(_p.detach(), dtype=_np.float64).ravel() for _p in _initial.parameters()])
_watched = _rng.choice(len(_start), size=2000, replace=False)   # a fresh sample of the weights
_points = _ring.X[_rng.choice(len(_ring.X), size=2000, replace=False)]   # a fresh sample of the training points
# what the rules below compare with (the same in every run: these fail only when the cell stopped before them)
report("ring_centers", _ring.centers, check=Check("train_ring_gan", "centres of the ring", hint=_ring_modes.hint))
report("ring_training_points", _points, check=Check("train_ring_gan", "training points", hint=_ring_new.hint))
report("ring_initial_weights", _start[_watched], check=Check("train_ring_gan", "initial weights",
                                                              hint=_ring_trained.hint))
# the samples cover at least 6 of the 8 modes (20 samples within 3 std of each), decided by the grader
report("ring_samples", _samples, rule=Rule.modes(centers="ring_centers", radius=3 * _ring.std, at_least=6,
                                                 min_count=20), check=_ring_modes,
       example="2500 samples; a mode counts with 20 of them within 3 std of its centre")
# ... and are new points, not copies of training points (a generated point is ~1e-3 from the nearest one)
report("ring_samples_new", _samples[:500], rule=Rule.apart(points="ring_training_points", min_distance=1e-6,
                                                           at_least=0.99), check=_ring_new,
       example="500 samples against the training points")
# G is a function of z (the same z, the same sample) and a continuous one (z moved by 1e-4: the
# reference's samples move by at most ~4e-3), and different z give different samples
report("ring_samples_again", _again, rule=Rule.near(other="ring_samples_new", atol=1e-5), check=_ring_same,
       example="500 samples drawn again from the same z")
report("ring_samples_nudged", _nudged, rule=Rule.near(other="ring_samples_new", atol=0.05), check=_ring_nearby,
       example="500 samples, each z moved by 1e-4")
report("ring_distinct_samples", float(len(_np.unique(_samples, axis=0))), rule=Rule.bounds(low=2475),
       check=_ring_distinct, example="the number of distinct samples among 2500 from different z")
# the generator's parameters were trained (the reference moves 85-93% of them away from the start)
report("ring_trained_weights", _weights[_watched] if len(_weights) == len(_start) else _weights,
       rule=Rule.changed(baseline="ring_initial_weights", at_least=0.5), check=_ring_trained,
       example="2000 of the generator's weights, compared with where training started")
### END HIDDEN TESTS

# %% [markdown]
# ### What mode collapse is
#
# The generator's best reply to a *fixed* discriminator is to put all its samples where $D$ is
# largest: a single point. Training works only because $D$ keeps reacting, punishing
# whatever region the generator crowds into. When the generator moves faster than $D$ can
# follow, it collapses onto one or a few modes and hops between them: **mode collapse**.
# The cell below shows the mechanism in its pure form: it freezes the trained discriminator and
# trains the generator alone against it for 300 steps. The samples gather at the few points
# $D$ likes best; the mode counter drops, although the samples that remain may still be
# "high quality". This is why both numbers are reported.

# %% [code]
if GRADING:
    print("A generator alone against a fixed discriminator: skipped while grading (a demonstration, no points).")
else:
    torch.manual_seed(0)
    with checking("Generator, Discriminator and the ring training above"):
        D_frozen = Discriminator().to(DEVICE)
        G_collapse = Generator().to(DEVICE)
        G_collapse.load_state_dict(G_ring.state_dict())
    opt_D_fit = torch.optim.Adam(D_frozen.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_G_alone = torch.optim.Adam(G_collapse.parameters(), lr=1e-3, betas=(0.5, 0.999))
    real_all = torch.from_numpy(ring.X).to(DEVICE)
    with checking("discriminator_step and generator_step"):
        for _ in range(300):   # a discriminator that has learnt the ring, against the trained G
            discriminator_step(G_collapse, D_frozen, opt_D_fit,
                               real_all[torch.randint(len(real_all), (256,))].to(DEVICE),
                               torch.randn(256, 2, device=DEVICE))
        snapshots = [(0, generate(G_collapse, 2500))]
        for step in range(1, 301):   # now only G moves
            generator_step(G_collapse, D_frozen, opt_G_alone, torch.randn(256, 2, device=DEVICE))
            if step in (30, 300):
                snapshots.append((step, generate(G_collapse, 2500)))
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, (step, samples) in zip(axes, snapshots):
        modes = count_modes(samples, ring.centers, ring.std)
        share = high_quality_share(samples, ring.centers, ring.std)
        plot_samples_2d(samples, ring.centers, title=f"G alone, step {step}: {modes}/8 modes, {share:.0%} HQ", ax=ax)
    plt.show()

# %% [markdown]
# ### Saturating or non-saturating?
#
# Early in training the fakes are bad, $D$ rejects them, and their logits $\ell$ are very
# negative. Per sample, the saturating loss $\log(1 - \sigma(\ell))$ has derivative
# $-\sigma(\ell) \to 0$ with respect to the logit: the generator receives almost no gradient
# exactly when it needs it most, and training *stalls*. The non-saturating loss
# $-\log\sigma(\ell)$ has derivative $-(1 - \sigma(\ell)) \to -1$: the full signal. Both losses
# have the same fixed points; only the strength of the push differs.
#
# The cell below trains a discriminator against a fresh generator for 200 steps (so that it
# rejects every fake), then measures the gradient each loss gives the generator, and finally
# goes on training from that point for 300 steps with each loss and prints mean $D(G(z))$
# after 10, 50 and 300 steps. The gradient norms differ by orders of magnitude; the training
# curves differ less than you might expect, because Adam divides each step by a running
# estimate of the gradient's size and so rescues part of the tiny saturating gradient
# (with plain SGD the stall is much longer). Both losses share their fixed points, so
# once the fakes are no longer rejected outright they behave alike.

# %% [code]
if GRADING:
    print("Saturating against non-saturating loss: skipped while grading (a demonstration, no points).")
else:
    torch.manual_seed(1)
    with checking("Generator and Discriminator"):
        G_fresh, D_strong = Generator().to(DEVICE), Discriminator().to(DEVICE)
    opt_strong = torch.optim.Adam(D_strong.parameters(), lr=1e-3, betas=(0.5, 0.999))
    with checking("discriminator_step and the generator losses"):
        for _ in range(200):
            _, _, mean_fake = discriminator_step(G_fresh, D_strong, opt_strong,
                                                 real_all[torch.randint(len(real_all), (256,))].to(DEVICE),
                                                 torch.randn(256, 2, device=DEVICE))
        z = torch.randn(1024, 2, device=DEVICE)
        norms = {}
        for name, loss_fn in [("saturating", g_loss_saturating), ("non_saturating", g_loss_non_saturating)]:
            G_fresh.zero_grad()
            loss_fn(D_strong(G_fresh(z))).backward()
            norms[name] = torch.sqrt(sum((p.grad ** 2).sum() for p in G_fresh.parameters())).item()
    print(f"mean D(G(z)) after 200 discriminator steps: {mean_fake:.4f}")
    print(f"gradient norm for the generator: saturating {norms['saturating']:.2e}, "
          f"non-saturating {norms['non_saturating']:.2e}")

    curves = {}
    with checking("train_step"):
        for name in ("saturating", "non_saturating"):
            G_run, D_run = Generator().to(DEVICE), Discriminator().to(DEVICE)
            G_run.load_state_dict(G_fresh.state_dict())
            D_run.load_state_dict(D_strong.state_dict())
            opt_G_run = torch.optim.Adam(G_run.parameters(), lr=1e-3, betas=(0.5, 0.999))
            opt_D_run = torch.optim.Adam(D_run.parameters(), lr=1e-3, betas=(0.5, 0.999))
            torch.manual_seed(3)
            curves[name] = [train_step(G_run, D_run, opt_G_run, opt_D_run,
                                       real_all[torch.randint(len(real_all), (256,))].to(DEVICE),
                                       torch.randn(256, 2, device=DEVICE), torch.randn(256, 2, device=DEVICE),
                                       loss=name)
                            for _ in range(300)]
            print(f"{name:15}: mean D(G(z)) after 10, 50, 300 steps: "
                  + ", ".join(f"{curves[name][k - 1]['d_fake']:.3f}" for k in (10, 50, 300)))
    fig, ax = plt.subplots()
    for name, history in curves.items():
        ax.plot([h["d_fake"] for h in history], label=f"mean D(G(z)), {name}")
    ax.set_xlabel("step")
    ax.legend()
    plt.show()

# %% [markdown]
# ## Part 7. Generating digits
#
# Images call for convolutions. The DCGAN recipe (Radford et al., 2016), shrunk to $8\times8$:
#
# - generator: read $z$ as a $1\times1$ image with `noise_dim` channels; `ConvTranspose2d`
#   layers grow it $1 \to 2 \to 4 \to 8$ pixels; batch norm and ReLU after each hidden
#   layer; `tanh` at the output, because the digits are scaled to $[-1, 1]$;
# - discriminator: strided `Conv2d` layers shrink $8 \to 4 \to 2 \to 1$, LeakyReLU(0.2),
#   batch norm in the middle (never on the input layer nor on the generator's output).
#
# Write `DigitGenerator(noise_dim=32, width=32)` with output shape `(n, 1, 8, 8)` in $[-1, 1]$ and
# `DigitDiscriminator(width=32)` returning logits of shape `(n,)`. Your `train_step` works
# unchanged for them.
#
# The layers above are the recipe, not a rule: the hidden test checks what the two networks
# do, for a `width` and `noise_dim` of its own. The generator's images lie in $[-1, 1]$, differ
# for different $z$, and in evaluation mode are a continuous function of $z$ (the same $z$, the
# same image); in training mode batch norm makes each image depend on the rest of its batch,
# in both networks. The discriminator's logits differ from image to image and pass gradients
# back to the images (that is how the generator learns). And a few training steps of the pair
# (Adam, the losses of Part 3) change what both networks compute. The training loop is given; it reports the classes a digits classifier
# sees in your samples, the entropy of their histogram (at most $\log 10 = 2.30$) and a
# Frechet distance in the classifier's feature space (a small FID: lower is better).

# %% [solution id=digit_models]
class DigitGenerator(nn.Module):
    """noise (n, noise_dim) -> images (n, 1, 8, 8) in [-1, 1]."""

    def __init__(self, noise_dim=32, width=32):
        super().__init__()
        self.noise_dim = noise_dim
        ### BEGIN SOLUTION
        self.net = nn.Sequential(
            nn.ConvTranspose2d(noise_dim, 4 * width, 2, 1, 0, bias=False), nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, 1, 4, 2, 1), nn.Tanh())
        ### END SOLUTION

    def forward(self, z):
        ### BEGIN SOLUTION
        return self.net(z[:, :, None, None])
        ### END SOLUTION


class DigitDiscriminator(nn.Module):
    """images (n, 1, 8, 8) -> logits (n,)."""

    def __init__(self, width=32):
        super().__init__()
        ### BEGIN SOLUTION
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 2, 1, 0))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.net(x).reshape(-1)
        ### END SOLUTION

# %% [tests id=test_digit_models points=2]
with checking("DigitGenerator and DigitDiscriminator"):
    images = DigitGenerator(noise_dim=8, width=4)(torch.randn(5, 8))
    expect_equal("DigitGenerator output shape", tuple(images.shape), (5, 1, 8, 8))
    expect_equal("DigitDiscriminator output shape", tuple(DigitDiscriminator(width=4)(images).shape), (5,))
if not images.abs().max() <= 1:
    raise AssertionError("DigitGenerator's pixels must lie in [-1, 1] (end with tanh)")
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
import torch.nn.functional as _F
from gradkit.gan.data import gan_digits as _gan_digits
from gradkit_autograder.kernel.channel import Check, Rule, grading_rng, report

_g_pixels = Check("DigitGenerator", "pixels of generated images",
                  hint="images of shape (n, 1, 8, 8) whose pixels lie in [-1, 1], like the scaled digits: end "
                       "the generator with tanh")
_g_spread = Check("DigitGenerator", "batches of images for different noise vectors",
                  hint="the images must depend on z: feed the noise z itself into the network, so that "
                       "different z give different images")
_g_batch = Check("DigitGenerator", "images regenerated in another batch (training mode)",
                 hint="batch norm after each hidden layer, as the DCGAN recipe has it: in training mode each "
                      "image then depends on the rest of its batch")
_g_same = Check("DigitGenerator", "images generated again from the same z",
                hint="in evaluation mode the generator is a function of z: the same z gives the same image, so it "
                     "adds no noise of its own")
_g_continuous = Check("DigitGenerator", "images for z moved slightly",
                      hint="in evaluation mode the generator is a continuous function of z: a slightly moved z "
                           "gives a slightly different image (no jumps, as a table of stored images would make)")
_d_logits = Check("DigitDiscriminator", "logits of real and generated images",
                  hint="one finite logit per image, a vector of shape (n,)")
_d_spread = Check("DigitDiscriminator", "batches of logits of different images",
                  hint="the logit differs from image to image: each image gets a score of its own, not one for "
                       "the whole batch")
_d_batch = Check("DigitDiscriminator", "logits recomputed in another batch (training mode)",
                 hint="batch norm in the middle of the discriminator (not on the input layer): in training mode "
                      "each logit then depends on the rest of its batch")
_d_gradient = Check("DigitDiscriminator", "images and the gradient of their logit",
                    hint="the logits must pass gradients back to the images (nothing detached inside D): that "
                         "is how the generator learns")
_g_trained = Check("DigitGenerator", "images before and after 10 training steps of the pair",
                   hint="a few Adam steps must change what the generator computes: the images must come from "
                        "its layers, whose parameters the gradients reach through the discriminator")
_d_trained = Check("DigitDiscriminator", "logits before and after 10 training steps of the pair",
                   hint="a few Adam steps must change what the discriminator computes: its logits must come "
                        "from its layers, whose parameters the gradients reach")
_rng = grading_rng("test_digit_models")
_width, _noise = int(_rng.integers(2, 9)), int(_rng.integers(2, 17))
_torch.manual_seed(int(_rng.integers(2**31)))
_G, _D = DigitGenerator(noise_dim=_noise, width=_width), DigitDiscriminator(width=_width)
_digits = _torch.from_numpy(_gan_digits("train")[0])


def _noise_batch(n):
    return _torch.from_numpy(_rng.normal(size=(n, _noise))).float()


def _real_batch(n):
    return _digits[_torch.from_numpy(_rng.choice(len(_digits), size=n, replace=False))]


def _numbers(x):
    return _np.asarray(x.detach().cpu(), dtype=_np.float64)


_z, _real = _noise_batch(32), _real_batch(32)
_G.train()
_D.train()
_images = _G(_z)
# the generator: images of shape (32, 1, 8, 8) in [-1, 1] that differ from one z to the next
report("digit_generator_images", _numbers(_images), rule=Rule.bounds(-1.0, 1.0), check=_g_pixels,
       example="the pixels of 32 images in training mode")
report("digit_generator_spread", float(_numbers(_images).std(axis=0).mean()), rule=Rule.bounds(low=1e-2),
       check=_g_spread, example="the spread of each pixel over 32 different z")
# batch norm, in training mode: an image depends on the other images of its batch
_regrouped = _G(_torch.cat([_z[:8], _noise_batch(24)]))[:8]
report("digit_generator_batch_effect", float(_np.abs(_numbers(_regrouped) - _numbers(_images[:8])).max()),
       rule=Rule.bounds(low=1e-5), check=_g_batch,
       example="how much 8 images change when the rest of their batch is replaced")
# the discriminator: one logit per image, different for different images; batch norm as above
_logits = _D(_torch.cat([_real, _images.detach()]))
report("digit_discriminator_logits", _numbers(_logits), rule=Rule.bounds(-1e6, 1e6), check=_d_logits,
       example="the logits of 64 images")
report("digit_discriminator_spread", float(_numbers(_logits).std()), rule=Rule.bounds(low=1e-2), check=_d_spread,
       example="the spread of the logits of 64 different images")
_regrouped = _D(_torch.cat([_real[:8], _real_batch(56)]))[:8]
report("digit_discriminator_batch_effect", float(_np.abs(_numbers(_regrouped) - _numbers(_logits[:8])).max()),
       rule=Rule.bounds(low=1e-5), check=_d_batch,
       example="how much 8 logits change when the rest of their batch is replaced")
# evaluation mode: G is a function of z (same z, same image) and a continuous one (z moved by 1e-4);
# D's logit of each image has a gradient with respect to that image
_G.eval()
_D.eval()
with _torch.no_grad():
    _fixed = _numbers(_G(_z))
    _again = _numbers(_G(_z))
    _step = _torch.from_numpy(_rng.normal(size=(32, _noise))).float()
    _nudged = _numbers(_G(_z + 1e-4 * _step / _step.norm(dim=1, keepdim=True)))
report("digit_generator_eval", _fixed, rule=Rule.bounds(-1.0, 1.0), check=_g_pixels,
       example="the pixels of 32 images in evaluation mode")
report("digit_generator_again", _again, rule=Rule.near(other="digit_generator_eval", atol=1e-6), check=_g_same,
       example="32 images generated again from the same z, in evaluation mode")
report("digit_generator_nudged", _nudged, rule=Rule.near(other="digit_generator_eval", atol=1e-3),
       check=_g_continuous, example="32 images, each z moved by 1e-4, in evaluation mode")
_inputs = _torch.cat([_real, _images.detach()]).requires_grad_(True)
_D(_inputs).sum().backward()
_input_grad = _inputs.grad if _inputs.grad is not None else _torch.zeros_like(_inputs)   # None: no gradient came back
report("digit_discriminator_input_gradient", _numbers(_input_grad.flatten(1).norm(dim=1)),
       rule=Rule.bounds(low=1e-6), check=_d_gradient,
       example="the size of the gradient of each image's logit with respect to its pixels")
# a few training steps of the pair (Adam and the losses of Part 3, written here) change what both compute
_G.train()
_D.train()
with _torch.no_grad():
    _g_before, _d_before = _numbers(_G(_z)), _numbers(_D(_real))
_opt_G = _torch.optim.Adam(_G.parameters(), lr=2e-3, betas=(0.5, 0.999))
_opt_D = _torch.optim.Adam(_D.parameters(), lr=2e-3, betas=(0.5, 0.999))
for _ in range(10):
    _real_logits, _fake_logits = _D(_real_batch(32)), _D(_G(_noise_batch(32)).detach())
    _loss = (_F.binary_cross_entropy_with_logits(_real_logits, _torch.ones_like(_real_logits))
             + _F.binary_cross_entropy_with_logits(_fake_logits, _torch.zeros_like(_fake_logits)))
    _opt_D.zero_grad()
    _loss.backward()
    _opt_D.step()
    _fake_logits = _D(_G(_noise_batch(32)))
    _loss = _F.binary_cross_entropy_with_logits(_fake_logits, _torch.ones_like(_fake_logits))
    _opt_G.zero_grad()
    _loss.backward()
    _opt_G.step()
with _torch.no_grad():   # training mode both times: batch statistics, so only trained weights count
    _g_after, _d_after = _numbers(_G(_z)), _numbers(_D(_real))
report("digit_generator_trained_change", float(_np.abs(_g_after - _g_before).mean()), rule=Rule.bounds(low=1e-2),
       check=_g_trained, example="the mean change of 32 images over 10 training steps")
report("digit_discriminator_trained_change", float(_np.abs(_d_after - _d_before).mean()),
       rule=Rule.bounds(low=1e-2), check=_d_trained, example="the mean change of 32 logits over 10 training steps")
### END HIDDEN TESTS

# %% [code]
if GRADING:
    print("A GAN trained on the digits: skipped while grading (a demonstration, no points).")
else:
    X_train_images, _ = gan_digits("train")
    real_images = torch.from_numpy(X_train_images).to(DEVICE)
    torch.manual_seed(0)
    with checking("DigitGenerator, DigitDiscriminator and train_step"):
        G_digits, D_digits = DigitGenerator(width=16).to(DEVICE), DigitDiscriminator(width=16).to(DEVICE)
        opt_G = torch.optim.Adam(G_digits.parameters(), lr=2e-3, betas=(0.5, 0.999))
        opt_D = torch.optim.Adam(D_digits.parameters(), lr=2e-3, betas=(0.5, 0.999))
        start = time.perf_counter()
        for step in range(500):
            real = real_images[torch.randint(len(real_images), (64,), device=DEVICE)]
            train_step(G_digits, D_digits, opt_G, opt_D, real, torch.randn(64, 32, device=DEVICE),
                       torch.randn(64, 32, device=DEVICE))
    print(f"500 steps in {time.perf_counter() - start:.1f} s on {DEVICE}")
    digit_samples = generate(G_digits, 1000)
    X_test_images, _ = gan_digits("test")
    print(f"classes produced {classes_produced(digit_samples)}/10, "
          f"class entropy {class_entropy(digit_samples):.2f} nats")
    print(f"feature Frechet distance to the training digits: generated {feature_frechet_distance(X_train_images, digit_samples):.1f}, "
          f"held-out real digits {feature_frechet_distance(X_train_images, X_test_images):.1f}")
    plot_image_grid(digit_samples[:60], columns=12, title="generated digits")
    plt.show()

# %% [markdown]
# A few hundred steps on a CPU give recognisable digits of most classes; longer training (or
# a GPU) sharpens them, and the Frechet distance falls towards that of held-out real digits.
# Assignment 5 spreads such training over several workers.
