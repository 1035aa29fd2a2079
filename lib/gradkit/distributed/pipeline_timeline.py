"""The pipeline's timeline: who computed what when, the bubble, and a Gantt chart.

An *event* is a dict ``{"stage", "kind" ("F" or "B"), "micro_batch", "start", "end"}``
with wall-clock seconds recorded inside the stage actors (one machine shares one clock;
across machines the clocks are only as close as NTP keeps them).
"""

from __future__ import annotations

__all__ = ["theoretical_bubble", "measured_bubble", "ideal_speedup", "plot_timeline"]


def theoretical_bubble(stages: int, micro_batches: int) -> float:
    """GPipe's idle fraction ``(p - 1) / (m + p - 1)`` for equal-cost stages."""
    if stages < 1 or micro_batches < 1:
        raise ValueError(f"theoretical_bubble: stages and micro_batches must be >= 1, got {stages}, {micro_batches}")
    return (stages - 1) / (micro_batches + stages - 1)


def ideal_speedup(stages: int, micro_batches: int) -> float:
    """Speed-up of an ideal ``m``-micro-batch pipeline over naive model parallel (``m = 1``).

    Naive: ``p`` stages run one after another, time ``p * t``. Pipelined: ``(m + p - 1)``
    slots of ``t / m`` each. Ratio ``p * m / (m + p - 1)``: 1 for ``m = 1``, towards ``p``.
    """
    return stages * micro_batches / (micro_batches + stages - 1)


def measured_bubble(events: list[dict], stages: int) -> float:
    """Fraction of the ``stages x makespan`` area in which no stage was computing.

    Includes every real cost the theory leaves out: transfers between stages, Ray's
    scheduling, and stages that are not equally expensive.
    """
    if not events:
        raise ValueError("measured_bubble: no events recorded")
    start = min(e["start"] for e in events)
    span = max(e["end"] for e in events) - start
    busy = sum(e["end"] - e["start"] for e in events)
    return 1.0 - busy / (stages * span) if span > 0 else 0.0


def plot_timeline(events: list[dict], stages: int, path: str, title: str = "") -> str:
    """Draw one row per stage, a bar per forward (F) and backward (B) pass; save to ``path``."""
    import os

    import matplotlib
    matplotlib.use("Agg")  # files only; works without a display
    import matplotlib.pyplot as plt

    origin = min(e["start"] for e in events)
    colors = {"F": "tab:blue", "B": "tab:orange"}
    figure, axes = plt.subplots(figsize=(10, 1 + 0.6 * stages))
    for event in events:
        left = (event["start"] - origin) * 1000
        width = (event["end"] - event["start"]) * 1000
        row = stages - 1 - event["stage"]  # stage 0 on top, as in the lecture's figure
        axes.broken_barh([(left, width)], (row - 0.4, 0.8), facecolors=colors[event["kind"]],
                         edgecolor="black", linewidth=0.5)
        axes.text(left + width / 2, row, f"{event['kind']}{event['micro_batch']}",
                  ha="center", va="center", fontsize=7, color="white")
    axes.set_yticks(range(stages))
    axes.set_yticklabels([f"stage {stages - 1 - row}" for row in range(stages)])
    axes.set_xlabel("time (ms)")
    bubble = measured_bubble(events, stages)
    micro_batches = len({e["micro_batch"] for e in events})
    axes.set_title(title or f"{stages} stages, {micro_batches} micro-batches: bubble {bubble:.2f} "
                   f"(theory {theoretical_bubble(stages, micro_batches):.2f})")
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
