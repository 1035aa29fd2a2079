"""``gradkit export``: grades as CSV, nbgrader's own format or a Canvas gradebook import.

``csv`` is nbgrader's ``CsvExportPlugin`` unchanged. ``canvas`` writes the
columns Canvas's "Import" of a gradebook CSV expects: Student, ID, SIS User ID,
SIS Login ID, Section, then one column per assignment, with a "Points Possible"
row first. ID is the student's Canvas user id (``lms_user_id`` from the roster,
see ``state.roster``); SIS Login ID is the student id.

Both formats give the score after the late penalty: the late-day policy is applied
first (``state.late_days.apply_late_days``, so a manual grade or a new extension since the
last run counts); nbgrader's CSV has its own ``late_submission_penalty`` column and
subtracts it; the Canvas file holds the score after it (``state.late_days.final_score``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from gradkit_autograder.state.course import Course, CourseError
from gradkit_autograder.state.late_days import apply_late_days, final_score

CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def export_csv(course: Course, dest: Path) -> Path:
    from nbgrader.plugins import CsvExportPlugin

    plugin = CsvExportPlugin(config=course.config)
    plugin.to = str(dest)
    with course.gradebook() as gb:
        plugin.export(gb)
    return dest


def canvas_rows(gb) -> list[list[str]]:
    """Header, Points Possible row and one row per student."""
    assignments = sorted(gb.assignments, key=lambda a: (a.duedate is None, a.duedate, a.name))
    header = CANVAS_FIXED + [a.name for a in assignments]
    points = ["    Points Possible", "", "", "", ""] + [f"{a.max_score:g}" for a in assignments]
    rows = [header, points]
    for student in sorted(gb.students, key=lambda s: s.id):
        name = ", ".join(p for p in (student.last_name, student.first_name) if p) or student.id
        row = [name, student.lms_user_id or "", "", student.id, ""]
        for a in assignments:
            try:
                sub = gb.find_submission(a.name, student.id)
                row.append(f"{round(final_score(sub), 2):g}")
            except Exception:   # MissingEntry: no submission -> empty cell, Canvas leaves it ungraded
                row.append("")
        rows.append(row)
    return rows


def export_canvas(course: Course, dest: Path) -> Path:
    with course.gradebook() as gb:
        rows = canvas_rows(gb)
    with open(dest, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return dest


def export(course: Course, fmt: str = "csv", output: str | None = None) -> Path:
    if fmt not in ("csv", "canvas"):
        raise ValueError(f"export: format must be 'csv' or 'canvas', got {fmt!r}")
    default = "grades.csv" if fmt == "csv" else "canvas_grades.csv"
    dest = Path(output) if output else course.output_dir("exports") / default
    if not dest.parent.is_dir():
        raise CourseError(f"cannot write {dest}: folder {dest.parent} does not exist")
    apply_late_days(course)
    return export_csv(course, dest) if fmt == "csv" else export_canvas(course, dest)
