"""``gradkit similarity``: code shared across a class, found by winnowing, as MOSS does.

Only the code each student wrote is compared: the solution cells (nbgrader's
``solution`` cells, by grade id) and code cells the student added or changed; never the
release's locked cells, tests or markdown. Each submission's code becomes its
fingerprints in ``winnowing.py`` (normalised tokens, hashed k-grams, the minimum of
every window; Schleimer, Wilkerson and Aiken, SIGMOD 2003); this module reads the
notebooks, compares the class's fingerprints and writes the report.

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

The report (``similarity_html.py``) ranks the pairs; a high score is a reason to
look at two submissions side by side, never a verdict.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradkit_autograder.state.course import Course, CourseError
from gradkit_autograder.similarity.winnowing import K, WINDOW, Code, fingerprint, kgram_hashes, normalise

COMMON = 0.5     # a fingerprint in more than this share of the class weighs less (nothing when all have it)
FLOOR = 0.5      # a score divides by at least this share of the class's median submission
REFERENCE = "(reference solution)"


# --- notebooks -----------------------------------------------------------------------------

def read_cells(path: Path) -> list[dict]:
    """The code cells of a notebook as dicts (``source`` a string); plain JSON, no validation."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CourseError(f"{path} is not a readable notebook (.ipynb JSON): {err}") from None
    out = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        out.append({"id": cell.get("id"), "meta": cell.get("metadata", {}).get("nbgrader", {}),
                    "source": "".join(source) if isinstance(source, list) else source})
    return out


def student_cells(cells: list[dict], release: list[dict], prefix: str = "") -> list[tuple[str, str, str]]:
    """(label, source, starter) of each cell the student wrote in, in notebook order.

    Solution cells are labelled by grade id; cells without nbgrader metadata that the
    student added or changed by the cell they follow, ``<grade id> (+)``. Locked and
    test cells are never student code. ``starter`` is the released cell with the same
    grade id (or cell id).
    """
    by_grade = {c["meta"].get("grade_id"): c["source"] for c in release if c["meta"].get("grade_id")}
    by_id = {c["id"]: c["source"] for c in release if c["id"]}
    out, last = [], "top"
    for cell in cells:
        meta = cell["meta"]
        grade_id = meta.get("grade_id")
        if grade_id:
            last = grade_id
            if meta.get("solution"):
                out.append((prefix + grade_id, cell["source"], by_grade.get(grade_id, "")))
        elif cell["source"].strip() and cell["source"] != by_id.get(cell["id"]):
            out.append((f"{prefix}{last} (+)", cell["source"], by_id.get(cell["id"], "")))
    return out


# --- the class -------------------------------------------------------------------------------

@dataclass
class Comparison:
    """Every pair's matched weight and sizes, from one incidence matrix."""

    codes: list[Code]
    weights: np.ndarray        # per fingerprint of the vocabulary
    matched: np.ndarray        # [a, b]: weight of the fingerprints a and b share
    size: np.ndarray           # [a]: weight of a's fingerprints
    matched_tokens: np.ndarray  # [a, b]: tokens of a covered by fingerprints shared with b
    floor: float               # half the class's median size: the least a score divides by
    vocabulary: np.ndarray     # the fingerprints two or more submissions hold, sorted
    present: np.ndarray        # [a, f]: 1 where submission a holds fingerprint f

    def score(self, a: int, b: int) -> float:
        return min(1.0, float(self.matched[a, b] / max(min(self.size[a], self.size[b]), self.floor, 1e-12)))

    def share(self, a: int, b: int) -> float:
        """How much of a's code (by weight) is also in b's."""
        return min(1.0, float(self.matched[a, b] / self.size[a])) if self.size[a] > 0 else 0.0


def owned_tokens(code: Code, k: int = K) -> np.ndarray:
    """Tokens each fingerprint stands for: up to the next fingerprint, at most k."""
    if not len(code.starts):
        return np.zeros(0, dtype=np.float32)
    gaps = np.diff(np.append(code.starts, code.starts[-1] + k))
    return np.minimum(gaps, k).astype(np.float32)


def weight(df: np.ndarray, n: int) -> np.ndarray:
    """A fingerprint's weight from how many of the n submissions hold it (see the module's doc)."""
    return np.clip((1 - df / n) / (1 - COMMON), 0, 1).astype(np.float32)


def columns(vocabulary: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each hash's column in the sorted vocabulary, and whether it is there at all."""
    cols = np.minimum(np.searchsorted(vocabulary, hashes), max(len(vocabulary) - 1, 0))
    found = vocabulary[cols] == hashes if len(vocabulary) else np.zeros(len(hashes), dtype=bool)
    return cols, found


def compare(codes: list[Code], counted: list[int] | None = None, k: int = K) -> Comparison:
    """All pairs at once: a submissions x fingerprints matrix and two matrix products.

    Only fingerprints that two or more submissions hold get a column: the others
    count in a submission's size but can match nothing. ``counted`` are the
    submissions whose sizes set the floor (default: all).
    """
    n = len(codes)
    hashes, df = np.unique(np.concatenate([np.unique(c.hashes) for c in codes] + [np.zeros(0, np.uint64)]),
                           return_counts=True)
    vocabulary, weights = hashes[df > 1], weight(df[df > 1], n)
    size = np.zeros(n, dtype=np.float32)
    present = np.zeros((n, len(vocabulary)), dtype=np.float32)
    owned = np.zeros_like(present)
    for row, code in enumerate(codes):
        size[row] = weight(df[np.searchsorted(hashes, np.unique(code.hashes))], n).sum()
        cols, found = columns(vocabulary, code.hashes)
        present[row, cols[found]] = 1.0
        np.add.at(owned[row], cols[found], owned_tokens(code, k)[found])
    matched = (present * weights) @ present.T
    matched_tokens = owned @ (present * (weights > 0)).T
    sizes = size[counted] if counted else size
    floor = FLOOR * float(np.median(sizes)) if len(sizes) else 0.0
    return Comparison(codes, weights, matched, size, matched_tokens, floor, vocabulary, present)


def shared_starts(cmp: Comparison, a: int, b: int) -> np.ndarray:
    """Token positions in a where a fingerprint a shares with b (weight > 0) starts."""
    code, other = cmp.codes[a], cmp.codes[b]
    common = np.intersect1d(code.hashes, other.hashes)
    common = common[cmp.weights[np.searchsorted(cmp.vocabulary, common)] > 0]
    return code.starts[np.isin(code.hashes, common)]


def shared_lines(cmp: Comparison, a: int, b: int, k: int = K) -> set[tuple[int, int]]:
    """(cell index, line) of a's code covered by fingerprints that a and b share."""
    code = cmp.codes[a]
    covered = np.zeros(code.tokens + k, dtype=np.int32)
    starts = shared_starts(cmp, a, b)
    np.add.at(covered, starts, 1)
    np.add.at(covered, starts + k, -1)
    tokens = np.flatnonzero(np.cumsum(covered)[:code.tokens] > 0)
    return set(zip(code.token_cell[tokens].tolist(), code.token_line[tokens].tolist()))


def matched_cells(cmp: Comparison, a: int, others: list[int]) -> list[list[str]]:
    """For each b in ``others``: labels of a's cells where code shared with b starts, in order."""
    code = cmp.codes[a]
    cols, found = columns(cmp.vocabulary, code.hashes)
    cols, cells_of = cols[found], code.token_cell[code.starts[found]]
    cell_hits = np.zeros((len(cols), len(code.cells)), dtype=np.float32)
    cell_hits[np.arange(len(cols)), cells_of] = cmp.weights[cols] > 0
    shared = cmp.present[others][:, cols] @ cell_hits > 0
    return [[code.cells[c][0] for c in np.flatnonzero(row)] for row in shared]


# --- the course's submissions -----------------------------------------------------------------

def release_cells(course: Course, assignment: str) -> dict[str, list[dict]]:
    """notebook name -> code cells of the released notebook (the starter code)."""
    release = course.release_dir(assignment)
    names = sorted(p.name for p in release.glob("*.ipynb")) if release.is_dir() else []
    if not names:
        raise CourseError(f"assignment {assignment!r} has no release in {release}; "
                          f"run `gradkit release {assignment}` first")
    return {name: read_cells(release / name) for name in names}


def submission_cells(folder: Path, released: dict[str, list[dict]],
                     unreadable: list[str] | None = None) -> list[tuple[str, str, str]]:
    """The student code of one submission folder (the released notebook names only).

    A notebook that is not valid JSON counts as empty and is named in ``unreadable``.
    """
    several = len(released) > 1
    cells = []
    for name, release in released.items():
        path = folder / name
        if path.is_file():
            prefix = f"{Path(name).stem}:" if several else ""
            try:
                cells += student_cells(read_cells(path), release, prefix)
            except CourseError as err:
                if unreadable is None:
                    raise
                unreadable.append(str(err))
    return cells


def reference_cells(course: Course, assignment: str, released: dict[str, list[dict]]):
    """The reference solution's cells, from the source notebooks (markers removed)."""
    from gradkit_autograder.grading.class_builder import reference_notebook

    cells = []
    for name, release in released.items():
        nb = reference_notebook(course.source_dir(assignment) / name, course.release_dir(assignment) / name,
                                course.config)
        as_dicts = [{"id": c.get("id"), "meta": c.metadata.get("nbgrader", {}), "source": c.source}
                    for c in nb.cells if c.cell_type == "code"]
        prefix = f"{Path(name).stem}:" if len(released) > 1 else ""
        cells += student_cells(as_dicts, release, prefix)
    return cells


def release_kgrams(released: dict[str, list[dict]], vocab: dict[str, int], k: int = K) -> np.ndarray:
    """Every k-gram hash of the release's code cells (starter code, tests, set-up)."""
    hashes = [kgram_hashes(np.array([vocab.setdefault(s, len(vocab)) for s in normalise(c["source"])[0]],
                                    dtype=np.int64), k)
              for cells in released.values() for c in cells]
    return np.unique(np.concatenate(hashes + [np.zeros(0, np.uint64)]))


def archive_folders(archive: Path, assignment: str) -> dict[str, Path]:
    """Earlier terms' submissions: ``DIR/<student>/<assignment>/`` or ``DIR/<student>/*.ipynb``."""
    archive = Path(archive)
    if not archive.is_dir():
        raise CourseError(f"--archive {archive}: not a folder; expected DIR/<student>/{assignment}/*.ipynb")
    found = {}
    for student in sorted(p for p in archive.iterdir() if p.is_dir()):
        folder = student / assignment if (student / assignment).is_dir() else student
        if any(folder.glob("*.ipynb")):
            found[f"{archive.name}/{student.name}"] = folder
    if not found:
        raise CourseError(f"--archive {archive}: no submissions of {assignment} "
                          f"(expected DIR/<student>/{assignment}/*.ipynb)")
    return found


@dataclass
class Pair:
    a: str
    b: str
    score: float
    share_a: float      # of a's code, the share also in b
    share_b: float
    tokens_a: int       # a's tokens in shared code
    tokens_b: int
    ia: int
    ib: int


def ranked_pairs(cmp: Comparison, current: set[int]) -> list[Pair]:
    """Every pair with at least one current student, highest score first."""
    pairs = []
    n = len(cmp.codes)
    for a in range(n):
        for b in range(a + 1, n):
            if (a in current or b in current) and cmp.matched[a, b] > 0:
                pairs.append(Pair(cmp.codes[a].owner, cmp.codes[b].owner, cmp.score(a, b), cmp.share(a, b),
                                  cmp.share(b, a), int(round(cmp.matched_tokens[a, b])),
                                  int(round(cmp.matched_tokens[b, a])), a, b))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def all_pair_scores(cmp: Comparison, current: set[int]) -> np.ndarray:
    """Scores of every pair with a current student (zeros included), for the distribution plot."""
    n = len(cmp.codes)
    denom = np.maximum(np.minimum.outer(cmp.size, cmp.size), max(cmp.floor, 1e-12))
    scores = np.minimum(cmp.matched / denom, 1.0)
    a, b = np.triu_indices(n, 1)
    keep = np.isin(a, list(current)) | np.isin(b, list(current))
    return scores[a[keep], b[keep]]


def class_codes(course: Course, assignment: str, archives: list[Path] | None = None):
    """Fingerprinted code of every submitted student, the reference and the archive.

    Returns (codes, current, unreadable): ``current`` holds the indices of this term's
    students, ``unreadable`` a line for each notebook that could not be read.
    """
    course.require_source(assignment)
    released = release_cells(course, assignment)
    students = course.submitted_students(assignment)
    if not students:
        raise CourseError(f"no submissions of {assignment} in {course.step_dir('submitted', '.', '.')}; "
                          f"run `gradkit collect` first")
    vocab: dict[str, int] = {}
    boilerplate = release_kgrams(released, vocab)
    unreadable: list[str] = []

    def code_of(owner: str, cells) -> Code:
        return fingerprint(owner, cells, vocab, boilerplate=boilerplate)

    codes = [code_of(s, submission_cells(course.submitted_dir(s, assignment), released, unreadable))
             for s in students]
    current = set(range(len(codes)))
    codes.append(code_of(REFERENCE, reference_cells(course, assignment, released)))
    for archive in archives or []:
        for owner, folder in archive_folders(archive, assignment).items():
            codes.append(code_of(owner, submission_cells(folder, released, unreadable)))
    return codes, current, unreadable


def compare_class(course: Course, assignment: str, archives: list[Path] | None = None):
    """(comparison, current students' indices, ranked pairs, unreadable notebooks) for one assignment."""
    codes, current, unreadable = class_codes(course, assignment, archives)
    cmp = compare(codes, counted=sorted(current))
    return cmp, current, ranked_pairs(cmp, current), unreadable


def default_threshold(scores: np.ndarray) -> float:
    """Far above the class: the median pair plus 6 median absolute deviations, within [0.3, 0.9].

    Honest pairs crowd around the median; a shared solution sits alone above them.
    A pair above 0.9 is always shown (in a class too small for the statistics).
    """
    if not len(scores):
        return 0.3
    median = float(np.median(scores))
    return min(0.9, max(0.3, median + 6 * float(np.median(np.abs(scores - median)))))


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
    from gradkit_autograder.similarity import page as similarity_html

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
        sections += similarity_html.pair_section(f"pair{i}", p, cmp.codes[p.ia].cells, cmp.codes[p.ib].cells,
                                                 shared_lines(cmp, p.ia, p.ib), shared_lines(cmp, p.ib, p.ia))
    html_path = out / "similarity.html"
    html_path.write_text(similarity_html.page(assignment, summary, shown, sections, plot.name, csv_path.name),
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
