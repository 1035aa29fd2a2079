"""``gradkit report``: what tripped the class on one assignment.

Writes ``course/reports/<assignment>/``: ``report.md`` (per-question score
table with the three most common reasons each test failed, with counts: what
the lecture should revisit; the tests that failed at least one student, each
student's late days used and left, incident lines of the last grading run, the
similarity section), ``scores.png`` (distribution of total scores), ``cells.csv``
and ``reasons.csv`` (one row per student and failed test, the reason the student
reads: for TAs answering questions); and the similarity report beside them
(``commands.similarity``). The reasons are the ones the grader wrote into each
autograded notebook (``judging.reasons``).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gradkit_autograder.state import grading_ledger
from gradkit_autograder.state.course import Course, CourseError, find_released
from gradkit_autograder.commands.similarity import report_section
from gradkit_autograder.state.late_days import SUBMISSION_TIMES_FILE, Applied, apply_late_days, final_score


@dataclass
class CellStats:
    notebook: str
    cell: str
    max_score: float
    mean: float
    full: int
    failed: int
    students: int
    reasons: Counter = field(default_factory=Counter)    # reason label -> students


@dataclass
class FailedTest:
    """One student's failed test, with the reason they read."""

    student: str
    notebook: str
    cell: str
    score: float
    max_score: float
    reason: str
    label: str


@dataclass
class Report:
    text: str
    totals: dict[str, float]
    cells: list[CellStats]
    markdown_path: Path
    plot_path: Path
    csv_path: Path
    reasons_path: Path


def cell_stats(gb, assignment: str) -> tuple[list[CellStats], dict[str, float], float]:
    """Per graded cell statistics, each student's total, and the assignment's maximum."""
    a = find_released(gb, assignment)
    submissions = list(gb.assignment_submissions(assignment))
    if not submissions:
        raise CourseError(f"no graded submissions of {assignment}; run `gradkit grade` first")
    totals = {s.student.id: final_score(s) for s in submissions}   # after late days
    stats = []
    for nb in sorted(a.notebooks, key=lambda n: n.name):
        for cell in nb.grade_cells + nb.task_cells:
            scores = [gb.find_grade(cell.name, nb.name, assignment, s.student.id).score or 0.0
                      for s in submissions]
            stats.append(CellStats(nb.name, cell.name, cell.max_score, sum(scores) / len(scores),
                                   sum(x >= cell.max_score for x in scores),
                                   sum(x < cell.max_score for x in scores), len(scores)))
    return stats, totals, a.max_score


def failed_tests(course: Course, gb, assignment: str, students: list[str],
                 stats: list[CellStats]) -> list[FailedTest]:
    """Every test a student lost points on, with the reason they read; counts labels into ``stats``."""
    by_cell = {(s.notebook, s.cell): s for s in stats}
    failed = []
    for student in students:
        for path in sorted(course.autograded_dir(student, assignment).glob("*.ipynb")):
            nb = json.loads(path.read_text())
            for cell in nb.get("cells", []):
                meta = cell.get("metadata", {})
                words = meta.get("gradkit", {})
                cell_id = meta.get("nbgrader", {}).get("grade_id")
                if not (cell_id and isinstance(words.get("reason"), str)) or (path.stem, cell_id) not in by_cell:
                    continue
                score = gb.find_grade(cell_id, path.stem, assignment, student).score or 0.0
                stat = by_cell[(path.stem, cell_id)]
                if score >= stat.max_score:     # a grader gave the points by hand since
                    continue
                label = str(words.get("reason_label") or words["reason"].splitlines()[0])
                stat.reasons[label] += 1
                failed.append(FailedTest(student, path.stem, cell_id, score, stat.max_score, words["reason"], label))
    return failed


def _top_reasons(s: CellStats) -> str:
    return "; ".join(f"{label} ({n})" for label, n in s.reasons.most_common(3)) or "-"


def plot_distribution(totals: dict[str, float], max_score: float, dest: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = min(20, max(5, int(max_score) + 1))
    ax.hist(list(totals.values()), bins=bins, range=(0, max_score), color="#3a7", edgecolor="white")
    ax.set_xlabel(f"total score (of {max_score:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))   # students come in whole numbers
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest


def late_day_lines(gb, assignment: str, students: list[str], applied: Applied) -> list[str]:
    """Per student: days late, late days used and left, the penalty (policy in ``state.late_days``)."""
    unknown = [f"- {student}: the LMS marked this submission LATE but gave no submission time: "
               f"counted as on time (give its time: `gradkit collect --canvas-submissions` or "
               f"{SUBMISSION_TIMES_FILE})" for student, a in applied.marked_late_without_time if a == assignment]
    if find_released(gb, assignment).duedate is None:
        return ["- no due date set for this assignment (`gradkit release --due` or due_dates.csv): "
                "nothing counted late"] + unknown
    lines = []
    for student in students:
        decision = applied.decisions[student][assignment]
        sub = gb.find_submission(assignment, student)
        status = "" if decision.accepted else ", not accepted (too late)"
        lines.append(f"- {student}: {decision.days_late} days late, {decision.late_days_used} late days "
                     f"used, {decision.late_days_left} of {applied.policy.free_days} left, penalty "
                     f"{sub.late_submission_penalty or 0:g} points{status}")
    return lines + unknown


def write_report(course: Course, assignment: str, archives: list[Path] | None = None) -> Report:
    """``archives``: earlier terms' submissions for the similarity section (``commands.similarity``)."""
    applied = apply_late_days(course)   # the totals below are the ones every export shows
    with course.gradebook() as gb:
        stats, totals, max_score = cell_stats(gb, assignment)
        late_lines = late_day_lines(gb, assignment, sorted(totals), applied)
        grading_ledger.ensure_tables(gb.engine)
        runs = grading_ledger.rows(gb.engine, assignment)
        failures = failed_tests(course, gb, assignment, sorted(totals), stats)
    out = course.output_dir("reports") / assignment
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {assignment}: {len(totals)} students, mean {sum(totals.values()) / len(totals):.2f}"
             f" / {max_score:g}", "", "## Per question", "",
             "| notebook | test | points | mean | full marks | failed | most common reasons (students) |",
             "|---|---|---|---|---|---|---|"]
    for s in stats:
        top = _top_reasons(s).replace("|", "\\|")
        lines.append(f"| {s.notebook} | {s.cell} | {s.max_score:g} | {s.mean:.2f} | "
                     f"{s.full}/{s.students} | {s.failed}/{s.students} | {top} |")
    lines += ["", "## Tests that failed the most students", ""]
    failing = sorted((s for s in stats if s.failed), key=lambda s: (-s.failed, s.notebook, s.cell))
    lines += [f"- {s.notebook}:{s.cell}: failed by {s.failed} of {s.students}" for s in failing] or [
        "- none: every student passed every test"]
    lines += ["", "## Scores", ""] + [f"- {student}: {score:g}" for student, score in sorted(totals.items())]
    lines += ["", "## Late days", ""] + late_lines
    incident_lines = [f"- {r['student']}: {i.get('notebook', '')}:{i['cell']}: {i['message']}"
                      for r in runs for i in r["incidents"]]
    failed = [f"- {r['student']}: grading failed" for r in runs if r["status"] == "failed"]
    lines += ["", "## Incidents", ""] + (incident_lines + failed or ["- none"])
    lines += ["", "## Similarity (shared code)", ""] + report_section(course, assignment, archives)
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n")
    png = plot_distribution(totals, max_score, out / "scores.png", f"{assignment} score distribution")
    csv_path = out / "cells.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["notebook", "cell", "max_score", "mean", "full", "failed", "students", "top_reasons"])
        for s in stats:
            writer.writerow([s.notebook, s.cell, s.max_score, f"{s.mean:.4f}", s.full, s.failed, s.students,
                             _top_reasons(s)])
    reasons_path = out / "reasons.csv"
    with open(reasons_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "notebook", "cell", "score", "max_score", "reason", "label"])
        for f in sorted(failures, key=lambda f: (f.student, f.notebook, f.cell)):
            writer.writerow([f.student, f.notebook, f.cell, f"{f.score:g}", f"{f.max_score:g}", f.reason, f.label])
    return Report("\n".join(lines), totals, stats, md, png, csv_path, reasons_path)
