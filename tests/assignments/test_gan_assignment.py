"""The a4_pytorch_gans reference solution equals gradkit.gan, on random inputs.

The solution cells are taken from the text source (``assignments/tools/sources``),
executed after the notebook's set-up cell, and compared with the library: losses and
their gradients, the two networks, the training step and the mode counter.

The grade cells are also run here, visible and hidden part, with the trusted channel's
``report`` captured and judged by the grader's own ``checks.check_cell`` (rules
included), as ``gradkit grade`` judges them:

- the reference satisfies its own rules on several grading seeds (the ring GAN is
  trained on a fresh seed each time: modes, new samples, continuity, trained weights;
  the digit networks' behaviour);
- honest answers written differently score full marks (issue 21, class 7): a torch MLP
  as a module class of its own with ``F.relu``, or as nested ``nn.Sequential`` blocks,
  with weights copied by position and the loss returned through ``float``; digit
  networks with other layers than the reference's. They also pass the own-code check.
"""

from __future__ import annotations


import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from gradkit.gan import losses, mode_coverage, models, training  # noqa: E402

import nbsource  # noqa: E402
from gradkit_autograder.kernel import channel
from gradkit_autograder.judging import trusted_checks as checks
from gradkit_autograder.judging import own_code as owncode  # noqa: E402
from gradkit_autograder.state.settings import load_settings  # noqa: E402
from support import REPO

pytestmark = pytest.mark.slow   # trains the notebook's GANs on several seeds: left to make test-all


@pytest.fixture(scope="module")
def solution() -> dict:
    """The notebook's namespace after its set-up cell, the locked data cells and every solution cell."""
    cells = nbsource.load_source(REPO / "assignments" / "tools" / "sources" / "a4_pytorch_gans.py")
    namespace: dict = {"__name__": "__main__"}
    for cell in cells:
        if cell.kind in ("locked", "solution"):
            exec(compile(cell.text, f"a4_pytorch_gans:{cell.grade_id}", "exec"), namespace)
    return namespace


def logits(rng, n):
    return np.concatenate([rng.normal(scale=6, size=n), [100.0, -100.0, 0.0]])


def test_losses_and_gradients_equal_the_library(solution):
    rng = np.random.default_rng(0)
    pairs = [("d_loss", losses.discriminator_loss, 2),
             ("g_loss_saturating", losses.generator_loss_saturating, 1),
             ("g_loss_non_saturating", losses.generator_loss_non_saturating, 1)]
    for name, library, arity in pairs:
        inputs = [logits(rng, int(rng.integers(1, 20))) for _ in range(arity)]
        ours = [torch.tensor(x, requires_grad=True) for x in inputs]
        theirs = [torch.tensor(x, requires_grad=True) for x in inputs]
        a, b = solution[name](*ours), library(*theirs)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=name)
        for ga, gb in zip(torch.autograd.grad(a, ours), torch.autograd.grad(b, theirs)):
            torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-15, msg=f"gradient of {name}")


def test_networks_equal_the_library(solution):
    torch.manual_seed(0)
    pairs = [(solution["Generator"](noise_dim=3, hidden=12), models.MLPGenerator(noise_dim=3, hidden=12), (7, 3)),
             (solution["Discriminator"](hidden=12), models.MLPDiscriminator(hidden=12), (7, 2)),
             (solution["DigitGenerator"](noise_dim=5, width=3), models.ConvGenerator(noise_dim=5, width=3), (7, 5)),
             (solution["DigitDiscriminator"](width=3), models.ConvDiscriminator(width=3), (7, 1, 8, 8))]
    for ours, library, shape in pairs:
        library.load_state_dict(ours.state_dict())  # same layers, same names: the load must be exact
        x = torch.randn(*shape)
        for mode in ("train", "eval"):
            getattr(ours, mode)(), getattr(library, mode)()
            torch.testing.assert_close(ours(x), library(x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss", ["non_saturating", "saturating"])
def test_train_step_equals_the_library(solution, loss):
    torch.manual_seed(1)
    G, D = solution["Generator"](hidden=10).double(), solution["Discriminator"](hidden=10).double()
    G_lib, D_lib = models.MLPGenerator(hidden=10).double(), models.MLPDiscriminator(hidden=10).double()
    G_lib.load_state_dict(G.state_dict())
    D_lib.load_state_dict(D.state_dict())
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-2, betas=(0.5, 0.999)) for m in (G, D, G_lib, D_lib)]
    for _ in range(4):
        real, z_d, z_g = (torch.randn(20, 2, dtype=torch.float64) for _ in range(3))
        ours = solution["train_step"](G, D, optimizers[0], optimizers[1], real, z_d, z_g, loss=loss)
        theirs = training.train_step(G_lib, D_lib, optimizers[2], optimizers[3], real, z_d, z_g, loss=loss)
        assert ours == pytest.approx(theirs, rel=1e-10, abs=1e-12)
    for a, b in zip(list(G.parameters()) + list(D.parameters()), list(G_lib.parameters()) + list(D_lib.parameters())):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_mode_counter_equals_the_library(solution):
    rng = np.random.default_rng(2)
    for _ in range(5):
        k = int(rng.integers(3, 26))
        centers, std = rng.uniform(-8, 8, size=(k, 2)), float(rng.uniform(0.01, 0.2))
        mode = rng.integers(0, k, size=int(rng.integers(50, 2000)))
        samples = centers[mode] + std * rng.uniform(0, 4.5, size=(len(mode), 1)) * rng.normal(size=(len(mode), 2))
        for min_count in (1, 20):
            assert solution["count_modes"](samples, centers, std, min_count) == \
                mode_coverage.modes_covered(samples, centers, std, min_count=min_count)
        assert solution["high_quality_share"](samples, centers, std) == \
            pytest.approx(mode_coverage.high_quality_share(samples, centers, std), abs=1e-12)


SOURCE = REPO / "assignments" / "tools" / "sources" / "a4_pytorch_gans.py"


def cells_with(replacements: dict[str, str] | None = None) -> list:
    """The source's cells, with the named solution cells' text replaced."""
    cells = nbsource.load_source(SOURCE)
    for cell in cells:
        if cell.grade_id in (replacements or {}):
            cell.text = replacements[cell.grade_id]
    return cells


def grade_cell_reports(cells: list, grade_id: str, seed: int, monkeypatch) -> dict:
    """Run locked and solution cells, then grade cell ``grade_id`` (visible and hidden part) under a
    grading seed; the trusted channel's reports of that cell, by key, as the grader reads them."""
    monkeypatch.setenv(channel.SEED_VARIABLE, str(seed))
    sent: dict = {}
    monkeypatch.setattr(channel, "report", lambda key, value, **words:
                        sent.setdefault(key, []).append(channel.encode_value(key, value, **words)))
    namespace: dict = {"__name__": "__main__"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a grading kernel (one CPU)
    try:
        for cell in cells:
            if cell.kind in ("locked", "solution") or cell.grade_id == grade_id:
                exec(compile(cell.text, f"a4_pytorch_gans:{cell.grade_id}", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    return sent


def judged(reference: dict, got: dict) -> list[str]:
    """The grader's problems with ``got`` against the reference run's reports (empty: full marks)."""
    problems, forgeries = checks.check_cell(reference, got, rtol=1e-7, atol=1e-9)
    return problems + forgeries


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_reference_satisfies_its_ring_rules(monkeypatch, seed):
    """The ring GAN check trains on a fresh seed per grading run: the reference must pass every run
    (three runs here, as the hidden test's verdict must not depend on the seed).

    (Judged against itself, each rule is applied to the reference's own reports: at least 6
    modes, samples not copies of training points, the same and a nearby z, distinct samples,
    trained weights.)
    """
    reports = grade_cell_reports(cells_with(), "test_train_ring", seed, monkeypatch)
    assert any("rule" in p[0] for p in reports.values())
    assert judged(reports, reports) == []


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_reference_satisfies_its_digit_rules(monkeypatch, seed):
    reports = grade_cell_reports(cells_with(), "test_digit_models", seed, monkeypatch)
    assert judged(reports, reports) == []


# Honest answers written differently from the reference (issue 21, class 7): each must score
# full marks on the grade cell that tests it.
HONEST_TORCH_MLP = {
    "module_class_with_F_relu": '''
class TorchMLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


def torch_mlp(sizes):
    return TorchMLP(sizes)


def copy_weights(gradkit_model, torch_model):
    torch_model.double()
    with torch.no_grad():
        for mine, theirs in zip(torch_model.parameters(), gradkit_model.parameters()):
            mine.copy_(torch.from_numpy(np.asarray(theirs.data)))
    return torch_model


def torch_gradients(model, X, y):
    loss = F.cross_entropy(model(torch.tensor(X)), torch.tensor(y))
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return float(loss), [g.numpy() for g in grads]
''',
    "nested_sequential_copied_in_place": '''
def torch_mlp(sizes):
    hidden = [nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in zip(sizes[:-2], sizes[1:-1])]
    return nn.Sequential(nn.Sequential(*hidden), nn.Linear(sizes[-2], sizes[-1]))


def copy_weights(gradkit_model, torch_model):
    for p, value in zip(torch_model.parameters(), gradkit_model.state_dict().values()):
        p.data = torch.tensor(value)
    return torch_model


def torch_gradients(model, X, y):
    for p in model.parameters():
        p.grad = None
    logits = model(torch.from_numpy(np.asarray(X)))
    loss = -torch.log_softmax(logits, dim=1)[torch.arange(len(y)), torch.from_numpy(np.asarray(y))].mean()
    loss.backward()
    return float(loss.detach()), [p.grad.numpy().copy() for p in model.parameters()]
''',
}

HONEST_DIGIT_MODELS = {
    "linear_first_layer_other_kernels": '''
class DigitGenerator(nn.Module):
    def __init__(self, noise_dim=32, width=32):
        super().__init__()
        self.noise_dim = noise_dim
        self.width = width
        self.project = nn.Linear(noise_dim, 2 * width * 4 * 4)
        self.norm0 = nn.BatchNorm1d(2 * width * 4 * 4)
        self.up = nn.ConvTranspose2d(2 * width, width, 4, 2, 1)
        self.norm1 = nn.BatchNorm2d(width)
        self.out = nn.Conv2d(width, 1, 3, 1, 1)

    def forward(self, z):
        h = F.relu(self.norm0(self.project(z))).view(len(z), 2 * self.width, 4, 4)
        return torch.tanh(self.out(F.relu(self.norm1(self.up(h)))))


class DigitDiscriminator(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, 1, 1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, 2, 1)
        self.norm = nn.BatchNorm2d(2 * width)
        self.head = nn.Linear(2 * width * 4 * 4, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.norm(self.conv2(h)), 0.2)
        return self.head(h.flatten(1)).squeeze(1)
''',
}


def own_code_problems(replacements: dict[str, str]) -> dict[str, str]:
    """The grader's own-code verdicts for the notebook built with these solution cells."""
    import build_notebooks

    notebook = nbsource.build_notebook(build_notebooks.as_submission(cells_with(replacements)))
    settings = load_settings(REPO / "assignments" / "a4_pytorch_gans")
    return owncode.own_code_problems(notebook["cells"], settings.withheld, settings.own_code)


@pytest.mark.parametrize("cell, grade_id, name, text",
                         [("torch_mlp", "test_torch_mlp", n, t) for n, t in HONEST_TORCH_MLP.items()]
                         + [("digit_models", "test_digit_models", n, t) for n, t in HONEST_DIGIT_MODELS.items()])
def test_honest_answers_written_differently_score_full_marks(monkeypatch, cell, grade_id, name, text):
    reference = grade_cell_reports(cells_with(), grade_id, 7, monkeypatch)
    got = grade_cell_reports(cells_with({cell: text}), grade_id, 7, monkeypatch)
    assert judged(reference, got) == [], name
    assert own_code_problems({cell: text}) == {}, name


def test_the_reference_uses_only_what_assignment_yaml_allows():
    assert own_code_problems({}) == {}
