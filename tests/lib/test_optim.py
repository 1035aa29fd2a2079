"""gradkit.optim against torch.optim: identical parameter trajectories and schedules."""

import math

import numpy as np
import pytest
import torch

from gradkit import Tensor
from gradkit import nn, optim
from gradkit.nn import F

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def loss_of_net(params, x, y):
    """A small tanh net with a squared loss; the same code runs on both libraries' tensors."""
    w1, b1, w2 = params
    out = (x @ w1 + b1).tanh() @ w2
    return ((out - y) ** 2).mean()


def run_both(make_gradkit_opt, make_torch_opt, steps=20):
    """Take ``steps`` optimizer steps on the same net in both libraries; return both params."""
    rng = np.random.default_rng(0)
    shapes = [(3, 5), (5,), (5, 2)]
    initial = [rng.normal(size=s) for s in shapes]
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))

    ours = [Tensor(a.copy(), requires_grad=True) for a in initial]  # float64
    theirs = [torch.tensor(a, device=DEVICE, requires_grad=True) for a in initial]
    opt, opt_t = make_gradkit_opt(ours), make_torch_opt(theirs)
    x_t, y_t = torch.tensor(x, device=DEVICE), torch.tensor(y, device=DEVICE)
    for _ in range(steps):
        opt.zero_grad()
        loss_of_net(ours, Tensor(x), y).backward()
        opt.step()
        opt_t.zero_grad()
        loss_of_net(theirs, x_t, y_t).backward()
        opt_t.step()
    return [p.data for p in ours], [p.detach().cpu().numpy() for p in theirs], initial


SGD_SETTINGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.1),
]


@pytest.mark.parametrize("kwargs", SGD_SETTINGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_sgd_trajectory_matches_torch(kwargs):
    ours, theirs, initial = run_both(lambda p: optim.SGD(p, **kwargs), lambda p: torch.optim.SGD(p, **kwargs))
    for a, b, start in zip(ours, theirs, initial):
        assert not np.allclose(a, start)  # the parameters did move
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


ADAM_SETTINGS = [
    dict(lr=0.01),
    dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
]


@pytest.mark.parametrize("kwargs", ADAM_SETTINGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_adam_trajectory_matches_torch(kwargs):
    ours, theirs, initial = run_both(lambda p: optim.Adam(p, **kwargs), lambda p: torch.optim.Adam(p, **kwargs))
    for a, b, start in zip(ours, theirs, initial):
        assert not np.allclose(a, start)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


def test_sgd_on_quadratic_closed_form():
    # f(p) = p^2 / 2 has gradient p; plain SGD multiplies p by (1 - lr) each step.
    p = Tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    for _ in range(10):
        opt.zero_grad()
        (p * p * 0.5).sum().backward()
        opt.step()
    assert p.data[0] == pytest.approx(3.0 * 0.9**10)


def test_float32_parameters_stay_float32_and_in_place():
    model = nn.Linear(3, 2, seed=0)
    weight_array = model.weight.data
    opt = optim.Adam(model.parameters(), lr=0.1)
    F.mse_loss(model(np.ones((4, 3), dtype=np.float32)), np.zeros((4, 2), dtype=np.float32)).backward()
    opt.step()
    assert model.weight.data is weight_array and weight_array.dtype == np.float32


def test_parameters_without_grad_are_skipped():
    a = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=1.0, momentum=0.9)
    (a * 2.0).sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.data, [-1.0, -1.0])
    np.testing.assert_array_equal(b.data, [1.0, 1.0])


def test_bad_arguments_name_the_argument():
    params = [Tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(ValueError, match="SGD: lr must be a number >= 0, got -0.1"):
        optim.SGD(params, lr=-0.1)
    with pytest.raises(ValueError, match="SGD: nesterov=True needs momentum > 0"):
        optim.SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="SGD: momentum"):
        optim.SGD(params, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="Adam: lr"):
        optim.Adam(params, lr=-1)
    with pytest.raises(ValueError, match=r"Adam: betas\[1\] must be in \[0, 1\), got 1.0"):
        optim.Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Adam: eps"):
        optim.Adam(params, eps=-1e-8)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="requires_grad=True"):
        optim.SGD([Tensor(np.ones(2))], lr=0.1)
    with pytest.raises(TypeError, match=r"pass model.parameters\(\), not the model"):
        optim.SGD(nn.Linear(2, 2, seed=0), lr=0.1)
    with pytest.raises(TypeError, match="not a single Tensor"):
        optim.Adam(params[0])


# ----- schedules ---------------------------------------------------------------------
def torch_lrs(make_scheduler, base_lr, steps):
    """The learning rate torch uses at each of ``steps`` epochs."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


def gradkit_lrs(make_scheduler, base_lr, steps):
    opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=base_lr)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.lr)
        assert scheduler.get_lr() == opt.lr
        opt.step()
        scheduler.step()
    return lrs


def test_step_lr_matches_torch():
    ours = gradkit_lrs(lambda o: optim.StepLR(o, step_size=3, gamma=0.5), 0.2, 12)
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 0.2, 12)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_cosine_annealing_matches_torch_up_to_total_steps_then_holds():
    total = 10
    ours = gradkit_lrs(lambda o: optim.CosineAnnealing(o, total_steps=total, min_lr=0.01), 0.1, total + 1)
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=0.01), 0.1, total + 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert optim.cosine_annealing(total + 5, 0.1, total, 0.01) == pytest.approx(0.01)
    assert optim.cosine_annealing(total // 2, 0.1, total, 0.0) == pytest.approx(0.05)


def test_linear_warmup_matches_torch_linear_lr():
    ours = gradkit_lrs(lambda o: optim.LinearWarmup(o, warmup_steps=4, start_factor=0.25), 0.8, 8)
    theirs = torch_lrs(
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 0.8, 8)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert ours[0] == pytest.approx(0.2) and ours[-1] == pytest.approx(0.8)


def test_schedules_work_without_an_optimizer():
    schedule = optim.StepLR(step_size=2, gamma=0.1, base_lr=1.0)
    assert [schedule.lr_at(t) for t in range(5)] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    assert schedule.get_lr() == 1.0
    assert schedule.step() == 1.0 and schedule.step() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="exactly one of optimizer or base_lr"):
        optim.CosineAnnealing(total_steps=5)


def test_linear_scaling_rule():
    # Goyal et al.: batch 256 at lr 0.1 becomes batch 8192 (k = 32) at lr 3.2,
    # warmed up from 0.1 = 3.2 / k.
    k = 32
    lr = optim.scaled_lr(0.1, base_batch_size=256, batch_size=256 * k)
    assert lr == pytest.approx(3.2)
    assert optim.linear_warmup(0, lr, warmup_steps=5, start_factor=1 / k) == pytest.approx(0.1)
    assert optim.linear_warmup(5, lr, warmup_steps=5, start_factor=1 / k) == pytest.approx(3.2)
    with pytest.raises(ValueError, match="batch sizes must be >= 1"):
        optim.scaled_lr(0.1, 0, 10)


def test_schedule_argument_errors():
    with pytest.raises(ValueError, match="StepLR: step_size"):
        optim.StepLR(base_lr=0.1, step_size=0)
    with pytest.raises(ValueError, match=r"LinearWarmup: start_factor must be in \(0, 1\]"):
        optim.LinearWarmup(base_lr=0.1, start_factor=0.0)
    with pytest.raises(ValueError, match="base_lr must be a number >= 0"):
        optim.StepLR(base_lr=-1.0)


def test_cosine_closed_form_midpoint():
    assert optim.cosine_annealing(0, 2.0, 8) == pytest.approx(2.0)
    assert optim.cosine_annealing(2, 2.0, 8) == pytest.approx(1.0 + math.cos(math.pi / 4))
