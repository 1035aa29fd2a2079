"""``gradkit collect``: import submissions into ``course/submitted/<student>/<assignment>/``.

Accepted layouts (PATH is a folder or a .zip):

1. one folder per student: ``PATH/<student>/<assignment>/*.ipynb`` (nbgrader's
   exchange layout) or ``PATH/<student>/*.ipynb``;
2. a zip of such folders (a single top-level folder around them is unwrapped);
3. a Canvas "Download Submissions" zip: flat files named
   ``<login>_<canvas user id>_<submission id>_<file name>`` (or
   ``<login>_LATE_<user id>_<submission id>_<file name>``); Canvas's ``-1``, ``-2``
   suffixes on re-uploaded files are removed.

The assignment of each submission is the ``<assignment>`` folder when there is
one, else ``--assignment``, else the released assignment whose notebook names
match. Each submission gets ``timestamp.txt``: the newest file time (folder) or
zip entry time (zip), unless it brings its own. A newer submission replaces an
older one; anything not imported is listed with the reason.
"""

from __future__ import annotations

import datetime
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gradkit_autograder.course import Course, CourseError

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
CANVAS_NAME = re.compile(r"^(?P<login>[^_]+)_(?:(?P<late>LATE)_)?(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$")
CANVAS_COPY_SUFFIX = re.compile(r"-\d+(?=\.[A-Za-z0-9]+$)")
JUNK = ("__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db")
MAX_FILE_BYTES = 50 * 1024 * 1024
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"


@dataclass
class Incoming:
    """One submission found in the input, before it is stored."""

    student: str
    assignment: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    timestamp: datetime.datetime | None = None
    lms_user_id: str | None = None
    origin: str = ""


@dataclass
class CollectSummary:
    imported: list[tuple[str, str, str]] = field(default_factory=list)   # student, assignment, timestamp
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)         # item, reason


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p in JUNK or p.startswith("._") for p in parts)


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """Path components of an archive member, or None if it tries to leave the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        return None
    return tuple(p for p in path.parts if p not in ("", "."))


# --- reading the input ------------------------------------------------------------------

def _from_tree(entries: list[tuple[tuple[str, ...], bytes, datetime.datetime]], summary,
               origin: str) -> list[Incoming]:
    """Group (path parts, bytes, time) entries by their first component, the student."""
    tops = {parts[0] for parts, _, _ in entries if len(parts) > 1}
    loose = [parts for parts, _, _ in entries if len(parts) == 1]
    if len(tops) == 1 and not loose:   # one wrapper folder around the student folders
        entries = [(parts[1:], data, ts) for parts, data, ts in entries]
    by_student: dict[str, Incoming] = {}
    for parts, data, ts in entries:
        if len(parts) < 2:
            summary.skipped.append(("/".join(parts), "not inside a student folder"))
            continue
        inc = by_student.setdefault(parts[0], Incoming(parts[0], None, origin=origin))
        inc.files["/".join(parts[1:])] = data
        inc.timestamp = max(inc.timestamp or ts, ts)
    return list(by_student.values())


def _canvas(entries, summary, origin: str) -> list[Incoming]:
    by_student: dict[str, Incoming] = {}
    for parts, data, ts in entries:
        m = CANVAS_NAME.match(parts[-1]) if len(parts) == 1 else None
        if not m:
            summary.skipped.append(("/".join(parts), "not a Canvas file name "
                                    "(<login>_<user id>_<submission id>_<file>)"))
            continue
        inc = by_student.setdefault(m["login"], Incoming(m["login"], None, lms_user_id=m["uid"],
                                                         origin=origin))
        inc.files[CANVAS_COPY_SUFFIX.sub("", m["file"])] = data
        inc.timestamp = max(inc.timestamp or ts, ts)
    return list(by_student.values())


def read_zip(path: Path, summary: CollectSummary) -> list[Incoming]:
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
            ts = datetime.datetime(*info.date_time, tzinfo=datetime.timezone.utc)
            entries.append((parts, zf.read(info), ts))
    flat = entries and all(len(parts) == 1 for parts, _, _ in entries)
    return _canvas(entries, summary, path.name) if flat else _from_tree(entries, summary, path.name)


def read_folder(path: Path, summary: CollectSummary) -> list[Incoming]:
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
    flat = entries and all(len(parts) == 1 for parts, _, _ in entries)
    return _canvas(entries, summary, path.name) if flat else _from_tree(entries, summary, path.name)


# --- deciding the assignment --------------------------------------------------------------------

def _released_notebooks(course: Course) -> dict[str, set[str]]:
    with course.gradebook() as gb:
        return {a.name: {nb.name for nb in a.notebooks} for a in gb.assignments}


def _split(inc: Incoming, released: dict[str, set[str]], forced: str | None) -> list[tuple[Incoming | None, str]]:
    """One Incoming per assignment, with the assignment folder stripped; (None, reason) if unclear.

    A student folder either holds one folder per assignment (``<assignment>/...``)
    or the files of a single assignment, named by ``--assignment`` or recognised
    by its notebook names.
    """
    firsts = {rel.split("/")[0] for rel in inc.files}
    if all("/" in rel for rel in inc.files) and firsts <= set(released):
        if forced and forced not in firsts:
            return [(None, f"folders are for {sorted(firsts)}, not {forced}")]
        parts = []
        for name in sorted(firsts):
            if forced and name != forced:
                continue
            files = {rel.split("/", 1)[1]: data for rel, data in inc.files.items()
                     if rel.split("/")[0] == name}
            parts.append((Incoming(inc.student, name, files, inc.timestamp, inc.lms_user_id,
                                   inc.origin), ""))
        return parts
    if forced:
        if forced not in released:
            return [(None, f"{forced} is not released")]
        inc.assignment = forced
        return [(inc, "")]
    stems = {Path(rel).stem for rel in inc.files if rel.endswith(".ipynb") and "/" not in rel}
    matches = [a for a, nbs in released.items() if stems & nbs]
    if len(matches) == 1:
        inc.assignment = matches[0]
        return [(inc, "")]
    if not matches:
        return [(None, f"no released assignment has a notebook named like {sorted(stems) or 'nothing'}")]
    return [(None, f"notebooks match several assignments {matches}; pass --assignment")]


# --- storing ----------------------------------------------------------------------------------------------

def _store(course: Course, inc: Incoming, summary: CollectSummary) -> None:
    dest = course.submitted_dir(inc.student, inc.assignment)
    own = inc.files.pop("timestamp.txt", None)
    stamp = own.decode(errors="replace").strip() if own else (
        (inc.timestamp or datetime.datetime.now(datetime.timezone.utc)).strftime(TIMESTAMP_FORMAT))
    old_stamp = (dest / "timestamp.txt").read_text().strip() if (dest / "timestamp.txt").exists() else None
    if dest.exists():
        old_files = {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*")
                     if p.is_file() and p.name != "timestamp.txt"}
        if old_files == inc.files:
            summary.unchanged.append((inc.student, inc.assignment))
            return
        if old_stamp and _parse(old_stamp) and _parse(stamp) and _parse(old_stamp) > _parse(stamp):
            summary.skipped.append((f"{inc.student}/{inc.assignment} ({inc.origin})",
                                    f"older ({stamp}) than the collected one ({old_stamp})"))
            return
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel, data in inc.files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    (dest / "timestamp.txt").write_text(stamp)
    summary.imported.append((inc.student, inc.assignment, stamp))


def _parse(stamp: str):
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(stamp)
    except Exception:
        return None


def collect(course: Course, path: str | Path, assignment: str | None = None) -> CollectSummary:
    """Import every submission found in ``path`` (folder or zip) into the course."""
    path = Path(path)
    summary = CollectSummary()
    if not path.exists():
        raise CourseError(f"{path} does not exist (expected a folder or a .zip)")
    if path.is_file() and not zipfile.is_zipfile(path):
        raise CourseError(f"{path} is a file but not a zip archive")
    incoming = read_zip(path, summary) if path.is_file() else read_folder(path, summary)
    released = _released_notebooks(course)
    if not released:
        raise CourseError("no assignment is released yet; run `gradkit release` first")
    for inc in incoming:
        if not STUDENT_ID.match(inc.student):
            summary.skipped.append((inc.student, "not a usable student id (letters, digits, _.@+-)"))
            continue
        for part, why in _split(inc, released, assignment):
            if part is None:
                summary.skipped.append((inc.student, why))
                continue
            if not any(rel.endswith(".ipynb") for rel in part.files):
                summary.skipped.append((f"{part.student}/{part.assignment}", "no notebook in the submission"))
                continue
            if part.lms_user_id:
                with course.gradebook() as gb:
                    gb.update_or_create_student(part.student, lms_user_id=part.lms_user_id)
            _store(course, part, summary)
    return summary
