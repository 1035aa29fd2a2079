"""``gradkit collect``: import submissions into ``course/submitted/<student>/<assignment>/``.

The input (PATH, a folder or a .zip) is read by ``state.intake``: per-student
folders, zips of them, or a Canvas "Download Submissions" zip, each submission
matched to its student (Canvas files by the roster's Canvas user id, never by the
name Canvas writes). This command then decides each submission's assignment (its
folder, ``--assignment``, or its notebook names) and stores it.

Submission times: a submission's own ``timestamp.txt`` (nbgrader's exchange writes
one), else, for a folder on disk, the newest file time. A zip entry's time is when
the zip was made, not when the student submitted, so a zip gives no time, and
neither does a Canvas download (it carries none). For Canvas, pass Canvas's own
list of the assignment's submissions (``canvas_submissions``: the JSON array that
Canvas's submissions API returns, ``GET /api/v1/courses/<course>/assignments/
<assignment>/submissions``; each entry's ``user_id`` and ``submitted_at`` are read).
A submission with no time counts as on time for late days; when Canvas marked it
``LATE`` nevertheless, a ``state.late_days.LMS_LATE_MARK`` file records that, and
collect, ``gradkit latedays`` and the report say so. A newer submission replaces an
older one; the same files with a newer time only update the time; anything not
imported is listed with the reason.
"""

from __future__ import annotations

import datetime
import re
import shutil
import zipfile
from pathlib import Path

from gradkit_autograder.state.conventions import TIMESTAMP_FILE
from gradkit_autograder.state.course import Course, CourseError
from gradkit_autograder.state.intake import CollectSummary, Incoming, Known, canvas_submission_times, read_input
from gradkit_autograder.state.late_days import LMS_LATE_MARK
from gradkit_autograder.state.roster import ensure_in_gradebook, load_roster

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"


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
            parts.append((Incoming(inc.student, name, files, inc.timestamp, inc.roster, inc.late,
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
        if not stems:
            shown = sorted(inc.files)[:5]
            return [(None, f"no notebook (.ipynb) at the top of the student folder (found {shown}); "
                     "expected <student>/<assignment>/<notebook>.ipynb or <student>/<notebook>.ipynb")]
        names = ", ".join(f"{a}: {sorted(nbs)}" for a, nbs in sorted(released.items()))
        return [(None, f"notebooks {sorted(stems)} belong to no released assignment ({names}); "
                 "rename them or pass --assignment")]
    return [(None, f"notebooks match several assignments {matches}; pass --assignment")]


# --- storing ----------------------------------------------------------------------------------------------

def _store(course: Course, inc: Incoming, summary: CollectSummary) -> None:
    dest = course.submitted_dir(inc.student, inc.assignment)
    own = inc.files.pop(TIMESTAMP_FILE, None)
    if own:
        stamp = own.decode(errors="replace").strip()
    else:
        stamp = inc.timestamp.strftime(TIMESTAMP_FORMAT) if inc.timestamp else ""
    old_stamp = (dest / TIMESTAMP_FILE).read_text().strip() if (dest / TIMESTAMP_FILE).exists() else None
    if dest.exists():
        old_files = {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*")
                     if p.is_file() and p.name not in (TIMESTAMP_FILE, LMS_LATE_MARK)}
        if old_files == inc.files and (not stamp or stamp == old_stamp):
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
    if stamp:
        (dest / TIMESTAMP_FILE).write_text(stamp)
    shown = stamp or "no submission time"
    if inc.late:
        shown += " (Canvas: LATE)"
        if not stamp:
            (dest / LMS_LATE_MARK).write_text("Canvas marked this submission LATE without giving its time\n")
            shown += (": counted as on time until its time is known (--canvas-submissions FILE, "
                      "or course/submission_times.csv)")
    summary.imported.append((inc.student, inc.assignment, shown))


def _parse(stamp: str):
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(stamp)
    except Exception:
        return None


def collect(course: Course, path: str | Path | None, assignment: str | None = None,
            canvas_submissions: str | Path | None = None) -> CollectSummary:
    """Import every submission found in ``path`` (folder or zip) into the course.

    ``canvas_submissions``: Canvas's submissions list of the assignment (JSON), whose
    ``submitted_at`` times become the Canvas download's submission times.
    """
    if path is None:
        raise CourseError("give PATH (a folder or a zip of submissions), or --exchange for the course hub's")
    path = Path(path)
    summary = CollectSummary()
    if not path.exists():
        raise CourseError(f"{path} does not exist (expected a folder or a .zip)")
    if path.is_file() and not zipfile.is_zipfile(path):
        raise CourseError(f"{path} is a file but not a zip archive")
    released = _released_notebooks(course)
    if not released:
        raise CourseError("no assignment is released yet; run `gradkit release` first")
    known = Known(released, load_roster(course),
                  canvas_submission_times(canvas_submissions) if canvas_submissions else {})
    incoming = read_input(path, summary, known)
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
            if part.roster is not None:
                with course.gradebook() as gb:
                    ensure_in_gradebook(gb, part.roster)
            if part.late:
                summary.late.append((part.student, part.assignment))
            _store(course, part, summary)
    return summary


def collect_exchange(course: Course, assignment: str | None = None, also_path: str | None = None) -> CollectSummary:
    """Import each student's newest submission from the hub's exchange (``hub.exchange``).

    The submission time is when the exchange received it, not what the student's
    server wrote into ``timestamp.txt``; a claim earlier than that is reported.
    """
    from gradkit_autograder.hub.exchange import CLAIMED_TIME_SLACK_S, inbound_submissions
    from gradkit_autograder.hub.settings import hub_settings

    if also_path:
        raise CourseError(f"--exchange collects from the course hub's exchange; PATH ({also_path}) is for other "
                          "submissions: give one of them")
    settings = hub_settings(course)
    released = _released_notebooks(course)
    if not released:
        raise CourseError("no assignment is released yet; run `gradkit release --exchange` first")
    if assignment and assignment not in released:
        raise CourseError(f"{assignment} is not released (released: {', '.join(sorted(released))})")
    read = inbound_submissions(settings.exchange_course, assignment)
    summary = CollectSummary()
    summary.skipped.extend((f"inbound/{name}", why) for name, why in read.refused)
    roster = load_roster(course)
    for sub in read.latest:
        if sub.assignment not in released:
            summary.skipped.append((f"inbound/{sub.folder.name}", f"{sub.assignment} is not released"))
            continue
        files = dict(sub.files)
        files.pop(TIMESTAMP_FILE, None)
        claimed = _parse(sub.claimed) if sub.claimed else None     # nbgrader's parse_utc: naive, in UTC
        if claimed is not None and claimed.tzinfo is None:
            claimed = claimed.replace(tzinfo=datetime.timezone.utc)
        if claimed and (sub.received - claimed).total_seconds() > CLAIMED_TIME_SLACK_S:
            summary.notes.append((f"{sub.student}/{sub.assignment}",
                                  f"its timestamp.txt says {sub.claimed}, but the exchange received it at "
                                  f"{sub.received.strftime(TIMESTAMP_FORMAT)}: that time counts"))
        entry = roster.get(sub.student)
        if entry is not None:
            with course.gradebook() as gb:
                ensure_in_gradebook(gb, entry)
        _store(course, Incoming(sub.student, sub.assignment, files, sub.received, entry,
                                origin=f"exchange {sub.folder.name}"), summary)
    return summary

