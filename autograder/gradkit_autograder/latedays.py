"""Late days, as the syllabus promises them.

The policy: each student has a bank of ``free_days`` late days for the term
(default 3). A submission that is ``d`` days late (counted in whole days, rounded
up, from its submission time to its due date plus any extension) uses
``min(d, bank)`` of them automatically; each remaining day costs
``penalty_per_day`` of the assignment's points (default 10%); a submission more
than ``max_days_late`` days late (default 7) is not accepted and scores zero
(and uses no late days). The bank is spent across assignments in the order the
student submitted them.

The pure functions (``days_late``, ``decide``, ``penalty_points``) hold the
policy. ``apply_late_days`` applies it to nbgrader's gradebook: it writes each
submitted notebook's ``late_submission_penalty``, which nbgrader's own totals and
CSV export subtract, and which ``gradkit export``, ``report`` and ``feedback`` show.

Where the dates come from:

- the due date is nbgrader's ``Assignment.duedate`` in the gradebook (set with
  ``nbgrader db assignment add <id> --duedate "2026-09-14 23:59:00 UTC"``), or a
  line ``<assignment>,<due>`` in ``<course>/due_dates.csv`` (columns
  ``assignment,due``), which is copied into the gradebook when applied;
- an extension is nbgrader's ``SubmittedAssignment.extension``, or a line of
  ``<course>/extensions.csv`` (columns ``student,assignment,days``);
- the submission time is the submission's ``timestamp.txt`` (see ``collect.py``),
  or a line of ``<course>/submission_times.csv`` (columns ``student,assignment,submitted``:
  a Canvas download carries no times, Canvas's submissions list does); a submission
  with neither is treated as on time.
"""

from __future__ import annotations

import csv
import datetime
import math
from dataclasses import dataclass

from gradkit_autograder.course import Course, CourseError

DAY_S = 86400.0
DUE_DATES_FILE = "due_dates.csv"
EXTENSIONS_FILE = "extensions.csv"
SUBMISSION_TIMES_FILE = "submission_times.csv"


@dataclass(frozen=True)
class Policy:
    free_days: int = 3
    penalty_per_day: float = 0.10
    max_days_late: int = 7

    def __post_init__(self):
        if self.free_days < 0 or self.max_days_late < 0 or not 0 <= self.penalty_per_day <= 1:
            raise ValueError(f"late-day policy: free_days and max_days_late must be >= 0 and "
                             f"penalty_per_day in [0, 1], got {self}")


SYLLABUS = Policy()


@dataclass(frozen=True)
class Submitted:
    """One student's submission of one assignment, as the policy sees it."""

    assignment: str
    submitted: datetime.datetime | None      # None: no submission time known
    due: datetime.datetime | None             # the due date plus the student's extension


@dataclass(frozen=True)
class Decision:
    """What the policy decided for one submission."""

    assignment: str
    days_late: int
    late_days_used: int
    penalised_days: int
    accepted: bool
    late_days_left: int                       # in the bank after this submission

    def describe(self, policy: Policy = SYLLABUS) -> str:
        """One sentence for the student."""
        if self.days_late == 0:
            return f"On time. Late days left: {self.late_days_left} of {policy.free_days}."
        if not self.accepted:
            return (f"Submitted {self.days_late} days late, more than the {policy.max_days_late} "
                    f"days accepted: not accepted, scored zero. Late days left: {self.late_days_left}.")
        text = f"Submitted {_days(self.days_late)} late: {_days(self.late_days_used)} of your late days used"
        if self.penalised_days:
            text += (f", {_days(self.penalised_days)} at {policy.penalty_per_day:.0%} of the points "
                     "each")
        return text + f". Late days left: {self.late_days_left} of {policy.free_days}."


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def days_late(submitted: datetime.datetime | None, due: datetime.datetime | None) -> int:
    """Whole days late, rounded up: 1 second late is 1 day; none when either time is unknown."""
    if submitted is None or due is None:
        return 0
    seconds = (submitted - due).total_seconds()
    return math.ceil(seconds / DAY_S) if seconds > 0 else 0


def decide(submissions: list[Submitted], policy: Policy = SYLLABUS) -> list[Decision]:
    """The decisions for one student's submissions, spending the bank in submission order.

    Returned in the order the submissions were made (unknown times last, by name).
    """
    order = sorted(submissions, key=lambda s: (s.submitted is None, s.submitted or datetime.datetime.min,
                                               s.assignment))
    bank = policy.free_days
    decisions = []
    for s in order:
        late = days_late(s.submitted, s.due)
        if late > policy.max_days_late:
            decisions.append(Decision(s.assignment, late, 0, 0, False, bank))
            continue
        used = min(bank, late)
        bank -= used
        decisions.append(Decision(s.assignment, late, used, late - used, True, bank))
    return decisions


def penalty_points(decision: Decision, score: float, max_score: float, policy: Policy = SYLLABUS) -> float:
    """Points taken off ``score`` (never more than ``score``): all of it when not accepted."""
    if not decision.accepted:
        return float(score)
    return float(min(score, decision.penalised_days * policy.penalty_per_day * max_score))


# --- the gradebook ----------------------------------------------------------------------------

def _read_csv(path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise CourseError(f"{path}: missing column(s) {sorted(missing)}; expected {', '.join(columns)}")
        return [{k: (row[k] or "").strip() for k in columns} for row in reader]


def load_course_dates(course: Course, gb) -> None:
    """Copy ``due_dates.csv``, ``extensions.csv`` and ``submission_times.csv`` into the gradebook."""
    from nbgrader.api import MissingEntry
    from nbgrader.utils import parse_utc

    due_file = course.root / DUE_DATES_FILE
    if due_file.exists():
        for row in _read_csv(due_file, ("assignment", "due")):
            try:
                due = parse_utc(row["due"])
            except Exception as err:
                raise CourseError(f"{due_file}: {row['assignment']}: not a date: {row['due']!r}") from err
            gb.update_or_create_assignment(row["assignment"], duedate=due)
    ext_file = course.root / EXTENSIONS_FILE
    if ext_file.exists():
        for row in _read_csv(ext_file, ("student", "assignment", "days")):
            try:
                days = float(row["days"])
            except ValueError:
                raise CourseError(f"{ext_file}: {row['student']}/{row['assignment']}: days must be a "
                                  f"number, got {row['days']!r}") from None
            try:
                gb.grant_extension(row["assignment"], row["student"], days=days)
            except MissingEntry:
                continue   # nothing submitted yet: the extension has nothing to extend
    times_file = course.root / SUBMISSION_TIMES_FILE
    if times_file.exists():
        for row in _read_csv(times_file, ("student", "assignment", "submitted")):
            try:
                when = parse_utc(row["submitted"])
            except Exception as err:
                raise CourseError(f"{times_file}: {row['student']}/{row['assignment']}: not a date: "
                                  f"{row['submitted']!r}") from err
            try:
                gb.find_submission(row["assignment"], row["student"]).timestamp = when
            except MissingEntry:
                continue   # not collected (yet)
        gb.db.commit()


def set_due_date(course: Course, assignment: str, when: str) -> datetime.datetime:
    """Record ``assignment``'s due date (e.g. ``"2026-09-21 23:59:00 UTC"``) in the gradebook."""
    from nbgrader.utils import parse_utc

    try:
        due = parse_utc(when)
    except Exception as err:
        raise CourseError(f"due date of {assignment}: not a date: {when!r} "
                          "(expected e.g. '2026-09-21 23:59:00 UTC')") from err
    with course.gradebook() as gb:
        gb.update_or_create_assignment(assignment, duedate=due)
    return due


def student_decisions(gb, student: str, policy: Policy = SYLLABUS) -> dict[str, Decision]:
    """Assignment -> decision for every submission of ``student`` in the gradebook."""
    subs = gb.student_submissions(student)
    return {d.assignment: d for d in decide([Submitted(s.assignment.name, s.timestamp, _due(s))
                                             for s in subs], policy)}


def _due(submission) -> datetime.datetime | None:
    """The due date plus the extension (nbgrader's ``duedate`` fails on an extension without a date)."""
    due = submission.assignment.duedate
    if due is None:
        return None
    return due + submission.extension if submission.extension is not None else due


def apply_late_days(course: Course, policy: Policy = SYLLABUS) -> dict[str, dict[str, Decision]]:
    """Write every submitted notebook's late penalty; student -> assignment -> decision."""
    result = {}
    with course.gradebook() as gb:
        load_course_dates(course, gb)
        for student in gb.students:
            decisions = student_decisions(gb, student.id, policy)
            for sub in gb.student_submissions(student.id):
                decision = decisions[sub.assignment.name]
                for nb in sub.notebooks:
                    nb.late_submission_penalty = penalty_points(decision, nb.score, nb.max_score, policy)
            result[student.id] = decisions
        gb.db.commit()
    return result
