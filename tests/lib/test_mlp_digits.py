"""End to end: an MLP trained with gradkit alone reaches >= 95% on the digits test set."""

import time

import numpy as np
import pytest

from gradkit.training import TrainingResult, plot_loss_curve, train_digits_mlp


@pytest.mark.slow
def test_mlp_reaches_95_percent_in_under_a_minute(tmp_path):
    start = time.perf_counter()
    result = train_digits_mlp(hidden=(128,), epochs=20, lr=0.05, momentum=0.9, batch_size=32, seed=0,
                              plot_path=tmp_path / "loss.png")
    elapsed = time.perf_counter() - start
    print(f"test accuracy {result.test_accuracy:.2%}, {elapsed:.2f} s, "
          f"{result.samples_per_second:,.0f} samples/s")
    assert isinstance(result, TrainingResult)
    assert result.test_accuracy >= 0.95
    assert elapsed < 60.0
    assert result.seconds <= elapsed
    steps_per_epoch = -(-1437 // 32)
    assert len(result.loss_history) == 20 * steps_per_epoch and len(result.epoch_losses) == 20
    assert result.epoch_losses[-1] < 0.25 * result.epoch_losses[0]  # the loss really fell
    assert result.samples_per_second > 0
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_is_reproducible_for_a_seed():
    a = train_digits_mlp(hidden=(16,), epochs=1, seed=3)
    b = train_digits_mlp(hidden=(16,), epochs=1, seed=3)
    assert a.loss_history == b.loss_history
    c = train_digits_mlp(hidden=(16,), epochs=1, seed=4)
    assert a.loss_history != c.loss_history


def test_plot_loss_curve_returns_a_figure_and_rejects_empty(tmp_path):
    figure = plot_loss_curve(list(np.linspace(2.0, 0.1, 30)), path=tmp_path / "sub" / "curve.png", steps_per_epoch=10)
    assert (tmp_path / "sub" / "curve.png").exists()
    assert len(figure.axes[0].lines) == 2  # steps and epoch means
    with pytest.raises(ValueError, match="loss_history is empty"):
        plot_loss_curve([])


def test_bad_epochs():
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        train_digits_mlp(epochs=0)
