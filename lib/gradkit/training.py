"""The kit's main job: train an MLP on the 8x8 digits with gradkit alone.

It is the end-to-end check that the engine, the layers, the optimizer and the data
work together, and the reference for assignment 3's "MLP on digits at >= 95%".
``gradkit train`` runs it.

    result = train_digits_mlp(hidden=(128,), epochs=20, plot_path="out/loss.png")
    print(result.test_accuracy, result.samples_per_second)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from gradkit.autodiff.grad_mode import no_grad
from gradkit.autodiff.tensor import Tensor
from gradkit.data import DataLoader, load_digits
from gradkit.nn import Module, mlp
from gradkit.nn.functional import cross_entropy
from gradkit.optim import SGD


@dataclass
class TrainingResult:
    """What one training run produced. Accuracies are fractions in [0, 1]."""

    test_accuracy: float
    train_accuracy: float
    samples_per_second: float  # training examples processed per second of the training loop
    seconds: float  # wall time of the whole run: data, training and evaluation
    loss_history: list[float] = field(repr=False)  # the mini-batch loss after every step
    epoch_losses: list[float] = field(repr=False)  # the mean mini-batch loss of each epoch
    model: Module = field(repr=False)


def accuracy(model: Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows of ``X`` whose largest logit is at the true class ``y``."""
    with no_grad():  # evaluation builds no graph
        logits = model(Tensor(X)).data
    return float(np.mean(logits.argmax(axis=1) == y))


def train_digits_mlp(
    hidden: Sequence[int] = (128,),
    epochs: int = 20,
    lr: float = 0.05,
    momentum: float = 0.9,
    batch_size: int = 32,
    seed: int = 0,
    weight_decay: float = 0.0,
    plot_path: str | Path | None = None,
) -> TrainingResult:
    """Train a ReLU MLP 64 -> hidden... -> 10 with mini-batch SGD + momentum on the digits.

    One ``seed`` fixes the initial weights and the shuffling, so a run is reproducible.
    With the defaults the test accuracy is about 97-98% after a few seconds on one core.
    If ``plot_path`` is given, the loss curve is saved there as a PNG.
    """
    if epochs < 1:
        raise ValueError(f"train_digits_mlp: epochs must be >= 1, got {epochs!r}")
    start = time.perf_counter()
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    model = mlp([X_train.shape[1], *hidden, 10], init="he", seed=seed)
    optimizer = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    loader = DataLoader(X_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)

    loss_history: list[float] = []
    epoch_losses: list[float] = []
    train_start = time.perf_counter()
    for _ in range(epochs):
        first_step = len(loss_history)
        for xb, yb in loader:
            loss = cross_entropy(model(Tensor(xb)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_history.append(loss.item())
        epoch_losses.append(float(np.mean(loss_history[first_step:])))
    train_seconds = time.perf_counter() - train_start

    result = TrainingResult(
        test_accuracy=accuracy(model, X_test, y_test),
        train_accuracy=accuracy(model, X_train, y_train),
        samples_per_second=epochs * len(X_train) / train_seconds,
        seconds=0.0,
        loss_history=loss_history,
        epoch_losses=epoch_losses,
        model=model,
    )
    if plot_path is not None:
        plot_loss_curve(
            loss_history,
            path=plot_path,
            steps_per_epoch=len(loader),
            title=f"MLP {[64, *hidden, 10]} on digits: test accuracy {result.test_accuracy:.1%}",
        )
    result.seconds = time.perf_counter() - start
    return result


def plot_loss_curve(
    loss_history: Sequence[float],
    path: str | Path | None = None,
    steps_per_epoch: int | None = None,
    title: str = "training loss",
):
    """Plot per-step losses (faint) and, given ``steps_per_epoch``, per-epoch means.

    Returns the matplotlib ``Figure``; with ``path`` also saves it as a PNG (creating
    the folder). Uses ``matplotlib.figure.Figure`` directly rather than pyplot, so it
    neither needs a display nor changes the backend of a notebook that calls it.
    """
    from matplotlib.figure import Figure  # imported on use: training itself needs no matplotlib

    if len(loss_history) == 0:
        raise ValueError("plot_loss_curve: loss_history is empty")
    figure = Figure(figsize=(6, 4), layout="tight")
    axes = figure.add_subplot()
    steps = np.arange(1, len(loss_history) + 1)
    axes.plot(steps, loss_history, alpha=0.35, linewidth=0.8, label="mini-batch loss")
    if steps_per_epoch:
        epochs = len(loss_history) // steps_per_epoch
        if epochs:
            means = np.asarray(loss_history[: epochs * steps_per_epoch]).reshape(epochs, steps_per_epoch).mean(axis=1)
            axes.plot(steps_per_epoch * np.arange(1, epochs + 1), means, marker="o", markersize=3,
                      label="epoch mean")
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("cross-entropy loss")
    axes.set_title(title, fontsize=10)
    axes.legend()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    return figure
