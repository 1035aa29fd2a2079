"""``gradkit status``: each student's term so far, as the exports count it.

One row per student and released assignment: the score before and after the
late penalty, days late, late days used and the bank left after it. The late-day
policy is applied first (``state.late_days.apply_late_days``), so these are the numbers
of ``grades.csv``, the Canvas export, the feedback pages and the report.
``term_table`` also writes them all to ``reports/term.csv`` for the course staff.
"""

from __future__ import annotations

import csv
import datetime
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from gradkit_autograder.state.course import Course, CourseError
from gradkit_autograder.state.late_days import Applied, apply_late_days, due_with_extension, final_score


@dataclass(frozen=True)
class TermRow:
    student: str
    assignment: str
    due: datetime.datetime | None
    submitted: datetime.datetime | None
    score: float | None            # None: not submitted
    max_score: float
    days_late: int
    late_days_used: int
    bank_left: int | None          # after this submission (None: not submitted)
    penalty: float
    final: float
    accepted: bool


def _rows_of(gb, applied: Applied, student: str, assignments) -> list[TermRow]:
    from nbgrader.api import MissingEntry

    rows = []
    decisions = applied.decisions.get(student, {})
    for a in assignments:
        try:
            sub = gb.find_submission(a.name, student)
        except MissingEntry:
            rows.append(TermRow(student, a.name, a.duedate, None, None, a.max_score, 0, 0, None, 0.0, 0.0, True))
            continue
        d = decisions[a.name]
        rows.append(TermRow(student, a.name, due_with_extension(sub), sub.timestamp, sub.score, a.max_score,
                            d.days_late, d.late_days_used, d.late_days_left, sub.late_submission_penalty or 0.0,
                            final_score(sub), d.accepted))
    return rows


def term_table(course: Course, students: list[str] | None = None) -> tuple[list[TermRow], Path, Applied]:
    """Rows for ``students`` (default: everyone), and the whole class in ``reports/term.csv``."""
    applied = apply_late_days(course)
    with course.gradebook() as gb:
        assignments = sorted(gb.assignments, key=lambda a: (a.duedate is None, a.duedate, a.name))
        everyone = sorted(s.id for s in gb.students)
        unknown = sorted(set(students or ()) - set(everyone))
        if unknown:
            raise CourseError(f"no student {', '.join(unknown)} in the gradebook "
                              f"({len(everyone)} students; e.g. {', '.join(everyone[:3]) or 'none yet'})")
        rows = [r for s in everyone for r in _rows_of(gb, applied, s, assignments)]
    dest = course.output_dir("reports") / "term.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([f.name for f in fields(TermRow)])
        writer.writerows(astuple(r) for r in rows)
    chosen = set(students or everyone)
    return [r for r in rows if r.student in chosen], dest, applied


def _when(t: datetime.datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "-"


def format_student(rows: list[TermRow], free_days: int) -> str:
    """One student's term as a small table, ending with the total and the bank left."""
    student = rows[0].student
    lines = [f"{student}",
             f"  {'assignment':<22}{'due (UTC)':<18}{'submitted':<18}{'late':>5}{'used':>5}"
             f"{'score':>14}{'penalty':>9}{'final':>8}"]
    for r in rows:
        if r.score is None:
            lines.append(f"  {r.assignment:<22}{_when(r.due):<18}{'not submitted':<18}{'':>5}{'':>5}"
                         f"{'-':>14}{'':>9}{0:>8g}")
            continue
        late = f"{r.days_late}" + ("!" if not r.accepted else "")
        lines.append(f"  {r.assignment:<22}{_when(r.due):<18}{_when(r.submitted):<18}{late:>5}"
                     f"{r.late_days_used:>5}{f'{r.score:g} / {r.max_score:g}':>14}{r.penalty:>9g}"
                     f"{round(r.final, 2):>8g}")
    total = sum(r.final for r in rows)
    possible = sum(r.max_score for r in rows)
    used = sum(r.late_days_used for r in rows)
    lines.append(f"  total {round(total, 2):g} of {possible:g}; late days used {used} of {free_days}, "
                 f"{free_days - used} left" + ("; '!': not accepted, too late" if not all(
                     r.accepted for r in rows) else ""))
    return "\n".join(lines)
