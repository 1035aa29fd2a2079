"""The class roster: who the students are and their Canvas user ids.

The roster is the gradebook's student table (filled by ``nbgrader db student
import roster.csv``) together with ``<course>/roster.csv`` when the course folder
has one (columns ``id,first_name,last_name,email,lms_user_id``); a row of the CSV
wins over the gradebook for the same id. ``gradkit collect`` uses it to decide
who a Canvas file belongs to (by the Canvas user id, never by the name Canvas
writes) and which folders are students.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from gradkit_autograder.state.course import Course, CourseError

ROSTER_FILE = "roster.csv"
ROSTER_COLUMNS = ("id", "first_name", "last_name", "email", "lms_user_id")


@dataclass(frozen=True)
class RosterEntry:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""


def read_roster_csv(path) -> list[RosterEntry]:
    """Rows of a roster CSV; CourseError naming the file when the ``id`` column is missing."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise CourseError(f"{path}: a roster needs an 'id' column (columns: {', '.join(ROSTER_COLUMNS)})")
        return [RosterEntry(**{k: (row.get(k) or "").strip() for k in ROSTER_COLUMNS})
                for row in reader if (row.get("id") or "").strip()]


def load_roster(course: Course) -> dict[str, RosterEntry]:
    """Student id -> entry, from the gradebook and ``<course>/roster.csv``."""
    roster: dict[str, RosterEntry] = {}
    with course.gradebook() as gb:
        for s in gb.students:
            roster[s.id] = RosterEntry(s.id, s.first_name or "", s.last_name or "", s.email or "",
                                       str(s.lms_user_id or ""))
    path = course.root / ROSTER_FILE
    if path.exists():
        for entry in read_roster_csv(path):
            roster[entry.id] = entry
    return roster


def by_canvas_id(roster: dict[str, RosterEntry]) -> dict[str, RosterEntry]:
    """Canvas user id -> entry; CourseError when two students share one id."""
    found: dict[str, RosterEntry] = {}
    for entry in roster.values():
        if not entry.lms_user_id:
            continue
        if entry.lms_user_id in found:
            raise CourseError(f"roster: Canvas user id {entry.lms_user_id} belongs to both "
                              f"{found[entry.lms_user_id].id} and {entry.id}; fix the roster")
        found[entry.lms_user_id] = entry
    return found


def ensure_in_gradebook(gb, entry: RosterEntry) -> None:
    """Add or update the student in nbgrader's gradebook with the roster's details."""
    details = {k: getattr(entry, k) or None for k in ROSTER_COLUMNS[1:]}
    gb.update_or_create_student(entry.id, **details)
