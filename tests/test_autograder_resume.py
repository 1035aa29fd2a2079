"""Interrupted runs: a grading worker killed by a submission, and Ctrl-C on the driver.

Whatever finished is in the gradebook, the rerun grades only the rest, and no
submission is stored twice (the ledger counts how often each result was stored).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradkit_autograder import ledger
from gradkit_autograder.classbuilder import submission_with, write_submission
from gradkit_autograder.collect import collect
from gradkit_autograder.course import Course
from gradkit_autograder.grade import grade, start_ray
from gradkit_autograder.release import release
from gradkit_autograder.scratch import scratch_course

pytestmark = pytest.mark.slow
A = "a0_warmup"
REPO_COURSE = Path(__file__).resolve().parents[1] / "course"


@pytest.fixture(scope="module")
def ray_session():
    import ray

    started = start_ray(2, None)
    yield
    if started:
        ray.shutdown()


def _course(base: Path, settings: str, students: dict[str, dict]) -> Course:
    course = scratch_course(Course.open(REPO_COURSE), base, [A])
    (course.source_dir(A) / "assignment.yaml").write_text(settings)
    release(course, [A])
    src, rel = course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb"
    for student, answers in students.items():
        write_submission(base / "class" / student / A, {"warmup.ipynb": submission_with(src, rel, answers)})
    collect(course, base / "class")
    return course


def _runs(course: Course) -> dict[str, tuple[str, int]]:
    with course.gradebook() as gb:
        ledger.ensure_tables(gb.engine)
        return {r["student"]: (r["status"], r["runs"]) for r in ledger.rows(gb.engine, A)}


KILL_WORKER = ("import os, signal\n"
               "os.kill(os.getppid(), signal.SIGKILL)   # the parent is the Ray worker\n")


def test_killed_worker_fails_one_submission_and_rerun_resumes(tmp_path, ray_session):
    # sandbox off: the kernel runs as the grader's user, so it *can* kill its worker
    course = _course(tmp_path, "sandbox: off\n", {
        "honest1": {}, "honest2": {}, "honest3": {}, "killer": {"softplus": KILL_WORKER}})
    first = grade(course, A, workers=2, progress=False)
    status = {o.student: o.status for o in first.outcomes}
    assert status == {"honest1": "graded", "honest2": "graded", "honest3": "graded", "killer": "failed"}
    killer = next(o for o in first.outcomes if o.student == "killer")
    assert "grading task lost" in killer.error
    assert {o.score for o in first.outcomes if o.status == "graded"} == {9.0}
    second = grade(course, A, workers=2, progress=False)
    assert {o.student: o.status for o in second.outcomes} == {
        "honest1": "skipped", "honest2": "skipped", "honest3": "skipped", "killer": "failed"}
    runs = _runs(course)
    assert runs == {"honest1": ("graded", 1), "honest2": ("graded", 1), "honest3": ("graded", 1),
                    "killer": ("failed", 0)}


SLOW = {"softplus": ("import time\ntime.sleep(1.5)\n"
                     "def softplus(x):\n    x = np.asarray(x, dtype=float)\n"
                     "    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))\n")}


def test_ctrl_c_keeps_finished_results_and_rerun_grades_the_rest(tmp_path, ray_session):
    students = [f"s{i}" for i in range(4)]
    course = _course(tmp_path, "", {s: SLOW for s in students})
    cmd = [sys.executable, "-m", "gradkit_autograder", "grade", A, "--course", str(course.root),
           "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if any(status == "graded" for status, _ in _runs(course).values()):
            break
        time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    done = {s for s, (status, _) in _runs(course).items() if status == "graded"}
    assert 1 <= len(done) < len(students)
    rest = grade(course, A, workers=2, progress=False)
    assert {o.student for o in rest.outcomes if o.status == "skipped"} == done
    assert {o.student for o in rest.outcomes if o.status == "graded"} == set(students) - done
    assert _runs(course) == {s: ("graded", 1) for s in students}
    with course.gradebook() as gb:
        assert [gb.find_submission(A, s).score for s in students] == [9.0] * len(students)
