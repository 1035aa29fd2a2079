"""Fast tests of the autograder's pieces that need no kernel and no Ray."""

from __future__ import annotations

import io
import math
import os
import zipfile

import nbformat
import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from gradkit_autograder.kernel.channel import encode_value
from gradkit_autograder.judging.trusted_checks import check_cell, compare
from gradkit_autograder.grading.class_builder import reference_notebook, write_submission
from gradkit_autograder.cli import main
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course, CourseError
from gradkit_autograder.commands.export import canvas_rows
from gradkit_autograder.grading.plan import content_hash
from gradkit_autograder.kernel.launch import _parse
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from gradkit_autograder.state.settings import AssignmentSettings, SettingsError, load_settings
from gradkit_autograder.state.snapshot import take_snapshot
from gradkit_autograder.judging.screening import screen_submission
from support import REPO_COURSE

A = "a0_warmup"


# --- settings ------------------------------------------------------------------------------

def test_settings_defaults_and_repo_file():
    assert AssignmentSettings.from_dict({}).limits.cell_timeout_s == 30
    s = load_settings(REPO_COURSE.parent / "assignments" / A)
    assert s.resources.num_cpus == 1 and s.limits.memory_mb == 2048


@pytest.mark.parametrize("data, message", [
    ({"limits": {"cell_timeout": 3}}, "unknown key(s) ['cell_timeout']"),
    ({"limits": {"memory_mb": -1}}, "limits.memory_mb: expected a value >= 0, got -1"),
    ({"resources": {"num_gpus": "one"}}, "resources.num_gpus: expected a number, got str 'one'"),
    ({"sandbox": "strict"}, "sandbox must be one of ('auto', 'off'), got 'strict'"),
    ({"checks": [1]}, "checks: expected a mapping, got list"),
])
def test_settings_errors_name_key_and_values(data, message):
    with pytest.raises(SettingsError, match=None) as err:
        AssignmentSettings.from_dict(data, where="x/assignment.yaml")
    assert message in str(err.value) and "x/assignment.yaml" in str(err.value)


def test_settings_yaml_off_means_off(tmp_path):
    (tmp_path / "assignment.yaml").write_text("sandbox: off\nlimits: {cell_timeout_s: 2}\n")
    s = load_settings(tmp_path)
    assert s.sandbox == "off" and s.limits.cell_timeout_s == 2.0


# --- trusted channel ---------------------------------------------------------------------

def test_encode_defeats_custom_classes_and_keeps_non_finite():
    class Liar:
        def __eq__(self, other):
            return True

    assert "error" in encode_value("k", Liar())
    payload = encode_value("k", [1.0, math.nan, math.inf, -math.inf])
    assert payload["values"] == [1.0, "nan", "inf", "-inf"] and payload["shape"] == [4]
    ref = encode_value("k", np.array([1.0, math.nan, math.inf, -math.inf]))
    assert compare(ref, payload, 1e-9, 1e-12) is None


def test_tolerance_comes_from_the_reference_only():
    ref = encode_value("k", [1.0, 2.0], rtol=1e-3)
    loose_student = encode_value("k", [1.1, 2.0], rtol=1.0, atol=1.0)
    assert compare(ref, loose_student, 1e-9, 0).startswith("1 of 2 values differ from the expected result")
    assert compare(ref, encode_value("k", [1.0005, 2.0]), 1e-9, 0) is None


def test_check_cell_needs_every_key_once_and_right():
    ref = {"a": [encode_value("a", [1.0])], "b": [encode_value("b", [[1.0, 2.0]])]}
    good = {"a": [encode_value("a", [1.0])], "b": [encode_value("b", [[1.0, 2.0]])]}
    assert check_cell(ref, good, 1e-9, 0) == ([], [])
    problems, forged = check_cell(ref, {"a": good["a"]}, 1e-9, 0)
    assert problems == ["result 'b' was not reported (the cell stopped or raised before it)"] and not forged
    shape = {"a": good["a"], "b": [encode_value("b", [1.0, 2.0])]}
    assert check_cell(ref, shape, 1e-9, 0)[0] == [
        "result 'b' has shape (2,), but the test expected shape (1, 2)"]


def test_reports_are_bound_to_their_cell_once_each():
    """A second report of a key, or a key the reference never sent, is a forgery."""
    ref = {"a": [encode_value("a", [1.0])]}
    twice = {"a": [encode_value("a", [1.0]), encode_value("a", [1.0])]}
    problems, forged = check_cell(ref, twice, 1e-9, 0)
    assert problems and forged == ["'a' reported 2 times"]
    extra = {"a": ref["a"], "z": [encode_value("z", [0.0])]}
    problems, forged = check_cell(ref, extra, 1e-9, 0)
    assert forged == ["unexpected report 'z'"] and problems
    problems, forged = check_cell({}, {"z": [encode_value("z", [0.0])]}, 1e-9, 0)
    assert forged == ["unexpected report 'z'"]


def test_reasons_name_the_size_of_the_error_never_the_expected_value():
    ref = encode_value("k", [123.456, 7.0])
    why = compare(ref, encode_value("k", [123.0, 7.0]), 1e-9, 0)
    assert why.startswith("1 of 2 values differ") and "largest error 0.46" in why
    assert "123.456" not in why and "7.0" not in why


@hsettings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), seed=st.integers(0, 2**16))
def test_channel_roundtrip_matches_itself_and_catches_a_perturbation(shape, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    ref = encode_value("x", x)
    assert compare(ref, encode_value("x", x.copy()), 1e-7, 1e-9) is None
    bumped = x.copy()
    bumped.flat[0] += 1e-3 * (1 + abs(bumped.flat[0]))
    assert compare(ref, encode_value("x", bumped), 1e-7, 1e-9) is not None


# --- a released scratch course ------------------------------------------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory):
    base = tmp_path_factory.mktemp("units")
    course = scratch_course(Course.open(REPO_COURSE), base, [A])
    release(course, [A])
    ref = reference_notebook(course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb")
    return course, nbformat.writes(ref).encode()


def _zip(entries: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 3, 1, 12, 0, 0)), data)
    return buf


def test_collect_canvas_zip(released, tmp_path):
    course, nb = released
    (course.root / "roster.csv").write_text("id,first_name,last_name,email,lms_user_id\n"
                                            "doejane,Jane,Doe,,1234\nroesam,Sam,Roe,,4321\n")
    path = tmp_path / "canvas.zip"
    path.write_bytes(_zip({
        "doejane_1234_5678_warmup.ipynb": nb,
        "roesam_LATE_4321_8765_warmup-1.ipynb": nb,
        "readme.txt": b"not a submission",
    }).getvalue())
    got = collect(course, path)
    assert sorted(s for s, _, _ in got.imported) == ["doejane", "roesam"]
    assert got.skipped == [("readme.txt", "not a Canvas file name (<name>_<user id>_<submission id>_<file>)")]
    assert (course.submitted_dir("roesam", A) / "warmup.ipynb").read_bytes() == nb
    assert not (course.submitted_dir("doejane", A) / "timestamp.txt").exists()   # zip time is no submission time
    with course.gradebook() as gb:
        rows = canvas_rows(gb)
    assert [r[1] for r in rows if r[3] == "doejane"] == ["1234"]   # Canvas user id kept for export
    again = collect(course, path)
    assert len(again.unchanged) == 2 and not again.imported


def test_collect_folders_zip_of_folders_and_skips(released, tmp_path):
    course, nb = released
    (tmp_path / "in" / "ann" / A).mkdir(parents=True)
    (tmp_path / "in" / "ann" / A / "warmup.ipynb").write_bytes(nb)
    (tmp_path / "in" / "bob").mkdir()
    (tmp_path / "in" / "bob" / "warmup.ipynb").write_bytes(nb)            # assignment from the name
    (tmp_path / "in" / "cy").mkdir()
    (tmp_path / "in" / "cy" / "essay.ipynb").write_bytes(nb)              # no such notebook anywhere
    (tmp_path / "in" / "bad id!").mkdir()
    (tmp_path / "in" / "bad id!" / "warmup.ipynb").write_bytes(nb)
    (tmp_path / "in" / "dee").mkdir()
    os.symlink("/etc/passwd", tmp_path / "in" / "dee" / "warmup.ipynb")
    got = collect(course, tmp_path / "in")
    assert sorted(s for s, _, _ in got.imported) == ["ann", "bob"]
    reasons = dict(got.skipped)
    assert "notebooks ['essay'] belong to no released assignment" in reasons["cy"]
    assert "not a usable student id" in reasons["bad id!"]
    assert any("symbolic link" in r for r in reasons.values())
    wrapped = tmp_path / "wrapped.zip"
    wrapped.write_bytes(_zip({"export/eve/a0_warmup/warmup.ipynb": nb,
                              "export/../../evil.ipynb": nb}).getvalue())
    got = collect(course, wrapped)
    assert [s for s, _, _ in got.imported] == ["eve"]
    assert any("leaves the archive" in r for _, r in got.skipped)


def test_collect_rejects_missing_path_and_older_resubmission(released, tmp_path):
    course, nb = released
    with pytest.raises(CourseError, match="does not exist"):
        collect(course, tmp_path / "nope")
    new = tmp_path / "new" / "fay" / A
    new.mkdir(parents=True)
    (new / "warmup.ipynb").write_bytes(nb)
    (new / "timestamp.txt").write_text("2026-05-01 10:00:00 UTC")
    collect(course, tmp_path / "new")
    old = tmp_path / "old" / "fay" / A
    old.mkdir(parents=True)
    (old / "warmup.ipynb").write_bytes(nb + b" ")
    (old / "timestamp.txt").write_text("2026-04-01 10:00:00 UTC")
    got = collect(course, tmp_path / "old")
    assert not got.imported and "older" in got.skipped[0][1]


def test_screen_submission_reports_invalid_renamed_missing_and_edited(released):
    course, nb = released
    with course.gradebook() as gb:
        snap = take_snapshot(gb, A)
    checks = {"warmup": (course.release_dir(A) / "warmup.ipynb").read_bytes()}
    files, incidents = screen_submission({"warmup.ipynb": b"{oops"}, snap, checks)
    assert files == {} and incidents[0]["kind"] == "invalid_notebook"
    assert [i["kind"] for i in incidents] == ["invalid_notebook", "missing_notebook"]
    files, incidents = screen_submission({"Warmup copy.ipynb": nb}, snap, checks)
    assert set(files) == {"warmup.ipynb"} and [i["kind"] for i in incidents] == ["renamed_notebook"]
    edited = nbformat.reads(nb.decode(), as_version=4)
    edited.cells = [c for c in edited.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                    != "test_pairwise_hidden"]
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_softplus_visible":
            cell.source = "pass"
    _, incidents = screen_submission({"warmup.ipynb": nbformat.writes(edited).encode()}, snap, checks)
    assert {(i["kind"], i["cell"]) for i in incidents} == {
        ("test_cell_edited", "test_softplus_visible"), ("test_cell_deleted", "test_pairwise_hidden")}
    _, clean = screen_submission({"warmup.ipynb": nb}, snap, checks)
    assert clean == []


def test_content_hash_tracks_files_and_settings():
    s = AssignmentSettings()
    h = content_hash("r", s, {"a.ipynb": b"1", "b.txt": b"2"})
    assert h == content_hash("r", s, {"b.txt": b"2", "a.ipynb": b"1"})
    assert h != content_hash("r", s, {"a.ipynb": b"1", "b.txt": b"3"})
    assert h != content_hash("r2", s, {"a.ipynb": b"1", "b.txt": b"2"})
    tighter = AssignmentSettings.from_dict({"limits": {"cell_timeout_s": 1}})
    assert h != content_hash("r", tighter, {"a.ipynb": b"1", "b.txt": b"2"})


def test_kernel_launch_needs_a_command():
    with pytest.raises(SystemExit):
        _parse(["--memory-mb", "10"])
    assert _parse(["--uid", "5", "--", "python", "-V"]).command == ["python", "-V"]


def test_grade_that_cannot_reach_ray_says_so_in_one_line(released, tmp_path, capsys):
    """A Ray that cannot be started or joined ends `gradkit grade` with one line, exit 2, nothing lost."""
    course, nb = released
    write_submission(tmp_path / "class" / "alice" / A, {"warmup.ipynb": nbformat.reads(nb.decode(), as_version=4)})
    collect(course, tmp_path / "class", assignment=A)
    code = main(["grade", A, "--course", str(course.root), "--address", "127.0.0.1:9", "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("gradkit grade: error:") and "127.0.0.1:9" in err[0]
    assert "Traceback" not in err[0]


def test_the_kits_course_is_the_default_anywhere(tmp_path, monkeypatch):
    """From a folder with no course (and no $GRADKIT_COURSE), commands use the kit's own course/."""
    from gradkit_autograder.state.course import ENV_COURSE, default_course_dir

    monkeypatch.delenv(ENV_COURSE, raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_course_dir() == REPO_COURSE.resolve()
    assert (default_course_dir() / "nbgrader_config.py").exists()
