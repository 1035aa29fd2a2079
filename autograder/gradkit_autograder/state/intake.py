"""Submissions as they come in: folders, zips and Canvas downloads, read into one ``Incoming`` a student.

Accepted layouts (PATH is a folder or a .zip):

1. one folder per student: ``PATH/<student>/<assignment>/*.ipynb`` (nbgrader's
   exchange layout) or ``PATH/<student>/*.ipynb``;
2. a zip of such folders (a single top-level folder around them is unwrapped);
3. a Canvas "Download Submissions" zip: flat files named
   ``<name>_<canvas user id>_<submission id>_<file name>`` (or
   ``<name>_LATE_<user id>_<submission id>_<file name>``), where ``<name>`` is
   the student's name as Canvas writes it (lower case, no separators).

Who a submission belongs to:

- a Canvas file belongs to the roster student with that Canvas user id
  (``lms_user_id``, see ``state.roster``), never to its name part; a file whose user
  id matches nobody is listed and skipped, never graded as a new student;
- a folder is a student folder, or a single folder around student folders; which
  one is decided from the roster and the released assignment names, and when that
  is ambiguous (or a "student" would be named like an assignment) reading stops
  with a ``CourseError`` that says so.

Canvas adds ``-1``, ``-2`` before the extension of a re-uploaded file; such a name
is mapped back to the released notebook's name (the highest number wins). Canvas's
``LATE`` marker is kept (``Incoming.late``). A zip entry's time is when the zip was
made, so only a folder on disk gives file times; Canvas's own submission times come
from its submissions list (``canvas_submission_times``). Paths that leave the
archive, symbolic links, junk files and files over ``MAX_FILE_BYTES`` are skipped
with the reason. Nothing here writes to the course: ``gradkit collect``
(``commands.collect``) decides each submission's assignment and stores it.
"""

from __future__ import annotations

import datetime
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gradkit_autograder.state.course import CourseError
from gradkit_autograder.state.roster import RosterEntry, by_canvas_id

CANVAS_NAME = re.compile(r"^(?P<name>[^_]+)_(?:(?P<late>LATE)_)?(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$")
CANVAS_COPY_SUFFIX = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)(?P<ext>\.[A-Za-z0-9]+)$")
JUNK = ("__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db")
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class Incoming:
    """One submission found in the input, before it is stored."""

    student: str
    assignment: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    timestamp: datetime.datetime | None = None
    roster: RosterEntry | None = None
    late: bool = False
    origin: str = ""


@dataclass
class CollectSummary:
    imported: list[tuple[str, str, str]] = field(default_factory=list)   # student, assignment, timestamp
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)         # item, reason
    late: list[tuple[str, str]] = field(default_factory=list)            # student, assignment marked LATE by Canvas
    notes: list[tuple[str, str]] = field(default_factory=list)           # item, what to know about it


@dataclass
class Known:
    """What the course knows when it reads an input: released notebooks and the roster."""

    released: dict[str, set[str]]                 # assignment -> notebook names
    roster: dict[str, RosterEntry]
    canvas_times: dict[str, datetime.datetime] = field(default_factory=dict)   # Canvas user id -> time

    @property
    def notebook_files(self) -> set[str]:
        return {f"{nb}.ipynb" for nbs in self.released.values() for nb in nbs}


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p in JUNK or p.startswith("._") for p in parts)


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """Path components of an archive member, or None if it tries to leave the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        return None
    return tuple(p for p in path.parts if p not in ("", "."))


# --- folders of students ----------------------------------------------------------------

def student_level(entries, known: Known, origin: str) -> int:
    """0 when the top folders are students, 1 when a single folder wraps the student folders.

    Decided from the roster and the assignment names; CourseError when it cannot be
    decided, or when a student would be named like an assignment (PATH is then one
    student's folder, or an assignment's).
    """
    assignments = set(known.released)
    tops = {parts[0] for parts, _, _ in entries if len(parts) > 1}
    if tops & assignments:
        raise CourseError(
            f"{origin} holds folders named like assignments ({', '.join(sorted(tops & assignments))}) "
            "where student folders are expected: it looks like one student's folder; pass the "
            "folder that holds the student folders (<students>/<student>/<assignment>/...)")
    loose = any(len(parts) == 1 for parts, _, _ in entries)
    if len(tops) != 1 or loose:
        return 0
    top = next(iter(tops))
    below = [parts[1:] for parts, _, _ in entries]
    children = {p[0] for p in below if len(p) > 1}           # sub-folders of the top folder
    files = {p[0] for p in below if len(p) == 1}              # files directly in it
    grandchildren = {p[1] for p in below if len(p) > 2}
    if top in known.roster:
        return 0
    if children and children <= assignments:
        return 0                                              # <student>/<assignment>/...
    if files & known.notebook_files and not children:
        return 0                                              # <student>/<notebook>.ipynb
    if children & set(known.roster) or (grandchildren and grandchildren <= assignments):
        return 1                                              # <wrapper>/<student>/...
    if children and not files and all(
            any(len(p) == 2 and p[0] == c and p[1].endswith(".ipynb") for p in below) for c in children):
        return 1                                              # <wrapper>/<student>/*.ipynb
    raise CourseError(
        f"{origin}: cannot tell whether {top!r} is a student or a folder around student folders "
        f"(it is not in the roster and holds {sorted(children | files)[:5]}); pass the folder of "
        "student folders, or add the student to the roster")


def _from_tree(entries, summary: CollectSummary, known: Known, origin: str) -> list[Incoming]:
    """Group (path parts, bytes, time) entries by student folder."""
    level = student_level(entries, known, origin)
    by_student: dict[str, Incoming] = {}
    for parts, data, ts in entries:
        parts = parts[level:]
        if len(parts) < 2:
            summary.skipped.append(("/".join(parts), "not inside a student folder"))
            continue
        inc = by_student.setdefault(parts[0], Incoming(parts[0], None, roster=known.roster.get(parts[0]),
                                                       origin=origin))
        inc.files["/".join(parts[1:])] = data
        if ts is not None:
            inc.timestamp = max(inc.timestamp or ts, ts)
    return list(by_student.values())


# --- Canvas -------------------------------------------------------------------------------------

def released_name(file: str, notebook_files: set[str]) -> tuple[str, int]:
    """The released notebook a Canvas file name stands for, and its re-upload number.

    ``warmup-2.ipynb`` -> (``warmup.ipynb``, 2) when ``warmup.ipynb`` is released;
    a name that is itself released (``layer-1.ipynb``) or matches nothing is kept.
    """
    if file in notebook_files:
        return file, 0
    m = CANVAS_COPY_SUFFIX.match(file)
    if m and f"{m['stem']}{m['ext']}" in notebook_files:
        return f"{m['stem']}{m['ext']}", int(m["n"])
    return file, 0


def _canvas(entries, summary: CollectSummary, known: Known, origin: str) -> list[Incoming]:
    canvas_ids = by_canvas_id(known.roster)
    notebook_files = known.notebook_files
    by_student: dict[str, Incoming] = {}
    copy_number: dict[tuple[str, str], int] = {}
    for parts, data, _zip_time in entries:   # a zip entry's time is not a submission time
        m = CANVAS_NAME.match(parts[-1]) if len(parts) == 1 else None
        if not m:
            summary.skipped.append(("/".join(parts), "not a Canvas file name "
                                    "(<name>_<user id>_<submission id>_<file>)"))
            continue
        entry = canvas_ids.get(m["uid"])
        if entry is None:
            summary.skipped.append((parts[-1], f"Canvas user id {m['uid']} ({m['name']}) is in no roster "
                                    "row (lms_user_id); add the student to the roster and collect again"))
            continue
        inc = by_student.setdefault(entry.id, Incoming(entry.id, None, roster=entry, origin=origin,
                                                       timestamp=known.canvas_times.get(m["uid"])))
        inc.late = inc.late or bool(m["late"])
        name, number = released_name(m["file"], notebook_files)
        if copy_number.get((entry.id, name), -1) < number:
            copy_number[(entry.id, name)] = number
            inc.files[name] = data
    return list(by_student.values())


# --- reading the input ------------------------------------------------------------------

def _entries_of_zip(path: Path, summary: CollectSummary) -> list:
    entries = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = _safe_parts(info.filename)
            if parts is None:
                summary.skipped.append((info.filename, "path leaves the archive (..) — refused"))
                continue
            if _is_junk(parts):
                continue
            if info.file_size > MAX_FILE_BYTES:
                summary.skipped.append((info.filename, f"larger than {MAX_FILE_BYTES >> 20} MiB"))
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                summary.skipped.append((info.filename, "symbolic link — refused"))
                continue
            entries.append((parts, zf.read(info), None))   # entry times are when the zip was made
    return entries


def _entries_of_folder(path: Path, summary: CollectSummary) -> list:
    entries = []
    for file in sorted(path.rglob("*")):
        parts = file.relative_to(path).parts
        if _is_junk(parts) or file.is_dir():
            continue
        if file.is_symlink():
            summary.skipped.append((str(file), "symbolic link — refused"))
            continue
        if file.stat().st_size > MAX_FILE_BYTES:
            summary.skipped.append((str(file), f"larger than {MAX_FILE_BYTES >> 20} MiB"))
            continue
        ts = datetime.datetime.fromtimestamp(file.stat().st_mtime, tz=datetime.timezone.utc)
        entries.append((parts, file.read_bytes(), ts))
    return entries


def read_input(path: Path, summary: CollectSummary, known: Known) -> list[Incoming]:
    entries = _entries_of_zip(path, summary) if path.is_file() else _entries_of_folder(path, summary)
    flat = entries and all(len(parts) == 1 for parts, _, _ in entries)
    if flat:
        return _canvas(entries, summary, known, path.name)
    return _from_tree(entries, summary, known, path.name)




def canvas_submission_times(path: str | Path) -> dict[str, datetime.datetime]:
    """Canvas user id -> submission time, from Canvas's list of an assignment's submissions (JSON)."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CourseError(f"{path}: cannot read Canvas's submissions list ({err}); expected the JSON "
                          "array of Canvas's submissions API") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "user_id" in e for e in entries):
        raise CourseError(f"{path}: expected a JSON array of Canvas submissions, each with "
                          "'user_id' and 'submitted_at'")
    times = {}
    for entry in entries:
        when = entry.get("submitted_at")
        if not when:
            continue   # nothing submitted (yet): Canvas lists every student
        try:
            parsed = datetime.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        except ValueError:
            raise CourseError(f"{path}: user {entry['user_id']}: submitted_at is not a time: {when!r}") from None
        times[str(entry["user_id"])] = parsed.astimezone(datetime.timezone.utc)
    return times
