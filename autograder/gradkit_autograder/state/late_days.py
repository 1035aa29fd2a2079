"""Late days, as the syllabus promises them, applied to the gradebook.

The policy (the course's ``c.LateDays`` settings in ``nbgrader_config.py``; the
defaults are the syllabus's):

- ``free_days`` (3): each student's bank of late days for the term;
- ``penalty_per_day`` (0.10): past the bank, each day late costs this share of
  the assignment's points;
- ``max_days_late`` (7): a submission later than this is not accepted: it
  scores zero and uses no late days;
- ``grace_minutes`` (0): a submission at most this many minutes late is on time;
- ``decimals`` (2): points taken are rounded to this many decimals.

Days late are whole days, rounded up (one second late is one day), counted from
the due date plus the student's extension. The bank is spent automatically,
assignment by assignment, in the order the student submitted them.

``apply_late_days`` is the one writer of nbgrader's ``late_submission_penalty``
(which nbgrader's totals and CSV export subtract). It recomputes every decision
from the gradebook each time, so a regrade, a resubmission, a new extension or a
manual grade change never counts twice. ``gradkit grade`` runs it after every
run; ``gradkit latedays``, ``export``, ``feedback``, ``report`` and ``status`` run
it before they read a grade, so every place a grade is shown agrees.

Where the dates come from:

- the due date: nbgrader's ``Assignment.duedate`` (``gradkit release --due``), or
  ``<course>/due_dates.csv`` (``assignment,due``);
- an extension: ``<course>/extensions.csv`` (``student,assignment,days``), stored
  as nbgrader's ``SubmittedAssignment.extension``;
- the submission time: the submission's ``timestamp.txt`` (``gradkit collect``), or
  ``<course>/submission_times.csv`` (``student,assignment,submitted``), which wins.
  A submission with neither counts as on time; when the LMS marked it late
  (``LMS_LATE_MARK``), every late-day listing says so.
"""

from __future__ import annotations

import csv
import datetime
import math
from dataclasses import dataclass, field, fields

from gradkit_autograder.state.course import Course, CourseError

DAY_S = 86400.0
DUE_DATES_FILE = "due_dates.csv"
EXTENSIONS_FILE = "extensions.csv"
SUBMISSION_TIMES_FILE = "submission_times.csv"
# written by `gradkit collect` into a submission the LMS marked late without giving its time
LMS_LATE_MARK = "lms_late.txt"
CONFIG_SECTION = "LateDays"


@dataclass(frozen=True)
class Policy:
    """The syllabus's late-day rules (see the module docstring)."""

    free_days: int = 3
    penalty_per_day: float = 0.10
    max_days_late: int = 7
    grace_minutes: float = 0.0
    decimals: int = 2

    def __post_init__(self):
        if (self.free_days < 0 or self.max_days_late < 0 or self.grace_minutes < 0 or self.decimals < 0
                or not 0 <= self.penalty_per_day <= 1):
            raise ValueError(f"late-day policy: free_days, max_days_late, grace_minutes and decimals "
                             f"must be >= 0 and penalty_per_day in [0, 1], got {self}")

    @classmethod
    def from_config(cls, config) -> "Policy":
        """The policy in the course's ``c.LateDays`` settings; CourseError names a bad one."""
        section = dict(config.get(CONFIG_SECTION, {}) if config else {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(section) - set(known))
        if unknown:
            raise CourseError(f"nbgrader_config.py: c.{CONFIG_SECTION} has no setting {unknown}; "
                              f"expected some of {sorted(known)}")
        values = {}
        for name, value in section.items():
            number = int if known[name] == "int" else float
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    number is int and value != int(value)):
                raise CourseError(f"nbgrader_config.py: c.{CONFIG_SECTION}.{name} must be "
                                  f"{'a whole number' if number is int else 'a number'}, got {value!r}")
            values[name] = number(value)
        try:
            return cls(**values)
        except ValueError as err:
            raise CourseError(f"nbgrader_config.py: {err}") from None


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

    def describe(self, policy: Policy, taken: float, max_score: float) -> str:
        """The late-day sentence a student reads: days late, bank used and left, points taken."""
        bank = f"{self.late_days_left} of {policy.free_days} left in your bank"
        if self.days_late == 0:
            return f"Submitted on time. Late days: {bank}."
        if not self.accepted:
            return (f"Submitted {_days(self.days_late)} late, more than the {policy.max_days_late} "
                    f"days accepted: not accepted, scored 0 ({taken:g} points taken). "
                    f"No late days used; {bank}.")
        text = (f"Submitted {_days(self.days_late)} late: {_days(self.late_days_used)} from your bank "
                f"used, {bank}.")
        if self.penalised_days:
            text += (f" {_days(self.penalised_days)} past the bank at {policy.penalty_per_day:.0%} of the "
                     f"{max_score:g} points each: {taken:g} points taken.")
        return text


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def days_late(submitted: datetime.datetime | None, due: datetime.datetime | None,
              policy: Policy = SYLLABUS) -> int:
    """Whole days late, rounded up: 1 second late is 1 day; 0 within the grace or when a time is unknown."""
    if submitted is None or due is None:
        return 0
    seconds = (submitted - due).total_seconds()
    if seconds <= policy.grace_minutes * 60:
        return 0
    return math.ceil(seconds / DAY_S)


def decide(submissions: list[Submitted], policy: Policy = SYLLABUS) -> list[Decision]:
    """The decisions for one student's submissions, spending the bank in submission order.

    Returned in the order the submissions were made (unknown times last, by name).
    """
    order = sorted(submissions, key=lambda s: (s.submitted is None, s.submitted or datetime.datetime.min,
                                               s.assignment))
    bank = policy.free_days
    decisions = []
    for s in order:
        late = days_late(s.submitted, s.due, policy)
        if late > policy.max_days_late:
            decisions.append(Decision(s.assignment, late, 0, 0, False, bank))
            continue
        used = min(bank, late)
        bank -= used
        decisions.append(Decision(s.assignment, late, used, late - used, True, bank))
    return decisions


def penalty_points(decision: Decision, score: float, max_score: float, policy: Policy = SYLLABUS) -> float:
    """Points taken off ``score`` (never more than ``score``): all of it when not accepted."""
    score = float(score or 0.0)
    if not decision.accepted:
        return score
    return min(score, round(decision.penalised_days * policy.penalty_per_day * max_score, policy.decimals))


def final_score(submission) -> float:
    """A gradebook submission's score after its late penalty (what every export and page shows)."""
    return max(0.0, (submission.score or 0.0) - (submission.late_submission_penalty or 0.0))


# --- the course's dates ----------------------------------------------------------------------------

def _read_csv(path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise CourseError(f"{path}: missing column(s) {sorted(missing)}; expected {', '.join(columns)}")
        return [{k: (row[k] or "").strip() for k in columns} for row in reader]


def _utc(text: str, where: str) -> datetime.datetime:
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text)
    except Exception as err:
        raise CourseError(f"{where}: not a date: {text!r} (expected e.g. '2026-09-21 23:59:00 UTC')") from err


def load_course_dates(course: Course, gb) -> None:
    """Copy ``due_dates.csv``, ``extensions.csv`` and ``submission_times.csv`` into the gradebook."""
    from nbgrader.api import MissingEntry

    due_file = course.root / DUE_DATES_FILE
    if due_file.exists():
        for row in _read_csv(due_file, ("assignment", "due")):
            gb.update_or_create_assignment(row["assignment"],
                                           duedate=_utc(row["due"], f"{due_file}: {row['assignment']}"))
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
            when = _utc(row["submitted"], f"{times_file}: {row['student']}/{row['assignment']}")
            try:
                gb.find_submission(row["assignment"], row["student"]).timestamp = when
            except MissingEntry:
                continue   # not collected (yet)
        gb.db.commit()


def set_due_date(course: Course, assignment: str, when: str) -> datetime.datetime:
    """Record ``assignment``'s due date (e.g. ``"2026-09-21 23:59:00 UTC"``) in the gradebook."""
    due = _utc(when, f"due date of {assignment}")
    with course.gradebook() as gb:
        gb.update_or_create_assignment(assignment, duedate=due)
    return due


def student_decisions(gb, student: str, policy: Policy = SYLLABUS) -> dict[str, Decision]:
    """Assignment -> decision for every submission of ``student`` in the gradebook."""
    subs = gb.student_submissions(student)
    return {d.assignment: d for d in decide([Submitted(s.assignment.name, s.timestamp, due_with_extension(s))
                                             for s in subs], policy)}


def due_with_extension(submission) -> datetime.datetime | None:
    """The due date plus the extension (nbgrader's ``duedate`` fails on an extension without a date)."""
    due = submission.assignment.duedate
    if due is None:
        return None
    return due + submission.extension if submission.extension is not None else due


# --- applying the policy -----------------------------------------------------------------------------

@dataclass
class Applied:
    """What one application of the policy found and wrote."""

    policy: Policy
    decisions: dict[str, dict[str, Decision]] = field(default_factory=dict)   # student -> assignment ->
    penalties: dict[tuple[str, str], float] = field(default_factory=dict)    # (student, assignment) -> points
    changed: int = 0                  # penalties that differ from the ones stored before
    marked_late_without_time: list[tuple[str, str]] = field(default_factory=list)

    def late(self) -> list[tuple[str, Decision]]:
        return [(student, d) for student, by_a in sorted(self.decisions.items())
                for _, d in sorted(by_a.items()) if d.days_late]

    def summary(self) -> str:
        late = [d for _, d in self.late()]
        return (f"late days: {sum(map(len, self.decisions.values()))} submissions of "
                f"{len(self.decisions)} students, {len(late)} late "
                f"({sum(d.accepted and not d.penalised_days for d in late)} within the bank, "
                f"{sum(d.accepted and d.penalised_days > 0 for d in late)} penalised, "
                f"{sum(not d.accepted for d in late)} not accepted); {self.changed} penalties changed")

    def report(self) -> str:
        """What ``gradkit latedays`` prints: each late submission, each LMS mark without a time, the summary."""
        lines = []
        for student, d in self.late():
            what = "not accepted" if not d.accepted else f"{d.late_days_used} late days used"
            lines.append(f"late  {student:<24} {d.assignment:<20} {d.days_late} days: {what}, "
                         f"{d.late_days_left} left, {self.penalties[(student, d.assignment)]:g} points taken")
        for student, assignment in self.marked_late_without_time:
            lines.append(f"note  {student:<24} {assignment:<20} the LMS marked it LATE but gave no time: counted "
                         "as on time (collect --canvas-submissions, or submission_times.csv)")
        return "\n".join(lines + [self.summary()])


def _spread(points: float, notebooks) -> dict:
    """Split an assignment's penalty over its notebooks (nbgrader stores it per notebook)."""
    shares, left = {}, points
    for nb in sorted(notebooks, key=lambda n: n.notebook.name):
        shares[nb] = min(left, nb.score or 0.0)
        left -= shares[nb]
    return shares


def apply_late_days(course: Course, policy: Policy | None = None) -> Applied:
    """Recompute and write every submission's late penalty from the gradebook and the course files."""
    policy = policy or Policy.from_config(course.config)
    applied = Applied(policy)
    with course.gradebook() as gb:
        load_course_dates(course, gb)
        for student in gb.students:
            decisions = student_decisions(gb, student.id, policy)
            applied.decisions[student.id] = decisions
            for sub in gb.student_submissions(student.id):
                name = sub.assignment.name
                points = penalty_points(decisions[name], sub.score, sub.max_score, policy)
                applied.penalties[(student.id, name)] = points
                for nb, share in _spread(points, sub.notebooks).items():
                    if abs((nb.late_submission_penalty or 0.0) - share) > 1e-12:
                        applied.changed += 1
                        nb.late_submission_penalty = share
                if sub.timestamp is None and (course.submitted_dir(student.id, name) / LMS_LATE_MARK).exists():
                    applied.marked_late_without_time.append((student.id, name))
        gb.db.commit()
    return applied


def late_sentence(gb, policy: Policy, assignment: str, student: str) -> str:
    """The late-day sentence of one submission ('' when the assignment has no due date)."""
    sub = gb.find_submission(assignment, student)
    if sub.assignment.duedate is None:
        return ""
    decision = student_decisions(gb, student, policy)[assignment]
    return decision.describe(policy, sub.late_submission_penalty or 0.0, sub.max_score)
