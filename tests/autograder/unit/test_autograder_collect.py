"""``gradkit collect``: Canvas files matched by user id, folder layouts decided from the roster.

The oracle is the roster written here: every imported submission must land under
the roster id that owns the Canvas user id, whatever name Canvas wrote.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import nbformat
import pytest

from gradkit_autograder.grading.class_builder import reference_notebook
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.intake import released_name
from gradkit_autograder.state.course import CourseError
from gradkit_autograder.commands.export import canvas_rows
from gradkit_autograder.state.late_days import LMS_LATE_MARK

A = "a0_warmup"
ROSTER = [("alovelace", "Ada", "Lovelace", "100003"), ("ghopper", "Grace", "Hopper", "100002"),
          ("aturing", "Alan", "Turing", "100001")]


@pytest.fixture
def course(a0_course):
    """The session's released a0 course (a copy of its own) with a roster of Canvas user ids."""
    course = a0_course
    with open(course.root / "roster.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email", "lms_user_id"])
        for sid, first, last, uid in ROSTER:
            writer.writerow([sid, first, last, f"{sid}@example.edu", uid])
    ref = reference_notebook(course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb")
    return course, nbformat.writes(ref).encode()


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 3, 1, 12, 0, 0)), data)
    path.write_bytes(buf.getvalue())
    return path


def test_canvas_files_go_to_the_roster_student_with_that_user_id(course, tmp_path):
    course, nb = course
    other = nb + b"\n"
    path = _zip(tmp_path / "canvas.zip", {
        "lovelaceada_100003_9001_warmup.ipynb": nb,                   # name part as Canvas writes it
        "hoppergrace_LATE_100002_9002_warmup-1.ipynb": nb,           # late, re-uploaded once
        "hoppergrace_LATE_100002_9002_warmup-2.ipynb": other,        # the newest re-upload wins
        "strangerx_555555_9003_warmup.ipynb": nb,                    # on no roster row
        "readme.txt": b"not a submission",
    })
    got = collect(course, path)
    assert sorted(s for s, _, _ in got.imported) == ["alovelace", "ghopper"]
    reasons = dict(got.skipped)
    assert "555555" in reasons["strangerx_555555_9003_warmup.ipynb"]
    assert "roster" in reasons["strangerx_555555_9003_warmup.ipynb"]
    assert "readme.txt" in reasons
    assert not course.submitted_dir("strangerx", A).exists()
    assert not course.submitted_dir("lovelaceada", A).exists()
    assert (course.submitted_dir("ghopper", A) / "warmup.ipynb").read_bytes() == other
    # Canvas said LATE but gave no time: the mark is kept for late days and the report
    assert sorted(p.name for p in course.submitted_dir("ghopper", A).iterdir()) == [LMS_LATE_MARK,
                                                                                     "warmup.ipynb"]
    assert got.late == [("ghopper", A)]
    assert any("LATE" in stamp and "counted as on time" in stamp for s, _, stamp in got.imported
               if s == "ghopper")
    # a zip entry's time is not a submission time: no timestamp.txt is made up
    assert not (course.submitted_dir("alovelace", A) / "timestamp.txt").exists()
    with course.gradebook() as gb:
        rows = canvas_rows(gb)
    ids = {r[3]: r[1] for r in rows[2:]}
    assert ids["alovelace"] == "100003" and "lovelaceada" not in ids and "strangerx" not in ids
    again = collect(course, path)
    assert len(again.unchanged) == 2 and not again.imported


def test_canvas_times_come_from_canvas_submissions_list(course, tmp_path, capsys):
    """`collect --canvas-submissions`: Canvas's own list (its submissions API's JSON) gives the times."""
    import json

    from gradkit_autograder.cli import main

    course, nb = course
    path = _zip(tmp_path / "canvas.zip", {"lovelaceada_100003_9001_warmup.ipynb": nb,
                                          "hoppergrace_LATE_100002_9002_warmup.ipynb": nb})
    root = ["--course", str(course.root)]
    assert main(["collect", str(path), *root]) == 0                   # no times yet: LATE is noted
    assert (course.submitted_dir("ghopper", A) / LMS_LATE_MARK).exists()
    assert "counted as on time" in capsys.readouterr().out
    listing = tmp_path / "submissions.json"
    listing.write_text(json.dumps([
        {"user_id": 100003, "submitted_at": "2026-09-14T21:10:00Z", "late": False, "workflow_state": "submitted"},
        {"user_id": 100002, "submitted_at": "2026-09-16T01:30:00-04:00", "late": True, "seconds_late": 9000},
        {"user_id": 100001, "submitted_at": None, "workflow_state": "unsubmitted"}]))
    assert main(["collect", str(path), "--canvas-submissions", str(listing), *root]) == 0
    stamps = {s: (course.submitted_dir(s, A) / "timestamp.txt").read_text() for s in ("alovelace", "ghopper")}
    assert stamps == {"alovelace": "2026-09-14 21:10:00.000000 UTC", "ghopper": "2026-09-16 05:30:00.000000 UTC"}
    assert not (course.submitted_dir("ghopper", A) / LMS_LATE_MARK).exists()   # the time is known now
    assert not course.submitted_dir("aturing", A).exists()
    capsys.readouterr()
    assert main(["collect", str(path), "--canvas-submissions", str(listing), *root]) == 0
    assert "0 imported, 2 unchanged" in capsys.readouterr().out
    listing.write_text(json.dumps({"submissions": []}))
    assert main(["collect", str(path), "--canvas-submissions", str(listing), *root]) == 2
    assert "expected a JSON array of Canvas submissions" in capsys.readouterr().err


def test_released_name_strips_only_canvas_copy_numbers():
    names = {"warmup.ipynb", "layer-1.ipynb"}
    assert released_name("warmup-3.ipynb", names) == ("warmup.ipynb", 3)
    assert released_name("warmup.ipynb", names) == ("warmup.ipynb", 0)
    assert released_name("layer-1.ipynb", names) == ("layer-1.ipynb", 0)    # a released name is kept
    assert released_name("notes-2.txt", names) == ("notes-2.txt", 0)


def test_one_students_folder_is_not_taken_for_a_wrapper(course, tmp_path):
    course, nb = course
    one = tmp_path / "one" / "alovelace" / A
    one.mkdir(parents=True)
    (one / "warmup.ipynb").write_bytes(nb)
    got = collect(course, tmp_path / "one")
    assert [(s, a) for s, a, _ in got.imported] == [("alovelace", A)]
    assert not course.submitted_dir(A, A).exists()
    # a student not on the roster, holding assignment folders, is still a student
    two = tmp_path / "two" / "newkid" / A
    two.mkdir(parents=True)
    (two / "warmup.ipynb").write_bytes(nb)
    assert [s for s, _, _ in collect(course, tmp_path / "two").imported] == ["newkid"]
    # a wrapper folder around roster students is unwrapped
    wrapped = _zip(tmp_path / "w.zip", {f"export/{sid}/{A}/warmup.ipynb": nb + b" " for sid, *_ in ROSTER})
    assert sorted(s for s, _, _ in collect(course, wrapped).imported) == sorted(r[0] for r in ROSTER)


def test_ambiguous_layouts_stop_with_the_reason(course, tmp_path):
    course, nb = course
    inside = tmp_path / "student_root" / A                   # PATH is one student's own folder
    inside.mkdir(parents=True)
    (inside / "warmup.ipynb").write_bytes(nb)
    with pytest.raises(CourseError, match="named like assignments"):
        collect(course, tmp_path / "student_root")
    odd = tmp_path / "odd" / "box" / "stuff"                 # nothing tells what "box" is
    odd.mkdir(parents=True)
    (odd / "notes.txt").write_text("?")
    with pytest.raises(CourseError, match="cannot tell whether 'box'"):
        collect(course, tmp_path / "odd")
    assert not (course.root / "submitted").exists() or not any((course.root / "submitted").iterdir())


def test_skip_reasons_say_what_was_found(course, tmp_path):
    course, nb = course
    (tmp_path / "in" / "alovelace").mkdir(parents=True)
    (tmp_path / "in" / "alovelace" / "essay.ipynb").write_bytes(nb)
    (tmp_path / "in" / "ghopper").mkdir(parents=True)
    (tmp_path / "in" / "ghopper" / "answers.txt").write_text("42")
    got = dict(collect(course, tmp_path / "in").skipped)
    assert "['essay']" in got["alovelace"] and "warmup" in got["alovelace"]
    assert "answers.txt" in got["ghopper"] and "no notebook" in got["ghopper"]
