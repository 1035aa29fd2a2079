"""Plots of a GAN's training: samples over time, image grids, loss and D-output curves.

Each function draws into new matplotlib axes and returns the figure (call
``plt.show()`` in a notebook, ``fig.savefig(...)`` in a script).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from gradkit.torch_basics import to_numpy

__all__ = ["plot_samples_2d", "plot_snapshots_2d", "plot_image_grid", "plot_history"]


def plot_samples_2d(samples, centers=None, real=None, title: str = "", ax=None):
    """Scatter 2-D samples, with the real data (grey) and the mixture centres (red crosses)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    if real is not None:
        real = to_numpy(real)
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.75", label="real")
    samples = to_numpy(samples)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"plot_samples_2d: expected samples of shape (n, 2), got {samples.shape}")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="C0", alpha=0.6, label="generated")
    if centers is not None:
        centers = to_numpy(centers)
        ax.scatter(centers[:, 0], centers[:, 1], marker="x", c="C3", s=30, label="centres")
    ax.set_aspect("equal")
    ax.set_title(title)
    return ax.figure


def plot_snapshots_2d(snapshots, centers=None, columns: int = 5):
    """One scatter per ``(step, samples)`` snapshot (``GanHistory.snapshots``), at most ``columns`` a row."""
    if not snapshots:
        raise ValueError("plot_snapshots_2d: no snapshots (train with snapshot_every > 0)")
    rows = -(-len(snapshots) // columns)
    fig, axes = plt.subplots(rows, min(columns, len(snapshots)), figsize=(2.6 * min(columns, len(snapshots)), 2.6 * rows),
                             squeeze=False, sharex=True, sharey=True)
    for ax in axes.ravel()[len(snapshots):]:
        ax.axis("off")
    for ax, (step, samples) in zip(axes.ravel(), snapshots):
        plot_samples_2d(samples, centers, title=f"step {step}", ax=ax)
    fig.tight_layout()
    return fig


def plot_image_grid(images, columns: int = 10, title: str = "", ax=None):
    """Images (n, 64), (n, 8, 8) or (n, 1, 8, 8) with pixels in [-1, 1], tiled in a grid."""
    images = to_numpy(images)
    if images.size == 0 or images.size % 64:
        raise ValueError(f"plot_image_grid: expected 8x8 images, got shape {images.shape}")
    images = images.reshape(-1, 8, 8)
    rows = -(-len(images) // columns)
    canvas = np.full((rows * 9 + 1, columns * 9 + 1), -1.0)  # one-pixel black border between images
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        canvas[1 + 9 * r:9 * r + 9, 1 + 9 * c:9 * c + 9] = image
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * columns, 0.5 * rows + 0.4))
    ax.imshow(canvas, cmap="gray", vmin=-1, vmax=1)
    ax.axis("off")
    ax.set_title(title)
    return ax.figure


def plot_history(history, smooth: int = 25):
    """Loss curves of both players and D's mean output on real and generated samples, per step.

    Curves are smoothed with a moving average over ``smooth`` steps (1: raw).
    """
    def smoothed(values):
        values = np.asarray(values, dtype=np.float64)
        width = max(1, min(int(smooth), len(values)))
        return np.convolve(values, np.ones(width) / width, mode="valid")

    if not history.d_loss:
        raise ValueError("plot_history: the history is empty")
    fig, (ax_loss, ax_out) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss.plot(smoothed(history.d_loss), label="discriminator")
    ax_loss.plot(smoothed(history.g_loss), label="generator")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.set_title("losses")
    ax_out.plot(smoothed(history.d_real), label="mean D(x), real")
    ax_out.plot(smoothed(history.d_fake), label="mean D(G(z)), generated")
    ax_out.set_xlabel("step")
    ax_out.set_ylabel("discriminator output")
    ax_out.legend()
    ax_out.set_title("discriminator outputs")
    fig.tight_layout()
    return fig
