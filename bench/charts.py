"""Saving the benchmarks' charts: one place for the folder, the resolution and closing."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")   # benchmarks run headless
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(figure, path: str) -> str:
    """Lay out ``figure``, write it to ``path`` (creating its folder) and free it."""
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
