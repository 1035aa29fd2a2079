"""``gradkit similarity``: code shared across a class, found by winnowing, as MOSS does.

Only the code each student wrote is compared (``similarity.student_code``): the
solution cells (nbgrader's ``solution`` cells, by grade id) and code cells the
student added or changed; never the release's locked cells, tests or markdown.
Each submission's code becomes its fingerprints in ``similarity.winnowing``
(normalised tokens, hashed k-grams, the minimum of every window; Schleimer,
Wilkerson and Aiken, SIGMOD 2003); ``similarity.scoring`` compares the class's
fingerprints; this command writes the report.

Three things keep honest students apart on notebooks whose answers the maths
dictates:

- the starter code is removed, with every k-gram that straddles starter and
  answer (tokens aligned with the released cell are starter);
- each fingerprint is weighted by how alike the class is on it: full weight
  while at most half the submissions hold it, then less, down to nothing for
  code every submission holds (the maths dictates it);
- a pair's score is its matched weight over the smaller of the two submissions,
  but never over less than half the class's median submission, so a partial
  submission does not rank high because a few common lines are most of its code.

The report (``similarity.page``) ranks the pairs; a high score is a reason to
look at two submissions side by side, never a verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradkit_autograder.similarity import page
from gradkit_autograder.similarity.scoring import (Comparison, Pair, all_pair_scores, compare, default_threshold,
                                                   matched_cells, ranked_pairs, shared_lines)
from gradkit_autograder.similarity.student_code import class_codes
from gradkit_autograder.similarity.winnowing import K, WINDOW
from gradkit_autograder.state.course import Course, CourseError


def compare_class(course: Course, assignment: str, archives: list[Path] | None = None):
    """(comparison, current students' indices, ranked pairs, unreadable notebooks) for one assignment."""
    codes, current, unreadable = class_codes(course, assignment, archives)
    cmp = compare(codes, counted=sorted(current))
    return cmp, current, ranked_pairs(cmp, current), unreadable


def cutoff(threshold: float | None, scores: np.ndarray) -> float:
    """The threshold the user gave (a number in [0, 1]), else the default."""
    if threshold is None:
        return default_threshold(scores)
    if math.isnan(threshold) or not 0 <= threshold <= 1:
        raise CourseError(f"--threshold {threshold}: expected a score between 0 and 1")
    return threshold


@dataclass
class SimilarityReport:
    html_path: Path
    csv_path: Path
    plot_path: Path
    pairs: list[Pair]          # every pair with a current student and a match, highest first
    flagged: list[Pair]        # those at or above the threshold
    threshold: float
    summary: list[str]


def plot_scores(scores: np.ndarray, threshold: float, dest: Path, title: str) -> Path:
    """Histogram of every pair's score (log count), the threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=50, range=(0, 1), color="#37a", edgecolor="white", log=True)
    ax.axvline(threshold, color="#c33", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("pair score (shared code, weighted)")
    ax.set_ylabel("pairs (log scale)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest


def write_csv(cmp: Comparison, pairs: list[Pair], dest: Path) -> Path:
    import csv

    by_a: dict[int, list[int]] = {}
    for p in pairs:
        by_a.setdefault(p.ia, []).append(p.ib)
    cells = {}
    for a, others in by_a.items():
        cells.update(zip(((a, b) for b in others), matched_cells(cmp, a, others)))
    with open(dest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_a", "student_b", "score", "share_a_in_b", "share_b_in_a",
                         "matched_tokens_a", "matched_tokens_b", "cells"])
        for p in pairs:
            writer.writerow([p.a, p.b, f"{p.score:.4f}", f"{p.share_a:.4f}", f"{p.share_b:.4f}",
                             p.tokens_a, p.tokens_b, " ".join(cells[p.ia, p.ib])])
    return dest


def summary_lines(cmp: Comparison, current: set[int], scores: np.ndarray, flagged: list[Pair],
                  pairs: list[Pair], threshold: float) -> list[str]:
    n_other = len(cmp.codes) - len(current)
    lines = [f"{len(current)} submissions compared with each other, with the reference solution"
             + (f" and {n_other - 1} archived submissions" if n_other > 1 else "")
             + f": {len(scores)} pairs, k = {K} tokens, window {WINDOW}.",
             f"pair scores: median {np.median(scores):.2f}, 99th percentile {np.quantile(scores, 0.99):.2f}, "
             f"highest {scores.max():.2f}; threshold {threshold:.2f}." if len(scores) else "no pairs."]
    below = [p for p in pairs if p.score < threshold]
    if flagged and below:
        lines.append(f"{len(flagged)} pair(s) at or above the threshold; the lowest of them scores "
                     f"{flagged[-1].score:.2f}, the highest pair below it {below[0].score:.2f} "
                     f"(a gap of {flagged[-1].score - below[0].score:.2f}).")
    elif not flagged:
        lines.append("no pair at or above the threshold; the highest pairs are shown for reference.")
    lines.append("A pair with the reference solution means code like the instructor's own: "
                 "a leaked solution, or a formula everyone writes alike.")
    return lines


def write_similarity(course: Course, assignment: str, archives: list[Path] | None = None,
                     threshold: float | None = None, shown_at_least: int = 5) -> SimilarityReport:
    """Write ``reports/<assignment>/similarity.html``, ``similarity.csv`` and ``similarity.png``."""
    cmp, current, pairs, unreadable = compare_class(course, assignment, archives)
    scores = all_pair_scores(cmp, current)
    threshold = cutoff(threshold, scores)
    flagged = [p for p in pairs if p.score >= threshold]
    shown = flagged or pairs[:shown_at_least]
    out = course.output_dir("reports") / assignment
    out.mkdir(parents=True, exist_ok=True)
    plot = plot_scores(scores, threshold, out / "similarity.png", f"{assignment}: similarity of every pair")
    csv_path = write_csv(cmp, pairs, out / "similarity.csv")
    summary = summary_lines(cmp, current, scores, flagged, pairs, threshold) + [
        f"not compared (counted as empty): {line}" for line in unreadable]
    sections = []
    for i, p in enumerate(shown, start=1):
        sections += page.pair_section(f"pair{i}", p, cmp.codes[p.ia].cells, cmp.codes[p.ib].cells,
                                                 shared_lines(cmp, p.ia, p.ib), shared_lines(cmp, p.ib, p.ia))
    html_path = out / "similarity.html"
    html_path.write_text(page.page(assignment, summary, shown, sections, plot.name, csv_path.name),
                         encoding="utf-8")
    return SimilarityReport(html_path, csv_path, plot, pairs, flagged, threshold, summary)


def report_section(course: Course, assignment: str, archives: list[Path] | None = None) -> list[str]:
    """The lines ``gradkit report`` shows: where the similarity page is and its top pairs."""
    try:
        report = write_similarity(course, assignment, archives)
    except CourseError as err:
        return [f"- not computed: {err}"]
    lines = [f"- [{report.html_path.name}]({report.html_path.name}) (every pair: {report.csv_path.name}); "
             f"a high score is a reason to look, not a verdict"] + [f"- {line}" for line in report.summary[1:3]]
    lines += [f"- {p.score:.2f}: {p.a} / {p.b} (shares {p.share_a:.2f} / {p.share_b:.2f})"
              for p in report.flagged[:10]]
    return lines
