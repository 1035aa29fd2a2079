"""One class graded end to end through the `gradkit` command, in the sandbox, in the fast tier.

A course's folder, three a0 submissions (the reference, a partial answer, the blank
release), then the documented commands an instructor runs: ``gradkit collect``,
``gradkit grade`` (joining the session's Ray by ``--address``) and ``gradkit feedback``.
The oracle is plain ``nbgrader autograde`` on a copy of the same course: on honest
work the grader must give the same cell scores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from gradkit_autograder.grading.class_builder import reference_notebook, write_submission
from gradkit_autograder.state.course import Course
from support.scripted_student import submission_with

A = "a0_warmup"
GRADKIT = str(Path(sys.executable).parent / "gradkit")
PARTIAL = {"pairwise": ("def pairwise_sq_dists(A, B):\n"
                        "    A, B = np.asarray(A, float), np.asarray(B, float)\n"
                        "    return np.array([[((a - b) ** 2).sum() for b in B] for a in A])"),
           "standardize": "def standardize(X):\n    raise NotImplementedError()"}


def _gradkit(*args: str, course: Course) -> str:
    done = subprocess.run([GRADKIT, *args, "--course", str(course.root)], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"gradkit {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def _cell_scores(course: Course, student: str) -> dict[str, float]:
    with course.gradebook() as gb:
        sub = gb.find_submission(A, student)
        return {g.cell.name: g.auto_score for nb in sub.notebooks for g in nb.grades}


def test_a_class_is_collected_graded_and_fed_back_as_plain_nbgrader_scores_it(a0_course, ray_address, tmp_path):
    course = a0_course
    source, released = course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb"
    incoming = tmp_path / "incoming"
    write_submission(incoming / "ada" / A, {"warmup.ipynb": reference_notebook(source, released)})
    write_submission(incoming / "grace" / A, {"warmup.ipynb": submission_with(source, released, answers=PARTIAL)})
    write_submission(incoming / "alan" / A, {"warmup.ipynb": Path(released)})

    _gradkit("collect", str(incoming), "--assignment", A, course=course)
    out = _gradkit("grade", A, "--workers", "2", "--address", ray_address, course=course)
    assert "joined the Ray at" in out, out
    _gradkit("feedback", A, course=course)

    # the oracle: plain nbgrader autograde on a copy of the same submissions
    shutil.copytree(course.root.parent, tmp_path / "plain", symlinks=True)
    plain = Course.open(tmp_path / "plain" / "course")
    shutil.rmtree(plain.root / "autograded", ignore_errors=True)
    api = plain.api()
    students = ["ada", "grace", "alan"]
    for student in students:
        result = api.autograde(A, student, force=True, create=True)
        assert result["success"], result.get("error")
    ours = {s: _cell_scores(course, s) for s in students}
    assert ours == {s: _cell_scores(plain, s) for s in students}
    totals = {s: sum(scores.values()) for s, scores in ours.items()}
    assert totals["ada"] == 9 and totals["alan"] == 0 and 0 < totals["grace"] < 9, totals

    for student in students:
        page = next((course.root / "feedback" / student / A).glob("*.html"))
        text = page.read_text()
        assert "warmup" in text and str(int(totals[student])) in text
    graded_nb = nbformat.read(str(course.root / "autograded" / "grace" / A / "warmup.ipynb"), as_version=4)
    assert any("NotImplementedError" in str(cell.get("outputs", "")) for cell in graded_nb.cells)
